"""Where a run's output goes: the path given, or by default beside the input's store, and never inside it.

:func:`tiledeblur.plan` and :func:`tiledeblur.run` place the output with
:func:`output_location` before they read the input's sample, so that a path
that cannot take the output is refused before minutes of work. The checks of
the path itself, its folder's name and its place among other stores, are
:class:`~tiledeblur.io.Location`'s.
"""

import dataclasses
import os
import re
from pathlib import Path

import fsspec

from .io import Location, store_errors

__all__ = ["output_location"]


def output_location(output, source, component, storage_options):
    """Where the output goes: ``output``, or by default beside the store that holds the input, never inside it.

    The output takes the ``storage_options`` given, which a local input drops
    (found by a probe: an S3 output of a local scan went without its endpoint
    and credentials).

    The default of ``scan.zarr`` is ``scan.deblurred.zarr``; that of the
    array ``slides.zarr/a/b``, inside the store ``slides.zarr``, is
    ``slides.a.b.deblurred.zarr`` beside that store, whether ``a/b`` is part
    of the path or the ``component`` given.
    """
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise TypeError(f"output: expected None, a str or an os.PathLike, got {output!r} instead.")
    root = source.store_root()
    if output is None:
        inner = source.url.rstrip("/").removeprefix(root.url.rstrip("/")).strip("/")
        names = [name for part in (inner, component or "") for name in part.split("/") if name]
        # A suffix in capitals too (found by a probe: UP.ZARR.deblurred.zarr beside scan.deblurred.zarr).
        stem = re.sub(r"\.zarr$", "", root.url.rstrip("/"), flags=re.IGNORECASE)
        output = ".".join([stem, *names]) + ".deblurred.zarr"
    target = Location.at(output, storage_options=storage_options, name="output")
    target.check_folder_name()
    if target.is_local and os.path.islink(target.url):
        # The store is where the link leads, as for a shell's cp: zarr would not replace a link for overwrite=True,
        # and a link to nowhere yet passed for another run's new output (found by a probe).
        target = dataclasses.replace(target, url=_link_target(target.url))
    try:
        if _same_store(root, target):
            raise ValueError(
                f"output: expected a path apart from the input's store {root.url!r}, got {target.url!r}, "
                "which would write into it."
            )
        target.check_outside_stores()
    except store_errors() as error:  # a server that is down (found by a probe: its error named no argument)
        raise ValueError(f"output: expected a store that this process can reach, got {target.url!r}, which it could "
                         f"not ({type(error).__name__}: {error}).") from None
    return target


def _same_store(first, second):
    """Whether one location is, or lies inside, the other.

    Local paths are compared by device and inode as well, folder by folder:
    one store reached by two paths, through a bind mount or a second mount
    of a share, was deleted by ``overwrite=True`` (found by a probe).
    """
    paths = []
    for location in (first, second):
        _, path = fsspec.core.url_to_fs(location.url, **location.storage_options)
        protocol = fsspec.core.split_protocol(location.url)[0]
        if protocol is None:
            path = os.path.realpath(path)
        paths.append((protocol, path.rstrip("/") + "/"))
    (protocol_a, a), (protocol_b, b) = paths
    if protocol_a != protocol_b:
        return False
    if a.startswith(b) or b.startswith(a):
        return True
    return protocol_a is None and (_lies_in(a, b) or _lies_in(b, a))


def _lies_in(path, folder):
    """Whether the local ``path``, or a folder above it, is the existing ``folder`` itself."""
    try:
        folder_status = os.stat(folder)
    except OSError:
        return False
    return any(os.path.samestat(os.stat(above), folder_status)
               for above in (path, *map(str, Path(path).parents)) if os.path.exists(above))


def _link_target(link):
    """Where the symbolic link ``link`` leads, existing or not yet; refused where it leads round in a loop."""
    try:
        return os.path.realpath(link, strict=True)
    except FileNotFoundError:
        return os.path.realpath(link)
    except OSError as error:  # a loop passed for another run's new output (found by a probe)
        raise ValueError(f"output: expected a path, or a link to one, got {link!r}, a loop of links "
                         f"({error.strerror}).") from None
