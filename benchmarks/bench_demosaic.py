"""Benchmark ``mu="auto"`` on a colour camera's demosaiced scans: the plan's weights against cross-validation's.

What it measures
----------------
Each case is the central ``--size`` square of a colour ``skimage.data``
image, blurred as part of its scene by ``gaussian_psf(13, 2.0)``, with
Gaussian noise of the given sigma (seeded by the CRC-32 of the image's name)
as an ``RGGB`` camera demosaics it, bilinearly or by Malvar, He and
Cutler's gradient-corrected interpolation (ICASSP 2004;
``tiledeblur.demosaic.camera_image``), and rounded to ``uint8``. The scan is written to Zarr (``yxc``), and
``tiledeblur.plan`` (``mu="auto"``) weighs it, as a user's scan would be
(:mod:`tiledeblur.demosaic`); the plan's weights restore it with
``deconvolve``, channel by channel. Against them:

* cross-validation's weight, as the scan would get it without the model:
  GCV of ``laplacian``'s filter over each whole channel
  (``tiledeblur.gcv.gcv_mu``);
* the best single weight for all channels of a sweep (``SWEEP``), chosen
  against the truth on the interior PSNR (an oracle no user has);
* the demosaiced scan itself ("blurred" in the tables).

PSNR (``data_range=1``) is scored on the interior, two PSF sides in from
each edge. Run it from the repository root with
``python benchmarks/bench_demosaic.py``; it prints a markdown table, one row
per case, and a summary, and appends them, with the machine and the library
versions, to ``benchmarks/RESULTS.md`` unless ``--no-write`` is given.
``--quick`` is a smoke run of two cases.
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Before numpy is imported, so that its BLAS starts with one thread.
os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import sys
import warnings
import zlib

import numpy as np
import scipy.signal
import zarr
from _weighing import Outcome, options, weigh
from skimage import data, util
from skimage.metrics import peak_signal_noise_ratio

import tiledeblur
from tiledeblur.demosaic import camera_image
from tiledeblur.gcv import gcv_mu
from tiledeblur.psf import psf_radius

COMMAND = "python benchmarks/bench_demosaic.py"
PSF = tiledeblur.gaussian_psf(13, 2.0)
NOISE = (0.01, 0.03)
DEFAULT_IMAGES = ("astronaut", "coffee", "chelsea", "immunohistochemistry")
SIZE = 256
SWEEP = tuple(float(weight) for weight in np.geomspace(1e-4, 1, 9))
#: The smoke run: one image, each demosaicing, one noise, 128 px.
QUICK = {"images": ("astronaut",), "noise": (0.01,), "size": 128}

DEMOSAICS = ("bilinear", "gradient-corrected")


def camera_scan(name, size, noise, demosaic):
    """(truth, scan): the central ``size`` square of an image, blurred as part of its scene, measured through a
    Bayer filter with noise, demosaiced, in ``uint8``; channels last."""
    scene = util.img_as_float(getattr(data, name)())[..., :3]
    radius = psf_radius(PSF)
    start = [(n - size) // 2 for n in scene.shape[:2]]
    extended = scene[tuple(slice(s - r, s + size + r) for s, r in zip(start, radius))]
    blurred = np.stack([scipy.signal.fftconvolve(extended[..., c], PSF, mode="valid") for c in range(3)], axis=-1)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    noisy = blurred + noise * rng.standard_normal(blurred.shape)
    scan = np.clip(np.round(camera_image(noisy, method=demosaic) * 255), 0, 255).astype(np.uint8)
    return scene[start[0]:start[0] + size, start[1]:start[1] + size], scan


def evaluate(name, size, noise, demosaic, folder):
    """One case's :class:`Outcome`, its Zarr written in ``folder``."""
    truth, scan = camera_scan(name, size, noise, demosaic)
    target = folder / f"{name}-{demosaic}-{noise}.zarr"
    zarr.create_array(target, data=scan, chunks=(size, size, 3), dimension_names=("y", "x", "c"))
    planned_mu = tuple(tiledeblur.plan(target, PSF).mu)
    channels = scan / 255
    interior = tuple(slice(2 * p, -2 * p) for p in PSF.shape)

    def psnr(restored):
        return float(peak_signal_noise_ratio(truth[interior], restored[interior], data_range=1))

    def restored_at(weights):
        return np.stack([tiledeblur.deconvolve(channels[..., c], PSF, mu=weight) for c, weight in enumerate(weights)],
                        axis=-1)

    crossvalidated_mu = tuple(gcv_mu(channels[..., c], PSF, order=2) for c in range(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cross-validation's and the sweep's weights warn, as they should
        crossvalidated = psnr(restored_at(crossvalidated_mu))
        swept = {weight: psnr(restored_at([weight] * 3)) for weight in SWEEP}
    best_mu = max(swept, key=swept.get)
    return Outcome(f"{name} | {demosaic} | {noise:g}", psnr(channels), psnr(restored_at(planned_mu)), planned_mu,
                   crossvalidated, crossvalidated_mu, swept[best_mu], best_mu)


def main(argv=None):
    """Run the benchmark, print the tables and append them to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    chosen = options(argv, description=__doc__.splitlines()[0], default_images=DEFAULT_IMAGES, noise=NOISE, size=SIZE,
                     quick=QUICK)
    notes = [
        (f"- Cases: central {chosen.size}² crops of colour `skimage.data` images blurred as part of their scene by "
         "`gaussian_psf(13, 2.0)`, Gaussian noise seeded by the CRC-32 of the image's name on the pixels that an "
         "RGGB Bayer filter measures, demosaiced bilinearly or gradient-corrected (Malvar, He and Cutler), rounded "
         "to uint8; weighed by `plan` (`mu=\"auto\"`) as a Zarr scan"),
        (f"- Cross-validation: GCV of `laplacian`'s filter over each whole channel (`gcv_mu`); best of the sweep: "
         f"one weight for all channels among {len(SWEEP)} from 1e-4 to 1, chosen against the truth"),
    ]
    weigh(argv, chosen, benchmark="bench_demosaic", command=COMMAND, kinds=DEMOSAICS, evaluate=evaluate,
          columns=("Image", "Demosaicing", "Noise σ:"), notes=notes, thread_variables=THREAD_VARIABLES)


if __name__ == "__main__":
    main()
