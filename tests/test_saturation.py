"""Spots clipped at an integer dtype's largest value: warned of, and left out where the caller says so."""

import warnings

import numpy as np
import pytest
import scipy.ndimage
import tifffile
import zarr
from astropy.io import fits
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from tiledeblur import MuWarning, deconvolve, gaussian_psf, plan
from tiledeblur.convert import convert
from tiledeblur.operators import Blur
from tiledeblur.regularization import estimate_image_mu, sample_regions
from tiledeblur.saturation import SaturationWarning, warn_if_saturated

PSF = gaussian_psf(13, 2.0)
#: Bright stars in the field.
STARS = ((40, 200), (150, 60), (210, 230))


def _star_field(star_peak):
    """The galaxies of ``skimage.data.hubble_deep_field`` as counts on an offset of 100, with bright stars, as a
    uint16 camera records them: blurred as part of a mirrored scene, with Poisson noise, clipped at 65535 (as a
    fluorescence image of cells and beads would be). Returns (truth, recorded)."""
    truth = data.hubble_deep_field()[:256, :256, 0] / 255 * 5000 + 100
    rows, columns = np.mgrid[:256, :256]
    for y, x in STARS:
        truth += star_peak * np.exp(-((rows - y) ** 2 + (columns - x) ** 2) / 4.5)
    blurred = Blur(PSF, truth.shape, boundary="free").matvec(np.pad(truth, 6, mode="reflect"))
    counts = np.random.default_rng(0).poisson(blurred)
    return truth, np.minimum(counts, 65535).astype(np.uint16)


def _warnings(call, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(*args, **kwargs)
    return [w for w in caught if issubclass(w.category, SaturationWarning)]


def test_saturated_stars_warn_and_leaving_them_out_removes_the_rings(tmp_path):
    """Spots clipped at 65535 rang, and the pixels not clipped fell below the blurred image (found by a probe)."""
    truth, recorded = _star_field(600_000)
    clipped = recorded == 65535
    assert clipped.sum() > 9 * len(STARS)  # each star's plateau
    with pytest.warns(SaturationWarning, match=r"^image: 3 spots in the sample regions are clipped at 65535, the "
                                               r"largest value of uint16: a saturated sensor\. .*; make the "
                                               r"image float, NaN where 65535, to leave them out \(missing in the "
                                               r"output\), and pass nonneg=True to hold the rings at zero"):
        taken = deconvolve(recorded, PSF, mu=1e-3)  # which takes no missing_value (found by a probe: it was told to)
    left_out = deconvolve(np.where(clipped, np.nan, recorded / 65535), PSF, mu=1e-3)
    kept = ~clipped
    score = lambda image: peak_signal_noise_ratio(truth[kept] / 65535, image[kept], data_range=5100 / 65535)
    assert score(left_out) > score(recorded / 65535) > score(taken) + 1
    # Left out, they still ring, below zero; the warning's nonneg=True holds the rings there (found by a probe).
    held = deconvolve(np.where(clipped, np.nan, recorded / 65535), PSF, mu=1e-3, nonneg=True)
    assert np.nanmin(left_out) < -0.1 and np.nanmin(held) >= 0 and score(held) > score(left_out) + 5
    store = zarr.create_array(tmp_path / "stars.zarr", data=recorded, chunks=(128, 128))
    # With mu="auto", whose sample regions plan reads (the stars also set its weight, and say so). The plans here
    # take laplacian: loss="auto"'s comparison of losses, which the warning does not need, took most of their time.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MuWarning)
        with pytest.warns(SaturationWarning, match=r"^zarr_path: 3 spots.*; pass missing_value=65535 to leave them"
                                                           r" .*, and pass nonneg=True"):
            plan(store.store.root, PSF, loss="laplacian")
    assert not _warnings(plan, store.store.root, PSF, loss="laplacian", missing_value=65535)


def test_clipped_stars_are_no_resampled_noise():
    """Found by a test: the clipped stars' sharp rims passed for resampled noise, fitted with the scene, and the
    weight warned of the PSF where the bright sources should set it."""
    _, recorded = _star_field(600_000)
    image = recorded / 65535
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimate_image_mu(lambda yx: image[yx][None], image.shape, [PSF], "laplacian")
    assert [w.category for w in caught] == [MuWarning] and "bright, compact sources" in str(caught[0].message)


def _sample_warnings(image, dtype=np.uint16):
    """The warnings of ``warn_if_saturated`` on a 2-D integer image's sample regions."""
    return _warnings(warn_if_saturated, lambda yx: image[yx][None] / np.iinfo(dtype).max, sample_regions(image.shape),
                     [PSF], dtype, name="image")


def test_stars_clipped_in_a_few_pixels_warn():
    """Stars clipped in a cross of 5 pixels held no 3 x 3 plateau, and did not warn (found by a probe)."""
    _, recorded = _star_field(200_000)
    groups, count = scipy.ndimage.label(recorded == 65535, structure=np.ones((3, 3)))
    assert count == len(STARS) and all(np.sum(groups == groups[star]) == 5 for star in STARS)
    (caught,) = _sample_warnings(recorded)
    assert str(caught.message).startswith("image: 3 spots in the sample regions are clipped at 65535")


def test_the_warning_names_channels_as_the_ome_zarr_does(tmp_path):
    """Found by a probe: beads clipped in a channel that an OME-Zarr calls RFP were told of as "channel 1"."""
    cells = np.stack([_star_field(30_000)[1], _star_field(600_000)[1]])
    tifffile.imwrite(tmp_path / "cells.ome.tif", cells, metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "RFP"]}})
    convert(tmp_path / "cells.ome.tif", tmp_path / "cells.zarr", ome=True, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MuWarning)
        with pytest.warns(SaturationWarning, match=r"^zarr_path: 3 spots in the sample regions \(channel 1: RFP\) "):
            plan(tmp_path / "cells.zarr", [PSF, PSF])


def test_a_12_bit_cameras_clipped_stars_warn_at_4095():
    """Found by a probe: beads clipped at a 12-bit camera's 4095, in uint16, rang and did not warn."""
    _, recorded = _star_field(600_000)
    (caught,) = _sample_warnings(recorded // 16)  # the same counts, of 12 bits
    assert str(caught.message).startswith("image: 3 spots in the sample regions are clipped at 4095, the largest "
                                          "value of a 12-bit sensor: a saturated sensor.")
    assert "pass missing_value=4095 to leave them out" in str(caught.message)
    assert not _sample_warnings(_star_field(30_000)[1] // 16)


def test_stars_clipped_at_a_fits_headers_saturate_warn(tmp_path):
    """Found by a probe: stars clipped at a camera's SATURATE of 40000, below uint16's largest value, rang unwarned."""
    _, recorded = _star_field(600_000)
    for name, level, values in (("at.fits", 40_000, np.minimum(recorded, 40_000)),
                                ("above.fits", 40_000, np.where(recorded >= 40_000, recorded // 8 + 40_000, recorded)),
                                ("below.fits", 65_000, np.minimum(recorded, 40_000))):
        hdu = fits.PrimaryHDU(values.astype(np.uint16))  # BZERO 32768, as cameras write uint16
        hdu.header["SATURATE"] = level
        hdu.writeto(tmp_path / name)
        convert(tmp_path / name, tmp_path / f"{name}.zarr", progress=False)
    # laplacian, as in the test above: the warning comes of the sample regions, whatever the loss.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MuWarning)
        with pytest.warns(SaturationWarning, match=r"^zarr_path: 3 spots in the sample regions are clipped at 40000, "
                                                   r"the level of SATURATE in its FITS header: a saturated sensor\. "
                                                   r".*; pass missing_value=40000 to leave them out"):
            plan(tmp_path / "at.fits.zarr", PSF, loss="laplacian")
        # Saturated pixels that read above the level are no one value for missing_value.
        with pytest.warns(SaturationWarning, match=r"clipped at 40000, .*; make the image float, NaN where 40000 or "
                                                   r"more, to leave them out"):
            plan(tmp_path / "above.fits.zarr", PSF, loss="laplacian")
        assert not _warnings(plan, tmp_path / "below.fits.zarr", PSF, loss="laplacian")


def test_no_warning_without_spots_clipped():
    """Stars within the range, a bright ground clipped (a slide's glass), floats and a channel that is all missing
    do not warn."""
    _, recorded = _star_field(30_000)
    assert recorded.max() < 65535 and not _warnings(deconvolve, recorded, PSF, mu=1e-3)
    slide = data.immunohistochemistry()[:256, :256, 0]
    glass = np.maximum(slide, np.where(np.arange(256) < 64, 255, 0).astype(np.uint8))  # and holes of glass in it
    glass[100:104, 100:104] = glass[200:203, 30:33] = 255
    assert not _warnings(deconvolve, glass, PSF, mu=1e-3)
    assert not _warnings(deconvolve, _star_field(600_000)[1] / 65535, PSF, mu=1e-3)
    # Noise that reaches the top clips a pixel or two; a clipped edge is long.
    _, recorded = _star_field(30_000)
    recorded[50, 50] = recorded[90, 90:92] = recorded[120:122, 121] = recorded[180, 100:106] = 65535
    assert not _sample_warnings(recorded)
    # A photograph's highlights reach the top, but on a bright ground (median 0.60): the sharp camera warned, beside
    # dark channels that made the image's median low (found by a test).
    assert not _warnings(warn_if_saturated, lambda yx: np.stack([data.camera()[yx], data.moon()[yx]]) / 255,
                         sample_regions((512, 512)), [PSF, PSF], np.uint8, name="image")
    assert not _warnings(warn_if_saturated, lambda yx: np.full((1, 64, 64), np.nan), [np.s_[:64, :64]], [PSF],
                         np.uint16, name="image")
