"""A PSF file whose pixel size is not the scan's is told of."""

import warnings

import numpy as np
import pytest
import tifffile
import zarr
from astropy.io import fits
from skimage import data

from tiledeblur import PsfWarning, gaussian_psf, plan
from tiledeblur.convert import convert
from tiledeblur.operators import Blur


@pytest.fixture
def scan(tmp_path):
    """An OME-TIFF of 0.325 µm pixels, as a slide scanner or a microscope's camera writes it, converted to OME-Zarr."""
    psf = gaussian_psf(13, 2.0)
    blurred = Blur(psf, (256, 256), boundary="free").matvec(data.camera()[:268, :268] / 255.0)
    tifffile.imwrite(tmp_path / "scan.ome.tif", (blurred * 65535).astype(np.uint16), ome=True,
                     metadata={"PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325})
    convert(tmp_path / "scan.ome.tif", tmp_path / "scan.zarr", chunk=256, ome=True)
    return tmp_path / "scan.zarr"


def write_ome_tiff(path, psf, size):
    """``psf`` as an OME-TIFF of ``size`` µm pixels."""
    tifffile.imwrite(path, psf, ome=True, metadata={"PhysicalSizeX": size, "PhysicalSizeY": size})


def test_a_psf_file_of_another_pixel_size_warns(tmp_path, scan):
    """A PSF computed on a grid 5 times as fine as the scan's was taken as a blur 5 times as wide without a word."""
    psf = gaussian_psf(13, 2.0)
    write_ome_tiff(tmp_path / "fine.ome.tif", psf, 0.065)
    with pytest.warns(PsfWarning, match=r"psf: its file gives a pixel size of 0.065 micrometer, where the scan's is "
                                        r"0.325 micrometer, so the PSF is read as a blur 5 times as wide as it is"):
        plan(scan, str(tmp_path / "fine.ome.tif"), mu=0.01)
    # An ImageJ TIFF in nanometres, and a PSF in a list, named by its place there; rectangular pixels along each axis.
    tifffile.imwrite(tmp_path / "coarse.tif", psf.astype(np.float32), imagej=True, resolution=(1 / 650, 1 / 325),
                     metadata={"unit": "nm"})
    with pytest.warns(PsfWarning, match=r"psf\[0\]: its file gives a pixel size of 325 x 650 nanometer, .* a blur 1 "
                                        r"\(along y\) and 0.5 \(along x\) times as wide"):
        plan(scan, [tmp_path / "coarse.tif"], mu=0.01)


def test_a_psf_file_of_the_scans_pixel_size_or_of_none_passes(tmp_path, scan):
    """Rounded metadata, an OME-Zarr PSF in other units, and files or scans that give no pixel size pass quietly."""
    psf = gaussian_psf(13, 2.0)
    # 0.33 is 0.325 rounded, as metadata may write it.
    write_ome_tiff(tmp_path / "psf.ome.tif", psf, 0.33)
    group = zarr.open_group(tmp_path / "psf.zarr", mode="w", zarr_format=3)
    group.create_array("0", data=psf)
    axes = [{"name": name, "type": "space", "unit": "nanometer"} for name in "yx"]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [325.0, 325.0]}]}]}]}
    tifffile.imwrite(tmp_path / "plain.tif", psf)
    np.save(tmp_path / "psf.npy", psf)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PsfWarning)
        for given in ("psf.ome.tif", "psf.zarr/0", "plain.tif", "psf.npy"):
            plan(scan, tmp_path / given, mu=0.01)
    # A plain Zarr scan gives no pixel size to compare with.
    zarr.create_array(tmp_path / "plain.zarr", data=zarr.open_array(scan / "0", mode="r")[...], chunks=(256, 256))
    write_ome_tiff(tmp_path / "fine.ome.tif", psf, 0.065)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PsfWarning)
        plan(tmp_path / "plain.zarr", tmp_path / "fine.ome.tif", mu=0.01)


def test_an_oversampled_fits_psf_warns(tmp_path):
    """WebbPSF's first image is oversampled 4 times: read as the scan's pixels, it is a blur 4 times as wide."""
    header = {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CD1_1": -0.031 / 3600, "CD1_2": 0.0, "CD2_1": 0.0,
              "CD2_2": 0.031 / 3600}  # a JWST NIRCam short-wavelength detector's 0.031 arcsecond pixels
    field = Blur(gaussian_psf(13, 2.0), (256, 256), boundary="free").matvec(data.moon()[:268, :268] / 255.0)
    fits.PrimaryHDU(field.astype(np.float32), header=fits.Header(header)).writeto(tmp_path / "field.fits")
    convert(tmp_path / "field.fits", tmp_path / "field.zarr", chunk=256)
    for name, scale in (("oversampled.fits", 0.031 / 4), ("detector.fits", 0.031)):
        fits.PrimaryHDU(gaussian_psf(13, 2.0), header=fits.Header({"PIXELSCL": scale})).writeto(tmp_path / name)
    with pytest.warns(PsfWarning, match=r"psf: its file gives a pixel size of 0.00775 arcsecond, where the scan's is "
                                        r"0.031 arcsecond, so the PSF is read as a blur 4 times as wide"):
        plan(tmp_path / "field.zarr", tmp_path / "oversampled.fits", mu=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PsfWarning)
        plan(tmp_path / "field.zarr", tmp_path / "detector.fits", mu=0.01)
