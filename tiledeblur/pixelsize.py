"""Pixel sizes: a scan's, from its OME-Zarr metadata, and a PSF file's, and a warning where they differ.

A PSF is a picture of a point, taken or computed at some pixel size: a bead
imaged on another camera, or a PSF generator's grid, often finer than the
scan's. Given for a scan of another pixel size, it is another blur: a PSF
at 65 nm per pixel given for a scan at 325 nm is read as a blur 5 times as
wide as the scan's. Too wide, it rings (a Gaussian 1.5 times as wide as the
blur gave 11.6 to 23.0 dB where the blurred crops had 25.4 to 30.9; see
:mod:`tiledeblur.regularization`), and too narrow it leaves the blur; the
width check of ``mu="auto"`` tells of some of the first and of none of the
second. So where both the scan and a PSF file give their pixel size, in
units of length, ``run`` and ``plan`` compare them, and warn
(:class:`~tiledeblur.PsfWarning`) where they differ by more than
``MAX_RATIO``. The PSF is not resampled: its file's metadata may be what is
wrong, and resampling a measured PSF changes its noise.

The scan's pixel size is its OME-Zarr multiscale's scale along y and x
(with the multiscale's own scale, where it gives one), in the axes' units;
``tiledeblur convert --ome`` keeps that of an OME-TIFF, an ImageJ TIFF, an
Aperio slide or a TIFF's metric resolution tags. A PSF file's is that of the
same TIFF metadata, or of the OME-Zarr multiscale that holds a PSF array.
``.npy`` and FITS files give none.
"""

import dataclasses
import math
import os
import warnings

from .io import Location, local_path
from .ome import axis_type, find_multiscale
from .psf import PsfWarning

__all__ = ["MAX_RATIO", "NANOMETRES_PER_UNIT", "PixelSize", "image_pixel_size", "pixel_size", "psf_pixel_size",
           "warn_if_pixel_sizes_differ"]

#: The length of each NGFF (UDUNITS-2) unit of length, in nanometres: whole numbers where they can be, so that µm
#: and nm convert exactly.
NANOMETRES_PER_UNIT = {"angstrom": 0.1, "nanometer": 1, "micrometer": 10**3, "millimeter": 10**6,
                       "centimeter": 10**7, "meter": 10**9, "inch": 254 * 10**5}
#: The largest ratio of the PSF's pixel size to the scan's, or of the scan's to the PSF's, that passes without a
#: warning: metadata round pixel sizes (0.325 written 0.33 is 1.5% off), and a blur 5% too wide or narrow costs
#: little (a Gaussian 1.25 times too wide was told by the width check in 7 of 88 cases).
MAX_RATIO = 1.05


@dataclasses.dataclass(frozen=True)
class PixelSize:
    """A pixel's size along y and x, in ``unit`` (an NGFF unit name, or None where the source's is not one)."""

    y: float
    x: float
    unit: str | None

    def in_nanometres(self):
        """``(y, x)`` in nanometres; None where the unit is no length.

        Examples
        --------
        >>> PixelSize(0.325, 0.325, "micrometer").in_nanometres()
        (325.0, 325.0)
        >>> PixelSize(1.0, 1.0, "arcsecond").in_nanometres() is None
        True
        """
        per_unit = NANOMETRES_PER_UNIT.get(self.unit)
        return None if per_unit is None else (self.y * per_unit, self.x * per_unit)

    def __str__(self):
        """``"0.325 micrometer"``, or ``"0.325 x 0.3 micrometer"`` (y by x) where they differ."""
        sizes = f"{self.y:g}" if self.y == self.x else f"{self.y:g} x {self.x:g}"
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


def psf_pixel_size(path):
    """The pixel size that a PSF file's metadata gives (TIFF, or a Zarr array in an OME-Zarr multiscale); else None.

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
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    import tifffile

    from .convert import tiff_metadata  # only here: Pillow and imagecodecs take a while to import

    with tifffile.TiffFile(path) as tiff:
        return tiff_metadata(tiff).pixels


def warn_if_pixel_sizes_differ(multiscale, psf, *, stacklevel):
    """Warn (:class:`~tiledeblur.PsfWarning`) where a PSF file's pixel size and the scan's differ beyond ``MAX_RATIO``.

    Parameters
    ----------
    multiscale : tiledeblur.ome.Multiscale or None
        The scan's, None for a plain array.
    psf
        As ``run`` takes it: each PSF given as a file (``psf`` itself, or a
        path in its list) is compared.
    stacklevel : int
        That of the warning, counted from the caller.
    """
    scan = None if multiscale is None else image_pixel_size(multiscale)
    if scan is None or scan.in_nanometres() is None:
        return
    files = ([("psf", psf)] if isinstance(psf, (str, os.PathLike)) else
             [(f"psf[{index}]", path) for index, path in enumerate(psf) if isinstance(path, (str, os.PathLike))]
             if isinstance(psf, (list, tuple)) else [])
    for name, path in files:
        size = psf_pixel_size(path)
        own = None if size is None else size.in_nanometres()
        if own is None:
            continue
        ratios = [psf_side / scan_side for psf_side, scan_side in zip(own, scan.in_nanometres())]
        if all(1 / MAX_RATIO <= ratio <= MAX_RATIO for ratio in ratios):
            continue
        wider_y, wider_x = (f"{1 / ratio:.3g}" for ratio in ratios)
        widths = wider_y if wider_y == wider_x else f"{wider_y} (along y) and {wider_x} (along x)"
        warnings.warn(
            f"{name}: its file gives a pixel size of {size}, where the scan's is {scan}, so the PSF is read as a "
            f"blur {widths} times as wide as it is, and the result will ring or stay blurred. Resample the PSF to "
            "the scan's pixel size, or correct the metadata that is wrong.",
            PsfWarning, stacklevel=stacklevel + 1,
        )
