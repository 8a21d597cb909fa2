"""Import a scan from TIFF, FITS, PNG or JPEG into Zarr, chunked for ``run``.

TIFF files are read through tifffile's Zarr view of the file, and FITS files
through a map of their data (:mod:`tiledeblur.fits`), one band of chunk rows
at a time, so a scan larger than memory is never loaded whole. PNG and JPEG
cannot be read in parts, so they are loaded whole.
"""

import contextlib
import dataclasses
import functools
import logging
import re
import secrets
import shutil
import warnings
import zlib
from xml.etree import ElementTree

import imagecodecs
import numpy as np
import tifffile
import zarr
from PIL import Image, UnidentifiedImageError
from skimage import io as skimage_io

from .arguments import check_flag, check_int
from .fits import FITS_HEADER_ATTRIBUTE, FitsImage, is_fits_name, warn_if_several_images
from .image import INPUT_KINDS
from .io import SOURCE_ATTRIBUTE, Location, local_path
from .ome import build_pyramid, multiscale_attributes, plain_multiscale, pyramid_shapes
from .pixelsize import NANOMETRES_PER_UNIT, PixelSize, pixel_size
from .progress import Teller, tell_of_band

__all__ = ["convert", "tiff_metadata"]

#: TIFF and the whole-slide formats built on it (Aperio, Leica, Hamamatsu, Ventana, Akoya, BigTIFF): read through
#: tifffile in bands, where other readers load the whole image (found by a probe: .scn took 3 times the memory).
TIFF_SUFFIXES = (".tif", ".tiff", ".svs", ".scn", ".ndpi", ".bif", ".qptiff", ".btf", ".tf8")
#: Codecs that are lossy, or mostly used so: a source file in one of them has lost the noise that ``mu="auto"``
#: measures (see :func:`tiledeblur.planning.prepare`). Parts of tifffile's names: "JPEG" is in JPEG_2000,
#: JPEGXR and JPEGXL too, and "JP2000" in Aperio's.
LOSSY_CODECS = ("JPEG", "JP2000", "WEBP", "LERC")
#: The lossy formats that Pillow reads, by its names, and as ``LOSSY_CODECS`` and :mod:`tiledeblur.jpeg` name them
#: (MPO is a camera's JPEG with more pictures appended).
LOSSY_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WEBP", "JPEG2000": "JPEG2000"}
#: The series of a whole-slide file that are pictures of the slide, not parts of its scan: tifffile's names for them.
SLIDE_PICTURES = ("Thumbnail", "Label", "Macro", "Map")
#: The seconds between the lines that tell the share of a file's rows written, as the scan of a run tells its own.
CONVERT_TELL_SECONDS = 10
#: The names of a time axis in FITS: ``TIME``, a time scale's, or a date's (Rots et al. 2015, "Representations of
#: time coordinates in FITS").
FITS_TIME_AXES = frozenset({"TIME", "UTC", "TAI", "TT", "TDT", "ET", "IAT", "UT1", "GMT", "TCG", "TCB", "TDB", "GPS",
                            "LOCAL", "MJD", "JD", "BEPOCH", "JEPOCH"})
#: What a damaged file raises: tifffile, Pillow (``SyntaxError`` for a broken
#: PNG), imageio, zlib for a truncated compressed TIFF strip, and imagecodecs'
#: codecs (``DeflateError``, ``Jpeg8Error``... all ``RuntimeError``), which
#: tifffile uses in zlib's place where they are installed.
READ_ERRORS = (OSError, ValueError, SyntaxError, zlib.error, RuntimeError)
#: The tag of an image's orientation, EXIF's and TIFF's alike.
EXIF_ORIENTATION = 0x0112


def _warn_if_turned(orientation, path):
    """Warn where the image's orientation tag (EXIF's or TIFF's) asks viewers to turn or mirror it: it is converted
    as stored (found by a probe: a phone's photo came out on its side without a word, and a PSF longer one way than
    the other would be read across the blur)."""
    if orientation not in (None, 1):
        warnings.warn(f"image: expected pixels in the order that viewers show them, got {path.name!r}, whose "
                      f"orientation tag ({int(orientation)}) asks them to turn or mirror it; it is converted as "
                      "stored, so give the PSF in the stored rows and columns.", UserWarning, stacklevel=5)


class _NotDeblurrableError(ValueError):
    """A file read whole that holds no image that run deblurs, such as a time series or a print's inks; not a file
    that could not be read (found by a probe: it was told so)."""


def _open_image(path):
    """``(image, planes_first, lossy, described)``: the image as an array-like that can be sliced without reading all of it.

    ``planes_first`` tells that a 3-D TIFF holds its channels (or planes)
    first, as a microscope's ``CYX`` file does, and not as an RGB image's
    samples (``YXS``); a 3-D FITS image always does; PNG and JPEG hold them
    last. ``lossy`` names the file's lossy compression (``"JPEG"``), or is None.
    ``described`` is what an OME-TIFF's OME-XML, an ImageJ TIFF's metadata,
    an Aperio slide's description or another TIFF's metric resolution tags say
    (a :class:`TiffMetadata`), or None.
    """
    if is_fits_name(path):
        return _open_fits(path)
    if path.suffix.lower() in TIFF_SUFFIXES:
        return _open_tiff(path)
    return _open_picture(path)


def _open_fits(path):
    """:func:`_open_image` of a FITS file, whose third axis, where it has one, holds channels."""
    image = FitsImage(path)
    warn_if_several_images(image, path, name="image", stacklevel=4)  # the caller of convert
    # Its planes are channels (a spectral cube's, or Stokes'), unless they are times, as a TIFF's planes of time
    # are none (found by a probe: five epochs became five channels).
    third_axis = str(image.header.get("CTYPE3", "")).split("-")[0].strip().upper()
    if image.ndim == 3 and third_axis in FITS_TIME_AXES:
        raise _NotDeblurrableError(f"its planes are times (CTYPE3 {image.header['CTYPE3']!r}), and a time series "
                                  "is no channels: write each plane to a FITS file of its own")
    return image, image.ndim == 3, None, None


def _open_tiff(path):
    """:func:`_open_image` of a TIFF, or of a whole-slide format built on it, read through tifffile in bands."""
    with tifffile.TiffFile(path) as tiff:
        if not tiff.series:  # found by a probe: an empty or truncated TIFF ended in a traceback
            raise ValueError("it holds no image")
        if tiff.series[0].keyframe.photometric == tifffile.PHOTOMETRIC.SEPARATED:
            # Its inks were labelled red, green, blue and alpha (found by review).
            raise _NotDeblurrableError("it holds inks (CMYK), not light's colours: save it as RGB")
        _warn_if_several_series(tiff.series, path)
        axes, keyframe = tiff.series[0].axes, tiff.series[0].keyframe
        orientation = keyframe.tags.get(EXIF_ORIENTATION)
        _warn_if_turned(None if orientation is None else orientation.value, path)
        codec = getattr(keyframe.compression, "name", str(keyframe.compression))  # an int for unknown codecs
        described = tiff_metadata(tiff)
        palette = keyframe.colormap if keyframe.photometric == tifffile.PHOTOMETRIC.PALETTE else None
        # Every extra sample named alpha, not the last alone (found by a probe: of two, one was kept as light).
        extras = keyframe.extrasamples
        alpha = [index - len(extras) for index, extra in enumerate(extras)
                 if extra in (tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA)]
        described = dataclasses.replace(described, rgb=palette is not None or
                                        keyframe.photometric == tifffile.PHOTOMETRIC.RGB)
    image = zarr.open_array(tifffile.imread(path, aszarr=True, level=0), mode="r")
    if palette is not None:
        # Its pixels are indices into a table of colours, not light (found by a probe: they were deblurred as
        # such, where a palette PNG becomes RGB).
        return PaletteImage(image, palette), False, None, described
    lossy = codec if any(name in codec for name in LOSSY_CODECS) else None
    # Planes of z or time are no channels (found by a probe: a Fiji z-stack became an OME-Zarr's channels).
    planes_first = image.ndim == 3 and axes.endswith("YX") and axes[0] not in "ZT"
    if planes_first and axes[0] in "QI":
        # A stack that numpy wrote without labels: as likely planes of z as channels (found by a probe: it
        # became channels without a word).
        warnings.warn(f"image: expected a TIFF whose planes are labelled, got {path.name!r}, whose "
                      f"{image.shape[0]} planes are not ({axes!r} to tifffile); they are taken as channels, "
                      "which planes of z or time are not.", UserWarning, stacklevel=4)
    if alpha:
        image = WithoutAlpha(image, planes_first=planes_first, alpha=alpha)
        planes_first = image.planes_first
    return image, planes_first, lossy, described


def _open_picture(path):
    """:func:`_open_image` of another picture (PNG, JPEG, GIF...), which Pillow identifies, with its samples last."""
    try:
        # Pillow identifies the file first (found by a probe: a file shorter than PNG's signature made imageio
        # raise struct.error, and a file of no known format got imageio's message, which garbles the path).
        with Image.open(path) as picture:
            lossy = _lossy_format(picture.format, path)
            _warn_if_turned(picture.getexif().get(EXIF_ORIENTATION), path)
            if picture.mode == "CMYK":
                # Inks, not light: its four channels were labelled red, green, blue and alpha (found by a probe).
                warnings.warn(f"image: expected light's colours, got a CMYK picture, {path.name!r}; it is converted "
                              "to RGB as viewers show it.", UserWarning, stacklevel=4)
                return np.asarray(picture.convert("RGB")), False, lossy, None
            width, height = picture.size
            # Pillow reads a PNG's 16-bit colours as 8-bit, and drops the transparency of a palette or of one colour
            # (found by a probe). A bilevel one stays imageio's mask, refused as run refuses it; an animated one
            # imageio's stack of frames, refused as a stack.
            png = picture.format == "PNG" and picture.mode != "1" and getattr(picture, "n_frames", 1) == 1
            alpha = picture.getbands()[-1] in ("A", "a")  # RGBA, LA, and premultiplied RGBa and La
            if picture.format == "GIF" and "transparency" in picture.info and picture.n_frames == 1:
                # imageio drops a still GIF's transparent colour without a word (found by a probe).
                return WithoutAlpha(np.asarray(picture.convert("RGBA")), planes_first=False), False, lossy, None
    except UnidentifiedImageError:
        raise ValueError("its contents are no image format that Pillow reads") from None
    if png:
        image = imagecodecs.png_decode(path.read_bytes())
        alpha = image.ndim == 3 and image.shape[-1] in (2, 4)  # grey or RGB with alpha: PNG has no other kinds
    else:
        image = skimage_io.imread(path)
        # imageio gives a GIF's frames an axis, one frame too (found by a probe: a still GIF was refused as a stack).
        image = image[0] if image.shape[:3] == (1, height, width) else image
    return (WithoutAlpha(image, planes_first=False) if alpha else image), False, lossy, None


class PaletteImage:
    """A palette TIFF's ``indices`` (a tifffile Zarr view) read as RGB through its ``colormap``, a band at a time.

    The colours are 8-bit where the TIFF's 16-bit table was made from 8-bit
    colours, each entry ``c`` written as ``257 c`` (tifffile, libtiff) or
    ``256 c`` (Pillow), and 16-bit otherwise.

    Examples
    --------
    >>> colormap = np.zeros((3, 256), np.uint16)
    >>> colormap[:, 1] = 65535, 0, 256 * 128
    >>> PaletteImage(np.array([[0, 1]], np.uint8), colormap)[:].tolist()
    [[[0, 0, 0], [255, 0, 128]]]
    """

    def __init__(self, indices, colormap):
        self.indices = indices
        high = colormap >> 8
        eight_bit = np.all((colormap == high * 256) | (colormap == high * 257))
        # One row of red, green and blue per index.
        self.colours = np.ascontiguousarray((high.astype(np.uint8) if eight_bit else colormap).T)
        self.shape, self.dtype = (*indices.shape, 3), self.colours.dtype
        self.ndim = len(self.shape)

    def __getitem__(self, rows):
        return self.colours[np.asarray(self.indices[rows])]

    def close(self):
        self.indices.store.close()


class WithoutAlpha:
    """An ``image``'s colour samples without its alpha ones (its last, or those at ``alpha``), read a band of rows at a
    time.

    Alpha is no light: deblurred, a transparent edge rang from -8.6 to 9.6
    times the opaque value, and its channel's floor weight set the halo of
    every tile, 358 px against 108 for the colours (found by a probe: a 256²
    RGBA PNG). It counts the pixels read that an alpha leaves less than opaque,
    ``not_opaque``. Its colours keep the image's layout, samples first for a
    planar TIFF (``planes_first``); grey alone is 2-D.

    Examples
    --------
    >>> grey_alpha = np.array([[[7, 255], [9, 0]]], np.uint8)
    >>> image = WithoutAlpha(grey_alpha, planes_first=False)
    >>> image.shape, image[0:1].tolist(), image.not_opaque
    ((1, 2), [[7, 9]], 1)
    >>> rgb_alphas = np.array([[[1, 2, 3, 255, 0]]], np.uint8)  # a TIFF's two extra samples, both alpha
    >>> image = WithoutAlpha(rgb_alphas, planes_first=False, alpha=(3, 4))
    >>> image.shape, image[0:1].tolist(), image.not_opaque
    ((1, 1, 3), [[[1, 2, 3]]], 1)
    """

    def __init__(self, image, *, planes_first, alpha=(-1,)):
        self.image, self.samples_first = image, planes_first
        samples = image.shape[0] if planes_first else image.shape[-1]
        self.alpha = [index % samples for index in alpha]
        colours = samples - len(self.alpha)
        rows = image.shape[1:] if planes_first else image.shape[:-1]
        self.planes_first = planes_first and colours > 1
        self.shape = rows if colours == 1 else (colours, *rows) if planes_first else (*rows, colours)
        self.dtype, self.ndim, self.pixels = image.dtype, len(self.shape), int(np.prod(rows))
        self.opaque = np.iinfo(self.dtype).max if self.dtype.kind in "ui" else 1.0
        self.not_opaque = 0

    def __getitem__(self, key):
        if self.samples_first:
            band, axis = np.asarray(self.image[:, key[1] if self.planes_first else key]), 0
        else:
            band, axis = np.asarray(self.image[key]), -1
        alpha, colours = np.take(band, self.alpha, axis=axis), np.delete(band, self.alpha, axis=axis)
        self.not_opaque += int(np.count_nonzero((alpha < self.opaque).any(axis=axis)))
        if self.ndim == 2:  # grey
            return colours.reshape(alpha.shape[1:] if self.samples_first else alpha.shape[:-1])
        return colours

    def close(self):
        _close(self.image)


def _warn_if_several_series(series, path):
    """Warn, naming them, where a TIFF holds images beyond the first ``series``, which alone is converted.

    Found by a probe: the other positions of a multi-position file were left
    out without a word. A whole-slide file's label, overview and thumbnail
    (``SLIDE_PICTURES``) are no part of its scan, and go unmentioned.
    """
    others = [f"{one.name or f'series {index}'} ({' x '.join(map(str, one.shape))})"
              for index, one in enumerate(series) if index and one.name not in SLIDE_PICTURES]
    if others:
        first = series[0]
        warnings.warn(f"image: {path.name!r} holds {len(others) + 1} images, and only the first, "
                      f"{first.name or 'series 0'} ({' x '.join(map(str, first.shape))}), is converted; left out: "
                      f"{', '.join(others)}. To convert another, write it to a file of its own first (with tifffile).",
                      UserWarning, stacklevel=5)


def _lossy_format(pillow_format, path):
    """The lossy compression of the file at ``path``, which Pillow identified as ``pillow_format``, or None.

    By its contents, not its name: a JPEG named ``.jfif``, ``.jpe`` or
    ``.png`` was taken for a lossless file, and its scan deblurred to 6 dB
    below the blurred one (found by a probe).
    """
    if pillow_format == "WEBP" and _webp_is_lossless(path):  # found by a probe: it was warned of as lossy
        return None
    return LOSSY_FORMATS.get(pillow_format)


def _webp_is_lossless(path):
    """Whether the WebP file at ``path`` holds a lossless image: its first image chunk is ``VP8L``, not ``VP8 ``.

    An extended file (``VP8X``) puts its colour profile, animation or alpha
    chunks before it; an animation, whose frames are chunks of chunks, is
    taken for lossy.
    """
    with open(path, "rb") as file:
        file.seek(12)  # past "RIFF", the file's size and "WEBP"
        while len(header := file.read(8)) == 8:
            kind, size = header[:4], int.from_bytes(header[4:], "little")
            if kind in (b"VP8 ", b"VP8L"):
                return kind == b"VP8L"
            file.seek(size + size % 2, 1)  # chunks are padded to an even size
    return False


#: OME-XML's and ImageJ's length units, as NGFF names them (UDUNITS-2); OME's default is the micrometre.
#: ImageJ's include the Greek mu, and µ escaped as ImageJ writes it into its metadata (found by a probe).
LENGTH_UNITS = {"µm": "micrometer", "um": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
                "m": "meter", "Å": "angstrom", "micron": "micrometer", "microns": "micrometer",
                "\u03bcm": "micrometer", "\\u00B5m": "micrometer", "inch": "inch"}


@dataclasses.dataclass(frozen=True)
class TiffMetadata:
    """What an OME-Zarr keeps of a TIFF's metadata (OME, ImageJ, Aperio or resolution tags): pixel size, name, channels."""

    pixels: PixelSize | None = None
    name: str | None = None
    #: One ``omero`` channel per OME channel: its name, ``"label"``, and its colour, ``"color"`` (``"RRGGBB"``), where
    #: the file gives them.
    channels: tuple = ()
    #: Whether its samples are red, green and blue (and alpha): photometric RGB, stored planar or not.
    rgb: bool = False


def tiff_metadata(tiff):
    """What an open :class:`tifffile.TiffFile`'s metadata say that an OME-Zarr keeps (a :class:`TiffMetadata`).

    An OME-TIFF's OME-XML, an ImageJ TIFF's metadata, an Aperio slide's
    description, or else the resolution tags of its first page.
    """
    return (_ome_tiff(tiff.ome_metadata) if tiff.is_ome else
            _imagej_tiff(tiff.imagej_metadata, tiff.pages[0].tags) if tiff.is_imagej else
            _aperio_tiff(tiff.pages[0].description) if tiff.is_svs else
            _resolution_tiff(tiff.pages[0].tags))


def _warn_of_metadata_left(described, image_path, planes):
    """Warn where a plain array leaves out the pixel size or channel names that a TIFF gives (``described``).

    Found by a probe: only an OME-Zarr keeps them, and a plain conversion
    dropped them without a word. ``planes`` is the image's shape with its
    channels first, as an OME-Zarr holds it.
    """
    named = any("label" in channel for channel in _omero_channels(described, planes))
    kept = [*(["its pixel size"] if described is not None and described.pixels is not None else []),
            *(["its channels' names"] if named else [])]
    if kept:
        them = "them" if len(kept) > 1 else "it"
        warnings.warn(f"ome: {image_path.name} gives {' and '.join(kept)}, which only an OME-Zarr keeps; pass "
                      f"ome=True to keep {them}.", UserWarning, stacklevel=4)


def _ome_tiff(xml):
    """What an OME-TIFF's OME-XML says of its first image that an OME-Zarr keeps.

    Found by a probe: ``convert --ome`` of a microscope's OME-TIFF wrote a
    scale of 1 without units, and every output after it had no pixel size;
    and it dropped the channels' names, which viewers show.

    Examples
    --------
    >>> described = _ome_tiff('<OME xmlns="o"><Image Name="slide 7"><Pixels PhysicalSizeX="0.108" '
    ...                       'PhysicalSizeY="0.11"><Channel Name="DAPI" Color="65535"/></Pixels></Image></OME>')
    >>> described.pixels, described.name, described.channels
    (PixelSize(y=0.11, x=0.108, unit='micrometer'), 'slide 7', ({'label': 'DAPI', 'color': '0000FF'},))
    """
    try:
        image = next(element for element in ElementTree.fromstring(xml).iter() if element.tag.endswith("Image"))
        pixels = next(element for element in image.iter() if element.tag.endswith("Pixels"))
    except (ElementTree.ParseError, StopIteration):
        return TiffMetadata()
    try:
        size = pixel_size(*(float(pixels.attrib[f"PhysicalSize{axis}"]) for axis in "YX"),
                          *(LENGTH_UNITS.get(pixels.attrib.get(f"PhysicalSize{axis}Unit", "µm")) for axis in "YX"))
    except (KeyError, ValueError):
        size = None
    channels = tuple(_omero_channel(element) for element in pixels if element.tag.endswith("Channel"))
    return TiffMetadata(size, image.attrib.get("Name"), channels)


def _imagej_tiff(metadata, tags):
    """What an ImageJ (Fiji) TIFF's metadata and resolution ``tags`` say that an OME-Zarr keeps.

    ImageJ writes its calibration as the TIFF's pixels per ``unit`` and the
    channels' names as ``Labels``. Found by a probe: a Fiji hyperstack's
    pixel size and labels were dropped without a word.

    Examples
    --------
    >>> from types import SimpleNamespace as Tag
    >>> tags = {"XResolution": Tag(value=(40, 13)), "YResolution": Tag(value=(5, 2))}  # pixels per unit
    >>> described = _imagej_tiff({"unit": "micron", "channels": 2, "Labels": ["DAPI", "GFP"]}, tags)
    >>> described.pixels, described.channels
    (PixelSize(y=0.4, x=0.325, unit='micrometer'), ({'label': 'DAPI'}, {'label': 'GFP'}))
    """
    unit = LENGTH_UNITS.get(metadata.get("unit"))
    try:
        (x_pixels, x_units), (y_pixels, y_units) = tags["XResolution"].value, tags["YResolution"].value
        pixels = PixelSize(y_units / y_pixels, x_units / x_pixels, unit) if unit is not None else None
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        pixels = None
    labels = metadata.get("Labels") or []
    # ImageJ labels each slice; only where there is one per channel are they the channels' names.
    channels = tuple({"label": str(label)} for label in labels) if len(labels) == metadata.get("channels") else ()
    return TiffMetadata(pixels, None, channels)


def _aperio_tiff(description):
    """What an Aperio (``.svs``) TIFF's description says that an OME-Zarr keeps: its microns per pixel, ``MPP``.

    Found by a probe: a slide's pixel size, which QuPath measures by, was
    dropped without a word.

    Examples
    --------
    >>> _aperio_tiff("Aperio Image Library v12.0.15 \\n46000x32914 (240x240) JPEG/RGB Q=70|AppMag = 20|MPP = 0.4990")
    TiffMetadata(pixels=PixelSize(y=0.499, x=0.499, unit='micrometer'), name=None, channels=(), rgb=False)
    """
    found = re.search(r"\|\s*MPP\s*=\s*([0-9.]+)", description)
    try:
        size = float(found.group(1))
    except (AttributeError, ValueError):  # none given, or no number
        return TiffMetadata()
    return TiffMetadata(PixelSize(size, size, "micrometer") if size > 0 else None)


#: The TIFF resolution units that give a pixel size, as NGFF names them: not the inch (``2``), in which generic
#: writers leave 72 dpi that no instrument measured; a scanner that writes centimetres (Hamamatsu's NDPI) measured them.
RESOLUTION_UNITS = {3: "centimeter", 4: "millimeter", 5: "micrometer"}


def _resolution_tiff(tags):
    """What a TIFF's resolution ``tags`` say that an OME-Zarr keeps: its pixel size, in micrometres.

    Only where ``ResolutionUnit`` is metric (see ``RESOLUTION_UNITS``): a
    Hamamatsu slide's pixel size, written as pixels per centimetre, was
    dropped without a word.

    Examples
    --------
    >>> from types import SimpleNamespace as Tag
    >>> tags = {"ResolutionUnit": Tag(value=3), "XResolution": Tag(value=(40000, 1)),
    ...         "YResolution": Tag(value=(20000, 1))}  # pixels per centimetre
    >>> _resolution_tiff(tags).pixels
    PixelSize(y=0.5, x=0.25, unit='micrometer')
    """
    unit = RESOLUTION_UNITS.get(getattr(tags.get("ResolutionUnit"), "value", None))
    try:
        (x_pixels, x_units), (y_pixels, y_units) = tags["XResolution"].value, tags["YResolution"].value
        y, x = (units / pixels * NANOMETRES_PER_UNIT[unit] / NANOMETRES_PER_UNIT["micrometer"]
                for pixels, units in ((y_pixels, y_units), (x_pixels, x_units)))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):  # no tags, inches, or no number
        return TiffMetadata()
    return TiffMetadata(PixelSize(y, x, "micrometer") if y > 0 and x > 0 else None)


def _omero_channel(element):
    """The ``omero`` channel of an OME-XML ``Channel`` element: its name and colour, where given.

    None is made up: found by a probe, a name "Channel 0" given to channels
    that tifffile writes without one was warned of as the file's own.

    OME's colour is a signed 32-bit RGBA integer; NGFF's is ``"RRGGBB"``.
    """
    channel = {"label": element.attrib["Name"]} if "Name" in element.attrib else {}
    try:
        rgba = int(element.attrib["Color"]) & 0xFFFFFFFF
    except (KeyError, ValueError):
        return channel
    return {**channel, "color": f"{rgba >> 8:06X}"}


def convert(image_path, output, *, chunk=512, ome=False, progress=True):
    """Write a 2-D or RGB image file, or a TIFF's or FITS file's planes (CYX), to a new Zarr array or OME-Zarr group.

    A plain array keeps the file's order of axes: ``yx``, ``yxc`` for RGB
    and ``cyx`` for a microscope's channels, and names them in its
    ``dimension_names``, from which ``run`` reads the channels' axis. An
    alpha channel (a PNG's, or a TIFF's extra sample named alpha) holds no
    light and is left out, with a warning where some pixel is not opaque.

    Parameters
    ----------
    image_path : str or os.PathLike
        A TIFF or FITS (``.fits``, ``.fit``, ``.fts``; read in bands), PNG or
        JPEG file.
    output : str or os.PathLike
        The new Zarr path; an existing one is refused.
    chunk : int
        Chunk side in pixels; channels stay in one chunk.
    ome : bool
        Write an OME-Zarr 0.5 group holding the image as level ``"0"``, with
        channels first (``cyx``), as NGFF requires, and a pyramid of 2 × 2
        means down to one chunk, for viewers.
    progress : bool
        Tell on stderr the share of rows written every
        ``CONVERT_TELL_SECONDS``, and each part of the pyramid as it starts.

    Returns
    -------
    zarr.Array
        The written array.
    """
    image_path, output = local_path(image_path, name="image"), local_path(output, name="output")
    if not image_path.is_file():
        raise ValueError(f"image: expected an existing image file, got {str(image_path)!r}.")
    location = Location.at(output, name="output")
    location.check_outside_stores()
    location.check_folder_name()
    location.check_writable()  # under a file, read-only, too long a name: errno's words before (found by probes)
    if output.exists():
        raise ValueError(f"output: expected a new path, got {str(output)!r}, which exists; remove it or name another.")
    if output.suffix.lower() in (*TIFF_SUFFIXES, *Image.registered_extensions()) or is_fits_name(output):
        # A Zarr folder named out.png is no picture (found by a probe: the arguments were read the other way round).
        raise ValueError(f"output: expected a Zarr path such as scan.zarr, got {str(output)!r}, an image file's name.")
    if check_int("chunk", chunk) < 16:
        raise ValueError(f"chunk: expected at least 16 px, got {chunk} instead.")
    check_flag("ome", ome)
    check_flag("progress", progress)
    with _tifffile_quiet():
        try:
            source, planes_first, lossy, described = _open_image(image_path)
        except _NotDeblurrableError as error:
            raise ValueError(f"image: expected an image that run deblurs, got {str(image_path)!r}: {error}.") from None
        except READ_ERRORS as error:
            raise _unreadable(image_path, error) from None
        # Written under another name, then renamed: neither a retry nor a run may find half an image at the output,
        # its rest read as the fill value (found by probes: a convert stopped by SIGTERM, or killed, left one, which
        # plan took for a scan). A killed convert leaves the other name, which tells what it holds.
        # Not tempfile's folder, whose mode 700 the output would keep (others could not read a shared scan).
        unfinished = output.with_name(f"{output.name}.unfinished-{secrets.token_hex(4)}")
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            unfinished.mkdir()
        except (FileNotFoundError, NotADirectoryError, PermissionError) as error:
            # Where the checks above could not tell: root may write anywhere by os.access, and /proc takes no
            # folder; errno's words alone named no argument (found by a probe).
            raise ValueError(f"output: expected a path this process may write, got {str(output)!r}, where no folder "
                             f"could be made ({error.strerror or error}).") from None
        try:
            try:
                target = _copy(source, planes_first, image_path, unfinished, chunk, ome, described,
                               progress=progress)
            finally:
                _close(source)
            if isinstance(source, WithoutAlpha) and source.not_opaque:
                warnings.warn(f"image: {image_path.name!r} holds an alpha channel, which is left out as no light; "
                              f"{source.not_opaque:,} of its {source.pixels:,} pixels are not opaque, and their "
                              "colours are deblurred as they are stored.", UserWarning, stacklevel=2)
            if isinstance(source, FitsImage) and source.header:
                # Its WCS, units and object, which run() carries to the output (found by a probe: all were lost).
                target.attrs[FITS_HEADER_ATTRIBUTE] = source.header
            if lossy is not None:
                # Its noise went with the compression, and mu="auto" would choose nearly no smoothing (found by a
                # probe).
                target.attrs[SOURCE_ATTRIBUTE] = {"file": image_path.name, "compression": lossy}
            _rename_to_new(unfinished, output)
        except BaseException:
            shutil.rmtree(unfinished, ignore_errors=True)
            raise
    return zarr.open_group(output, mode="r+")["0"] if ome else zarr.open_array(output, mode="r+")


def _close(source):
    """Close the file that ``source``, as :func:`_open_image` opened it, holds open."""
    if isinstance(source, zarr.Array):  # tifffile's store keeps the TIFF open until closed
        source.store.close()
    elif isinstance(source, (FitsImage, PaletteImage, WithoutAlpha)):
        source.close()


def _rename_to_new(folder, output):
    """Rename ``folder`` to ``output``: a file or a folder with contents made there meanwhile is refused, not replaced."""
    try:
        folder.rename(output)
    except OSError:
        if not output.exists():
            raise
        raise ValueError(f"output: expected a new path, got {str(output)!r}, which was made while the image was "
                         "converted.") from None


@contextlib.contextmanager
def _tifffile_quiet():
    """Silence tifffile's log while the block runs.

    It logs each series that it fails to make of a damaged file: six lines
    before the one-line error of :func:`_unreadable` (found by a probe).
    """
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _placed(shape, described):
    """The OME-Zarr multiscale of a converted image of ``shape`` (``yx`` or ``cyx``), which ``described`` (an
    :class:`TiffMetadata`, or None) describes.

    Examples
    --------
    >>> _placed((2, 64, 64), TiffMetadata(PixelSize(0.2, 0.1, "micrometer"))).scale
    (1.0, 0.2, 0.1)
    """
    multiscale = plain_multiscale(len(shape), 0 if len(shape) == 3 else None, zarr_format=3)
    if described is None:
        return multiscale
    if described.pixels is not None:
        unit = {} if described.pixels.unit is None else {"unit": described.pixels.unit}
        axes = tuple({**axis, **unit} if axis["type"] == "space" else axis for axis in multiscale.axes)
        multiscale = dataclasses.replace(multiscale, axes=axes,
                                         scale=(*multiscale.scale[:-2], described.pixels.y, described.pixels.x))
    channels = _omero_channels(described, shape)
    return dataclasses.replace(multiscale, name=described.name,
                               omero={"channels": list(channels)} if channels else None)


def _omero_channels(described, planes):
    """The ``omero`` channels that ``described`` gives an image of shape ``planes`` (channels first), or ``()``.

    Only where there is one per plane (an RGB TIFF's one OME channel holds
    three samples), and where the file names or colours one.

    Examples
    --------
    >>> named = TiffMetadata(channels=({"label": "DAPI"}, {}))
    >>> _omero_channels(named, (2, 64, 64)), _omero_channels(named, (3, 64, 64))
    (({'label': 'DAPI'}, {}), ())
    """
    if described is None or len(planes) != 3 or len(described.channels) != planes[0] or not any(described.channels):
        return ()
    return described.channels


def _copy(source, planes_first, image_path, output, chunk, ome, described, *, progress):
    """Write the opened ``source`` to the new Zarr ``output``, in bands of ``chunk`` rows; see :func:`convert`."""
    if source.ndim not in (2, 3) or (source.ndim == 3 and not planes_first and source.shape[-1] not in (3, 4)):
        # Grey with alpha, or one sample per pixel as a 3-D array, is no stack (found by a probe: it was told so).
        samples = source.ndim == 3 and source.shape[-1] in (1, 2)
        reason = ("grey, with alpha or not, in a third axis; save it as 2-D grey, or as RGB" if samples else
                  "a z-stack or a time series is none of them")
        raise ValueError(f"image: expected a 2-D image, one with 3 or 4 channels last, or a TIFF with channels "
                         f"first (CYX), got shape {source.shape} ({reason}).")
    if 0 in source.shape:  # written without a word before, and then refused by run (found by a probe)
        raise ValueError(f"image: expected a non-empty image, as run takes, got shape {source.shape}.")
    if source.dtype.kind not in INPUT_KINDS:
        # Written without a word before, and then refused by run (found by a probe).
        raise TypeError(f"image: expected pixels of uint, int or float, as run takes, got dtype {source.dtype} "
                        "instead.")
    # A chunk beyond the image's sides allocates each edge chunk whole (found by a probe: --chunk 100000 on a
    # 200 x 300 PNG ran out of memory).
    chunk = min(chunk, max(source.shape[1:] if planes_first else source.shape[:2]))
    # OME-Zarr wants channels first (cyx); a plain array keeps the file's order.
    planes = source.shape if source.ndim == 2 or planes_first else (source.shape[2], *source.shape[:2])
    move_channels = ome and source.ndim == 3 and not planes_first
    shape = planes if ome else source.shape
    if source.ndim == 2:
        chunks = (chunk, chunk)
    elif ome or planes_first:
        chunks = (shape[0], chunk, chunk)
    else:
        chunks = (chunk, chunk, shape[2])
    if ome:
        multiscale = _placed(shape, described)
        # Viewers (napari, QuPath) show the name, and without colours an RGB scan as three grey or arbitrary
        # channels (found by a probe; a planar RGB TIFF's too, by another).
        colours = source.ndim == 3 and (not planes_first or (described is not None and described.rgb))
        rgb = colours and not multiscale.omero
        multiscale = dataclasses.replace(multiscale, name=multiscale.name or image_path.name.partition(".")[0],
                                         omero={"channels": _rgb_channels(shape[0], source.dtype)} if rgb else
                                         multiscale.omero)
        levels = [shape, *pyramid_shapes(shape, multiscale, chunk)]
        group = zarr.open_group(output, mode="w-", attributes=multiscale_attributes(multiscale, levels))
        target = group.create_array("0", shape=shape, chunks=chunks, dtype=source.dtype,
                                    dimension_names=[axis["name"] for axis in multiscale.axes])
    else:
        _warn_of_metadata_left(described, image_path, planes)
        # Named, so that run finds the channels without --channel-axis (found by a probe: told "got None").
        names = ["y", "x"] if source.ndim == 2 else ["c", "y", "x"] if planes_first else ["y", "x", "c"]
        target = zarr.create_array(output, shape=shape, chunks=chunks, dtype=source.dtype, dimension_names=names)
    _copy_bands(source, target, planes_first, move_channels, chunk, image_path, progress=progress)
    if ome:  # so that viewers (napari, QuPath) show the whole scan without reading all of it
        build_pyramid(None, str(output), levels, chunks,
                      on_band=functools.partial(tell_of_band, levels=len(levels) - 1, progress=progress))
        smallest = group[str(len(levels) - 1)]
        if rgb and source.dtype.itemsize > 1:
            # Colours of more than 8 bits rarely fill their range: a CYX TIFF that tifffile wrote as RGB, its 12-bit
            # counts shown in windows to 65535, previewed nearly black (found by a probe).
            end = _bright_end(smallest)
            channels = [{**channel, "window": {**channel["window"], "end": end}}
                        for channel in multiscale.omero["channels"]]
        elif multiscale.omero and not rgb:
            channels = _completed_channels(multiscale.omero["channels"], smallest)
        else:
            return target
        group.attrs.update(multiscale_attributes(dataclasses.replace(multiscale, omero={"channels": channels}),
                                                 levels))
    return target


def _completed_channels(channels, level):
    """``channels``, the ``omero`` channels that a file names or colours, each given the colour and display window that
    NGFF requires of it where the file gives none (found by a probe: labels alone).

    A channel's window runs from its least value to its 99.9th percentile in the pyramid's smallest ``level``
    (channels first), as viewers read it to set their contrast, within its dtype's range (its values' for floats);
    its colour is white.

    Examples
    --------
    >>> counts = np.arange(2 * 40 * 50, dtype=np.uint16).reshape(2, 40, 50)
    >>> _completed_channels([{"label": "DAPI", "color": "0000FF"}, {"label": "GFP"}], counts)[1]
    {'label': 'GFP', 'color': 'FFFFFF', 'window': {'min': 0, 'max': 65535, 'start': 2000, 'end': 3998}}
    """
    values = np.asarray(level[...])
    completed = []
    for channel, plane in zip(channels, values):
        low = np.min(plane)
        if values.dtype.kind in "ui":
            limits = np.iinfo(values.dtype)
            window = {"min": int(limits.min), "max": int(limits.max), "start": int(low),
                      "end": max(_bright_end(plane), int(low) + 1)}
        else:
            window = {"min": float(low), "max": float(np.max(plane)), "start": float(low),
                      "end": float(np.percentile(plane, 99.9))}
        completed.append({**channel, "color": channel.get("color", "FFFFFF"), "window": channel.get("window", window)})
    return completed


def _bright_end(level):
    """The end of a display window for all the channels of an integer pyramid ``level``: its 99.9th percentile.

    One window for all keeps the colours' balance; a pyramid's smallest level
    is read whole, as viewers read it to set their contrast.

    Examples
    --------
    >>> _bright_end(np.arange(10_001, dtype=np.uint16).reshape(1, 73, 137))
    9991
    """
    return max(int(np.ceil(np.percentile(np.asarray(level[...]), 99.9))), 1)


def _rgb_channels(count, dtype):
    """The ``omero`` channels of an RGB image's ``count`` samples of ``dtype``: red, green, blue and a hidden fourth.

    Examples
    --------
    >>> _rgb_channels(3, np.dtype(np.uint8))[0]
    {'label': 'red', 'color': 'FF0000', 'active': True, 'window': {'min': 0, 'max': 255, 'start': 0, 'end': 255}}
    """
    top = int(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0
    window = {"min": 0, "max": top, "start": 0, "end": top}
    # Alpha is left out (WithoutAlpha): a fourth sample is one of no known meaning, kept but hidden.
    named = [("red", "FF0000"), ("green", "00FF00"), ("blue", "0000FF"), ("sample 4", "FFFFFF")]
    return [{"label": label, "color": color, "active": label != "sample 4", "window": dict(window)}
            for label, color in named[:count]]


def _copy_bands(source, target, planes_first, move_channels, chunk, image_path, *, progress):
    """Copy ``source`` into ``target`` in bands of ``chunk`` rows, telling the share written (see :func:`_copy`).

    A 100k² slide's file takes about 15 minutes to convert here (an 8192²
    RGB JPEG TIFF with its pyramid: 6.1 s), which were silent before.
    """
    rows = source.shape[1] if planes_first else source.shape[0]
    teller = Teller(every=CONVERT_TELL_SECONDS, progress=progress)
    try:
        for row in range(0, rows, chunk):
            if row:
                teller.tell_if_due(f"converting {image_path.name}: {row / rows:.0%} of its rows written")
            if planes_first:
                target[:, row:row + chunk] = np.asarray(source[:, row:row + chunk])
            elif move_channels:
                target[:, row:row + chunk] = np.moveaxis(np.asarray(source[row:row + chunk]), -1, 0)
            else:
                target[row:row + chunk] = np.asarray(source[row:row + chunk])
    except READ_ERRORS as error:
        raise _unreadable(image_path, error) from None


def _unreadable(image_path, error):
    # The first line only: imageio appends lines of plugins to install, which concern other formats.
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(
        f"image: expected a TIFF, FITS, PNG or JPEG file, got {str(image_path)!r}, which could not be read "
        f"({reason})."
    )
