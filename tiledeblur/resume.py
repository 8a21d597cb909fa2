"""An output's identity, and what a rerun may take of it.

An output records the settings that wrote it (its identity) and a token of
its creation (its ``run``). A rerun with the same identity resumes it,
computing only the tiles without a done-marker; one with another identity is
refused unless it may replace the output, and a tile writes nothing into an
output that another run has created anew since its own run began.
"""

import dataclasses
import hashlib
import json
import os
import re

import zarr

from ._version import __version__
from .io import MARKER_FOLDER, ZARR_METADATA_FILES, DoneMarkers, filesystem, fingerprint, stored_chunks

__all__ = ["CHANGED_INPUT", "OutputReplacedError", "check_new", "existing_output", "finished_tiles", "owned_output",
           "resumed_tile", "run_identity"]


#: The parts of a path that tiledeblur writes in an output: Zarr's metadata, chunk keys (format 3's ``c`` and
#: numbers, format 2's numbers joined by dots) and OME-Zarr's numbered levels; and the done-markers' folder, which
#: holds only tiledeblur's.
WRITTEN_PART = re.compile("|".join(map(re.escape, (*ZARR_METADATA_FILES, ".zattrs"))) + r"|c|\d+(\.\d+)*")
MARKERS_TOP = MARKER_FOLDER.split("/")[0]


class OutputReplacedError(RuntimeError):
    """A tile found that another run had created its output anew since this run started; it wrote nothing."""


#: What an output whose input changed while it was written records as the input's fingerprint: no input has it.
CHANGED_INPUT = "changed while a run wrote this output"


def owned_output(job, tile):
    """The output opened for writing, if it is still the one this run created or resumes.

    dask cannot stop a task that is running: the tiles of an interrupted run
    on a user's cluster finish later, and would write the old settings'
    chunks and done-markers into an output that ``overwrite=True`` has
    created anew since. Every creation records a ``run`` token, of its
    settings (:func:`_run_token`) or, for an overwrite, a random one, and a
    tile writes nothing when the token has changed.
    """
    try:
        target = job.target.open("r+")
    except FileNotFoundError as error:  # zarr's "no array or group here" too
        # Found by a probe: while an overwrite removed the output, this run's tiles failed one by one, each with
        # zarr's GroupNotFoundError and the advice to run again.
        # Or the worker does not share the client's disk (found by a probe: a node-local path was taken for one
        # that another run replaced).
        raise OutputReplacedError(
            f"{tile.name} not written: this worker does not find {job.target.url!r}, which another run removed or "
            "is replacing since this one started, or which this worker cannot reach: every worker must reach the "
            "output at the path that the client gives, on a shared file system or object store."
        ) from error
    if target.attrs.get("tiledeblur", {}).get("run") != job.run:
        raise OutputReplacedError(
            f"{tile.name} not written: {job.target.url!r} was replaced by another run since this one started."
        )
    return target


def run_identity(prepared):
    """The settings a resume must match, as plain JSON values."""
    job = prepared.job
    identity = {
        "input": {
            # Where links lead, for a local path: the same input spelled through a link was refused (a probe).
            "url": os.path.realpath(job.source.array_url) if job.source.is_local else job.source.array_url,
            "shape": list(prepared.array.shape),
            "dtype": str(prepared.array.dtype),
            "fingerprint": fingerprint(prepared.array),
            "stored_chunks": stored_chunks(job.source),
        },
        "psf": [p.tolist() for p in job.psfs],
        "settings": _settings_identity(job.settings, job.mu, job.loss),
        "channel_axis": job.channel_axis,
        "out_dtype": job.out_dtype,
        # Only where given: outputs written before the option existed still resume.
        **({"missing_value": job.missing_value} if job.missing_value is not None else {}),
        # Only where alone: outputs written before channels were denoised alone were denoised together.
        **({"channels_alone": True} if not job.together else {}),
        "tile": prepared.plan.tile,
        "chunk": prepared.plan.chunk,
        "halo": prepared.plan.halo,
        "ome": dataclasses.asdict(prepared.multiscale) if prepared.multiscale is not None else None,
    }
    return json.loads(json.dumps(identity))


def _settings_identity(settings, mu, loss):
    """The channels' solver settings, which differ in ``loss`` (one, or a tuple of each channel's), ``mu``,
    ``noise``, ``contrast``, ``noise_line`` and ``mix`` alone, as plain values.

    The noise levels of ``denoise`` are recorded under its name, and the contrasts, noise lines and mixes of
    ``nlmeans`` under theirs, each only where a channel has one, so that outputs written before they existed, or
    without them, still resume.
    """
    recorded = {**dataclasses.asdict(settings[0]), "mu": mu, "loss": loss}
    del recorded["noise"], recorded["contrast"], recorded["noise_line"], recorded["mix"]
    for name, field in (("denoise", "noise"), ("contrast", "contrast"), ("noise_line", "noise_line"), ("mix", "mix")):
        values = [getattr(channel, field) for channel in settings]
        if any(value is not None for value in values):
            recorded[name] = values
    return recorded


def _written_identity(target):
    """``(identity, complete)`` as the existing output at ``target`` recorded them, or None where there is none.

    See :func:`existing_output`, which reads them in the form of a run's identity.
    """
    fs, path = filesystem(target.url, target.storage_options)
    if not fs.exists(path) or (fs.isdir(path) and not fs.find(path)):
        return None
    try:
        return dict(target.open("r").attrs).get("tiledeblur", {}), True
    except (FileNotFoundError, ValueError, KeyError, IndexError, TypeError):  # not the array this run writes
        return _root_identity(target), False


def _check_replaceable(target, existing):
    """Refuse, at ``target``, an ``existing`` output (a :func:`_written_identity` or an :func:`existing_output`, or
    None) that no run may replace, not even with ``overwrite``: a folder of other files, or a Zarr store that
    tiledeblur did not write."""
    if existing is None:
        return
    if not target.holds_zarr():
        # A folder of someone's files is no output to replace (found by a probe).
        raise ValueError(f"output: expected a new path or a Zarr store to replace, got {target.url!r}, which holds "
                         "other files; pass another output.")
    if not existing[0] and not DoneMarkers(target).exist():
        # It is someone's data, such as the raw scan given as the output by mistake (found by a probe: --overwrite
        # replaced a raw OME-Zarr, and the refusal without it said the store was written with other settings).
        raise ValueError(f"output: expected a new path or an output of tiledeblur, got {target.url!r}, a Zarr store "
                         "that tiledeblur did not write; pass another output, or remove it first if it is to go.")


def check_new(target):
    """Refuse an output that exists at ``target``, for a run asked not to resume one.

    :func:`tiledeblur.planning.prepare` calls it before the sample regions
    are read (found by a probe: ``--no-resume`` refused an existing output
    only after the seconds of ``loss="auto"``'s comparison).
    """
    existing = _written_identity(target)
    _check_replaceable(target, existing)
    if existing is not None:
        raise ValueError(f"output: expected a new path, got {target.url!r}, which exists; pass overwrite=True.")


def _check_only_written(target):
    """Refuse to replace ``target``'s output where its store holds files that no run of tiledeblur writes there.

    Zarr replaces a store by removing its folder, with whatever a user put
    into it (found by a probe: notes and a folder of data, put into an
    earlier output, went with an overwrite).
    """
    fs, root = filesystem(target.url, target.storage_options)
    root = root.rstrip("/")
    others = []
    for path in fs.find(root):
        relative = path[len(root) + 1:]
        parts = relative.split("/")
        if MARKERS_TOP in parts:
            parts = parts[:parts.index(MARKERS_TOP)]
        if not all(WRITTEN_PART.fullmatch(part) for part in parts):
            others.append(relative)
    if others:
        named = ", ".join(repr(other) for other in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3
                                                                   else "")
        raise ValueError(f"output: expected an output of tiledeblur to replace, got {target.url!r}, which also holds "
                         f"files that tiledeblur does not write ({named}); move them, or pass another output.")


def existing_output(target, identity):
    """``(identity, complete)`` of an existing output, or ``None`` where there is none.

    The identity recorded is read in the form of this run's ``identity``
    (see :func:`run_identity`), so that outputs of earlier versions resume.

    An empty folder counts as none: it holds nothing to lose, and a run
    killed while creating its output leaves one. An OME-Zarr group whose
    level-0 array is missing is incomplete; its identity is the group's.
    ``{}`` is the identity of anything that tiledeblur did not write.
    """
    written = _written_identity(target)
    if written is None:
        return None
    recorded, complete = written
    for derived in ("version", "value_scale"):  # derived, not chosen: outputs of other versions resume
        recorded.pop(derived, None)
    if "input" in recorded and "stored_chunks" not in recorded["input"]:  # an earlier version's: resumes on its sample
        recorded["input"] = {**recorded["input"], "stored_chunks": identity["input"]["stored_chunks"]}
    return _per_channel_mu(recorded, identity), complete


def _root_identity(target):
    """The identity at the root of ``target``'s store, ``{}`` for anything else.

    The root is the OME-Zarr group of an output, or a plain output where an
    OME-Zarr one is asked for: either is tiledeblur's, replaced only with
    ``overwrite``.
    """
    if not target.component:
        return {}
    try:
        root = zarr.open(target.url, mode="r", storage_options=target.storage_options or None)
    except (FileNotFoundError, ValueError, TypeError):
        return {}
    return dict(root.attrs).get("tiledeblur", {})


def _run_token(identity):
    """The ``run`` token of an output created for ``identity``: the same for identical runs, which write the same bytes.

    Two identical runs that create one output at the same moment then both
    own it (Zarr's "create only if new" looks, then writes, so both may
    succeed); a random token made the later creation refuse the earlier
    run's tiles (found by a probe). Runs with other settings get another,
    and so do those of another version, which a resume accepts but whose
    bytes may differ. An output that ``overwrite`` makes anew gets a random
    one (see :func:`finished_tiles`).
    """
    made = {"identity": identity, "version": __version__}
    return hashlib.sha256(json.dumps(made, sort_keys=True).encode()).hexdigest()[:16]


def finished_tiles(prepared, identity, existing, *, named, overwrite, resume):
    """``(finished, replace, run)``: tiles already written by an identical earlier run, ``None`` for a new output.

    ``existing`` is the output's :func:`existing_output`; ``named`` tells
    whether the caller named the output, or took the default.

    Refuses, before anything is written, an existing output that is not an
    identical run's, unless ``overwrite``, and anything that tiledeblur did
    not write, or another input's output at a default name, even then.
    ``replace`` tells to create the
    output over what is there: with ``overwrite``, or over this very run's
    output that an interruption left half created. ``run`` is the token of
    the output's creation (see :func:`owned_output`): the resumed output's,
    or a new one.
    """
    target = prepared.job.target
    _check_replaceable(target, existing)
    written = (existing[0].get("input") or {}) if existing is not None else {}
    written_from = written.get("url")
    # The same data at another path (a store moved with its output, a share mounted elsewhere) is this input.
    if not named and written_from not in (None, identity["input"]["url"]) and (
            written.get("fingerprint") != identity["input"]["fingerprint"]):
        # Not even with overwrite: default names can meet, as those of scan.zarr and scan, or of the arrays a/b and
        # a.b of one store (found by a probe: with overwrite=True each such run replaced the one before).
        raise ValueError(f"output: expected the default output of this input to be new or its own, got "
                         f"{target.url!r}, which holds the output of another input, {written_from!r}; pass an "
                         "output to name another.")
    if existing is None or overwrite:
        if existing is not None:
            _check_only_written(target)
        # An overwrite's output is new even to a run of the same settings: that run's tiles may have read another
        # input, changed where the fingerprint does not look (found by a probe).
        return None, overwrite, os.urandom(8).hex() if overwrite else _run_token(identity)
    if not resume:
        check_new(target)
    recorded, complete = existing
    run = recorded.pop("run", None)
    if (recorded.get("input") or {}).get("fingerprint") == CHANGED_INPUT:
        raise ValueError(f"output: expected an output to resume, got {target.url!r}, whose input changed while a run "
                         "wrote it, so that its tiles may hold old data; pass overwrite=True to replace it.")
    if not recorded:  # _check_replaceable let it pass for its done-markers
        # Found by a probe: told "written with other settings", where an overwrite stopped part way had removed the
        # metadata.
        raise ValueError(f"output: {target.url!r} exists and holds the tiles of a run without its metadata, which "
                         "an overwrite stopped part way leaves; pass overwrite=True to replace it, or another output.")
    if recorded != identity:
        differing = f" (differing: {', '.join(_differences(recorded, identity))})"
        raise ValueError(
            f"output: {target.url!r} exists and was written from another input or with other settings{differing}"
            f"{_mu_told(recorded, identity)}; pass overwrite=True to replace it, or another output."
        )
    if not complete:
        if dataclasses.replace(target, url=target.array_url, component="").holds_zarr():
            # Its level 0 is there but could not be read (a remote store's passing error, damaged metadata):
            # created anew, it would lose every tile written (found in a review).
            raise ValueError(f"output: expected an output whose array {target.component!r} can be read, got "
                             f"{target.url!r}, whose array could not be; check the store, or pass overwrite=True.")
        _check_only_written(target)
        return None, True, _run_token(identity)
    planned = {tile.index for tile in prepared.plan.tiles()}
    return DoneMarkers(target).done() & planned, False, run


def _per_channel_mu(recorded, identity):
    """``recorded`` with one ``mu`` for every channel, as versions before per-channel weights wrote it, in
    ``identity``'s form, a list of one per channel, where each is that one (found by a probe: such outputs were
    refused their resume as differing in mu)."""
    settings = recorded.get("settings")
    before, now = settings.get("mu") if isinstance(settings, dict) else None, identity["settings"]["mu"]
    if isinstance(now, list) and isinstance(before, (int, float)) and all(mu == before for mu in now):
        return {**recorded, "settings": {**settings, "mu": now}}
    return recorded


def _differences(recorded, identity):
    """The names of the settings in which an output's recorded identity and this run's differ.

    Examples
    --------
    >>> _differences({"tile": 1024, "settings": {"mu": 0.01, "loss": "tv"}},
    ...              {"tile": 512, "settings": {"mu": 0.02, "loss": "tv"}})
    ['mu', 'tile']
    >>> _differences({"settings": {"denoise": [0.01]}}, {"settings": {"denoise": [0.02]}})
    ["denoise's noise estimate"]
    """
    names = set()
    for key in recorded.keys() | identity.keys():
        before, now = recorded.get(key), identity.get(key)
        if key == "settings" and isinstance(before, dict) and isinstance(now, dict):
            for name in before.keys() | now.keys():
                if before.get(name) != now.get(name):
                    # denoise records the noise estimated with the PSF: named alone, it was taken for the option,
                    # which had not changed (found by a probe).
                    estimated = name == "denoise" and None not in (before.get(name), now.get(name))
                    names.add("denoise's noise estimate" if estimated else name)
        elif before != now:
            names.add(key)
    return sorted(names)


def _mu_told(recorded, identity):
    """Where ``mu`` differs: the output's and this run's, in full, once where every channel of as many has the same.

    The plan's line rounds ``mu="auto"``'s weight to 3 digits, and a rerun
    given those was refused, "differing: mu", without the weight that resumes
    (found by a probe).

    Examples
    --------
    >>> _mu_told({"settings": {"mu": [2.9730215e-05]}}, {"settings": {"mu": [2.97e-05]}})
    "; the output's mu is 2.9730215e-05, this run's 2.97e-05"
    >>> _mu_told({"settings": {"mu": [0.01, 0.01]}}, {"settings": {"mu": [0.01, 0.02]}})
    "; the output's mu is 0.01, this run's 0.01, 0.02"
    >>> _mu_told({"settings": {"mu": [0.01]}}, {"settings": {"mu": [0.01]}})
    ''

    Channels of different numbers are each told (found by a probe: "the
    output's mu is 0.01, this run's 0.01"):

    >>> _mu_told({"settings": {"mu": [0.01, 0.01]}}, {"settings": {"mu": [0.01]}})
    "; the output's mu is 0.01, 0.01, this run's 0.01"
    >>> _mu_told({"settings": {"mu": 0.01}}, {"settings": {"mu": [0.02, 0.02]}})  # an earlier version's, for all
    "; the output's mu is 0.01, this run's 0.02"
    """
    weights = [(record.get("settings") or {}).get("mu") for record in (recorded, identity)]
    if weights[0] is None or weights[0] == weights[1]:
        return ""
    channels = [mu if isinstance(mu, list) else [mu] for mu in weights]
    # One number is an earlier version's for every channel.
    once = not all(isinstance(mu, list) for mu in weights) or len(channels[0]) == len(channels[1])
    written, given = (", ".join(map(repr, mu[:1] if once and len(set(mu)) == 1 else mu)) for mu in channels)
    return f"; the output's mu is {written}, this run's {given}"


def resumed_tile(existing, identity, *, given):
    """The tile of the ``existing`` output (an :func:`existing_output`) where only its tile tells it from ``identity``.

    None where there is no output, or it differs in more, or ``given``, the
    caller's ``tile``, does not account for it.

    ``tile="auto"`` follows the workers' number and memory, so the same call
    on another allocation chose another tile, and was refused its resume
    (found by a probe). A given tile that is no whole number of output chunks
    is rounded down, where earlier versions rounded it up: their outputs
    resume with the tile they wrote (found by a probe).
    """
    recorded = {key: value for key, value in existing[0].items() if key != "run"} if existing else {}
    tile = recorded.get("tile")
    if given != "auto" and tile != -(-int(given) // identity["chunk"]) * identity["chunk"]:
        return None
    return tile if tile != identity["tile"] and recorded == {**identity, "tile": tile} else None
