"""The float policy and the checks every input image goes through.

One policy, as in scikit-image: float32 stays float32, and every other dtype
becomes float64. Integer images are scaled to ``[0, 1]`` by their dtype's
maximum (uint8 by 255, uint16 by 65535), so that ``mu`` and ``eps`` mean the
same for every dtype. The tolerance is relative to the scale of what is
solved (:func:`tiledeblur.solver.solve`), so 12-bit data in uint16
converges as precisely as data that fills the dtype.

In a float image NaN marks a missing pixel (the blank beyond a mosaic's
footprint, a bad pixel): the solver leaves it out and writes NaN there
(:func:`tiledeblur.solver.solve`). inf is refused, since no sensor measures it.
Where another value marks missing pixels, ``run(missing_value=...)`` makes
it NaN as each tile is read (:func:`check_missing_value`).
"""

import math
import numbers
import warnings

import numpy as np

from .arguments import as_array, check_numeric, float_or_inf

__all__ = ["INPUT_KINDS", "MAX_FLOAT_MAGNITUDE", "check_float_range", "check_image", "check_missing_value",
           "float_dtype", "float_scale", "largest_magnitude", "to_float"]

#: The dtype kinds of the images deblurred: unsigned and signed integers, and floats.
INPUT_KINDS = "uif"
#: The largest pixel magnitude of a float image: far beyond any sensor's
#: counts or any calibrated unit, so that a larger value is most likely a
#: defect of the data (an overflow, a mistaken dtype) and is refused.
MAX_FLOAT_MAGNITUDE = 1e9


def float_dtype(dtype):
    """The float dtype that an image of ``dtype`` is computed and returned in.

    Examples
    --------
    >>> float_dtype(np.uint8), float_dtype(np.float32), float_dtype(">f4")
    (dtype('float64'), dtype('float32'), dtype('float32'))
    """
    # In either byte order: a big-endian float32 (FITS's order) gave float64 before (found by a probe).
    return np.dtype(np.float32) if np.dtype(dtype).newbyteorder("=") == np.float32 else np.dtype(np.float64)


def float_scale(dtype):
    """The factor by which :func:`to_float` scales values of ``dtype``: one over an integer dtype's maximum.

    Examples
    --------
    >>> float_scale(np.uint8) == 1 / 255, float_scale(np.float32)
    (True, 1.0)
    """
    dtype = np.dtype(dtype)
    return 1 / np.iinfo(dtype).max if dtype.kind in "ui" else 1.0


def to_float(array, missing_value=None):
    """Convert an image to its float dtype, scaling integers to ``[0, 1]``; ``missing_value`` becomes NaN.

    Examples
    --------
    >>> to_float(np.array([0, 51, 255], dtype=np.uint8))
    array([0. , 0.2, 1. ])
    >>> to_float(np.array([0, 51, 255], dtype=np.uint8), missing_value=0)
    array([nan, 0.2, 1. ])
    """
    array = np.asarray(array)
    converted = array.astype(float_dtype(array.dtype))
    if array.dtype.kind in "ui":
        converted /= np.iinfo(array.dtype).max  # a division, not float_scale's product: bytes as before
    if missing_value is not None:
        converted[array == missing_value] = np.nan
    return converted


def check_missing_value(missing_value, dtype):
    """Validate the value that marks missing pixels in an image of ``dtype``; return it as that dtype's kind holds it.

    A stitched microscopy mosaic fills what no field of view covered with a
    value, often 0; a sensor marks saturated pixels with its largest count.
    Neither is a measurement of the scene.

    Examples
    --------
    >>> check_missing_value(65535.0, np.uint16), check_missing_value(None, np.uint8)
    (65535, None)
    >>> check_missing_value(300, np.uint8)
    Traceback (most recent call last):
    ...
    ValueError: missing_value: expected a value that uint8 holds, 0 to 255, got 300 instead.
    """
    if missing_value is None:
        return None
    if isinstance(missing_value, bool) or not isinstance(missing_value, numbers.Real):
        raise TypeError(f"missing_value: expected None or a number, got {missing_value!r} instead.")
    dtype = np.dtype(dtype)
    value = float_or_inf(missing_value)  # 10**23 or a Fraction too, which numpy's tests refuse (found by a probe)
    if not math.isfinite(value):
        raise ValueError(f"missing_value: expected a finite number (NaN marks a missing pixel of a float image "
                         f"already), got {missing_value!r} instead.")
    if dtype.kind == "f":
        if abs(value) > float(np.finfo(dtype).max):
            raise ValueError(f"missing_value: expected a value that {dtype} holds, got {missing_value!r} instead.")
        return value
    limits = np.iinfo(dtype)
    # Exactly: an int64 or uint64 count can exceed what float64 holds to the unit.
    integral = int(missing_value) if isinstance(missing_value, numbers.Integral) else (
        int(value) if value.is_integer() else None)
    if integral is None or not limits.min <= integral <= limits.max:
        # Found by a probe: 4095.5 for uint16 was told the range it lies in.
        kind = "a value" if integral is not None else "a whole number"
        raise ValueError(f"missing_value: expected {kind} that {dtype} holds, {limits.min} to {limits.max}, "
                         f"got {missing_value!r} instead.")
    return integral


def check_image(image, *, name="image", stacklevel=1):
    """Validate a 2-D image and return it as float, following the float policy; ``stacklevel`` is a warning's,
    counted from the caller.

    Raises
    ------
    TypeError
        If ``image`` is not a real numeric array.
    ValueError
        If it is not 2-D, is empty, holds inf or magnitudes above
        ``MAX_FLOAT_MAGNITUDE``, or only NaN (or masked pixels).

    Notes
    -----
    The masked pixels of a ``numpy.ma.MaskedArray`` (bad pixels, as astropy
    marks them) are missing, as NaN is, whatever values they hold; before,
    the mask was dropped and they counted as data (found by a probe).

    Examples
    --------
    >>> check_image(np.zeros((4, 4), dtype=np.uint16)).dtype
    dtype('float64')
    >>> check_image(np.ma.masked_equal([[1.0, np.inf], [0.5, 0.25]], np.inf))
    array([[1.  ,  nan],
           [0.5 , 0.25]])
    >>> check_image([[0, 255], [128, 64]])
    Traceback (most recent call last):
    ...
    TypeError: image: expected an array whose dtype gives its integers' range (uint8: 0 to 255), or floats, got a list of ints; pass np.asarray(image, dtype=np.uint8) or the dtype that the values were recorded in.
    """
    masked = np.ma.isMaskedArray(image)
    array = np.asarray(image.data) if masked else as_array(name, image)
    check_numeric(name, image, array, INPUT_KINDS)
    if array.dtype.kind in "iu" and not hasattr(image, "dtype"):
        # Integers scale by their dtype's range, which a list has none of: NumPy made it int64, and the result came
        # out 1e17 times too small (found by a probe).
        raise TypeError(f"{name}: expected an array whose dtype gives its integers' range (uint8: 0 to 255), or "
                        f"floats, got a {type(image).__name__} of ints; pass np.asarray({name}, dtype=np.uint8) or "
                        "the dtype that the values were recorded in.")
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape} instead.")
    if array.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape} instead.")
    if array.dtype.kind in "iu" and array.dtype.itemsize > 2:
        # 8 and 16 bits in [0, 1] are scikit-image's convention; counts of 32 or 64 bits came out near 1e-7 and
        # 1e-17, unsaid (found by a probe), where run's plan says so.
        warnings.warn(f"{name}: {array.dtype} values are divided by {np.iinfo(array.dtype).max}, their dtype's "
                      f"largest, as integers are, and the result is on that scale: pass {name}.astype(float) to deblur "
                      "them as they are.", UserWarning, stacklevel=stacklevel + 1)
    converted = to_float(array)
    if masked:
        converted[np.ma.getmaskarray(image)] = np.nan
    if array.dtype.kind == "f" or masked:
        check_float_range(largest_magnitude(converted), name=name)
    return converted


def largest_magnitude(array):
    """The largest magnitude of a float array's pixels that are not NaN; NaN where every pixel is.

    Examples
    --------
    >>> largest_magnitude(np.array([np.nan, -2.0, 1.0])), largest_magnitude(np.array([np.nan]))
    (2.0, nan)
    """
    return float(np.fmax.reduce(np.abs(array), axis=None))


def check_float_range(largest, *, name="image"):
    """Refuse a float image from its :func:`largest_magnitude`: inf, above ``MAX_FLOAT_MAGNITUDE``, or only NaN.

    Examples
    --------
    >>> check_float_range(2e9)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: image: expected values of magnitude at most 1e+09, got 2e+09 instead; scale the image first, or make a fill value that marks missing pixels NaN.
    """
    if np.isnan(largest):
        raise ValueError(f"{name}: expected some pixels that are not NaN (NaN marks a missing pixel), got only NaN "
                         "instead.")
    if np.isinf(largest):
        raise ValueError(f"{name}: expected finite values or NaN for missing pixels, got inf or -inf instead.")
    if largest > MAX_FLOAT_MAGNITUDE:
        # A float mosaic's fill, such as -1e30, is the likeliest cause (found by a probe).
        fill = ("make a fill value that marks missing pixels NaN" if name == "image"
                else "pass a fill value that marks missing pixels as missing_value")
        raise ValueError(f"{name}: expected values of magnitude at most {MAX_FLOAT_MAGNITUDE:g}, got {largest:g} "
                         f"instead; scale the image first, or {fill}.")
