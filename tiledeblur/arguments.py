"""Type checks of the public functions' array, integer, positive, size and yes-or-no arguments.

One place, so that every such argument accepts the same things (NumPy's
integers and bools among them) and is refused in the same words. ``bool`` is
a subclass of ``int`` in Python: ``tile=True`` must not pass for a tile of 1.
"""

import math
import numbers
import os
import reprlib

import numpy as np
from dask.utils import parse_bytes

__all__ = ["as_array", "check_bytes", "check_channel_count", "check_flag", "check_int", "check_numeric", "check_positive",
           "float_or_inf"]


def as_array(name, value):
    """``np.asarray(value)``, where NumPy's refusal of a ragged nested list names the argument.

    Examples
    --------
    >>> as_array("psf", [[1, 2], [3]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: psf: expected a 2-D array, got list that NumPy cannot make one of (setting an array element ...).
    """
    try:
        return np.asarray(value)
    except ValueError as error:
        raise ValueError(f"{name}: expected a 2-D array, got {type(value).__name__} that NumPy cannot make one of "
                         f"({error}).") from None


def check_numeric(name, value, array, kinds):
    """Refuse ``array``, made of ``value``, unless its dtype's kind is one of ``kinds``.

    A value that made no array of numbers is named itself, not as NumPy's
    ``dtype object`` or ``<U7`` (found by a probe), and a file's name is told
    to be read first.

    Examples
    --------
    >>> check_numeric("psf", "psf.npy", np.asarray("psf.npy"), "uif")
    Traceback (most recent call last):
    ...
    TypeError: psf: expected a real numeric array, got 'psf.npy' instead; read a file into an array first.
    >>> check_numeric("image", None, np.asarray(None), "uif")
    Traceback (most recent call last):
    ...
    TypeError: image: expected a real numeric array, got None instead.
    """
    if array.dtype.kind in kinds:
        return
    given = f"dtype {array.dtype}" if array.ndim else reprlib.repr(value)
    advice = "; read a file into an array first" if isinstance(value, (str, os.PathLike)) else ""
    raise TypeError(f"{name}: expected a real numeric array, got {given} instead{advice}.")


def check_int(name, value, *, expected="an int"):
    """``value`` as a Python int; refuse floats, bools and everything that is not an integer.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
    expected : str
        What the argument may be, for the message: ``"'auto' or an int"``
        where the caller has handled ``"auto"`` itself.

    Raises
    ------
    TypeError

    Examples
    --------
    >>> check_int("tile", np.int64(1024))
    1024
    >>> check_int("tile", True, expected="'auto' or an int")
    Traceback (most recent call last):
    ...
    TypeError: tile: expected 'auto' or an int, got True instead.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected {expected}, got {value!r} instead.")
    return int(value)


def check_positive(name, value, *, largest=math.inf):
    """``value`` as a float; refuse one that is not a positive, finite number (bools included), or is above ``largest``.

    A NumPy float becomes the shortest decimal that it rounds from, the number
    its caller wrote: ``np.float32(0.01)`` is 0.009999999776, and a run given
    it was recorded so, which a rerun with ``--mu 0.01`` then could not resume
    (found by a probe).

    Examples
    --------
    >>> import fractions
    >>> check_positive("mu", np.float32(0.01)), check_positive("mu", fractions.Fraction(1, 8))
    (0.01, 0.125)
    >>> check_positive("mu", 0.0)
    Traceback (most recent call last):
    ...
    ValueError: mu: expected a positive finite number, got 0.0 instead.
    >>> check_positive("mu", 1e39, largest=1e20)
    Traceback (most recent call last):
    ...
    ValueError: mu: expected a positive number up to 1e+20, got 1e+39 instead.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:  # as NumPy's reductions return them
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive number, got {value!r} instead.")
    if isinstance(value, np.floating):
        value = float(str(value))
    elif isinstance(value, np.integer):
        value = int(value)
    elif not isinstance(value, (int, float)):  # a Fraction, as missing_value takes (found by a probe)
        value = float_or_inf(value)
    if not (math.isfinite(float_or_inf(value)) and value > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {value!r} instead.")
    if value > largest:
        raise ValueError(f"{name}: expected a positive number up to {largest:g}, got {value!r} instead.")
    return float(value)


def float_or_inf(value):
    """``value`` as a float, or an infinity of its sign where it is too large for one, for a check to refuse as
    not finite: ``float`` of an int of 400 digits raised ``OverflowError``, which named no argument (found by a
    probe).

    Examples
    --------
    >>> float_or_inf(3), float_or_inf(10**400), float_or_inf(-(10**400))
    (3.0, inf, -inf)
    """
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_bytes(name, value):
    """``value``, an int of bytes or a size such as ``"4 GiB"`` as dask writes memory limits, as a positive int.

    Examples
    --------
    >>> check_bytes("memory_limit", "1.5 GiB")
    1610612736
    >>> check_bytes("memory_limit", "lots")
    Traceback (most recent call last):
    ...
    ValueError: memory_limit: expected a positive number of bytes or a size such as '4 GiB', got 'lots' instead.
    >>> check_bytes("memory_limit", "1e400 GB")  # infinite: an OverflowError before (found by a probe)
    Traceback (most recent call last):
    ...
    ValueError: memory_limit: expected a positive number of bytes or a size such as '4 GiB', got '1e400 GB' instead.
    """
    expected = "a positive number of bytes or a size such as '4 GiB'"
    if isinstance(value, str):
        try:
            size = parse_bytes(value) if value.strip() else 0  # dask reads "" as 1 byte
        except (ValueError, OverflowError):  # "1e400 GB" is infinite
            size = 0
    else:
        size = check_int(name, value, expected="an int of bytes or a size such as '4 GiB'")
    if size < 1:
        raise ValueError(f"{name}: expected {expected}, got {value!r} instead.")
    return size


def check_flag(name, value):
    """``value`` as a Python bool; refuse anything but True and False.

    A truthy string such as ``"no"`` must not pass for True: ``overwrite``
    replaces data.

    Examples
    --------
    >>> check_flag("resume", np.True_)
    True
    >>> check_flag("overwrite", "no")
    Traceback (most recent call last):
    ...
    TypeError: overwrite: expected True or False, got 'no' instead.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r} instead.")
    return bool(value)


def check_channel_count(count, channels, *, name, noun, shape=""):
    """Refuse ``count`` values of the argument ``name`` where one for all ``channels``, or one each, is expected."""
    if count not in (1, channels):
        expected = (f"1 {noun} for an image without channels" if channels == 1 else
                    f"1 {noun} or {channels} (one per channel)")
        raise ValueError(f"{name}: expected {expected}, got {count}{shape} instead.")
