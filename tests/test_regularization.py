"""mu="auto" for a whole scan: the regions that choose it."""

import re
import warnings

import numpy as np
import pytest
import zarr
from scipy.ndimage import binary_dilation, binary_erosion, gaussian_filter
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio

from tiledeblur import PsfWarning, deconvolve, gaussian_psf, plan, run
from tiledeblur.gcv import GCV_WEIGHTS, NOISE_ALONE
from tiledeblur.objectives import DEFAULT_MU
from tiledeblur.operators import Blur
from tiledeblur.regularization import MuWarning, estimate_image_mu, estimate_mus_and_noise
from tiledeblur.scoredpixels import near_plateaus
from tiledeblur.settings import DEFAULT_EPS


@pytest.mark.parametrize("psf_shape", [(13, 13), (12, 7), (2, 2)])
def test_clipped_pixels_reach_as_far_as_the_psf(psf_shape):
    """The pixels left out near clipped ones are those within the PSF's extent and one more, for even sides too."""
    noisy = data.camera()[:200, :240] / 255 + np.random.default_rng(0).normal(0, 0.01, (200, 240))
    highlights = np.clip(noisy, 0.1, 0.6)  # clipped at both ends, in plateaus: the only ones, among noise
    left_out = near_plateaus(highlights, np.ones(psf_shape))
    clipped = binary_erosion(highlights == 0.6, np.ones((3, 3))) | binary_erosion(highlights == 0.1, np.ones((3, 3)))
    assert 0 < clipped.mean() < left_out.mean() < 1
    np.testing.assert_array_equal(left_out, binary_dilation(clipped, structure=np.ones(np.add(psf_shape, 2),
                                                                                       dtype=bool)))


@pytest.mark.parametrize("stamp", [513, 1025])
def test_a_psf_stamp_larger_than_the_sample_regions_is_the_same_blur(stamp):
    """mu="auto" and the noise of a PSF in a stamp wider than the regions are those of the PSF in a tight one.

    Found by a probe: a Gaussian of sigma 1 in a 513 px stamp, cropped to the 256 px regions' grid, got a weight
    36 times too small and a false PsfWarning, and in a 1025 px stamp a noise level of NaN.
    """
    tight = gaussian_psf(13, 1.0)
    wide = np.pad(tight, (stamp - 13) // 2)
    scene = np.pad(data.camera() / 255.0, 6, mode="reflect")
    observed = Blur(tight, (512, 512), boundary="free").matvec(scene)
    observed += np.random.default_rng(1).normal(0, 0.01, observed.shape)

    def estimate(psf):
        return estimate_mus_and_noise(lambda yx: observed[yx][None], observed.shape, [psf], "laplacian",
                                      denoise=True)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no PsfWarning, nor a division's RuntimeWarning
        (tight_mu,), (tight_noise,) = estimate(tight)
        (wide_mu,), (wide_noise,) = estimate(wide)
    assert wide_mu == tight_mu and wide_noise == pytest.approx(tight_noise, rel=1e-9)
    assert 0.005 < tight_noise < 0.02


def test_glass_and_sky_do_not_choose_the_weight():
    """A slide whose sample covers a quarter of it: its glass, flat or noisy, must not outvote the sample."""
    psf = gaussian_psf(13, (1, 3))
    rng = np.random.default_rng(0)
    scene = np.pad(data.camera() / 255.0, 6, mode="reflect")  # the camera, blurred as part of a larger scene
    sample = Blur(psf, (512, 512), boundary="free").matvec(scene)
    sample += rng.normal(0, 0.01, sample.shape)
    expected = estimate_image_mu(lambda yx: sample[yx][None], sample.shape, [psf], "tikhonov")
    for glass in (np.full((1024, 1024), 0.9), 0.9 + rng.normal(0, 0.01, (1024, 1024))):
        slide = glass.copy()
        slide[256:768, 256:768] = sample
        assert estimate_image_mu(lambda yx, slide=slide: slide[yx][None], slide.shape, [psf], "tikhonov") == expected


@pytest.mark.parametrize("margin", [None, 1.0])
def test_regions_mostly_of_glass_do_not_outvote_the_tissue(margin):
    """Tissue on a sixth of a slide: the regions across its edges, mostly glass, chose 4 times its own weight, and
    9 times where the scanner filled a margin with white (found by a probe); counted by their content, 2.2 times."""
    psf = gaussian_psf(13, (1, 3))
    scene = np.full((4096 + 12, 4096 + 12), 0.9)
    scene[1200:2800, 1200:2800] = np.tile(data.camera() / 255.0, (4, 4))[:1600, :1600]
    slide = Blur(psf, (4096, 4096), boundary="free").matvec(scene)
    slide += np.random.default_rng(0).normal(0, 0.01, slide.shape)
    tissue = slide[1300:2700, 1300:2700].copy()
    if margin is not None:
        inside = np.zeros(slide.shape, dtype=bool)
        inside[300:3700, 500:3500] = True
        slide[~inside] = margin
    (own,) = estimate_image_mu(lambda yx: tissue[yx][None], tissue.shape, [psf], "tikhonov")
    (chosen,) = estimate_image_mu(lambda yx: slide[yx][None], slide.shape, [psf], "tikhonov")
    assert own <= chosen <= 2.5 * own


def test_a_small_centred_sample_on_a_large_blank_slide_is_found():
    """A 4 × 4 grid of regions missed a centred tenth of a 100k² slide, and chose the glass's 1e-5 (a probe)."""
    psf = gaussian_psf(13, (1, 3))
    scene = np.pad(data.camera() / 255.0, 256 + 6, mode="reflect")
    sample = Blur(psf, (1024, 1024), boundary="free").matvec(scene)
    sample += np.random.default_rng(1).normal(0, 0.01, sample.shape)
    (expected,) = estimate_image_mu(lambda yx: sample[yx][None], sample.shape, [psf], "tikhonov")
    slide = np.zeros((4096, 4096))  # the fill value: glass that the scanner never wrote
    slide[1536:2560, 1536:2560] = sample  # between the rows and columns of a 4 × 4 grid of regions
    chosen = estimate_image_mu(lambda yx: slide[yx][None], slide.shape, [psf], "tikhonov")[0]
    # Four regions see other parts of the sample than the sample's own sixteen; their weight must restore it
    # nearly as well (the glass's 1e-5 gave 6.6 dB here).
    truth = scene[6:-6, 6:-6]
    restored, own = (peak_signal_noise_ratio(truth, deconvolve(sample, psf, mu=mu), data_range=1.0)
                     for mu in (chosen, expected))
    assert restored > own - 0.5 and restored > peak_signal_noise_ratio(truth, sample, data_range=1.0) + 1.0


@pytest.mark.parametrize("fill", [0.0, np.nan])
def test_a_blank_sample_warns_and_takes_the_default_weight(fill):
    blank = np.full((2048, 2048), fill)
    with pytest.warns(MuWarning, match=r"mu: 'auto' found no region to cross-validate among its 64 samples \(each was "
                                       r"constant or missed more than 25% of its pixels\)"):
        assert estimate_image_mu(lambda yx: blank[yx][None], blank.shape, [gaussian_psf(13, 2.0)], "tv") == (2e-3,)


def test_nlmeans_default_weight_follows_the_values_off_their_scale(article_psf):
    """nlmeans' weight is a noise variance: fluxes to 1000 got the one for [0, 1], nearly none (found by a probe)."""
    observed = Blur(article_psf, (96, 96), boundary="zero").matvec(data.camera()[:96, :96] / 255.0)
    observed += np.random.default_rng(0).normal(0, 0.01, observed.shape)
    observed[:, :48] = np.nan  # no region to cross-validate
    with pytest.warns(MuWarning, match=r"it used nlmeans's default for \[0, 1\] times the square of the values' "
                                       r"rise, \d+, "):
        fluxes, info = deconvolve(observed * 1000, article_psf, loss="nlmeans", denoise=False, return_info=True)
    rise = np.nanpercentile(observed - np.nanmin(observed), 99.9) * 1000
    assert info.mu == pytest.approx(DEFAULT_MU["nlmeans"] * rise**2)
    same = deconvolve(observed, article_psf, loss="nlmeans", mu=info.mu / 1000**2, denoise=False)
    np.testing.assert_allclose(fluxes / 1000, same, atol=1e-6)


def test_regions_of_noise_alone_that_leave_gaps_warn():
    """A biopsy between the regions of a slide's noisy glass got noise alone's weight without a word (found by a
    probe); it stays the weight, since an image noisy throughout asks for it too (found by another)."""
    rng = np.random.default_rng(0)
    glass = 0.96 + rng.normal(0, 0.01, (2560, 2560))  # the 8 x 8 regions of 256² leave gaps
    psf = gaussian_psf(13, (1, 3))
    with pytest.warns(MuWarning, match=r"mu: 'auto' found only noise in its 64 samples \(each chose a weight of "
                                       r"10 or more, .*\); where the image's content lies between them"):
        mu, = estimate_image_mu(lambda yx: glass[yx][None], glass.shape, [psf], "tikhonov")
    assert mu >= NOISE_ALONE
    # Regions that cover the image whole miss nothing; nor does a channel of noise beside one of content.
    scene = Blur(psf, glass.shape, boundary="zero").matvec(data.camera()[:256, :256].repeat(10, 0).repeat(10, 1) / 255)
    channels = np.stack([scene + rng.normal(0, 0.01, glass.shape), glass])
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        covered, = estimate_image_mu(lambda yx: glass[:1024, :1024][yx][None], (1024, 1024), [psf], "tikhonov")
        content, noise = estimate_image_mu(lambda yx: channels[(slice(None), *yx)], glass.shape, [psf, psf], "tikhonov")
    assert covered >= NOISE_ALONE and noise >= NOISE_ALONE and content < 1


def test_a_smooth_scene_under_heavy_noise_gets_a_weight_above_noise_alones():
    """The grid ended at 10, noise alone's weight, where a smooth retina under noise 0.05 asks for more: 0.64 dB
    (found by a study)."""
    psf = gaussian_psf(13, (1, 3))
    scene = color.rgb2gray(data.retina())[572:840, 572:840]  # a 256² crop, blurred as part of its scene
    truth = scene[6:-6, 6:-6]
    observed = Blur(psf, truth.shape, boundary="free").matvec(scene)
    observed += np.random.default_rng(0).normal(0, 0.05, truth.shape)
    restored, info = deconvolve(observed, psf, loss="laplacian", return_info=True)
    at_noise_alones = deconvolve(observed, psf, mu=NOISE_ALONE, noise=info.noise)
    interior = (slice(26, -26),) * 2
    gain = (peak_signal_noise_ratio(truth[interior], restored[interior], data_range=1)
            - peak_signal_noise_ratio(truth[interior], at_noise_alones[interior], data_range=1))
    assert info.mu > 10 * NOISE_ALONE and gain > 0.3


def test_deconvolve_and_run_choose_one_weight(tmp_path, client):
    """deconvolve cross-validated a 512² image whole, run its regions: 0.0063 against 0.0050 (found by a probe)."""
    psf = gaussian_psf(13, (1, 3))
    scene = np.pad(data.camera() / 255.0, 6, mode="reflect")
    observed = Blur(psf, (512, 512), boundary="free").matvec(scene)
    observed = (observed + np.random.default_rng(0).normal(0, 0.01, observed.shape)).astype(np.float32)
    zarr.create_array(tmp_path / "scan.zarr", data=observed, chunks=(128, 128))
    report = run(tmp_path / "scan.zarr", psf, loss="laplacian", tile=128, client=client, progress=False)  # one loss's
    whole, info = deconvolve(observed, psf, loss="laplacian", return_info=True)
    assert info.mu == report.mu
    assert np.abs(zarr.open_array(report.output, mode="r")[...] - whole).max() <= 1e-3
    with pytest.warns(MuWarning, match="found no region to cross-validate"):  # as run() does; not 1e-5, 20 times slower
        _, info = deconvolve(np.full((512, 512), 0.5), psf, loss="laplacian", return_info=True)
    assert info.mu == DEFAULT_MU["laplacian"]


def _galaxy_field(stars):
    """A 512² field of the Hubble deep field in fluxes up to 2000 with ``stars`` point sources of 1e5, noise 5.

    Returns the truth, the observed field, the PSF and a mask of the pixels away from the stars.
    """
    rng = np.random.default_rng(1)
    psf = gaussian_psf(15, 1.8)
    truth = np.pad(color.rgb2gray(data.hubble_deep_field())[:526, :526] * 2000.0, 0)
    rows, columns = rng.integers(7, 519, (2, stars))
    truth[rows, columns] += 1e5
    observed = Blur(psf, (512, 512), boundary="free").matvec(truth) + rng.normal(0, 5.0, (512, 512))
    away = np.ones((512, 512), dtype=bool)
    for row, column in zip(rows - 7, columns - 7):
        away[max(0, row - 8):row + 9, max(0, column - 8):column + 9] = False
    return truth[7:-7, 7:-7], observed, psf, away


def test_a_few_bright_stars_do_not_choose_the_weight():
    """20 stars on a galaxy field made GCV choose its floor, 1e-5, in every region: 23.3 dB away from the stars,
    against 29.0 dB blurred (found by a probe)."""
    truth, observed, psf, away = _galaxy_field(stars=20)
    (field,) = estimate_image_mu(lambda yx: _galaxy_field(stars=0)[1][yx][None], (512, 512), [psf], "tikhonov")
    with pytest.warns(MuWarning, match="bright, compact sources"):
        (mu,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "tikhonov")
    assert field / 3 <= mu <= field * 3  # 0.4 times here: the stars' holes in the regions leave less to predict
    restored = deconvolve(observed[:256, :256], psf, mu=mu)
    crop = (slice(0, 256), slice(0, 256))
    blurred_psnr, restored_psnr = (peak_signal_noise_ratio(truth[crop][away[crop]], image[away[crop]], data_range=2000)
                                   for image in (observed[crop], restored))
    assert restored_psnr > blurred_psnr + 1


@pytest.mark.parametrize("noise", [0.0, 0.003, 0.01])
def test_a_psf_wider_than_the_blur_warns(tmp_path, recorded, noise):
    """A PSF of twice the blur's width made GCV choose its floor, 1e-5, and the result spread from -3.4 to 4.9 on
    [0, 1], 8.9 dB against 30.8 dB blurred (a 384² crop; found by a probe); the blur's own PSF does not warn."""
    zarr.create_array(tmp_path / "scan.zarr", data=recorded(data.camera(), [gaussian_psf(13, 1.0)], noise))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PsfWarning)
        plan(tmp_path / "scan.zarr", gaussian_psf(13, 1.0), loss="laplacian")  # the weights warn, not the choice
    with pytest.warns(PsfWarning, match=r"^psf: .* times as wide .* wider or longer than the image's blur") as caught:
        plan(tmp_path / "scan.zarr", gaussian_psf(17, 2.0), loss="laplacian")
    assert [warning.filename for warning in caught if warning.category is PsfWarning] == [__file__]


@pytest.mark.parametrize("fill", [0.0, 1.0, 0.5])
def test_a_margin_filled_after_the_blur_is_left_out(recorded, fill):
    """A margin's unblurred edges made GCV choose 2.9e-5 where the image alone chose 0.011 (noise 0.01; found by a
    probe). White, black or grey, it is a plateau, which GCV leaves out as it does clipped pixels; grey, it chose
    4.7e-4 with a PsfWarning before."""
    image = recorded(data.camera(), [gaussian_psf(13, (1, 3))]) / 255
    psfs = [gaussian_psf(13, (1, 3))]
    (own,) = estimate_image_mu(lambda yx: image[yx][None], image.shape, psfs, "laplacian")
    observed = np.pad(image, 64, constant_values=fill)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (mu,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, psfs, "laplacian")
    assert own / 1.25 <= mu <= own * 1.25 and [w for w in caught if w.category is PsfWarning] == []


@pytest.mark.parametrize("name", ["moon", "cell", "camera"])
def test_a_blur_with_zeros_beyond_the_image_does_not_choose_the_weight(article_psf, name):
    """A crop blurred with zeros beyond it, as convolution in "same" mode blurs one (scikit-image's examples do),
    fades to black along its sides, in edges that GCV fitted by amplifying them: under the article's PSF with noise
    0.01, 256² of ``moon``, ``cell`` and ``camera`` got 1/800, 1/900 and 1/16 of the weight that the same crop
    blurred as part of its scene gets, and ``moon`` came out 3.8 dB below the blurred data inside, with a
    PsfWarning (found by a probe)."""
    scene, crop = getattr(data, name)() / 255, (slice(128, 384), slice(128, 384))
    noise = np.random.default_rng(0).normal(0, 0.01, (256, 256))
    in_scene = Blur(article_psf, scene.shape, boundary="zero").matvec(scene)[crop] + noise
    faded = Blur(article_psf, (256, 256), boundary="zero").matvec(scene[crop]) + noise
    (own,) = estimate_image_mu(lambda yx: in_scene[yx][None], in_scene.shape, [article_psf], "laplacian")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        restored, info = deconvolve(faded, article_psf, loss="laplacian", return_info=True)
    inside = (slice(26, -26),) * 2  # two PSF sides in, as bench_quality scores
    truth = scene[crop][inside]
    assert own / 2 <= info.mu <= own * 2
    assert (peak_signal_noise_ratio(truth, restored[inside], data_range=1)
            > peak_signal_noise_ratio(truth, faded[inside], data_range=1) + 1)


def test_fills_inside_the_scene_at_any_value_are_left_out():
    """A scene whose top third was filled with 0.4 and a corner with 0, below which its noise runs, chose 2.4e-5
    where the scene alone chose 0.011, and came out 7 times as far from the truth as the blurred data (a probe)."""
    psf = gaussian_psf(13, (1, 3))
    observed = (Blur(psf, (512, 512), boundary="free").matvec(np.pad(data.camera() / 255.0, 6, mode="reflect"))
                + np.random.default_rng(0).normal(0, 0.01, (512, 512)))
    (own,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "laplacian")
    filled = observed.copy()
    filled[:170], filled[340:, 340:] = 0.4, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (mu,) = estimate_image_mu(lambda yx: filled[yx][None], filled.shape, [psf], "laplacian")
    assert own / 2 <= mu <= own * 2


def test_a_small_fill_in_the_one_region_of_a_crop_is_left_out():
    """A 52² grey fill over 4% of a 256² crop, which one region cross-validates, took the weight from 4.5e-3 to
    5.0e-5 (found by a probe: such a fill left a result 2 to 6 dB worse than the blurred crop)."""
    psf = gaussian_psf(13, (1, 3))
    observed = (Blur(psf, (256, 256), boundary="free").matvec(data.camera()[100:368, 100:368] / 255)
                + np.random.default_rng(0).normal(0, 0.01, (256, 256)))
    (own,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "laplacian")
    observed[:52, :52] = 0.5
    (mu,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "laplacian")
    assert own / 2 <= mu <= own * 2


def test_the_plateaus_that_rounding_makes_on_a_smooth_image_stay_scored():
    """Left out as fills are, the plateaus of the smooth, noise-free cell rounded to 8 bits took its weight from
    7.2e-3 to 1.4e-4, and the result from 54.9 dB to 44.9, below the blurred 46.9 (found by a probe)."""
    psf = gaussian_psf(13, (1, 3))
    observed = np.round(Blur(psf, (288, 288), boundary="free").matvec(data.cell()[144:444, 114:414] / 255) * 255) / 255
    (mu,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "laplacian")
    assert mu > 2e-3


@pytest.mark.parametrize("sigma", [(1, 3), 2.0])
@pytest.mark.parametrize("level", [200, 160])
def test_clipped_pixels_do_not_choose_the_weight(recorded, level, sigma):
    """Clipped at 200 or 160 of 255 (31% and 55% of the pixels), the astronaut got weights 7 and 35 times too small
    from GCV, 23.3 and 15.9 dB away from the clipped pixels where its own weight gave 25.9 and 23.4 (found by a
    probe): the clipped plateaus' edges look sharper than the PSF allows. Under a Gaussian of σ 2 they passed for
    resampled noise too (:mod:`tiledeblur.resampling`), and the weight came out 4.2 times the astronaut's own."""
    psfs = [gaussian_psf(17 if sigma == 2.0 else 13, sigma)]
    image = recorded(data.astronaut()[..., 0], psfs) / 255
    (own,) = estimate_image_mu(lambda yx: image[yx][None], image.shape, psfs, "laplacian")
    clipped = np.minimum(image, level / 255)
    (mu,) = estimate_image_mu(lambda yx: clipped[yx][None], clipped.shape, psfs, "laplacian")
    assert own / 2 <= mu <= own * 2


def test_the_width_check_names_the_channel(recorded):
    observed = np.stack([recorded(data.camera(), [gaussian_psf(13, sigma)], 0.003) / 255 for sigma in (1.0, 2.0)])
    psfs = [gaussian_psf(17, 2.0)] * 2  # right for the second channel only
    with pytest.warns(PsfWarning, match="regions of channel 0 spread") as caught:
        estimate_image_mu(lambda yx: observed[(slice(None), *yx)], (512, 512), psfs, "laplacian")
    assert [str(warning.message) for warning in caught if "channel 1" in str(warning.message)] == []


def _noise_free_camera(psf):
    """The 512² camera blurred by ``psf`` as part of its scene, without noise: (truth, observed)."""
    truth = data.camera() / 255.0
    return truth, Blur(psf, truth.shape, boundary="free").matvec(np.pad(truth, 6, mode="reflect"))


def test_a_nearly_noise_free_image_keeps_the_smallest_weight():
    psf = gaussian_psf(13, (1, 3))
    _, observed = _noise_free_camera(psf)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        (mu,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "tikhonov")
    assert mu == pytest.approx(GCV_WEIGHTS[0])


def test_a_white_margin_around_a_noise_free_picture_is_clipped_data_not_bright_sources():
    """Taken for bright sources, without them a sharp picture chose 0.141; taken as data, the margin's unblurred
    edges made GCV choose 1e-5, whose solve rang from the margin across the picture: 12.4 dB inside (found by a
    probe)."""
    psf = gaussian_psf(13, (1, 3))
    truth, observed = _noise_free_camera(psf)
    observed = np.pad(observed, 64, constant_values=observed.max())
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        (mu,) = estimate_image_mu(lambda yx: observed[yx][None], observed.shape, [psf], "tikhonov")
    inside = (slice(84, 556), slice(84, 556))
    blurred_psnr, restored_psnr = (peak_signal_noise_ratio(truth[20:492, 20:492], image[inside], data_range=1)
                                   for image in (observed, deconvolve(observed, psf, mu=mu)))
    assert restored_psnr > blurred_psnr + 2


def test_each_channel_gets_its_own_weight_and_a_blank_one_the_others():
    """One weight for all channels left a dim fluorescence channel worse than its input: 34.7 dB, against 35.7 dB
    blurred and 48.2 dB at its own weight (found by a probe)."""
    rng = np.random.default_rng(0)
    psf = gaussian_psf(13, (1, 3))
    blurred = Blur(psf, (512, 512), boundary="free").matvec(np.pad(data.camera() / 255.0, 6, mode="reflect"))
    dim = np.stack([blurred, 0.05 * blurred]) + rng.normal(0, 0.01, (2, 512, 512))
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        mus = estimate_image_mu(lambda yx: dim[(slice(None), *yx)], (512, 512), [psf, psf], "tikhonov")
    own = [estimate_image_mu(lambda yx, plane=plane: plane[yx][None], (512, 512), [psf], "tikhonov")[0]
           for plane in dim]
    assert mus == tuple(own) and own[1] > 10 * own[0]
    blank = np.stack([dim[0], np.full((512, 512), 0.5)])  # a channel of the fill value alone
    assert estimate_image_mu(lambda yx: blank[(slice(None), *yx)], (512, 512), [psf, psf], "tikhonov") == (own[0],) * 2


def test_regions_that_miss_most_of_their_pixels_are_left_out():
    """Beyond a mosaic's footprint, regions that see a noisy sliver of it must not outvote the two that it fills."""
    rng = np.random.default_rng(0)
    sky = gaussian_filter(rng.random((256, 512)), 2) + rng.normal(0, 0.01, (256, 512))
    mosaic = np.full((2048, 2048), np.nan)
    mosaic[:256, :512] = sky
    mosaic[256:320] = gaussian_filter(rng.random((64, 2048)), 2) + rng.normal(0, 0.1, (64, 2048))
    psfs = [gaussian_psf(7, 1.0)]
    estimate = estimate_image_mu(lambda yx: mosaic[yx][None], mosaic.shape, psfs, "tikhonov")
    assert estimate == estimate_image_mu(lambda yx: sky[yx][None], sky.shape, psfs, "tikhonov")


def _star_field(camera):
    """A sparse sky on [0, 1]: a few stars, most pixels dark (found by a probe to warn on a percentile alone)."""
    sky = np.zeros(camera.shape)
    sky[tuple(np.random.default_rng(0).integers(0, 96, (2, 6)))] = 1.0
    return gaussian_filter(sky, 1.0) / gaussian_filter(sky, 1.0).max()


def _fluxes_mostly_missing(camera):
    """A probe's case: the fallback to the default weight skipped the scale check."""
    return np.where(np.random.default_rng(0).random(camera.shape) < 0.4, np.nan, camera * 1.0)


SCALE = "mu: 'auto' for tv assumes values on the [0, 1] scale"
DEFAULT_EPS_SCALE = "eps: tv's default, 0.03, is for values on the [0, 1] scale"
NO_REGION = "mu: 'auto' found no region to cross-validate"


@pytest.mark.parametrize(("values", "loss", "expected"), [
    (lambda camera: camera, "tv", set()),
    (_star_field, "tv", set()),
    (lambda camera: camera.astype(np.uint16) * 16, "tv", {SCALE}),  # 12-bit counts in uint16: 0.06 of the scale
    (lambda camera: camera * 40.0, "tv", {SCALE}),  # fluxes
    (lambda camera: camera / 255 + 100.0, "tv", set()),  # a pedestal: tv follows the contrast, not the level
    (_fluxes_mostly_missing, "tv", {SCALE, NO_REGION}),
    (lambda camera: camera * 40.0, "tikhonov", set()),  # homogeneous: no scale to assume
])
def test_tv_warns_where_the_values_are_far_from_its_scale(tmp_path, values, loss, expected):
    image = values(data.camera()[:96, :128])
    zarr.create_array(tmp_path / "scan.zarr", data=image)
    psf = gaussian_psf(7, 1.0)
    # The weight is chosen before the solve, and one step is enough to be told (tv on fluxes takes minutes).
    for estimate in (lambda: deconvolve(image, psf, loss=loss, maxiter=1),
                     lambda: plan(tmp_path / "scan.zarr", psf, loss=loss)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimate()
        found = [warning for warning in caught if warning.category is MuWarning]
        assert {start for start in (SCALE, NO_REGION) if any(str(w.message).startswith(start) for w in found)} == expected
        assert all(warning.filename == __file__ for warning in found)  # the user's line, not the library's


def test_the_scale_warning_says_what_to_pass():
    """Found by a probe: tv on fluxes to 4000 ran for 10 min after the warning, and took 13 s with mu and eps
    scaled by hand; the warning now gives the factor, the rise that it already measures."""
    image, psf = data.camera() * 40.0, gaussian_psf(7, 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deconvolve(image, psf, loss="tv", mu=0.01, maxiter=1)  # one step is enough to be told
    (message,) = [str(warning.message) for warning in caught if warning.category is MuWarning]
    rise = float(re.search(r"the 99.9th percentile of their rise above the smallest, ([\d.e+]+)\)", message)[1])
    assert rise == pytest.approx(np.percentile(image - image.min(), 99.9), rel=1e-2)
    suggested = re.search(r"pass eps for its scale: by the sample's rise, about ([\d.e+]+), with mu ([\d.e+]+) times "
                          r"the one for \[0, 1\]\.$", message)
    assert float(suggested[1]) == pytest.approx(DEFAULT_EPS * rise, rel=1e-2)
    assert float(suggested[2]) == pytest.approx(rise, rel=1e-2)


@pytest.mark.parametrize(("scale", "eps", "warned"), [
    (1 / 255, 1e-10, True),  # found by a probe: 3 times as far from the truth as the blurred image, "converged"
    (1 / 255, 1e-20, True),  # found by a probe: a flat image, "converged"
    (1 / 255, 3e-3, False),
    (1e-6 / 255, 1e-8, False),  # the same share of values that rise 1e-6
])
def test_tv_warns_of_an_eps_too_small_for_the_values(tmp_path, scale, eps, warned):
    image = data.camera()[:96, :128] * scale
    zarr.create_array(tmp_path / "scan.zarr", data=image)
    psf = gaussian_psf(7, 1.0)
    settings = {"loss": "tv", "mu": 1e-3 * scale * 255, "eps": eps}  # mu in scale too
    for call in (lambda: deconvolve(image, psf, maxiter=1, **settings), lambda: plan(tmp_path / "scan.zarr", psf,
                                                                                      **settings)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        found = [warning for warning in caught if warning.category is MuWarning]
        assert [str(warning.message).startswith("eps: expected at least 1e-03 times the values' rise for tv")
                for warning in found] == [True] * warned
        assert all(warning.filename == __file__ for warning in found)
    if warned:
        rise = np.percentile(image - image.min(), 99.9)
        suggested = float(re.search(r"Pass about ([\d.e+-]+): the default, 0.03, times that rise\.$",
                                    str(found[0].message))[1])
        assert suggested == pytest.approx(DEFAULT_EPS * rise, rel=1e-2)


@pytest.mark.parametrize(("values", "eps", "warned"), [
    (lambda camera: camera, None, False),
    (lambda camera: camera * 1.0, None, True),  # counts: Newton-CG took 110 times the products (found by a probe)
    (lambda camera: camera.astype(np.uint16) * 16, None, True),  # 12-bit counts in uint16
    (lambda camera: camera * 1.0, 7.65, False),  # an eps for the counts' scale
])
def test_tv_with_a_given_mu_warns_where_the_default_eps_is_off_scale(tmp_path, values, eps, warned):
    image = values(data.camera()[:96, :128])
    zarr.create_array(tmp_path / "scan.zarr", data=image)
    psf = gaussian_psf(7, 1.0)
    settings = {"loss": "tv", "mu": 0.01} | ({} if eps is None else {"eps": eps})
    for call in (lambda: deconvolve(image, psf, maxiter=1, **settings), lambda: plan(tmp_path / "scan.zarr", psf,
                                                                                      **settings)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        found = [warning for warning in caught if warning.category is MuWarning]
        assert [str(warning.message).startswith(DEFAULT_EPS_SCALE) for warning in found] == [True] * warned
        assert all(warning.filename == __file__ for warning in found)


def test_hot_pixels_leave_the_weight_and_the_noise_as_they_are():
    """Three hot pixels in a uint16 fluorescence image took GCV's weight from 0.33 to 3.98 and its noise 19 times
    higher, and the result 8.6 dB lower away from them (found by a probe)."""
    psf = gaussian_psf(13, 2.0)
    cells = data.hubble_deep_field()[:256, :256, 0] / 255 * 3000 + 100  # bright objects on a dark ground
    blurred = Blur(psf, cells.shape, boundary="free").matvec(np.pad(cells, 6, mode="reflect"))
    recorded = np.random.default_rng(0).poisson(blurred).astype(np.uint16)
    hot = recorded.copy()
    hot[[40, 130, 200], [60, 180, 30]] = 60000
    _, clean = deconvolve(recorded, psf, loss="laplacian", return_info=True)
    restored, spiked = deconvolve(hot, psf, loss="laplacian", return_info=True)
    assert spiked.mu == pytest.approx(clean.mu, rel=0.5) and spiked.noise == pytest.approx(clean.noise, rel=0.2)
    # Away from them, as good as without them.
    away = np.ones(hot.shape, dtype=bool)
    for y, x in ((40, 60), (130, 180), (200, 30)):
        away[y - 20:y + 21, x - 20:x + 21] = False
    truth = cells / 65535
    score = lambda image: peak_signal_noise_ratio(truth[away], image[away], data_range=3000 / 65535)
    assert score(restored) > score(deconvolve(recorded, psf, loss="laplacian")) - 0.3


def test_a_quadratic_weight_below_cross_validations_floor_warns(tmp_path):
    """mu=1e-7 ran for minutes without a word, and 1e-300 gave values from -5.7 to 9 (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:128, :128], chunks=(64, 64))
    psf = gaussian_psf(13, (1, 3))
    with pytest.warns(MuWarning, match=r'^mu: 1e-07 is below 1e-05, the smallest weight that mu="auto" chooses for '
                                       r"any image: each decade below amplifies the noise further"):
        plan(tmp_path / "scan.zarr", psf, mu=1e-7, loss="tikhonov")
    with pytest.warns(MuWarning, match="mu: 5e-06 is below 1e-05"):
        deconvolve(data.camera()[:32, :32] / 255, psf, mu=5e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        plan(tmp_path / "scan.zarr", psf, mu=1e-5)
        # The floor as mu="auto" reports it, a median on a log scale: it warned "1e-05 is below 1e-05" (a probe).
        plan(tmp_path / "scan.zarr", psf, mu=9.999999999999997e-06)
        plan(tmp_path / "scan.zarr", psf, mu=1e-7, loss="tv", eps=1e-3)  # whose weight follows the values' scale
