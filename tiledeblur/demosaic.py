"""The noise of a colour camera's demosaiced pixels, as ``mu="auto"`` weighs it.

Why cross-validation fails on demosaiced images
-----------------------------------------------
A single-sensor colour camera measures one colour at each pixel, through a
colour filter array (CFA; Bayer's is ``RGGB`` in 2 x 2 cells), and its
software interpolates the two colours that each pixel lacks. The red and
blue of each channel are measured at one pixel in four, the green at one in
two, on a checkerboard. Interpolation spreads each measured pixel's noise
over its neighbours: the noise is no longer white, and the finest
frequencies, where generalized cross-validation (GCV;
:mod:`tiledeblur.regularization`) reads the noise level, hold far less of
it than the others. GCV then finds the data nearly noise-free and chooses
its smallest weight. On a 256² crop of ``astronaut`` blurred by a Gaussian
of σ 2, noise 0.01, demosaiced bilinearly, the green came out at 17.3 dB
where the blurred image had 25.8 dB (found by a session's study).

The model
---------
Demosaicing that keeps each measured pixel and fills the others with a
fixed linear combination of the measured pixels of the same colour nearby
(bilinear interpolation, the default of OpenCV's Bayer conversion) writes
each channel as ``k * (m n)`` plus the blurred scene, for the noise ``n`` of
the measured pixels, their mask ``m`` and a kernel ``k`` whose centre is 1.
The mask's pixels are uncorrelated, so the noise's power spectrum is
``σ² d |K|²``, for the share ``d`` of measured pixels and the kernel's
spectrum ``K`` (:func:`noise_power`). Each is read off the channel:

* the measured pixels' lattice, among the six of a 2 x 2 CFA (the
  checkerboard's two phases and the four of one pixel per cell), as the one
  whose measured pixels predict the others, by least squares over a 5 x 5
  window, with a residual below ``MAX_RESIDUAL_RATIO`` times that of its
  shifts (:func:`_lattice`). Bilinear interpolation predicts them exactly,
  to the 8-bit rounding; the scene and white noise leave every shift alike;
* the kernel, from those least-squares weights;
* ``σ²``, from the residual of the measured pixels' prediction by the
  measured pixels around them, over ``1 + Σ w²`` for its weights ``w``.
  The blurred scene adds to it: up to a quarter more in red and blue, whose
  measured pixels lie 2 px apart, under a Gaussian of σ 2.

The weight then follows from Mallows' unbiased estimate of the predicted
risk for that noise, as for a JPEG scan (:mod:`tiledeblur.jpeg`).

Measured in a scratch study (2026-12-04) with ``laplacian``'s Fourier
filter, on 256² crops of five ``skimage.data`` images (``astronaut``,
``camera``, ``coffee``, ``chelsea``, ``rocket``) blurred by Gaussians of σ
1, 2 and 3, noise 0.003, 0.01 and 0.03, demosaiced bilinearly (red and
green, 90 channels): against the best weight of each, chosen with the
ground truth, GCV lost a median of 2.9 dB (up to 21 dB; 22 of 90 within 1
dB); this model lost a median of 0.25 dB (up to 2.6 dB; 87 of 90 within 1
dB). The solver itself (``deconvolve``'s defaults) restored the green of
``astronaut`` at noise 0.01 to 28.5 dB, where GCV had made 17.3 of the blurred
25.8 (29.3 dB with white noise), and ``coffee`` at 0.03 to 25.1 (24.1
blurred). The residual ratio was at most 0.24 on three of those images
demosaiced bilinearly in 8 bits with noise 0.003 to 0.03 (0.07 from 0.01;
next to 0 in floats), and at least 0.95 on white noise or none, in floats
or 8 bits: the same images, and ``bench_quality``'s 72 cases and their
noise-free scenes (192 images), none of which is taken for demosaiced.

What it does not cover
----------------------
Demosaicing that mixes the colours (Malvar, He and Cutler's
gradient-corrected interpolation, edge-directed methods) predicts a
channel's interpolated pixels from the other colours as well: their ratio
was 0.14 to 0.95, and most are left to GCV, which fails there as it did:
9.5 to 17.8 dB where the blurred channels had 24.1 to 26.6 (``astronaut``
and ``coffee``, σ 2, noise 0.01 and 0.03). Nor does it cover images
resized after demosaicing, nor a JPEG of them (:mod:`tiledeblur.jpeg`).
"""

import numpy as np
import scipy.fft

__all__ = ["LATTICES", "MAX_RESIDUAL_RATIO", "noise_power"]

#: The measured pixels of each 2 x 2 colour filter's cell, for each lattice that a channel's may lie on: the
#: checkerboard's two phases (green) and the four single pixels of a cell (red, blue).
LATTICES = (
    ((True, False), (False, True)),
    ((False, True), (True, False)),
    ((True, False), (False, False)),
    ((False, True), (False, False)),
    ((False, False), (True, False)),
    ((False, False), (False, True)),
)
#: The interpolated pixels' residual over the measured pixels' below which a channel is demosaiced (see the notes).
MAX_RESIDUAL_RATIO = 0.5
#: The half-width of the window whose measured pixels predict a pixel.
REACH = 2
#: The least side of a region read for a lattice: smaller ones hold too few pixels of each phase to fit.
MIN_SIDE = 32
#: A pixel whose squared residual exceeds this many times the median is left out of the fit, once: a Gaussian
#: noise's exceed it once in a million pixels.
OUTLIER_SQUARES = 1000.0


def _measured_offsets(phase, lattice):
    """The offsets from a pixel of ``phase`` of the measured pixels of ``lattice`` within ``REACH``."""
    window = range(-REACH, REACH + 1)
    return [(dy, dx) for dy in window for dx in window
            if lattice[(phase[0] + dy) % 2][(phase[1] + dx) % 2] and (dy, dx) != (0, 0)]


def _fit(values, phase, offsets):
    """Least-squares weights of the pixels at ``offsets`` (within ``REACH``) that predict the pixels of ``phase``.

    Returns the weights and the mean square of the prediction's residual.
    """
    height, width = values.shape
    start = [REACH + (p - REACH) % 2 for p in phase]  # the first pixel of the phase at least REACH inside
    rows, columns = slice(start[0], height - REACH, 2), slice(start[1], width - REACH, 2)
    predicted = values[rows, columns].ravel()
    predictors = np.stack([
        values[rows.start + dy: height - REACH + dy: 2, columns.start + dx: width - REACH + dx: 2].ravel()
        for dy, dx in offsets
    ], axis=1)
    weights, squares = _least_squares(predictors, predicted)
    # A hot pixel or a cosmic ray would set the fit of every pixel that it predicts or is predicted from.
    kept = squares <= OUTLIER_SQUARES * np.median(squares)
    if not kept.all():
        weights, squares = _least_squares(predictors[kept], predicted[kept])
    return weights, float(np.mean(squares))


def _least_squares(predictors, predicted):
    """The least-squares weights of ``predictors``' columns for ``predicted``, and each row's squared residual."""
    # The normal equations, 12 x 12 at most, solve 20 times faster than the 16000 rows of a 256² region;
    # lstsq solves them where the predictors are alike (a flat region).
    weights = np.linalg.lstsq(predictors.T @ predictors, predictors.T @ predicted, rcond=None)[0]
    return weights, (predicted - predictors @ weights) ** 2


def _lattice(values):
    """The lattice of :data:`LATTICES` whose pixels are measured, or None where ``values`` show none.

    The pixels between a lattice's are predicted from its pixels nearby,
    and so are those between each of its shifts (the other lattices of as
    many pixels): the scene and white noise leave each shift's residual
    alike, where interpolation leaves next to none between the measured
    pixels. The red of a Bayer filter passes the checkerboard's test too
    (the pixels beside a red one are filled from the reds in their row or
    column), so the sparsest lattice that passes is the one.
    """
    phases = [(y, x) for y in (0, 1) for x in (0, 1)]
    filled = {lattice: np.mean([_fit(values, phase, _measured_offsets(phase, lattice))[1]
                                for phase in phases if not lattice[phase[0]][phase[1]]]) for lattice in LATTICES}

    def ratio(lattice):
        shifted = min(filled[other] for other in LATTICES if other != lattice and _share(other) == _share(lattice))
        return filled[lattice] / shifted if shifted > 0 else np.inf  # a flat region tells no lattice

    found = [lattice for lattice in LATTICES if ratio(lattice) < MAX_RESIDUAL_RATIO]
    return min(found, key=_share, default=None)


def _share(lattice):
    """The share of a lattice's pixels that are measured."""
    return sum(map(sum, lattice)) / 4


def noise_power(values):
    """The power spectrum of the noise of a demosaiced channel, or None where ``values`` are not (see the notes).

    ``values`` is one channel of a region, 2-D, without NaN; the spectrum is
    the expected ``|rfft2|²`` of its noise, as
    :func:`tiledeblur.regularization.gcv_mu` takes it.

    Examples
    --------
    Green measured on a checkerboard and interpolated bilinearly; the same
    image with white noise is left to cross-validation:

    >>> from scipy.ndimage import convolve, gaussian_filter
    >>> rng = np.random.default_rng(0)
    >>> noisy = gaussian_filter(rng.random((128, 128)), 2) + rng.normal(0, 0.01, (128, 128))
    >>> measured = (np.indices(noisy.shape).sum(axis=0) % 2) == 0
    >>> bilinear = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
    >>> green = convolve(noisy * measured, bilinear, mode="mirror")
    >>> power = noise_power(green)
    >>> round(float(np.sqrt(power.mean() / green.size)), 3)  # the noise's level, about 0.01 / sqrt(2) and more
    0.008
    >>> noise_power(noisy) is None
    True
    """
    if min(values.shape) < MIN_SIDE:
        return None
    values = np.asarray(values, dtype=np.float64)  # float32's sums of 16000 products blur the exact fit's residual
    lattice = _lattice(values)
    if lattice is None:
        return None
    phases = [(y, x) for y in (0, 1) for x in (0, 1)]
    kernel = np.zeros((2 * REACH + 1,) * 2)
    kernel[REACH, REACH] = 1.0  # a measured pixel is kept
    for phase in (phase for phase in phases if not lattice[phase[0]][phase[1]]):
        offsets = _measured_offsets(phase, lattice)
        for (dy, dx), weight in zip(offsets, _fit(values, phase, offsets)[0]):
            kernel[REACH - dy, REACH - dx] = weight  # the measured pixel at +offset spreads to -offset of itself
    # A measured pixel, predicted from the measured pixels around it, keeps its noise and adds theirs.
    variance = np.mean([residual / (1 + np.sum(weights**2)) for weights, residual in (
        _fit(values, phase, _measured_offsets(phase, lattice)) for phase in phases if lattice[phase[0]][phase[1]])])
    centred = np.roll(np.pad(kernel, [(0, n - kernel.shape[0]) for n in values.shape]), (-REACH, -REACH), (0, 1))
    return variance * _share(lattice) * values.size * np.abs(scipy.fft.rfft2(centred)) ** 2
