"""``run()``: plan the tiles, submit them to dask, show progress, resume.

Each tile is one task: it reads its core plus halo from the input (clipped at
the image's edge), deconvolves its channels with :func:`tiledeblur.solver.solve_channels`,
keeps the core, writes it as whole output chunks and then its done-marker.
Tasks are submitted through a bounded window, so the scheduler holds a few
tasks per worker however many tiles the image has, and the client holds only
the plan, which makes tiles on demand.
"""

import contextlib
import ctypes
import ctypes.util
import dataclasses
import errno
import functools
import itertools
import logging
import math
import os
import time
import warnings

import numpy as np
from distributed import as_completed

from ._version import __version__
from .arguments import check_flag
from .blas import hold_one_blas_thread, one_blas_thread
from .cluster import (
    check_cluster_options,
    check_scheduler,
    check_worker_versions,
    connect,
    dashboard_line,
    threads,
    worker_resources,
    workers,
)
from .fits import FITS_HEADER_ATTRIBUTE
from .image import to_float
from .io import (
    DoneMarkers,
    OutputCreatedMeanwhileError,
    create_output,
    declared_missing_values,
    fingerprint,
    packing,
    plane_axes,
    read_channels,
    stored_chunks,
    write_channels,
)
from .mainguard import check_main_guarded
from .ome import build_pyramid, multiscale_attributes
from .planning import check_disk_space, face_output, is_complete, prepare, written_dtype
from .progress import HEARTBEAT_SECONDS, Progress, duration_text, tell, tell_of_band
from .resume import (
    CHANGED_INPUT,
    OutputReplacedError,
    owned_output,
    run_identity,
)
from .scan import scan_input
from .settings import DEFAULT_EPS, DEFAULT_MAXITER, DEFAULT_TOL
from .solver import ConvergenceWarning, solve_channels
from .stalls import stalls_told
from .tiling import TilePlan

__all__ = ["RunReport", "TileError", "run"]

#: Attributes that describe how values are stored (netCDF's Climate and
#: Forecast conventions, which xarray applies on reading).
ENCODING_ATTRIBUTES = ("scale_factor", "add_offset", "_FillValue", "missing_value", "valid_min", "valid_max",
                       "valid_range", "_Unsigned")
#: CF's bounds of valid values, which a deblurred image oversteps where it rings: CF readers would take those
#: pixels for missing (found by a probe: a uint16 output of valid_range [0, 4095] held 5162).
VALID_RANGE_ATTRIBUTES = ("valid_min", "valid_max", "valid_range")

logger = logging.getLogger(__name__)

#: The errors of a tile's reads and writes that every other tile would meet too: a full, read-only or over-quota
#: disk, and files that the workers may not write or read.
STOPPING_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM)
#: Tasks in flight per worker thread: enough to keep each busy while results return.
WINDOW_PER_THREAD = 4
#: Seconds between two looks at the cluster's workers while tiles run, so
#: that workers that join a running job (a batch system's late starts, an
#: autoscaler) get tiles too. One look is a round trip to the scheduler.
WORKERS_REFRESH_SECONDS = 2.0


class TileError(RuntimeError):
    """One or more tiles failed; the others are written and a rerun resumes."""


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What :func:`run` did.

    Attributes
    ----------
    output : str
        The output's location: the written array, or the OME-Zarr group whose
        level ``"0"`` it is.
    plan : tiledeblur.tiling.TilePlan
        The tiles, halo and chunks; ``plan.describe()`` for people.
    mu : float or tuple of float
        The weight of an image without channels; for one with channels, a
        tuple of each channel's.
    loss : str or tuple of str
        The loss solved: the one given, or the one that ``loss="auto"`` chose, or a tuple of each channel's where it
        chose them apart, for channels that show different scenes (see :attr:`tiledeblur.tiling.TilePlan.together`).
    tiles_computed, tiles_skipped : int
        Tiles solved by this call, and tiles that an earlier run had finished.
    seconds : float
        The call's wall-clock time.
    channel_axis : int or None
        The channels' axis of input and output, None for 2-D images.
    noise : float, tuple or None
        The noise level that ``denoise`` estimated and took, as ``mu`` is
        given; None (or None for a channel) where there was no denoising
        pass.
    contrast : float, tuple or None
        The contrast that ``nlmeans``' rounds started from, as ``mu`` is
        given; None for the other losses.
    noise_line : NoiseLine, tuple or None
        The line of the noise that ``nlmeans``' denoiser followed, as ``mu``
        is given; None for the other losses, or noise alike at every level.
    mix : tuple or None
        ``laplacian``'s share and weight where ``loss="auto"`` mixed
        ``nlmeans`` with it, as ``mu`` is given; None where there was no mix.
        With it, ``mu``, ``noise``, ``contrast`` and ``noise_line``,
        :func:`tiledeblur.deconvolve` solves a region as the tiles were.
    """

    output: str
    plan: TilePlan
    mu: float | tuple
    loss: str | tuple
    tiles_computed: int
    tiles_skipped: int
    seconds: float
    channel_axis: int | None = None
    noise: float | tuple | None = None
    contrast: float | tuple | None = None
    noise_line: tuple | None = None
    mix: tuple | None = None


def _off_the_marker(marker, wanted, limits):
    """The values next to ``marker``, one for each pixel of ``wanted`` (in the marker's units) that was cast onto it:
    on the pixel's side of it, or inside the range where the marker is one of its ``limits``."""
    if limits.min < marker < limits.max:
        upward = wanted > marker
    else:
        upward = np.full(wanted.shape, marker == limits.min)
    off = np.full(wanted.shape, marker)
    if off.dtype.kind == "f":
        return np.nextafter(off, np.where(upward, np.inf, -np.inf).astype(off.dtype))
    off[upward] += 1  # in place and only where it fits: the marker plus one overflows at the top of the range
    off[~upward] -= 1
    return off


def _cast(restored, dtype, input_dtype, missing_value=None):
    """Convert solved floats to the output dtype; ``"input"`` clips to the input dtype's range.

    In the input's dtype, a missing pixel (NaN) is written as the input's
    ``missing_value``, where one is given, and a present pixel that rounds
    or clips onto that value is written one step off it, towards its own
    value, or inside the range where the value is a limit: else it would
    read as missing (found by a probe: 299 bright pixels of a uint16 scan
    clipped onto its saturation marker, 65535).

    The bounds are the integer limits as float64 holds them, rounded towards
    zero: ``float(2**63 - 1)`` is ``2**63``, which ``int64`` cannot hold.

    Examples
    --------
    >>> _cast(np.array([-0.5, 0.5, 2.0]), "input", np.dtype(np.uint8)).tolist()
    [0, 128, 255]
    >>> int(_cast(np.array([2.0]), "input", np.dtype(np.int64))[0]) == np.iinfo(np.int64).max - 1023
    True
    >>> _cast(np.array([-7e4, 7e4]), "input", np.dtype(np.float16)).tolist()
    [-65504.0, 65504.0]
    >>> _cast(np.array([np.nan, 0.5]), "input", np.dtype(np.uint16), missing_value=65535).tolist()
    [65535, 32768]
    >>> int(_cast(np.array([np.nan]), "input", np.dtype(np.int64), missing_value=2**63 - 1)[0]) == 2**63 - 1
    True
    >>> _cast(np.array([np.nan, 1.2, -0.1, 0.5]), "input", np.dtype(np.uint8), missing_value=255).tolist()
    [255, 254, 0, 128]
    >>> _cast(np.array([np.nan, 0.5, 0.0, 0.503]), "input", np.dtype(np.uint8), missing_value=128).tolist()
    [128, 127, 0, 129]
    >>> _cast(np.array([np.nan, -9999.0]), "input", np.dtype(np.float32), missing_value=-9999).tolist()
    [-9999.0, -9999.0009765625]
    """
    if dtype != "input":
        return restored.astype(dtype)
    missing = np.isnan(restored) if missing_value is not None else None
    if missing is not None:
        restored = np.where(missing, 0, restored)  # set exactly below: through float64, int64's limits are not
    if input_dtype.kind in "ui":
        limits = np.iinfo(input_dtype)
        low, high = (float(limit) if float(limit) == limit else float(np.nextafter(float(limit), 0))
                     for limit in (limits.min, limits.max))
        wanted = restored * limits.max
        cast = np.clip(np.round(wanted), low, high).astype(input_dtype)
    else:
        # A solve can overshoot the input's largest value: float16's is 65504, and past it astype gives inf.
        limits = np.finfo(input_dtype)
        wanted = restored
        cast = np.clip(restored, limits.min, limits.max).astype(input_dtype)
    if missing is not None:
        clash = ~missing & (cast == missing_value)
        if clash.any():
            cast[clash] = _off_the_marker(input_dtype.type(missing_value), wanted[clash], limits)
        cast[missing] = missing_value
    return cast


def _output_missing_value(job):
    """The value that marks a missing pixel in the output: the input's in its dtype, else NaN (None)."""
    return job.missing_value if job.out_dtype == "input" else None


#: glibc's ``mallopt`` parameter: the size from which allocations are mmap'ed.
_M_MMAP_THRESHOLD = -3
#: glibc's largest mmap threshold on 64-bit systems.
_HEAP_ARRAYS_UP_TO = 32 * 2**20


@functools.cache
def _keep_arrays_on_the_heap():
    """Serve the solver's arrays from the heap in this worker process, not from fresh mmaps.

    dask's nanny sets ``MALLOC_TRIM_THRESHOLD_``, which turns off glibc's
    adaptive mmap threshold: every array above 128 KiB is then mapped and
    unmapped afresh, and the page faults made a 600² tile take 18.6 s instead
    of 9.5 s here. A fixed 32 MiB threshold gives the speed back. Where the C
    library has no ``mallopt`` (not glibc) nothing changes.
    """
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).mallopt(_M_MMAP_THRESHOLD, _HEAP_ARRAYS_UP_TO)


def process_tile(job, tile):
    """Deconvolve one tile on a worker and write its core; return its statistics."""
    _keep_arrays_on_the_heap()
    hold_one_blas_thread()
    started = time.perf_counter()
    owned_output(job, tile)  # not solved only to be refused: another run replaced the output (found by a probe)
    source = job.source.open("r")
    channels = read_channels(source, tile.read, job.channel_axis)
    solved = solve_channels([to_float(image, job.missing_value) for image in channels], job.psfs, job.settings,
                            together=job.together)
    unconverged = [(channel, info.message) for channel, (_, info) in enumerate(solved) if not info.converged]
    write_channels(owned_output(job, tile), tile.core, job.channel_axis,
                   _cast(np.stack([restored[tile.trim] for restored, _ in solved]), job.out_dtype, source.dtype,
                         job.missing_value))
    owned_output(job, tile)  # once more: a marker must not vouch for chunks of a replaced output
    DoneMarkers(job.target).mark(tile.index)
    # Image pixels, as the README's rates count them: an RGB pixel is one pixel, not three.
    pixels = math.prod(s.stop - s.start for s in tile.core)
    return {"pixels": pixels, "seconds": time.perf_counter() - started, "unconverged": unconverged}


def _output_chunks(prepared):
    """Chunks of every output level: the plan's chunk in y and x, all channels (and axes of length one) in one."""
    chunks = list(prepared.array.shape)
    for axis in plane_axes(prepared.array.ndim, prepared.job.channel_axis):
        chunks[axis] = prepared.plan.chunk
    return tuple(chunks)


def _output_dtype(prepared):
    """The dtype the output is written in: the input's for ``out_dtype="input"``."""
    return written_dtype(prepared.array, prepared.job.out_dtype)


def _carried_attributes(prepared):
    """The input array's own attributes that hold for the output too, such as a FITS header's WCS.

    Those of ``ENCODING_ATTRIBUTES`` describe how values are stored, and hold
    only where the output stores them as the input does: xarray would apply
    an int16 input's ``scale_factor`` to the output's floats. Bounds of valid
    values (``VALID_RANGE_ATTRIBUTES``) never do. Where the input
    had CF's ``scale_factor`` or ``add_offset``, the output gets its own, and
    a FITS header, where the values were scaled, ``BSCALE``. An output in
    the input's dtype declares a ``missing_value`` given to the run.
    """
    source, scale = prepared.array.attrs.asdict(), prepared.plan.value_scale
    same_dtype = _output_dtype(prepared) == prepared.array.dtype
    carried = {key: value for key, value in source.items() if key != "tiledeblur" and key not in VALID_RANGE_ATTRIBUTES
               and (same_dtype or key not in ENCODING_ATTRIBUTES)}
    packed = packing(prepared.array)
    if not same_dtype and packed:
        # Encoded anew, so that CF readers decode the output to the input's units, which its "units" name (found by
        # a probe: 105 K read as 0.3 K; and a float input's scale factor was dropped).
        carried.update(scale_factor=packed.get("scale_factor", 1) / scale,
                       **({"add_offset": packed["add_offset"]} if "add_offset" in packed else {}))
    missing_value = prepared.job.missing_value
    if same_dtype:
        # A declared value that the run took as data is data in the output: a pixel deblurred onto it (clipped to
        # 65535) read as missing (found by a probe), so its attribute goes.
        declared = declared_missing_values(prepared.array)
        unused = {attribute for attribute, value in declared if value != missing_value}
        for attribute in unused:
            carried.pop(attribute)
        if missing_value is not None and not any(attribute not in unused for attribute, _ in declared):
            # Missing pixels hold the value given: declared as CF does, for readers and a later run (found by a
            # probe: the output of --missing-value 65535 --out-dtype input said nothing of it).
            carried["missing_value"] = missing_value
    if scale != 1 and isinstance(source.get(FITS_HEADER_ATTRIBUTE), dict):
        # Likewise for a FITS writer of the output: its BUNIT and SATURATE are the input's (found by a probe).
        carried[FITS_HEADER_ATTRIBUTE] = {**source[FITS_HEADER_ATTRIBUTE], "BSCALE": 1 / scale}
    return carried


def _create_output(prepared, identity, *, overwrite):
    """Create the output array (in an OME-Zarr group when the plan has a multiscale)."""
    array, job = prepared.array, prepared.job
    group_attributes = None
    dimension_names = getattr(array.metadata, "dimension_names", None)  # the input's axes, which the output keeps
    # The value scale is no setting that a resume compares: it follows from the input's dtype and out_dtype.
    value_scale = prepared.plan.value_scale
    recorded = {"tiledeblur": {**identity, "version": __version__, "run": job.run, "value_scale": value_scale}}
    if prepared.multiscale is not None:
        multiscale = prepared.multiscale.in_units(value_scale)
        # On the group too: a run killed before level 0 exists is then known as this run's.
        group_attributes = {**multiscale_attributes(multiscale, prepared.pyramid), **recorded}
        dimension_names = [axis["name"] for axis in multiscale.axes]
    create_output(
        job.target, shape=array.shape, chunks=_output_chunks(prepared),
        dtype=_output_dtype(prepared),
        zarr_format=array.metadata.zarr_format, attributes={**_carried_attributes(prepared), **recorded},
        overwrite=overwrite, group_attributes=group_attributes, dimension_names=dimension_names,
    )
    # Zarr's "create only if new" looks, then writes: two runs that create it at once may both succeed, and the
    # later metadata stands (found in a test). Identical runs record one token; another's is refused on a new look.
    if not overwrite and job.target.open("r").attrs.get("tiledeblur", {}).get("run") != job.run:
        raise OutputCreatedMeanwhileError(f"output: expected a new path, got {job.target.url!r}, which another run "
                                          "created at the same moment.")


def _warn_unconverged(tile, stats):
    for channel, message in stats["unconverged"]:
        warnings.warn(f"{tile.name}, channel {channel}: Newton-CG did not converge: {message}",
                      ConvergenceWarning, stacklevel=5)  # run, _execute, _compute_tiles, this: the caller of run


def _threads_now(client):
    """A function that gives the threads of the workers that run now (paused ones and none left count for nothing: the
    ETA then said 10 s, found by a probe), looked up every few seconds."""
    looked = {"at": -math.inf, "threads": 1}

    def count():
        if time.monotonic() - looked["at"] >= WORKERS_REFRESH_SECONDS:
            running = {address: worker for address, worker in workers(client).items()
                       if worker.get("status") == "running"}
            looked.update(at=time.monotonic(), threads=threads(running))
        return looked["threads"]

    return count


def _failure(future):
    """The error of a failed or cancelled task, with the worker's traceback.

    Read, not raised: raising it would add this process's frames, and their
    futures, to its traceback, and the client would keep the failed tasks on
    the user's scheduler for as long as it lives (found by a probe).
    """
    if future.status != "error":
        return RuntimeError(f"its task was {future.status}")
    return future.exception().with_traceback(future.traceback())


def _tell_of_stall(message, *, progress):
    """Say a stall of :func:`~tiledeblur.stalls.stalls_told`: a run that waits must not look like a hang.

    Where progress is not shown it is logged as a warning, which Python
    prints on stderr where logging is not set up: not both, or it shows twice.
    """
    if progress:
        tell(message, progress=progress)
    else:
        logger.warning(message)


def _scheduler_lost(computed=None):
    """The :class:`TileError` of a run whose scheduler went away after ``computed`` tiles (None: not while tiles ran)."""
    when = "" if computed is None else f" after {computed} tile{'s' * (computed != 1)} of this run"
    return TileError(
        f"the dask scheduler was lost{when}; every tile written is kept: run again with a running scheduler to "
        "compute only the missing tiles."
    )


@contextlib.contextmanager
def _scheduler_loss_told(client):
    """Raise :func:`_scheduler_lost` for an error of a call to ``client``'s scheduler once it is gone, in any step.

    Found by a probe: a scheduler lost while ``mu`` was estimated, or while
    the run waited for its first worker, ended in dask's own words
    ("ConnectionPool closing.", "Timed out trying to connect").
    """
    try:
        yield
    except OSError as error:
        if not _is_scheduler_gone(client):
            raise
        raise _scheduler_lost() from error


def _is_scheduler_gone(client):
    """Whether ``client``'s scheduler is gone, after an OSError: dask's CommClosedError and TimeoutError are OSErrors,
    but so are a full disk's, a closed pipe's, and a caller's own timeout (found by a probe: a watchdog's
    TimeoutError told as a lost scheduler)."""
    try:
        # The client may not have noticed yet (found by CI): whether the scheduler still answers tells.
        check_scheduler(client.scheduler.address)
    except ValueError:
        return True
    return client.status != "running"


def _stops_every_tile(error):
    """Whether a tile's ``error`` would stop every tile after it: a full, read-only or over-quota disk, files that
    the workers may not write or read, or an output that another run replaced.

    The other tiles were solved in full and then failed at their writes, each
    after minutes on a large scan (found by probes; permissions: on a cluster
    whose workers run as another user than the client, which checked the
    output as its own). One unreadable chunk of the input stops the run too,
    where the others' tiles could have been written: a rerun computes them.

    Examples
    --------
    >>> _stops_every_tile(PermissionError(errno.EACCES, "Permission denied")), _stops_every_tile(MemoryError())
    (True, False)
    """
    return isinstance(error, OutputReplacedError) or (
        isinstance(error, OSError) and error.errno in STOPPING_ERRNOS)


def _compute_tiles(client, prepared, finished, *, show_progress):
    """Submit the unfinished tiles through a window that follows the workers; return how many were computed."""
    plan = prepared.plan
    todo = (tile for tile in plan.tiles(spread=True) if tile.index not in finished)
    threads_now = _threads_now(client)
    progress = Progress(total=len(plan), already_done=len(finished), threads=threads_now, enabled=show_progress)
    run_token = os.urandom(4).hex()
    in_flight, queue = {}, as_completed(loop=client.loop)  # not the default client's: another run's

    def submit(tile):
        key = f"deconvolve-tile-{run_token}-{tile.index[0]}-{tile.index[1]}"
        future = client.submit(process_tile, prepared.job, tile, key=key, pure=False)
        in_flight[future.key] = tile
        queue.add(future)

    def fill():
        # At least one tile in flight, or the loop over them would end with none left to wait for.
        for tile in itertools.islice(todo, max(0, WINDOW_PER_THREAD * max(1, threads_now()) - len(in_flight))):
            submit(tile)

    fill()
    failures, computed, stopped = [], 0, False
    try:
        with progress.beating():
            for future in queue:
                tile = in_flight.pop(future.key)
                if future.status == "finished":
                    stats = future.result()
                    computed += 1
                    progress.advance(pixels=stats["pixels"], seconds=stats["seconds"])
                    _warn_unconverged(tile, stats)
                else:
                    failures.append((tile, _failure(future)))
                    stopped = _stops_every_tile(failures[-1][1])
                    if stopped:
                        break  # the tiles in flight are cancelled below, and no more are solved only to fail
                if client.status != "running":  # reconnection failed: no task can finish, none can be submitted
                    raise _scheduler_lost(computed)
                fill()
    except OSError as error:
        # Tasks report their own errors through their futures: here a call to the scheduler fails, such as a
        # finished tile's result that cannot arrive once the scheduler is gone (found by CI), or the caller's own.
        if not _is_scheduler_gone(client):
            raise
        raise _scheduler_lost(computed) from error
    finally:
        progress.close()
        client.cancel(list(queue.futures))
    if failures:
        raise _tile_error(failures, total=len(plan), computed=computed, finished=len(finished),
                          stopped=stopped) from failures[0][1]
    return computed


def _tile_error(failures, *, total, computed, finished, stopped):
    """The :class:`TileError` of a run whose tiles ``failures``, each ``(tile, error)``, failed of ``total``: it
    names the first failure, and tells what a rerun does. The run computed ``computed`` tiles, earlier runs had
    written ``finished``, and where ``stopped`` no tile could be written."""
    tile, error = failures[0]
    if isinstance(error, OutputReplacedError):
        advice = "No further tile was started: the output is no longer this run's, and holds nothing to resume."
    elif stopped:
        advice = ("No further tile was started, since none could be written: fix the cause and run again to "
                  "compute only the missing tiles.")
    elif computed == 0:
        kept = f" The {finished} tiles that earlier runs wrote are kept." if finished else ""
        advice = f"None of this run's tiles was written: fix the cause and run again.{kept}"
    else:
        advice = "Every other tile is written: fix the cause and run again to compute only the missing tiles."
    return TileError(f"{len(failures)} of {total} tiles failed; the first, {tile.name}, raised "
                     f"{type(error).__name__}: {str(error).rstrip('.')}. {advice}")


def _execute(client, prepared, identity, finished, *, replace, progress):
    """Create the output if needed, compute its missing tiles and build its pyramid; return how many tiles were computed."""
    dashboard = dashboard_line(client)
    logger.info("%s; %s", dashboard, prepared.plan.describe())
    tell(f"{dashboard}\n{prepared.plan.describe()}", progress=progress)
    with stalls_told(client, functools.partial(_tell_of_stall, progress=progress)):
        markers = DoneMarkers(prepared.job.target)
        if finished is None:  # a resumed output's run scanned this input before it created the output
            scan_input(client, prepared, progress=progress)
            _create_output(prepared, identity, overwrite=replace)
        elif len(finished) < len(prepared.plan):
            markers.forget_levels()
        computed = _compute_tiles(client, prepared, finished or set(), show_progress=progress)
        _check_input_unchanged(prepared, identity)
        if prepared.multiscale is not None:
            build_pyramid(client, prepared.job.target.url, prepared.pyramid, _output_chunks(prepared),
                          storage_options=prepared.job.target.storage_options or None,
                          missing_value=_output_missing_value(prepared.job), first_level=markers.levels_built() + 1,
                          on_band=functools.partial(tell_of_band, levels=len(prepared.pyramid) - 1,
                                                    progress=progress),
                          on_built=markers.mark_level)
    return computed


def _check_input_unchanged(prepared, identity):
    """Refuse to finish a run whose input changed while its tiles read it, and keep a rerun from resuming it.

    Zarr reads a missing chunk as the fill value: chunks removed, or not yet
    uploaded, while the run read them made tiles of zeros, marked done, that
    every rerun then kept (found by a probe). The fingerprint is taken again
    and compared with the start's, and an output that it shows wrong records
    :data:`CHANGED_INPUT` as its input's, which no rerun's matches.
    """
    started = identity["input"]
    if (fingerprint(prepared.array), stored_chunks(prepared.job.source)) == (started["fingerprint"],
                                                                            started["stored_chunks"]):
        return
    output = prepared.job.target.open("r+")
    recorded = dict(output.attrs["tiledeblur"])
    output.attrs["tiledeblur"] = {**recorded, "input": {**recorded["input"], "fingerprint": CHANGED_INPUT}}
    raise TileError(
        f"the input {prepared.job.source.array_url!r} changed while this run read it: its fingerprint, taken again "
        "once every tile was written, differs from the start's, so tiles may hold old data, or the fill value of "
        "chunks that were missing. Once the input stays as it is, run again and pass overwrite=True."
    )


def _wait_for_a_worker(client, *, progress):
    """Wait until the cluster has a worker, and say so again every ``HEARTBEAT_SECONDS``: the workers' memory sets
    the tile, and batch systems start them late (found by a probe: one line, then silence for as long as the queue
    held them, as a hung run shows)."""
    started = time.monotonic()
    while not workers(client):
        waited = time.monotonic() - started
        so_far = f", {duration_text(waited)} so far" if waited >= 1 else ""
        # The link too: the dashboard shows the scheduler's state while the workers queue (found by a probe). Once
        # waited, a stall, which progress=False logs (found by a probe: silence, for as long as none came).
        (_tell_of_stall if so_far else tell)(f"waiting for the cluster's first worker{so_far}; "
                                             f"{dashboard_line(client)}", progress=progress)
        with contextlib.suppress(TimeoutError):  # dask's WorkerStartTimeoutError: time to say so again
            client.wait_for_workers(1, timeout=HEARTBEAT_SECONDS)


@contextlib.contextmanager
def _advice_to_resume(overwrite):
    """Tell how to resume: an interruption gets the advice that the command line prints (found by a probe: a
    notebook's showed none), and where ``overwrite``, a :class:`TileError`'s advice to run again, which would then
    start anew, says to resume without it (found by a probe: a lost scheduler's "every tile written is kept: run
    again" with --overwrite)."""
    try:
        yield
    except TileError as error:
        if overwrite and "overwrite=True" not in str(error):
            error.args = (str(error).replace("run again", "run again without overwrite=True", 1),)
        raise
    except KeyboardInterrupt as interruption:
        interruption.add_note("tiledeblur: the tiles written are kept; "
                              + ("run again without overwrite=True to resume" if overwrite
                                 else "run the same call again to resume"))
        raise


def _check_run_options(*, client, address, n_workers, overwrite, resume, progress):
    """Refuse the options of :func:`run` that no other check sees, before anything starts."""
    for name, flag in (("overwrite", overwrite), ("resume", resume), ("progress", progress)):
        check_flag(name, flag)
    check_cluster_options(client=client, address=address, n_workers=n_workers)


def run(zarr_path, psf, *, output=None, component=None, channel_axis=None, tile="auto", halo="auto",
        loss=None, mu="auto", eps=DEFAULT_EPS, tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER, nonneg=False,
        denoise=True, missing_value=None, storage_options=None, client=None, address=None, n_workers=None,
        out_dtype="float32", ome=None, overwrite=False, resume=True, progress=True):
    """Deconvolve a Zarr image tile by tile on dask.distributed.

    Parameters
    ----------
    zarr_path : str or os.PathLike
        A Zarr array or group (format 2 or 3), as a local path or an fsspec URL
        (``s3://``, ``gs://``, ``file://``...). Opened read-only.
    psf : array_like, str or os.PathLike
        One 2-D PSF for every channel, one per channel (a list, or a
        ``(C, P, Q)`` or ``(P, Q, C)`` stack), or a path that
        :func:`tiledeblur.load_psf` reads.
    output : str or os.PathLike, optional
        Where to write; defaults to the input's name with ``.deblurred.zarr``
        for ``.zarr`` (``scan.zarr`` gives ``scan.deblurred.zarr``), beside
        the store that holds the input.
    component : str, optional
        The array inside a group; an OME-Zarr multiscale group defaults to its
        level 0, as its metadata names it.
    channel_axis : int, optional
        For 3-D data: the channels' axis (0 for ``cyx``, -1 for ``yxc``;
        counted as NumPy counts axes, so 2 is -1), or 1 for a plain ``tczyx``
        array. An OME-Zarr input's channel axis is read
        from its metadata.
    tile : "auto" or int
        Core tile side in pixels, rounded down to whole output chunks of up
        to 512 px (with a warning).
        ``"auto"`` takes 1024 when it fits half a worker's memory limit and
        leaves at least two tiles per worker, and 512 otherwise.
    halo : "auto" or int
        Pixels read around each tile, at least the PSF radius; ``"auto"``
        follows :func:`tiledeblur.tiling.auto_halo`.
    loss, mu, eps, tol, maxiter, nonneg, denoise
        As :func:`tiledeblur.deconvolve`; only the losses that tile,
        ``"laplacian"``, ``"nlmeans"``, ``"tikhonov"`` and ``"tv"``, are
        accepted, and ``"auto"``, which chooses ``laplacian``, ``nlmeans``
        or a mix of the two once for every tile (:mod:`tiledeblur.selection`)
        and is the default, None, unless a given ``mu`` rules it out (then
        ``laplacian``); ``RunReport.loss`` and
        ``RunReport.mix`` report the choice.
        ``mu="auto"``, the default, chooses one mu per channel for every
        tile by generalized cross-validation on a fixed sample of regions
        (:mod:`tiledeblur.regularization`); ``RunReport.mu`` reports it, a
        tuple of one per channel for an image with channels. A given ``mu``
        is one weight for every channel, or a list of one per channel. Every
        tile uses the ``free`` boundary model, at the image's border and
        beyond its halo.
    missing_value : int or float, optional
        An input value that marks a pixel without a datum, as NaN does in a
        float image: the fill of a stitched mosaic where no field of view
        was taken (often 0), or a sensor's saturated count. Such pixels are
        left out of the data term, as NaN is (see :func:`tiledeblur.deconvolve`);
        the output holds NaN there, or ``missing_value`` with
        ``out_dtype="input"``. By default, the input's own by the CF
        conventions, as xarray reads it: its ``_FillValue`` or
        ``missing_value`` attribute; else none.
    storage_options : dict, optional
        fsspec options for both input and output.
    client : distributed.Client, optional
        Run on this client; left open.
    address : str, optional
        Run on the scheduler at this address. Its workers need tiledeblur
        installed and must reach the input and output paths themselves.
    n_workers : int, optional
        Workers of the local cluster started when neither ``client`` nor
        ``address`` is given; defaults to one per core that this process may
        use (its CPU affinity and cgroup limits).
    out_dtype : {"float32", "float64", "input"}
        ``"input"`` writes the input's dtype: integer outputs are rounded and
        clipped to the dtype's range, so overshoot beyond it is lost.
    ome : bool, optional
        Write an OME-Zarr group: level ``"0"`` and a pyramid of 2 × 2 means
        built from it on the cluster (see :mod:`tiledeblur.ome`). ``None``
        (the default) does so when the input is OME-Zarr, in its NGFF version
        and with its axes and scale.
    overwrite : bool
        Replace an existing output of tiledeblur, this run's own too: every
        tile is computed anew. Never a path that tiledeblur did not write.
    resume : bool
        Continue an interrupted run of identical settings, computing only the
        tiles without a done-marker. With ``False`` an existing output is an error.
    progress : bool
        Print the dashboard link and a progress line to stderr.

    Returns
    -------
    RunReport
        ``report.output`` is the output's location. A report rather than a bare
        location, so that the caller also sees the plan, the mu that
        ``mu="auto"`` chose, and how many tiles were computed or resumed.

    Raises
    ------
    ValueError, TypeError
        For a bad argument, before any tile is solved: the message names it,
        what was expected and what was given.
    TileError
        When tiles fail; it names the first, and every other tile is kept.

    Warns
    -----
    HaloWarning, TileMemoryWarning, MuWarning, PsfWarning, SaturationWarning, DiskSpaceWarning
        Where the plan, the sampled image, the PSF or the output's disk asks
        for the caller's attention (see the README).
    ConvergenceWarning
        For tiles whose solve stopped before it met ``tol``.

    Examples
    --------
    >>> import os, tempfile
    >>> import zarr
    >>> from skimage import data
    >>> from tiledeblur import gaussian_psf, run
    >>> scan = os.path.join(tempfile.mkdtemp(), "scan.zarr")
    >>> _ = zarr.create_array(scan, data=data.camera(), chunks=(256, 256))
    >>> report = run(scan, gaussian_psf(5, 1.0), tile=256, n_workers=1, progress=False)
    >>> os.path.basename(report.output), report.tiles_computed, zarr.open_array(report.output, mode="r").dtype.name
    ('scan.deblurred.zarr', 4, 'float32')
    """
    started = time.perf_counter()
    _check_run_options(client=client, address=address, n_workers=n_workers, overwrite=overwrite, resume=resume,
                       progress=progress)
    local = client is None and address is None
    with contextlib.ExitStack() as stack, _advice_to_resume(overwrite):
        active = None if local else stack.enter_context(connect(client=client, address=address))
        if not local:
            stack.enter_context(_scheduler_loss_told(active))
            _wait_for_a_worker(active, progress=progress)
            check_worker_versions(active, name="client" if client is not None else "address")
        memory_limit, workers = worker_resources(active, n_workers)
        prepared = prepare(
            zarr_path, psf, output=output, component=component, channel_axis=channel_axis, tile=tile,
            halo=halo, loss=loss, mu=mu, eps=eps, tol=tol, maxiter=maxiter, nonneg=nonneg, denoise=denoise,
            missing_value=missing_value, storage_options=storage_options,
            out_dtype=out_dtype, ome=ome, memory_limit=memory_limit, workers=workers,
            new_output=not (resume or overwrite), progress=progress,
        )
        planned, planned_identity = prepared, run_identity(prepared)
        # A second look where an identical run started at the same moment created the output first: this one then
        # resumes it, as if started a moment later (found by a probe: it was refused as if asked for a new path).
        for look in range(2):
            prepared, identity, finished, replace = face_output(
                planned, planned_identity, given_tile=tile, memory_limit=memory_limit, named=output is not None,
                overwrite=overwrite, resume=resume)
            computed = 0
            if is_complete(prepared, finished):  # a finished output needs no cluster, nor room to write
                break
            prepared.job.target.check_writable()
            check_disk_space(prepared, finished, stacklevel=2)
            if active is None:
                check_main_guarded()  # here, where a cluster starts: a finished output needs none (found by a probe)
                active = stack.enter_context(connect(n_workers=n_workers))
            try:
                # Held in the caller's thread, for workers in this very process (a client of processes=False):
                # OpenBLAS ignored the limit that their threads set once this one had set its own, and their tiles
                # came out up to 1.8e-7 from other workers' (found by a probe).
                with one_blas_thread():
                    computed = _execute(active, prepared, identity, finished, replace=replace, progress=progress)
                break
            except OutputCreatedMeanwhileError:
                if look or not resume:
                    raise
    return RunReport(
        output=prepared.job.target.url, plan=prepared.plan, mu=prepared.job.mu, loss=prepared.plan.loss,
        tiles_computed=computed, tiles_skipped=len(finished or ()), seconds=time.perf_counter() - started,
        channel_axis=prepared.job.channel_axis, noise=prepared.job.noise, contrast=prepared.job.contrast,
        noise_line=prepared.job.noise_line, mix=prepared.job.mix,
    )
