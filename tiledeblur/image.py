"""The float policy and the checks every input image goes through.

One policy, as in scikit-image: float32 stays float32, and every other dtype
becomes float64. Integer images are scaled to ``[0, 1]`` by their dtype's
maximum (uint8 by 255, uint16 by 65535), so that ``mu`` and tolerances mean
the same for every dtype.
"""

import numpy as np

__all__ = ["check_image", "float_dtype", "to_float"]


def float_dtype(dtype):
    """The float dtype that an image of ``dtype`` is computed and returned in.

    Examples
    --------
    >>> float_dtype(np.uint8), float_dtype(np.float32)
    (dtype('float64'), dtype('float32'))
    """
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def to_float(array):
    """Convert an image to its float dtype, scaling integers to ``[0, 1]``.

    Examples
    --------
    >>> to_float(np.array([0, 51, 255], dtype=np.uint8))
    array([0. , 0.2, 1. ])
    """
    array = np.asarray(array)
    converted = array.astype(float_dtype(array.dtype))
    if array.dtype.kind in "ui":
        converted /= np.iinfo(array.dtype).max
    return converted


def check_image(image, *, name="image"):
    """Validate a 2-D image and return it as float, following the float policy.

    Raises
    ------
    TypeError
        If ``image`` is not a real numeric array.
    ValueError
        If it is not 2-D, is empty, or holds NaN or inf.

    Examples
    --------
    >>> check_image(np.zeros((4, 4), dtype=np.uint16)).dtype
    dtype('float64')
    """
    array = np.asarray(image)
    if array.dtype.kind not in "uif":
        raise TypeError(f"{name}: expected a real numeric array, got dtype {array.dtype} instead.")
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, got shape {array.shape} instead.")
    if array.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {array.shape} instead.")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: expected finite values, got NaN or inf instead.")
    return to_float(array)
