"""Benchmark ``mu="auto"`` on JPEG scans: the weights that ``plan`` chooses against cross-validation's and the best.

What it measures
----------------
Each case is a crop of a larger scene, as ``bench_quality``'s are: the central
``--size`` square of a ``skimage.data`` image, blurred as part of its scene by
the article's PSF, ``gaussian_psf(13, (1, 3))``, with Gaussian noise of the
given sigma (seeded by the CRC-32 of the image's name), rounded to ``uint8``
and saved by Pillow as JPEG at a quality and, in colour, a chroma sampling
(4:4:4, 4:2:2 or 4:2:0). The file goes through ``tiledeblur.convert`` and
``tiledeblur.plan`` (``mu="auto"``), as a user's scan would, and the weights
of the plan restore the decoded scan (``deconvolve``, channel by channel).
Against them:

* cross-validation's weights, as the scan would get them without the model:
  ``deconvolve(mu="auto")`` of each decoded channel, which knows nothing of
  JPEG;
* the best single weight for all channels of a sweep (``SWEEP``), chosen
  against the truth on the interior PSNR (an oracle no user has);
* the blurred scan itself.

PSNR (``data_range=1``) is scored on the interior, two PSF sides in from each
edge. The loss is the plan's PSNR minus the sweep's best; positive where the
plan does better (each channel has its own weight, the sweep one for all).

Run it from the repository root with ``python benchmarks/bench_jpeg.py``; it
prints a markdown table, one row per case, and a summary, and appends them,
with the machine and the library versions, to ``benchmarks/RESULTS.md``
unless ``--no-write`` is given. ``--quick`` is a smoke run of two cases.
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Before numpy is imported, so that its BLAS starts with one thread.
os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import argparse
import io
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import scipy.signal
from _report import (
    RESULTS_PATH,
    append_results,
    command_line,
    environment_lines,
    image_names,
    positive_int,
    utc_stamp,
)
from _weighing import Outcome, summary, table
from PIL import Image
from skimage import color, data, util
from skimage.metrics import peak_signal_noise_ratio

import tiledeblur
from tiledeblur.convert import convert
from tiledeblur.psf import psf_radius

COMMAND = "python benchmarks/bench_jpeg.py"
PSF = tiledeblur.gaussian_psf(13, (1, 3))
NOISE = (0.005, 0.01)
#: (quality, Pillow's subsampling: 0 is 4:4:4, 1 is 4:2:2, 2 is 4:2:0) of the grey and the colour cases.
GREY_SETTINGS = ((95, 0), (85, 0), (70, 0), (50, 0))
COLOUR_SETTINGS = ((95, 2), (85, 1), (70, 2), (95, 0))
SAMPLINGS = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}
DEFAULT_GREY = ("astronaut", "camera", "brick", "cell")
DEFAULT_COLOUR = ("astronaut", "coffee", "chelsea", "immunohistochemistry")
DEFAULT_SIZE = 256
SWEEP = tuple(float(weight) for weight in np.geomspace(1e-4, 1, 9))
#: The smoke run: one grey and one colour case, 128 px.
QUICK = {"grey": ("camera",), "colour": ("astronaut",), "noise": (0.01,), "size": 128}


def scene_crop(name, size, colour, noise):
    """(truth, scan): the central ``size`` square of an image, blurred as part of its scene, noisy, in ``uint8``;
    each with its channels last, one for grey."""
    scene = util.img_as_float(getattr(data, name)())
    scene = scene[..., :3] if colour else (color.rgb2gray(scene[..., :3]) if scene.ndim == 3 else scene)
    channels = np.atleast_3d(scene)
    radius = psf_radius(PSF)
    start = [(n - size) // 2 for n in scene.shape[:2]]
    extended = channels[tuple(slice(s - r, s + size + r) for s, r in zip(start, radius))]
    blurred = np.stack([scipy.signal.fftconvolve(extended[..., c], PSF, mode="valid")
                        for c in range(channels.shape[2])], axis=-1)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    scan = np.clip(np.round((blurred + noise * rng.standard_normal(blurred.shape)) * 255), 0, 255).astype(np.uint8)
    return channels[start[0]:start[0] + size, start[1]:start[1] + size], scan


def evaluate(name, size, colour, noise, quality, subsampling, folder):
    """One case's :class:`Outcome`, its JPEG file and Zarr written in ``folder``."""
    truth, scan = scene_crop(name, size, colour, noise)
    encoded = io.BytesIO()
    Image.fromarray(scan if colour else scan[..., 0]).save(encoded, "JPEG", quality=quality, subsampling=subsampling)
    kind = "colour" if colour else "grey"
    source, target = folder / f"{name}.jpg", folder / f"{name}-{kind}-{quality}-{subsampling}-{noise}.zarr"
    source.write_bytes(encoded.getvalue())
    convert(source, target, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tiledeblur.MuWarning)
        planned_mu = tuple(np.atleast_1d(tiledeblur.plan(target, PSF).mu))
    warned = any(issubclass(warning.category, tiledeblur.MuWarning) for warning in caught)
    with Image.open(source) as picture:
        decoded = np.atleast_3d(np.asarray(picture) / 255)
    interior = tuple(slice(2 * p, -2 * p) for p in PSF.shape)

    def psnr(restored):
        return float(peak_signal_noise_ratio(truth[interior], restored[interior], data_range=1))

    def restored_at(weights):
        return np.stack([tiledeblur.deconvolve(decoded[..., c], PSF, mu=weight) for c, weight in enumerate(weights)],
                        axis=-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cross-validation's and the sweep's weights warn, as they should
        crossvalidated = [tiledeblur.deconvolve(decoded[..., c], PSF, return_info=True)
                          for c in range(decoded.shape[2])]
        swept = {weight: psnr(restored_at([weight] * decoded.shape[2])) for weight in SWEEP}
    best_mu = max(swept, key=swept.get)
    label = f"{name} | {kind + ' ' + SAMPLINGS[subsampling] if colour else kind} | {quality} | {noise:g}"
    return Outcome(label, psnr(decoded), psnr(restored_at(planned_mu)), planned_mu,
                   psnr(np.stack([restored for restored, _ in crossvalidated], axis=-1)),
                   tuple(info.mu for _, info in crossvalidated), swept[best_mu], best_mu, warned)


def parse_arguments(argv):
    """The command-line options, see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive_int, default=DEFAULT_SIZE,
                        help="side of the crops in pixels (default: %(default)s)")
    parser.add_argument("--grey", type=image_names, default=DEFAULT_GREY,
                        help=f"images saved in grey, comma-separated (default: {','.join(DEFAULT_GREY)})")
    parser.add_argument("--colour", type=image_names, default=DEFAULT_COLOUR,
                        help=f"images saved in colour, comma-separated (default: {','.join(DEFAULT_COLOUR)})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {QUICK['grey'][0]} in grey and {QUICK['colour'][0]} in colour at "
                             f"their first setting, noise {QUICK['noise'][0]}, {QUICK['size']} px")
    parser.add_argument("--no-write", action="store_true", help=f"do not append to {RESULTS_PATH.name}")
    options = parser.parse_args(argv)
    options.noise, options.grey_settings, options.colour_settings = NOISE, GREY_SETTINGS, COLOUR_SETTINGS
    if options.quick:
        options.grey, options.colour, options.noise, options.size = (
            QUICK["grey"], QUICK["colour"], QUICK["noise"], QUICK["size"])
        options.grey_settings, options.colour_settings = GREY_SETTINGS[:1], COLOUR_SETTINGS[:1]
    return options


def main(argv=None):
    """Run the benchmark, print the tables and append them to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_arguments(argv)
    command = command_line(COMMAND, argv)
    print(f"command: {command}", file=sys.stderr)
    started = time.perf_counter()
    groups = {"grey": [], "colour": []}
    with tempfile.TemporaryDirectory() as folder:
        for kind, names, settings in (("grey", options.grey, options.grey_settings),
                                      ("colour", options.colour, options.colour_settings)):
            for name in names:
                for noise in options.noise:
                    for quality, subsampling in settings:
                        groups[kind].append(evaluate(name, options.size, kind == "colour", noise, quality,
                                                     subsampling, Path(folder)))
                        print(f"{groups[kind][-1].label}: done after {time.perf_counter() - started:.0f} s",
                              file=sys.stderr)
    outcomes = groups["grey"] + groups["colour"]
    section = "\n".join([
        f"## bench_jpeg — {utc_stamp()}",
        "",
        *environment_lines(("numpy", "scipy", "pillow", "scikit-image", "tiledeblur"), THREAD_VARIABLES),
        f"- Command: `{command}`",
        (f"- Cases: central {options.size}² crops of `skimage.data` images blurred as part of their scene by "
         "`gaussian_psf(13, (1, 3))`, Gaussian noise seeded by the CRC-32 of the image's name, rounded to uint8, "
         "saved by Pillow as JPEG; through `convert` and `plan` (`mu=\"auto\"`) as a scan"),
        (f"- Cross-validation: `deconvolve(mu=\"auto\")` of each decoded channel; best of the sweep: one weight for "
         f"all channels among {len(SWEEP)} from 1e-4 to 1, chosen against the truth"),
        "- PSNR in dB on the interior (two PSF sides in from each edge), `data_range=1`",
        f"- Total runtime: {time.perf_counter() - started:.0f} s",
        "",
        table(("Image", "Kind", "Quality:", "Noise σ:"), outcomes),
        "",
        summary({"all": outcomes, **groups}),
    ])
    print(section)
    if not options.no_write:
        append_results(section)


if __name__ == "__main__":
    main()
