"""OME-Zarr (NGFF 0.4 and 0.5): the input's multiscale metadata, the output's, and its pyramid.

An OME-Zarr input gives an OME-Zarr output of the same NGFF version (0.4 for
the older 0.1–0.3, whose axes were plain names): a group whose level ``"0"``
is what :func:`tiledeblur.run` writes, and whose further levels, each half the
size of the one before along y and x (a 2 × 2 mean), are built from it
afterwards on the cluster until a level fits in one chunk. z is never halved:
its planes are deblurred apart. The axes are the input's, and the
scale that of the level read; each halving doubles an axis's scale.
"""

import dataclasses
import functools
import itertools
import math
import posixpath

import dask.array as da
import numpy as np
import zarr

from .fits import FITS_HEADER_ATTRIBUTE

__all__ = ["LEVEL_ZERO_ATTRIBUTES", "Multiscale", "axis_type", "build_pyramid", "chunk_keys", "find_multiscale",
           "multiscale_attributes", "plain_multiscale", "pyramid_shapes", "read_multiscale"]

#: The multiscale's words on how each level is made from the one before, as :func:`build_pyramid` makes it.
PYRAMID_DESCRIPTION = "the mean of each 2 x 2 block of the level before (of its pixels present), along y and x"
#: Attributes of level 0 alone, which the further levels do not get: see :func:`_level_attributes`.
LEVEL_ZERO_ATTRIBUTES = ("tiledeblur", FITS_HEADER_ATTRIBUTE)


@dataclasses.dataclass(frozen=True)
class Multiscale:
    """What the output keeps of an NGFF multiscale: version, axes, the level's placement, and channel metadata."""

    version: str
    axes: tuple
    scale: tuple
    #: The translation of the level read, None where it has none.
    translation: tuple | None = None
    #: The multiscale's own ``coordinateTransformations``, applied after every level's (a pixel size given once).
    transforms: tuple = ()
    #: The image's ``omero`` metadata: channel names, colours and display windows.
    omero: dict | None = None
    #: The multiscale's name, which viewers show for the image; None where it has none.
    name: str | None = None

    @property
    def channels(self):
        """The ``omero`` metadata's channels, each a dict (``{}`` for an entry that is none), ``[]`` without any.

        Examples
        --------
        >>> Multiscale("0.4", (), (), omero={"channels": [{"label": "DAPI"}, "RFP"]}).channels
        [{'label': 'DAPI'}, {}]
        """
        return [channel if isinstance(channel, dict) else {} for channel in (self.omero or {}).get("channels", [])]

    def in_units(self, factor):
        """This multiscale for pixel values ``factor`` times the input's: the display windows follow them.

        An integer input deblurred to floats is divided by its dtype's
        maximum; windows left in counts would show a black image, and
        windows dropped would leave NGFF 0.4's ``omero`` invalid.

        Examples
        --------
        >>> counts = Multiscale("0.4", (), (), omero={"channels": [{"window": {"start": 0, "end": 1000}}]})
        >>> counts.in_units(1 / 1000).omero
        {'channels': [{'window': {'start': 0.0, 'end': 1.0}}]}
        """
        if self.omero is None or factor == 1:
            return self
        channels = [{**channel, "window": {k: v * factor for k, v in channel["window"].items()}}
                    if "window" in channel else channel for channel in self.omero.get("channels", [])]
        return dataclasses.replace(self, omero={**self.omero, "channels": channels})


#: The chunk keys of NGFF 0.4 arrays, which are Zarr version 2: nested, "0/1", as 0.4 requires.
NGFF_04_CHUNK_KEYS = {"name": "v2", "separator": "/"}
#: Rows of output chunks that one step of a pyramid level computes. The
#: driver holds a step's task graph: a whole level 1 of a 100k² RGB scan
#: (38,416 reads and means, and their stores) took its memory from 199 MiB to
#: 736 MiB (found by a probe), and would grow with the image.
PYRAMID_BAND_CHUNKS = 8
#: The NGFF axis type of each name that versions before 0.4 allowed.
AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def first_multiscale(attributes, *, url):
    """``(ome, multiscale)``: a group's OME attributes and the first of their ``multiscales``; None where none is.

    ``url`` names the group where its metadata is not as NGFF writes it, which
    ended in a KeyError or an AttributeError before (found by a probe); a
    dataset's scale or translation given as a ``path`` to a file is refused
    so, too.

    Examples
    --------
    >>> first_multiscale({"multiscales": [{"datasets": [{"path": "0"}]}]}, url="a.zarr")
    ({'multiscales': [{'datasets': [{'path': '0'}]}]}, {'datasets': [{'path': '0'}]})
    >>> first_multiscale({"multiscales": [{"datasets": [{"path": "0"}], "axes": [{"type": "space"}]}]},
    ...                  url="a.zarr")
    Traceback (most recent call last):
    ...
    ValueError: zarr_path: expected OME-Zarr metadata as NGFF writes it, got 'a.zarr', whose multiscale's axes are \
not each a name or an object with a "name"; correct the group's attributes.
    """
    ome = attributes.get("ome", attributes)

    def refuse(what):
        raise ValueError(f"zarr_path: expected OME-Zarr metadata as NGFF writes it, got {url!r}, whose {what}; "
                         "correct the group's attributes.")

    if not isinstance(ome, dict):
        refuse('"ome" is no object')
    multiscales = ome.get("multiscales")
    if not multiscales:
        return None
    if not isinstance(multiscales, list) or not isinstance(multiscales[0], dict):
        refuse('"multiscales" is no list of objects')
    first = multiscales[0]
    axes = first.get("axes") or []
    if not isinstance(axes, list) or not all(
            isinstance(axis, str) or (isinstance(axis, dict) and isinstance(axis.get("name"), str)) for axis in axes):
        refuse('multiscale\'s axes are not each a name or an object with a "name"')
    datasets = first.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(
            isinstance(dataset, dict) and isinstance(dataset.get("path"), str) for dataset in datasets):
        refuse('multiscale\'s "datasets" are no list of objects, each with a "path"')
    for dataset in datasets:
        transforms = dataset.get("coordinateTransformations", [])
        if not isinstance(transforms, list) or not all(_readable_transform(transform, len(axes) or None)
                                                       for transform in transforms):
            refuse(f"dataset {dataset['path']!r} has a scale or a translation that is no list of numbers, one per "
                   "axis")
        if any(not value > 0 for transform in transforms if transform.get("type") == "scale"
               for value in transform["scale"]):
            # A pixel size of 0 or below was carried into every level of the output (found by a probe).
            refuse(f"dataset {dataset['path']!r} has a scale that is not positive on every axis")
    if not _readable_omero(ome.get("omero")):
        # Its windows, scaled with the values, ended in an AttributeError or a TypeError after plan had passed them
        # (found by a probe).
        refuse('"omero" is no object whose "channels" are a list, each "window" an object of numbers')
    return ome, first


def _readable_omero(omero):
    """Whether ``omero`` is None, or an object whose ``channels``, if any, are a list in which each ``window`` is an
    object of numbers.

    Examples
    --------
    >>> _readable_omero({"channels": [{"window": {"start": 0, "end": 1000, "min": 0, "max": 65535}}, {}]})
    True
    >>> _readable_omero({"channels": [{"window": [0, 1000]}]}), _readable_omero([{"label": "DAPI"}])
    (False, False)
    """
    if omero is None:
        return True
    if not isinstance(omero, dict) or not isinstance(omero.get("channels", []), list):
        return False
    # An entry that is no object stands for none (see Multiscale.channels).
    windows = [channel["window"] for channel in omero.get("channels", []) if isinstance(channel, dict)
               and "window" in channel]
    return all(isinstance(window, dict) and all(map(_is_number, window.values())) for window in windows)


def _is_number(value):
    """Whether ``value`` is a JSON number: an int or a float, and not a bool, which Python counts among the ints."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _readable_transform(transform, axes):
    """Whether a coordinate transformation is an object whose scale or translation, if it is one, is ``axes``
    numbers (any number of them where ``axes`` is None)."""
    if not isinstance(transform, dict):
        return False
    kind = transform.get("type")
    if kind not in ("scale", "translation"):
        return True
    values = transform.get(kind)
    numbers = isinstance(values, list) and all(map(_is_number, values))
    return numbers and (axes is None or len(values) == axes)


def read_multiscale(attributes, level=None, *, url):
    """The :class:`Multiscale` in the attributes of the group at ``url``, with the scale of the dataset ``level``.

    None where the attributes hold no multiscale, or ``level`` is none of its
    datasets; ``level=None`` means the first. Metadata that is not as NGFF
    writes it is refused (:func:`first_multiscale`).

    Examples
    --------
    >>> read_multiscale({"ome": {"version": "0.5", "multiscales": [{"axes": [{"name": "y"}, {"name": "x"}],
    ...     "datasets": [{"path": "0"}]}]}}, url="image.zarr")
    Multiscale(version='0.5', axes=({'name': 'y'}, {'name': 'x'}), scale=(1.0, 1.0), translation=None, ...)
    >>> read_multiscale({"multiscales": [{"version": "0.3", "axes": ["c", "y", "x"], "datasets": [{"path": "0"}]}]},
    ...                 url="image.zarr")
    Multiscale(version='0.4', axes=({'name': 'c', 'type': 'channel'}, ...), scale=(1.0, 1.0, 1.0), ...)
    >>> [axis["name"] for axis in read_multiscale({"multiscales": [{"version": "0.2", "datasets": [{"path": "0"}]}]},
    ...                                           url="image.zarr").axes]
    ['t', 'c', 'z', 'y', 'x']
    """
    found = first_multiscale(attributes, url=url)
    if found is None:
        return None
    ome, first = found
    version = str(ome.get("version") or first.get("version", "0.4"))
    # Versions 0.1 and 0.2 name no axes: their arrays are always tczyx (found by a probe).
    default_axes = ("t", "c", "z", "y", "x") if version in ("0.1", "0.2") else ("y", "x")
    if version in ("0.1", "0.2", "0.3"):
        version = "0.4"
    axes = tuple(
        {"name": axis, "type": AXIS_TYPES.get(axis, "space")} if isinstance(axis, str) else axis
        for axis in first.get("axes") or default_axes
    )
    dataset = next((d for d in first["datasets"] if level is None or d["path"] == level), None)
    if dataset is None:
        return None
    transforms = dataset.get("coordinateTransformations", [])
    scale = next((t["scale"] for t in transforms if t.get("type") == "scale"), [1.0] * len(axes))
    translation = next((t["translation"] for t in transforms if t.get("type") == "translation"), None)
    return Multiscale(version, axes, tuple(float(s) for s in scale),
                      None if translation is None else tuple(float(t) for t in translation),
                      tuple(first.get("coordinateTransformations", ())), ome.get("omero"), first.get("name"))


def find_multiscale(location):
    """The OME-Zarr multiscale of the group that holds the array at ``location``, at its level; None where none does.

    The group is found whether the array is named as a component or by its
    path (``image.zarr/0``), which before gave a plain output (found by a probe).
    """
    path = "/".join(part for part in (location.url.rstrip("/"), location.component) if part)
    parent, level = posixpath.split(path)
    try:
        group = zarr.open_group(parent, mode="r", storage_options=location.storage_options or None,
                                use_consolidated=False)  # as open_input reads the array
    except (FileNotFoundError, ValueError):  # no group holds the array: a plain array
        return None
    return read_multiscale(group.attrs.asdict(), level=level, url=parent)


def plain_multiscale(ndim, channel_axis, zarr_format, *, names=None):
    """The multiscale for a plain array written as OME-Zarr: ``yx`` or ``cyx`` (a first axis of length one is ``c``),
    or its own ``names`` where it has as many, each its own (a Zarr 3 array's ``dimension_names``; found by a
    probe: ``lat, lon`` became ``y, x``).

    Examples
    --------
    >>> [axis["name"] for axis in plain_multiscale(2, None, 3, names=["lat", "lon"]).axes]
    ['lat', 'lon']
    >>> [axis["name"] for axis in plain_multiscale(3, 0, 3, names=["band", None, "x"]).axes]
    ['c', 'y', 'x']
    """
    if ndim > 3:
        raise ValueError(f"ome: expected a plain array of 2 or 3 axes to describe as OME-Zarr, got {ndim}; pass "
                         "ome=False, or name its axes in OME-Zarr metadata.")
    if ndim == 3 and channel_axis not in (0, None):
        raise ValueError(
            f"ome: expected channels first (on axis 0) for an OME-Zarr output, as NGFF orders axes, "
            f"got them on axis {channel_axis} of {ndim}; write the input as cyx (tiledeblur convert --ome) or pass "
            "ome=False."
        )
    own = names is not None and len(names) == ndim and all(names) and len(set(names)) == ndim
    names = list(names) if own else list("cyx" if ndim == 3 else "yx")
    axes = tuple({"name": name, "type": "channel" if ndim == 3 and index == 0 else "space"}
                 for index, name in enumerate(names))
    return Multiscale("0.5" if zarr_format == 3 else "0.4", axes, (1.0,) * ndim)


def axis_type(axis):
    """An NGFF axis's type, from its name where it has none (NGFF 0.4 only recommends one).

    Examples
    --------
    >>> axis_type({"name": "c"}), axis_type({"name": "y", "type": "space"}), axis_type({"name": "angle"})
    ('channel', 'space', None)
    >>> axis_type({"name": "Y"})  # names in capitals, as some writers give them (found by a probe)
    'space'
    """
    return axis.get("type", AXIS_TYPES.get(axis["name"].lower()))


def _spatial(multiscale):
    """Whether each axis is one of the planes' two, y and x: NGFF orders the spatial axes z, y, x.

    A z-stack deblurred plane by plane (its z taken as the channel axis) keeps
    its planes apart: its pyramid averaged pairs of them and dropped an odd
    last one (found by a probe).
    """
    planes = [index for index, axis in enumerate(multiscale.axes) if axis_type(axis) == "space"][-2:]
    return [index in planes for index in range(len(multiscale.axes))]


def pyramid_shapes(shape, multiscale, chunk):
    """Shapes of levels 1, 2, ...: halve y and x, where longer than one pixel, until a level fits in one chunk.

    Examples
    --------
    >>> pyramid_shapes((3, 1000, 600), plain_multiscale(3, 0, 3), 256)
    [(3, 500, 300), (3, 250, 150)]
    >>> zyx = Multiscale("0.5", ({"name": "z"}, {"name": "y"}, {"name": "x"}), (2.0, 0.5, 0.5))
    >>> pyramid_shapes((5, 1000, 600), zyx, 256)  # the planes of a z-stack stay apart
    [(5, 500, 300), (5, 250, 150)]
    """
    spatial = _spatial(multiscale)
    shapes = []
    while max(n for n, s in zip(shape, spatial) if s) > chunk:
        shape = tuple(n // 2 if s and n > 1 else n for n, s in zip(shape, spatial))
        shapes.append(shape)
    return shapes


def _halvings(shapes):
    """Per level of ``shapes`` (level 0 first), 2 along each axis halved since the level before, else 1."""
    return [[2 if n < m else 1 for n, m in zip(shape, before)] for before, shape in itertools.pairwise(shapes)]


def multiscale_attributes(multiscale, shapes):
    """The group attributes of a multiscale whose levels have ``shapes``, in its NGFF version.

    Examples
    --------
    z is not halved, so its scale stays:

    >>> zyx = Multiscale("0.5", ({"name": "z"}, {"name": "y"}, {"name": "x"}), (2.0, 0.5, 0.5))
    >>> shapes = [(1, 600, 600), *pyramid_shapes((1, 600, 600), zyx, 512)]
    >>> [d["coordinateTransformations"][0]["scale"] for d in multiscale_attributes(zyx, shapes)["ome"]
    ...     ["multiscales"][0]["datasets"]]
    [[2.0, 0.5, 0.5], [2.0, 1.0, 1.0]]
    """
    scales = [list(multiscale.scale)]
    translations = [multiscale.translation or [0.0] * len(multiscale.scale)]
    for factors in _halvings(shapes):
        # A pixel of the halved level is centred between the two it averages: half a pixel of the level before on.
        translations.append([t + (f - 1) / 2 * s for t, f, s in zip(translations[-1], factors, scales[-1])])
        scales.append([s * f for s, f in zip(scales[-1], factors)])
    if multiscale.translation is None:
        translations[0] = None  # level 0 stays where the input's was: at the origin, unwritten
    datasets = [
        {"path": str(level), "coordinateTransformations": [{"type": "scale", "scale": scale}] + (
            [] if translation is None else [{"type": "translation", "translation": list(translation)}])}
        for level, (scale, translation) in enumerate(zip(scales, translations))
    ]
    # The input's name, where it has one: viewers show it as the image's, and the output is that image deblurred.
    entry = {"axes": list(multiscale.axes), "datasets": datasets, "name": multiscale.name or "tiledeblur",
             # How the levels were made, which NGFF asks for (found by a probe).
             "type": "mean", "metadata": {"description": PYRAMID_DESCRIPTION, "method": "tiledeblur.ome.build_pyramid"}}
    if multiscale.transforms:
        entry["coordinateTransformations"] = list(multiscale.transforms)
    omero = {} if multiscale.omero is None else {"omero": multiscale.omero}
    if multiscale.version.startswith("0.4"):
        return {"multiscales": [{"version": multiscale.version, **entry}], **omero}
    return {"ome": {"version": multiscale.version, "multiscales": [entry], **omero}}


def chunk_keys(zarr_format):
    """The chunk key encoding of a multiscale's arrays in ``zarr_format``: nested for 0.4, zarr's default for 0.5."""
    return NGFF_04_CHUNK_KEYS if zarr_format == 2 else None


def build_pyramid(client, url, shapes, chunks, storage_options=None, *, missing_value=None, first_level=1,
                  on_band=None, on_built=None):
    """Write levels 1.. of the group at ``url`` from its level 0, on the cluster; ``shapes`` starts with level 0's.

    With ``client=None`` the levels are computed in this process, by dask's
    default scheduler, as ``tiledeblur convert --ome`` does.

    Each level is the 2 × 2 mean of the one before (an odd last row or column
    is dropped), of the pixels present (not NaN, nor ``missing_value``: a
    block without any stays missing), rounded for integer dtypes, written in
    whole chunks, in bands of
    ``PYRAMID_BAND_CHUNKS`` rows of chunks: the driver's memory does not grow
    with the image. ``on_band(level, band, bands)`` is called as each band
    starts, to show progress (a level of a 100k² slide took minutes), and
    ``on_built(level)`` as each level is written, so that a rerun may start
    at ``first_level``, after the levels built.
    """
    group = zarr.open_group(url, mode="r+", storage_options=storage_options)
    for level, (shape, factors) in enumerate(zip(shapes[1:], _halvings(shapes)), start=1):
        if level < first_level:
            continue
        previous = group[str(level - 1)]
        target = group.create_array(str(level), shape=shape, chunks=chunks, dtype=previous.dtype,
                                    fill_value=previous.fill_value, overwrite=True,
                                    chunk_key_encoding=chunk_keys(group.metadata.zarr_format),
                                    dimension_names=getattr(previous.metadata, "dimension_names", None),
                                    attributes=_level_attributes(previous.attrs.asdict()))
        axis = factors.index(2)  # y, the first halved axis: channels and z are not
        band = chunks[axis] * PYRAMID_BAND_CHUNKS
        bands = math.ceil(shape[axis] / band)
        for index, start in enumerate(range(0, shape[axis], band), start=1):
            if on_band is not None:
                on_band(level, index, bands)
            rows = slice(start, min(start + band, shape[axis]))
            # Named anew, as the input's scan is (see tiledeblur.pipeline): a replaced output's levels have its path.
            source = da.from_zarr(previous, name=False)[_along(axis, slice(2 * rows.start, 2 * rows.stop))]
            mean = functools.partial(_mean_of_present, missing_value=missing_value)
            halved = da.coarsen(mean, source, dict(enumerate(factors)), trim_excess=True)
            # Bands start on whole chunks of the level, so no two tasks write one chunk.
            stored = da.store(halved.rechunk(chunks), target, lock=False,
                              regions=_along(axis, rows), compute=False)
            if client is None:
                stored.compute()
            else:
                from .cluster import result_of  # only here: convert, which has no client, needs no distributed

                result_of(client, stored)
        if on_built is not None:
            on_built(level)


def _level_attributes(finer):
    """The attributes of a level from those of the ``finer`` one: all but those of level 0's pixel grid alone.

    A CF reader decoded level 0 of a deblurred uint8 scan with its
    ``scale_factor`` and the next level without it, 510 times apart (found
    by a probe). A FITS header's WCS maps level 0's pixels, and a run's record
    vouches for level 0's chunks.

    Examples
    --------
    >>> _level_attributes({"units": "K", "scale_factor": 510.0, "fits_header": {"CDELT1": 1e-4}, "tiledeblur": {}})
    {'units': 'K', 'scale_factor': 510.0}
    """
    return {key: value for key, value in finer.items() if key not in LEVEL_ZERO_ATTRIBUTES}


def _mean_of_present(block, axis=None, *, missing_value=None):
    """The mean along ``axis`` of the pixels present, in ``block``'s dtype (rounded for integers).

    Present means neither NaN nor ``missing_value``; where none is, the mean
    is missing too: NaN, or exactly ``missing_value`` (int64's largest
    value does not survive float64).

    Examples
    --------
    >>> _mean_of_present(np.array([[1.0, np.nan], [np.nan, np.nan]]), axis=1).tolist()
    [1.0, nan]
    >>> _mean_of_present(np.array([[3, 0], [0, 0]], dtype=np.uint8), axis=1, missing_value=0).tolist()
    [3, 0]
    """
    integers = block.dtype.kind in "ui"
    if integers and missing_value is None:  # no pixel is missing: 3 times as fast as below
        return np.round(np.mean(block, axis=axis)).astype(block.dtype)
    values = block if missing_value is None else np.where(block == missing_value, np.nan, block.astype(np.float64))
    present = ~np.isnan(values)
    # np.nanmean's sum and count, without its "Mean of empty slice" warning, which is the point here: silencing it
    # with warnings.catch_warnings() is not thread-safe, and dask's threads printed it (found by a probe).
    with np.errstate(invalid="ignore"):
        mean = np.sum(np.where(present, values, 0), axis=axis, dtype=values.dtype) / np.sum(present, axis=axis)
    absent = np.isnan(mean)
    if integers:
        mean = np.round(np.where(absent, 0, mean))
    result = mean.astype(block.dtype)
    return result if missing_value is None else np.where(absent, missing_value, result)


def _along(axis, rows):
    """The index that takes ``rows`` along ``axis`` and everything along the others."""
    return (slice(None),) * axis + (rows,)
