"""Pixel sizes: a scan's and a PSF file's, from their metadata, and a warning where they differ.

A PSF is a picture of a point, taken or computed at some pixel size: a bead
imaged on another camera, or a PSF generator's grid, often finer than the
scan's. Given for a scan of another pixel size, it is another blur: a PSF
at 65 nm per pixel given for a scan at 325 nm is read as a blur 5 times as
wide as the scan's. Too wide, it rings (a Gaussian 1.5 times as wide as the
blur gave 11.6 to 23.0 dB where the blurred crops had 25.4 to 30.9; see
:mod:`tiledeblur.regularization`), and too narrow it leaves the blur; the
width check of ``mu="auto"`` tells of some of the first and of none of the
second. So where both the scan and a PSF file give their pixel size, as
lengths or as angles, ``run`` and ``plan`` compare them, and warn
(:class:`~tiledeblur.PsfWarning`) where they differ by more than
``MAX_RATIO``. The PSF is not resampled: its file's metadata may be what is
wrong, and resampling a measured PSF changes its noise.

The scan's pixel size is its OME-Zarr multiscale's scale along y and x
(with the multiscale's own scale, where it gives one), in the axes' units;
``tiledeblur convert --ome`` keeps that of an OME-TIFF, an ImageJ TIFF, an
Aperio slide or a TIFF's metric resolution tags; or else, for a scan that
``convert`` made from a FITS image, the FITS header that it keeps. A PSF
file's is that of the same TIFF metadata, of the OME-Zarr multiscale that
holds a PSF array, or of a FITS header. A FITS header gives its
``PIXELSCL`` (arcseconds, as WebbPSF and poppy write it: their first image is
oversampled, 4 times by default), or else its WCS's scale along each axis
(``CDi_j``, or ``CDELTi`` with ``PCi_j``, in ``CUNITi``, degrees by default).
``.npy`` files give none.
"""

import dataclasses
import math
import os
import warnings

from .fits import FITS_HEADER_ATTRIBUTE, FitsImage, is_fits_name
from .io import Location, local_path
from .ome import axis_type, find_multiscale
from .psf import PsfWarning

__all__ = ["ARCSECONDS_PER_UNIT", "MAX_RATIO", "NANOMETRES_PER_UNIT", "PixelSize", "fits_pixel_size",
           "image_pixel_size", "pixel_size", "psf_pixel_size", "scan_pixel_size", "warn_if_pixel_sizes_differ"]

#: The length of each NGFF (UDUNITS-2) unit of length, in nanometres: whole numbers where they can be, so that µm
#: and nm convert exactly.
NANOMETRES_PER_UNIT = {"angstrom": 0.1, "nanometer": 1, "micrometer": 10**3, "millimeter": 10**6,
                       "centimeter": 10**7, "meter": 10**9, "inch": 254 * 10**5}
#: The size of each unit of angle, in arcseconds, by the names that :class:`PixelSize` gives them.
ARCSECONDS_PER_UNIT = {"degree": 3600, "arcminute": 60, "arcsecond": 1, "milliarcsecond": 1e-3}
#: FITS's names of those units (Greisen and Calabretta 2002), and theirs here.
FITS_ANGLE_UNITS = {"deg": "degree", "arcmin": "arcminute", "arcsec": "arcsecond", "mas": "milliarcsecond"}
#: The largest ratio of the PSF's pixel size to the scan's, or of the scan's to the PSF's, that passes without a
#: warning: metadata round pixel sizes (0.325 µm written 0.33 is 1.5% off).
MAX_RATIO = 1.05


@dataclasses.dataclass(frozen=True)
class PixelSize:
    """A pixel's size along y and x, in ``unit`` (an NGFF unit name, or None where the source's is not one)."""

    y: float
    x: float
    unit: str | None

    def measured(self):
        """``(kind, y, x)``: a length in nanometres or an angle in arcseconds; None where the unit is neither.

        Examples
        --------
        >>> PixelSize(0.325, 0.325, "micrometer").measured()
        ('length', 325.0, 325.0)
        >>> PixelSize(0.5, 0.5, "arcminute").measured()
        ('angle', 30.0, 30.0)
        >>> PixelSize(1.0, 1.0, None).measured() is None
        True
        """
        for kind, per_unit in (("length", NANOMETRES_PER_UNIT), ("angle", ARCSECONDS_PER_UNIT)):
            if self.unit in per_unit:
                return kind, self.y * per_unit[self.unit], self.x * per_unit[self.unit]
        return None

    def __str__(self):
        """``"0.325 micrometer"``, or ``"0.325 x 0.3 micrometer"`` (y by x) where they differ."""
        y, x = f"{self.y:g}", f"{self.x:g}"
        sizes = y if y == x else f"{y} x {x}"
        return f"{sizes} {self.unit}"


def pixel_size(y, x, y_unit, x_unit):
    """The :class:`PixelSize` of ``y`` in ``y_unit`` and ``x`` in ``x_unit``: y in x's unit (NGFF has one per axis).

    Found by a probe: y in µm beside x in nm took x's unit, 1000 times off.

    Examples
    --------
    >>> pixel_size(0.25, 250.0, "micrometer", "nanometer")
    PixelSize(y=250.0, x=250.0, unit='nanometer')
    """
    if y_unit != x_unit:
        if y_unit not in NANOMETRES_PER_UNIT or x_unit not in NANOMETRES_PER_UNIT:
            raise ValueError(f"no common unit for {y_unit} and {x_unit}")
        y = y * NANOMETRES_PER_UNIT[y_unit] / NANOMETRES_PER_UNIT[x_unit]
    return PixelSize(y, x, x_unit)


def image_pixel_size(multiscale):
    """The pixel size of the level of ``multiscale`` (an :class:`tiledeblur.ome.Multiscale`) that was read.

    Along its last two spatial axes, its level's scale times the
    multiscale's own; None where either axis has no unit of length.

    Examples
    --------
    >>> from tiledeblur.ome import Multiscale
    >>> axes = ({"name": "c", "type": "channel"}, {"name": "y", "type": "space", "unit": "micrometer"},
    ...         {"name": "x", "type": "space", "unit": "micrometer"})
    >>> whole = ({"type": "scale", "scale": [1, 2, 2]},)  # the multiscale's own, after the level's
    >>> image_pixel_size(Multiscale("0.5", axes, (1.0, 0.25, 0.25), transforms=whole))
    PixelSize(y=0.5, x=0.5, unit='micrometer')
    >>> image_pixel_size(Multiscale("0.5", axes[:1] + ({"name": "y"}, {"name": "x"}), (1.0, 1.0, 1.0))) is None
    True
    """
    planes = [index for index, axis in enumerate(multiscale.axes) if axis_type(axis) == "space"][-2:]
    units = [multiscale.axes[index].get("unit") for index in planes]
    if len(planes) != 2 or not all(unit in NANOMETRES_PER_UNIT for unit in units):
        return None
    scale = list(multiscale.scale)
    for transform in multiscale.transforms:
        if transform.get("type") == "scale":
            scale = [level * whole for level, whole in zip(scale, transform["scale"])]
    y, x = (float(scale[index]) for index in planes)
    return pixel_size(y, x, *units) if all(math.isfinite(s) and s > 0 for s in (y, x)) else None


def fits_pixel_size(header):
    """The pixel size that a FITS ``header`` (a dict of its cards) gives; None where it gives none.

    Its ``PIXELSCL``, or else its WCS's scale along each pixel axis ``j``,
    in ``CUNITi`` (degrees where a ``CTYPEi`` names the axis and no unit is
    given): the length of column ``j`` of ``CDi_j``, or of ``CDELTi``
    times ``PCi_j``.

    Examples
    --------
    >>> fits_pixel_size({"PIXELSCL": 0.0078})
    PixelSize(y=0.0078, x=0.0078, unit='arcsecond')
    >>> rotated = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CD1_1": -6e-6, "CD1_2": 8e-6, "CD2_1": 8e-6,
    ...            "CD2_2": 6e-6}
    >>> print(fits_pixel_size(rotated))
    1e-05 degree
    >>> fits_pixel_size({"CDELT1": 2.0, "CDELT2": 2.0}) is None  # no unit, and no axis that implies one
    True
    """
    try:
        if "PIXELSCL" in header:
            scale = float(header["PIXELSCL"])
            return PixelSize(scale, scale, "arcsecond") if math.isfinite(scale) and scale > 0 else None
        named = [str(header.get(f"CUNIT{axis}", "deg" if f"CTYPE{axis}" in header else "")) for axis in (1, 2)]
        units = {FITS_ANGLE_UNITS.get(unit.strip()) for unit in named}
        if len(units) != 1 or None in units:
            return None
        if any(f"CD{i}_{j}" in header for i in (1, 2) for j in (1, 2)):
            matrix = [[float(header.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)]
        elif "CDELT1" in header and "CDELT2" in header:
            matrix = [[float(header[f"CDELT{i}"]) * float(header.get(f"PC{i}_{j}", float(i == j))) for j in (1, 2)]
                      for i in (1, 2)]
        else:
            return None
    except (TypeError, ValueError):  # a card that is no number
        return None
    x, y = (math.hypot(matrix[0][axis], matrix[1][axis]) for axis in (0, 1))
    return PixelSize(y, x, units.pop()) if all(math.isfinite(s) and s > 0 for s in (y, x)) else None


def scan_pixel_size(multiscale, attributes):
    """The scan's pixel size: its OME-Zarr ``multiscale``'s, or else the FITS header's in its ``attributes``."""
    size = None if multiscale is None else image_pixel_size(multiscale)
    header = attributes.get(FITS_HEADER_ATTRIBUTE)
    return size if size is not None or not isinstance(header, dict) else fits_pixel_size(header)


def psf_pixel_size(path):
    """The pixel size that a PSF file's metadata give (TIFF, FITS, or a Zarr array in an OME-Zarr multiscale), or None.

    Examples
    --------
    >>> import os, tempfile, tifffile
    >>> from tiledeblur import gaussian_psf
    >>> path = os.path.join(tempfile.mkdtemp(), "psf.ome.tif")
    >>> size = {"PhysicalSizeX": 0.065, "PhysicalSizeY": 0.065}  # in OME's default unit, the micrometre
    >>> tifffile.imwrite(path, gaussian_psf(9, 1.5), ome=True, metadata=size)
    >>> psf_pixel_size(path)
    PixelSize(y=0.065, x=0.065, unit='micrometer')
    """
    path = local_path(path, name="psf")
    if path.is_dir():
        found = find_multiscale(Location.at(str(path)))
        return None if found is None else image_pixel_size(found)
    if is_fits_name(path):
        image = FitsImage(path)
        image.close()
        return fits_pixel_size(image.header)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    from .convert import tiff_metadata  # only here: Pillow and imagecodecs take a while to import

    with tifffile.TiffFile(path) as tiff:
        return tiff_metadata(tiff).pixels


def warn_if_pixel_sizes_differ(scan, psf, *, stacklevel):
    """Warn (:class:`~tiledeblur.PsfWarning`) where a PSF file's pixel size and the scan's differ beyond ``MAX_RATIO``.

    Parameters
    ----------
    scan : PixelSize or None
        The scan's (:func:`scan_pixel_size`).
    psf
        As ``run`` takes it: each PSF given as a file (``psf`` itself, or a
        path in its list) is compared, where its size is of the same kind
        (length or angle).
    stacklevel : int
        That of the warning, counted from the caller.
    """
    measured = None if scan is None else scan.measured()
    if measured is None:
        return
    files = ([("psf", psf)] if isinstance(psf, (str, os.PathLike)) else
             [(f"psf[{index}]", path) for index, path in enumerate(psf) if isinstance(path, (str, os.PathLike))]
             if isinstance(psf, (list, tuple)) else [])
    for name, path in files:
        size = psf_pixel_size(path)
        own = None if size is None else size.measured()
        if own is None or own[0] != measured[0]:
            continue
        ratios = [psf_side / scan_side for psf_side, scan_side in zip(own[1:], measured[1:])]
        if all(1 / MAX_RATIO <= ratio <= MAX_RATIO for ratio in ratios):
            continue
        wider_y, wider_x = (f"{1 / ratio:.3g}" for ratio in ratios)
        widths = wider_y if wider_y == wider_x else f"{wider_y} (along y) and {wider_x} (along x)"
        # The scan's in the PSF's unit: 0.031 arcsecond, not 8.61e-06 degree, beside the PSF's 0.0078 arcsecond.
        in_its_unit = PixelSize(*(side / ratio for side, ratio in zip((size.y, size.x), ratios)), size.unit)
        warnings.warn(
            f"{name}: its file gives a pixel size of {size}, where the scan's is {in_its_unit}, so the PSF is read "
            f"as a blur {widths} times as wide as it is, and the result will ring or stay blurred. Resample the PSF "
            "to the scan's pixel size, or correct the metadata that is wrong.",
            PsfWarning, stacklevel=stacklevel + 1,
        )
