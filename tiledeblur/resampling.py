"""The noise of a resampled image for ``mu="auto"``: read where the PSF erased the scene, or fitted with the scene.

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
  PSF, whose σ 1 across passes 3e-4 of its power at 0.45, does not; see
  below for the others). Under that PSF the dead band lay along one axis,
  and extended from there to the zero frequency, the faint leak of a scene
  under white noise of 0.001 passed for coloured noise in 7 of 10 cases,
  up to 3 dB too smooth;
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
(:func:`tiledeblur.scoredpixels.near_plateaus`), and with stars or beads
clipped at the region's largest value
(:func:`tiledeblur.regularization._holds_clipped_spot`), whose edges,
which no PSF blurred, leak into the dead band as a blurred scene's does not.

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
median loss of 0.01 dB). The article's PSF and the motion line kept GCV's
weight and its loss (median 12.4 and 7.0 dB for the shift; see below for
their fit with the scene). Unresampled,
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
cross-validation's loss stayed: for the shift, a median of 5.8 dB below
the best weight under the Gaussian of σ 1.1, 8.4 dB under the Moffat PSF.
There the dead band is a thin rim at the corners of the spectrum, and the
fit's extension from it fails the checks; where the dead band does not
reach in to ``BROAD_BEYOND``, the noise is then fitted with the scene
(below).

Where no dead band surrounds the pass band
------------------------------------------
The article's PSF passes fine detail along one axis, a motion line's
spectrum seldom falls far, and a Moffat or a Gaussian narrower than σ 1.1
passes power up to the corners of the spectrum: no frequency holds noise
alone. There the noise is fitted together with the scene
(:func:`_jointly_fitted`). The data's power, averaged over blocks of
``JOINT_BLOCK`` x ``JOINT_BLOCK`` frequencies, is taken for the scene's
power times the PSF's, plus the power of white noise passed through a
3 x 3 filter, whose autocovariance reaches 2 px as the cosines' above
does. The scene's power falls as a power of the frequency's length under
a quadratic form of determinant 1: a straight edge (a slide's border, a
building) puts its power along one axis, and with a round form that power
was left to the noise's filter. Whittle's likelihood for a periodogram
fits both at once (L-BFGS-B; a median of 35 ms a 256² region, at most
80), from a filter that leans one way: from a symmetric one the
gradient keeps it symmetric, and a symmetric filter's power is a square,
which a shift's is not (half a pixel's noise was fitted at 2.1 times its
power at the zero frequency). The fit's noise is used only where

* it fits the data better than white noise does, by ``COLOURING_GAIN`` of
  Whittle's log-likelihood a block. A scene's departure from its power law
  is otherwise taken for colour: under the article's PSF, white noise of
  0.001 to 0.01 on 8 images gained up to 0.017 (0.085 on ``brick`` at
  0.001, which the checks below decline), resampled noise 0.081 to 0.82,
  and no noise at all 0.024 to 0.18;
* its power falls from each of the ``RINGS`` to the next, to below
  ``FALL`` times the first: interpolation's noise falls toward the finest
  frequencies, and a scene's leak fitted as noise need not;
* it is coloured, as above (``COLOURED_BELOW``);
* and it accounts for at least ``CLAIMED_AT_FINEST`` of the data's power
  in the last of the ``RINGS``, where the PSF passed the least of the
  scene. With no noise at all, the fit took part of a sharp scene's leak
  for noise: it claimed 0.07 to 0.23 of the data's power there (0.5 to 1.07
  resampled with noise), and cost up to 15.6 dB.

The same fit is tried where a thin rim of dead band surrounds the pass
band, out beyond ``BROAD_BEYOND`` (under a Gaussian of σ 1.1 to 1.35),
and the reading off it declined. In a session's study (2026-12-05;
``laplacian``'s Fourier filter at the weight of
:func:`tiledeblur.regularization.estimate_image_mu` against the best of 36
weights from 1e-6 to 10, chosen with the ground truth; 256² crops of
``camera``, ``astronaut``'s green, ``coins``, ``moon``, ``brick``,
``grass``, ``gravel`` and ``hubble_deep_field``, noise 0, 0.001, 0.003,
0.01 and 0.03, 40 cases a PSF and way), the median loss of the bilinear
shift by (0.5, 0.3) px, the bilinear rotation by 7° and the cubic
enlargement by 1.3 went from 5.7, 2.2 and 6.1 dB to 0.91, 1.8 and 0.25 dB
under the Gaussian of σ 1.1, and from 3.6, 1.4 and 5.5 dB to 0.77, 0.98
and 0.23 dB under σ 1.2; the cases below the resampled scan from 44 of 120
to 7, and from 33 to 5. Seven lost more than 0.3 dB, by 0.31 to 1.65 dB,
each with noise of 0.001 (``grass`` and ``gravel``, whose texture leaks),
two of them unresampled (of 80 under those PSFs, no other weight changed).
Under a broad dead band (a Gaussian of σ 2) the fit gained nothing
(median losses of 0.04 to 0.08 dB either way) and lost up to 1.8 dB in 8
of 160 cases, each with noise of 0.001 or none, so there the reading's decline
stands.

Under a PSF too wide, the detail that the PSF says is gone passes for
coloured noise, and the larger weight that it gives hid the PSF: where
the fit's noise is used, :mod:`tiledeblur.regularization` checks the PSF's
width at cross-validation's weight, at which the check's limit was set.
With the article's PSF for a blur half as wide (8 unresampled images,
float and 8 bits, noise 0.003 to 0.03), it warned in 40 of 48 cases, and
at the fit's weight in 14.

Measured in a session's study (2026-12-05; ``laplacian``'s Fourier filter
at the weight of :func:`tiledeblur.regularization.estimate_image_mu`
against the best of 29 weights, chosen with the ground truth; with
autograd's gradient, where the one derived by hand later moved 5 of 720
weights by one step of the grid): 256² crops
of ``bench_quality``'s images, with ``hubble_deep_field`` and ``brick``
for ``cell``, noise 0, 0.001, 0.003, 0.01 and 0.03, 40 cases a PSF and
way. Under the article's PSF, resampled by a bilinear shift by (0.5, 0.3)
px, a bilinear rotation by 7° and a cubic enlargement by 1.3, the median
loss went from 7.5, 6.9 and 6.8 dB to 0.15, 0.17 and 0.15 dB, and the
cases below the resampled scan from 22, 24 and 27 to none; under the
13 px motion line, from 5.7, 6.7 and 7.1 dB to 0.35, 2.8 and 2.3 dB
(below the scan 21, 40 and 40 to 7, 19 and 26); under a Gaussian of σ 1.0
and a Moffat of FWHM 2.2 px, from 2.4 to 10.6 dB to 0.24 to 2.2 dB (below
the scan 10 to 20 to 1 to 6). A cubic rotation, whose noise is nearly
white, went from 5.6 to 1.4 dB under the motion line, 0.98 to 0.58 dB
under the article's PSF, and under σ 1.0 kept 36 weights and lost 1.0 to
3.0 dB with 4 (noise 0.001). Unresampled, in floating point or 8 bits
(320 cases), one weight changed, 5.9 dB better. Of the 480 resampled
cases, none with noise of 0.003 or more lost, and gains reached 31 dB; of
the 192 with noise of 0.001 or none, where the best weight lies near or
below ``mu="auto"``'s range, 6 lost more than 0.3 dB, 1.2 to 3.0 dB (5.9
dB for ``brick``'s enlargement under the motion line, below the scan with
the fit or without). Unresampled 8-bit crops every 128 px of 12 images under the
article's PSF (243, white noise 0.002 to 0.01, blurred with zeros beyond
the image): none was fitted as coloured; with a round form, 19 were, all
at a side of the image. A colour JPEG's channel given alone: its chroma,
halved and interpolated back (4:2:0), may show too few of JPEG's blocks
to be weighed by them (:mod:`tiledeblur.jpeg`), and cross-validation chose
its floor; of 72 such channels (4 images at qualities 80, 90 and 95, 4:4:4
and 4:2:0, noise 0.005, the article's PSF), 20 were fitted, each 7.1 to
11.9 dB better, and 3 of them stayed below the blurred channel, by 0.1 to
3.1 dB; no grey JPEG's weight (30) changed.

On images and PSFs that none of the above chose (a session's study,
2026-12-05, the same filter against 36 weights; 256² crops of
``chelsea``'s red, ``coffee``'s green, ``rocket``'s blue, ``retina``'s
green, ``clock``, the Shepp-Logan phantom, ``binary_blobs`` and
``immunohistochemistry``'s red; defocus disks of radius 2.5 and 4 px, a
Gaussian of σ 1.5 and the article's PSF; noise 0 to 0.03), both models
against none: for the bilinear shift and the cubic enlargement the median
loss went from 4.6 to 11.6 dB to 0.11 to 0.61 dB, and the cases below the
resampled scan from 18 to 39 of 40 (a PSF and way) to 0 to 8. Of 320
unresampled cases, in floating point and 8 bits, 9 weights changed, two
by more than 0.3 dB (1.7 and 1.6 dB worse, ``coffee`` under the disk of
2.5 px with noise of 0.001 or none). Eleven cases, those two among them,
lost more than 0.3 dB, up to 5.2 dB, each with noise of 0.003 or less, where the fit took some of
the scene for noise (up to 25 times the noise's power at the coarsest
frequencies). A model in which the interpolation filters the scene as it
does the noise, as it does, cut that excess by a factor of 1.2 to 3.2,
and the median losses under thin rims by a fifth to a half, but moved
single weights by up to 8 dB either way, and was left out.

``benchmarks/bench_resampling.py`` measures the model through
:func:`tiledeblur.plan` and the solver.
"""

import functools
import itertools
import math
import typing

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.signal

from .operators import periodic_transfer

#: Where the PSF's power has fallen below this share of its peak, the data hold noise alone.
DEAD_BELOW = 1e-4
#: The fit extends the noise's spectrum from the dead band to the zero frequency, which it could not where the PSF
#: passes fine detail along one axis (see the module notes): every frequency this far from the origin, in cycles per
#: pixel, must be dead. At 0.4, narrow PSFs of resampled images kept cross-validation's floor (see the module notes).
ENCLOSED_BEYOND = 0.45
#: A dead band that holds every frequency this far out (a Gaussian's of σ 1.4 or more) is broad, and where the
#: reading off it declines, so does the model; a thinner rim's declines are fitted with the scene (see the notes).
BROAD_BEYOND = 0.35
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
#: The joint fit's blocks of frequencies, averaged before it fits them: its cost falls 16-fold.
JOINT_BLOCK = 4
#: The joint fit's start: white noise at the power of the data beyond ``FINE_BEYOND``, and the scene's power law
#: through the data below ``COARSE_BELOW`` (cycles per pixel).
FINE_BEYOND = 0.16
COARSE_BELOW = 0.1
#: How much better, in Whittle's log-likelihood per block, the joint fit's filtered noise must fit than white noise:
#: a scene's departure from its power law made a little, resampling much (see the module notes).
COLOURING_GAIN = 0.05
#: The rings, in cycles per pixel, whose mean noise power must fall from each to the next in the joint fit, to the
#: last below ``FALL`` times the first: interpolation's noise falls toward the finest frequencies.
RINGS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
FALL = 0.5
#: The least share of the data's power in the last of the ``RINGS`` that the joint fit's noise must account for:
#: there the PSF passed the least of the scene (see the module notes).
CLAIMED_AT_FINEST = 0.5


class ResampledNoise(typing.NamedTuple):
    """What :func:`noise_power` found: the noise's power, and whether it was fitted with the scene (where the PSF
    leaves no dead band around what it passes) or read off the dead band."""

    power: np.ndarray
    with_scene: bool


def noise_power(values, spectrum, psf):
    """The noise's power at each of ``scipy.fft.rfft2``'s frequencies of ``values``, where resampling coloured it,
    as a :class:`ResampledNoise`; None where the model does not hold, or the noise looks white (see the module notes).

    ``spectrum`` is the rfft of ``values``' periodic component
    (:func:`tiledeblur.gcv.periodic_spectrum`), and ``psf`` the
    image's PSF. The power is on the scale of ``|spectrum|²``: white noise of
    variance ``s²`` has ``s² * values.size`` at every frequency.

    Examples
    --------
    White noise shifted by half a pixel with bilinear interpolation keeps its
    power at the zero frequency and loses it at the finest:

    >>> import scipy.ndimage
    >>> from tiledeblur import gaussian_psf
    >>> from tiledeblur.gcv import periodic_spectrum
    >>> noise = np.random.default_rng(0).normal(0, 0.01, (256, 256))
    >>> shifted = scipy.ndimage.shift(noise, (0.5, 0.5), order=1, mode="wrap")
    >>> power, with_scene = noise_power(shifted, periodic_spectrum(shifted), gaussian_psf(17, 2))
    >>> [round(float(power[index] / shifted.size), 6) for index in [(0, 0), (128, 128)]], with_scene
    ([9.9e-05, 0.0], False)
    >>> print(noise_power(noise, periodic_spectrum(noise), gaussian_psf(17, 2)))
    None

    Under the article's PSF, which passes fine detail along one axis, the
    noise is fitted with the scene:

    >>> power, with_scene = noise_power(shifted, periodic_spectrum(shifted), gaussian_psf(13, (1, 3)))
    >>> [round(float(power[index] / shifted.size), 5) for index in [(0, 0), (128, 128)]], with_scene
    ([0.0001, 0.0], True)
    """
    shape = np.shape(values)
    power = np.abs(spectrum) ** 2
    blur_power = np.abs(periodic_transfer(np.asarray(psf, dtype=float), shape)) ** 2
    dead = blur_power < DEAD_BELOW * blur_power[0, 0]
    rows, columns = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    radius = np.hypot(rows, columns)
    if dead[radius >= ENCLOSED_BEYOND].all():
        read = _read_off_dead_band(power, blur_power, dead, shape)
        if read is not None:
            return ResampledNoise(read, with_scene=False)
        if dead[radius >= BROAD_BEYOND].all():
            return None
    # Where no dead band surrounds the pass band, or where it is a thin rim from which the reading declined.
    jointly = _jointly_fitted(power, blur_power, shape)
    return None if jointly is None else ResampledNoise(jointly, with_scene=True)


def _read_off_dead_band(power, blur_power, dead, shape):
    """The noise's power at the rfft's frequencies of an image of ``shape``, read off the data's ``power`` where
    ``dead`` (where the PSF's power ``blur_power`` has fallen below ``DEAD_BELOW`` of its peak); None where that does
    not hold, or the noise looks white (see the module notes)."""
    deeper = blur_power < DEEPER_BELOW * blur_power[0, 0]
    if deeper.sum() < MIN_DEAD_FREQUENCIES:
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


def _jointly_fitted(power, blur_power, shape):
    """The noise's power at the rfft's frequencies of an image of ``shape`` whose PSF (of power ``blur_power``)
    leaves no dead band around what it passes, fitted with the scene's to the data's ``power``; None where the
    noise is white, or where its filter is no interpolation's (see the module notes)."""
    observed, blur = _blocked(power), _blocked(blur_power / blur_power[0, 0])
    along_rows, along_columns, across, cosines, sines = _block_waves(shape)
    fine, coarse = along_rows + along_columns > FINE_BEYOND**2, along_rows + along_columns < COARSE_BELOW**2
    if not fine.any() or not coarse.any() or np.median(observed[fine]) == 0:
        return None
    scale = np.median(observed)  # the periodogram's, to fit values near 1
    level = math.sqrt(np.median(observed[fine]) / scale)  # white noise's tap, to scale the fitted ones
    periodogram = _Periodogram(
        observed / scale, blur / scale, along_rows, along_columns, across,
        lowest=(2 / max(shape)) ** 2,  # keeps the scene's power law finite at the blocks nearest the zero frequency
        cosines=level * cosines, sines=level * sines)

    def fitted(start, taps):
        """Whittle's fit from ``start`` with the filter's ``taps`` (indices of :func:`_block_waves`' waves).
        Bounded, or the line search tried powers that overflowed: the scene's exponent within what scenes show, a
        form elongated up to some 20-fold, and its power within e^±30 of the start's."""
        bounds = [(start[0] - 30, start[0] + 30), (0, 10), (-3, 3), (-3, 3)] + [(None, None)] * len(taps)
        waves = periodogram._replace(cosines=periodogram.cosines[taps], sines=periodogram.sines[taps])
        return scipy.optimize.minimize(_whittle, start, args=(waves,), jac=True, method="L-BFGS-B", bounds=bounds)

    centre = len(cosines) // 2  # the tap of lag 0
    start = np.zeros(4 + len(cosines))
    start[0] = np.log(np.median(observed[coarse] / np.maximum(blur[coarse], np.finfo(float).tiny)
                                * (along_rows[coarse] + along_columns[coarse] + periodogram.lowest)))
    start[1], start[4 + centre] = 2.0, 1.0  # a round scene of power falling as 1/f², and white noise
    # Leaning one way: from a symmetric filter the gradient keeps it symmetric, and a symmetric filter's power is a
    # square, which a shift's is not (half a pixel's noise fitted 2.1 times its power at the zero frequency).
    start[4 + centre + 1] = start[4 + centre + 3] = 0.1
    coloured = fitted(start, list(range(len(cosines))))
    if fitted(start[[0, 1, 2, 3, 4 + centre]], [centre]).fun - coloured.fun < COLOURING_GAIN:
        return None
    taps = (coloured.x[4:] * level * math.sqrt(scale)).reshape(3, 3)
    # The filter's power is the spectrum of its autocovariance, whose lags (up to 2 px) the dead band's cosines hold.
    autocovariance = scipy.signal.correlate2d(taps, taps)[2:, :].ravel()[2:]  # lags (0, 0) on, one of each ± pair
    noise = np.tensordot(autocovariance * np.where(np.arange(autocovariance.size) == 0, 1, 2), _cosines(shape), axes=1)
    rows, columns = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    radius = np.hypot(rows, columns)
    rings = [(inner <= radius) & (radius < outer) for inner, outer in itertools.pairwise(RINGS)]
    means = np.array([noise[ring].mean() for ring in rings])
    if noise.min() >= COLOURED_BELOW * noise.max() or not (np.all(np.diff(means) < 0) and means[-1] < FALL * means[0]):
        return None
    if means[-1] < CLAIMED_AT_FINEST * power[rings[-1]].mean():
        return None
    return noise


def _blocked(values):
    """``values`` over the rfft's frequencies, in :func:`_blocks`; less the block holding the zero frequency, where
    the periodic component's mean holds no noise."""
    return _blocks(values)[1:]


@functools.lru_cache(maxsize=4)
def _block_waves(shape):
    """What the joint fit's model takes of the rfft's frequencies of an image of ``shape``, in :func:`_blocked`: the
    squared frequencies along rows and columns, their product across, and the cosines and sines of the 3 x 3
    filter's taps (lags -1 to 1 along each axis). Each region of a plan has the same shape.

    Examples
    --------
    >>> [part.shape for part in _block_waves((16, 16))]
    [(7,), (7,), (7,), (9, 7), (9, 7)]
    """
    rows, columns = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
    full = (shape[0], shape[1] // 2 + 1)
    phases = [2 * np.pi * (k * rows + l * columns) for k in (-1, 0, 1) for l in (-1, 0, 1)]
    parts = [_blocked(np.broadcast_to(values, full)) for values in (rows**2, columns**2, rows * columns)]
    parts += [np.array([_blocked(wave(phase)) for phase in phases]) for wave in (np.cos, np.sin)]
    for part in parts:
        part.flags.writeable = False  # shared by every caller through the cache
    return tuple(parts)


class _Periodogram(typing.NamedTuple):
    """What :func:`_whittle` fits, over blocks of frequencies: the data's power and the PSF's (each over a scale
    that brings the data near 1), the squared frequencies along rows and columns and their product across, the
    least squared frequency that the scene's power law takes, and the waves (cosines and sines) of the noise
    filter's taps, each scaled by white noise's tap."""

    observed: np.ndarray
    blur: np.ndarray
    along_rows: np.ndarray
    along_columns: np.ndarray
    across: np.ndarray
    lowest: float
    cosines: np.ndarray
    sines: np.ndarray


def _whittle(parameters, periodogram):
    """Whittle's negative log-likelihood of ``periodogram`` (a :class:`_Periodogram`), a mean over its blocks, and
    its gradient, for the scene's power and the noise's that ``parameters`` hold.

    ``parameters`` are the log of the scene's power, its exponent, the
    elongation and the tilt of its form, and the noise filter's taps, one
    for each of the periodogram's waves. The scene's power falls with the
    frequency's length under a quadratic form of determinant 1, which a
    straight edge elongates: taken as round, an edge's power along one axis
    passed for coloured noise (see the module notes). The gradient is
    derived by hand: through autograd, the fit took 3.4 times as long.

    Examples
    --------
    >>> import scipy.optimize
    >>> rng = np.random.default_rng(0)
    >>> squared = rng.random((2, 64)) / 4
    >>> periodogram = _Periodogram(rng.exponential(size=64), np.exp(-squared.sum(axis=0)), *squared,
    ...                            rng.normal(0, 0.01, 64), 1e-4, rng.random((3, 64)), rng.random((3, 64)))
    >>> parameters = np.array([0.5, 2.0, 0.3, -0.2, 1.0, 0.2, 0.1])
    >>> error = scipy.optimize.check_grad(lambda x: _whittle(x, periodogram)[0], lambda x: _whittle(x, periodogram)[1],
    ...                                   parameters)
    >>> bool(error < 1e-6 * np.linalg.norm(_whittle(parameters, periodogram)[1]))
    True
    """
    log_power, exponent, elongation, tilt = parameters[:4]
    stretched = np.exp(elongation) * periodogram.along_rows
    squeezed = np.exp(-elongation) * periodogram.along_columns
    sheared = np.tanh(tilt)
    form = stretched + squeezed + 2 * sheared * periodogram.across + periodogram.lowest
    scene = np.exp(log_power - exponent / 2 * np.log(form)) * periodogram.blur
    real, imaginary = parameters[4:] @ periodogram.cosines, parameters[4:] @ periodogram.sines
    model = scene + real**2 + imaginary**2
    pull = (1 / model - periodogram.observed / model**2) / model.size  # the value's slope in the model's power
    bend = -exponent / 2 * scene / form  # the scene's slope in its form
    scene_slopes = np.array([scene, -np.log(form) / 2 * scene, bend * (stretched - squeezed),
                             bend * 2 * (1 - sheared**2) * periodogram.across])
    noise_slopes = 2 * (real * periodogram.cosines + imaginary * periodogram.sines)
    return np.mean(np.log(model) + periodogram.observed / model), np.concatenate([scene_slopes @ pull,
                                                                                   noise_slopes @ pull])


def _blocks(values):
    """The means of ``values``' blocks of ``JOINT_BLOCK`` x ``JOINT_BLOCK``, flattened, less its last rows and
    columns that fill no block."""
    rows, columns = (side // JOINT_BLOCK * JOINT_BLOCK for side in values.shape)
    shape = (rows // JOINT_BLOCK, JOINT_BLOCK, columns // JOINT_BLOCK, JOINT_BLOCK)
    return values[:rows, :columns].reshape(shape).mean(axis=(1, 3)).ravel()


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
