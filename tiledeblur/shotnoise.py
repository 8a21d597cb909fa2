"""Noise that grows with the signal: a variance per pixel, as a photon-counting sensor gives, fitted on the image.

A pixel that counts photons has Poisson noise, whose variance is its mean
count, plus its read-out's Gaussian noise: in the image's units, a variance
``gain * level + floor`` that rises along a line with the blurred scene's
level (Foi, Trimeche, Katkovnik and Egiazarian, 2008). Fluorescence
micrographs and sky images are such, and their range is wide: on a star
field (``hubble_deep_field``) with 1000 photons at full scale, a star's
pixels are about 4 times noisier than the sky's, by standard deviation.

The fit
-------
A blur leaves little of the scene in the finest detail, so the response of
the unit-norm second difference ``HIGH_PASS`` is nearly the noise alone, of
the noise's variance where it is white. The pixels are grouped by their
level, the mean of their 3 x 3 neighbourhood, into ``LEVELS`` bins of equal
width between the 0.5th and 99.5th percentiles, each bin's variance taken
robustly, from the median of the response's magnitude, and the line fitted
by least squares (bins weighted by the root of their pixel counts, a gain
of at least zero). On 256² crops of 12 ``skimage.data`` images under a
Gaussian of σ(1, 3) and a defocus disk of radius 2.5 px (a scratch study,
2026-12-06), Poisson noise of 100 and 1000 photons for a value of 1 gave a
gain within 10% of the true one (``1 / photons``) in 36 of the 48 cases,
and within 17% in 46. The two others, ``moon`` under the Gaussian at 100
and 1000 photons, whose levels span a narrow range, took 0.58 and 1.29
times the gain and made up for it in the floor, which kept the variance
within 2% of the true one at the image's mean level. Gaussian noise
of 0.005 and 0.03 gave a line whose variance at the 95th percentile of the
levels was at most 1.24 times that at the 5th (at most 1.09 but on
``coins`` under the disk).

Where it serves
---------------
``loss="auto"``'s estimate of each loss's error (:mod:`tiledeblur.selection`)
weighs each pixel by its own variance, by the line below, which kept it
from choosing ``nlmeans`` for star fields counted in photons while that
denoised every pixel alike.

``nlmeans``' denoiser follows the line (:mod:`tiledeblur.plugandplay`):
one per channel of the whole image, fitted through the pixels of its
sample regions together and taken relative to their mean variance where
cross-validation measured the noise level that it multiplies
(:func:`sampled_noise_lines`), as ``mu`` is fitted once and taken by every
tile; each tile divides its rounds' images by the deviations that the line
gives at the level of their start (:func:`noise_deviations`) before
denoising them, and multiplies them back after.

The solves weigh every datum alike. Two scratch studies (2026-12-06) on
``bench_quality --photons``' cases left them so:

- The data weighed by their variances, ``||W^½(Ax - b)||²`` with the line's
  ``W``, each at the best of 13 weights against the truth, did worse than
  the data weighed alike on the star field (32.01 against 32.18 dB, 29.88
  against 30.28 and 30.16 against 30.45 dB in three cases), as well on
  ``moon`` and ``cell`` (+0.07 and -0.06 dB): the stars, whose data it
  trusts less, are the detail that a smoothness prior then flattens.
- ``nlmeans``' denoiser on the image made alike by the line's
  variance-stabilizing transform (``sqrt(gain * level + floor)`` scaled,
  after Anscombe), one line for the whole image, rescued the star field
  (24.78 to 29.40 dB and 25.64 to 33.02 dB, against the tuned
  Richardson-Lucy's 29.34 and 33.24 dB) but moved photographs by -0.36 to
  +0.08 dB (``brick``, ``moon``, ``coins``, ``camera``, ``astronaut``); it
  would also take the line from the sample regions to every tile, as
  ``mu`` is taken.
- The same transform of each round's own values inside ``nlmeans``'
  rounds, with the line fitted on each whole 256² crop, under
  ``loss="auto"`` and its mix, which the deviations above replaced (a third study,
  2026-12-06: ``bench_quality`` with the denoiser replaced): 50 of the 72
  photon cases won by +0.09 dB, against 55 by +0.22 dB without it. The star
  field's worst case rose from -4.56 to -0.39 dB, but it won 1 of 8, and
  ``camera`` and ``astronaut`` lost up to 1.74 and 2.18 dB inside, where
  they had won every case; under Gaussian noise, whose line is nearly but
  not quite flat, 67 of the 72 won against 68.
- Nor does a bound (a fourth study, 2026-12-06, on the star field's 8
  cases): ``nonneg=True`` with ``laplacian`` and its pass, ``tikhonov`` or
  ``tv``, each at its ``mu="auto"``, won 2, 1 and 2 of them by medians of
  -0.27, -0.28 and -0.42 dB, the worst -0.87, -0.91 and -0.96 dB (``auto``:
  0 of 8, -0.69 dB), losing to the tuned Richardson-Lucy under the
  Gaussians and the disk; under those at 100 and 1000 photons, the
  bounded ``laplacian`` and ``tikhonov`` without the pass did best, or tied,
  at that weight among 0.03 to 30 times it.
"""

import typing

import numpy as np
import scipy.optimize
import scipy.signal

from .regularization import sample_regions
from .scoredpixels import scored_pixels

__all__ = ["HIGH_PASS", "LEVELS", "MIN_BIN_PIXELS", "NoiseLine", "fit_noise_line", "noise_deviations",
           "relative_noise_variance", "sampled_noise_lines"]

#: A second difference along both axes, of unit norm: white noise of variance ``v`` gives a response of variance
#: ``v``, and a plane none.
HIGH_PASS = np.outer([1.0, -2.0, 1.0], [1.0, -2.0, 1.0]) / 6.0
#: The bins of level that the line is fitted through.
LEVELS = 16
#: The fewest pixels that a bin's variance is taken from; smaller bins are left out.
MIN_BIN_PIXELS = 64
#: The median response, relative to the range of levels, below which a bin holds no noise but rounding's.
ROUNDING = 1e-9
#: The median of the magnitude of a standard normal variable, which turns a median magnitude into a deviation.
NORMAL_MEDIAN_MAGNITUDE = 0.6744897501960817


def _neighbourhood_levels(image):
    """Each pixel's level, the mean of the pixels present in its 3 x 3 neighbourhood, and whether all nine are.

    Each sum is over the neighbourhood alone: ``uniform_filter``'s running
    sums carry a NaN along the rest of its row (found by a test).
    """
    present = np.isfinite(image)
    counts = scipy.signal.convolve2d(present, np.ones((3, 3)), mode="same")
    sums = scipy.signal.convolve2d(np.where(present, image, 0.0), np.ones((3, 3)), mode="same")
    levels = np.divide(sums, counts, out=np.zeros(image.shape), where=counts > 0)
    return levels, counts > 8.5


def _levels_and_responses(image, scored=None):
    """The level of each pixel whose 3 x 3 neighbourhood is whole and in the image, ``HIGH_PASS``'s response, and
    whether the pixel is among those ``scored`` (all, where None)."""
    levels, whole = _neighbourhood_levels(image)
    levels, whole = levels[1:-1, 1:-1], whole[1:-1, 1:-1]
    responses = scipy.signal.convolve2d(np.nan_to_num(image), HIGH_PASS, mode="valid")
    among = np.ones(whole.shape, dtype=bool) if scored is None else scored[1:-1, 1:-1]
    return levels[whole], responses[whole], among[whole]


class NoiseLine(typing.NamedTuple):
    """The noise variance of an image's pixels as a line in their level (see :func:`fit_noise_line`)."""

    #: The variance's rise per unit of level, at least zero.
    gain: float
    #: Its value at level zero, of either sign: a sensor's bias (an offset without noise) left in the image puts
    #: the line's zero at the bias.
    floor: float
    #: The least variance that the line is taken for: the least measured among the bins, above zero. Below it the
    #: line would reach levels that no bin measured, and zero where it crosses (found by a probe: a JPEG's pixels
    #: weighed 1e27 times apart).
    least: float

    def variance(self, levels):
        """The line's variance at ``levels``, at least :attr:`least`.

        Examples
        --------
        >>> NoiseLine(gain=0.5, floor=-0.25, least=0.125).variance(np.array([0.0, 1.0])).tolist()
        [0.125, 0.25]
        """
        return np.maximum(self.gain * levels + self.floor, self.least)


def fit_noise_line(image):
    """The line ``gain * level + floor`` through the noise variance of ``image``'s pixels by their level.

    Parameters
    ----------
    image : (M, N) ndarray of float
        A blurred, noisy image; NaN marks a missing pixel.

    Returns
    -------
    NoiseLine or None
        None where fewer than two bins of level hold :data:`MIN_BIN_PIXELS`
        pixels and a noise above zero.

    Examples
    --------
    A gradient counted at 200 photons per unit:

    >>> rng = np.random.default_rng(0)
    >>> scene = np.tile(np.linspace(0.05, 1, 256), (256, 1))
    >>> line = fit_noise_line(rng.poisson(scene * 200) / 200)
    >>> round(line.gain * 200, 1), abs(line.floor) < 1e-4
    (1.0, True)
    """
    if min(image.shape) < HIGH_PASS.shape[0]:  # no whole neighbourhood, where scipy refuses to convolve (found by CI)
        return None
    return _line_through(*_levels_and_responses(image)[:2])


def _line_through(levels, responses):
    """:func:`fit_noise_line`'s line through pixels of ``levels`` and ``HIGH_PASS``'s ``responses`` there."""
    if levels.size == 0:
        return None
    edges = np.linspace(*np.percentile(levels, [0.5, 99.5]), LEVELS + 1)
    bins = np.digitize(levels, edges[1:-1])
    counts = np.bincount(bins, minlength=LEVELS)
    medians = np.array([np.median(np.abs(responses[bins == k])) if counts[k] >= MIN_BIN_PIXELS else 0.0
                        for k in range(LEVELS)])
    # A bin whose median response is zero holds no noise to measure: clipped, filled, or quantized away by JPEG,
    # whose zero in the fit took the line below zero (found by a probe). Zero up to rounding: equal values leave
    # responses of 1e-17.
    kept = np.flatnonzero(medians > ROUNDING * np.ptp(levels))
    if kept.size < 2:
        return None
    variances = (medians[kept] / NORMAL_MEDIAN_MAGNITUDE) ** 2
    means = np.array([levels[bins == k].mean() for k in kept])
    weights = np.sqrt(counts[kept])
    fitted = scipy.optimize.lsq_linear(np.stack([means, np.ones_like(means)], axis=1) * weights[:, None],
                                       variances * weights, bounds=([0.0, -np.inf], [np.inf, np.inf]))
    gain, floor = fitted.x
    return NoiseLine(float(gain), float(floor), float(variances.min()))


def relative_noise_variance(image, line):
    """Each pixel's noise variance by ``line`` (:func:`sampled_noise_lines`' for the image), relative to the image's
    level: ones where ``line`` is None, for noise alike at every level.

    Each pixel's level is the mean of the pixels present in its 3 x 3
    neighbourhood, and its variance is kept at least the line's ``least``,
    which is above zero.

    Parameters
    ----------
    image : (M, N) ndarray of float
        As :func:`fit_noise_line` takes it.
    line : NoiseLine or None

    Returns
    -------
    (M, N) ndarray of float
        Positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = np.tile(np.linspace(0.05, 1, 256), (256, 1))
    >>> counted = rng.poisson(scene * 200) / 200
    >>> line, = sampled_noise_lines(lambda yx: counted[yx][None], scene.shape, [np.ones((3, 3)) / 9])
    >>> relative = relative_noise_variance(counted, line)
    >>> round(float(relative[:, -1].mean() / relative[:, 128].mean()), 1)  # at levels 1 and 0.53
    1.9
    >>> float(relative_noise_variance(counted, None).max())
    1.0
    """
    if line is None:
        return np.ones(image.shape)
    levels, _ = _neighbourhood_levels(image)
    return line.variance(levels)


def sampled_noise_lines(read_region, shape, psfs):
    """Each channel's :func:`fit_noise_line` through the pixels of an image's sample regions together, relative to
    the mean of its variance over the pixels whose noise generalized cross-validation measures there
    (:func:`~tiledeblur.scoredpixels.scored_pixels` of the channel's PSF in ``psfs``), which ``nlmeans``'
    denoiser follows (see the notes): None where none can be fitted, or where the noise is alike at every level.

    ``read_region(yx)`` returns the channels of the region ``yx`` of an
    image of ``shape`` (see :func:`~tiledeblur.regularization.sample_regions`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = np.tile(np.linspace(0.05, 1, 256), (256, 1))
    >>> image = np.stack([rng.poisson(scene * 200) / 200, np.full(scene.shape, 0.5)])
    >>> box = np.ones((3, 3)) / 9
    >>> counted, flat = sampled_noise_lines(lambda yx: image[(slice(None), *yx)], scene.shape, [box, box])
    >>> round(float(counted.variance(1.0) / counted.variance(0.5)), 1), flat  # twice the level, twice the variance
    (2.0, None)
    """
    pooled = [[] for _ in psfs]
    for yx in sample_regions(shape):
        for channel, values, psf in zip(pooled, read_region(yx), psfs):
            if min(values.shape) >= HIGH_PASS.shape[0]:
                values = values.astype(np.float64)
                channel.append(_levels_and_responses(values, scored_pixels(values, psf)))
    return tuple(_relative_line(*map(np.concatenate, zip(*channel))) if channel else None for channel in pooled)


def _relative_line(levels, responses, scored):
    """The line through pixels of ``levels`` and ``responses``, over its mean variance at the levels of those
    ``scored``, the pixels whose noise cross-validation measured: the dark pixels of a photon count, clipped to a
    plateau at zero, hold no noise that it could measure, and counted in the mean, they left a phantom's denoiser too
    strong (see the notes); None where flat."""
    line = _line_through(levels, responses)
    if line is None or line.gain == 0:
        return None
    mean = float(line.variance(levels[scored]).mean())
    return NoiseLine(line.gain / mean, line.floor / mean, line.least / mean)


def noise_deviations(levels, line, psf, *, known=None):
    """The noise's standard deviation at each pixel of ``levels`` by ``line``, its variance averaged over the
    footprint of ``psf`` convolved with itself (see the notes).

    ``known`` marks the pixels whose level is known, all where None: the
    average is over those alone. A pixel beyond the data holds no level, and
    a tile's zero there stands for its own offset (see
    :func:`tiledeblur.solver.solve`), which moved tiles 5.6e-3 from the whole
    image's solve beside missing pixels (found by a test).

    Examples
    --------
    >>> levels = np.zeros((32, 32))
    >>> levels[:, 16:] = 1.0
    >>> deviations = noise_deviations(levels, NoiseLine(1.0, 0.01, 0.01), np.ones((3, 3)) / 9)
    >>> deviations[0, [0, 13, 18, 31]].round(2).tolist()
    [0.1, 0.1, 1.0, 1.0]
    """
    kernel = scipy.signal.fftconvolve(psf, psf)
    weights = np.ones(levels.shape) if known is None else known.astype(np.float64)
    sums = scipy.signal.fftconvolve(line.variance(levels) * weights, kernel, mode="same")
    counts = scipy.signal.fftconvolve(weights, kernel, mode="same")
    # Above the FFT's rounding, 1e-16 of the kernel's sum of one, where no known pixel lies within reach.
    averaged = np.divide(sums, counts, out=np.full(levels.shape, line.least), where=counts > 1e-9)
    return np.sqrt(np.maximum(averaged, line.least))
