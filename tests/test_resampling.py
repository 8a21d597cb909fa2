"""mu="auto" on resampled images (a mosaic's reprojection, a registration, an enlargement), whose noise is not white."""

import numpy as np
import pytest
import scipy.ndimage
import zarr
from skimage import data
from skimage.draw import line_aa
from skimage.metrics import peak_signal_noise_ratio

from tiledeblur import deconvolve, gaussian_psf, run
from tiledeblur.gcv import gcv_mu, periodic_spectrum
from tiledeblur.operators import Blur
from tiledeblur.resampling import noise_power

PSF = gaussian_psf(17, 2.0)
RESAMPLINGS = {
    "half-pixel shift": lambda image: scipy.ndimage.shift(image, (0.5, 0.3), order=1, mode="reflect"),
    "rotation": lambda image: scipy.ndimage.rotate(image, 7, order=1, reshape=False, mode="reflect"),
}


def _resampled_scan(resample, noise=0.01, size=192, psf=PSF):
    """(truth, scan): a crop of the camera's scene blurred by ``psf`` as part of it, with noise, then resampled, and
    the crop resampled alike."""
    scene = data.camera() / 255
    start = (512 - size) // 2
    window = tuple(slice(start - side // 2, start + size + side // 2) for side in psf.shape)
    blurred = Blur(psf, (size, size), boundary="free").matvec(scene[window])
    noisy = blurred + np.random.default_rng(0).normal(0, noise, blurred.shape)
    return resample(scene[start: start + size, start: start + size]), resample(noisy)


def _interior_psnr(truth, image):
    inside = (slice(2 * PSF.shape[0], -2 * PSF.shape[0]),) * 2
    return peak_signal_noise_ratio(truth[inside], np.clip(image[inside], 0, 1), data_range=1)


@pytest.mark.parametrize("resampling", RESAMPLINGS)
def test_mu_auto_restores_a_resampled_image_that_cross_validation_ruins(resampling):
    """Interpolation left the finest frequencies with little noise, and cross-validation, which reads the noise
    there, chose its smallest weight, below the scan."""
    truth, scan = _resampled_scan(RESAMPLINGS[resampling])
    blurred = _interior_psnr(truth, scan)
    assert _interior_psnr(truth, deconvolve(scan, PSF, mu=gcv_mu(scan, PSF, order=2), denoise=False)) < blurred
    assert _interior_psnr(truth, deconvolve(scan, PSF)) > blurred + 1.5


def test_a_narrow_psf_whose_dead_band_begins_below_nyquist_is_modelled():
    """A Gaussian of σ 1.2 erases every frequency beyond 0.42 cycles per pixel: left out at 0.4, its shifted scan
    kept cross-validation's weight, 6 dB below the scan."""
    psf = gaussian_psf(13, 1.2)
    truth, scan = _resampled_scan(RESAMPLINGS["half-pixel shift"], psf=psf)
    blurred = _interior_psnr(truth, scan)
    assert _interior_psnr(truth, deconvolve(scan, psf, mu=gcv_mu(scan, psf, order=2), denoise=False)) < blurred
    assert _interior_psnr(truth, deconvolve(scan, psf)) > blurred + 1.5


def _motion_line():
    """A line of 11 px at about 30 degrees through the centre of 13 x 13, normalized."""
    line = np.zeros((13, 13))
    rows, columns, values = line_aa(9, 1, 3, 11)
    line[rows, columns] = values
    return line / line.sum()


def test_a_thin_rim_of_dead_band_falls_back_to_the_fit_with_the_scene():
    """Under a Gaussian of σ 1.1 the dead band is a thin rim beyond 0.45 cycles per pixel, the reading off it
    declined, and the shifted scan kept cross-validation's weight, 6.2 dB below the scan; fitted with the scene, it
    came out 5.7 dB above it."""
    psf = gaussian_psf(13, 1.1)
    truth, scan = _resampled_scan(RESAMPLINGS["half-pixel shift"], psf=psf)
    assert noise_power(scan, periodic_spectrum(scan), psf).with_scene
    blurred = _interior_psnr(truth, scan)
    assert _interior_psnr(truth, deconvolve(scan, psf, mu=gcv_mu(scan, psf, order=2), denoise=False)) < blurred
    assert _interior_psnr(truth, deconvolve(scan, psf)) > blurred + 1.5


@pytest.mark.parametrize("noise", [0.005, 0.03])
@pytest.mark.parametrize("name", ["camera", "grass", "moon"])
@pytest.mark.parametrize("psf", ["gaussian", "article", "motion"])
def test_white_noise_is_left_to_cross_validation(name, noise, psf):
    """White noise (the rule's own case), in floating point or in 8 bits, is not modelled: read off the dead band
    (a Gaussian of σ 2), or fitted with the scene (the article's PSF, a motion line)."""
    psf = {"gaussian": PSF, "article": gaussian_psf(13, (1, 3)), "motion": _motion_line()}[psf]
    scene = getattr(data, name)() / 255
    scan = Blur(psf, scene.shape, boundary="zero").matvec(scene)[64:320, 64:320]
    scan = scan + np.random.default_rng(1).normal(0, noise, scan.shape)
    for values in (scan, np.round(np.clip(scan, 0, 1) * 255) / 255):
        assert noise_power(values, periodic_spectrum(values), psf) is None


def test_a_sharp_scene_s_leak_is_no_coloured_noise():
    """With little noise, a sharp scene leaks into the frequencies where the PSF has fallen to 1e-4 of its peak;
    extrapolated, the leak passed for noise that resampling coloured, but it falls with the PSF, and the fits to
    that band and to a deeper one disagree."""
    _, scan = _resampled_scan(RESAMPLINGS["rotation"], noise=0.0)
    assert noise_power(scan, periodic_spectrum(scan), PSF) is None


def test_a_faint_image_under_a_psf_that_passes_fine_detail_along_one_axis_is_left_to_cross_validation():
    """Under the article's PSF (σ 1 across, 3 along) the dead band lies along one axis only, and extended from there
    to the zero frequency, a faint image's leak (noise 0.001, white) passed for coloured noise: up to 3 dB worse.
    Fitted with the scene, its noise is white."""
    psf = gaussian_psf(13, (1, 3))
    scene = data.grass() / 255
    scan = Blur(psf, scene.shape, boundary="zero").matvec(scene)[64:320, 64:320]
    scan = scan + np.random.default_rng(1).normal(0, 0.001, scan.shape)
    assert noise_power(scan, periodic_spectrum(scan), psf) is None


def test_a_straight_edge_is_no_coloured_noise():
    """A straight edge puts its power along one axis: the scene's power law taken as the same in every direction
    left that power to the noise's filter, and the brick wall's crop at the image's side (blurred with zeros beyond
    it; white noise of 0.002) passed for resampled, at 1.6 times its noise level."""
    psf = gaussian_psf(13, (1, 3))
    scene = data.brick() / 255
    scan = Blur(psf, scene.shape, boundary="zero").matvec(scene)[128:384, :256]
    scan = np.round(np.clip(scan + np.random.default_rng(3).normal(0, 0.002, scan.shape), 0, 1) * 255) / 255
    assert noise_power(scan, periodic_spectrum(scan), psf) is None


@pytest.mark.parametrize(("psf", "resampling"), [("article", "half-pixel shift"), ("article", "rotation"),
                                                   ("motion", "rotation")])
def test_a_psf_without_a_dead_band_around_it_is_fitted_with_the_scene(psf, resampling):
    """The article's PSF passes fine detail along one axis, and a motion line's spectrum seldom falls far: no
    frequency holds noise alone. Cross-validation's weight came out 7.2 and 4.3 dB below the resampled scan under
    the first (the model's 4.3 and 4.0 dB above it), 2.1 dB below the model's under the second."""
    psf = gaussian_psf(13, (1, 3)) if psf == "article" else _motion_line()
    truth, scan = _resampled_scan(RESAMPLINGS[resampling], psf=psf)
    assert noise_power(scan, periodic_spectrum(scan), psf).with_scene
    crossvalidated = _interior_psnr(truth, deconvolve(scan, psf, mu=gcv_mu(scan, psf, order=2), denoise=False))
    assert _interior_psnr(truth, deconvolve(scan, psf)) > max(crossvalidated, _interior_psnr(truth, scan)) + 1.5


def test_run_weighs_a_resampled_mosaic_once_for_every_tile(tmp_path, client):
    """Tiles and one whole tile take one weight, the resampled noise's."""
    truth, scan = _resampled_scan(RESAMPLINGS["rotation"], size=256)
    zarr.create_array(tmp_path / "mosaic.zarr", data=scan.astype(np.float32), chunks=(128, 128))
    tiled, whole = (run(tmp_path / "mosaic.zarr", PSF, tile=tile, output=tmp_path / f"{tile}.zarr", client=client,
                        progress=False) for tile in (128, 256))
    assert tiled.mu == whole.mu
    assert tiled.mu > 10 * gcv_mu(scan, PSF, order=2)
    restored = zarr.open_array(tiled.output, mode="r")[...]
    assert np.abs(restored - zarr.open_array(whole.output, mode="r")[...]).max() <= 1e-3
    assert _interior_psnr(truth, restored) > _interior_psnr(truth, scan) + 1.5
