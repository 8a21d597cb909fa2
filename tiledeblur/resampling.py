"""The noise of a resampled image, read off the frequencies that the PSF erased, as ``mu="auto"`` weighs it.

Why cross-validation fails on resampled images
----------------------------------------------
An astronomy mosaic is its exposures reprojected onto one grid, a registered
or deskewed stack is shifted and rotated, and an image is often enlarged:
each interpolates its pixels from those around them, which spreads their
noise over its neighbours. The noise is no longer white: the finest
frequencies hold far less of it than the coarse ones (none at all at the
Nyquist frequency of a half-pixel bilinear shift). Generalized
cross-validation (GCV; :mod:`tiledeblur.regularization`) reads the noise
level off the finest frequencies, finds the data nearly noise-free, and
chooses its smallest weight.

The model
---------
Where the PSF's spectrum has fallen below ``DEAD_BELOW`` of its peak, the
data hold noise alone: the blurred scene is gone. The noise of any local
interpolation is correlated over a few pixels only, so its power spectrum is
a sum of a few cosines, one for each lag of its autocovariance, ``MAX_LAG``
pixels at most along each axis. Those cosines are fitted to the data's
power there (the periodogram of the periodic component), by least squares,
and extend the noise's spectrum to every frequency; the weight then follows
from Mallows' unbiased estimate of the predicted risk for that noise,
checked by the discrepancy principle below ``demosaic.CHECKED_BELOW``, as
for a demosaiced image (:mod:`tiledeblur.demosaic`), and is at least GCV's:
where the model's weight came out below GCV's, it did worse in each of 12
cases measured.

The fit is used only where it is sound, and the noise clearly not white
(:func:`noise_power`):

* the PSF erases every frequency beyond ``ENCLOSED_BEYOND`` (cycles per
  pixel) to below ``DEAD_BELOW``, so that the dead band surrounds the
  frequencies it passes (a Gaussian of σ 1.1 or more does; the article's
  PSF, whose σ 1 across passes 3e-4 of its power at 0.45, does not). Under
  that PSF the dead band lay along one axis, and extended from there to
  the zero frequency, the faint leak of a scene under white noise of 0.001
  passed for coloured noise in 7 of 10 cases, up to 3 dB too smooth;
* the PSF leaves at least ``MIN_DEAD_FREQUENCIES`` below ``DEEPER_BELOW``
  of its peak (a motion line's spectrum rarely falls that far);
* the fitted spectrum is positive at the zero frequency, and nowhere
  below ``-NEGATIVE_SHARE`` times its largest value where the PSF passes
  the scene, where the noise of a half-pixel shift is small and the fit
  may miss it by a little;
* the data's power between ``DEAD_BELOW`` and ``DEEPER_BELOW``, next to
  the deeper frequencies, is within a factor ``LEAK_RATIO`` of what the fit
  to the deeper ones makes of it. A scene with sharp detail and little
  noise leaks into the dead band's edge, and extrapolated, its leak passed
  for coloured noise. The leak rises toward the frequencies that the PSF
  passes, and noise does not: noise-free crops under a Gaussian of σ 2
  held 1.35 to 2.8 times the fit's power there (below half of it once
  enlarged), resampled crops with noise 0.9 to 1.2 times;
* the fitted spectrum falls, somewhere in the dead band, below
  ``COLOURED_BELOW`` times its largest value there: white noise, GCV's
  own case, keeps GCV's weight.

``mu="auto"`` also leaves out regions with clipped or filled plateaus
(:func:`tiledeblur.regularization._near_plateaus`), whose edges, which no
PSF blurred, leak into the dead band as a blurred scene's does not.

Measured in a session's study (2026-12-04; ``laplacian``'s Fourier filter at the
weight of :func:`tiledeblur.regularization.estimate_image_mu`, against the
best weight of each case, chosen with the ground truth): 192² and 256²
crops of ``bench_quality``'s eight ``skimage.data`` images under its three
PSFs, with noise 0, 0.005, 0.01 and 0.03, resampled five ways (64 cases
for each way and PSF). Under the Gaussian of σ 2, the median loss went
from 11.8 to 0.01 dB for a bilinear shift by (0.5, 0.3) px, 8.4 to 0.01 dB
for a rotation by 7° with bilinear interpolation, 12.2 to 0.09 dB for an
enlargement by 1.3 with cubic splines, and 0.21 to 0.17 dB for the
rotation with cubic splines, whose noise is nearly white; the cases below
the resampled scan went from 46, 48 and 48 of 64 to 1, 0 and 0. No case
lost more than 0.07 dB against the weight without the model, and one
gained 37.8 dB. An enlargement by 2 with bilinear interpolation kept its
weights: ``mu="auto"``'s check for bright sources already gave them (a
median loss of 0.01 dB). The article's PSF and the motion line keep GCV's
weight and its loss (median 12.4 and 7.0 dB for the shift). Unresampled,
with white noise in floating point or 8 bits (384 cases), no weight
changed.

Narrow PSFs (a session's study, 2026-12-05, the same filter and crops
at 256², resampled by the bilinear shift and rotation and the cubic
enlargement, 120 cases a PSF): with ``ENCLOSED_BEYOND`` at 0.4, the model
left out Gaussians of σ 1.1 and 1.2 and a Moffat PSF of α 2.5, β 2.5
(FWHM 2.8 px), where the dead band begins between 0.4 and 0.45 cycles per
pixel, and cross-validation's weight came out below the resampled scan in
58, 60 and 57 cases. At 0.45, 21, 33 and 9 weights changed, by a median
gain of 9.1, 12.5 and 9.8 dB, and those cases below the scan became 45,
30 and 51; no case lost more than 0.4 dB. Unresampled in floating point
or 8 bits, and with the cubic rotation, with noise 0 to 0.005 under
those PSFs and the article's (480 cases), no weight changed. In the
other resampled cases one of the checks above declined the model, and
cross-validation's loss stays: for the shift, a median of 5.8 dB below
the best weight under the Gaussian of σ 1.1, 8.4 dB under the Moffat PSF.
There the dead band is a thin rim at the corners of the spectrum, and the
fit's extension from it fails the checks: ``python
benchmarks/bench_resampling.py --sigma 1.2`` found the model in 8 of 24
cases: the plan came 3.5 to 7.3 dB above cross-validation's weight in six,
and 1.1 and 2.0 dB below it in two (``hubble_deep_field`` rotated); over
all 24, a median 2.7 dB below the best weight, and 16 cases below the
scan.

``benchmarks/bench_resampling.py`` measures the model through
:func:`tiledeblur.plan` and the solver.
"""

import functools

import numpy as np
import scipy.fft

from .operators import periodic_psf

#: Where the PSF's power has fallen below this share of its peak, the data hold noise alone.
DEAD_BELOW = 1e-4
#: The fit extends the noise's spectrum from the dead band to the zero frequency, which it could not where the PSF
#: passes fine detail along one axis (see the module notes): every frequency this far from the origin, in cycles per
#: pixel, must be dead. At 0.4, narrow PSFs of resampled images kept cross-validation's floor (see the module notes).
ENCLOSED_BEYOND = 0.45
#: The second fit's frequencies (see the module notes), and the fewest of them that the model needs.
DEEPER_BELOW = 1e-6
MIN_DEAD_FREQUENCIES = 200
#: How far below zero, as a share of its largest value, the fitted spectrum may reach where the PSF passes the scene,
#: where the noise of a half-pixel shift is small and the fit may miss it by a little.
NEGATIVE_SHARE = 0.05
#: The longest lag, in pixels along each axis, of the noise's autocovariance that the model fits.
MAX_LAG = 2
#: The largest ratio, either way up, of the data's power between ``DEAD_BELOW`` and ``DEEPER_BELOW`` to what the fit
#: below ``DEEPER_BELOW`` makes of it (see the module notes).
LEAK_RATIO = 1.3
#: The noise is coloured where its fitted power falls below this share of its largest in the dead band.
COLOURED_BELOW = 0.3


def noise_power(values, spectrum, psf):
    """The noise's power at each of ``scipy.fft.rfft2``'s frequencies of ``values``, where resampling coloured it;
    None where the model does not hold, or the noise looks white (see the module notes).

    ``spectrum`` is the rfft of ``values``' periodic component
    (:func:`tiledeblur.regularization.periodic_spectrum`), and ``psf`` the
    image's PSF. The power is on the scale of ``|spectrum|²``: white noise of
    variance ``s²`` has ``s² * values.size`` at every frequency.

    Examples
    --------
    White noise shifted by half a pixel with bilinear interpolation keeps its
    power at the zero frequency and loses it at the finest:

    >>> import scipy.ndimage
    >>> from tiledeblur import gaussian_psf
    >>> from tiledeblur.regularization import periodic_spectrum
    >>> noise = np.random.default_rng(0).normal(0, 0.01, (256, 256))
    >>> shifted = scipy.ndimage.shift(noise, (0.5, 0.5), order=1, mode="wrap")
    >>> power = noise_power(shifted, periodic_spectrum(shifted), gaussian_psf(17, 2))
    >>> [round(float(power[index] / shifted.size), 6) for index in [(0, 0), (128, 128)]]
    [9.9e-05, 0.0]
    >>> print(noise_power(noise, periodic_spectrum(noise), gaussian_psf(17, 2)))
    None
    """
    shape = np.shape(values)
    power = np.abs(spectrum) ** 2
    blur_power = np.abs(scipy.fft.rfft2(periodic_psf(np.asarray(psf, dtype=float), shape), s=shape)) ** 2
    dead = blur_power < DEAD_BELOW * blur_power[0, 0]
    deeper = blur_power < DEEPER_BELOW * blur_power[0, 0]
    rows, columns = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    if deeper.sum() < MIN_DEAD_FREQUENCIES or not dead[np.hypot(rows, columns) >= ENCLOSED_BEYOND].all():
        return None
    fitted = _fitted(power, dead, shape)
    in_dead = np.maximum(fitted[dead], 0)
    if fitted[0, 0] <= 0 or fitted[~dead].min() < -NEGATIVE_SHARE * fitted.max() or (
            in_dead.min() >= COLOURED_BELOW * in_dead.max()):
        return None
    ring = dead & ~deeper
    predicted = np.maximum(_fitted(power, deeper, shape)[ring], 0).sum()
    if not predicted / LEAK_RATIO < power[ring].sum() < predicted * LEAK_RATIO:
        return None
    return np.maximum(fitted, 0)


def _fitted(power, where, shape):
    """The sum of :func:`_cosines` that best fits ``power``, an rfft's of an image of ``shape``, at the frequencies
    ``where``, by least squares: its normal equations, by SVD, as a dead band may not fix every cosine."""
    cosines = _cosines(shape)
    chosen = cosines[:, where]
    coefficients = np.linalg.lstsq(chosen @ chosen.T, chosen @ power[where], rcond=None)[0]
    return np.tensordot(coefficients, cosines, axes=1)


@functools.lru_cache(maxsize=4)
def _cosines(shape):
    """The cosine of each lag up to ``MAX_LAG`` (one of each pair ``±(k, l)``) at ``scipy.fft.rfft2``'s frequencies
    of an image of ``shape``: the spectra of which an autocovariance of those lags is a sum.

    Examples
    --------
    >>> _cosines((4, 5)).shape  # 13 lags of 25, by symmetry; the rfft's 4 x 3 frequencies
    (13, 4, 3)
    """
    lags = np.array([(k, l) for k in range(MAX_LAG + 1) for l in range(-MAX_LAG, MAX_LAG + 1) if k > 0 or l >= 0])
    rows, columns = np.fft.fftfreq(shape[0]), np.fft.rfftfreq(shape[1])
    phases = lags[:, :1, None] * rows[None, :, None] + lags[:, 1:, None] * columns[None, None, :]
    cosines = np.cos(2 * np.pi * phases)
    cosines.flags.writeable = False  # shared by every caller through the cache
    return cosines
