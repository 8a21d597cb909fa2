"""The input's axes: which two hold the plane, which the channels, and what is refused.

A scan is a plane (``yx``), or a plane with its channels on one more axis
(``cyx`` or ``yxc``); any other axis must have length one, as the single
time point and z plane of an OME-Zarr ``tczyx`` image have. The channels'
axis is the one that the caller gives, or else the one that the input's
metadata names: OME-Zarr's axes, a Zarr 3 array's ``dimension_names``, or
the ``_ARRAY_DIMENSIONS`` in which xarray names a Zarr 2 array's. A given
axis must agree with the metadata's. A z-stack or a time series is refused,
since tiledeblur deblurs planes in 2-D, unless the caller asks for its planes
one by one as channels. :func:`tiledeblur.plan` reads the layout with
:func:`input_layout`, and checks its planes against the PSF with
:func:`check_planes`.
"""

import typing

import numpy as np

from .image import INPUT_KINDS
from .io import plane_axes
from .ome import axis_type

__all__ = ["CHANNEL_AXIS_NAMES", "STACK_AXIS_NAMES", "Layout", "check_planes", "input_layout"]

#: Axis names, lowercase, of the channels, and of the planes of a stack (NGFF's c, z and t).
CHANNEL_AXIS_NAMES = ("c", "channel")
STACK_AXIS_NAMES = ("z", "t", "time")


class Layout(typing.NamedTuple):
    """An input's checked axes (see :func:`input_layout`)."""

    #: The channels' axis, from 0; None for a plane alone.
    channel_axis: int | None
    #: The plane's ``(Y, X)``.
    shape: tuple
    channels: int
    #: The channels' axis as the caller gave it, or None where the metadata gave it.
    given: int | None
    #: What named the input's axes, for the messages.
    where: str
    #: The input's number of axes.
    ndim: int


def input_layout(array, multiscale, channel_axis):
    """The :class:`Layout` of ``array``, whose OME-Zarr ``multiscale`` (or None) and names give its channels' axis
    where ``channel_axis`` (a checked int, or None) does not; a :class:`ValueError` or :class:`TypeError` names
    ``zarr_path`` or ``channel_axis`` where the axes do not make a plane with channels.

    Examples
    --------
    >>> import zarr
    >>> rgb = zarr.create_array({}, shape=(64, 48, 3), dtype="u1", dimension_names=["y", "x", "c"])
    >>> input_layout(rgb, None, None)
    Layout(channel_axis=2, shape=(64, 48), channels=3, given=None, where="the array's dimension_names", ndim=3)
    >>> input_layout(zarr.create_array({}, shape=(2, 64, 48), dtype="u1", dimension_names=["z", "y", "x"]), None, None)
    Traceback (most recent call last):
    ...
    ValueError: zarr_path: expected a plane, with channels on at most one more axis, got shape (2, 64, 48), whose \
axis 'z' holds 2 planes; select one time point or z plane first (tiledeblur deblurs planes in 2-D, not stacks in \
3-D), or pass channel_axis=0 to deblur each of its planes in 2-D.
    """
    names, where = _axis_names(array, multiscale)
    _refuse_stacks(array.shape, names, channel_axis)
    own = (next((i for i, axis in enumerate(multiscale.axes) if axis_type(axis) == "channel"), None)
           if multiscale is not None else _named_channel_axis(names))
    axis, shape, channels = _check_layout(array, _agreed_channel_axis(own, array.shape, channel_axis, where=where))
    return Layout(axis, shape, channels, channel_axis, where, array.ndim)


def check_planes(layout, psf_shape):
    """Refuse planes of the :class:`Layout` ``layout`` smaller than the PSF, as :func:`tiledeblur.deconvolve` does;
    with channels, the axis may be wrong.

    An RGB scan is ``yxc``; read as ``cyx`` it becomes thousands of "channels"
    three pixels wide, which would run for hours and write nonsense. The
    advice names the axis to pass where the caller gave one, and the metadata
    to correct where that gave it.
    """
    axis, shape, channels, given, where, ndim = layout
    if all(n >= p for n, p in zip(shape, psf_shape)):
        return
    # The plane's shorter axis is most likely the channels': a yxc scan read with channel_axis=1 asks for -1.
    shorter = int(np.argmin(shape))
    swapped = tuple(channels if i == shorter else n for i, n in enumerate(shape))
    if axis is None or not all(n >= p for n, p in zip(swapped, psf_shape)):
        # No other axis of channels would do: the PSF is too large (found by a probe: a 601 px PSF on a cyx
        # image blamed the channels' axis, which its OME-Zarr metadata gave).
        raise ValueError(f"zarr_path: expected an image at least as large as the {psf_shape[0]} x {psf_shape[1]} "
                         f"PSF, got {shape[0]} x {shape[1]} px instead.")
    short = plane_axes(ndim, axis)[shorter]
    other = -1 if short == ndim - 1 else short
    planes = f"{channels} planes of {shape[0]} x {shape[1]} px, smaller than the {psf_shape[0]} x {psf_shape[1]} PSF"
    if given is None:
        # Found by a probe: the advice to pass the other axis, which the metadata then refused, led nowhere.
        raise ValueError(f"zarr_path: expected an axis of channels that leaves planes as large as the PSF; {where} "
                         f"puts the channels on axis {axis}, which makes {planes}: correct it if the channels are on "
                         f"axis {other}.")
    raise ValueError(f"channel_axis: expected the axis of the channels; {given} makes {planes} (pass {other} if the "
                     "channels are on that axis).")


def _check_layout(array, channel_axis):
    """Return ``(channel_axis, (Y, X), channels)``: 2-D data, or 2-D with channels, with any axes of length one.

    The plane is the last two axes besides the channels'
    (:func:`~tiledeblur.io.plane_axes`); any other axis must have length one,
    as the single time point and z plane of an OME-Zarr ``tczyx`` image do
    (bioformats2raw writes 5-D).
    """
    if array.dtype.kind not in INPUT_KINDS:
        raise TypeError(f"zarr_path: expected an array of uint, int or float, got dtype {array.dtype} instead.")
    if 0 in array.shape:
        raise ValueError(f"zarr_path: expected a non-empty array, got shape {array.shape} instead.")
    if not 2 <= array.ndim <= 5:
        raise ValueError(f"zarr_path: expected 2 to 5 axes, got shape {array.shape} instead.")
    if array.ndim == 2 and channel_axis is not None:
        raise ValueError(f"channel_axis: expected none (no channel axis) for 2-D data, got {channel_axis!r} instead; "
                         "pass channel_axis=None.")
    expected = "0 (cyx) or -1 (yxc)" if array.ndim == 3 else "None or an axis"
    if channel_axis is not None and not -array.ndim <= channel_axis < array.ndim:
        raise ValueError(f"channel_axis: expected {expected} for {array.ndim}-D data of shape {array.shape}, got "
                         f"{channel_axis!r} instead.")
    axis = None if channel_axis is None else channel_axis % array.ndim
    if axis is None and not _fits(array.shape, None):
        # One channel is no choice to make: a (Y, X, 1) image, as imaging libraries write one sample per pixel, was
        # refused without channel_axis=-1 (found by a probe).
        axis = next((c for c in reversed(range(array.ndim)) if array.shape[c] == 1 and _fits(array.shape, c)), None)
    if not any(_fits(array.shape, candidate) for candidate in (None, *range(array.ndim))):
        raise ValueError(f"zarr_path: expected a plane, with channels on at most one more axis, and other axes of "
                         f"length one, got shape {array.shape} instead; select one time point or z plane first.")
    if not _fits(array.shape, axis):
        # Found by a probe: an RGB scan read without its channels' axis was told only "got None".
        # The shortest axis that leaves a plane is most likely the channels'.
        fitting = [c for c in range(array.ndim) if _fits(array.shape, c)]
        shortest = min(fitting, key=lambda c: array.shape[c]) if fitting else None
        advice = "None" if shortest is None else (-1 if shortest == array.ndim - 1 else shortest)
        if array.ndim > 3 or advice not in (0, -1):  # found by a probe: "0 (cyx) or -1 (yxc)", then "pass 1"
            expected = ("the axis of the channels (the plane is the last two others, and any further axis has "
                        "length one)")
        raise ValueError(f"channel_axis: expected {expected} for {array.ndim}-D data of shape {array.shape}, got "
                         f"{channel_axis!r} instead; pass channel_axis={advice}.")
    yx = tuple(array.shape[i] for i in plane_axes(array.ndim, axis))
    return axis, yx, 1 if axis is None else array.shape[axis]


def _fits(shape, axis):
    """Whether every axis of ``shape`` besides the plane and the channels' ``axis`` has length one."""
    plane = plane_axes(len(shape), axis)
    return all(n == 1 for i, n in enumerate(shape) if i not in plane and i != axis)


def _axis_names(array, multiscale):
    """The names of ``array``'s axes, lowercase, and where they are given.

    Its OME-Zarr ``multiscale``'s, else its Zarr 3 ``dimension_names``, else
    the ``_ARRAY_DIMENSIONS`` attribute in which xarray names a Zarr 2
    array's axes (found by a probe: a ``y, x, c`` array from xarray was
    read without its channels' axis).

    Examples
    --------
    >>> import zarr
    >>> _axis_names(zarr.create_array({}, shape=(3, 8, 8), dtype="u1", dimension_names=["C", "y", None]), None)
    (['c', 'y', ''], "the array's dimension_names")
    >>> xarray_written = zarr.create_array({}, shape=(8, 8, 3), dtype="u1", zarr_format=2)
    >>> xarray_written.attrs["_ARRAY_DIMENSIONS"] = ["y", "x", "c"]
    >>> _axis_names(xarray_written, None)
    (['y', 'x', 'c'], "the array's _ARRAY_DIMENSIONS")
    """
    if multiscale is not None:
        names, where = [axis["name"] for axis in multiscale.axes], "the OME-Zarr metadata"
    elif getattr(array.metadata, "dimension_names", None):
        names, where = array.metadata.dimension_names, "the array's dimension_names"
    else:
        names, where = array.attrs.get("_ARRAY_DIMENSIONS"), "the array's _ARRAY_DIMENSIONS"
        if not isinstance(names, list) or len(names) != array.ndim:
            names = ()
    return [str(name or "").lower() for name in names], where


def _named_channel_axis(names):
    """The axis that ``names`` call ``"c"`` (as NGFF names the channels') or ``"channel"``; None where none or two do.

    Examples
    --------
    >>> _named_channel_axis(["c", "y", "x"]), _named_channel_axis(["y", "x", "channel"]), _named_channel_axis([])
    (0, 2, None)
    """
    named = [axis for axis, name in enumerate(names) if name in CHANNEL_AXIS_NAMES]
    return named[0] if len(named) == 1 else None


def _refuse_stacks(shape, names, channel_axis):
    """Refuse an axis before the last two that ``names`` call z or t where it holds more than one plane: no
    channels, but a stack; unless ``channel_axis`` asks for its planes to be deblurred one by one.

    Found by a probe: a z-stack named ``z, y, x`` was told to pass
    ``channel_axis=0``, and then each plane was deblurred in 2-D as a channel
    with its own weight, which a microscopist may take for a 3-D deconvolution.
    The last two axes are the plane's: a kymograph's ``t, x`` is an image.
    """
    if channel_axis is not None:
        return
    channels = _named_channel_axis(names)
    for axis, (name, length) in enumerate(zip(names[:-2], shape)):
        if name in STACK_AXIS_NAMES and length > 1:
            # Where the channels hold more than one plane too, neither axis alone leaves planes.
            alternative = "" if channels is not None and shape[channels] > 1 else (
                f", or pass channel_axis={axis} to deblur each of its planes in 2-D")
            raise ValueError(f"zarr_path: expected a plane, with channels on at most one more axis, got shape {shape}, "
                             f"whose axis {name!r} holds {length} planes; select one time point or z plane first "
                             f"(tiledeblur deblurs planes in 2-D, not stacks in 3-D){alternative}.")


def _agreed_channel_axis(own, shape, channel_axis, *, where):
    """The channels' axis that the input's metadata gives, ``own`` (or None), which a given ``channel_axis`` must agree
    with unless ``own`` holds a single plane in ``shape``; ``where`` names that metadata.

    Found by probes: ``channel_axis=-1`` on an OME-Zarr ``cyx`` image was
    refused as a PSF stack of the wrong length, 1024 PSFs asked for; on a
    Zarr 3 array named ``c, y, x`` it deblurred 128 "channels" and kept the
    names, which then contradicted the output's own record. A channel axis
    of one plane has nothing to disagree with: the z planes of a ``tczyx``
    image with one channel may be deblurred one by one, as the message of
    :func:`_refuse_stacks` advises (found by a probe: they were refused).

    Examples
    --------
    >>> _agreed_channel_axis(0, (3, 8, 8), None, where="its names"), _agreed_channel_axis(0, (3, 8, 8), -3, where="")
    (0, -3)
    >>> _agreed_channel_axis(1, (1, 1, 3, 8, 8), 2, where="its names")
    2
    """
    if channel_axis is None or own is None:
        return own if channel_axis is None else channel_axis
    ndim = len(shape)
    if -ndim <= channel_axis < ndim and channel_axis % ndim != own and shape[own] > 1:
        raise ValueError(f"channel_axis: expected {own} or None, where {where} puts the channels, got "
                         f"{channel_axis!r} instead.")
    return channel_axis
