"""A scan-like test image, made from real photographs, and a before/after picture.

The scene is the gray astronaut of ``skimage.data`` mirrored outward without
end, like a kaleidoscope, so any region of any size is real image content
with no seams, and every pixel of the ground truth can be computed on its own.
:func:`write_scan` blurs it with a PSF, adds noise and stores it as uint8
Zarr one chunk at a time, so a 32768² (1 gigapixel) scan never needs more than
a chunk in memory. :func:`run_demo` then deblurs it with :func:`tiledeblur.run`
and writes a picture: ground truth, blurred and deblurred, zoomed and whole.
"""

import dataclasses
import functools
import math
import os
import shutil
from pathlib import Path

import numpy as np
import zarr
from PIL import Image, ImageDraw, ImageFont
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio

from .arguments import check_int
from .cluster import check_n_workers
from .image import float_scale, to_float
from .io import Location, local_path, plane_axes, read_channels
from .operators import Blur
from .pipeline import run
from .psf import check_psf, gaussian_psf, psf_radius
from .regularization import sample_regions
from .tiling import in_binary_units

__all__ = ["DemoResult", "check_preview", "ground_truth", "run_demo", "save_panels", "save_preview", "write_scan"]

#: Where the picture zooms in: the astronaut's face, in the first mirror copy.
ZOOM = (slice(60, 220), slice(150, 310))
#: The smallest scan, which holds the zoomed region.
MIN_SIZE = max(s.stop for s in ZOOM)
#: The attribute that marks a scan as the demo's, so a later demo may replace it.
DEMO_ATTRIBUTE = "tiledeblur-demo"
#: The percentiles of the input that bound the display window of ``--preview``.
DISPLAY_PERCENTILES = (0.5, 99.5)


@functools.cache
def _photograph():
    return color.rgb2gray(data.astronaut())


def _mirror_index(axis_slice, period):
    """Indices into a period-long axis, reflected at both ends forever."""
    index = np.arange(axis_slice.start, axis_slice.stop, axis_slice.step or 1) % (2 * period)
    return np.where(index < period, index, 2 * period - 1 - index)


def ground_truth(region):
    """The scene in ``region``, a pair of slices with any start and step, float64 in [0, 1].

    Examples
    --------
    >>> ground_truth((slice(0, 2), slice(510, 514))).shape
    (2, 4)
    """
    photo = _photograph()
    rows = _mirror_index(region[0], photo.shape[0])
    cols = _mirror_index(region[1], photo.shape[1])
    return photo[np.ix_(rows, cols)]


def write_scan(path, size, psf, *, noise=0.01, chunk=512, seed=0):
    """Write a ``size``² uint8 scan of the blurred, noisy scene to a new Zarr array.

    Each chunk is blurred from the scene around it (the PSF's radius beyond
    its edges), so chunks join exactly; its noise comes from a generator
    seeded by ``seed`` and the chunk's position, so the scan is reproducible.
    """
    psf = check_psf(psf)
    radius = psf_radius(psf)
    scan = zarr.create_array(path, shape=(size, size), chunks=(chunk, chunk), dtype=np.uint8,
                             attributes={DEMO_ATTRIBUTE: {"noise": noise, "seed": seed}})
    for row in range(0, size, chunk):
        for col in range(0, size, chunk):
            shape = (min(chunk, size - row), min(chunk, size - col))
            around = (slice(row - radius[0], row + shape[0] + radius[0]),
                      slice(col - radius[1], col + shape[1] + radius[1]))
            blurred = Blur(psf, shape, boundary="free").matvec(ground_truth(around))
            rng = np.random.default_rng([seed, row, col])
            noisy = blurred + rng.normal(0.0, noise, shape)
            scan[row:row + shape[0], col:col + shape[1]] = np.round(np.clip(noisy, 0, 1) * 255)
    return scan


def save_panels(path, rows):
    """Write a PNG grid of images in [0, 1], gray ``(y, x)`` or color ``(y, x, 3)``, each row a list of ``(title, image)``.

    Smaller images are enlarged by a whole factor, pixel for pixel, to fill
    their cell, so a zoomed region shows its pixels rather than a thumbnail.
    The picture is in color where any image is. A cell is as wide as its
    title at least (found by a probe: the titles over a 13 px wide scan ran
    into each other).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "panels.png"
    >>> save_panels(path, [[("before", np.zeros((32, 32))), ("after", np.ones((32, 32)))]])
    >>> with Image.open(path) as picture:
    ...     picture.height  # 8 px margins, and 18 px for the titles
    66
    """
    font = ImageFont.load_default()
    height = max(image.shape[0] for row in rows for _, image in row)
    width = max(max(image.shape[1], math.ceil(font.getlength(title))) for row in rows for title, image in row)
    mode = "RGB" if any(image.ndim == 3 for row in rows for _, image in row) else "L"
    rows = [[(title, _enlarge(image, height, width)) for title, image in row] for row in rows]
    # Each row as high as its tallest image: a zoom that no whole factor fits to a larger scan's cell left a blank
    # band under it (found by a probe, at the demo's smallest size).
    row_heights = [max(image.shape[0] for _, image in row) for row in rows]
    margin, title_height = 8, 18
    row_tops = np.cumsum([margin] + [row_height + title_height + margin for row_height in row_heights])
    canvas = Image.new(mode, ((width + margin) * len(rows[0]) + margin, int(row_tops[-1])), "white")
    draw = ImageDraw.Draw(canvas)
    for row, top in zip(rows, row_tops.tolist()):
        for c, (title, image) in enumerate(row):
            left = margin + c * (width + margin)
            draw.text((left, top), title, fill="black", font=font)
            pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            canvas.paste(Image.fromarray(pixels).convert(mode), (left, top + title_height))
    # Written whole under another name, then renamed: a run stopped while it wrote its preview left a cut picture,
    # which refused the same command run again to resume (found by a probe).
    path = Path(path)
    unfinished = path.with_name(f".{path.stem}.unfinished-{os.urandom(4).hex()}{path.suffix}")
    try:
        canvas.save(unfinished)
        os.replace(unfinished, path)
    finally:
        unfinished.unlink(missing_ok=True)


def _enlarge(image, height, width):
    factor = max(1, min(height // image.shape[0], width // image.shape[1]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def check_preview(path, output=None):
    """``path`` as a local path, or a ``ValueError`` where a preview cannot or must not be written there.

    For command lines, which check ``--preview`` before the run, not hours
    later after it. Like every output, a preview never replaces a file, and
    it is written into no Zarr store, the input's (read-only) or the output
    ``output`` (found by probes: a preview named as the user's TIFF
    replaced it, one inside the input was written there, and one named as
    ``--out`` failed after the run).

    Examples
    --------
    >>> check_preview("before_after.png")
    PosixPath('before_after.png')
    >>> check_preview("no_such_folder/before_after.png")
    Traceback (most recent call last):
    ...
    ValueError: --preview: expected a path in an existing folder, got 'no_such_folder/before_after.png' instead.
    """
    if not str(path).strip():  # Path("") is the working directory
        raise ValueError(f"--preview: expected a picture's file name such as before_after.png, got {path!r} instead.")
    path = local_path(path, name="--preview")
    if not path.absolute().parent.is_dir():
        raise ValueError(f"--preview: expected a path in an existing folder, got {str(path)!r} instead.")
    # A link to nowhere yet leads into the output store (found by a probe); os.path's, which too long a name leaves
    # False, where pathlib's raised the system's error.
    if os.path.lexists(path):
        raise ValueError(f"--preview: expected a new file, got {str(path)!r}, which exists; remove it or name another.")
    # A read-only folder failed only after the run, which had taken its hours (found by a probe).
    Location.at(os.path.abspath(path)).check_writable(name="--preview")
    inside_output = output is not None and path.resolve().is_relative_to(Path(output).expanduser().resolve())
    if inside_output or any(Location.at(folder).holds_zarr() for folder in path.resolve().parents):
        raise ValueError(f"--preview: expected a path outside the Zarr stores of input and output, got {str(path)!r}.")
    if Image.registered_extensions().get(path.suffix.lower()) not in Image.SAVE:
        raise ValueError(f"--preview: expected a picture's file name such as before_after.png, got {str(path)!r}, "
                         "whose extension names no format that Pillow writes.")
    return path


def save_preview(path, source, result, channel_axis=None, *, missing_value=None, colors=None, windows=None,
                 side=512):
    """Write the central ``side``² region of an input and its result side by side.

    With ``colors``, one ``"RRGGBB"`` per channel (on ``channel_axis``), as
    an OME-Zarr's ``omero`` metadata gives them, each channel is shown in its
    colour in its own display window, and the colours add up, as microscopy
    viewers show fluorescence. Otherwise three channels are shown as red,
    green and blue, so that a slide scan's color fringes show, in one window
    for all, and other numbers of channels are averaged to gray. A display
    window runs from the input's 0.5th to its 99.5th percentile, and both
    panels share it: 12-bit counts in uint16 would be nearly black on the
    dtype's range, and fluxes of a mosaic white. ``windows``, one
    ``(start, end)`` per channel in the input's values (an OME-Zarr's
    ``omero`` windows), take their place with ``colors``. Missing pixels (NaN,
    or ``missing_value`` in the input's dtype) are black.
    """
    axis = None if channel_axis is None else channel_axis % source.ndim
    centre = tuple(slice(max(0, n // 2 - side // 2), n // 2 + side // 2)
                   for n in (source.shape[i] for i in plane_axes(source.ndim, axis)))
    before, after = (to_float(read_channels(array, centre, axis),
                              missing_value if array.dtype == source.dtype else None)
                     for array in (source, result))
    if colors is None:
        before, after = _displayed(before), _displayed(after)
        windows = [_display_window(before)]
    elif windows is None:
        windows = [_display_window(channel) for channel in before]
    else:  # in the values that to_float gives
        windows = [(start * float_scale(source.dtype), end * float_scale(source.dtype)) for start, end in windows]
    save_panels(path, [[(title, _in_windows(image, windows, colors))
                        for title, image in (("input (centre)", before), ("deblurred (centre)", after))]])


def _displayed(channels):
    """``(C, y, x)`` channels as a picture: ``(y, x, 3)`` for three, else their ``(y, x)`` mean.

    Examples
    --------
    >>> _displayed(np.zeros((3, 4, 5))).shape, _displayed(np.zeros((2, 4, 5))).shape
    ((4, 5, 3), (4, 5))
    """
    return np.moveaxis(channels, 0, -1) if len(channels) == 3 else channels.mean(axis=0)


def _in_windows(image, windows, colors):
    """``image`` scaled to [0, 1] by its display window; with ``colors``, each channel's in its own, then coloured.

    Examples
    --------
    A red and a blue channel, each at the top of its window, make magenta:

    >>> _in_windows(np.array([[[2.0]], [[0.5]]]), [(0.0, 2.0), (0.0, 0.5)], ["FF0000", "0000FF"]).tolist()
    [[[1.0, 0.0, 1.0]]]
    """
    if colors is None:
        (low, high), = windows
        return np.nan_to_num((image - low) / (high - low))
    rgb = np.array([[int(color[i:i + 2], 16) / 255 for i in (0, 2, 4)] for color in colors])
    scaled = np.stack([np.nan_to_num((channel - low) / (high - low)) for channel, (low, high) in zip(image, windows)])
    return np.clip(np.tensordot(np.clip(scaled, 0, 1), rgb, axes=(0, 0)), 0, 1)


def _display_window(image):
    """The 0.5th and 99.5th percentiles of the pixels that are not NaN, a window of width 1 where they are equal.

    Examples
    --------
    >>> _display_window(np.array([np.nan, 5.0, 5.0]))
    (5.0, 6.0)
    """
    present = image[~np.isnan(image)]
    if not present.size:
        return 0.0, 1.0
    low, high = (float(value) for value in np.percentile(present, DISPLAY_PERCENTILES))
    return (low, high) if high > low else (low, low + 1.0)


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """PSNR (dB, on sampled regions) of the scan and of its deblurred output, and the files."""

    psnr_blurred: float
    psnr_deblurred: float
    picture: Path
    output: str


def _sampled_psnr(read, size):
    """PSNR against the ground truth over 16 evenly spread regions of ``sample_regions``."""
    regions = sample_regions((size, size), 16)
    truth = np.concatenate([ground_truth(region).ravel() for region in regions])
    values = np.concatenate([np.asarray(read(region), dtype=np.float64).ravel() for region in regions])
    return peak_signal_noise_ratio(truth, values, data_range=1.0)


def _check_demo_folder(out_dir, size):
    """Refuse a folder that holds a ``scan.zarr`` or ``scan.deblurred.zarr`` that no demo wrote, or a ``demo.png``
    without an earlier demo's scan beside it; one that is, or lies in, a Zarr store; and a ``size`` whose scan and
    result would not fit its disk.

    The demo replaces its own files; ``--out`` pointed at a project folder
    must not delete a real scan of the same name, nor replace a picture
    (found by a probe). Found by probes too: a demo into a store wrote its
    scan there before ``run`` refused the output, and one of 10⁸ px a side
    wrote until it was stopped.
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):  # os.path's, which a name too long leaves False
        raise ValueError(f"out_dir: expected a folder, got {str(out_dir)!r}, which is a file.")
    folder = Location.at(os.path.abspath(out_dir))
    folder.check_writable(name="out_dir")  # not mkdir's raw error (probes)
    Location.at(os.path.join(folder.url, "scan.zarr")).check_outside_stores(name="out_dir")
    # The scan's bytes and the float32 result's, uncompressed: noise leaves the codec little to take.
    needed = size**2 * (1 + 4)
    if needed > folder.free_bytes():
        raise ValueError(f"size: expected a scan whose data fit the {in_binary_units(folder.free_bytes())} free on "
                         f"the disk of {str(out_dir)!r}, got {size} px a side, which take "
                         f"{in_binary_units(needed)}; pass a smaller size.")
    scan, output, picture = out_dir / "scan.zarr", out_dir / "scan.deblurred.zarr", out_dir / "demo.png"
    if not (scan.exists() or output.exists()):
        if picture.exists() or picture.is_symlink():
            raise ValueError(f"out_dir: expected a new folder or an earlier demo's, got {str(out_dir)!r}, which "
                             "holds a demo.png without the demo's scan.zarr; pass another folder.")
        return
    try:
        written_by_demo = DEMO_ATTRIBUTE in zarr.open_array(scan, mode="r").attrs
    except (FileNotFoundError, ValueError, TypeError):  # missing, not an array, or not Zarr
        written_by_demo = False
    if not written_by_demo:
        raise ValueError(
            f"out_dir: expected a new folder or an earlier demo's, got {str(out_dir)!r}, which holds a "
            "scan.zarr or scan.deblurred.zarr that the demo did not write; pass another folder."
        )


def run_demo(*, size=2048, out_dir="tiledeblur-demo", psf=None, n_workers=None, address=None):
    """Make a scan, deblur it on a cluster and picture it; see the module notes.

    Parameters
    ----------
    size : int
        Side of the scan in pixels, at least ``MIN_SIZE``; 32768 makes a
        1-gigapixel scan.
    out_dir : str or os.PathLike
        Gets ``scan.zarr``, ``scan.deblurred.zarr`` and ``demo.png``; those of
        an earlier demo there are replaced, and a folder with a scan or
        output that no demo wrote is refused.
    psf : array_like, optional
        Defaults to the article's ``gaussian_psf(13, (1, 3))``.
    n_workers, address
        As :func:`tiledeblur.run`.

    Returns
    -------
    DemoResult
    """
    if check_int("size", size) < MIN_SIZE:
        raise ValueError(f"size: expected at least {MIN_SIZE} px, got {size} instead.")
    check_n_workers(n_workers)  # before the scan is written, not after
    psf = gaussian_psf(13, (1, 3)) if psf is None else psf
    check_psf(psf)  # before the folder is made (found by a probe: a bad PSF left it behind, empty)
    out_dir = local_path(out_dir, name="out_dir")
    _check_demo_folder(out_dir, size)
    out_dir.mkdir(parents=True, exist_ok=True)
    scan_path = out_dir / "scan.zarr"
    shutil.rmtree(scan_path, ignore_errors=True)
    scan = write_scan(scan_path, size, psf)
    report = run(scan_path, psf, output=out_dir / "scan.deblurred.zarr", n_workers=n_workers, address=address,
                 overwrite=True)
    restored = zarr.open_array(report.output, mode="r")
    readers = {"ground truth": ground_truth, "blurred": lambda region: scan[region] / 255.0,
               "deblurred": lambda region: restored[region]}
    step = max(1, size // 512)
    overview = (slice(0, size, step), slice(0, size, step))
    picture = out_dir / "demo.png"
    save_panels(picture, [
        [(f"{name} (zoom)", read(ZOOM)) for name, read in readers.items()],
        [(f"{name}, whole scan", read(overview)) for name, read in readers.items()],
    ])
    return DemoResult(_sampled_psnr(readers["blurred"], size), _sampled_psnr(readers["deblurred"], size),
                      picture, report.output)
