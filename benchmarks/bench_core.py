"""Benchmark one-core speed of ``tiledeblur.deconvolve`` against the seed article and Richardson–Lucy.

What it measures
----------------
Pixels per second on one core of ``tiledeblur.deconvolve(image, psf, mu=1e-2)``
(``loss="tikhonov"``, free boundary, the other options at their defaults; ``--loss``
and ``--mu`` choose another loss and weight, ``--nonneg`` the bounded solve; ``--loss auto``,
the library's default, takes ``mu="auto"`` and chooses between ``laplacian`` and ``nlmeans`` on each
tile, which the table names) on square tiles, by default of
256, 512 and 1024 pixels a side, with the article's PSF
``gaussian_psf(13, (1, 3))``. In the same run, in alternation, it measures:

* scikit-image's ``richardson_lucy`` with 30 iterations, what a user would
  pick instead;
* a re-implementation of the seed article's own algorithm: its loss
  ``sqrt(||r||^2 / 2) + mu sqrt(||dy||^2 / 2 + ||dx||^2 / 2)`` with ``mu = 0.2``,
  the blur as ``autograd.scipy.signal.convolve`` (direct, not FFT) cropped to
  the "same" zero-boundary shape, gradients from ``autograd.grad``, and
  ``scipy.optimize.minimize(method="Newton-CG")`` with no ``hessp``, so scipy
  takes finite differences of the gradient; it starts from random noise. It
  runs on 512² tiles only by default (``--article-sizes``) because it is slow.

For ours it also reports the work: the FFT convolutions with the PSF (``A``
and ``Aᵀ``) and the FFT pairs of the change of variables ``P`` per tile,
counted by wrapping those methods during one untimed extra call; the time of
one forward and adjoint convolution pair at the tile's size in float32 and
float64 (the "FFT floor"); and the largest difference of our result from a
tightly converged solve of the same problem (``tol=1e-9``).

Tiles are the gray astronaut of ``skimage.data`` (512 x 512): a centred crop for
sides up to 512, and the whole image resized with ``skimage.transform.resize``
(bilinear) for larger sides. Each tile is blurred with the zero boundary and
gets Gaussian noise of sigma 0.01 from ``np.random.default_rng(0)``. Every
timing is the median over ``--repeats`` calls, with BLAS and OpenMP pinned to
one thread; PSNR is against the sharp tile.

Run it from the repository root with ``python benchmarks/bench_core.py``; it
prints a markdown table and appends it, with the machine and the library
versions, to ``benchmarks/RESULTS.md`` unless ``--no-write`` is given.
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Before numpy is imported, so that its BLAS starts with one thread.
os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import argparse
import dataclasses
import functools
import statistics
import sys
import time

import autograd
import autograd.numpy as anp
import numpy as np
import scipy.optimize
from _report import (
    RESULTS_PATH,
    append_results,
    command_line,
    environment_lines,
    int_list,
    positive_int,
    solved_by,
    utc_stamp,
)
from autograd.scipy.signal import convolve
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import richardson_lucy
from skimage.transform import resize

import tiledeblur
import tiledeblur.objectives
from tiledeblur.operators import Blur
from tiledeblur.preconditioning import Preconditioner

#: The article's PSF: side and (row, column) standard deviations.
PSF_SIZE = 13
PSF_SIGMA = (1, 3)
#: Standard deviation of the noise added to every blurred tile.
NOISE_SIGMA = 0.01
#: The article's regularization weight.
ARTICLE_MU = 0.2
#: Richardson–Lucy's iterations, as the issue compares them.
LUCY_ITERATIONS = 30
#: Our default weight: the issue measures Tikhonov at its fixed default, not
#: at the image's cross-validated ``mu="auto"``.
OURS_MU = tiledeblur.objectives.DEFAULT_MU["tikhonov"]
#: The tolerance of the reference solve that ours is compared with.
TIGHT_TOL = 1e-9
COMMAND = "python benchmarks/bench_core.py"


@dataclasses.dataclass(frozen=True)
class Counts:
    """What Newton-CG did on one tile, from scipy's result.

    Attributes
    ----------
    iterations, gradient_evaluations : int
        Newton iterations and gradient evaluations.
    hessian_products : int or None
        Exact Hessian-vector products; ``None`` where scipy took them by
        finite differences (counted in ``gradient_evaluations``).
    converged : bool
        Whether Newton-CG met its tolerance.
    solved : str or None
        What our solve restored by, its loss and any mix (``_report.solved_by``); None for the article's.
    """

    iterations: int
    gradient_evaluations: int
    hessian_products: int | None
    converged: bool
    solved: str | None = None


@dataclasses.dataclass(frozen=True)
class Run:
    """One algorithm on one tile: median timings, counts and quality.

    Attributes
    ----------
    wall_seconds, cpu_seconds : float
        Medians over the repeats of ``time.perf_counter`` and
        ``time.process_time`` differences.
    counts : Counts or None
        ``None`` for Richardson–Lucy.
    psnr : float
        PSNR of the restored tile against the sharp one, in dB.
    """

    wall_seconds: float
    cpu_seconds: float
    counts: Counts
    psnr: float


def parse_sizes(text):
    """Parse comma-separated tile sides such as ``"256,512"`` into a tuple of ints."""
    return int_list(text, minimum=PSF_SIZE, what="tile sides")


def sharp_tile(size):
    """The ground truth: the gray astronaut, cropped or resized to ``size`` a side.

    Parameters
    ----------
    size : int
        Side of the square tile.

    Returns
    -------
    truth : (size, size) ndarray of float64
        Values in [0, 1]. A centred crop where ``size <= 512``, otherwise the
        whole image resized (bilinear) to ``size``.
    """
    gray = color.rgb2gray(data.astronaut())
    if size > gray.shape[0]:
        return resize(gray, (size, size))
    start = (gray.shape[0] - size) // 2
    return gray[start : start + size, start : start + size]


def observe(truth, psf):
    """Blur ``truth`` with the zero boundary and add Gaussian noise from seed 0."""
    blurred = Blur(psf, truth.shape, boundary="zero").matvec(truth)
    return blurred + NOISE_SIGMA * np.random.default_rng(0).standard_normal(truth.shape)


def article_objective(observed, psf, mu=ARTICLE_MU):
    """The article's loss of a flattened image, written with autograd.numpy.

    Parameters
    ----------
    observed : (M, N) ndarray
        The blurred, noisy image ``b``.
    psf : (P, Q) ndarray
        Odd-sized PSF.
    mu : float
        Weight of the smoothness term.

    Returns
    -------
    objective : callable
        ``objective(flat)`` for a flat array of ``M * N`` pixels: the residual
        ``r`` of the direct "full" convolution cropped by the PSF half-width on
        each side, and ``sqrt(sum(r**2)/2) + mu sqrt(sum(dy**2)/2 + sum(dx**2)/2)``.
    """
    shape = observed.shape
    crop = tuple(slice(p // 2, p // 2 + n) for p, n in zip(psf.shape, shape))

    def objective(flat):
        image = anp.reshape(flat, shape)
        residual = convolve(image, psf, mode="full")[crop] - observed
        dy = image[:-1, :] - image[1:, :]
        dx = image[:, :-1] - image[:, 1:]
        smoothness = anp.sqrt(anp.sum(dy**2) / 2 + anp.sum(dx**2) / 2)
        return anp.sqrt(anp.sum(residual**2) / 2) + mu * smoothness

    return objective


def article_deconvolve(observed, psf, maxiter):
    """The article's algorithm: Newton-CG from noise with finite-difference Hessians.

    Parameters
    ----------
    observed : (M, N) ndarray
    psf : (P, Q) ndarray
    maxiter : int
        Most Newton iterations (scipy's ``maxiter`` option).

    Returns
    -------
    restored : (M, N) ndarray
    result : scipy.optimize.OptimizeResult
    """
    objective = article_objective(observed, psf)
    start = np.random.default_rng(0).standard_normal(observed.size) / 10
    result = scipy.optimize.minimize(
        objective,
        start,
        jac=autograd.grad(objective),
        method="Newton-CG",
        options={"maxiter": maxiter},
    )
    return result.x.reshape(observed.shape), result


def solve_ours(observed, psf, settings):
    """``tiledeblur.deconvolve`` with ``settings`` (loss and mu); return the restored tile and its :class:`Counts`."""
    restored, info = tiledeblur.deconvolve(observed, psf, **settings, return_info=True)
    return restored, Counts(info.iterations, info.gradient_evaluations, info.hessian_products, info.converged,
                            solved_by(info))


def solve_article(observed, psf, maxiter):
    """:func:`article_deconvolve`; return the restored tile and its :class:`Counts`."""
    restored, result = article_deconvolve(observed, psf, maxiter)
    return restored, Counts(int(result.nit), int(result.njev), None, bool(result.success))


def solve_lucy(observed, psf):
    """scikit-image's Richardson–Lucy with ``LUCY_ITERATIONS`` iterations; it has no counts.

    It gets the tile clipped at zero, as it needs: its ratio ``b / (A x)``
    explodes where noise makes ``b`` negative and ``A x`` is near zero.
    """
    return richardson_lucy(np.clip(observed, 0, None), psf, num_iter=LUCY_ITERATIONS), None


@dataclasses.dataclass(frozen=True)
class Work:
    """What one of our solves costs, machine-independently and against the FFT floor.

    Attributes
    ----------
    convolutions : int
        Calls of ``Blur.matvec`` and ``Blur.rmatvec``: FFT convolutions with the PSF.
    preconditioner_pairs : int
        Calls of ``Preconditioner.apply``, ``adjoint`` and ``inverse``: one FFT pair each.
    pair_seconds : dict of str to float
        Median time of one ``matvec`` plus ``rmatvec`` at the tile's size, by precision.
    tight_difference : float
        Largest absolute difference from a solve with ``tol=TIGHT_TOL``.
    """

    convolutions: int
    preconditioner_pairs: int
    pair_seconds: dict
    tight_difference: float


def count_calls(function, methods):
    """Call ``function()`` with each ``(class, name)`` in ``methods`` wrapped to count its calls."""
    calls = {method: 0 for method in methods}
    originals = {method: getattr(*method) for method in methods}

    def counting(method):
        def wrapper(*args, **kwargs):
            calls[method] += 1
            return originals[method](*args, **kwargs)
        return wrapper

    try:
        for method in methods:
            setattr(*method, counting(method))
        function()
    finally:
        for method, original in originals.items():
            setattr(*method, original)
    return calls


def fft_pair_seconds(shape, psf, precision, repeats=20):
    """Median time of one forward and adjoint free-boundary convolution of ``shape`` at ``precision``."""
    operator = Blur(psf, shape, boundary="free", precision=precision)
    image = np.random.default_rng(0).random(operator.unknown_shape)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        operator.rmatvec(operator.matvec(image))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_work(observed, psf, restored, settings):
    """The :class:`Work` of our solve of ``observed`` with ``settings``, whose timed result was ``restored``."""
    calls = count_calls(functools.partial(tiledeblur.deconvolve, observed, psf, **settings), [
        (Blur, "matvec"), (Blur, "rmatvec"), (Preconditioner, "apply"), (Preconditioner, "adjoint"),
        (Preconditioner, "inverse")])
    tight = tiledeblur.deconvolve(observed, psf, **settings, tol=TIGHT_TOL)
    return Work(
        convolutions=calls[Blur, "matvec"] + calls[Blur, "rmatvec"],
        preconditioner_pairs=sum(calls[Preconditioner, name] for name in ("apply", "adjoint", "inverse")),
        pair_seconds={name: fft_pair_seconds(observed.shape, psf, dtype) for name, dtype in
                      (("float32", np.float32), ("float64", np.float64))},
        tight_difference=float(np.abs(restored - tight).max()),
    )


def psnr(truth, image):
    """PSNR of ``image`` against ``truth`` in dB, for data on a [0, 1] scale."""
    return float(peak_signal_noise_ratio(truth, image, data_range=1.0))


def measure(solvers, truth, repeats):
    """Time each solver ``repeats`` times, in alternation.

    Round after round calls every solver once, so a slow spell of a shared
    machine weighs on all of them alike and their ratio stays fair.

    Parameters
    ----------
    solvers : dict of str to callable
        Each ``solver()`` returns ``(restored, counts)``.
    truth : ndarray
        The sharp tile, for PSNR.
    repeats : int

    Returns
    -------
    runs : dict of str to Run
        Median timings; counts and PSNR of the last call.
    restored : dict of str to ndarray
        The last call's result of each solver.
    """
    walls = {name: [] for name in solvers}
    cpus = {name: [] for name in solvers}
    outcomes = {}
    for _ in range(repeats):
        for name, solver in solvers.items():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            outcomes[name] = solver()
            walls[name].append(time.perf_counter() - wall_start)
            cpus[name].append(time.process_time() - cpu_start)
    runs = {
        name: Run(statistics.median(walls[name]), statistics.median(cpus[name]), counts, psnr(truth, restored))
        for name, (restored, counts) in outcomes.items()
    }
    return runs, {name: restored for name, (restored, _) in outcomes.items()}


def format_cells(*values, pattern):
    """Join ``values`` with `` / ``, each formatted by ``pattern``; ``None`` is a dash."""
    return " / ".join("—" if value is None else pattern.format(value) for value in values)


def table_row(size, blurred_psnr, runs, work):
    """One markdown table row; ``runs["article"]`` is absent where it was not run."""
    pixels = size * size
    ours, lucy, article = runs["ours"], runs["lucy"], runs.get("article")
    rate = {name: pixels / run.wall_seconds / 1e6 for name, run in runs.items()}
    transforms = work.convolutions / 2 + work.preconditioner_pairs
    cells = [
        f"{size}²",
        f"{rate['ours']:.3g}",
        f"{rate['lucy']:.3g}",
        "not run" if article is None else f"{rate['article']:.4f}",
        "—" if article is None else f"{rate['ours'] / rate['article']:.0f}",
        f"{rate['ours'] / rate['lucy']:.2f}",
        format_cells(blurred_psnr, ours.psnr, lucy.psnr, article and article.psnr, pattern="{:.2f}"),
        f"{work.tight_difference:.1e}",
        f"{work.convolutions} + {work.preconditioner_pairs}",
        format_cells(*(ours.wall_seconds / (seconds * transforms) for seconds in work.pair_seconds.values()),
                     pattern="{:.2f}"),
        format_cells(ours.counts.iterations, article and article.counts.iterations, pattern="{}"),
        str(ours.counts.hessian_products),
        format_cells(ours.counts.converged, article and article.counts.converged, pattern="{}"),
        format_cells(ours.cpu_seconds / ours.wall_seconds, lucy.cpu_seconds / lucy.wall_seconds,
                     article and article.cpu_seconds / article.wall_seconds, pattern="{:.2f}"),
        ours.counts.solved,
    ]
    return "| " + " | ".join(cells) + " |"


def table(rows, options, article_capped, article_skipped):
    """The results table in markdown, with notes on how to read it.

    Parameters
    ----------
    rows : list of str
        Rows from :func:`table_row`.
    options : argparse.Namespace
        Our ``loss`` and ``mu``, and the article's ``article_maxiter``.
    article_capped : bool
        Whether it stopped at ``maxiter`` on some tile.
    article_skipped : bool
        Whether it was not run on some tile.
    """
    header = [
        ("| Tile | Ours Mpx/s | RL-30 Mpx/s | Article Mpx/s | Ours / article | Ours / RL-30 "
        "| PSNR dB (blurred / ours / RL-30 / article) | Ours − tight, max | Convolutions + P pairs per tile "
        "| Time / floor (float32 / float64) | Newton iterations (ours / article) | Ours Hessian products "
        "| Converged (ours / article) | CPU / wall (ours / RL-30 / article) | Ours solved by |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = [
        "",
        (f"- Mpx/s: tile pixels over the median wall time, one thread. Ours is `deconvolve(image, psf, "
        f"loss={options.loss!r}, mu={options.mu!r}, nonneg={options.nonneg}, denoise={options.denoise})` (free "
        "boundary); RL-30 is `richardson_lucy(np.clip(image, 0, None), psf, num_iter=30)`; "
        f"the article is its loss with mu {ARTICLE_MU}, direct convolution, zero boundary, random start and "
        f"finite-difference Hessian products, `maxiter={options.article_maxiter}`."),
        f"- Ours − tight: the largest absolute difference from the same solve with `tol={TIGHT_TOL:g}`.",
        ("- Convolutions: FFT convolutions with the PSF in one of our solves, forward and adjoint (`Blur.matvec`, "
        "`Blur.rmatvec`), the issue's work figure; per pixel it is the same number, since each is one pass over "
        "the tile. P pairs: FFT pairs of the change of variables (`Preconditioner.apply`, `adjoint`, "
        "`inverse`), each costing about one convolution."),
        ("- Time / floor: our median time over (the time of one forward plus adjoint convolution at this size "
        "× the FFT pairs of one solve, counting a convolution as half a pair and a P pair as one). Hessian "
        "products run in float32 and the loss in float64, so the truth lies between the two figures."),
        "- CPU / wall below 1 means the process waited for the CPU (another load on the machine).",
    ]
    if article_skipped:
        notes.append("- \"not run\": the article's algorithm was skipped at that size for its slowness "
                     "(`--article-sizes`).")
    if article_capped:
        notes.append(f"- The article's algorithm stopped at maxiter={options.article_maxiter} before converging: "
                     "its px/s is an upper bound on its speed to convergence.")
    return "\n".join(header + rows + notes)


def parse_arguments(argv):
    """The command-line options, see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=(256, 512, 1024),
                        help="tile sides, comma-separated (default: 256,512,1024)")
    parser.add_argument("--article-sizes", type=parse_sizes, default=(512,),
                        help="sides (among --sizes) to run the article's algorithm on (default: 512)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed calls per measurement (default: %(default)s)")
    parser.add_argument("--article-maxiter", type=positive_int, default=200,
                        help="most Newton iterations of the article's algorithm (default: %(default)s)")
    parser.add_argument("--loss", choices=("auto", *tiledeblur.objectives.ADDITIVE_LOSSES), default="tikhonov",
                        help="our loss (default: %(default)s)")
    parser.add_argument("--mu", type=parse_mu, default=None,
                        help="our weight, a number or 'auto' (default: the loss's fixed default, "
                             f"{OURS_MU} for tikhonov; 'auto' for loss auto)")
    parser.add_argument("--nonneg", action="store_true", help="our solve with nonneg=True")
    parser.add_argument("--no-denoise", dest="denoise", action="store_false",
                        help="our solve with denoise=False: without its pass of non-local means")
    parser.add_argument("--no-write", action="store_true", help=f"do not append to {RESULTS_PATH.name}")
    options = parser.parse_args(argv)
    if options.mu is None:
        options.mu = "auto" if options.loss == "auto" else tiledeblur.objectives.DEFAULT_MU[options.loss]
    return options


def parse_mu(text):
    """``"auto"`` or a positive number."""
    if text == "auto":
        return text
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive number, got {text!r}")
    return value


def benchmark_tile(size, psf, options):
    """Measure ours and Richardson–Lucy, and the article's algorithm if ``size`` is in ``options.article_sizes``.

    Returns
    -------
    blurred_psnr : float
        PSNR of the blurred, noisy tile, the baseline.
    runs : dict of str to Run
        ``"ours"``, ``"lucy"`` and, where it ran, ``"article"``.
    work : Work
        Of ours.
    """
    truth = sharp_tile(size)
    observed = observe(truth, psf)
    settings = {"loss": options.loss, "mu": options.mu, "nonneg": options.nonneg, "denoise": options.denoise}
    solvers = {"ours": functools.partial(solve_ours, observed, psf, settings),
               "lucy": functools.partial(solve_lucy, observed, psf)}
    if size in options.article_sizes:
        solvers["article"] = functools.partial(solve_article, observed, psf, options.article_maxiter)
    runs, restored = measure(solvers, truth, options.repeats)
    return psnr(truth, observed), runs, measure_work(observed, psf, restored["ours"], settings)


def main(argv=None):
    """Run the benchmark, print the table and append it to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_arguments(argv)
    started = time.perf_counter()
    psf = tiledeblur.gaussian_psf(PSF_SIZE, PSF_SIGMA)
    rows, article_capped, article_skipped = [], False, False
    for size in options.sizes:
        blurred_psnr, runs, work = benchmark_tile(size, psf, options)
        article = runs.get("article")
        article_capped |= article is not None and not article.counts.converged
        article_skipped |= article is None
        rows.append(table_row(size, blurred_psnr, runs, work))
        print(f"{size}²: done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
    command = command_line(COMMAND, argv)
    section = "\n".join([
        f"## bench_core — {utc_stamp()}",
        "",
        *environment_lines(("numpy", "scipy", "autograd", "scikit-image", "tiledeblur"), THREAD_VARIABLES),
        f"- Command: `{command}` (repeats: {options.repeats}, medians reported)",
        (f"- Tiles: gray astronaut, centred crop up to 512², resized bilinearly above; blurred by "
        f"`gaussian_psf({PSF_SIZE}, {PSF_SIGMA})` with the zero boundary, noise sigma {NOISE_SIGMA} (seed 0)"),
        f"- Total runtime: {time.perf_counter() - started:.0f} s",
        "",
        table(rows, options, article_capped, article_skipped),
    ])
    print(section)
    if not options.no_write:
        append_results(section)

if __name__ == "__main__":
    main()
