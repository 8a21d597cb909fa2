"""The scan of a run's input on the workers, before any tile: what the plan's sample regions cannot see.

The plan reads a few regions; a float input's inf or huge values may lie
anywhere else, and would fail the tiles that hold them, and an input whose
every pixel is ``missing_value`` would be written as NaN throughout.
:func:`scan_input` reads the whole input once, in blocks of whole stored
chunks, and refuses such an input before any tile is written; it warns of
a ``missing_value`` that marks no pixel and of a channel without any.
"""

import math
import warnings

import dask.array as da
import numpy as np
from distributed import as_completed

from .image import check_float_range
from .io import plane_axes, read_decoded
from .progress import Teller, tell

__all__ = ["scan_input"]

#: The size of the blocks in which the workers scan a float input for inf and huge values.
SCAN_BLOCK_BYTES = 64 * 2**20
#: The parts of that scan, in bands of blocks, and the seconds between the lines that tell the share of them done.
SCAN_PARTS, SCAN_TELL_SECONDS = 20, 10.0


def scan_input(client, prepared, *, progress):
    """Refuse, scanning on the workers, inf, huge pixels or no pixel present (see :func:`tiledeblur.image.check_float_range`).

    Integers hold neither inf nor huge values: they are read only where a
    ``missing_value`` may mark every pixel (an image of zeros with
    ``missing_value=0`` wrote an output of NaN before, found by a probe).
    """
    source, missing_value = prepared.job.source, prepared.job.missing_value
    floats = prepared.array.dtype.kind == "f"
    if not floats and missing_value is None:
        return
    tell(f"scanning the input for {'inf, huge values and ' if floats else ''}pixels present (it is read once)",
         progress=progress)
    array = source.open("r")
    # Named anew (False: a random name): dask names from_zarr's tasks by the array's path, not its content, and a
    # rerun on a changed input got the earlier scan's results, which the scheduler still held (found by a test).
    # Read as the tiles are: a chunk that fails to decode is named as bad input, after the reads of the others
    # have ended (found by a probe: a traceback; then some 300 lines of asyncio's from the worker).
    raw = da.from_array(array, chunks=_scan_blocks(array), name=False, getitem=read_decoded)
    channel_axis = prepared.job.channel_axis
    rows = plane_axes(raw.ndim, channel_axis)[0]
    bands = [raw[(slice(None),) * rows + (band,)] for band in _bands(raw.chunks[rows], parts=SCAN_PARTS)]
    parts = _computed_telling(client, [_scanned(band, channel_axis, missing_value) for band in bands],
                              progress=progress)
    by_channel = np.fmax.reduce([part[:-1] for part in parts])
    matched = any(part[-1] for part in parts)
    largest = float(np.fmax.reduce(by_channel))
    name = f"zarr_path {source.array_url!r}"
    if missing_value is not None and not matched and not prepared.plan.missing_value_declared:
        # Found by a probe: a missing_value that the input never holds marks nothing, and said nothing of it. One
        # that the input declares may well mark nothing: it is a default.
        warnings.warn(f"missing_value: no pixel of {source.array_url!r} is {missing_value!r}, so none is left out; "
                      "check the value that marks the input's missing pixels.", UserWarning, stacklevel=4)
    if np.isnan(largest) and missing_value is not None:
        raise ValueError(f"{name}: expected some pixels present, got only missing_value {missing_value!r}"
                         f"{' or NaN' if floats else ''} instead.")
    check_float_range(largest, name=name)
    empty = np.flatnonzero(np.isnan(by_channel)).tolist()
    if empty:
        # An unacquired channel beside others is no error, but its output, all NaN, should not come as a surprise.
        warnings.warn(f"{name}: expected pixels present in every channel, got none in channels {empty} of axis "
                      f"{channel_axis}; the output is all NaN there.",
                      UserWarning, stacklevel=4)  # run, _execute, this: the caller of run


def _scanned(raw, channel_axis, missing_value):
    """Lazily, per channel of ``raw`` the largest magnitude present (NaN where none is), then whether any pixel is
    ``missing_value`` (0 where that is None): one computation, so that the input is read once for both."""
    others = tuple(axis for axis in range(raw.ndim) if axis != channel_axis)
    marked = None if missing_value is None else raw == missing_value
    if raw.dtype.kind == "f":  # a fill such as -1e30 is no datum to refuse
        by_channel = da.nanmax(abs(raw if marked is None else da.where(marked, np.nan, raw)), axis=others)
    else:
        # Booleans alone: as float64, a 64 MiB block of uint8 took 1 GB of a worker's memory (found by a probe).
        by_channel = da.where((~marked).any(axis=others), 1.0, np.nan)
    matched = da.zeros(1) if marked is None else marked.any().reshape(1)
    return da.concatenate([by_channel.reshape(-1), matched])


def _bands(blocks, *, parts):
    """At most ``parts`` slices of whole blocks along an axis of block lengths ``blocks``, which cover it.

    Examples
    --------
    >>> _bands((4, 4, 4, 2), parts=2)
    [slice(0, 8, None), slice(8, 14, None)]
    """
    edges, step = np.cumsum((0, *blocks)).tolist(), math.ceil(len(blocks) / parts)
    return [slice(edges[start], edges[min(start + step, len(blocks))]) for start in range(0, len(blocks), step)]


def _computed_telling(client, collections, *, progress):
    """The results of ``collections``, computed at once on ``client``, telling the share done while that takes long.

    A 100k² slide took minutes to scan, with one line for them (found by a probe).
    """
    futures = client.compute(collections)
    try:
        teller = Teller(every=SCAN_TELL_SECONDS, progress=progress)
        for done, _ in enumerate(as_completed(futures, loop=client.loop), start=1):  # not the default client's
            if done < len(futures):
                teller.tell_if_due(f"scanning the input: {done / len(futures):.0%} read")
        return client.gather(futures)
    finally:
        client.cancel(futures)


def _scan_blocks(array, *, target_bytes=SCAN_BLOCK_BYTES):
    """Blocks of whole stored chunks (or shards) of ``array``, of about ``target_bytes``, for one scan task each.

    One task per chunk made the scan of a 2048² image of 32² chunks take 24 s
    where 512² chunks took 6 s, and that of 1 px chunks most of a run (found by
    a probe): the scheduler's cost per task outweighs reading a small chunk.
    The axis of the smallest block doubles first, up to the array's length.

    Examples
    --------
    >>> import zarr
    >>> _scan_blocks(zarr.create_array({}, shape=(100, 3000), chunks=(10, 10), dtype="f4"), target_bytes=40_000)
    (100, 160)
    """
    blocks = list(getattr(array, "shards", None) or array.chunks)
    shape = array.shape
    while math.prod(blocks) * array.dtype.itemsize < target_bytes:
        growing = [axis for axis, (block, n) in enumerate(zip(blocks, shape)) if block < n]
        if not growing:
            break
        axis = min(growing, key=lambda axis: blocks[axis])
        blocks[axis] = min(2 * blocks[axis], shape[axis])
    return tuple(blocks)
