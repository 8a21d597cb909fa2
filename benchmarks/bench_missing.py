"""Benchmark what missing (NaN) pixels cost one tile: time, Hessian products, quality and ``mu="auto"``.

What it measures
----------------
One tile of ``--size`` pixels a side (1024 by default, the size ``tile="auto"``
takes on most machines) of the demo's scene (the gray astronaut mirrored,
:func:`tiledeblur.demo.ground_truth`), cut from a larger scene: it is blurred
by ``gaussian_psf(13, (1, 3))`` with the ``free`` boundary and gets Gaussian
noise of sigma 0.01 (seed 0). Then pixels are set to NaN by each mask:

* ``complete``: none, the reference;
* ``bad pixels 1%``: at random, as a detector's bad-pixel map;
* ``disk``: a hole of radius a fifth of the side in the middle;
* ``footprint``: beyond a slanted straight edge, as at the border of a
  mosaic's footprint, about a third of the tile;
* ``random 30%`` and ``random 90%``: at random, where the band around the
  missing pixels becomes a mesh that the preconditioner treats with Jacobi's
  diagonal (``tiledeblur.preconditioning.MESH_BAND_FRACTION``).

Each masked tile is solved by ``tiledeblur.deconvolve`` with the complete
tile's automatic weight, so that only the missing pixels differ, and the
table gives the median time over ``--repeats`` calls (BLAS and OpenMP pinned
to one thread), the Hessian products, the PSNR of the pixels present against
the truth, the same for the complete tile's result on those pixels, and
the automatic weight as ``run`` chooses it (from the sample regions of
``tiledeblur.regularization.estimate_image_mu``, as ``deconvolve`` does too
where pixels are missing): over the complete tile's, and the PSNR of the
pixels present at that weight. Where no region misses few enough pixels it
is the loss's default.

Run it from the repository root with ``python benchmarks/bench_missing.py``; it
prints a markdown table and appends it, with the machine and the library
versions, to ``benchmarks/RESULTS.md`` unless ``--no-write`` is given.
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Before numpy is imported, so that its BLAS starts with one thread.
os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from _report import append_results, command_line, environment_lines, positive_int, utc_stamp
from skimage.metrics import peak_signal_noise_ratio

import tiledeblur
from tiledeblur.demo import ground_truth
from tiledeblur.operators import Blur
from tiledeblur.regularization import MuWarning, estimate_image_mu

PSF_SIZE = 13
PSF_SIGMA = (1, 3)
NOISE_SIGMA = 0.01
COMMAND = "python benchmarks/bench_missing.py"


def masks(size):
    """The masks of the module notes, True where a pixel is missing, by name."""
    rows, columns = np.indices((size, size))
    rng = np.random.default_rng(1)
    return {
        "complete": np.zeros((size, size), dtype=bool),
        "bad pixels 1%": rng.random((size, size)) < 0.01,
        "disk": (rows - size / 2) ** 2 + (columns - size / 2) ** 2 < (size / 5) ** 2,
        "footprint": rows + 0.4 * columns < 0.45 * size,
        "random 30%": rng.random((size, size)) < 0.3,
        "random 90%": rng.random((size, size)) < 0.9,
    }


def observed_tile(size, psf):
    """The sharp tile and its blurred, noisy observation, blurred in from the scene around it."""
    radius = psf.shape[0] // 2
    scene = ground_truth((slice(-radius, size + radius), slice(-radius, size + radius)))
    blurred = Blur(psf, (size, size), boundary="free").matvec(scene)
    noise = NOISE_SIGMA * np.random.default_rng(0).standard_normal((size, size))
    return scene[radius:-radius, radius:-radius], blurred + noise


def timed_solve(image, psf, loss, mu, repeats):
    """Median seconds over ``repeats`` solves, and the last result and its info."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        restored, info = tiledeblur.deconvolve(image, psf, loss=loss, mu=mu, return_info=True)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), restored, info


def psnr(truth, image):
    return float(peak_signal_noise_ratio(truth, image, data_range=1.0))


def benchmark(size, loss, repeats):
    """The table's rows, one per mask."""
    psf = tiledeblur.gaussian_psf(PSF_SIZE, PSF_SIGMA)
    truth, observed = observed_tile(size, psf)
    rows, complete_mu, complete = [], None, None
    for name, missing in masks(size).items():  # "complete" first
        image = np.where(missing, np.nan, observed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MuWarning)  # the default weight is a result here
            (auto,) = estimate_image_mu(lambda yx, image=image: image[yx][None], image.shape, [psf], loss)
        complete_mu = complete_mu or auto
        seconds, restored, info = timed_solve(image, psf, loss, complete_mu, repeats)
        complete = restored if complete is None else complete
        own = tiledeblur.deconvolve(image, psf, loss=loss, mu=auto)
        present = ~missing
        rows.append("| " + " | ".join([
            name, f"{missing.mean():.1%}", f"{seconds:.2f}", str(info.hessian_products), str(info.converged),
            f"{psnr(truth[present], restored[present]):.2f}", f"{psnr(truth[present], complete[present]):.2f}",
            f"{auto / complete_mu:.2f}", f"{psnr(truth[present], own[present]):.2f}",
        ]) + " |")
        print(f"{name}: {seconds:.2f} s", file=sys.stderr)
    return rows


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=positive_int, default=1024, help="tile side in pixels (default: 1024)")
    parser.add_argument("--loss", choices=("tikhonov", "tv"), default="tikhonov", help="the loss (default: tikhonov)")
    parser.add_argument("--repeats", type=positive_int, default=3, help="timed solves per mask (default: 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the benchmark, print the table and append it to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_arguments(argv)
    started = time.perf_counter()
    rows = benchmark(options.size, options.loss, options.repeats)
    section = "\n".join([
        f"## bench_missing — {utc_stamp()}",
        "",
        *environment_lines(("numpy", "scipy", "autograd", "scikit-image", "tiledeblur"), THREAD_VARIABLES),
        f"- Command: `{command_line(COMMAND, argv)}` (repeats: {options.repeats}, medians reported)",
        (f"- Tile: {options.size}² of the demo's scene, blurred by `gaussian_psf({PSF_SIZE}, {PSF_SIGMA})` with the "
        f"free boundary, noise sigma {NOISE_SIGMA} (seed 0); loss {options.loss} at the complete tile's "
        "automatic mu (from its sample regions) for every mask"),
        f"- Total runtime: {time.perf_counter() - started:.0f} s",
        "",
        ("| Mask | Missing | Seconds | Hessian products | Converged | PSNR of the pixels present, at that mu (dB) "
        "| The complete tile's PSNR there (dB) | Its own mu=\"auto\" / the complete tile's | PSNR at its own (dB) |"),
        "|---|---:|---:|---:|---|---:|---:|---:|---:|",
        *rows,
    ])
    print(section)
    if not options.no_write:
        append_results(section)


if __name__ == "__main__":
    main()
