"""Validate ``run()``'s arguments once, at the boundary, and plan the run.

:func:`prepare` checks every argument, opens the input read-only, resolves
``mu="auto"``, the halo and the tile size, and returns a :class:`Prepared`
run: the :class:`Job` that every tile task carries and the
:class:`~tiledeblur.tiling.TilePlan`. Nothing is computed or written.
"""

import contextlib
import dataclasses
import functools
import math
import warnings

import dask
import numpy as np

from .arguments import check_bytes, check_channel_count, check_flag, check_int
from .axes import check_planes, input_layout
from .cluster import check_cluster_options, check_worker_versions, connect, worker_resources
from .denoising import DENOISED_LOSSES, REACH, channels_together
from .destination import output_location
from .image import check_float_range, check_missing_value, float_scale, largest_magnitude, to_float
from .io import (
    SOURCE_ATTRIBUTE,
    DoneMarkers,
    Location,
    declared_missing_values,
    layout_images,
    open_input,
    packing,
    read_channels,
)
from .jpeg import EIGHT_BIT, JPEG_CODECS, LAPLACIAN_WEIGHTS_HINT, JpegBlocks, find_blocks
from .objectives import ADDITIVE_LOSSES, SMOOTHNESS_ORDER
from .ome import Multiscale, find_multiscale, plain_multiscale, pyramid_shapes
from .pixelsize import scan_pixel_size, warn_if_pixel_sizes_differ
from .plugandplay import FIRST_WEIGHT
from .psf import check_psfs, psf_radius
from .regularization import (
    MuWarning,
    estimate_mus_and_noise,
    is_auto,
    sample_regions,
    sampled_contrasts,
    sampled_reach,
    warn_if_below_floor,
    warn_if_eps_too_small,
    warn_if_off_scale,
)
from .resume import check_new, existing_output, finished_tiles, resumed_tile, run_identity
from .saturation import declared_saturation, warn_if_saturated
from .selection import CANDIDATES, check_request, choose_loss, default_loss, nlmeans_noise_lines, tell_of_choice
from .settings import DEFAULT_EPS, DEFAULT_MAXITER, DEFAULT_TOL, SolverSettings, check_mu
from .solver import solve_channels
from .tiling import (
    MAX_HALO,
    HaloWarning,
    TileMemoryWarning,
    TilePlan,
    auto_halo,
    estimate_tile_bytes,
    in_binary_units,
    weights_text,
)

__all__ = ["DiskSpaceWarning", "Job", "Prepared", "check_disk_space", "face_output", "plan", "prepare", "written_dtype"]


#: The memory per worker thread that ``tile="auto"`` assumes where the workers have no limit, or there are none yet.
UNKNOWN_MEMORY_LIMIT = 4 * 2**30

OUT_DTYPES = ("float32", "float64", "input")
DEFAULT_CHUNK = 512
#: Larger tiles save little halo work ((1024 + 2 * 53)² / 1024² = 1.22) but
#: balance load worse and need more memory per worker.
MAX_AUTO_TILE = 1024
#: The share of a tile's estimated memory above which one decoded input chunk warns.
LARGE_CHUNK_SHARE = 0.25


class DiskSpaceWarning(UserWarning):
    """The output, uncompressed, may not fit the free space of its local disk."""


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a worker needs for any tile of one run (small, pickled per task)."""

    source: Location
    target: Location
    channel_axis: int | None
    #: One PSF per channel.
    psfs: tuple
    #: One :class:`SolverSettings` per channel; they differ in ``loss`` (for channels denoised alone), ``mu``,
    #: ``noise``, ``contrast``, ``noise_line`` and ``mix`` alone.
    settings: tuple
    out_dtype: str
    #: The input's value that marks a missing pixel (NaN does in floats in any case), or None.
    missing_value: int | float | None = None
    #: The token of the output's creation that this run writes into (see ``tiledeblur.pipeline``).
    run: str | None = None
    #: Whether the channels are denoised together, as one scene's (see :func:`tiledeblur.denoising.channels_alike`).
    together: bool = True

    @property
    def loss(self):
        """The loss solved, one for all channels, or a tuple of each channel's where they differ (channels denoised
        alone, for which ``loss="auto"`` chooses each its own)."""
        losses = tuple(settings.loss for settings in self.settings)
        return losses[0] if len(set(losses)) == 1 else losses

    @property
    def mu(self):
        """The weight of an image without channels; for one with channels, a tuple of each channel's."""
        return self._per_channel("mu")

    @property
    def noise(self):
        """The noise level of ``denoise`` (None without it), as :attr:`mu` gives the weight."""
        return self._per_channel("noise")

    @property
    def contrast(self):
        """The contrast that ``nlmeans``' rounds start from (None for other losses), as :attr:`mu` gives the weight."""
        return self._per_channel("contrast")

    @property
    def noise_line(self):
        """The line of the noise that ``nlmeans``' denoiser follows (None for other losses, or noise alike at every
        level), as :attr:`mu` gives the weight."""
        return self._per_channel("noise_line")

    @property
    def mix(self):
        """``laplacian``'s share and weight where ``nlmeans`` is mixed with it (else None), as :attr:`mu` gives the
        weight."""
        return self._per_channel("mix")

    def _per_channel(self, name):
        values = tuple(getattr(settings, name) for settings in self.settings)
        return values[0] if self.channel_axis is None else values


def _per_channel(mu, channels):
    """One weight per channel, from one for all or a tuple of one per channel."""
    mus = mu if isinstance(mu, tuple) else (mu,)
    check_channel_count(len(mus), channels, name="mu", noun="weight")
    return mus * channels if len(mus) == 1 else mus


def _automatic_halo(psfs, settings):
    """The halo of ``halo="auto"``: where tiles stay within 1e-3 of a whole-image solve (see :func:`auto_halo`)."""
    losses = {channel.loss for channel in settings}
    if len(losses) > 1:  # channels denoised alone, each with the loss that loss="auto" chose for it
        return max(_automatic_halo(*zip(*[(psf, channel) for psf, channel in zip(psfs, settings)
                                          if channel.loss == loss])) for loss in losses)
    if settings[0].loss == "nlmeans":
        # Its rounds' solves weigh the data against z by ratios of noise levels, whatever mu; the first and
        # weakest reaches furthest.
        halo = max(auto_halo(psf, FIRST_WEIGHT, order=0) for psf in {id(psf): psf for psf in psfs}.values())
        # A mix's laplacian solve reaches as far as its own weight takes it.
        mixed = [(psf, SolverSettings(loss="laplacian", mu=channel.mix[1]))
                 for psf, channel in zip(psfs, settings) if channel.mix]
        return max(halo, _automatic_halo(*zip(*mixed))) if mixed else halo
    eps = settings[0].eps if settings[0].loss == "tv" else None
    # One PSF and weight often serve every channel: their halo (up to 1.5 s for a long motion line) once.
    pairs = {(id(psf), channel.mu): (psf, channel.mu) for psf, channel in zip(psfs, settings)}
    order = SMOOTHNESS_ORDER[settings[0].loss]
    # A pass of non-local means reads its reach beyond each pixel of the core.
    reach = REACH if any(channel.noise is not None for channel in settings) else 0
    return reach + max(auto_halo(psf, mu, eps=eps, order=order) for psf, mu in pairs.values())


def _auto_or_at_least(name, value, least, what):
    """``value`` of the argument ``name``: ``"auto"``, or an int of at least ``least`` px, ``what`` in the message.

    Examples
    --------
    >>> _auto_or_at_least("halo", 4, 6, "the PSF radius")
    Traceback (most recent call last):
    ...
    ValueError: halo: expected at least the PSF radius, 6 px, got 4 instead.
    """
    if isinstance(value, str) and value == "auto":
        return value
    if check_int(name, value, expected="'auto' or an int") < least:
        raise ValueError(f"{name}: expected at least {what}, {least} px, got {value} instead.")
    return int(value)


def _choose_halo(halo, psfs, settings, *, shape):
    """The halo of a checked ``halo`` (:func:`_auto_or_at_least`); one below the automatic one warns."""
    if halo == "auto":
        return _automatic_halo(psfs, settings)
    wanted = _automatic_halo(psfs, settings)
    if halo < min(wanted, max(shape)):
        # The PSF's radius is not enough: the solve's reach is the regularized inverse's, often several times it
        # (found by a probe: halo=2 was taken where "auto" picks 25, without a word). Through _planned_tiles and
        # prepare to the caller of plan or run.
        warnings.warn(f"halo: expected at least the {wanted} px that halo='auto' picks at this PSF and mu, got "
                      f"{halo}; tiles may differ from a whole-image solve by more than 1e-3 near their edges, which "
                      "shows as seams.", HaloWarning, stacklevel=5)
    return halo


def _choose_tile(tile, halo, radius, *, shape, memory_limit, workers):
    """``(tile, chunk)``: the core tile side, a whole number of output chunks.

    ``"auto"`` takes the largest side up to ``MAX_AUTO_TILE`` whose solve fits
    half of ``memory_limit``, the memory of each worker thread, and that
    still gives each of the ``workers`` threads two tiles.
    """
    whole = max(shape)
    if tile == "auto":
        if whole <= DEFAULT_CHUNK:  # one tile and one chunk, the image's size: not a chunk padded out past it
            return whole, whole
        budget = (memory_limit or UNKNOWN_MEMORY_LIMIT) / 2
        sides = range(MAX_AUTO_TILE, DEFAULT_CHUNK - 1, -DEFAULT_CHUNK)
        fitting = [
            side for side in sides
            if estimate_tile_bytes([min(side + 2 * halo, n) for n in shape], radius) <= budget
            and math.prod(math.ceil(n / side) for n in shape) >= 2 * workers
        ]
        return (fitting[0] if fitting else DEFAULT_CHUNK), DEFAULT_CHUNK
    largest = 2 * radius + 1
    chunk = min(DEFAULT_CHUNK, tile, whole)
    if tile >= whole:  # one tile, as large as the image: its memory is the image's
        # The image's own size, whatever tile covers it: 512 and 1000 px for a 511 px image made outputs that did not
        # resume each other (found by a probe).
        return -(-whole // chunk) * chunk, chunk
    # Down, as a tile given to bound memory must not grow: 768 rounded up to 1024 needed 2.7 times the memory, and
    # its workers were killed (found by a probe).
    rounded = tile // chunk * chunk
    if rounded < largest:
        raise ValueError(f"tile: expected at least the PSF size, {largest} px, once rounded down to whole "
                         f"{chunk} px output chunks, got {tile}, which rounds to {rounded}.")
    if rounded != tile:
        # Through _planned_tiles and prepare to the caller of plan or run.
        warnings.warn(f"tile: {tile} px rounded down to {rounded} px, a whole number of the {chunk} px output "
                      "chunks (no two tiles may write one chunk).", UserWarning, stacklevel=5)
    return rounded, chunk


def _source_text(source, component):
    """Which array of the input's group is read, for the plan; "" for an input that is an array.

    Found by a probe: neither the plan nor the run said which array they
    read, and a bioformats2raw store's images after the first went unsaid.
    """
    if not source.component:
        return ""
    text = f"array {source.component!r} of the input's group"
    images = layout_images(source) if component is None else []
    if len(images) > 1:
        text += f", the first of its {len(images)} images (component names another)"
    return text


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A validated run, before any pixel is computed."""

    array: object
    job: Job
    plan: TilePlan
    #: The OME-Zarr multiscale of the output, None for a plain array.
    multiscale: Multiscale | None = None
    #: Shapes of the output's pyramid levels, level 0 first; empty for a plain array.
    pyramid: tuple = ()


def prepare(zarr_path, psf, *, output, component, channel_axis, tile, halo, loss, mu, eps, tol,
             maxiter, storage_options, out_dtype, memory_limit, workers, nonneg=False, denoise=True, ome=None,
             missing_value=None, new_output=False, progress=False):
    """Validate every argument of a run and plan its tiles; the input is opened read-only.

    Parameters
    ----------
    zarr_path, psf, output, component, channel_axis, tile, halo, loss, mu, eps, tol, maxiter, storage_options, \
out_dtype, nonneg, denoise, ome, missing_value
        As :func:`tiledeblur.run` takes them.
    memory_limit : int or None
        The bytes that each worker thread may use (None for no limit), which bound ``tile="auto"``.
    workers : int
        The worker threads that share the tiles.
    new_output : bool, optional
        Whether to refuse an output that exists (a run that neither resumes nor overwrites).
    progress : bool, optional
        Whether to tell of the choice of ``loss="auto"``, which takes seconds per region and channel, once the
        arguments are valid.

    Returns
    -------
    Prepared
    """
    loss = _checked_loss(loss, mu, eps)
    if not isinstance(out_dtype, str):  # np.dtype("float32") == "float32", and reached json.dumps (a probe)
        raise TypeError(f"out_dtype: expected one of {OUT_DTYPES}, a str, got {out_dtype!r} instead.")
    if out_dtype not in OUT_DTYPES:
        raise ValueError(f"out_dtype: expected one of {OUT_DTYPES}, got {out_dtype!r} instead.")
    if storage_options is not None and not isinstance(storage_options, dict):
        raise TypeError(f"storage_options: expected None or a dict, got {storage_options!r} instead.")
    if channel_axis is not None:
        channel_axis = check_int("channel_axis", channel_axis, expected="None or an int")
    automatic, denoise = is_auto(mu), check_flag("denoise", denoise)
    given = None if automatic else check_mu(mu)
    shared = SolverSettings(loss=CANDIDATES[0] if loss == "auto" else loss,
                            mu=None if isinstance(given, tuple) else given, boundary="free", eps=eps, tol=tol,
                            maxiter=maxiter, nonneg=nonneg)
    array, source, found, layout = _opened_input(zarr_path, component=component, storage_options=storage_options,
                                                 channel_axis=channel_axis)
    missing_value, declared = _missing_value(missing_value, array)
    packing(array)  # refused here, as run would refuse it after its scan (found by a probe)
    psfs = check_psfs(psf, layout.channels)
    warn_if_pixel_sizes_differ(scan_pixel_size(found, array.attrs), psf, stacklevel=3)
    check_planes(layout, tuple(max(p.shape[i] for p in psfs) for i in range(2)))
    # Before the sample is read, which takes a while over a network (found by a probe: tile=0 was refused after it).
    radius = max(max(psf_radius(p)) for p in psfs)
    tile = _auto_or_at_least("tile", tile, 2 * radius + 1, "the PSF size")
    halo = _auto_or_at_least("halo", halo, radius, "the PSF radius")
    target = output_location(output, source, component, storage_options)
    # Writable or not (a finished output on a read-only disk is done), before the sample is read and loss "auto"
    # tells of its choice (found by probes: a plan passed --out naming a file; told, then refused).
    target.check_placeable()
    if new_output:
        check_new(target)
    multiscale = _output_multiscale(ome, found, array, layout.channel_axis)
    read_sample = functools.partial(_sample, array, axis=layout.channel_axis, source=source,
                                    missing_value=missing_value)
    mus = None if automatic else _per_channel(given if isinstance(given, tuple) else shared.mu, layout.channels)
    settings, together = _sampled_settings(array, found, layout, psfs, shared, read_sample=read_sample, loss=loss,
                                           mus=mus, denoise=denoise, progress=progress)
    if multiscale is not None:
        target = dataclasses.replace(target, component="0")
    job = Job(source, target, layout.channel_axis, psfs, settings, out_dtype, missing_value, together=together)
    tile_plan, pyramid = _planned_tiles(array, job, layout, multiscale, tile=tile, halo=halo, radius=radius,
                                        memory_limit=memory_limit, workers=workers, declared=declared,
                                        component=component)
    _warn_if_tiles_exceed(memory_limit, tile_plan, automatic=tile == "auto")
    _warn_if_input_chunks_are_large(array, tile_plan)
    return Prepared(array, job, tile_plan, multiscale, pyramid)


def _checked_loss(loss, mu, eps):
    """``loss``, or the default for ``mu`` where it is None, checked for tiles; with ``"auto"``, ``mu`` and ``eps``
    too."""
    losses = ("auto", *ADDITIVE_LOSSES)
    if loss is None:
        loss = default_loss(mu)
    if not isinstance(loss, str):
        raise TypeError(f"loss: expected one of {losses}, a str, got {loss!r} instead.")
    if loss not in losses:
        why = ("; the article's loss weights each tile differently, so its tiles would not join (see "
               "tiledeblur.objectives)") if loss == "article" else ""
        raise ValueError(f"loss: expected one of {losses} for tiles, got {loss!r} instead{why}.")
    if loss == "auto":
        check_request(mu, None if eps == DEFAULT_EPS else eps)
    return loss


def _opened_input(zarr_path, *, component, storage_options, channel_axis):
    """The input array, opened read-only; its :class:`~tiledeblur.io.Location`; its OME-Zarr multiscale, or None;
    and its :class:`~tiledeblur.axes.Layout`."""
    array, source = open_input(zarr_path, component=component, storage_options=storage_options)
    found = find_multiscale(source)
    if found is not None and len(found.axes) != array.ndim:
        raise ValueError(f"zarr_path: expected {array.ndim} axes in the OME-Zarr metadata, got {len(found.axes)}.")
    return array, source, found, input_layout(array, found, channel_axis)


def _sampled_settings(array, found, layout, psfs, shared, *, read_sample, loss, mus, denoise, progress):
    """Each channel's :class:`~tiledeblur.settings.SolverSettings`: ``shared``'s, with the channels' weights ``mus``
    (None for ``mu="auto"``) and what :func:`_measured` finds on the sample regions; and whether the channels are
    denoised together. ``read_sample`` reads a region."""
    channels, automatic = layout.channels, mus is None
    fields = {"loss": (shared.loss,) * channels, "mu": mus,
              **dict.fromkeys(("noise", "contrast", "noise_line", "mix"), (None,) * channels)}
    together = True
    if automatic or (denoise and (loss == "auto" or loss in DENOISED_LOSSES)) or loss == "nlmeans":
        # Where the regions are read anyway, once: with a given mu and nothing else to measure, a run reads nothing
        # before its tiles.
        read_sample = _read_once(read_sample, sample_regions(layout.shape))
        together, measured = _measured(array, found, layout, psfs, shared, read_sample=read_sample, loss=loss,
                                       mus=mus, denoise=denoise, progress=progress)
        fields.update(measured)
    if not automatic:
        warn_if_below_floor(mus, loss, stacklevel=4)
    if not automatic and loss == "tv" and shared.eps == DEFAULT_EPS:
        warn_if_off_scale(sampled_reach(read_sample, layout.shape), loss, eps=shared.eps, stacklevel=4)
    elif loss == "tv" and shared.eps != DEFAULT_EPS:
        warn_if_eps_too_small(sampled_reach(read_sample, layout.shape), shared.eps, default=DEFAULT_EPS,
                              stacklevel=4)
    settings = tuple(dataclasses.replace(shared, **{name: values[channel] for name, values in fields.items()})
                     for channel in range(channels))
    return settings, together


def _measured(array, found, layout, psfs, shared, *, read_sample, loss, mus, denoise, progress):
    """Whether the channels are denoised together, and the settings that the sample regions give each channel, by
    :class:`~tiledeblur.settings.SolverSettings` field: the weights where ``mus`` is None, the losses where ``loss``
    is ``"auto"``, and the noise that the denoiser takes; the regions warn of saturation, and of lossy sources."""
    channels, shape, regions = layout.channels, layout.shape, sample_regions(layout.shape)
    # By the names that viewers show, where the input has them (found by a probe: "channel 2" for RFP).
    labels = [channel.get("label") for channel in found.channels] if found is not None else []
    named = len(labels) == channels and all(labels)
    warn_if_saturated(read_sample, regions, psfs, array.dtype, name="zarr_path",
                      channel_names=labels if named else None, declared=declared_saturation(array.attrs),
                      stacklevel=5)
    jpeg_blocks = _jpeg_blocks(array, read_sample, regions)
    # Channels of different scenes, such as a fluorescence image's stains, are denoised each alone (see
    # tiledeblur.denoising).
    together = channels_together(map(read_sample, regions), channels=channels, loss=loss, denoise=denoise)
    if loss == "auto":
        # Not before the arguments are checked (found by a probe: told, then refused).
        tell_of_choice(progress=progress)
        chosen = choose_loss(read_sample, shape, psfs, shared, solve_channels, together=together, denoise=denoise,
                             jpeg_blocks=jpeg_blocks, progress=progress, stacklevel=5)
        fields = dict(zip(("loss", "mu", "noise", "contrast", "noise_line", "mix"), chosen))
    else:
        weights, noises = estimate_mus_and_noise(read_sample, shape, psfs, loss, mus, denoise=denoise,
                                                 jpeg_blocks=jpeg_blocks, stacklevel=5)
        fields = {"mu": weights, "noise": noises}
        if loss == "nlmeans":
            fields["contrast"] = sampled_contrasts(read_sample, shape, channels)
            fields["noise_line"] = nlmeans_noise_lines(read_sample, shape, psfs, jpeg_blocks=jpeg_blocks)
    if jpeg_blocks is None and mus is None:
        _warn_if_lossy(array, fields["mu"], fields.get("loss", (shared.loss,) * channels), stacklevel=5)
    return together, fields


def _planned_tiles(array, job, layout, multiscale, *, tile, halo, radius, memory_limit, workers, declared,
                   component):
    """The :class:`~tiledeblur.tiling.TilePlan` of ``job`` and the shapes of the output's pyramid levels (none
    without ``multiscale``), for the ``tile`` and ``halo`` given or ``"auto"``; ``declared`` tells whether the
    missing value is the input's own."""
    automatic_halo = halo == "auto"
    halo = _choose_halo(halo, job.psfs, job.settings, shape=layout.shape)
    side, chunk = _choose_tile(tile, halo, radius, shape=layout.shape, memory_limit=memory_limit, workers=workers)
    pyramid = (array.shape, *pyramid_shapes(array.shape, multiscale, chunk)) if multiscale is not None else ()
    written = written_dtype(array, job.out_dtype)
    tile_plan = TilePlan(shape=layout.shape, tile=side, chunk=chunk, halo=halo, psf_radius=radius,
                         channels=layout.channels, mu=job.mu, loss=job.loss, together=job.together, noise=job.noise,
                         contrast=job.contrast, noise_line=job.noise_line, mix=job.mix,
                         missing_value=job.missing_value, missing_value_declared=declared,
                         output_dtype=written.name, pyramid_levels=max(len(pyramid) - 1, 0),
                         value_scale=float_scale(array.dtype) if written.kind == "f" else 1.0,
                         output_bytes=sum(math.prod(level) for level in pyramid or [array.shape]) * written.itemsize,
                         source=_source_text(job.source, component))
    if automatic_halo and halo >= MAX_HALO and not tile_plan.every_tile_reads_all():
        warnings.warn(
            f"halo: the rule for halo='auto' asks for more than {MAX_HALO} px at this PSF and mu "
            f"{min(settings.mu for settings in job.settings):.3g} "
            "(a long motion blur or a wide PSF at a small weight), so tiles may differ from a whole-image solve by "
            "more than 1e-3 near their edges; a larger mu, or a halo as long as the image, avoids it.",
            HaloWarning, stacklevel=4,
        )
    return tile_plan, pyramid


def written_dtype(array, out_dtype):
    """The dtype that the output of ``array`` is written in for ``out_dtype``: the input's own for ``"input"``.

    Examples
    --------
    >>> written_dtype(np.zeros(2, dtype=">i2"), "input"), written_dtype(np.zeros(2, dtype=">i2"), "float32")
    (dtype('>i2'), dtype('float32'))
    """
    return array.dtype if out_dtype == "input" else np.dtype(out_dtype)


def is_complete(prepared, finished):
    """Whether an earlier identical run finished every tile and, for OME-Zarr, the pyramid."""
    if finished is None or len(finished) < len(prepared.plan):
        return False
    return prepared.multiscale is None or DoneMarkers(prepared.job.target).levels_built() == len(prepared.pyramid) - 1


def check_disk_space(prepared, finished=None, *, stacklevel=1):
    """Warn where the tiles still to write, and the pyramid, would not fit the output's local disk uncompressed.

    Deblurred floats compress little, and a full disk would stop a run hours
    in: a 100k² RGB scan makes 112 GiB of float32 (found by a probe).
    ``finished`` holds the indices of the tiles that a resumed output has.
    """
    free = prepared.job.target.free_bytes()
    tile_plan, written = prepared.plan, np.dtype(prepared.plan.output_dtype)
    # A resume's written tiles take no more room; the pyramid is counted whole, built or not.
    level_0 = math.prod(prepared.array.shape) * written.itemsize
    needed = tile_plan.output_bytes - level_0 * len(finished or ()) / len(tile_plan)
    if free is None or needed <= free:
        return
    smaller = prepared.array.dtype.itemsize < written.itemsize
    advice = f"out_dtype='input' writes {prepared.array.dtype}, or pass" if smaller else "pass"
    warnings.warn(
        f"output: {prepared.job.target.url!r} takes about {in_binary_units(needed)} more uncompressed as "
        f"{written}{' with its pyramid' if tile_plan.pyramid_levels else ''}, more than the "
        f"{in_binary_units(free)} free on its disk; {advice} another output.",
        DiskSpaceWarning, stacklevel=stacklevel + 1,
    )


def _missing_value(given, array):
    """``given``, checked, or where it is None the input's own by the CF conventions; and whether it is the input's.

    A declared value that the dtype cannot hold is left out, with a warning
    (it marks no pixel); of several, the first marks missing pixels, with a
    warning, as a run takes one value.
    """
    if given is not None:
        return check_missing_value(given, array.dtype), False
    usable = []
    for attribute, value in declared_missing_values(array):
        try:
            usable.append(check_missing_value(value, array.dtype))
        except (TypeError, ValueError):
            warnings.warn(f"zarr_path: the attribute {attribute} holds {value!r}, which is no value of {array.dtype}, "
                          "so it marks no pixel missing; pass missing_value for the value that does.",
                          UserWarning, stacklevel=4)
    distinct = list(dict.fromkeys(usable))
    if len(distinct) > 1:
        warnings.warn(f"zarr_path: the attributes _FillValue and missing_value name {len(distinct)} values, "
                      f"{', '.join(map(repr, distinct))}; only {distinct[0]!r} marks missing pixels here: pass "
                      "missing_value to choose.", UserWarning, stacklevel=4)
    return (distinct[0], True) if distinct else (None, False)


def _with_tile(prepared, tile, *, memory_limit):
    """``prepared`` with core tiles of ``tile`` px, a whole number of its output chunks, such as an earlier run's."""
    tile_plan = dataclasses.replace(prepared.plan, tile=tile)
    _warn_if_tiles_exceed(memory_limit, tile_plan)
    return dataclasses.replace(prepared, plan=tile_plan)


def face_output(prepared, identity, *, given_tile, memory_limit, named, overwrite, resume):
    """``(prepared, identity, finished, replace)`` of a run planned as ``prepared``, for its output as it is now.

    A resume takes the tile that the output was written with, where the
    caller let ``tile="auto"`` choose, and the output's ``run`` token; its
    plan counts the tiles already written. See
    :func:`~tiledeblur.resume.finished_tiles` for ``finished`` and ``replace``.
    """
    existing = existing_output(prepared.job.target, identity)  # read once for both
    resumed = resumed_tile(existing, identity, given=given_tile) if not overwrite else None
    if resumed is not None:
        prepared, identity = _with_tile(prepared, resumed, memory_limit=memory_limit), {**identity, "tile": resumed}
    finished, replace, output_run = finished_tiles(prepared, identity, existing, named=named, overwrite=overwrite,
                                                   resume=resume)
    prepared = dataclasses.replace(prepared, job=dataclasses.replace(prepared.job, run=output_run),
                                   plan=dataclasses.replace(prepared.plan, finished=len(finished or ())))
    return prepared, identity, finished, replace


def _jpeg_blocks(array, read_sample, regions):
    """The :class:`tiledeblur.jpeg.JpegBlocks` of the values read from ``array`` where it holds a JPEG's pixels,
    else None.

    ``convert`` records the source file's compression (``SOURCE_ATTRIBUTE``),
    and a store written otherwise can carry the same attribute; its blocks
    start at the file's first pixel. A ``uint8`` store without it, such as
    another converter's of a whole-slide scan or a crop of one, holds JPEG's
    pixels where the sample ``regions`` (read by ``read_sample``) show its
    blocks (:func:`tiledeblur.jpeg.find_blocks`).
    JPEG is 8-bit: in a ``uint8`` array, read as fractions of its range, a
    unit holds 255 levels; the blocks of any other dtype's values cannot be
    told, and the scan is warned of as other lossy ones are
    (:func:`_warn_if_lossy`).
    """
    if array.dtype != np.uint8:
        return None
    source = array.attrs.get(SOURCE_ATTRIBUTE)
    if isinstance(source, dict) and source.get("compression") in JPEG_CODECS:
        return JpegBlocks(EIGHT_BIT)
    return find_blocks(read_sample, regions, levels=EIGHT_BIT)


def _warn_if_lossy(array, mus, losses, *, stacklevel):
    """Warn (:class:`MuWarning`) where ``convert`` found the input's source file lossily compressed, in a way that
    :mod:`tiledeblur.jpeg` does not model; ``mus`` are the channels' weights of their ``losses``.

    Cross-validation reads the noise to set the weight, and lossy codecs
    remove it with the image's finest detail (see :mod:`tiledeblur.jpeg`).
    For ``laplacian`` the message names the weights that did best on JPEG
    scans (see the README's Limits), which a user without a lossless scan
    can try; the other losses weigh ``mu`` on scales of their own.
    ``stacklevel`` is the warning's, counted from the caller.
    """
    source = array.attrs.get(SOURCE_ATTRIBUTE)
    if isinstance(source, dict) and source.get("compression"):
        best = LAPLACIAN_WEIGHTS_HINT if set(losses) == {"laplacian"} else ""
        warnings.warn(
            f"mu: 'auto' measures noise that {source['compression']} compression of the source file "
            f"{source.get('file')!r} removed, and chose {weights_text(tuple(mus))}, likely far too small: the "
            f"result may be noisier than the scan. Pass mu, tried on a region first{best}.",
            MuWarning, stacklevel=stacklevel + 1,
        )


def _warn_if_tiles_exceed(memory_limit, tile_plan, *, automatic=False):
    """Warn where even the chosen tile's estimated peak exceeds the memory at which dask pauses a worker.

    dask pauses a worker at a share of its limit (``distributed.worker.memory.pause``, 80%) and restarts it at
    95%: a run whose tiles cannot fit stalls or fails rather than finishing slowly (found by a probe). Compared
    with the limit itself, a tile of 281 MiB passed on workers of 286 MiB, which paused at 229 MiB holding the
    last tile while the others idled (found by another). ``automatic`` tells that ``tile="auto"`` chose the tile,
    at its smallest. The share is this process's dask setting, which a cluster's workers usually share.
    """
    needed, share = tile_plan.tile_bytes(), dask.config.get("distributed.worker.memory.pause") or 1.0
    if memory_limit is not None and needed > share * memory_limit:
        # Found by a probe: a run given no tile was told of "tiles of 512 px" as if it had asked for them.
        chosen = ", the smallest automatic tile," if automatic else ""
        paused = ", where dask pauses them: a paused worker holds its tiles, and the run waits"
        pause, then = (f"{share:.0%} of ", paused) if share < 1 else ("", "; dask may restart them")
        warnings.warn(
            f"tile: tiles of {tile_plan.tile_text()}{chosen} need about {in_binary_units(needed)} each by the "
            f"estimate, more than {pause}the workers' memory limit of {in_binary_units(memory_limit)} per thread "
            f"(each thread solves a tile){then}. Give the workers more memory, or pass a smaller tile.",
            TileMemoryWarning, stacklevel=4,
        )


def _warn_if_input_chunks_are_large(array, tile_plan):
    """Warn where one input chunk, decoded, adds more than ``LARGE_CHUNK_SHARE`` to a tile's estimated memory.

    Zarr decodes whole every chunk that a read meets: an 8192² RGB scan
    stored as one chunk added 200 MiB to each 652² tile's read, and 0.2 to
    0.6 s, where the estimate said 574 MiB (found by a probe). A sharded
    array's chunks are its inner chunks, which a read decodes alone.
    """
    chunk_bytes = math.prod(array.chunks) * array.dtype.itemsize
    needed = tile_plan.tile_bytes()
    if chunk_bytes > LARGE_CHUNK_SHARE * needed:
        chunks = " x ".join(map(str, array.chunks))
        warnings.warn(
            f"zarr_path: the input's chunks of {chunks} hold {in_binary_units(chunk_bytes)} decoded, which each "
            f"tile's read decodes whole, beside the {in_binary_units(needed)} that a tile of {tile_plan.tile_text()} "
            "needs by the estimate; store the input in chunks no larger than the tile (dask.array's rechunk and "
            "to_zarr) to read it faster and in less memory.",
            TileMemoryWarning, stacklevel=4,
        )


def _read_once(read_region, regions):
    """``read_region`` with ``regions`` read up front, once, and each given as a copy, for the checks to share."""
    bounds = lambda region: tuple((part.start, part.stop) for part in region)
    read = {bounds(region): read_region(region) for region in regions}
    return lambda region: read[bounds(region)].copy() if bounds(region) in read else read_region(region)


def _sample(array, region, axis, source, missing_value):
    """A region read for ``mu="auto"``, refused where it holds inf or huge values: ``plan`` scans nothing else."""
    pixels = to_float(read_channels(array, region, axis), missing_value)
    if array.dtype.kind == "f":
        largest = largest_magnitude(pixels)
        if not np.isnan(largest):  # a region can lie wholly outside a mosaic's footprint
            check_float_range(largest, name=f"zarr_path {source.array_url!r}")
    return pixels


def _output_multiscale(ome, found, array, channel_axis):
    """The output's multiscale: the input's (``found``) if any, unless ``ome`` says otherwise."""
    if ome is not None and not isinstance(ome, (bool, np.bool_)):  # 0 == False: an int must not pass (a probe)
        raise TypeError(f"ome: expected None, True or False, got {ome!r} instead.")
    if (ome is not None and not ome) or (ome is None and found is None):
        return None
    if found is None:
        return plain_multiscale(array.ndim, channel_axis, array.metadata.zarr_format,
                                names=getattr(array.metadata, "dimension_names", None))
    return found


def plan(zarr_path, psf, *, output=None, component=None, channel_axis=None, tile="auto", halo="auto",
         loss=None, mu="auto", eps=DEFAULT_EPS, tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER, nonneg=False,
         denoise=True, missing_value=None, storage_options=None, client=None, address=None, n_workers=None,
         memory_limit=None, out_dtype="float32", ome=None, overwrite=False, resume=True, progress=False):
    """The tile plan that :func:`run` would use; solves no tile, writes nothing.

    It reads the metadata and, for ``mu="auto"`` or ``denoise``, a sample of regions: inf
    and huge pixels are refused where the sample meets them, and by
    :func:`run` wherever they are (NaN marks a missing pixel).

    Parameters
    ----------
    zarr_path, psf, output, component, channel_axis, tile, halo, loss, mu, eps, tol, maxiter, nonneg, denoise
        As :func:`tiledeblur.run` (``tol``, ``maxiter`` and ``nonneg`` change no tile, but are refused where
        :func:`run` refuses them, and an earlier run's output is resumed only with its own).
    missing_value, storage_options
        As :func:`tiledeblur.run`.
    out_dtype, ome
        As :func:`tiledeblur.run`: they set the output's size, which the
        plan states, and where it exceeds the free space of the output's
        local disk a :class:`DiskSpaceWarning` says so, as :func:`run`
        would before its first tile.
    overwrite, resume
        As :func:`tiledeblur.run`: an existing output that :func:`run` would
        refuse is refused, and the plan of one that it would resume takes
        that output's tile and counts the tiles already written.
    client, address, n_workers
        The cluster planned for, as :func:`tiledeblur.run` takes it: the
        local one that ``n_workers`` describes, or the workers that
        ``client`` or ``address`` has now (where none has joined yet, it
        warns, as :func:`run` would wait for the first).
    memory_limit : int or str, optional
        Bytes per worker thread, each of which solves a tile at a time, in
        place of the cluster's: to plan for workers other than these. A
        string is a size as dask reads one, such as ``"4 GiB"`` or ``"4GB"``.
        :func:`run` takes the limit of the workers it runs on.
    progress : bool
        Tell on stderr, as :func:`run` does, that ``loss="auto"`` solves
        sample regions to choose a loss.

    Returns
    -------
    tiledeblur.tiling.TilePlan
        ``describe()`` gives it for people, as ``tiledeblur plan`` prints it.

    Examples
    --------
    >>> import os, tempfile
    >>> import zarr
    >>> from skimage import data
    >>> from tiledeblur import gaussian_psf, plan
    >>> scan = os.path.join(tempfile.mkdtemp(), "scan.zarr")
    >>> _ = zarr.create_array(scan, data=data.camera(), chunks=(256, 256))
    >>> tiles = plan(scan, gaussian_psf(5, 1.0), tile=256, mu=0.01)
    >>> print(tiles.describe())  # doctest: +NORMALIZE_WHITESPACE
    image 512 x 512 px; loss laplacian; mu 0.01; 4 tiles (2 x 2) of 256 px, written as output chunks of 256 px;
    halo 23 px (work per pixel x1.22); about 206 MiB per worker thread; output 1.0 MiB uncompressed as float32
    """
    if memory_limit is not None:
        memory_limit = check_bytes("memory_limit", memory_limit)
    check_cluster_options(client=client, address=address, n_workers=n_workers)
    overwrite, resume = check_flag("overwrite", overwrite), check_flag("resume", resume)
    progress = check_flag("progress", progress)  # run() refuses "yes"; plan() took it (found by a probe)
    remote = client is not None or address is not None
    with connect(client=client, address=address) if remote else contextlib.nullcontext() as active:
        if remote:
            check_worker_versions(active, name="client" if client is not None else "address")
        cluster_memory, workers = worker_resources(active, n_workers)
    if not workers and memory_limit is None:
        # Found by a probe: a plan for a scheduler whose workers had not started yet showed tiles that run,
        # which waits for the first worker, did not use.
        warnings.warn(f"tile: no worker has joined the cluster yet, so this plan assumes "
                      f"{UNKNOWN_MEMORY_LIMIT / 2**30:g} GiB of memory per thread; a run waits for the first worker "
                      "and plans with its memory limit.", TileMemoryWarning, stacklevel=2)
    prepared = prepare(
        zarr_path, psf, output=output, component=component, channel_axis=channel_axis, tile=tile, halo=halo,
        loss=loss, mu=mu, eps=eps, tol=tol, maxiter=maxiter, nonneg=nonneg, denoise=denoise,
        storage_options=storage_options, out_dtype=out_dtype, memory_limit=memory_limit or cluster_memory, workers=workers,
        missing_value=missing_value, ome=ome,  # refused as run() refuses it (found by a probe)
        new_output=not (resume or overwrite), progress=progress,
    )
    # As run() refuses them before any work (found by a probe: a plan passed an output that run refused as written
    # with other settings).
    prepared, _, finished, _ = face_output(prepared, run_identity(prepared), given_tile=tile,
                                           memory_limit=memory_limit or cluster_memory, named=output is not None,
                                           overwrite=overwrite, resume=resume)
    if not is_complete(prepared, finished):  # as run(): a finished output is done on a read-only disk too
        prepared.job.target.check_writable()
    check_disk_space(prepared, finished, stacklevel=2)
    return prepared.plan
