"""Benchmark the quality of ``tiledeblur.deconvolve``'s defaults against tuned scikit-image peers.

What it measures
----------------
PSNR (``data_range=1``) against the ground truth of ``tiledeblur.deconvolve``
with ``mu="auto"`` and otherwise the library's defaults (``--loss`` picks
another loss, ``--eps`` and ``--nonneg`` other settings), and of
scikit-image's ``richardson_lucy``, ``wiener`` and ``unsupervised_wiener``, on
every combination of ``--images``, PSFs and ``--noise`` levels.

Each case is a crop of a larger scene, as a tile of a large scan is: the
central ``--size`` square of a ``skimage.data`` image (gray, float in [0, 1]),
observed as the "valid" convolution of that square extended by the PSF radius
on each side (so its border holds real scene content, no zeros and no
reflection), plus Gaussian noise of the given sigma from
``np.random.default_rng`` seeded by the CRC-32 of the image and PSF names.
With ``--photons`` the noise is a photon-counting sensor's instead: the
blurred crop, counted at that many photons for a value of 1, is drawn from
the Poisson distribution of that mean and scaled back, so that the noise's
variance is the blurred scene's value over the count.
With ``--colour`` the crops keep their red, green and blue (images without
colour are refused), each channel blurred by the same PSF and given its own
noise; ours deblurs them with ``channel_axis=-1``, each peer each channel at
one setting for all three, and PSNR is over the three together.
With ``--stains`` the images are groups of gray ones joined by ``+``, each
group stacked as the channels of one image, as a fluorescence image's stains
show different structures; the channels are treated as ``--colour``'s.
With ``--zeros-beyond`` the square is blurred alone instead, with zeros
beyond it (convolution in "same" mode, as scikit-image's deconvolution
examples blur), so that its border fades to black.
The PSFs are the article's ``gaussian_psf(13, (1, 3))``, an isotropic
``gaussian_psf(17, 2)`` and a 13 x 13 anti-aliased motion line at 30 degrees
(``skimage.draw.line_aa``, normalized); ``--psfs`` may name others that no
study behind the library's rules used: defocus disks of radius 2.5 and 4 px,
``gaussian_psf(9, 1.2)`` and ``gaussian_psf(25, 4)``, an Airy pattern whose
first dark ring lies 3 px out, and a 21 x 21 motion line at 70 degrees.

PSNR is scored on the interior, which excludes a margin of two PSF sides from
each edge, and on the full crop. Each peer gets the best setting of a sweep,
chosen against the truth on the interior PSNR (an oracle no user has):
``richardson_lucy`` over ``num_iter`` (geometric, 2 to 128, ``clip=False``),
``wiener`` over ``balance`` (geometric, 1e-4 to 10, ``clip=False``);
``unsupervised_wiener`` runs as is (``clip=False``, ``rng=0``). The
best-tuned peer of a case is the best of the three. The margin is ours minus
the best-tuned peer, in dB; positive means ours wins.

Run it from the repository root with ``python benchmarks/bench_quality.py``;
it prints a markdown table, one row per case, and a summary, and appends them,
with the machine and the library versions, to ``benchmarks/RESULTS.md`` unless
``--no-write`` is given. ``--quick`` is a smoke run of two small cases.
"""

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Before numpy is imported, so that its BLAS starts with one thread.
os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import argparse
import dataclasses
import math
import re
import statistics
import sys
import time
import warnings
import zlib

import numpy as np
import scipy.signal
import scipy.special
from _report import (
    RESULTS_PATH,
    append_results,
    command_line,
    environment_lines,
    image_names,
    positive_int,
    solved_by,
    utc_stamp,
)
from skimage import color, data, restoration, util
from skimage.draw import line_aa
from skimage.metrics import peak_signal_noise_ratio

import tiledeblur
from tiledeblur.psf import psf_radius

COMMAND = "python benchmarks/bench_quality.py"
DEFAULT_IMAGES = ("camera", "astronaut", "coins", "moon", "brick", "grass", "gravel", "cell")
DEFAULT_NOISE = (0.005, 0.01, 0.03)
DEFAULT_SIZE = 256
#: The sweeps of the tuned peers.
RL_ITERATIONS = tuple(int(n) for n in np.unique(np.geomspace(2, 128, 13).round()))
WIENER_BALANCES = tuple(float(b) for b in np.geomspace(1e-4, 10, 21))
#: The smoke run: images, PSF names, noise levels and crop side.
QUICK = {"images": ("camera", "coins"), "psfs": ("gaussian 13 σ(1, 3)",), "noise": (0.01,), "size": 128}


@dataclasses.dataclass(frozen=True)
class Case:
    """One deblurring problem: a noisy blurred crop and its sharp truth.

    Attributes
    ----------
    image, psf_name : str
        The ``skimage.data`` image and the PSF's name.
    noise : float
        Standard deviation of the added noise, or with ``photons``, the photons counted for a value of 1.
    psf : (P, Q) ndarray
    truth, observed : (S, S) or (S, S, 3) ndarray of float64
        Gray, or with ``--colour`` red, green and blue.
    photons : bool
        Whether the noise is a photon count's (Poisson).
    """

    image: str
    psf_name: str
    noise: float
    psf: np.ndarray
    truth: np.ndarray
    observed: np.ndarray
    photons: bool = False

    @property
    def noise_name(self):
        """The noise for the tables: its sigma, or its photons for a value of 1."""
        return f"{self.noise:g}" + (" photons" if self.photons else "")


@dataclasses.dataclass(frozen=True)
class Score:
    """One restoration's PSNR in dB, and the setting that produced it.

    Attributes
    ----------
    interior, full : float
        PSNR on the interior and on the full crop.
    setting : str
        The peer's chosen parameter, or ours' mu, for the table.
    """

    interior: float
    full: float
    setting: str


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Every score of one case, for a table row.

    Attributes
    ----------
    case : Case
    blurred, ours : Score
    peers : dict of str to Score
        Each peer at its best setting.
    seconds : float
        Wall time of our solve.
    converged : bool
        Whether our solve raised no ``ConvergenceWarning``.
    """

    case: Case
    blurred: Score
    ours: Score
    peers: dict
    seconds: float
    converged: bool

    @property
    def best_peer(self):
        """The name of the peer with the best interior PSNR."""
        return max(self.peers, key=lambda name: self.peers[name].interior)

    @property
    def margin(self):
        """Ours minus the best-tuned peer, interior and full, in dB."""
        peer = self.peers[self.best_peer]
        return self.ours.interior - peer.interior, self.ours.full - peer.full


def motion_psf(length, angle):
    """A normalized, anti-aliased straight motion blur of about ``length`` pixels at ``angle`` degrees.

    Examples
    --------
    >>> psf = motion_psf(13, 30)
    >>> psf.shape, round(float(psf.sum()), 12)
    ((13, 13), 1.0)
    """
    half = length // 2
    rows, columns = round(half * np.sin(np.radians(angle))), round(half * np.cos(np.radians(angle)))
    psf = np.zeros((2 * half + 1, 2 * half + 1))
    rr, cc, values = line_aa(half - rows, half - columns, half + rows, half + columns)
    psf[rr, cc] = values
    return psf / psf.sum()


def defocus_psf(radius):
    """A normalized defocus blur: a disk of ``radius`` pixels, its rim's pixels covered in part.

    Examples
    --------
    >>> psf = defocus_psf(2.5)  # the pixels 2 from the centre reach 2.5: covered whole along an axis
    >>> psf.shape, round(float(psf.sum()), 12), bool(psf[0, 2] == psf.max() > psf[0, 1] > psf[0, 0] > 0)
    ((5, 5), 1.0, True)
    """
    return _pixel_means(2 * math.ceil(radius - 0.5) + 1, lambda distance: distance <= radius)


def airy_psf(first_zero, rings=3):
    """A normalized Airy pattern, a circular lens's PSF in focus, as a widefield microscope's: ``(2 J1(v) / v)²``
    with ``v`` the distance from the centre scaled so that the first dark ring lies ``first_zero`` pixels out, cut
    at ``rings`` times that.

    Examples
    --------
    >>> psf = airy_psf(3)
    >>> psf.shape, round(float(psf.sum()), 12), bool(psf[9, 9] == psf.max() > 100 * psf[9, 12])
    ((19, 19), 1.0, True)
    """
    scale = scipy.special.jn_zeros(1, 1)[0] / first_zero

    def pattern(distance):
        v = scale * distance
        return (2 * scipy.special.j1(v) / v) ** 2

    return _pixel_means(2 * math.ceil(rings * first_zero) + 1, pattern)


def _pixel_means(side, value):
    """``value(distance)`` at 8 x 8 points of each pixel of a square of ``side`` pixels, ``distance`` theirs from
    its centre, averaged over each pixel, and normalized. No point lies at the centre, for an odd ``side``."""
    offsets = (np.arange(8 * side) + 0.5) / 8 - side / 2
    sampled = value(np.hypot(offsets[:, None], offsets[None, :]))
    means = sampled.reshape(side, 8, side, 8).mean(axis=(1, 3))
    return means / means.sum()


#: The PSFs by name: those of every run, and those that ``--psfs`` may name too, which no study that set the
#: library's rules used (defocus disks, a Gaussian whose dead band is a thin rim, a wide Gaussian, as a strong
#: defocus or a telescope's seeing leaves, a widefield microscope's Airy pattern and a longer motion line).
PSFS = {
    "gaussian 13 σ(1, 3)": tiledeblur.gaussian_psf(13, (1, 3)),
    "gaussian 17 σ2": tiledeblur.gaussian_psf(17, 2),
    "motion 13 at 30°": motion_psf(13, 30),
}
MORE_PSFS = {
    "defocus r2.5": defocus_psf(2.5),
    "defocus r4": defocus_psf(4),
    "gaussian 9 σ1.2": tiledeblur.gaussian_psf(9, 1.2),
    "gaussian 25 σ4": tiledeblur.gaussian_psf(25, 4),
    "airy r3": airy_psf(3),
    "motion 21 at 70°": motion_psf(21, 70),
}


def psf_names(text):
    """Parse comma-separated names of :data:`PSFS` and :data:`MORE_PSFS`, whose own commas lie in parentheses."""
    names = tuple(name.strip() for name in re.split(r",(?![^(]*\))", text) if name.strip())
    unknown = [name for name in names if name not in {**PSFS, **MORE_PSFS}]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected names among {', '.join({**PSFS, **MORE_PSFS})}, got {text!r}")
    return names


def scene_image(name, *, colour=False):
    """The ``skimage.data`` image ``name`` as a float array in [0, 1], color converted to gray, or with ``colour``
    its red, green and blue (``yxc``)."""
    # The one image that skimage.data draws at random: seeded, so that a rerun scores the same scene.
    image = data.binary_blobs(rng=0) if name == "binary_blobs" else getattr(data, name)()
    if colour and image.ndim != 3:
        raise SystemExit(f"{name} has no colour to deblur with --colour")
    if image.ndim == 3:
        image = image[..., :3] if colour else color.rgb2gray(image[..., :3])
    return util.img_as_float(image)


def stained_scene(group):
    """The gray ``skimage.data`` images of ``group``, names joined by ``+``, stacked as the channels of one image
    (``yxc``), each cropped about its centre to the shape that all share."""
    images = [scene_image(name) for name in group.split("+")]
    shape = np.min([image.shape for image in images], axis=0)
    return np.stack([image[tuple(slice((n - s) // 2, (n - s) // 2 + s) for n, s in zip(image.shape, shape))]
                     for image in images], axis=-1)


def make_case(image, psf_name, noise, size, *, zeros_beyond=False, photons=False, colour=False):
    """The central ``size`` square of ``image``, blurred as part of its scene (or alone, with zeros beyond it), with
    noise.

    Parameters
    ----------
    image, psf_name : str
        Names in ``skimage.data``, or several joined by ``+`` (:func:`stained_scene`), and in :data:`PSFS` or
        :data:`MORE_PSFS`.
    noise : float
        Standard deviation of the Gaussian noise, or with ``photons``, the photons counted for a value of 1.
    size : int
        Side of the crop.
    zeros_beyond : bool
        Blur the square alone, with zeros beyond it.
    photons : bool
        Count photons (Poisson noise) in place of adding Gaussian noise.
    colour : bool
        Keep the image's red, green and blue, each blurred alike.

    Returns
    -------
    case : Case
    """
    scene = stained_scene(image) if "+" in image else scene_image(image, colour=colour)
    psf = {**PSFS, **MORE_PSFS}[psf_name]
    radius = psf_radius(psf)
    if any(n < size + 2 * r for n, r in zip(scene.shape, radius)):
        raise SystemExit(f"{image} is {scene.shape[0]} x {scene.shape[1]} px, too small for a crop of {size} "
                         f"with {psf_name}")
    start = [(n - size) // 2 for n in scene.shape[:2]]
    extended = scene[tuple(slice(s - r, s + size + r) for s, r in zip(start, radius))]
    truth = scene[tuple(slice(s, s + size) for s in start)]
    rng = np.random.default_rng(zlib.crc32(f"{image}/{psf_name}".encode()))
    kernel = psf if scene.ndim == 2 else psf[..., None]  # each channel blurred alike
    blurred = (scipy.signal.fftconvolve(truth, kernel, mode="same") if zeros_beyond
               else scipy.signal.fftconvolve(extended, kernel, mode="valid"))
    # A blur computed by FFT leaves values of -1e-17 where the scene is black, which no count can have.
    observed = (rng.poisson(np.maximum(blurred, 0) * noise) / noise if photons
                else blurred + noise * rng.standard_normal(truth.shape))
    return Case(image, psf_name, noise, psf, truth, observed, photons)


def score(case, restored, setting):
    """PSNR of ``restored`` against the case's truth, on the interior and on the full crop.

    The interior excludes ``2 * P`` rows and ``2 * Q`` columns from each edge,
    for a ``(P, Q)`` PSF.
    """
    interior = tuple(slice(2 * p, -2 * p) for p in case.psf.shape)
    return Score(
        float(peak_signal_noise_ratio(case.truth[interior], restored[interior], data_range=1.0)),
        float(peak_signal_noise_ratio(case.truth, restored, data_range=1.0)),
        setting,
    )


def best_of(case, restore, settings, label):
    """The best :class:`Score` on the interior of ``restore(setting)`` over ``settings``.

    ``label`` formats the setting for the table, such as ``"{} it."``.
    """
    scores = [score(case, restore(setting), label.format(setting)) for setting in settings]
    return max(scores, key=lambda s: s.interior)


def tuned_peers(case):
    """Each peer at its best setting on the case, by the interior PSNR against the truth; each channel of a colour
    case at the same setting."""
    psf = case.psf

    def each_channel(restore):
        """The restoration of every channel of the observed crop by ``restore(channel)``."""
        if case.observed.ndim == 2:
            return restore(case.observed)
        return np.stack([restore(case.observed[..., c]) for c in range(case.observed.shape[-1])], axis=-1)

    return {
        "richardson_lucy": best_of(
            case, lambda n: each_channel(lambda image: restoration.richardson_lucy(image, psf, num_iter=n,
                                                                                   clip=False)),
            RL_ITERATIONS, "{} it."),
        "wiener": best_of(
            case, lambda b: each_channel(lambda image: restoration.wiener(image, psf, b, clip=False)),
            WIENER_BALANCES, "balance {:.2g}"),
        "unsupervised_wiener": score(
            case, each_channel(lambda image: restoration.unsupervised_wiener(image, psf, clip=False, rng=0)[0]),
            "as is"),
    }


def solve_ours(case, settings):
    """``deconvolve(mu="auto", **settings)``: the library's defaults but for ``settings``.

    Returns
    -------
    score : Score
    seconds : float
        Wall time of the solve.
    converged : bool
        Whether it raised no ``ConvergenceWarning``.
    """
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tiledeblur.ConvergenceWarning)
        restored, info = tiledeblur.deconvolve(case.observed, case.psf, mu="auto", return_info=True,
                                               channel_axis=None if case.observed.ndim == 2 else -1, **settings)
    seconds = time.perf_counter() - started
    converged = not any(issubclass(w.category, tiledeblur.ConvergenceWarning) for w in caught)
    infos = info if isinstance(info, tuple) else (info,)
    # "auto", the default too, names the loss it chose and its mix: one for the channels of one scene, each
    # channel's where they are denoised alone and differ.
    choices = dict.fromkeys(solved_by(each) for each in infos)
    chosen = f"{' / '.join(choices)}, " if settings.get("loss", "auto") == "auto" else ""
    return score(case, restored, f"{chosen}μ {', '.join(f'{each.mu:.3g}' for each in infos)}"), seconds, converged


def evaluate(case, settings):
    """Every score of ``case``: the blurred image, ours (with ``settings``) and the tuned peers."""
    ours, seconds, converged = solve_ours(case, settings)
    return Outcome(case, score(case, case.observed, ""), ours, tuned_peers(case), seconds, converged)


def table_row(outcome):
    """One markdown table row."""
    case, ours, peers = outcome.case, outcome.ours, outcome.peers
    best = peers[outcome.best_peer]
    margin_interior, margin_full = outcome.margin
    cells = [
        case.image,
        case.psf_name,
        case.noise_name,
        f"{outcome.blurred.interior:.2f}",
        f"{ours.interior:.2f} / {ours.full:.2f}",
        f"{ours.setting}, {outcome.seconds:.1f} s" + ("" if outcome.converged else ", not converged"),
        *(f"{peers[name].interior:.2f} ({peers[name].setting})" for name in peers),
        f"{outcome.best_peer}: {best.interior:.2f} / {best.full:.2f}",
        f"{margin_interior:+.2f} / {margin_full:+.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def table(outcomes):
    """The per-case markdown table."""
    header = [
        ("| Image | PSF | Noise (σ, or photons for 1) | Blurred, interior | Ours, interior / full | Ours: μ, time "
        "| richardson_lucy, interior | wiener, interior | unsupervised_wiener, interior "
        "| Best-tuned peer, interior / full | Margin dB, interior / full |"),
        "|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    return "\n".join(header + [table_row(outcome) for outcome in outcomes])


def summary_row(label, outcomes):
    """A markdown row: wins and median and worst margins of ``outcomes``, interior and full."""
    interior = [outcome.margin[0] for outcome in outcomes]
    full = [outcome.margin[1] for outcome in outcomes]
    wins = sum(margin > 0 for margin in interior)
    return (f"| {label} | {wins} / {len(outcomes)} | {statistics.median(interior):+.2f} | {min(interior):+.2f} "
            f"| {sum(margin > 0 for margin in full)} / {len(outcomes)} | {statistics.median(full):+.2f} |")


def summary(outcomes):
    """Wins and margins over all cases, per image, per PSF and per noise level, in markdown."""
    header = [
        ("| Cases | Ours wins, interior | Median margin, interior (dB) | Worst margin, interior (dB) "
        "| Ours wins, full | Median margin, full (dB) |"),
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [summary_row("all", outcomes)]
    for attribute in ("image", "psf_name", "noise_name"):
        for value in dict.fromkeys(getattr(outcome.case, attribute) for outcome in outcomes):
            group = [outcome for outcome in outcomes if getattr(outcome.case, attribute) == value]
            rows.append(summary_row(f"noise {value}" if attribute == "noise_name" else value, group))
    return "\n".join(header + rows)


def float_list(text):
    """Parse comma-separated positive numbers such as ``"0.005,0.01"``."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not all(value > 0 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def parse_arguments(argv):
    """The command-line options, see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive_int, default=DEFAULT_SIZE,
                        help="side of the crops in pixels (default: %(default)s)")
    parser.add_argument("--images", type=image_names, default=DEFAULT_IMAGES,
                        help=f"skimage.data images, comma-separated (default: {','.join(DEFAULT_IMAGES)})")
    parser.add_argument("--psfs", type=psf_names, default=tuple(PSFS),
                        help=f"PSF names, comma-separated, among {', '.join({**PSFS, **MORE_PSFS})} (default: "
                             f"{','.join(PSFS)})")
    parser.add_argument("--noise", type=float_list, default=DEFAULT_NOISE,
                        help=f"noise sigmas, comma-separated (default: {','.join(map(str, DEFAULT_NOISE))})")
    parser.add_argument("--photons", type=float_list, default=None,
                        help="photons counted for a value of 1, comma-separated: Poisson noise in place of --noise's "
                             "Gaussian noise")
    parser.add_argument("--colour", action="store_true",
                        help="keep the images' red, green and blue: ours deblurs them with channel_axis=-1, each peer "
                             "each channel at one setting")
    parser.add_argument("--stains", type=stain_groups, default=None,
                        help="groups of gray images joined by '+', comma-separated, each stacked as the channels of "
                             "one image (such as camera+coins+moon); replaces --images")
    parser.add_argument("--zeros-beyond", action="store_true",
                        help="blur each crop alone, with zeros beyond it (convolution in 'same' mode, as "
                             "scikit-image's deconvolution examples blur), not as part of its scene")
    parser.add_argument("--loss", default=None,
                        help="our loss, such as tikhonov or tv (default: none passed, so the library's default)")
    parser.add_argument("--eps", type=float, default=None,
                        help="the smoothing of tv passed to ours (default: none passed, so the library's default)")
    parser.add_argument("--nonneg", action="store_true", help="pass nonneg=True to ours")
    parser.add_argument("--no-denoise", dest="denoise", action="store_false",
                        help="pass denoise=False to ours: the solve without its pass of non-local means")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: images {','.join(QUICK['images'])}, the article's PSF, noise "
                             f"{QUICK['noise'][0]}, {QUICK['size']} px crops; overrides --size, --images, --psfs, "
                             "--noise")
    parser.add_argument("--no-write", action="store_true", help=f"do not append to {RESULTS_PATH.name}")
    options = parser.parse_args(argv)
    if options.quick:
        options.images, options.psfs, options.noise, options.size = (
            QUICK["images"], QUICK["psfs"], QUICK["noise"], QUICK["size"])
    if options.stains:
        options.images = options.stains
    return options


def stain_groups(text):
    """Parse comma-separated groups of ``skimage.data`` image names joined by ``+``."""
    groups = tuple(group for group in text.split(",") if group)
    for group in groups:
        if len(image_names(group.replace("+", ","))) < 2:
            raise argparse.ArgumentTypeError(f"expected two images or more joined by '+', got {group!r}")
    return groups


def main(argv=None):
    """Run the benchmark, print the tables and append them to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_arguments(argv)
    command = command_line(COMMAND, argv)
    print(f"command: {command}", file=sys.stderr)
    started = time.perf_counter()
    settings = {"loss": options.loss} if options.loss else {}
    settings.update({"eps": options.eps} if options.eps is not None else {})
    settings.update({"nonneg": True} if options.nonneg else {})
    settings.update({} if options.denoise else {"denoise": False})
    outcomes = []
    for image in options.images:
        for psf_name in options.psfs:
            for noise in options.photons or options.noise:
                case = make_case(image, psf_name, noise, options.size, zeros_beyond=options.zeros_beyond,
                                 photons=options.photons is not None, colour=options.colour)
                outcomes.append(evaluate(case, settings))
                print(f"{image}, {psf_name}, noise {case.noise_name}: done after "
                      f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    channels = options.colour or options.stains
    loss = "the library's default" if options.loss is None else f"`{options.loss}`"
    loss += f", `eps={options.eps:g}`" if options.eps is not None else ""
    loss += ", `nonneg=True`" if options.nonneg else ""
    loss += "" if options.denoise else ", `denoise=False`"
    section = "\n".join([
        f"## bench_quality — {utc_stamp()}",
        "",
        *environment_lines(("numpy", "scipy", "autograd", "scikit-image", "tiledeblur"), THREAD_VARIABLES),
        f"- Command: `{command}`",
        (f"- Cases: central {options.size}² crops of `skimage.data` images "
        + ("(red, green and blue, [0, 1]; each channel blurred alike, and its own noise), " if options.colour else
           "(gray, [0, 1], each group's stacked as channels, as stains; each channel blurred alike, and its own "
           "noise), " if options.stains else "(gray, [0, 1]), ") + "observed as "
        + ("the 'same' convolution of the crop alone, with zeros beyond it (its border fades to black)"
           if options.zeros_beyond else
           "the valid convolution of the crop extended by the PSF radius (no boundary assumption)")
        + (", Poisson noise of the given photons for a value of 1" if options.photons else ", Gaussian noise")
        + " seeded by the CRC-32 of image and PSF names"),
        (f"- Ours: `deconvolve(observed, psf, mu=\"auto\"{', channel_axis=-1' if channels else ''})`, loss "
         f"{loss}, other settings default"),
        (f"- Peers, each at its best setting on the interior PSNR against the truth: `richardson_lucy` "
        f"(`num_iter` in {', '.join(map(str, RL_ITERATIONS))}; `clip=False`), `wiener` (`balance` in 21 "
        "geometric steps from 1e-4 to 10; `clip=False`), `unsupervised_wiener` (`clip=False`, `rng=0`)"
        + ("; each channel at one setting for all of them" if channels else "")),
        ("- PSNR in dB, `data_range=1`" + (" over the channels" if channels else "")
        + "; interior: two PSF sides in from each edge; margin: ours minus the "
        "best-tuned peer (the best of the three on the interior), positive where ours wins"),
        f"- Total runtime: {time.perf_counter() - started:.0f} s",
        "",
        table(outcomes),
        "",
        summary(outcomes),
    ])
    print(section)
    if not options.no_write:
        append_results(section)


if __name__ == "__main__":
    main()
