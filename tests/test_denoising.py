"""``denoise=True``: one pass of the denoiser after a quadratic solve, at the noise level it leaves."""

import dataclasses

import numpy as np
import pytest
import scipy.fft
from skimage import data
from skimage.metrics import peak_signal_noise_ratio
from skimage.restoration import wiener

from tiledeblur import deconvolve
from tiledeblur.denoising import GAIN_GRID, Denoising, channels_alike, denoised_together, residual_noise
from tiledeblur.operators import Blur, smoothness_power
from tiledeblur.settings import SolverSettings


def _interior_psnr(truth, restored):
    interior = (slice(26, -26),) * 2  # two PSF sides
    return peak_signal_noise_ratio(truth[interior], restored[interior], data_range=1.0)


def test_the_pass_beats_the_solve_alone_and_the_best_tuned_wiener_filter(camera_case, article_psf):
    """Measured: 25.22 dB with the pass, 25.01 without, and 24.77 for the best of 21 balances (25.27 dB with non-local
    means alone for the pass)."""
    truth, observed = camera_case
    solved = _interior_psnr(truth, deconvolve(observed, article_psf, loss="laplacian", denoise=False))
    denoised = _interior_psnr(truth, deconvolve(observed, article_psf, loss="laplacian"))
    tuned = max(_interior_psnr(truth, wiener(observed, article_psf, balance, clip=False))
                for balance in np.geomspace(1e-4, 10, 21))
    assert denoised > solved + 0.15
    assert denoised > tuned + 0.3


@pytest.mark.parametrize(("order", "mu"), [(2, 1e-3), (2, 3e-2), (1, 1e-2)])
def test_residual_noise_is_that_of_white_noise_through_the_filter(article_psf, order, mu):
    """The filter of the quadratic loss applied to white noise, periodically, leaves the level predicted."""
    noise = np.random.default_rng(0).normal(0.0, 0.02, (4, *GAIN_GRID))
    blur = scipy.fft.rfft2(article_psf, s=GAIN_GRID)
    response = np.conj(blur) / (np.abs(blur) ** 2 + mu * smoothness_power(GAIN_GRID, order))
    filtered = scipy.fft.irfft2(response * scipy.fft.rfft2(noise), s=GAIN_GRID)
    assert np.std(filtered) == pytest.approx(residual_noise(article_psf, mu, order, 0.02), rel=0.02)


@pytest.mark.parametrize("loss", ["tv", "nlmeans"])
def test_the_other_losses_ignore_it(camera_case, article_psf, loss):
    observed = camera_case[1][:96, :96]
    np.testing.assert_array_equal(deconvolve(observed, article_psf, loss=loss, denoise=True),
                                  deconvolve(observed, article_psf, loss=loss, denoise=False))


def test_the_noise_level_reaches_the_solve_and_is_reported(camera_case, article_psf):
    observed = camera_case[1]
    _, info = deconvolve(observed, article_psf, loss="laplacian", return_info=True)
    # Within a tenth of the noise added (GCV measured 0.99 to 1.09 times it on bench_quality's cases).
    assert info.noise == pytest.approx(0.01, rel=0.1)
    assert deconvolve(observed, article_psf, loss="laplacian", denoise=False, return_info=True)[1].noise is None


def test_bad_values_are_refused_by_name():
    with pytest.raises(TypeError, match=r"denoise: expected True or False, got 'yes'"):
        deconvolve(np.ones((16, 16)), np.ones((3, 3)), denoise="yes")
    with pytest.raises(ValueError, match=r"noise: expected None with loss 'tv'"):
        SolverSettings(loss="tv", noise=0.01)
    with pytest.raises(ValueError, match=r"noise: expected a positive finite number, got -0.01"):
        SolverSettings(noise=-0.01)


def test_channels_denoised_together_each_in_units_of_its_own_noise():
    """A channel in other units (counts of 12 bits, its noise with them) changes no channel's result but in its own
    units; one request, or requests of other shapes, are denoised alone."""
    rgb, rng = data.astronaut()[:96, :128] / 255, np.random.default_rng(0)
    channels = [rgb[..., channel] + rng.normal(0, 0.03, rgb.shape[:2]) for channel in range(3)]
    unobserved = np.zeros(rgb.shape[:2], dtype=bool)
    unobserved[:, :5] = True  # a band beside the data, which keeps its values
    deviations = np.linspace(0.5, 1.5, unobserved.size).reshape(unobserved.shape)
    requests = [Denoising(channel, 0.03, deviations, unobserved, 1) for channel in channels]
    together = denoised_together(requests)
    scaled = denoised_together([requests[0], dataclasses.replace(requests[1], image=4095 * channels[1],
                                                                 sigma=4095 * 0.03), requests[2]])
    assert np.allclose(scaled[0], together[0], rtol=0, atol=1e-9)
    assert np.allclose(scaled[1] / 4095, together[1], rtol=0, atol=1e-9)
    assert np.array_equal(together[1][unobserved], channels[1][unobserved])
    assert not np.allclose(together[0], requests[0].alone(), rtol=0, atol=1e-3)
    assert np.array_equal(denoised_together(requests[:1])[0], requests[0].alone())
    smaller = Denoising(channels[2][:-1], 0.03, None, unobserved[:-1], 1)
    assert np.array_equal(denoised_together([requests[0], smaller])[1], smaller.alone())
    # A blank tile's channels, constants, are their own denoising, and are not denoised: 15 s for a blank 1024² RGB
    # tile's stand-ins otherwise.
    blank = [Denoising(np.full((96, 128), level), 0.03, None, None, 1) for level in (0.0, 0.5, 0.9)]
    assert all(denoised is request.image for denoised, request in zip(denoised_together(blank), blank))


def test_channels_of_one_scene_are_alike_and_those_of_others_not(article_psf):
    """Found by a study: channels of different scenes, as a fluorescence image's stains are, denoised together lost
    up to 9.6 dB against each alone. A colour photograph's red, green and blue correlate in detail by 0.49 or more,
    different images by 0.05 or less."""
    rng = np.random.default_rng(0)
    blur = Blur(article_psf, (256, 256), boundary="free")

    def observed(*scenes, noise=0.01):
        return np.stack([blur.matvec(scene) for scene in scenes]) + rng.normal(0, noise, (len(scenes), 256, 256))

    colour = np.moveaxis(data.astronaut()[:268, :268] / 255, -1, 0)
    stains = observed(data.camera()[:268, :268] / 255, data.coins()[:268, :268] / 255)
    assert channels_alike([observed(*colour)])
    assert channels_alike([observed(colour[0], 1 - colour[1])])  # alike either way
    assert not channels_alike([stains])
    assert not channels_alike([np.concatenate([observed(*colour), stains[:1]])])
    # A constant channel shows nothing and counts neither way; nor do missing pixels, or a region of nothing else.
    blank = np.full((1, 256, 256), 0.5)
    assert channels_alike([np.concatenate([observed(*colour), blank])])
    assert not channels_alike([np.concatenate([stains, blank])])
    holed = observed(*colour)
    holed[:, 100:140, 100:140] = np.nan
    assert channels_alike([holed, np.full((3, 64, 64), np.nan)])
    # Where the noise hides the detail, which correlations it holds cannot be told, and each is denoised alone.
    assert not channels_alike([observed(*colour, noise=1.0)])
