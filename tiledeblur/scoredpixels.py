"""The pixels that cross-validation scores: all but plateaus that clipping or a fill made, spikes, and what lies
within the PSF's reach of them.

Generalized cross-validation (:func:`tiledeblur.gcv.gcv_mu`)
scores how well each weight predicts the pixels, and ``nlmeans``' noise
lines (:mod:`tiledeblur.selection`, :mod:`tiledeblur.shotnoise`) measure the
noise on them. A pixel that holds no noise, or that no blur by the PSF could
have made, misleads both.

Clipped pixels and constant fills
---------------------------------
A sensor's full well or a converter's range clips the brightest (or
darkest) pixels to one value, in plateaus whose edges are sharper than the
PSF allows, and GCV fitted those edges with too small a weight. The
astronaut's red channel (blurred by the article's PSF, noise 0.01, 8 bits)
clipped at 200 or 160 of 255 (31% and 55% of its pixels) got 5.2e-4 and
1.1e-4 where its own weight was 4.1e-3, and 23.3 and 15.9 dB away from the
clipped pixels where its own weight gave 25.9 and 23.4 (found by a probe).
So the pixels within the PSF's reach of a plateau at a region's largest or
smallest value (the pixels whose 3 x 3 neighbourhood all hold it), where
such plateaus cover more than ``CLIPPED_SHARE`` of the region, are left out
of GCV's score (their data stay in its filter), unless that leaves under
``MIN_SCORED_SHARE`` of the region; the widening that warns of a PSF too wide
(:mod:`tiledeblur.regularization`) is measured on the rest too.
Then the astronaut got 4.3e-3 and 5.5e-3 (25.9 and 23.6 dB); ``camera``,
clipped at 200 and 160, 8.3e-3 and 6.2e-3 where its own was 1.2e-2 (3.3e-3
and 3.8e-4 before); ``immunohistochemistry``'s red channel 6.0e-3 and
3.4e-3 for 8.4e-3 (1.6e-3 and 6.3e-4 before). Scattered pixels at an
extreme, such as noise clipped at a dark floor, stay scored: left out with
the plateaus, they took the demo's weight from 0.00401 to 0.00251, and its
PSNR from 26.91 to 26.75 dB. Unclipped data keep their weights
(``bench_quality``'s 99 cases have no such plateau).

A margin or tiles filled with a constant after the blur make a plateau at
one value, which need not be an extreme: a scene under noise 0.01 whose top
third was filled with 0.4 and a corner with 0 (its noise runs below 0)
chose 2.4e-5 where the scene alone chose 1.1e-2, and came out 7 times as
far from the truth as the blurred data, with no warning (found by a probe).
So a plateau at any one value that covers more than ``FILL_SHARE`` of the
region is left out too: that scene then chose 9.4e-3, and 64 px of grey
(0.5) around the blurred ``camera`` (noise 0.01) 1.1e-2 for its own 1.2e-2,
where it chose 4.7e-4 before, with a :class:`~tiledeblur.PsfWarning`.
Plateaus at every value were left out at first, which lost up to 10 dB on
smooth, nearly noise-free 8-bit images (``cell``, 54.9 against 44.9 dB;
found by a probe): rounding makes their plateaus, but spread over 40 to 70
values of at most 1.4% of a region each, where a fill holds a quarter of a
region or more at one value. Against the extremes' plateaus alone, on that
probe's 136 8-bit cases (10 images under 2 PSFs with noise 0 to 0.003, and
dimmed to at most 30 or 60 of 255, posterized to 16 levels, or in 12 bits),
45 weights changed, by a median +0.04 dB: up to +16.5 dB (``cell`` dimmed
to 60 without noise, 23.4 to 39.9 dB), and four lost more than 0.5 dB, the
most ``hubble_deep_field`` dimmed to 30 without noise, 26.9 to 22.2 dB
(27.1 blurred), where its sky is a plateau. ``FILL_SHARE`` was 5% at
first; a grey fill of 4% of a 256² crop, which one region cross-validates,
then took ``camera``'s weight from 4.5e-3 to 5e-5, and left results 2 to 6
dB worse than the blurred crop (found by a probe). Smaller fills still pull
the weight down: 40² px of grey (2.2% of the region in plateaus) took it
to 1.3e-4. Pass ``missing_value`` for a fill's value, which takes it out of
the data altogether.
"""

import math

import numpy as np
import scipy.ndimage

__all__ = ["grown", "near_plateaus", "plateaus", "scored_pixels", "spikes_of"]

#: The share of a region's pixels in plateaus at its largest or smallest value above which they are clipped, at one
#: other value above which they are a fill, and the share that must remain for GCV to score without those within the
#: PSF's reach of them (see :func:`near_plateaus`).
CLIPPED_SHARE = 0.01
FILL_SHARE = 0.03
MIN_SCORED_SHARE = 0.05
#: A spike (a hot pixel, a cosmic ray) rises above its brightest neighbour by more than this many times the noise,
#: and above the region's floor by more than the PSF allows (see :func:`spikes_of`).
SPIKE_NOISE = 8.0


def scored_pixels(image, psf, *, unscored=None, spikes=None):
    """The pixels of ``image`` that generalized cross-validation scores, and whose noise it measures: all but those
    missing (NaN), spikes (:func:`spikes_of`, where not given), those ``unscored``, and those within the PSF's reach of
    a spike or of a clipped or filled plateau (:func:`plateaus`); all but the missing pixels and spikes where fewer
    than ``MIN_SCORED_SHARE`` of the pixels would be left.

    Examples
    --------
    >>> ramp = np.tile(np.linspace(0, 1, 100), (100, 1))
    >>> int((~scored_pixels(np.minimum(ramp, 0.8), np.ones((3, 3)) / 9)).sum())  # 21 columns of 100 px
    2100
    """
    spikes = spikes_of(image, psf) if spikes is None else spikes
    missing = np.isnan(image) | spikes
    present = ~(missing | near_plateaus(image, psf) | grown(spikes, np.add(np.shape(psf), 2)))
    if unscored is not None:
        present &= ~unscored
    if present.mean() < MIN_SCORED_SHARE:  # with nothing left to score, GCV chose its smallest weight (a probe)
        present = ~missing
    return present


def near_plateaus(image, psf):
    """The pixels of ``image`` within the PSF's reach of a clipped or filled :func:`plateaus`.

    Examples
    --------
    >>> ramp = np.tile(np.linspace(0, 1, 100), (100, 1))
    >>> int(near_plateaus(np.minimum(ramp, 0.8), np.ones((3, 3)) / 9)[0].sum())
    21
    >>> filled = ramp.copy()
    >>> filled[:, 40:50] = 0.3  # a tenth of the pixels, filled
    >>> int(near_plateaus(filled, np.ones((3, 3)) / 9)[0].sum()), bool(near_plateaus(ramp, [[1]]).any())
    (12, False)
    """
    return grown(plateaus(image), np.add(np.shape(psf), 2))


def plateaus(image):
    """The pixels of ``image`` in clipped or filled plateaus, which hold no noise.

    A plateau is a pixel whose 3 x 3 neighbourhood all hold its value. Noise
    leaves none, nor ties at the extremes but scattered ones; clipping makes
    them at the largest or smallest value (a full well, a dark floor), where
    they count above ``CLIPPED_SHARE`` of the pixels, and so does a constant
    fill added after the blur (a mosaic's blank, a grey margin) at one value,
    where they count above ``FILL_SHARE``. Rounding a smooth image to 8 bits
    makes plateaus too, but spread over many values, a few tenths of a
    percent each, which are no plateaus here.

    Examples
    --------
    >>> ramp = np.tile(np.linspace(0, 1, 100), (100, 1))
    >>> np.flatnonzero(plateaus(np.minimum(ramp, 0.8))[50]).tolist()  # clipped beyond 80, inside the image
    [81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98]
    """
    values = np.where(np.isnan(image), np.inf, image)  # a missing pixel is in no plateau, nor is one beside it
    # Beyond the border lie both extremes, as a plateau's neighbourhood must lie inside the image.
    highest = scipy.ndimage.maximum_filter(values, size=3, mode="constant", cval=np.inf)
    lowest = scipy.ndimage.minimum_filter(values, size=3, mode="nearest")
    plateau = (highest == lowest) & np.isfinite(values)
    present = image[~np.isnan(image)]
    if not present.size:  # a region wholly missing holds no plateau (found by a probe: plan of an all-NaN scan)
        return np.zeros(image.shape, dtype=bool)
    extremes = (present.max(), present.min())
    at, counts = np.unique(image[plateau], return_counts=True)
    kept = [value for value, count in zip(at, counts)
            if count > (CLIPPED_SHARE if value in extremes else FILL_SHARE) * image.size]
    return plateau & np.isin(image, kept)


def spikes_of(image, psf):
    """The spikes of ``image``: pixels far brighter than the PSF lets them be (hot pixels, cosmic rays).

    Found by a probe: three hot pixels of 60000 counts in a uint16 fluorescence
    image on an offset of 100 took GCV's weight from 0.33 to 3.98 and its noise
    19 times higher, and the result 8.6 dB lower away from them; with them
    filled as missing pixels, and scored by neither within the PSF's reach
    (:func:`tiledeblur.gcv.fit_region`), its channels got the weights of the
    image without them (0.33, 0.056 and 0.030), and the result away from them
    58.8 dB, as without them. A scene of values at or above the region's floor,
    blurred by ``psf``, holds no pixel whose height above the floor is more
    than ``8 R`` times its brightest neighbour's, for ``R`` the PSF's peak over
    its brightest neighbour (each of the scene's points gives some neighbour at
    least ``1 / R`` of what it gives the pixel, for a PSF that falls away from
    its peak). A spike breaks that bound and rises above its brightest
    neighbour by more than ``SPIKE_NOISE`` times the noise (the median absolute
    difference between neighbours, which a few spikes leave as it is, or the
    smallest, where most tie). Stars and beads, which the PSF blurred, are no
    spikes; a PSF of one pixel allows any. None of
    ``benchmarks/bench_quality.py``'s 72 cases holds one, nor do they without
    noise, in floats or 8 bits; of seven ``skimage.data`` pictures unblurred,
    ``retina`` held one.

    Examples
    --------
    >>> sky = np.random.default_rng(0).normal(100.0, 1.0, (64, 64))
    >>> sky[20, 30] = 60000.0                                          # a hot pixel
    >>> star = 5000 * np.exp(-((np.arange(64) - 40) ** 2)[:, None] / 8 - ((np.arange(64) - 12) ** 2) / 8)
    >>> np.argwhere(spikes_of(sky + star, np.ones((5, 5)) / 25)).tolist()  # the hot pixel, not the star
    [[20, 30]]
    >>> dark = np.random.default_rng(0).poisson(0.05, (64, 64)) / 255  # a dark 8-bit sky: single counts of noise
    >>> bool(spikes_of(dark, np.ones((5, 5)) / 25).any())
    False
    """
    psf = np.asarray(psf, dtype=float)
    peak = np.unravel_index(np.argmax(psf), psf.shape)
    around = psf[tuple(slice(max(p - 1, 0), p + 2) for p in peak)].copy()
    around[tuple(min(p, 1) for p in peak)] = 0.0
    if not around.max() > 0:
        return np.zeros(image.shape, dtype=bool)
    bound = 8 * psf[peak] / around.max()
    values = np.where(np.isnan(image), -np.inf, image)  # a missing pixel is no neighbour's brightest
    footprint = np.ones((3, 3), dtype=bool)
    footprint[1, 1] = False
    # Beyond the border lies no neighbour: "nearest" made a pixel of the outer row its own neighbour, so that a hot
    # pixel there was no spike (found by a probe).
    brightest = scipy.ndimage.maximum_filter(values, footprint=footprint, mode="constant", cval=-np.inf)
    present = image[~np.isnan(image)]
    floor = np.percentile(present, 1) if present.size else 0.0
    steps = np.abs(np.diff(image, axis=1))
    steps = steps[np.isfinite(steps)]
    if not np.any(steps > 0):
        return np.zeros(image.shape, dtype=bool)
    # At least the smallest step: in a dark 8-bit sky most neighbours tie, and single counts of noise passed for
    # spikes (found in review).
    noise = max(1.4826 * float(np.median(steps)) / math.sqrt(2), float(steps[steps > 0].min()))
    with np.errstate(invalid="ignore"):  # a missing pixel among missing ones: -inf less -inf, and no spike
        return (values - brightest > SPIKE_NOISE * noise) & (values - floor > bound * (brightest - floor))


def grown(mask, shape):
    """``mask`` dilated by a rectangle of ``shape``, as ``binary_dilation`` with that structure makes it.

    By a maximum filter, in a time that the rectangle's size leaves alike:
    ``binary_dilation`` took 1.8 of a 4096² scan's 5.2 s of planning, and
    with a 101 px PSF 3.4 s and 0.9 GB per sample region (with 201 px it ran
    out of memory; found by a probe). Along an even side the filter's window
    sits one pixel back, where dilation reflects its structure.

    Examples
    --------
    >>> point = np.zeros((5, 6), dtype=bool)
    >>> point[2, 2] = True
    >>> grown(point, (3, 2)).astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 0, 0, 0],
           [0, 1, 1, 0, 0, 0],
           [0, 1, 1, 0, 0, 0],
           [0, 0, 0, 0, 0, 0]])
    """
    back = [-1 if n % 2 == 0 else 0 for n in shape]
    return scipy.ndimage.maximum_filter(mask, size=shape, mode="constant", origin=back)
