"""What each command of :mod:`tiledeblur.cli` does, once its options are parsed: ``run``, ``plan``, ``convert``, ``demo``."""

import re

from PIL import ImageColor

from .convert import convert
from .demo import check_preview, run_demo, save_preview
from .io import local_path, open_input
from .ome import find_multiscale
from .pipeline import run
from .planning import plan
from .tiling import weights_text

__all__ = ["COMMANDS"]


def _preview(path, arguments, report):
    """Write the central region of the input and of the output, side by side, in the input's channel colours."""
    source, location = open_input(arguments.input, component=arguments.component)
    result, _ = open_input(report.output)  # an OME-Zarr output's level 0, as for inputs
    colors, windows = _channel_display(location, report.channel_axis, source.shape)
    save_preview(path, source, result, report.channel_axis, missing_value=report.plan.missing_value,
                 colors=colors, windows=windows)


def _channel_display(location, channel_axis, shape):
    """``(colors, windows)``: each channel's ``"RRGGBB"`` and display window ``(start, end)`` in the OME-Zarr
    metadata of the input at ``location``; either is None where some channel has none.

    Found by probes: a DAPI, GFP and RFP image was previewed as red, green
    and blue in that order, DAPI red, and a fourth channel not at all; and a
    nearly empty channel, stretched to its own percentiles, washed the picture
    in its colour where viewers show it dark by its window.
    """
    multiscale = find_multiscale(location)
    channels = multiscale.channels if multiscale is not None else []
    if len(channels) != (1 if channel_axis is None else shape[channel_axis]):
        return None, None
    # A channel that viewers hide (an RGBA scan's alpha) adds nothing to the picture.
    colors = ["000000" if channel.get("active") is False else _rrggbb(channel.get("color")) for channel in channels]
    windows = [_window(channel.get("window")) for channel in channels]
    return (None if None in colors else colors), (None if None in windows else windows)


def _window(window):
    """An omero channel's ``window`` as ``(start, end)``, or None where it gives no such pair.

    Examples
    --------
    >>> _window({"start": 100, "end": 1500, "min": 0, "max": 4095}), _window({"start": 5, "end": 5}), _window(None)
    ((100.0, 1500.0), None, None)
    """
    try:
        start, end = float(window["start"]), float(window["end"])
    except (KeyError, TypeError, ValueError):
        return None
    return (start, end) if end > start else None


def _rrggbb(color):
    """An omero channel's ``color`` as ``"RRGGBB"``, or None where it names no colour.

    NGFF writes RRGGBB; other tools write #RRGGBB, RRGGBBAA or a CSS name
    (found by a probe: one such colour sent every channel back to the index's).

    Examples
    --------
    >>> [_rrggbb(color) for color in ["0000FF", "#00ff00", "FF0000FF", "magenta", "no colour", 255]]
    ['0000FF', '00ff00', 'FF0000', 'FF00FF', None, None]
    """
    if not isinstance(color, str):
        return None
    hexadecimal = re.fullmatch(r"#?([0-9A-Fa-f]{6})(?:[0-9A-Fa-f]{2})?", color)
    if hexadecimal:
        return hexadecimal.group(1)
    try:
        return "{:02X}{:02X}{:02X}".format(*ImageColor.getrgb(color))
    except ValueError:
        return None


def _solver_options(arguments):
    """The solver's options that the command was given (the rest keep the functions' defaults)."""
    return {name: getattr(arguments, name) for name in ("eps", "tol") if getattr(arguments, name) is not None}


def _once_or_each(values):
    """An option's value where it was given once, or the list of one per channel where it was given more often.

    Found by a probe: ``--psf`` given once per channel kept the last for all.
    """
    return values[0] if len(values) == 1 else values


def _mu(arguments):
    """``--mu``'s value, one per channel, or ``"auto"`` where it was not given."""
    return "auto" if arguments.mu is None else _once_or_each(arguments.mu)


def _run(arguments):
    if arguments.preview is not None:
        arguments.preview = check_preview(arguments.preview, arguments.out)
    report = run(
        arguments.input, _once_or_each(arguments.psf), output=arguments.out, component=arguments.component,
        channel_axis=arguments.channel_axis, tile=arguments.tile, halo=arguments.halo, loss=arguments.loss,
        mu=_mu(arguments), nonneg=arguments.nonneg, denoise=arguments.denoise, missing_value=arguments.missing_value,
        n_workers=arguments.workers, address=arguments.address,
        out_dtype=arguments.out_dtype, ome=arguments.ome, overwrite=arguments.overwrite,
        resume=not arguments.no_resume, **_solver_options(arguments),
    )
    computed = report.tiles_computed
    # Semicolons: a list of weights must not run into the time (found by a probe).
    print(f"wrote {report.output}: {computed} tile{'s' * (computed != 1)} computed, {report.tiles_skipped} already done; "
          f"mu {weights_text(report.mu)}; {report.seconds:.1f} s")
    if arguments.preview:
        _preview(arguments.preview, arguments, report)
        print(f"preview: {arguments.preview}")
    return 0


def _plan(arguments):
    if arguments.preview is not None:  # as run refuses it: a command line that plans must run
        check_preview(arguments.preview, arguments.out)
    tile_plan = plan(arguments.input, _once_or_each(arguments.psf), output=arguments.out,
                     component=arguments.component, channel_axis=arguments.channel_axis, tile=arguments.tile,
                     halo=arguments.halo, loss=arguments.loss, mu=_mu(arguments), nonneg=arguments.nonneg,
                     denoise=arguments.denoise, missing_value=arguments.missing_value, n_workers=arguments.workers,
                     address=arguments.address, out_dtype=arguments.out_dtype, ome=arguments.ome,
                     overwrite=arguments.overwrite, resume=not arguments.no_resume, progress=True,
                     **_solver_options(arguments))
    print(tile_plan.describe())
    return 0


def _convert(arguments):
    array = convert(arguments.image, arguments.output, chunk=arguments.chunk, ome=arguments.ome)
    print(f"wrote {local_path(arguments.output, name='OUTPUT')}: shape {array.shape}, dtype {array.dtype}, chunks {array.chunks}")
    return 0


def _demo(arguments):
    result = run_demo(size=arguments.size, out_dir=arguments.out, n_workers=arguments.workers)
    print(f"PSNR blurred {result.psnr_blurred:.2f} dB, deblurred {result.psnr_deblurred:.2f} dB "
          f"(16 sampled regions); picture: {result.picture}; output: {result.output}")
    return 0


#: Each command's function, by the command's name.
COMMANDS = {"run": _run, "plan": _plan, "convert": _convert, "demo": _demo}
