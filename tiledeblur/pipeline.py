"""``run()``: plan the tiles, submit them to dask, show progress, resume.

Each tile is one task: it reads its core plus halo from the input (clipped at
the image's edge), deconvolves every channel with :func:`tiledeblur.solver.solve`,
keeps the core, writes it as whole output chunks and then its done-marker.
Tasks are submitted through a bounded window, so the scheduler holds a few
tasks per worker however many tiles the image has, and the client holds only
the plan, which makes tiles on demand.
"""

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import sys
import time
import warnings

import dask.array as da
import fsspec
import numpy as np
from distributed import as_completed

from . import __version__
from .cluster import connect, worker_memory_limit
from .image import to_float
from .io import DoneMarkers, Location, create_output, fingerprint, open_input
from .progress import Progress
from .psf import check_psf, load_psf, psf_radius
from .regularization import auto_mu, estimate_image_noise
from .solver import DEFAULT_EPS, DEFAULT_MAXITER, DEFAULT_TOL, ConvergenceWarning, SolverSettings, solve
from .tiling import TilePlan, auto_halo, estimate_tile_bytes

__all__ = ["RunReport", "TileError", "plan", "run"]

logger = logging.getLogger(__name__)

#: Losses that are sums over pixels, so that tiles solve the whole image's problem.
TILE_LOSSES = ("tikhonov", "tv")
OUT_DTYPES = ("float32", "float64", "input")
INPUT_KINDS = "uif"
DEFAULT_CHUNK = 512
MAX_AUTO_TILE = 2048
#: Tasks in flight per worker: enough to keep each busy while results return.
WINDOW_PER_WORKER = 4


class TileError(RuntimeError):
    """One or more tiles failed; the others are written and a rerun resumes."""


@dataclasses.dataclass(frozen=True)
class RunReport:
    """What :func:`run` did. ``output`` is the written array's location."""

    output: str
    plan: TilePlan
    mu: float
    tiles_computed: int
    tiles_skipped: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class _Job:
    """Everything a worker needs for any tile of one run (small, pickled per task)."""

    source: Location
    target: Location
    channel_axis: int | None
    psfs: tuple
    settings: SolverSettings
    out_dtype: str


def _region(yx, channel_axis):
    """An index of the full array for a ``(y, x)`` region and all channels."""
    if channel_axis is None:
        return tuple(yx)
    region = list(yx)
    region.insert(channel_axis, slice(None))
    return tuple(region)


def _read_channels(array, yx, channel_axis):
    """The region ``yx`` of every channel, as a ``(C, y, x)`` array."""
    block = np.asarray(array[_region(yx, channel_axis)])
    return block[None] if channel_axis is None else np.moveaxis(block, channel_axis, 0)


def _cast(restored, dtype, input_dtype):
    """Convert solved floats to the output dtype; ``"input"`` clips integers to range."""
    if dtype == "input" and input_dtype.kind in "ui":
        peak = np.iinfo(input_dtype).max
        return np.round(np.clip(restored, 0.0, 1.0) * peak).astype(input_dtype)
    return restored.astype(input_dtype if dtype == "input" else dtype)


def process_tile(job, tile):
    """Deconvolve one tile on a worker and write its core; return its statistics."""
    started = time.perf_counter()
    source = job.source.open("r")
    channels = _read_channels(source, tile.read, job.channel_axis)
    cores, unconverged = [], []
    for channel, (image, psf) in enumerate(zip(channels, job.psfs)):
        restored, info = solve(to_float(image), psf, job.settings)
        cores.append(restored[tile.trim])
        if not info.converged:
            unconverged.append((channel, info.message))
    core = _cast(np.stack(cores), job.out_dtype, source.dtype)
    core = core[0] if job.channel_axis is None else np.moveaxis(core, 0, job.channel_axis)
    job.target.open("r+")[_region(tile.core, job.channel_axis)] = core
    DoneMarkers(job.target).mark(tile.index)
    pixels = math.prod(s.stop - s.start for s in tile.core) * len(channels)
    return {"pixels": pixels, "seconds": time.perf_counter() - started, "unconverged": unconverged}


def _check_layout(array, channel_axis):
    """Return ``(channel_axis, (Y, X), channels)`` for a 2-D or 3-D input."""
    if array.dtype.kind not in INPUT_KINDS:
        raise TypeError(f"zarr_path: expected an array of uint, int or float, got dtype {array.dtype} instead.")
    if 0 in array.shape:
        raise ValueError(f"zarr_path: expected a non-empty array, got shape {array.shape} instead.")
    if array.ndim == 2:
        if channel_axis is not None:
            raise ValueError(f"channel_axis: expected None for 2-D data, got {channel_axis!r} instead.")
        return None, tuple(array.shape), 1
    if array.ndim != 3:
        raise ValueError(f"zarr_path: expected 2-D data or 2-D with channels, got shape {array.shape} instead.")
    if channel_axis not in (0, 2, -1, -3):
        raise ValueError(
            f"channel_axis: expected 0 (cyx) or -1 (yxc) for 3-D data of shape {array.shape}, "
            f"got {channel_axis!r} instead."
        )
    axis = channel_axis % 3
    yx = tuple(n for i, n in enumerate(array.shape) if i != axis)
    return axis, yx, array.shape[axis]


def _check_psfs(psf, channels):
    """One checked PSF per channel, from one PSF, a list or stack of them, or a path."""
    if isinstance(psf, (str, os.PathLike)):
        psf = load_psf(psf)
    stack = list(psf) if isinstance(psf, (list, tuple)) or np.ndim(psf) == 3 else [psf]
    if len(stack) not in (1, channels):
        raise ValueError(f"psf: expected 1 PSF or {channels} (one per channel), got {len(stack)} instead.")
    names = ["psf"] if len(stack) == 1 else [f"psf[{i}]" for i in range(len(stack))]
    checked = tuple(check_psf(p, name=name) for p, name in zip(stack, names))
    return checked * channels if len(checked) == 1 else checked


def _choose_halo(halo, psfs, mu):
    radius = max(max(psf_radius(p)) for p in psfs)
    if halo == "auto":
        return max(auto_halo(p, mu) for p in psfs)
    if isinstance(halo, bool) or not isinstance(halo, (int, np.integer)):
        raise TypeError(f"halo: expected 'auto' or an int, got {halo!r} instead.")
    if halo < radius:
        raise ValueError(f"halo: expected at least the PSF radius, {radius} px, got {halo} instead.")
    return int(halo)


def _choose_tile(tile, halo, psfs, *, shape, memory_limit, workers):
    """``(tile, chunk)``: the core tile side, a whole number of output chunks.

    ``"auto"`` takes the largest side up to ``MAX_AUTO_TILE`` whose solve fits
    half a worker's memory and that still gives every worker two tiles.
    """
    largest = max(max(p.shape) for p in psfs)
    if tile == "auto":
        budget = (memory_limit or 4 * 2**30) / 2
        sides = range(MAX_AUTO_TILE, DEFAULT_CHUNK - 1, -DEFAULT_CHUNK)
        fitting = [
            side for side in sides
            if estimate_tile_bytes(side, halo, psfs[0]) <= budget
            and math.prod(math.ceil(n / side) for n in shape) >= 2 * workers
        ]
        return (fitting[0] if fitting else DEFAULT_CHUNK), DEFAULT_CHUNK
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile: expected 'auto' or an int, got {tile!r} instead.")
    if tile < largest:
        raise ValueError(f"tile: expected at least the PSF size, {largest} px, got {tile} instead.")
    chunk = min(DEFAULT_CHUNK, int(tile))
    rounded = max(chunk, round(tile / chunk) * chunk)
    if rounded != tile:
        logger.info("tile %d rounded to %d, a whole number of %d px output chunks", tile, rounded, chunk)
    return rounded, chunk


def _same_store(first, second):
    """Whether one location is, or lies inside, the other."""
    paths = []
    for location in (first, second):
        fs, path = fsspec.core.url_to_fs(location.url, **location.storage_options)
        paths.append((fs.protocol, fs._strip_protocol(path).rstrip("/") + "/"))
    (protocol_a, a), (protocol_b, b) = paths
    return protocol_a == protocol_b and (a.startswith(b) or b.startswith(a))


def _output_location(output, source):
    if output is None:
        base = source.url.rstrip("/")
        output = (base[:-5] if base.endswith(".zarr") else base) + ".deblurred.zarr"
    target = Location(str(output), "", source.storage_options_json)
    if _same_store(source, target):
        raise ValueError(
            f"output: expected a path apart from the input {source.url!r}, got {target.url!r}, "
            "which would write into the input."
        )
    return target


@dataclasses.dataclass(frozen=True)
class _Prepared:
    """A validated run, before any pixel is computed."""

    array: object
    job: _Job
    plan: TilePlan


def _prepare(zarr_path, psf, *, output, component, channel_axis, tile, halo, loss, mu, eps, tol,
             maxiter, storage_options, out_dtype, memory_limit, workers):
    """Validate every argument and plan the tiles; opens the input read-only."""
    if loss not in TILE_LOSSES:
        raise ValueError(
            f"loss: expected one of {TILE_LOSSES} for tiles, got {loss!r} instead; the article's loss "
            "weights each tile differently, so its tiles would not join (see tiledeblur.objectives)."
        )
    if out_dtype not in OUT_DTYPES:
        raise ValueError(f"out_dtype: expected one of {OUT_DTYPES}, got {out_dtype!r} instead.")
    automatic = isinstance(mu, str) and mu == "auto"
    settings = SolverSettings(loss=loss, mu=None if automatic else mu, boundary="free", eps=eps, tol=tol,
                              maxiter=maxiter)
    array, source = open_input(zarr_path, component=component, storage_options=storage_options)
    axis, shape, channels = _check_layout(array, channel_axis)
    psfs = _check_psfs(psf, channels)
    if automatic:
        sigma = estimate_image_noise(lambda yx: to_float(_read_channels(array, yx, axis)), shape)
        settings = dataclasses.replace(settings, mu=auto_mu(sigma, loss))
    halo = _choose_halo(halo, psfs, settings.mu)
    side, chunk = _choose_tile(tile, halo, psfs, shape=shape, memory_limit=memory_limit, workers=workers)
    target = _output_location(output, source)
    job = _Job(source, target, axis, psfs, settings, out_dtype)
    return _Prepared(array, job, TilePlan(shape=shape, tile=side, chunk=chunk, halo=halo))


def _worker_resources(client, n_workers):
    """``(memory limit per worker, workers)`` of ``client``, or of the local cluster run() starts."""
    if client is None:
        import psutil

        workers = n_workers or os.cpu_count() or 1
        return psutil.virtual_memory().total // workers, workers
    return worker_memory_limit(client), len(client.scheduler_info()["workers"])


def plan(zarr_path, psf, *, component=None, channel_axis=None, tile="auto", halo="auto", loss="tikhonov",
         mu=None, eps=DEFAULT_EPS, storage_options=None, memory_limit=None):
    """The tile plan that :func:`run` would use; computes nothing, writes nothing.

    Takes the same arguments as :func:`run`. ``memory_limit`` (bytes per
    worker) defaults to what a local cluster on this machine would give.
    Print ``plan(...).describe()`` for people.
    """
    local_memory, workers = _worker_resources(None, None)
    prepared = _prepare(
        zarr_path, psf, output=None, component=component, channel_axis=channel_axis, tile=tile, halo=halo,
        loss=loss, mu=mu, eps=eps, tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER, storage_options=storage_options,
        out_dtype="float32", memory_limit=memory_limit or local_memory, workers=workers,
    )
    return prepared.plan


def _identity(prepared):
    """The settings a resume must match, as plain JSON values."""
    job = prepared.job
    identity = {
        "input": {
            "url": job.source.array_url,
            "shape": list(prepared.array.shape),
            "dtype": str(prepared.array.dtype),
            "fingerprint": fingerprint(prepared.array),
        },
        "psf": [p.tolist() for p in job.psfs],
        "settings": dataclasses.asdict(job.settings),
        "channel_axis": job.channel_axis,
        "out_dtype": job.out_dtype,
        "tile": prepared.plan.tile,
        "chunk": prepared.plan.chunk,
        "halo": prepared.plan.halo,
    }
    return json.loads(json.dumps(identity))


def _existing_identity(target):
    """The identity recorded in an existing output, ``None`` if there is no output."""
    fs, path = fsspec.core.url_to_fs(target.url, **target.storage_options)
    if not fs.exists(path):
        return None
    try:
        recorded = dict(target.open("r").attrs).get("tiledeblur", {})
    except (FileNotFoundError, ValueError, KeyError):
        return {}
    recorded.pop("version", None)
    return recorded


def _finished_tiles(prepared, identity, *, overwrite, resume):
    """Tiles already written by an identical earlier run, or ``None`` for a new output.

    Refuses, before anything is written, an existing output that is not an
    identical run's, unless ``overwrite``.
    """
    target = prepared.job.target
    existing = _existing_identity(target)
    if existing is None or overwrite:
        return None
    if not resume:
        raise ValueError(f"output: expected a new path, got {target.url!r}, which exists; pass overwrite=True.")
    if existing != identity:
        raise ValueError(
            f"output: {target.url!r} exists and was written from another input or with other settings; "
            "pass overwrite=True to replace it, or another output."
        )
    return DoneMarkers(target).done()


def _create_output(prepared, identity, *, overwrite):
    """Create the output array: the input's shape, chunks of one tile's chunk grid."""
    array, job = prepared.array, prepared.job
    chunks = [prepared.plan.chunk] * 2
    if job.channel_axis is not None:
        chunks.insert(job.channel_axis, array.shape[job.channel_axis])
    create_output(
        job.target, shape=array.shape, chunks=tuple(chunks),
        dtype=array.dtype if job.out_dtype == "input" else np.dtype(job.out_dtype),
        zarr_format=array.metadata.zarr_format,
        attributes={"tiledeblur": {**identity, "version": __version__}}, overwrite=overwrite,
    )


def _check_finite(client, prepared):
    """Refuse NaN or inf pixels, scanning the input on the workers."""
    source = prepared.job.source
    if prepared.array.dtype.kind != "f":
        return
    lazy = da.from_zarr(source.url, component=source.component or None, storage_options=source.storage_options)
    if not client.compute(da.isfinite(lazy).all()).result():
        raise ValueError(f"zarr_path: expected finite pixels, got NaN or inf in {source.array_url!r}.")


def _warn_unconverged(tile, stats):
    for channel, message in stats["unconverged"]:
        warnings.warn(f"{tile.name}, channel {channel}: Newton-CG did not converge: {message}",
                      ConvergenceWarning, stacklevel=3)


def _compute_tiles(client, prepared, finished, *, show_progress):
    """Submit the unfinished tiles through a bounded window; return how many were computed."""
    plan = prepared.plan
    todo = (tile for tile in plan.tiles() if tile.index not in finished)
    window = WINDOW_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    progress = Progress(total=len(plan), already_done=len(finished), enabled=show_progress)
    run_token = os.urandom(4).hex()
    in_flight, queue = {}, as_completed()

    def submit(tile):
        key = f"deconvolve-tile-{run_token}-{tile.index[0]}-{tile.index[1]}"
        future = client.submit(process_tile, prepared.job, tile, key=key, pure=False)
        in_flight[future.key] = tile
        queue.add(future)

    for tile in itertools.islice(todo, window):
        submit(tile)
    failures, computed = [], 0
    try:
        for future in queue:
            tile = in_flight.pop(future.key)
            try:
                stats = future.result()
            except Exception as error:  # noqa: BLE001 - reported below with its tile
                failures.append((tile, error))
            else:
                computed += 1
                progress.advance(pixels=stats["pixels"])
                _warn_unconverged(tile, stats)
            following = next(todo, None)
            if following is not None:
                submit(following)
    finally:
        progress.close()
        client.cancel(list(queue.futures))
    if failures:
        tile, error = failures[0]
        raise TileError(
            f"{len(failures)} of {len(plan)} tiles failed; the first, {tile.name}, raised "
            f"{type(error).__name__}: {error}. Every other tile is written: fix the cause and run "
            "again to compute only the missing tiles."
        ) from error
    return computed


def run(zarr_path, psf, *, output=None, component=None, channel_axis=None, tile="auto", halo="auto",
        loss="tikhonov", mu=None, eps=DEFAULT_EPS, tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER, storage_options=None,
        client=None,
        address=None, n_workers=None, out_dtype="float32", overwrite=False, resume=True, progress=True):
    """Deconvolve a Zarr image tile by tile on dask.distributed.

    Parameters
    ----------
    zarr_path : str or os.PathLike
        A Zarr array or group (format 2 or 3), as a local path or an fsspec URL
        (``s3://``, ``gs://``, ``file://``...). Opened read-only.
    psf : array_like, str or os.PathLike
        One 2-D PSF for every channel, one per channel (a list or a
        ``(C, P, Q)`` stack), or a path that :func:`tiledeblur.load_psf` reads.
    output : str or os.PathLike, optional
        Where to write; defaults to ``<input>.deblurred.zarr`` beside the input.
    component : str, optional
        The array inside a group; an OME-Zarr multiscale group defaults to its
        level 0, as its metadata names it.
    channel_axis : {None, 0, -1}
        For 3-D data: the channels' axis (``cyx`` or ``yxc``).
    tile : "auto" or int
        Core tile side in pixels, rounded to whole output chunks of up to 512 px.
        ``"auto"`` takes the largest of 512, 1024, 1536, 2048 that fits half a
        worker's memory limit and leaves at least two tiles per worker.
    halo : "auto" or int
        Pixels read around each tile, at least the PSF radius; ``"auto"``
        follows :func:`tiledeblur.tiling.auto_halo`.
    loss, mu, eps, tol, maxiter
        As :func:`tiledeblur.deconvolve`; only the additive losses
        ``"tikhonov"`` and ``"tv"`` are accepted. ``mu="auto"`` estimates the
        noise on a fixed sample of regions and sets one mu for every tile
        (:mod:`tiledeblur.regularization`); ``RunReport.mu`` reports it. Every tile uses the ``free``
        boundary model, at the image's border and beyond its halo.
    storage_options : dict, optional
        fsspec options for both input and output.
    client : distributed.Client, optional
        Run on this client; left open.
    address : str, optional
        Run on the scheduler at this address. Its workers need tiledeblur
        installed and must reach the input and output paths themselves.
    n_workers : int, optional
        Workers of the local cluster started when neither ``client`` nor
        ``address`` is given; defaults to the number of cores.
    out_dtype : {"float32", "float64", "input"}
        ``"input"`` writes the input's dtype: integer outputs are clipped to
        [0, 1] of the float scale and rounded, so overshoot is lost.
    overwrite : bool
        Replace an existing output that is not this run's.
    resume : bool
        Continue an interrupted run of identical settings, computing only the
        tiles without a done-marker. With ``False`` an existing output is an error.
    progress : bool
        Print the dashboard link and a progress line to stderr.

    Returns
    -------
    RunReport
        The output location, the plan, mu, and counts of computed and skipped tiles.

    Raises
    ------
    TileError
        When tiles fail; it names the first, and every other tile is kept.
    """
    started = time.perf_counter()
    if client is not None and address is not None:
        raise ValueError(f"address: expected None when a client is given, got {address!r} instead.")
    local = client is None and address is None
    with contextlib.ExitStack() as stack:
        active = None if local else stack.enter_context(connect(client=client, address=address))
        memory_limit, workers = _worker_resources(active, n_workers)
        prepared = _prepare(
            zarr_path, psf, output=output, component=component, channel_axis=channel_axis, tile=tile,
            halo=halo, loss=loss, mu=mu, eps=eps, tol=tol, maxiter=maxiter, storage_options=storage_options,
            out_dtype=out_dtype,
            memory_limit=memory_limit, workers=workers,
        )
        identity = _identity(prepared)
        finished = _finished_tiles(prepared, identity, overwrite=overwrite, resume=resume)
        if local:
            active = stack.enter_context(connect(n_workers=n_workers))
        logger.info("dask dashboard: %s; %s", active.dashboard_link, prepared.plan.describe())
        if progress:
            print(f"dask dashboard: {active.dashboard_link}\n{prepared.plan.describe()}", file=sys.stderr)
        _check_finite(active, prepared)
        if finished is None:
            _create_output(prepared, identity, overwrite=overwrite)
        computed = _compute_tiles(active, prepared, finished or set(), show_progress=progress)
    return RunReport(
        output=prepared.job.target.url, plan=prepared.plan, mu=prepared.job.settings.mu,
        tiles_computed=computed, tiles_skipped=len(finished or ()), seconds=time.perf_counter() - started,
    )
