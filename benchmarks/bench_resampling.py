"""Benchmark ``mu="auto"`` on resampled scans (a mosaic's reprojection, a registration, an enlargement).

What it measures
----------------
Each case is the central ``--size`` square of a ``skimage.data`` image (gray),
blurred as part of its scene by a Gaussian PSF (``--sigma``, 2 px by
default; :func:`gaussian` gives its width), with Gaussian
noise of the given sigma (seeded by the CRC-32 of the image's name), then
resampled by ``scipy.ndimage`` (``RESAMPLINGS``), and the truth resampled
alike. The scan is written to Zarr as float32, and ``tiledeblur.plan``
(``mu="auto"``) weighs it, as a user's mosaic would be
(:mod:`tiledeblur.resampling`); the plan's weight restores it with
``deconvolve``. Against it:

* cross-validation's weight, as the scan would get it without the model:
  GCV of ``laplacian``'s filter over the whole crop
  (``tiledeblur.gcv.gcv_mu``);
* the best weight of a sweep (``SWEEP``), chosen against the truth on the
  interior PSNR (an oracle no user has);
* the resampled scan itself ("blurred" in the tables).

PSNR (``data_range=1``) is scored on the interior, two PSF sides in from
each edge. Run it from the repository root with
``python benchmarks/bench_resampling.py``; it prints a markdown table, one
row per case, and a summary, and appends them, with the machine and the
library versions, to ``benchmarks/RESULTS.md`` unless ``--no-write`` is
given. ``--quick`` is a smoke run of three cases. ``--sigma 1.2`` weighs
a narrow PSF, whose dead band begins at 0.42 cycles per pixel, and
``--sigma 1,3`` one that passes detail to the spectrum's edge along rows
(σ 1 along rows and 3 along columns, as the article's PSF).
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Before numpy is imported, so that its BLAS starts with one thread.
os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import argparse
import functools
import math
import sys
import warnings
import zlib

import numpy as np
import scipy.ndimage
import scipy.signal
import zarr
from _weighing import Outcome, options, weigh
from bench_quality import float_list, scene_image
from skimage.metrics import peak_signal_noise_ratio

import tiledeblur
from tiledeblur.gcv import gcv_mu
from tiledeblur.psf import psf_radius

COMMAND = "python benchmarks/bench_resampling.py"
SIGMA = 2.0
NOISE = (0.01, 0.03)
DEFAULT_IMAGES = ("camera", "astronaut", "moon", "hubble_deep_field")
SIZE = 256
#: Pixels resampled beyond the crop on each side, so that no resampling reaches past the scene it was given.
MARGIN = 16
SWEEP = tuple(float(weight) for weight in np.geomspace(1e-4, 1, 9))
#: The smoke run: one image, one noise, 128 px.
QUICK = {"images": ("camera",), "noise": (0.01,), "size": 128}

#: Each way of resampling, by name: a function of a 2-D array to one of its shape.
RESAMPLINGS = {
    "shift (0.5, 0.3) px, bilinear": lambda image: scipy.ndimage.shift(image, (0.5, 0.3), order=1, mode="reflect"),
    "rotation 7°, bilinear": lambda image: scipy.ndimage.rotate(image, 7, order=1, reshape=False, mode="reflect"),
    "enlargement 1.3, cubic spline": lambda image: scipy.ndimage.zoom(image, 1.3, order=3, mode="reflect")[
        :image.shape[0], :image.shape[1]],
}


def gaussian(sigma):
    """The benchmark's Gaussian PSF of ``sigma``, one or one per axis: the odd width from 8 times the largest up.

    Examples
    --------
    >>> gaussian(2.0).shape, gaussian(1.2).shape, gaussian((1.0, 3.0)).shape
    ((17, 17), (11, 11), (25, 25))
    """
    return tiledeblur.gaussian_psf(math.ceil(8 * np.max(sigma)) | 1, sigma)


def sigmas(text):
    """``--sigma``: one positive number, or two, comma-separated, for rows and columns."""
    values = float_list(text)
    if len(values) > 2:
        raise argparse.ArgumentTypeError(f"expected one or two sigmas, got {text!r}")
    return values[0] if len(values) == 1 else values


def resampled_scan(name, size, noise, resample, psf):
    """(truth, scan): the central ``size`` square of an image, blurred by ``psf`` as part of its scene, with noise,
    resampled by ``resample``; the truth resampled alike."""
    scene = scene_image(name)
    radius = psf_radius(psf)
    side = size + 2 * MARGIN
    if any(n < side + 2 * r for n, r in zip(scene.shape, radius)):
        raise SystemExit(f"{name} is {scene.shape[0]} x {scene.shape[1]} px, too small for a crop of {size} px with "
                         f"its margin of {MARGIN} and the PSF")
    start = [(n - size) // 2 - MARGIN for n in scene.shape]
    extended = scene[tuple(slice(s - r, s + side + r) for s, r in zip(start, radius))]
    blurred = scipy.signal.fftconvolve(extended, psf, mode="valid")
    noisy = blurred + noise * np.random.default_rng(zlib.crc32(name.encode())).standard_normal(blurred.shape)
    crop = (slice(MARGIN, MARGIN + size),) * 2
    truth = resample(scene[start[0]:start[0] + side, start[1]:start[1] + side])
    return truth[crop], resample(noisy)[crop]


def evaluate(name, size, noise, resampling, folder, *, psf):
    """One case's :class:`Outcome` under ``psf``, its Zarr written in ``folder``."""
    truth, scan = resampled_scan(name, size, noise, RESAMPLINGS[resampling], psf)
    target = folder / f"{name}-{noise}-{len(list(folder.iterdir()))}.zarr"
    zarr.create_array(target, data=scan.astype(np.float32), chunks=(size, size))
    planned_mu = tiledeblur.plan(target, psf).mu
    interior = tuple(slice(2 * p, -2 * p) for p in psf.shape)

    def psnr(restored):
        return float(peak_signal_noise_ratio(truth[interior], np.clip(restored[interior], 0, 1), data_range=1))

    crossvalidated_mu = gcv_mu(scan, psf, order=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cross-validation's and the sweep's weights warn, as they should
        crossvalidated = psnr(tiledeblur.deconvolve(scan, psf, mu=crossvalidated_mu))
        swept = {weight: psnr(tiledeblur.deconvolve(scan, psf, mu=weight)) for weight in SWEEP}
    best_mu = max(swept, key=swept.get)
    return Outcome(f"{name} | {resampling} | {noise:g}", psnr(scan),
                   psnr(tiledeblur.deconvolve(scan.astype(np.float32), psf, mu=planned_mu)), (planned_mu,),
                   crossvalidated, (crossvalidated_mu,), swept[best_mu], best_mu)


def main(argv=None):
    """Run the benchmark, print the tables and append them to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    chosen = options(argv, description=__doc__.splitlines()[0], default_images=DEFAULT_IMAGES, noise=NOISE, size=SIZE,
                     quick=QUICK, add_arguments=lambda parser: parser.add_argument(
                         "--sigma", type=sigmas, default=SIGMA,
                         help="the Gaussian PSF's sigma in px, or two for rows and columns (default: 2)"))
    psf = gaussian(chosen.sigma)
    notes = [
        (f"- Cases: central {chosen.size}² crops of `skimage.data` images (gray) blurred as part of their scene by "
         f"`gaussian_psf({psf.shape[0]}, {chosen.sigma})`, Gaussian noise seeded by the CRC-32 of the image's name, "
         "resampled by `scipy.ndimage` (the truth alike); weighed by `plan` (`mu=\"auto\"`) as a float32 Zarr scan"),
        (f"- Cross-validation: GCV of `laplacian`'s filter over the whole crop (`gcv_mu`); best of the sweep: "
         f"the best of {len(SWEEP)} weights from 1e-4 to 1, chosen against the truth"),
    ]
    weigh(argv, chosen, benchmark="bench_resampling", command=COMMAND, kinds=RESAMPLINGS,
          evaluate=functools.partial(evaluate, psf=psf),
          columns=("Image", "Resampling", "Noise σ:"), notes=notes, thread_variables=THREAD_VARIABLES)


if __name__ == "__main__":
    main()
