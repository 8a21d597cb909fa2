"""mu="auto" on a colour camera's demosaiced images, whose noise is not white."""

import numpy as np
import pytest
import zarr
from skimage import data
from skimage.draw import line_aa
from skimage.metrics import peak_signal_noise_ratio

from tiledeblur import deconvolve, gaussian_psf, run
from tiledeblur.demosaic import GREEN_KERNEL, RED_BLUE_KERNEL, camera_image, noise_power
from tiledeblur.operators import Blur
from tiledeblur.regularization import estimate_image_mu

PSF = gaussian_psf(17, 2.0)


def _camera_scan(noise, size=192, method="bilinear", psf=PSF):
    """(truth, scan): a crop of the astronaut's scene blurred by ``psf`` as part of it, with noise, as an RGGB camera
    demosaics it by ``method`` (:func:`camera_image`), in 8 bits."""
    scene = data.astronaut() / 255
    start = (512 - size) // 2
    truth = scene[start: start + size, start: start + size]
    window = tuple(slice(start - side // 2, start + size + side // 2) for side in psf.shape)
    blurred = np.stack([Blur(psf, (size, size), boundary="free").matvec(scene[(*window, channel)])
                        for channel in range(3)], axis=-1)
    noisy = blurred + np.random.default_rng(0).normal(0, noise, blurred.shape)
    return truth, np.clip(np.round(camera_image(noisy, method=method) * 255), 0, 255).astype(np.uint8)


def _interior_psnr(truth, image):
    inside = (slice(2 * PSF.shape[0], -2 * PSF.shape[0]),) * 2
    return peak_signal_noise_ratio(truth[inside], np.clip(image[inside], 0, 1), data_range=1)


@pytest.mark.parametrize("channel", [0, 1])
def test_mu_auto_restores_a_demosaiced_channel_that_cross_validation_ruins(channel):
    """Cross-validation took the interpolated noise for none, and chose its smallest weight: 17.3 dB, where the
    blurred green had 25.8 dB. Red (one pixel in four) and green (a checkerboard) lie on lattices of their own."""
    truth, scan = _camera_scan(0.01)
    restored, info = deconvolve(scan[..., channel], PSF, loss="laplacian", return_info=True)
    blurred = _interior_psnr(truth[..., channel], scan[..., channel] / 255)
    assert _interior_psnr(truth[..., channel], restored) > blurred + 1
    assert info.mu > 1e-3


@pytest.mark.parametrize("noise", [0.005, 0.02])
def test_the_noise_is_that_of_the_measured_pixels_spread_by_the_interpolation(noise):
    """The spectrum's total is the measured pixels' variance times their share times the kernel's sum of squares.

    The blurred scene adds to the residual that the variance is read from: up to 24% more in red and blue, whose
    measured pixels lie 2 px apart, and 8% in green (0.005 to 0.04, measured).
    """
    size = 256
    _, scan = _camera_scan(noise, size)
    spread = {0: np.sum(RED_BLUE_KERNEL**2) / 4, 1: np.sum(GREEN_KERNEL**2) / 2}
    for channel, share_of_power in spread.items():
        power = noise_power(scan[..., channel] / 255)
        variance = (2 * power[:, 1:-1].sum() + power[:, [0, -1]].sum()) / size**4  # Parseval, rfft's columns twice
        assert 0.95 < variance / (noise**2 * share_of_power) < 1.3


@pytest.mark.parametrize("name", ["camera", "coins", "moon", "grass"])
def test_white_noise_is_left_to_cross_validation(name, recorded):
    """Images whose noise is white, in 8 bits, show no lattice, nor does the blurred scene without noise."""
    image = getattr(data, name)()[:256, :256]
    assert noise_power(recorded(image, [PSF], 0.005) / 255) is None
    assert noise_power(recorded(image, [PSF], 0.0) / 255.0) is None


@pytest.mark.parametrize(("photons", "seed"), [(100, 1), (100, 2), (1000, 0)])
def test_a_dark_floor_of_zero_counts_shows_no_lattice(photons, seed):
    """Blobs under a motion line of 13 px at 30 degrees, counted in photons: over half of the pixels count nothing,
    and each predicts its like exactly. With the median squared residual zero, the rule for outliers left out every
    pixel that the fit did not predict exactly, and the checkerboard passed for a lattice in these three draws of
    the noise (of six at each count); Mallows' estimate of that noise then took the weights' floor, 12 to 18 dB
    below the tuned Richardson-Lucy (found by bench_quality)."""
    line = np.zeros((13, 13))
    rows, columns, values = line_aa(3, 1, 9, 11)
    line[rows, columns] = values
    scene = data.binary_blobs(rng=0).astype(float)
    blurred = Blur(line / line.sum(), scene.shape, boundary="zero").matvec(scene)[192:320, 192:320]
    counted = np.random.default_rng(seed).poisson(np.maximum(blurred, 0) * photons) / photons
    assert np.mean(counted == 0) > 0.5 and noise_power(counted) is None


@pytest.mark.parametrize("noise", [0.003, 0.01])
def test_a_mild_blur_keeps_a_demosaiced_scan_from_the_weights_floor(noise):
    """Under a Gaussian of σ 1, red and blue chose 1e-5 by Mallows' estimate alone, and came out 6 to 15 dB below
    the scan (found by a probe); the discrepancy principle bounds them."""
    psf = gaussian_psf(9, 1.0)
    truth, scan = _camera_scan(noise, 256, psf=psf)
    channels = np.moveaxis(scan / 255, -1, 0)
    mus = estimate_image_mu(lambda yx: channels[(slice(None), *yx)], channels.shape[1:], [psf] * 3, "laplacian")
    for channel, mu in enumerate(mus):
        restored = deconvolve(channels[channel], psf, mu=mu)
        assert _interior_psnr(truth[..., channel], restored) > _interior_psnr(truth[..., channel],
                                                                              channels[channel]) - 0.5


@pytest.mark.parametrize("border", ["last column", "first row"])
def test_a_hot_pixel_on_the_border_leaves_a_demosaiced_channel_its_weight(border):
    """A hot pixel on a region's outer row or column passed for no spike, and Mallows' estimate, fitting it, chose
    1e-5: 12.9 dB where the channel without it got 28.9 (found by a probe)."""
    _, scan = _camera_scan(0.01)
    green = scan[..., 1] / 255
    clean = estimate_image_mu(lambda yx: green[yx][None], green.shape, [PSF], "laplacian")
    edge = green[1:-1, -1] if border == "last column" else green[0, 1:-1]
    darkest = 1 + int(np.argmin(edge))  # where the spike rule can tell it from the scene (see spikes_of)
    green[(darkest, -1) if border == "last column" else (0, darkest)] = 5.0
    spiked = estimate_image_mu(lambda yx: green[yx][None], green.shape, [PSF], "laplacian")
    assert spiked == pytest.approx(clean, rel=0.5)


@pytest.mark.parametrize("method", ["bilinear", "gradient-corrected"])
def test_run_weighs_a_demosaiced_colour_scan_by_its_mosaic(tmp_path, client, method):
    """Gradient-corrected demosaicing fills each colour from all three, which one channel alone cannot show: the
    mosaic of red, green and blue can. Tiles and one whole tile take one weight."""
    truth, scan = _camera_scan(0.02, 256, method)
    zarr.create_array(tmp_path / "scan.zarr", data=scan, chunks=(128, 128, 3))
    tiled, whole = (run(tmp_path / "scan.zarr", PSF, loss="laplacian", tile=tile, channel_axis=-1,
                        output=tmp_path / f"{tile}.zarr", client=client, progress=False) for tile in (128, 256))
    assert tiled.mu == whole.mu
    restored = zarr.open_array(tiled.output, mode="r")[...]
    assert np.abs(restored - zarr.open_array(whole.output, mode="r")[...]).max() <= 1e-3
    for channel in range(3):
        assert _interior_psnr(truth[..., channel], restored[..., channel]) > _interior_psnr(
            truth[..., channel], scan[..., channel] / 255) + 1
