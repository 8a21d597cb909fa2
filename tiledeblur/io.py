"""Zarr in and out: read-only inputs, OME-Zarr level 0, outputs, done-markers.

Inputs are opened with ``mode="r"``, so nothing here can write to them. A
location is a local path or any URL that fsspec understands (``s3://``,
``gs://``, ``file://``...), with ``storage_options`` passed through; workers
reopen it themselves from a :class:`Location`, so no pixel passes through the
client.

Done-markers
------------
zarr 3 does not write a chunk equal to the fill value, so whether a chunk
exists says nothing about whether its tile was computed. Each finished tile
therefore writes an empty marker object, ``.tiledeblur/done/<row>.<col>``,
inside the output array's folder, after its chunks; a resumed run lists them
once.
"""

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import math
import numbers
import os
import posixpath
import re
import shutil
import sys
import urllib.parse
import warnings
from pathlib import Path

import fsspec
import numpy as np
import zarr
import zarr.core.sync

from .ome import chunk_keys, first_multiscale

__all__ = [
    "DoneMarkers", "Location", "OutputCreatedMeanwhileError", "create_output", "declared_missing_values", "filesystem",
    "fingerprint", "layout_images", "local_path", "open_input", "packing", "plane_axes", "read_channels",
    "read_decoded", "store_errors", "write_channels",
]

#: The array attribute in which :func:`tiledeblur.convert.convert` records a
#: lossy compression of the source file, which ``mu="auto"`` warns of.
SOURCE_ATTRIBUTE = "tiledeblur_source"

#: fsspec's protocols of this machine's files (None: a plain path).
LOCAL_PROTOCOLS = (None, "file", "local")
MARKER_FOLDER = ".tiledeblur/done"
#: The marker, among the tiles' markers, of a pyramid built from all of them.
PYRAMID_MARKER = "pyramid"
#: The files that make a folder a Zarr array or group: version 3, version 2.
ZARR_METADATA_FILES = ("zarr.json", ".zgroup", ".zarray")
#: Chunks of the input that its fingerprint hashes (see :func:`fingerprint`).
FINGERPRINT_CHUNKS = 64
#: How long a failed read waits, at most, for the reads of the other chunks that it started (:func:`_settle_reads`):
#: local files take milliseconds, and a remote store's timeouts are its own.
SETTLE_SECONDS = 10.0


def filesystem(url, storage_options):
    """fsspec's filesystem of ``url`` and the path on it, with whatever it had listed before forgotten.

    fsspec keeps one filesystem per set of options in a process, and s3fs
    keeps the listings that it made: a rerun in the process of an earlier run
    took that run's done-markers, which another process had changed since,
    and left two tiles unwritten, NaN, without an error (found by a probe).
    """
    fs, path = fsspec.core.url_to_fs(url, **storage_options)
    fs.invalidate_cache()
    return fs, path


def store_errors():
    """The errors of a store that cannot be reached or read: OSError, and the S3 client's own where it is loaded.

    botocore's errors of credentials and connections are no OSErrors (found
    by a probe: a local scan's S3 output without credentials, or at an
    endpoint that was down, ended in tracebacks of 78 and 149 lines).
    """
    botocore = sys.modules.get("botocore.exceptions")
    return (OSError,) if botocore is None else (OSError, botocore.BotoCoreError)


def local_path(path, *, name):
    """``path``, a local path or a ``file://`` URL of this machine, as a :class:`pathlib.Path`.

    A ``file://`` URL is percent-decoded, as URLs are written, and may name
    this machine as ``localhost``; a plain path is taken as it is, and ``~``
    is the user's home, as in a shell, not a folder of that name (found by a
    probe). Other URLs are refused as the argument ``name``: a PSF, an image
    to convert and a picture are read or written here (found by a probe:
    ``convert`` wrote ``s3://bucket/scan.zarr`` into a local folder ``s3:``).

    Examples
    --------
    >>> str(local_path("file:///data/psf%20one.npy", name="psf")), str(local_path("/data/100%25.npy", name="psf"))
    ('/data/psf one.npy', '/data/100%25.npy')
    >>> str(local_path("file://localhost/data/psf#1.npy", name="psf"))
    '/data/psf#1.npy'
    >>> local_path("s3://bucket/psf.npy", name="psf")
    Traceback (most recent call last):
    ...
    ValueError: psf: expected a local path or a file:// URL, got 's3://bucket/psf.npy' instead.
    """
    if isinstance(path, (str, os.PathLike)) and "\x00" in str(os.fspath(path)):
        # The system's "embedded null byte" named no argument (found by a probe).
        raise ValueError(f"{name}: expected a path without a NUL character, got {os.fspath(path)!r} instead.")
    if isinstance(path, os.PathLike):  # a path object is no URL, whatever it holds
        return Path(os.path.expanduser(os.fspath(path)))
    if not isinstance(path, str):  # str() made a folder of None, or of b'x.zarr' (found by a probe)
        raise TypeError(f"{name}: expected a path (str or os.PathLike), got {type(path).__name__} {path!r} instead.")
    text = path
    protocol, local = fsspec.core.split_protocol(text)
    # Blank is no path: Path("") is the working directory (found by a probe: convert's refusal named '.').
    if protocol not in LOCAL_PROTOCOLS or not text.strip():
        raise ValueError(f"{name}: expected a local path or a file:// URL, got {text!r} instead.")
    if protocol == "file" and text.startswith("file://"):
        # Host and path by hand: a URL parser would cut a file name at "#" or "?" (found by review).
        host, slash, local = text.removeprefix("file://").partition("/")
        if host not in ("", "localhost"):
            raise ValueError(f"{name}: expected a file:// URL of this machine (no host, or localhost), got "
                             f"{text!r}; mount the share and pass its local path.")
        local = slash + local
    if protocol is not None:
        local = urllib.parse.unquote(local)
    return Path(os.path.expanduser(local))


@dataclasses.dataclass(frozen=True)
class Location:
    """Where an array lives: a store URL or path, a path inside it, and options.

    Make one with :meth:`at`, which turns ``file://`` URLs into local paths,
    so that zarr opens them with its own local store (and, from zarr 3.4 on,
    refuses ``storage_options`` for them) on every zarr version alike.
    """

    url: str
    component: str = ""
    storage_options_json: str = "{}"

    @classmethod
    def at(cls, url, component="", storage_options=None, *, name="zarr_path"):
        """The location of ``url``; ``storage_options`` are kept for remote stores only.

        A URL whose protocol fsspec does not know, or whose package is not
        installed (``s3://`` needs s3fs), is refused as the argument ``name``.
        A ``file://`` URL is percent-decoded, as URLs are written, and may
        name this machine as ``localhost``; a plain path is taken as it is.

        Examples
        --------
        >>> Location.at("file:///data/slide%20one.zarr").url, Location.at("/data/100%25.zarr").url
        ('/data/slide one.zarr', '/data/100%25.zarr')
        >>> Location.at("file://localhost/data/a.zarr").url
        '/data/a.zarr'
        """
        if not str(url).strip():  # found by a probe: '' was the working directory
            raise ValueError(f"{name}: expected a path or a URL, got {str(url)!r} instead.")
        protocol, _ = fsspec.core.split_protocol(str(url))
        if protocol in LOCAL_PROTOCOLS:
            # Absolute: a resume names the same input however it is spelled, and workers started elsewhere find it.
            return cls(os.path.abspath(local_path(url, name=name)), component, "{}")
        if "::" in str(url):
            # Paths inside a chain were split as one store's: "zip://::file:///s/scan.zip" ended in "[Errno 21] Is a
            # directory: '/s'", and fsspec named "simplecache::file" an unknown protocol (found by probes).
            raise ValueError(f"{name}: expected a path or the URL of one store, got {str(url)!r}, a chain of URLs, "
                             "which tiledeblur does not open; unzip or copy the Zarr store out and pass its path.")
        if urllib.parse.urlsplit(str(url)).query:
            # zarr adds its keys after the query, "scan.zarr?token=abc/zarr.json", and read a web server's listing
            # of the folder as metadata (found by a probe).
            raise ValueError(f"{name}: expected a store's URL without a query string, got {str(url)!r}: zarr adds "
                             "each file's name to the URL's path, and a signed URL signs one file, not a store.")
        if protocol == "memory":
            # Found by a probe: planning succeeded, then every tile failed in the workers.
            raise ValueError(f"{name}: expected a store that dask's worker processes can open, got {str(url)!r}: "
                             "a memory:// filesystem lives in one process only.")
        try:
            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as error:
            message = f"{name}: expected a path or a URL that fsspec can open, got {str(url)!r} ({error})."
            raise ValueError(message) from None
        return cls(str(url), component, json.dumps(storage_options or {}, sort_keys=True))

    @property
    def storage_options(self):
        return json.loads(self.storage_options_json)

    @property
    def is_local(self):
        """Whether :attr:`url` is a path on this machine (:meth:`at` makes local URLs plain paths)."""
        return fsspec.core.split_protocol(self.url)[0] is None

    @property
    def array_url(self):
        """The URL of the array itself."""
        return self.url.rstrip("/") + (f"/{self.component}" if self.component else "")

    def store_root(self):
        """The location of the outermost Zarr group whose hierarchy holds :attr:`url`; itself if none does.

        ``"slides.zarr/a"`` names an array inside the store ``slides.zarr``, and
        a bioformats2raw ``"plate.zarr/0"`` an image group inside one: an
        output next to them would write into that store. Every folder above is
        looked at, not only the nearest: a group between the store and the
        array may have no metadata of its own (an implicit group), and stopping
        there put the output inside the store (found by a probe).
        """
        fs, path = filesystem(self.url, self.storage_options)
        root = folder = path.rstrip("/")
        while (parent := posixpath.dirname(folder)) not in (folder, "", "/"):
            if _holds_zarr_metadata(fs, parent):
                root = parent
            folder = parent
        url = root if self.is_local else fs.unstrip_protocol(root)
        return dataclasses.replace(self, url=url, component="")

    def check_outside_stores(self, *, name="output"):
        """Refuse a location inside a Zarr store, which holds only its own arrays and groups.

        Found by probes: an output inside another scan's array, or as a stray
        level of an OME-Zarr image, was written there, and so was a converted
        image, which changed that scan for the runs that had read it.

        Examples
        --------
        >>> import tempfile
        >>> store = os.path.join(tempfile.mkdtemp(), "scan.zarr")
        >>> _ = zarr.create_group(store)
        >>> try:
        ...     Location.at(os.path.join(store, "more.zarr")).check_outside_stores()
        ... except ValueError as error:
        ...     print(str(error).split(", got")[0])
        output: expected a path outside any Zarr store
        """
        holder = self.store_root()
        if holder.url.rstrip("/") != self.url.rstrip("/"):
            raise ValueError(f"{name}: expected a path outside any Zarr store, got {self.url!r}, which lies inside "
                             f"the Zarr store {holder.url!r}; pass a path beside it.")

    def check_folder_name(self, *, name="output"):
        """Refuse a Zip file's name for a store that is written as a folder, which no Zip reader opens (found by
        probes, of run's output and convert's)."""
        if self.url.rstrip("/").lower().endswith(".zip"):
            raise ValueError(f"{name}: expected a folder for the Zarr store, got {self.url!r}, a Zip file's name, "
                             "which tiledeblur does not write: write the folder, then zip it.")

    def check_placeable(self, *, name="output"):
        """Refuse, before any work, a local path where no store can be: a file, or under a file.

        Other stores are left to their own errors, which come when the output
        is created, before the first tile.
        """
        if not self.is_local:
            return
        if os.path.isfile(self.url):
            raise ValueError(f"{name}: expected a new path or a Zarr store, got {self.url!r}, which is a file.")
        existing = self._nearest_existing()
        if not os.path.isdir(existing):
            raise ValueError(f"{name}: expected a path in a folder, got {self.url!r}, which lies under the file "
                             f"{existing!r}.")
        # The first part that is missing may be a link to nothing, such as a scratch disk that is not mounted: zarr
        # then failed to make the folder, which was told as another run's output (found by a probe).
        missing = os.path.join(existing, os.path.relpath(self.url, existing).split(os.sep)[0])
        if os.path.islink(missing):
            raise ValueError(f"{name}: expected a path whose folders exist or can be made, got {self.url!r}, under "
                             f"the link {missing!r} to {os.readlink(missing)!r}, which does not exist.")
        longest = os.pathconf(existing, "PC_NAME_MAX")
        too_long = [part for part in os.path.relpath(self.url, existing).split(os.sep)
                    if len(os.fsencode(part)) > longest]
        if too_long:  # plan passed them, and the run failed once the cluster had started (found by a probe)
            raise ValueError(f"{name}: expected names of at most {longest} bytes, as the disk of {existing!r} holds, "
                             f"got {self.url!r}, whose {too_long[0][:40]!r}... has {len(os.fsencode(too_long[0]))}.")

    def check_writable(self, *, name="output"):
        """Refuse, before any work, what cannot be written: as :meth:`check_placeable`, a read-only path, HTTP.

        Examples
        --------
        >>> Location("https://example.org/scan.deblurred.zarr").check_writable()
        Traceback (most recent call last):
        ...
        ValueError: output: expected a store this process can write, got 'https://example.org/scan.deblurred.zarr', \
which HTTP serves read-only; pass an output on a local disk or a writable store.
        """
        self.check_placeable(name=name)
        if not self.is_local:
            if fsspec.core.split_protocol(self.url)[0] in ("http", "https"):
                # fsspec reads HTTP only: a default output beside an input served so failed in a 52-line traceback,
                # once the cluster had started (found by a probe).
                raise ValueError(f"{name}: expected a store this process can write, got {self.url!r}, which HTTP "
                                 "serves read-only; pass an output on a local disk or a writable store.")
            return
        existing = self._nearest_existing()
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"{name}: expected a path this process may write, got {self.url!r}; {existing!r} is "
                             "read-only.")

    def free_bytes(self):
        """The free space of the local disk that holds :attr:`url`; None for other stores."""
        if not self.is_local:
            return None
        return shutil.disk_usage(self._nearest_existing()).free

    def _nearest_existing(self):
        """The local :attr:`url`, or the nearest folder above it that exists."""
        existing = self.url
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        return existing

    def holds_zarr(self):
        """Whether :attr:`url` is a Zarr array or group, or what a run left of one, which ``overwrite`` may replace.

        A run's leftovers are its done-markers without the metadata (found by a
        probe: an overwrite that raced another run left them, and the path
        was refused for good).
        """
        fs, path = filesystem(self.url, self.storage_options)
        return _has_zarr_metadata(fs, path) or DoneMarkers(self).exist()

    def open(self, mode="r"):
        """Open the array (``mode="r"``: read-only).

        Not cached: a worker that outlives one run must see the metadata of the
        next one written at the same path.
        """
        return _open_array(self, mode)


def _has_zarr_metadata(fs, path):
    """Whether the folder ``path`` of ``fs`` is a Zarr array or group."""
    return any(fs.exists(f"{path.rstrip('/')}/{name}") for name in ZARR_METADATA_FILES)


def _holds_zarr_metadata(fs, path):
    """Whether the folder ``path`` of ``fs`` holds Zarr metadata: a file of its name whose JSON gives a Zarr format.

    Not its name alone: a project's own ``zarr.json`` of settings made every
    path below it count as inside a store (found by a probe). The name alone
    (:func:`_has_zarr_metadata`) still tells an output to replace, whose
    metadata may be damaged.
    """
    for name in ZARR_METADATA_FILES:
        try:
            metadata = json.loads(fs.cat_file(f"{path.rstrip('/')}/{name}"))
        except (OSError, ValueError):  # none there, unreadable, or no JSON
            continue
        if isinstance(metadata, dict) and "zarr_format" in metadata:
            return True
    return False


def _open_array(location, mode):
    group_or_array = zarr.open(location.url, mode=mode, storage_options=location.storage_options or None,
                               use_consolidated=False)  # see open_input
    return group_or_array[location.component] if location.component else group_or_array


def _multiscale_level0(group, url):
    """The path of level 0 of the OME-Zarr (NGFF 0.4 or 0.5) group at ``url``, or None."""
    found = first_multiscale(group.attrs.asdict(), url=url)
    return found[1]["datasets"][0]["path"] if found is not None else None


def _default_component(group, url):
    """What the group at ``url`` given without ``component`` means: a multiscale's level 0, or bioformats2raw's first
    image."""
    level0 = _multiscale_level0(group, url)  # first: it refuses metadata that is not NGFF's
    return "0" if "0" in _layout_images(group) else level0


def _layout_images(group):
    """The names of the images of bioformats2raw's layout in ``group``, in their order; none for other groups."""
    attributes = group.attrs.asdict()
    if "bioformats2raw.layout" not in attributes.get("ome", attributes):
        return []
    with warnings.catch_warnings():
        # Its OME folder holds the OME-XML, which zarr warned of as no node on every plan and run (found by a probe).
        warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr hierarchy")
        members = group.members()
    return sorted((name for name, node in members if name.isdigit() and isinstance(node, zarr.Group)), key=int)


def layout_images(location):
    """The names of the images in the store at ``location`` if it has bioformats2raw's layout, in their order; [] for
    other stores.

    Examples
    --------
    >>> import os, tempfile
    >>> root = zarr.open_group(os.path.join(tempfile.mkdtemp(), "plate.zarr"), mode="w",
    ...                        attributes={"bioformats2raw.layout": 3})
    >>> for name in ("0", "1", "10", "2", "OME"):
    ...     _ = root.create_group(name)
    >>> layout_images(Location.at(root.store.root))
    ['0', '1', '2', '10']
    """
    return _layout_images(zarr.open_group(location.url, mode="r", storage_options=location.storage_options or None,
                                          use_consolidated=False))  # see open_input


def _holds(group, component):
    """Whether ``component`` names a member of ``group``; zarr raises on paths with ``.`` or ``..`` (found by a probe)."""
    try:
        return component in group
    except ValueError:
        return False


def open_input(url, *, component=None, storage_options=None):
    """Open an input array read-only; resolve groups to one array.

    Parameters
    ----------
    url : str or os.PathLike
        A Zarr array or group, as a local path or an fsspec URL.
    component : str, optional
        The array inside a group. For an OME-Zarr multiscale group, the default
        is level 0 as its metadata names it; for bioformats2raw's layout, level
        0 of its first image, ``"0"``. A component that names a multiscale
        group means its level 0.
    storage_options : dict, optional
        Passed to fsspec.

    Returns
    -------
    array : zarr.Array
        Opened with ``mode="r"``.
    location : Location
        What a worker needs to reopen it.
    """
    if not isinstance(url, (str, os.PathLike)):
        # Not its str(), which made a path of an array's printout or of None (found by a probe).
        given, advice = repr(url), ""
        if hasattr(url, "shape"):
            given = f"a {type(url).__module__.partition('.')[0]}.{type(url).__name__} of shape {url.shape}"
            advice = ("; pass the path of its store" if isinstance(url, zarr.Array)
                      else "; tiledeblur.deconvolve takes an image in memory")
        raise TypeError(f"zarr_path: expected a str or an os.PathLike (a Zarr store's path or URL), got {given} "
                        f"instead{advice}.")
    if component is not None and not isinstance(component, str):
        raise TypeError(f"component: expected None or a str, got {component!r} instead.")
    location = Location.at(url, storage_options=storage_options)
    found = _opened_node(location)
    if isinstance(found, zarr.Group):
        component, found = _array_in_group(found, component, location.url)
    elif component is not None:
        raise ValueError(f"component: expected None for the array {location.url!r}, got {component!r} instead.")
    return found, dataclasses.replace(location, component=component or "")


def _opened_node(location):
    """The Zarr array or group at ``location``, opened read-only; a :class:`ValueError` names ``zarr_path`` where
    there is none, or it cannot be read."""
    url = location.url
    try:
        # Each node's own metadata, not a group's consolidated copy of it, which its writer must keep up to date: an
        # array resized after the copy was taken was read at its old shape, and a run deblurred part of it without a
        # word (found by a probe).
        return zarr.open(url, mode="r", storage_options=location.storage_options or None, use_consolidated=False)
    except FileNotFoundError:
        fs, path = filesystem(url, location.storage_options)
        if not fs.exists(path):
            found = "which was not found"
        elif path.lower().endswith(".zip") and fs.isfile(path):  # convert, named below, takes no Zip file either (found by a probe)
            found = "a Zip file, which tiledeblur does not read: unzip the Zarr store in it and pass that"
        else:
            found = "which is not a Zarr array or group (tiledeblur convert imports images)"
        raise ValueError(f"zarr_path: expected an existing Zarr array or group, got {url!r}, {found}.") from None
    except store_errors() as error:  # a server that is down (found by a probe: its error named no argument)
        raise ValueError(f"zarr_path: expected a store that this process can read, got {url!r}, which it could not "
                         f"({type(error).__name__}: {error}).") from None
    except (KeyError, ValueError, TypeError) as error:  # metadata that zarr cannot read (found by a probe)
        raise ValueError(f"zarr_path: expected Zarr metadata that zarr can read, got {url!r}, whose metadata it "
                         f"could not ({type(error).__name__}: {error}).") from None


def _array_in_group(group, component, url):
    """``(component, array)``: the array ``component`` of ``group``, at ``url``, or where it is None the group's
    level 0 (see :func:`open_input`)."""
    given = component is not None
    component = component if given else _default_component(group, url)
    if component is None or not _holds(group, component):
        # Nested too: a group of only "sub/b" listed none (found by a probe).
        members = sorted(name for name, node in group.members(max_depth=None) if isinstance(node, zarr.Array))
        if not members:  # found by a probe: "(one of []), got None"
            raise ValueError(f"zarr_path: expected a Zarr array, or a group that holds one, got {url!r}, a group "
                             "without arrays.")
        if not given and component is not None:
            # Its metadata names it: a store copied in part, not the option, which was not given (a probe).
            raise ValueError(f"zarr_path: expected the array {component!r}, which the OME-Zarr metadata of {url!r} "
                             f"names as level 0, got a group without it (one of {members}); the store may be "
                             "copied in part, or pass component to read another.")
        raise ValueError(
            f"component: expected the array to read inside the group {url!r} (one of {members}), "
            f"got {component!r} instead."
        )
    found = group[component]
    if isinstance(found, zarr.Group) and (level0 := _multiscale_level0(found, f"{url}/{component}")) is not None:
        # An image of bioformats2raw's layout ("0"), or any multiscale named by its group: its level 0.
        component, found = f"{component}/{level0}", found[level0]
    if not isinstance(found, zarr.Array):
        # A str that names a group: a wrong value of the right type.
        raise ValueError(f"component: expected an array, got the group {component!r} instead.")  # noqa: TRY004
    return component, found


def plane_axes(ndim, channel_axis):
    """The ``(y, x)`` axes of an array of ``ndim`` axes with channels on ``channel_axis`` (or None): the last two others.

    Any further axis has length one, such as the single time point and z
    plane of OME-Zarr's ``tczyx``, and is carried along.

    Examples
    --------
    >>> plane_axes(2, None), plane_axes(3, 2), plane_axes(3, 0), plane_axes(5, 1)
    ([0, 1], [0, 1], [1, 2], [3, 4])
    """
    return [axis for axis in range(ndim) if axis != channel_axis][-2:]


def _region_index(yx, channel_axis, ndim):
    """An index of an array of ``ndim`` axes for a ``(y, x)`` region, all channels and the axes of length one."""
    index = [slice(None)] * ndim
    for axis, span in zip(plane_axes(ndim, channel_axis), yx):
        index[axis] = span
    return tuple(index)


def _leading_axes(ndim, channel_axis):
    """The axes that a ``(C, y, x)`` array of the channels keeps, in that order."""
    return ([] if channel_axis is None else [channel_axis]) + plane_axes(ndim, channel_axis)


def read_channels(array, yx, channel_axis):
    """The region ``yx`` of every channel, as a ``(C, y, x)`` array.

    Raises
    ------
    ValueError
        When a chunk of the region cannot be read or decoded, naming the region.
    """
    block = read_decoded(array, _region_index(yx, channel_axis, array.ndim))
    leading = _leading_axes(array.ndim, channel_axis)
    block = np.moveaxis(block, leading, range(len(leading)))
    block = block.reshape(block.shape[:len(leading)])  # the other axes have length one
    return block[None] if channel_axis is None else block


def write_channels(array, yx, channel_axis, channels):
    """Write a ``(C, y, x)`` array into the region ``yx`` of ``array``: the inverse of :func:`read_channels`."""
    leading = _leading_axes(array.ndim, channel_axis)
    block = channels[0] if channel_axis is None else channels
    block = block.reshape(block.shape + (1,) * (array.ndim - len(leading)))
    array[_region_index(yx, channel_axis, array.ndim)] = np.moveaxis(block, range(len(leading)), leading)


def read_decoded(array, index):
    """``array[index]`` as NumPy; a chunk that fails to decode is bad input, reported as such once the reads of the
    region's other chunks have ended (:func:`_settle_reads`)."""
    try:
        return np.asarray(array[index])
    except (OSError, RuntimeError, ValueError) as error:
        _settle_reads()
        region = ", ".join(f"{s.start}:{s.stop}" if isinstance(s, slice) else str(s) for s in index)
        raise _unreadable_chunks(error, f"reading [{region}] of {array.store_path}") from error


def _settle_reads():
    """Wait, up to ``SETTLE_SECONDS``, for the reads that zarr started beside one that failed.

    zarr reads a region's chunks at once and gives up at the first that
    fails; the others, still running when the interpreter exited, were
    destroyed half done, which printed some 250 lines of asyncio errors after
    the command line's one-line error (found by a probe: 32 px chunks).
    """

    async def settled():
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            done, _ = await asyncio.wait(others, timeout=SETTLE_SECONDS)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved, or asyncio logs each failure as never retrieved

    with contextlib.suppress(RuntimeError):  # zarr's loop is closed: nothing runs on it, and the read's error stays
        zarr.core.sync.sync(settled())


def _unreadable_chunks(error, doing):
    """The error for a chunk that failed to decode with ``error`` while ``doing`` something: bad input, named so.

    Examples
    --------
    >>> _unreadable_chunks(RuntimeError("bad frame"), "reading [0:8] of scan.zarr")
    ValueError('zarr_path: expected readable chunks, got RuntimeError (bad frame) reading [0:8] of scan.zarr.')
    """
    return ValueError(f"zarr_path: expected readable chunks, got {type(error).__name__} ({error}) {doing}.")


def declared_missing_values(array):
    """The values that mark an array's missing pixels by the CF conventions, as xarray reads them.

    They are its ``_FillValue`` and ``missing_value`` attributes, each a
    number or a list of numbers, in pairs ``(attribute, value)``. Text is
    decoded as xarray writes a float's to Zarr 3 (base64 of its
    little-endian bytes), or else read as a number's; text that is neither,
    and anything else, is given as it is, for the caller to name. NaN is
    left out: it marks a float's missing pixels anyway. A Zarr 2 array's
    fill value is not taken, which xarray takes for ``_FillValue`` where it
    wrote the array: zarr gives every Zarr 2 array one, 0 by default, and
    images hold real zeros. Found by a probe: the pixels that xarray masked
    were deblurred as data, and rang into their neighbours.

    Examples
    --------
    >>> values = zarr.create_array(zarr.storage.MemoryStore(), shape=(2, 2), dtype="float32")
    >>> values.attrs.update({"_FillValue": "AAAAAAAA+H8=", "missing_value": ["AADIwg==", "-999"]})  # NaN, -100, -999
    >>> declared_missing_values(values)
    [('missing_value', -100.0), ('missing_value', -999.0)]
    """
    declared = []
    for attribute in ("_FillValue", "missing_value"):
        values = array.attrs.get(attribute)
        for value in values if isinstance(values, list) else [] if values is None else [values]:
            value = _decoded_number(value) if isinstance(value, str) else value
            if not (isinstance(value, float) and math.isnan(value)):
                declared.append((attribute, value))
    return declared


def packing(array):
    """An array's CF packing, ``{"scale_factor": ..., "add_offset": ...}``, each a float, of those it declares.

    Each is a number, a list of one (netCDF's attributes are arrays, and
    converters keep them so) or a number's text, as xarray reads them; where
    one is neither, or the array declares itself unsigned by ``_Unsigned``
    where its dtype is signed (or the reverse), which xarray decodes and
    tiledeblur does not, the input is refused. Found by a probe: a list of
    one ended a run in a bare TypeError, and uint8 stored as int8 with
    ``_Unsigned: "true"`` was deblurred with its bright pixels negative.

    Examples
    --------
    >>> values = zarr.create_array(zarr.storage.MemoryStore(), shape=(2, 2), dtype="int16")
    >>> values.attrs.update({"scale_factor": [0.5], "add_offset": "10"})
    >>> packing(values)
    {'scale_factor': 0.5, 'add_offset': 10.0}
    >>> values.attrs["_Unsigned"] = "true"
    >>> packing(values)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: zarr_path: expected values that the array's dtype, int16, holds, got its attribute _Unsigned='true', ...
    """
    attributes = array.attrs.asdict()
    unsigned = str(attributes.get("_Unsigned", "")).lower()
    if array.dtype.kind in "iu" and unsigned in ("true", "false") and (unsigned == "true") != (array.dtype.kind == "u"):
        raise ValueError(f"zarr_path: expected values that the array's dtype, {array.dtype}, holds, got its "
                         f"attribute _Unsigned={attributes['_Unsigned']!r}, netCDF's mark of values stored in the "
                         "other sign, which tiledeblur does not decode; store them in their own dtype (for example "
                         "with NumPy's view).")
    found = {}
    for name in ("scale_factor", "add_offset"):
        if name not in attributes:
            continue
        value = attributes[name]
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        value = _decoded_number(value) if isinstance(value, str) else value
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"zarr_path: expected the attribute {name} to be a finite number, as CF's conventions "
                             f"declare it, got {attributes[name]!r} instead.")
        if name == "scale_factor" and value == 0:
            # Every value would decode to add_offset; the output got a scale_factor of 0 (found by a probe).
            raise ValueError(f"zarr_path: expected the attribute scale_factor to be a number other than 0, got "
                             f"{attributes[name]!r} instead.")
        found[name] = float(value)
    return found


def _decoded_number(text):
    """``text`` as xarray's base64 of a float's bytes, or as a number's text; ``text`` itself where it is neither."""
    with contextlib.suppress(ValueError):  # binascii.Error is one
        raw = base64.b64decode(text, validate=True)
        if len(raw) in (2, 4, 8):  # a number's text decodes to 3, 6, 9... bytes, never to a float's
            return np.frombuffer(raw, dtype=f"<f{len(raw)}")[0].item()
    with contextlib.suppress(ValueError):
        return float(text)
    return text


def fingerprint(array):
    """A SHA-256 over an array's metadata and a sample of its chunks.

    Hashing every pixel of a 30 GB scan would cost a full read, so the sample
    is ``FINGERPRINT_CHUNKS`` chunks spread evenly over the chunk grid, first
    and last included (every chunk of a smaller image): about 50 MB of a 512
    px RGB scan, read at every start. Three chunks, the sample before, were
    often all glass on a slide, and a rerun over another slide of the same
    size resumed and mixed the two (found by a probe). :func:`stored_chunks`
    sees the chunks beyond the sample.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([list(array.shape), str(array.dtype), list(array.chunks)]).encode())
    grid = [max(1, -(-n // c)) for n, c in zip(array.shape, array.chunks)]
    count = math.prod(grid)
    for position in np.unique(np.linspace(0, count - 1, min(count, FINGERPRINT_CHUNKS)).astype(int)):
        corner = np.unravel_index(position, grid)
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(corner, array.chunks))
        digest.update(np.ascontiguousarray(read_decoded(array, region)).tobytes())
    return digest.hexdigest()


def stored_chunks(location):
    """A SHA-256 over the keys of the chunks that the array at ``location`` stores; None where none can be listed.

    One listing sees every chunk, where :func:`fingerprint` samples 64 of a
    100k² slide's 9,604, and missed 16 chunks of tissue removed (found by a
    probe): Zarr stores no chunk of only the fill value, so a copy or upload
    cut short, or another scan's footprint, shows in the keys. Not their
    sizes: a corrupt chunk mended after a run's tiles failed has another
    size, and the rerun is to resume. Only chunks: a viewer that writes its
    display settings into the metadata, or a file manager its hidden files
    (``.DS_Store``), changes no pixel.
    """
    fs, root = filesystem(location.array_url, location.storage_options)
    root = root.rstrip("/")
    try:
        found = fs.find(root)
    except (NotImplementedError, PermissionError):  # a store that cannot list, such as one over plain HTTP
        return None
    keys = (posixpath.relpath(path, root) for path in found)
    chunks = sorted(key for key in keys if key != "zarr.json" and not any(part.startswith(".") for part in key.split("/")))
    return hashlib.sha256(json.dumps(chunks).encode()).hexdigest()


def _unwritten_value(dtype):
    """The fill value of an output in ``dtype``: what its pixels read until their tile is written.

    NaN in a float output, so that the tiles of an unfinished run read as
    missing, not as black that a viewer shows as image (found by a probe);
    0 in an integer one, which has no such value.

    Examples
    --------
    >>> _unwritten_value(np.dtype("float32")), _unwritten_value(np.dtype("uint16"))
    (nan, 0)
    """
    return math.nan if np.dtype(dtype).kind == "f" else 0


class OutputCreatedMeanwhileError(ValueError):
    """Another run created the output between this run's look at its path and the creation."""


def create_output(location, *, shape, chunks, dtype, zarr_format, attributes, overwrite, group_attributes=None,
                  dimension_names=None):
    """Create the output array, writing its attributes; return it.

    A location with a component is an array in a new group, which gets
    ``group_attributes`` (an OME-Zarr multiscale's). In Zarr format 3 the
    array gets ``dimension_names``: the ones NGFF 0.5 requires of its
    arrays, or a plain input's own.
    """
    options = location.storage_options or None
    fill_value = _unwritten_value(dtype)
    try:
        if location.component:
            group = zarr.open_group(location.url, mode="w" if overwrite else "w-", zarr_format=zarr_format,
                                    attributes=group_attributes or {}, storage_options=options)
            return group.create_array(location.component, shape=shape, chunks=chunks, dtype=dtype,
                                      fill_value=fill_value, attributes=attributes,
                                      chunk_key_encoding=chunk_keys(zarr_format),
                                      dimension_names=dimension_names if zarr_format == 3 else None)
        return zarr.create_array(location.url, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill_value,
                                 zarr_format=zarr_format, attributes=attributes, overwrite=overwrite,
                                 dimension_names=dimension_names if zarr_format == 3 else None,
                                 storage_options=options)
    except (FileExistsError, zarr.errors.ContainsArrayError, zarr.errors.ContainsGroupError):
        # Checked before, so another run created it in the meantime.
        raise OutputCreatedMeanwhileError(f"output: expected a new path, got {location.url!r}, which another run has "
                                          "just created.") from None
    except (FileNotFoundError, NotADirectoryError) as error:
        # No folder can be made there, where the checks before could not tell: errno's words alone named no
        # argument (found by a probe: an output under /proc). A full disk stays the system's error.
        raise ValueError(f"output: expected a store this process can create, got {location.url!r}, which could not be "
                         f"created ({error.strerror or error}).") from error


class DoneMarkers:
    """The finished tiles of one output, and whether its pyramid is built, as marker objects in its store."""

    def __init__(self, location):
        self._location = location
        _, root = filesystem(location.array_url, location.storage_options)
        self._folder = f"{root.rstrip('/')}/{MARKER_FOLDER}"

    @property
    def _fs(self):
        # Afresh at each look: the markers that a run reads are written by its workers, in other processes.
        return filesystem(self._location.array_url, self._location.storage_options)[0]

    def mark(self, index):
        """Record tile ``index`` as written."""
        self._fs.makedirs(self._folder, exist_ok=True)
        self._fs.pipe_file(f"{self._folder}/{index[0]}.{index[1]}", b"")

    def exist(self):
        """Whether any marker was written."""
        return self._fs.exists(self._folder)

    def done(self):
        """The set of finished tile indices, from one listing."""
        if not self.exist():
            return set()
        names = (path.rsplit("/", 1)[-1] for path in self._fs.ls(self._folder, detail=False))
        # Only "<row>.<col>" names: a file manager's stray .DS_Store is no tile.
        return {tuple(map(int, name.split("."))) for name in names if re.fullmatch(r"\d+\.\d+", name)}

    def mark_level(self, level):
        """Record pyramid level ``level`` as built, from all of the output's tiles through the levels before it."""
        self._fs.makedirs(self._folder, exist_ok=True)
        self._fs.pipe_file(f"{self._folder}/{PYRAMID_MARKER}.{level}", b"")

    def forget_levels(self):
        """Forget the pyramid levels built, before a tile is written again and leaves them stale."""
        for level in range(self.levels_built(), 0, -1):  # the last first: the count stops at the first gap
            self._fs.rm_file(f"{self._folder}/{PYRAMID_MARKER}.{level}")

    def levels_built(self):
        """How many pyramid levels, from level 1 on, were built: a rerun builds only the levels after them."""
        built = 0
        while self._fs.exists(f"{self._folder}/{PYRAMID_MARKER}.{built + 1}"):
            built += 1
        return built
