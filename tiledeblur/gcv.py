"""Generalized cross-validation of one region: the Tikhonov weight that best predicts its pixels.

:mod:`tiledeblur.regularization` fits each of an image's sample regions
here, and derives one weight per channel, for each loss, from the fits.

The rule
--------
Generalized cross-validation (GCV; Golub, Heath and Wahba, 1979) picks the
weight of the Tikhonov filter ``x = conj(K) b / (|K|² + mu |D|²)`` that best
predicts each pixel from the others. With ``f = mu |D|² / (|K|² + mu |D|²)``,
the filter's residual in the Fourier domain, it minimizes

    GCV(mu) = mean(f² |B|²) / mean(f)²

over a grid of ``mu`` from 1e-5 to 1000, 20 per decade. ``B`` is the spectrum
of the *periodic component* of the observed image (Moisan, "Periodic plus
smooth image decomposition", 2011): an image is not periodic, and the jumps
across its opposite borders would otherwise pass for noise. The rule needs no
noise estimate, and it sees the image and the PSF, not only the noise: the best
weight of two images with the same noise differed 290-fold (a flat cell against
grass) in the measurements of :mod:`tiledeblur.regularization`.

The grid reaches 1000, two decades above ``NOISE_ALONE``, for smooth scenes
under heavy noise, which ask for more than 10, where the grid had ended (a
scratch study, 2026-12-05): ``laplacian``'s weight exceeded 10 in 37 cases
of ``retina``, ``cell``, ``moon`` and ``immunohistochemistry`` under
``bench_quality``'s six PSFs at noise 0.03 to 0.1, and against 10 it raised
their interior PSNR by a median 0.14 dB, in 26, by up to 3.1 dB (``retina``
at noise 0.1; ``cell`` at 0.1, 0.5 to 1.1 dB), and lowered it in 11, by at
most 0.35 dB (``moon`` at 0.1).
White noise alone chose more than ``NOISE_ALONE`` in 179 of 180
regions (30 each of 64², 128² and 256², with the first and the second order's
filters, under the article's PSF; the exception, 8.9, a 64² region of the first
order), at least 22 on 128² and more, so a region's weight there is noise
alone's as the grid's end was before. A weight set by a noise model
(resampling's, JPEG's or a demosaic's; see ``noise_power`` in
:func:`gcv_mu`) keeps to the old range: with the wider grid, the model's
weight for ``moon`` enlarged 1.3 times by a cubic spline
(``benchmarks/bench_resampling.py --sigma 1.2``, noise 0.01 and 0.03) rose
from 10 to 25 and 450, 1.0 and 4.0 dB further below the best weight, and
0.1 dB below the blurred scan.

An image blurred with zeros beyond it
-------------------------------------
A blur computed with zeros beyond the image, as convolution in "same" mode
computes it (scikit-image's deconvolution examples blur so), fades the
image's border to black within the PSF's reach, in edges that GCV fitted by
amplifying them, as it fits edges not blurred. On ``bench_quality``'s 72
crops blurred so, ``laplacian``'s weight fell to a median 1/7 of the same
crop's blurred as part of its scene (to 1/25000 at most), and 8 results came
out below the blurred data inside, by up to 10 dB (``cell``, 34.4 against
44.6 dB). So a region along the image's own sides is fitted again with a
band of the PSF's side along them left out of its score, and that fit is
taken where its weight is over ``FADED_BORDER_RATIO`` times the whole
region's. On 135 crops of scenes (``bench_quality``'s 72 cases, and its
cases of ``hubble_deep_field``, ``immunohistochemistry`` and ``retina`` at
256² and of ``shepp_logan_phantom``, ``text``, ``page`` and ``clock`` at
128²), leaving the band out moved the weight by 0.71 to 2.24 times, so no
weight changed. On the 72 faded crops it moved it by 1.1 to 32000
times: where by 10 or more (36 cases), the weight without the band raised
the PSNR inside by a mean 4.0 dB (-0.2 to +19.6), and where by less, lowered
it by a mean 0.2 dB (a scratch study, 2026-12-05). With the rule, their
weights came to 0.18 to 10 times (a median 0.89) those of the crops blurred
as parts of their scenes, and none came out below the blurred data. Leaving
the band out of every region's score instead cost the 135 crops a mean 0.03
dB (63 of the 72 won against the best-tuned peer, against 67). An edge
further in, such as a black margin's, still sets the weight (see the
README's Limits).
"""

import functools
import math
import typing

import numpy as np
import scipy.fft
import scipy.ndimage

from .objectives import SMOOTHNESS_ORDER
from .operators import difference_power, periodic_transfer, smoothness_power
from .scoredpixels import scored_pixels, spikes_of

__all__ = ["GCV_WEIGHTS", "MODELLED_WEIGHTS", "NOISE_ALONE", "RegionFit", "border_band", "fit_region", "gcv_mu",
           "image_sides", "is_border_faded", "periodic_spectrum"]

#: The Tikhonov weights that GCV chooses among.
GCV_WEIGHTS = np.logspace(-5, 3, 161)


#: GCV's weights from this one up are those of noise alone (glass, sky): see the module notes.
NOISE_ALONE = 10.0
#: How many of ``GCV_WEIGHTS``, up to ``NOISE_ALONE``, a weight set by a noise model (``noise_power``) chooses among:
#: the grid's old range (see the module notes).
MODELLED_WEIGHTS = int(np.searchsorted(GCV_WEIGHTS, NOISE_ALONE * (1 + 1e-9)))
#: The Gaussian of :func:`_fill_missing`, and the weight of present pixels below which a pixel is deep in a hole.
FILL_SIGMA = 2.0
FILL_MIN_WEIGHT = 1e-3
#: The stride of GCV's first search where pixels are missing (see :func:`gcv_mu`).
MASKED_SEARCH_STEP = 4
#: Where leaving a band of a PSF's side along the image's own sides out of a region's score raises GCV's weight
#: more than this many times, the band is left out (see :func:`fit_region`): at most 2.2 times on crops of scenes,
#: 1.1 to 3e4 times on the same crops blurred with zeros beyond them, where from 10 times the weight without the band
#: did better (see the notes).
FADED_BORDER_RATIO = 10.0


def periodic_spectrum(image):
    """The rfft of the periodic component of ``image`` (Moisan's decomposition).

    The smooth component is the solution of a Poisson equation whose source
    is the jumps across opposite borders; the rest is periodic and has the
    image's edges and noise, but no border discontinuity.

    Examples
    --------
    The jump across the border of a ramp shrinks eightfold:

    >>> ramp = np.add.outer(np.arange(8.0), np.arange(8.0))
    >>> periodic = scipy.fft.irfft2(periodic_spectrum(ramp), s=ramp.shape)
    >>> float(ramp[-1, 0] - ramp[0, 0]), round(float(periodic[-1, 0] - periodic[0, 0]), 6)
    (7.0, 0.875)
    """
    jumps = np.zeros_like(image, dtype=np.float64)
    jumps[0] += image[-1] - image[0]
    jumps[-1] += image[0] - image[-1]
    jumps[:, 0] += image[:, -1] - image[:, 0]
    jumps[:, -1] += image[:, 0] - image[:, -1]
    laplacian = -difference_power(image.shape)
    laplacian[0, 0] = 1.0
    smooth = scipy.fft.rfft2(jumps) / laplacian
    smooth[0, 0] = 0.0
    return scipy.fft.rfft2(image) - smooth


def _fill_missing(image, missing):
    """``image`` with its ``missing`` pixels set to a local mean of the others, as a spectrum needs every pixel.

    The mean is Gaussian-weighted (σ ``FILL_SIGMA``) over the pixels present;
    deep in a hole, where none is near, it is their overall mean.

    Examples
    --------
    >>> image = np.array([[1.0, np.nan, 3.0]])
    >>> _fill_missing(image, np.isnan(image)).tolist()
    [[1.0, 2.0, 3.0]]
    """
    present = np.where(missing, 0.0, image)
    weight = scipy.ndimage.gaussian_filter((~missing).astype(np.float64), FILL_SIGMA, mode="constant")
    local = scipy.ndimage.gaussian_filter(present, FILL_SIGMA, mode="constant")
    near = weight > FILL_MIN_WEIGHT
    fill = np.where(near, local / np.where(near, weight, 1.0), present[~missing].mean())
    return np.where(missing, fill, image)


def gcv_mu(image, psf, *, order=1, noise_power=None):
    """The Tikhonov weight among ``GCV_WEIGHTS`` that minimizes GCV for ``image`` and ``psf`` (or, for a known
    ``noise_power``, the unbiased estimate of the predicted risk).

    ``order`` is that of the filter's smoothness term, ``|D|^(2 order)`` for
    ``|D|²`` in the module's formula: 2 for ``laplacian``
    (``SMOOTHNESS_ORDER``).

    ``noise_power``, where the noise is known and not white (a JPEG scan's,
    :func:`tiledeblur.jpeg.noise_power`), is its expected power at each of
    ``scipy.fft.rfft2``'s frequencies of ``image``; the weight then
    minimizes Mallows' unbiased estimate of the predicted risk,
    ``mean(f² |B|²) - 2 mean(S f)`` (less a constant) for the noise power
    ``S``, which GCV approximates for white noise of unknown level.

    NaN pixels are missing. They are filled (:func:`_fill_missing`) for the
    filter, but GCV then scores the prediction of the pixels present alone: a
    smooth fill would pass for pixels predicted well, and with a disk of
    missing pixels over an eighth of a 512² crop the weight fell 16-fold
    (measured on ``astronaut``). Scored on the pixels present, on five images
    (512² of four ``skimage.data`` images, 1024² of the demo's scene), it
    stayed within 0.79 to 1.58 times the complete image's weight with 1% or 10%
    of the pixels missing at random or a central disk of an eighth; with 30% to
    50% at random it went from 0.25 to 2 times, and with the left 58% missing
    up to 3.5 times, where GCV on the complete rest gave 1.1. The fill leaks
    each present pixel into its neighbours, which a correction of GCV's trace
    did not mend. So :func:`tiledeblur.regularization.estimate_image_mu` leaves
    out regions that miss more than its ``MAX_MISSING_SHARE`` of their pixels.
    Each such score costs an inverse FFT, so the search takes every
    ``MASKED_SEARCH_STEP``-th weight, then those around the best.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> from tiledeblur import gaussian_psf
    >>> rng = np.random.default_rng(0)
    >>> smooth = gaussian_filter(rng.random((128, 128)), 4)
    >>> quiet = gcv_mu(smooth + rng.normal(0, 0.002, smooth.shape), gaussian_psf(7, 1.0))
    >>> noisy = gcv_mu(smooth + rng.normal(0, 0.05, smooth.shape), gaussian_psf(7, 1.0))
    >>> bool(noisy > 10 * quiet)
    True
    """
    return fit_region(image, psf, order, noise_power).weight


class RegionFit(typing.NamedTuple):
    """What GCV found in one region: see :func:`fit_region`."""

    weight: float
    content: float
    noise: float
    widening: float


def fit_region(image, psf, order, noise_power=None, *, sides=(False, False, False, False), **rules):
    """:func:`gcv_mu`'s weight and more of one region, as a :class:`RegionFit`.

    Where the region lies along the image's own sides (``sides``: top,
    bottom, left, right), its fit without a band of the PSF's side along
    them is taken where that fit's weight is over ``FADED_BORDER_RATIO``
    times the whole region's: a blur computed with zeros beyond the image
    fades its border to black, in edges that GCV fitted by amplifying them,
    as it does edges not blurred (see the module notes). ``rules`` are
    :func:`_region_fit`'s.
    """
    fit = _region_fit(image, psf, order, noise_power, **rules)
    return _fit_inside_faded_border(fit, image, psf, order, noise_power, sides, **rules) or fit


def _fit_inside_faded_border(fit, image, psf, order, noise_power, sides, **rules):
    """The region's fit without the band of the PSF's side along ``sides``, where its weight is over
    ``FADED_BORDER_RATIO`` times that of the whole region's ``fit``; else None."""
    if not any(sides):
        return None
    inner = _region_fit(image, psf, order, noise_power, unscored=border_band(image.shape, np.shape(psf), sides),
                        **rules)
    return inner if inner.weight > FADED_BORDER_RATIO * fit.weight else None


def is_border_faded(image, psf, sides):
    """Whether a blur with zeros beyond the image seems to have faded the region ``image``'s ``sides`` (top,
    bottom, left, right) to black: whether :func:`fit_region` of ``laplacian``'s filter leaves their band out.

    Examples
    --------
    >>> import scipy.signal
    >>> from tiledeblur import gaussian_psf
    >>> psf = gaussian_psf(9, 1.5)
    >>> rng = np.random.default_rng(0)
    >>> scene = scipy.ndimage.gaussian_filter(rng.random((160, 160)), 2) + 0.5
    >>> faded = scipy.signal.fftconvolve(scene, psf, mode="same") + rng.normal(0, 0.001, scene.shape)
    >>> is_border_faded(faded, psf, (True, True, True, True)), is_border_faded(faded, psf, (False,) * 4)
    (True, False)
    """
    order = SMOOTHNESS_ORDER["laplacian"]
    return _fit_inside_faded_border(_region_fit(image, psf, order), image, psf, order, None, sides) is not None


def image_sides(yx, shape):
    """Which of an image's sides (top, bottom, left, right) the region ``yx`` of an image of ``shape`` lies along.

    Examples
    --------
    >>> image_sides((slice(0, 256), slice(256, 512)), (1024, 512))
    (True, False, False, True)
    """
    return yx[0].start == 0, yx[0].stop == shape[0], yx[1].start == 0, yx[1].stop == shape[1]


def border_band(shape, psf_shape, sides):
    """The pixels of an image of ``shape`` within the PSF's side of its ``sides`` (top, bottom, left, right).

    Examples
    --------
    >>> border_band((4, 6), (1, 2), (True, False, False, True)).astype(int)
    array([[1, 1, 1, 1, 1, 1],
           [0, 0, 0, 0, 1, 1],
           [0, 0, 0, 0, 1, 1],
           [0, 0, 0, 0, 1, 1]])
    """
    band = np.zeros(shape, dtype=bool)
    rows, columns = psf_shape
    top, bottom, left, right = sides
    if top:
        band[:rows] = True
    if bottom:
        band[-rows:] = True
    if left:
        band[:, :columns] = True
    if right:
        band[:, -columns:] = True
    return band


def _region_fit(image, psf, order, noise_power=None, *, unscored=None, checked_below=0.0, at_least_gcv=False,
                widening_at_gcv=False):
    """:func:`fit_region`'s fit of the whole region, or of all but the pixels ``unscored``.

    The noise is the standard deviation whose variance GCV estimates as
    ``mean(f² |B|²) / mean(f)`` (Wahba, 1983), or that of ``noise_power``. The
    content is the standard deviation of the data that the chosen filter fits
    (the data less their residual) over the noise: glass or sky has next to
    none, and tissue much; :func:`tiledeblur.regularization.estimate_image_mu`
    counts each region by it. The widening is the spread of the region's values
    deblurred by the chosen filter over that of the data (each the range from
    the 1st to the 99th percentile, of the periodic component): sharpening
    leaves most values where they were, but a PSF wider than the image's blur
    makes GCV fit the detail that the PSF says is gone, by amplifying it (see
    :mod:`tiledeblur.regularization`'s notes). Pixels near plateaus
    (:func:`~tiledeblur.scoredpixels.near_plateaus`) are scored by neither, as
    missing ones are not; spikes (:func:`~tiledeblur.scoredpixels.spikes_of`)
    are filled as missing pixels are, and the pixels near them scored by
    neither. Where Mallows' weight is below ``checked_below``, the weight whose
    residual's mean square is the noise's (Morozov's discrepancy principle) is
    taken if it is larger: on demosaiced images Mallows' estimate fell to the
    grid's floor under a mild blur (:mod:`tiledeblur.demosaic`). Where
    ``at_least_gcv``, the weight is at least GCV's, which sees part of the
    noise: a model that finds less than GCV does has misread the data
    (:mod:`tiledeblur.resampling`). Where ``widening_at_gcv``, the widening is
    measured at GCV's weight, at which its limit was set: a noise fitted with
    the scene takes detail that a PSF too wide left in the data for coloured
    noise, and at its larger weight the check missed such PSFs (see
    :mod:`tiledeblur.resampling`).
    """
    # A spike is filled as a missing pixel is: its residual, scored only beyond its PSF's reach, spread further.
    spikes = spikes_of(image, psf)
    missing = np.isnan(image) | spikes
    spectrum = periodic_spectrum(_fill_missing(image, missing) if missing.any() else image)
    present = scored_pixels(image, psf, unscored=unscored, spikes=spikes)
    incomplete, power = not present.all(), np.abs(spectrum) ** 2
    blur_spectrum = periodic_transfer(psf, image.shape)
    blur_power = np.abs(blur_spectrum) ** 2
    smoothness = smoothness_power(image.shape, order)
    # The rfft holds each column but the first (and the Nyquist one) for two.
    counts = np.full(spectrum.shape[1], 2.0)
    counts[0] = 1.0
    if image.shape[1] % 2 == 0:
        counts[-1] = 1.0
    counted_power = counts * power  # once, not for each of the weights: counts are exact powers of two
    counted_noise = None if noise_power is None else counts * noise_power

    def residual(index):
        weighted = GCV_WEIGHTS[index] * smoothness
        return weighted / (blur_power + weighted)

    def mean_square(filtered):
        """The mean square of the image filtered by ``filtered`` (rfft weights), over the pixels present."""
        if incomplete:
            return np.mean(scipy.fft.irfft2(filtered * spectrum, s=image.shape)[present] ** 2)
        return np.sum(filtered**2 * counted_power) / image.size**2  # Parseval's mean square

    @functools.cache
    def parts(index):
        """GCV's prediction error and trace, as means over pixels."""
        filtered = residual(index)
        return mean_square(filtered), np.sum(counts * filtered) / image.size

    def crossvalidation(index):
        error, trace = parts(index)
        return error / trace**2

    def mallows(index):
        return parts(index)[0] - 2 * np.sum(counted_noise * residual(index)) / image.size**2

    def discrepancy(index):
        return abs(parts(index)[0] - np.sum(counted_noise) / image.size**2)

    def best_of(rule):
        indices = range(len(GCV_WEIGHTS) if noise_power is None else MODELLED_WEIGHTS)
        if incomplete:
            coarse = min(indices[::MASKED_SEARCH_STEP], key=rule)
            indices = indices[max(0, coarse - MASKED_SEARCH_STEP + 1): coarse + MASKED_SEARCH_STEP]
        return min(indices, key=rule)

    best = best_of(crossvalidation if noise_power is None else mallows)
    if noise_power is not None and GCV_WEIGHTS[best] < checked_below:
        best = max(best, best_of(discrepancy))
    if noise_power is not None and at_least_gcv:
        best = max(best, best_of(crossvalidation))
    judged = best_of(crossvalidation) if widening_at_gcv else best
    error, trace = parts(best)
    fitted = 1 - residual(best)
    fitted[0, 0] = 0  # the variance: without the mean
    noise = error / trace if noise_power is None else np.sum(counted_noise) / image.size**2
    content = math.sqrt(mean_square(fitted) / noise) if noise > 0 else math.inf
    # The PSF's offset from the origin shifts the deblurred values, which leaves their percentiles as they are.
    deblurred = scipy.fft.irfft2(np.conj(blur_spectrum) * spectrum / (blur_power + GCV_WEIGHTS[judged] * smoothness),
                                 s=image.shape)
    data_spread = _spread(scipy.fft.irfft2(spectrum, s=image.shape)[present])
    widening = _spread(deblurred[present]) / data_spread if data_spread > 0 else 1.0
    return RegionFit(float(GCV_WEIGHTS[best]), content, math.sqrt(noise), widening)


def _spread(values):
    """The range from the 1st to the 99th percentile of ``values``: all but their outliers."""
    low, high = np.percentile(values, (1, 99))
    return float(high - low)
