"""Saturated spots: bright objects that a sensor clipped at its largest count.

A spot whose true brightness exceeds the sensor's range is recorded as a
plateau at the largest value of the image's integer dtype (255, 65535), or
of its sensor's bits (a 12-bit camera's 4095 in uint16, see
:func:`sensor_top`), with its blurred rim around it. No sharp image blurs into that, and the
solve, which takes the plateau as data, rings around it: a probe found five
beads clipped at 65535 in a uint16 fluorescence image ringing down to
-0.33 on the [0, 1] scale, and the pixels not clipped fell from 37.85 to
34.26 dB; with ``missing_value=65535`` they rose to 38.13 dB. Left out,
they still ring, for the pixels around them hold the blurred light of a
source far brighter than the rest; ``nonneg=True`` holds those rings at
zero. On ``tests/test_saturation.py``'s star field, with stars clipped in 5
pixels and in 45, the pixels not clipped scored 12.2 and 9.6 dB blurred,
18.0 and 15.1 deblurred at ``mu="auto"`` without the clipped ones, and 21.7
and 23.6 with ``nonneg=True`` too, in twice the time (scratch runs, 2026-12-04); a
fluorescence probe's clipped beads rang to -19,000 counts without it, and
not with it. So the warning names both.

A spot is a group of at least ``MIN_SPOT`` clipped pixels, touching by
side or corner, no larger than the PSF and round (``ELONGATION``), and from
half the PSF's reach to its reach around it every pixel lies less than half
way from the channel's ground (its median) to the top. Only channels of
bright objects on a dark ground are checked, those whose median sampled
pixel lies below ``DARK_GROUND`` of the top, as fluorescence and astronomy
images do: a brightfield slide's glass clipped at 255 shows as such spots
through holes in the tissue, and there the truth lies near the clip, which
blurs as it is recorded; so do the highlights of ``skimage.data.camera``
(median 0.60) and the rim of ``retina`` (0.78 in red), where a sharp
photograph reached the top.

Measured on sample regions (scratch runs, 2026-12-04) of 120 star and bead
fields, uint8 and uint16, on grounds of 0.04 to 0.15 of the top, with stars
of widths 1.5 to 3 px clipped in 1 to 120 pixels, and PSF
``gaussian_psf(13, 2)``: this rule warned on 96 (95 of the 96 whose stars
clipped in 2 or more pixels), and on 24 of 30 fields on a ground of 0.3
(all but those clipped in 1 pixel); a rule of whole 3 x 3 clipped
neighbourhoods, before it, warned on 54 of the 120, and on none whose stars
clipped in 5 pixels or fewer. Of 22 ``skimage.data`` pictures blurred by
``gaussian_psf(13, (1, 3))`` or ``(13, 2)`` with noise 0.01, as stored and
as JPEG at quality 90 and 75, it warned on none of 132 (the rule before,
on 8). Unblurred, as stored and as JPEG, it warned on 11 of 66 (the rule
before, on 11 too): the pictures' own clipped highlights (``astronaut``,
``coffee``, ``rocket``, ``stereo_motorcycle``) and the stars of
``hubble_deep_field``. A spot whose surroundings the region cuts off is not
counted: a region's edge had left only the dark side of a JPEG's highlight
in them.

:func:`warn_if_saturated` looks for spots in the sample regions of
:mod:`tiledeblur.regularization` and names the ``missing_value`` that
leaves them out (see the README's *Missing pixels*).
"""

import warnings

import numpy as np
import scipy.ndimage

from .fits import FITS_HEADER_ATTRIBUTE
from .image import float_scale

__all__ = ["DARK_GROUND", "ELONGATION", "MIN_SPOT", "SaturationWarning", "declared_saturation", "elongations",
           "saturated_spots", "sensor_top", "warn_if_saturated"]

#: The fewest clipped pixels, touching by side or corner, that make a spot: noise at the top clips one or two.
MIN_SPOT = 3
#: A spot's long axis over its short is at most this: a star's or a bead's clipped core is round, a clipped edge long.
ELONGATION = 2.5
#: The median of a dark ground's sampled pixels, as a share of the top, is below this.
DARK_GROUND = 0.5


class SaturationWarning(UserWarning):
    """An integer image holds spots clipped at its dtype's largest value, around which the solve rings."""


def elongations(labels, count):
    """The ratio of the long axis to the short of each of the ``count`` labelled groups of pixels.

    The square root of the ratio of the eigenvalues of each group's covariance
    of pixel positions, pixels taken as unit squares (hence the 1/12): a 4 x 1 line has 4.

    Examples
    --------
    >>> labels = np.zeros((5, 9), dtype=int)
    >>> labels[1:4, 1:4], labels[2, 5:9] = 1, 2        # a square and a line
    >>> np.round(elongations(labels, 2), 2).tolist()
    [1.0, 4.0]
    """
    index = np.arange(1, count + 1)
    rows, columns = np.indices(labels.shape)
    mean = lambda values: np.asarray(scipy.ndimage.mean(values, labels, index))
    row, column = mean(rows), mean(columns)
    across_rows, across_columns = mean(rows * rows) - row**2 + 1 / 12, mean(columns * columns) - column**2 + 1 / 12
    along_both = mean(rows * columns) - row * column
    half_sum = (across_rows + across_columns) / 2
    spread = np.sqrt(np.maximum(half_sum**2 - (across_rows * across_columns - along_both**2), 0))
    return np.sqrt((half_sum + spread) / (half_sum - spread))


def saturated_spots(region, psf, *, ground=0.0, top=1.0):
    """The number of spots clipped in ``region``: round groups of pixels at ``top``, the sensor's largest value,
    no larger than ``psf``, with darker surroundings.

    Parameters
    ----------
    region : (M, N) ndarray
        Floats, NaN where a pixel is missing.
    psf : (P, Q) ndarray
        The region's PSF, whose size sets the reach of a spot's surroundings.
    ground : float, optional
        The typical value of the region's dark ground: a spot's surroundings lie less than half way from it to
        ``top``.
    top : float, optional
        The sensor's largest value, at which it clips: 1, or less for a 12-bit camera's counts in uint16.

    Examples
    --------
    >>> sky = np.full((64, 64), 0.1)
    >>> sky[30:33, 30:32] = 1.0                                  # a saturated star
    >>> glass = np.where(np.arange(64) < 40, 1.0, 0.5) * np.ones((64, 1))  # glass beside a stain
    >>> saturated_spots(sky, np.ones((9, 9))), saturated_spots(glass, np.ones((9, 9)))
    (1, 0)
    """
    labels, count = scipy.ndimage.label(region >= top, structure=np.ones((3, 3), dtype=bool))
    if not count:
        return 0
    size = np.bincount(labels.ravel())[1:]
    spots = np.flatnonzero((size >= MIN_SPOT) & (size <= np.size(psf)) & (elongations(labels, count) <= ELONGATION))
    reach, half = np.ones(np.shape(psf), dtype=bool), np.ones([n // 2 + 1 for n in np.shape(psf)], dtype=bool)
    margins, boxes = [n // 2 for n in np.shape(psf)], scipy.ndimage.find_objects(labels)
    filled, surrounded = np.nan_to_num(region, nan=top), 0
    for spot in spots:
        window = tuple(slice(box.start - margin, box.stop + margin) for box, margin in zip(boxes[spot], margins))
        if any(side.start < 0 or side.stop > n for side, n in zip(window, region.shape)):
            continue  # its surroundings are not all in the region
        group = labels[window] == spot + 1
        ring = scipy.ndimage.binary_dilation(group, reach) & ~scipy.ndimage.binary_dilation(group, half)
        surrounded += filled[window][ring].max() < (top + ground) / 2
    return int(surrounded)


def sensor_top(samples, dtype):
    """``(top, sensor)``: the scaled value at which the sensor of an integer image clips, and what it is.

    The dtype's largest value, 1 scaled; or, where the largest value of the
    ``samples`` (``(C, y, x)`` arrays, scaled so that the dtype's largest
    value is 1) is that of fewer bits, such as a 12-bit camera's 4095 in
    uint16, that one: such a camera clips there (found by a probe: its beads
    clipped at 4095 rang unwarned).

    Examples
    --------
    >>> counts = np.array([[[100.0, 4095.0]]]) / 65535
    >>> top, sensor = sensor_top([counts], np.dtype(np.uint16))
    >>> round(float(top) * 65535), sensor
    (4095, 'a 12-bit sensor')
    >>> sensor_top([counts * 1.5], np.dtype(np.uint16))
    (1.0, 'uint16')
    """
    largest, bits = np.iinfo(dtype).max, np.iinfo(dtype).bits - (dtype.kind == "i")
    # As the samples hold it: a float32 region holds 4095 / 65535 rounded, which (2**12 - 1) / 65535 may exceed.
    brightest = max(np.nanmax(sample, initial=0.0) for sample in samples)
    fewer = next((depth for depth in range(8, bits) if round(float(brightest) * largest) == 2**depth - 1), None)
    return (1.0, str(dtype)) if fewer is None else (brightest, f"a {fewer}-bit sensor")


def declared_saturation(attributes):
    """The level at which an array's own attributes say that its sensor saturates, or None: a FITS header's
    ``SATURATE`` card, as :func:`tiledeblur.convert.convert` records it.

    Examples
    --------
    >>> declared_saturation({"fits_header": {"SATURATE": 40000, "BUNIT": "ADU"}}), declared_saturation({})
    (40000.0, None)
    """
    header = attributes.get(FITS_HEADER_ATTRIBUTE)
    level = header.get("SATURATE") if isinstance(header, dict) else None
    return float(level) if isinstance(level, (int, float)) and not isinstance(level, bool) else None


def warn_if_saturated(read_region, regions, psfs, dtype, *, name, takes_missing_value=True, channel_names=None,
                      declared=None, stacklevel=1):
    """Warn where the sample ``regions`` of an image hold saturated spots (see the module notes).

    ``read_region(yx)`` returns a ``(C, y, x)`` float array of one region,
    integers scaled so that the dtype's largest value is 1, and channel
    ``c`` is blurred by ``psfs[c]``. ``name`` is the image's argument, and
    ``takes_missing_value`` whether its function takes ``missing_value``
    (``deconvolve`` takes NaN, and was told to pass it; found by a probe).
    ``channel_names``, one per channel where the image names them (an
    OME-Zarr's ``omero`` labels), follow their channels' numbers.
    ``declared`` is the level, in the values stored, at which the image's
    metadata say that it saturates (:func:`declared_saturation`), None for
    none: a FITS file's stars clipped at its ``SATURATE`` of 40000 rang
    unwarned (found by a probe). Float images without it are not checked:
    nothing says where their range ends; nor are those of a bright ground
    (see the module notes).
    """
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui" and declared is None:
        return
    samples = [read_region(yx) for yx in regions]
    if declared is not None:
        top, sensor = declared * float_scale(dtype), "the level of SATURATE in its FITS header"
    else:
        top, sensor = sensor_top(samples, dtype)
        sensor = f"the largest value of {sensor}"
    spots = np.zeros(len(psfs), dtype=int)
    for c, psf in enumerate(psfs):
        present = np.concatenate([sample[c][~np.isnan(sample[c])] for sample in samples])
        ground = np.median(present) if present.size else top
        if ground < DARK_GROUND * top:
            spots[c] = sum(saturated_spots(sample[c], psf, ground=ground, top=top) for sample in samples)
    if spots.any():
        channels = np.flatnonzero(spots)
        named = [f"{c}: {channel_names[c]}" if channel_names else str(c) for c in channels]
        where = "" if len(psfs) == 1 else f" (channel{'s' * (len(channels) > 1)} {', '.join(named)})"
        count = int(spots.sum())
        clip = declared if declared is not None else round(float(top) * np.iinfo(dtype).max)
        clip = int(clip) if float(clip).is_integer() else clip  # 40000, not 40000.0
        # Pixels above the level, as a CCD's saturated ones may read, are not one value that missing_value names.
        above = any(np.any(sample > top) for sample in samples)
        leave_out = (f"pass missing_value={clip}" if takes_missing_value and not above else
                     f"make the image float, NaN where {clip}{' or more' * above},")
        warnings.warn(
            f"{name}: {count} spot{'s' * (count > 1)} in the sample regions{where} {'are' if count > 1 else 'is'} "
            f"clipped at {clip}, {sensor}: a saturated sensor. The solve takes their pixels as "
            f"data and rings around them; {leave_out} to leave them out (missing in the output), and pass "
            "nonneg=True to hold the rings at zero (at about twice the time).",
            SaturationWarning, stacklevel=stacklevel + 1,
        )
