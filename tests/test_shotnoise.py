"""The noise variance of a photon-counting sensor's pixels, a line in their level, fitted on the image."""

import numpy as np
import pytest
import scipy.ndimage
from skimage import data

from tiledeblur.operators import Blur
from tiledeblur.plugandplay import NOISE_WEIGHT
from tiledeblur.regularization import estimate_image_mus
from tiledeblur.shotnoise import (
    NoiseLine,
    fit_noise_line,
    noise_deviations,
    relative_noise_variance,
    sampled_noise_lines,
)

SIDE = 256


def _line(image, psf):
    """The noise line of ``image``, one sample region, as ``loss="auto"`` and ``nlmeans`` fit it."""
    return sampled_noise_lines(lambda yx: image[yx][None], image.shape, [psf])[0]


def _blurred_camera(psf):
    """The camera's central square, blurred as part of its scene, in [0, 1]."""
    scene = data.camera() / 255
    crop = tuple(slice((n - SIDE) // 2, (n + SIDE) // 2) for n in scene.shape)
    return Blur(psf, scene.shape, boundary="zero").matvec(scene)[crop]


def _counted(blurred, photons):
    """``blurred`` counted at ``photons`` for a value of 1: Poisson noise, scaled back."""
    return np.random.default_rng(3).poisson(np.maximum(blurred, 0) * photons) / photons


@pytest.mark.parametrize("photons", [100, 1000])
def test_the_line_through_photon_noise_rises_by_one_over_the_photons(article_psf, photons):
    """Measured: 1.023 and 1.008 times ``1 / photons``; floors of -0.004 and -0.001 times it."""
    line = fit_noise_line(_counted(_blurred_camera(article_psf), photons))
    assert line.gain * photons == pytest.approx(1.0, abs=0.15)
    assert abs(line.floor) < 0.1 / photons


def test_noise_alike_everywhere_weighs_the_pixels_nearly_alike(article_psf):
    """Gaussian noise: measured 1.04 between the extremes (at most 1.24 between the 5th and 95th percentiles of
    level in the module's study)."""
    blurred = _blurred_camera(article_psf)
    noisy = blurred + np.random.default_rng(3).normal(0, 0.01, blurred.shape)
    relative = relative_noise_variance(noisy, _line(noisy, article_psf))
    assert relative.max() / relative.min() < 1.25


def test_photon_noise_weighs_the_bright_pixels_more(article_psf):
    """The variance follows the blurred scene's level (measured: 19.4 times as large on the brightest tenth as on
    the darkest, whose blurred scene is 21.0 times as bright), and has a mean of one over the pixels that the line
    was fitted on, those whose 3 x 3 neighbourhood is whole."""
    blurred = _blurred_camera(article_psf)
    counted = _counted(blurred, 300)
    relative = relative_noise_variance(counted, _line(counted, article_psf))
    bright, dark = blurred > np.percentile(blurred, 90), blurred < np.percentile(blurred, 10)
    expected = blurred[bright].mean() / blurred[dark].mean()
    assert relative[bright].mean() / relative[dark].mean() == pytest.approx(expected, rel=0.2)
    assert relative[1:-1, 1:-1].mean() == pytest.approx(1.0)


def test_missing_pixels_are_left_out_of_the_fit_and_given_their_neighbours_level(article_psf):
    blurred = _blurred_camera(article_psf)
    counted = _counted(blurred, 300)
    holed = counted.copy()
    holed[100:140, 50:90] = np.nan
    holed[np.random.default_rng(4).random(holed.shape) < 0.01] = np.nan
    assert fit_noise_line(holed).gain == pytest.approx(fit_noise_line(counted).gain, rel=0.1)
    relative = relative_noise_variance(holed, _line(holed, article_psf))
    # The line's mean variance is one over the pixels that it was fitted on: those whose 3 x 3 neighbourhood is whole.
    whole = scipy.ndimage.binary_erosion(np.isfinite(holed), np.ones((3, 3)), border_value=0)
    assert np.all(np.isfinite(relative) & (relative > 0)) and relative[whole].mean() == pytest.approx(1.0)


def test_clipped_and_filled_pixels_hold_no_noise_and_leave_the_line_to_the_rest(article_psf):
    """Highlights clipped at 0.7 and a fill of 0.2 (a slide's glass): bins without noise, up to rounding, whose
    zeros took the line's gain to 0.73 / 300 here, and weighed a JPEG's pixels 1e27 times apart (found by a
    probe). Measured: a gain of 0.94 / 300, and the least variance that of a level of 0.034."""
    counted = _counted(_blurred_camera(article_psf), 300)
    counted[:, :64] = 0.2
    counted = np.minimum(counted, 0.7)
    line = fit_noise_line(counted)
    assert line.gain * 300 == pytest.approx(1.0, abs=0.15) and line.least > 0.01 / 300
    assert np.all(relative_noise_variance(counted, _line(counted, article_psf)) > 0)


@pytest.mark.parametrize("shape", [(64, 64), (1, 64), (64, 2)])
def test_an_image_of_one_level_or_without_a_whole_neighbourhood_has_no_line(shape):
    """The flat image, and a row or two columns, which scipy refused to convolve with the 3 x 3 high-pass (found
    by CI: loss "auto" on an image of one row raised)."""
    image = np.full(shape, 0.25) if shape == (64, 64) else np.random.default_rng(0).poisson(30, shape) / 100
    assert fit_noise_line(image) is None and _line(image, np.ones((3, 3)) / 9) is None


def test_a_bias_left_in_the_image_keeps_every_variance_above_zero(article_psf):
    """A sensor's bias, an offset without noise, not subtracted: the variance is the count's above it, and the line
    reaches zero at the bias, near which the noise puts some of the darkest pixels' levels (measured: a gain of
    1.034 / 300 and a floor of -0.108 / 300, for -0.1 / 300)."""
    counted = _counted(_blurred_camera(article_psf), 300) + 0.1
    line = fit_noise_line(counted)
    assert line.gain * 300 == pytest.approx(1.0, abs=0.15) and line.floor < 0
    assert relative_noise_variance(counted, _line(counted, article_psf)).min() > 0


def test_the_sample_regions_pool_into_one_line_of_each_channel_relative_to_its_mean(article_psf):
    """A 512² scan, four sample regions: a channel counted at 300 photons gets the line through the count's level,
    relative to its mean variance over the regions' pixels, and one of noise alike everywhere a line nearly flat
    (measured: 2.00 and 1.01 times the variance at level 0.8 as at 0.4), and a blank channel none."""
    scene = data.camera() / 255
    blurred = Blur(article_psf, scene.shape, boundary="zero").matvec(scene)
    rng = np.random.default_rng(3)
    channels = np.stack([_counted(blurred, 300), blurred + rng.normal(0, 0.01, blurred.shape), np.zeros(scene.shape)])
    counted, alike, blank = sampled_noise_lines(lambda yx: channels[(slice(None), *yx)], scene.shape,
                                                 [article_psf] * 3)
    assert counted.variance(0.8) / counted.variance(0.4) == pytest.approx(2.0, rel=0.1)
    assert counted.variance(blurred).mean() == pytest.approx(1.0, rel=0.02)  # at the level that was counted
    assert alike.variance(0.8) / alike.variance(0.4) == pytest.approx(1.0, abs=0.05) and blank is None


def test_the_line_is_relative_to_the_noise_that_cross_validation_measures(article_psf):
    """The camera's crop, black over its left 96 columns, counted at 300 photons: cross-validation measures the
    noise away from the black plateau, which holds none, and the line times that level gives the bright pixels'
    variance (measured: 1.007 times it; with the line relative to every pixel's variance, the plateau's among them,
    1.44 times, and nlmeans' denoiser as much too strong)."""
    scene = data.camera() / 255
    scene[:, :160] = 0
    crop = (slice(128, 384), slice(64, 320))
    blurred = Blur(article_psf, scene.shape, boundary="zero").matvec(scene)[crop]
    counted = _counted(blurred, 300)
    level = estimate_image_mus(lambda yx: counted[yx][None], counted.shape, [article_psf], ("nlmeans",))
    bright = blurred > np.percentile(blurred, 75)
    variances = level["nlmeans"][0] / NOISE_WEIGHT * _line(counted, article_psf).variance(blurred[bright])
    assert variances.mean() == pytest.approx(blurred[bright].mean() / 300, rel=0.1)


def test_the_deviations_follow_the_level_averaged_over_the_psf_twice():
    """Across a step from level 0 to 1 under a line through zero: the noise of the dark side beside the step is
    raised by the bright side's within the reach of the PSF convolved with itself, and no further."""
    levels = np.zeros((64, 64))
    levels[:, 32:] = 1.0
    psf = np.ones((5, 5)) / 25
    deviations = noise_deviations(levels, NoiseLine(gain=1.0, floor=0.0, least=0.01), psf)
    assert deviations[:, :28] == pytest.approx(0.1) and deviations[:, 36:] == pytest.approx(1.0)
    assert 0.1 < deviations[0, 30] < deviations[0, 31] < deviations[0, 32] < deviations[0, 33] < 1.0
