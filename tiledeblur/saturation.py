"""Saturated spots: bright objects that a sensor clipped at its largest count.

A spot whose true brightness exceeds the sensor's range is recorded as a
plateau at the largest value of the image's integer dtype (255, 65535),
with its blurred rim around it. No sharp image blurs into that, and the
solve, which takes the plateau as data, rings around it: a probe found five
beads clipped at 65535 in a uint16 fluorescence image ringing down to
-0.33 on the [0, 1] scale, and the pixels not clipped fell from 37.85 to
34.26 dB; with ``missing_value=65535`` they rose to 38.13 dB.

A plateau is a spot where it is no larger than the PSF, and from half
the PSF's reach to its reach around it every pixel lies more than
``SPOT_DROP`` below the top. Only channels of bright objects on a dark ground
are checked, those whose median sampled pixel lies below ``DARK_GROUND`` of
the top, as fluorescence and astronomy images do: a brightfield slide's
glass clipped at 255 shows as such spots through holes in the tissue, and
there the truth lies near the clip, which blurs as it is recorded; so do
the highlights of ``skimage.data.camera`` (median 0.60) and the rim of
``retina`` (0.78 in red), where a sharp photograph reached the top.
:func:`warn_if_saturated` looks for spots in the sample regions of
:mod:`tiledeblur.regularization` and names the ``missing_value`` that
leaves them out (see the README's *Missing pixels*).
"""

import warnings

import numpy as np
import scipy.ndimage

__all__ = ["DARK_GROUND", "SPOT_DROP", "SaturationWarning", "plateaus", "saturated_spots", "warn_if_saturated"]

#: How far below the top, as a share of it, every pixel around a spot lies.
SPOT_DROP = 0.1
#: The median of a dark ground's sampled pixels, as a share of the top, is below this.
DARK_GROUND = 0.5


class SaturationWarning(UserWarning):
    """An integer image holds spots clipped at its dtype's largest value, around which the solve rings."""


def plateaus(at_value):
    """The pixels of the mask ``at_value`` whose 3 x 3 neighbourhood all lie in it.

    Clipping makes plateaus; noise that reaches an extreme leaves scattered pixels.

    Examples
    --------
    >>> mask = np.zeros((5, 5), dtype=bool)
    >>> mask[1:4, 1:4] = True
    >>> np.argwhere(plateaus(mask)).tolist()
    [[2, 2]]
    """
    return scipy.ndimage.binary_erosion(at_value, structure=np.ones((3, 3), dtype=bool))


def saturated_spots(region, psf):
    """The number of spots clipped in ``region``: plateaus at 1, the scaled largest value of an integer dtype, no
    larger than ``psf``, with darker surroundings.

    Parameters
    ----------
    region : (M, N) ndarray
        Floats, NaN where a pixel is missing.
    psf : (P, Q) ndarray
        The region's PSF, whose size sets the reach of a spot's surroundings.

    Examples
    --------
    >>> sky = np.full((64, 64), 0.1)
    >>> sky[30:36, 30:36] = 1.0                                  # a saturated star
    >>> glass = np.where(np.arange(64) < 40, 1.0, 0.5) * np.ones((64, 1))  # glass beside a stain
    >>> saturated_spots(sky, np.ones((9, 9))), saturated_spots(glass, np.ones((9, 9)))
    (1, 0)
    """
    plateau = plateaus(region >= 1.0)
    labels, _ = scipy.ndimage.label(plateau)
    labels, count = scipy.ndimage.label(plateau & (np.bincount(labels.ravel())[labels] <= np.size(psf)))
    if not count:
        return 0
    reach, half = np.shape(psf), [n // 2 + 1 for n in np.shape(psf)]
    ring = ~scipy.ndimage.binary_dilation(labels > 0, structure=np.ones(half, dtype=bool))
    # Each plateau's label spread over its surroundings; where two meet, one of them.
    owner = np.where(ring, scipy.ndimage.grey_dilation(labels, footprint=np.ones(reach, dtype=bool)), 0)
    brightest = scipy.ndimage.maximum(np.nan_to_num(region, nan=1.0), labels=owner, index=np.arange(1, count + 1))
    return int(np.sum(np.asarray(brightest) < 1 - SPOT_DROP))


def warn_if_saturated(read_region, regions, psfs, dtype, *, name, takes_missing_value=True, stacklevel=1):
    """Warn where the sample ``regions`` of an integer image hold saturated spots (see the module notes).

    ``read_region(yx)`` returns a ``(C, y, x)`` float array of one region,
    integers scaled so that the dtype's largest value is 1, and channel
    ``c`` is blurred by ``psfs[c]``. ``name`` is the image's argument, and
    ``takes_missing_value`` whether its function takes ``missing_value``
    (``deconvolve`` takes NaN, and was told to pass it; found by a probe). Float
    images are not checked: nothing says where their range ends; nor are
    those of a bright ground (see the module notes).
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui":
        return
    samples = [read_region(yx) for yx in regions]
    spots = np.zeros(len(psfs), dtype=int)
    for c, psf in enumerate(psfs):
        present = np.concatenate([sample[c][~np.isnan(sample[c])] for sample in samples])
        if present.size and np.median(present) < DARK_GROUND:
            spots[c] = sum(saturated_spots(sample[c], psf) for sample in samples)
    if spots.any():
        channels = np.flatnonzero(spots)
        where = "" if len(psfs) == 1 else f" (channel{'s' * (len(channels) > 1)} {', '.join(map(str, channels))})"
        top, count = np.iinfo(dtype).max, int(spots.sum())
        leave_out = f"pass missing_value={top}" if takes_missing_value else f"make the image float, NaN where {top},"
        warnings.warn(
            f"{name}: {count} spot{'s' * (count > 1)} in the sample regions{where} {'are' if count > 1 else 'is'} "
            f"clipped at {top}, the largest value of {dtype}: a saturated sensor. The solve takes their pixels as "
            f"data and rings around them; {leave_out} to leave them out (missing in the output).",
            SaturationWarning, stacklevel=stacklevel + 1,
        )
