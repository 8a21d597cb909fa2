"""``loss="auto"``: the estimate of each loss's error, and the choice it makes for ``deconvolve`` and ``run``."""

import re
import warnings
import zlib

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage
import scipy.signal
import zarr
from skimage import color, data, morphology

from tiledeblur import MuWarning, deconvolve, gaussian_psf, plan, run
from tiledeblur.cli import main
from tiledeblur.gcv import is_border_faded
from tiledeblur.operators import Blur
from tiledeblur.plugandplay import NOISE_WEIGHT
from tiledeblur.regularization import estimate_image_mus
from tiledeblur.selection import (
    WEIGHING_FLOOR,
    _mix_risk,
    _relative_variances,
    _stein_terms,
    choose_loss,
    compared_regions,
    error_weights,
    nlmeans_noise_lines,
    prediction_risk,
)
from tiledeblur.settings import SolverSettings
from tiledeblur.solver import solve_channels

SIDE = 192


def _solved(info):
    """What a solve restored by: ``"laplacian"``, ``"nlmeans"`` alone, or ``"mix"``."""
    return "mix" if info.mix is not None else info.loss


def _case(image, psf, noise):
    """(blurred truth, observed): a central crop of ``image``'s scene, blurred as part of it, with noise."""
    scene = image / 255
    blurred = Blur(psf, scene.shape, boundary="zero").matvec(scene)
    start = [(n - SIDE) // 2 for n in scene.shape]
    crop = tuple(slice(s, s + SIDE) for s in start)
    return blurred[crop], blurred[crop] + np.random.default_rng(2).normal(0.0, noise, (SIDE, SIDE))


@pytest.mark.parametrize("loss", ["laplacian", "nlmeans"])
def test_the_estimate_follows_the_error_of_the_blurred_restoration(article_psf, loss):
    """Within 15% of the mean square error of ``A x̂`` against the blurred truth, which it cannot see.

    Measured: 2.4% above (laplacian) and 1.9% above (nlmeans) on the camera; without the divergence term,
    which the second restoration of perturbed data gives, both estimates fall below zero. Weighed as ``"auto"``
    weighs the error, 0.2% below and 2.0% above.
    """
    blurred, observed = _case(data.camera(), article_psf, 0.01)
    mu = deconvolve(observed, article_psf, loss=loss, return_info=True)[1].mu
    inner = (slice(6, -6),) * 2  # the pixels whose PSF lies within the crop

    def restore(image):
        return deconvolve(image, article_psf, loss=loss, mu=mu)

    predicted = scipy.signal.fftconvolve(restore(observed), article_psf, mode="valid")
    error = np.mean((predicted - blurred[inner]) ** 2)
    assert prediction_risk(observed, article_psf, 0.01, restore) == pytest.approx(error, rel=0.15)
    # And weighed as auto weighs it, nearer the sharp image's error.
    weights = error_weights(predicted.shape, article_psf, WEIGHING_FLOOR)
    difference = predicted - blurred[inner]
    weighed = scipy.fft.irfft2(weights * scipy.fft.rfft2(difference), s=difference.shape)
    assert prediction_risk(observed, article_psf, 0.01, restore, floor=WEIGHING_FLOOR) == pytest.approx(
        np.mean(difference * weighed), rel=0.15)


def test_the_estimate_with_each_pixels_noise_follows_the_error_under_photon_noise(article_psf):
    """The whole camera counted at 300 photons for a value of 1: with each pixel's own noise, within 15% of the
    error (measured: 3.4% above; with one level for all, 15% below, and on a 192² crop 18% above and 62% below).

    The whole image, since the estimate's own spread is that of its sum of squares less the noise's, about 13% of
    the error on a 192² crop. One level given for every pixel is the estimate of one level.
    """
    blurred = Blur(article_psf, (512, 512), boundary="zero").matvec(data.camera() / 255)
    observed = np.random.default_rng(2).poisson(np.maximum(blurred, 0) * 300) / 300
    noise = np.sqrt(np.maximum(blurred, 0) / 300)
    mu = deconvolve(observed, article_psf, loss="laplacian", return_info=True)[1].mu

    def restore(image):
        return deconvolve(image, article_psf, loss="laplacian", mu=mu)

    inner = (slice(6, -6),) * 2
    error = np.mean((scipy.signal.fftconvolve(restore(observed), article_psf, mode="valid") - blurred[inner]) ** 2)
    level = float(np.sqrt(np.mean(noise**2)))
    assert prediction_risk(observed, article_psf, noise, restore) == pytest.approx(error, rel=0.15)
    assert prediction_risk(observed, article_psf, np.full(observed.shape, level), restore) == pytest.approx(
        prediction_risk(observed, article_psf, level, restore), rel=1e-9)


def test_the_estimate_follows_the_error_where_a_black_plateau_holds_no_noise(article_psf):
    """The camera's crop, black over its left 96 columns, counted at 300 photons: a third of the pixels count
    nothing. Cross-validation measures the noise of the rest, which the spread of the noise over the pixels takes as
    the image's level, and the black plateau holds none: within 25% of the error (measured with three draws of the
    noise: 22%, 5% and 14% below; with each pixel's true noise, 9% and 14% above and 1% below). Before, with the
    level spread over every pixel and the plateau's noise floored at the line's least variance: -6.8 times the
    error."""
    scene = data.camera() / 255
    scene[:, :160] = 0
    crop = (slice(128, 384), slice(64, 320))
    blurred = Blur(article_psf, scene.shape, boundary="zero").matvec(scene)[crop]
    observed = np.random.default_rng(3).poisson(np.maximum(blurred, 0) * 300) / 300
    level = estimate_image_mus(lambda yx: observed[yx][None], observed.shape, [article_psf], ("nlmeans",))
    line, = nlmeans_noise_lines(lambda yx: observed[yx][None], observed.shape, [article_psf])
    noise = np.sqrt(level["nlmeans"][0] / NOISE_WEIGHT * _relative_variances(observed, line, jpeg=False))
    mu = deconvolve(observed, article_psf, loss="laplacian", return_info=True)[1].mu

    def restore(image):
        return deconvolve(image, article_psf, loss="laplacian", mu=mu)

    inner = (slice(6, -6),) * 2
    error = np.mean((scipy.signal.fftconvolve(restore(observed), article_psf, mode="valid") - blurred[inner]) ** 2)
    assert np.mean(observed == 0) > 0.3 and noise[1:-1, 1:85].max() == 0  # inside the image, as a plateau lies
    assert prediction_risk(observed, article_psf, noise, restore) == pytest.approx(error, rel=0.25)


def test_auto_chooses_nlmeans_for_a_phantom_counted_in_photons():
    """The Shepp-Logan phantom's central 128², under a Gaussian of σ 2, counted at 100 photons for a value of 1:
    its dark ellipses count nothing. With their zero counts taken for noise at the line's least variance, and the
    noise that cross-validation measured on the rest spread over every pixel, the estimates of both losses fell
    below zero, and auto chose laplacian, 29.5 to 30.0 dB inside with three draws of the noise; now nlmeans,
    31.8 to 32.2 dB (measured 2026-12-07)."""
    psf = gaussian_psf(17, 2.0)
    scene = data.shepp_logan_phantom()
    crop = tuple(slice((n - 128) // 2, (n + 128) // 2) for n in scene.shape)
    truth, blurred = scene[crop], Blur(psf, scene.shape, boundary="zero").matvec(scene)[crop]
    observed = np.random.default_rng(0).poisson(np.maximum(blurred, 0) * 100) / 100
    restored, info = deconvolve(observed, psf, return_info=True)
    inside = (slice(34, -34),) * 2

    def error(image):
        return np.mean((image[inside] - truth[inside]) ** 2)

    assert _solved(info) == "nlmeans" and error(restored) < 0.75 * error(deconvolve(observed, psf, loss="laplacian"))


def test_auto_chooses_laplacian_on_a_flat_cell_and_nlmeans_on_a_photograph(article_psf):
    """The cell, nearly flat, loses 2 to 6 dB under nlmeans (bench_quality); the camera gains 1.5 dB."""
    _, cell = _case(data.cell(), article_psf, 0.01)
    restored, info = deconvolve(cell, article_psf, loss="auto", return_info=True)
    assert info.loss == "laplacian"
    assert np.array_equal(restored, deconvolve(cell, article_psf, loss="laplacian"))
    assert deconvolve(_case(data.camera(), article_psf, 0.01)[1], article_psf, loss="auto",
                      return_info=True)[1].loss == "nlmeans"


@pytest.mark.parametrize("floor", [None, WEIGHING_FLOOR])
def test_the_estimate_of_a_mix_is_a_quadratic_in_its_share(article_psf, floor):
    """Blur, residual and divergence are linear in the restoration: the quadratic of two restorations' terms is the
    estimate of their mix at every share, weighed or not."""
    _, observed = _case(data.camera(), article_psf, 0.01)

    def smooth(image):
        return scipy.ndimage.uniform_filter(image, 5)

    def sharp(image):
        return deconvolve(image, article_psf, loss="laplacian", mu=1e-3, denoise=False)

    coefficients = _mix_risk(*(_stein_terms(observed, article_psf, 0.01, restore, floor=floor)
                               for restore in (smooth, sharp)))
    for share in (0.0, 0.3, 1.0):
        mixed = prediction_risk(observed, article_psf, 0.01, lambda image, share=share: (1 - share) * smooth(image)
                                + share * sharp(image), floor=floor)
        assert np.polyval(coefficients[::-1], share) == pytest.approx(mixed, rel=1e-9)


def test_auto_weighs_the_detail_that_the_blur_weakened():
    """The camera's 256² centre under a Gaussian of σ 2 at noise 0.01: weighed as the blurred error, the estimate
    mixed nlmeans with 52% of laplacian, 27.11 dB inside; weighed nearer the sharp image's error, which counts the
    detail that nlmeans restores and the blur weakened, it takes nlmeans alone, 27.51 dB (measured 2026-12-07)."""
    psf = gaussian_psf(17, 2.0)
    scene = data.camera() / 255
    crop = tuple(slice((n - 256) // 2, (n + 256) // 2) for n in scene.shape)
    observed = Blur(psf, scene.shape, boundary="zero").matvec(scene)[crop]
    observed = observed + np.random.default_rng(2).normal(0.0, 0.01, observed.shape)
    restored, info = deconvolve(observed, psf, return_info=True)
    smooth_mu = deconvolve(observed, psf, loss="laplacian", return_info=True)[1].mu
    half = deconvolve(observed, psf, loss="nlmeans", mu=info.mu, mix=(0.5, smooth_mu))
    inside = (slice(34, -34),) * 2

    def error(image):
        return np.mean((image[inside] - scene[crop][inside]) ** 2)

    assert _solved(info) == "nlmeans" and error(restored) < 0.95 * error(half)


@pytest.mark.parametrize("image", ["gravel", "retina"])
def test_auto_mixes_nlmeans_with_laplacian_where_neither_alone_is_best(article_psf, image):
    """Measured inside, with the mix that auto chooses (2026-12-07): gravel, a texture without repeats, where
    laplacian had been chosen, 44% of nlmeans, 24.62 dB, where laplacian with its pass gave 24.49 and nlmeans 24.52;
    the gray retina, where nlmeans alone had been chosen, 39% of nlmeans, 45.95 dB, where laplacian gave 45.94 and
    nlmeans 45.58. The retina's is a near-tie: with non-local means' search distance at 4 px, the mix fell 0.02 dB
    below laplacian (see tiledeblur.denoising, Two denoisers)."""
    scene = getattr(data, image)()
    scene = color.rgb2gray(scene) * 255 if scene.ndim == 3 else scene
    _, observed = _case(scene, article_psf, 0.01)
    truth = (scene / 255)[tuple(slice((n - SIDE) // 2, (n + SIDE) // 2) for n in scene.shape)]
    restored, info = deconvolve(observed, article_psf, return_info=True)
    inside = (slice(26, -26),) * 2

    def error(image):
        return np.mean((image[inside] - truth[inside]) ** 2)

    assert info.loss == "nlmeans" and 0 < info.mix[0] < 1
    assert error(restored) < min(error(deconvolve(observed, article_psf, loss=loss)) for loss in ("laplacian",
                                                                                                  "nlmeans"))


def test_auto_on_a_star_field_counted_in_photons_does_as_well_as_the_better_loss():
    """A star field counted at 1000 photons for a value of 1, under a defocus disk: a star's pixels are about 4 times
    noisier than the sky's. Weighed alike, the estimate chose nlmeans, whose denoiser then took one noise level for
    every pixel, 7.4 dB worse inside than laplacian (25.95 against 33.31 dB), as bench_quality --photons measured on a
    larger crop. Weighed by pixel, it chose laplacian, and since the mix, 84% of laplacian with nlmeans (32.92 dB).
    With the denoiser following the noise's line, nlmeans alone (measured 2026-12-07: 34.43 dB, against 33.34 for
    laplacian, and 27.51 dB with the line flat)."""
    disk = morphology.disk(2) / morphology.disk(2).sum()
    scene = color.rgb2gray(data.hubble_deep_field())
    crop = tuple(slice((n - SIDE) // 2, (n + SIDE) // 2) for n in scene.shape)
    truth, blurred = scene[crop], Blur(disk, scene.shape, boundary="zero").matvec(scene)[crop]
    observed = np.random.default_rng(2).poisson(np.maximum(blurred, 0) * 1000) / 1000
    chosen = deconvolve(observed, disk)
    inside = (slice(10, -10),) * 2

    def error(restored):
        return np.mean((restored[inside] - truth[inside]) ** 2)

    better = min(error(deconvolve(observed, disk, loss=loss)) for loss in ("laplacian", "nlmeans"))
    assert error(chosen) < 1.05 * better
    assert error(chosen) < error(deconvolve(observed, disk, loss="nlmeans", noise_line=(0.0, 1.0, 1.0))) / 2


def test_a_border_faded_by_zeros_beyond_the_image_does_not_choose(article_psf):
    """A cell blurred alone, with zeros beyond it, as convolution in "same" mode blurs: scored along its faded
    border, nlmeans was chosen, and lost 3.3 dB inside to laplacian (bench_quality --zeros-beyond). Measured since
    (2026-12-07, two PSF sides in): a mix of 88% laplacian, 0.05 dB better inside than laplacian, where nlmeans is
    2.4 dB worse."""
    scene = data.cell() / 255
    start = [(n - 256) // 2 for n in scene.shape]
    crop = scene[tuple(slice(s, s + 256) for s in start)]
    faded = Blur(article_psf, crop.shape, boundary="zero").matvec(crop)
    observed = faded + np.random.default_rng(0).normal(0.0, 0.005, crop.shape)
    assert _solved(deconvolve(observed, article_psf, return_info=True)[1]) != "nlmeans"


def test_only_a_border_faded_by_zeros_beyond_is_left_out_of_the_comparison():
    """The clock under a 2.5 px defocus disk at noise 0.03 (bench_quality's case and noise), blurred as part of its
    scene, is scored along its sides; blurred alone, with zeros beyond it, it is not. With the band left out of
    every score, the first chose nlmeans, which lost 1.30 dB inside where laplacian won by 0.36 dB."""
    offsets = (np.arange(40) + 0.5) / 8 - 2.5  # 8 x 8 samples of each pixel: the disk's rim covers some in part
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= 2.5**2).reshape(5, 8, 5, 8).mean(axis=(1, 3))
    disk /= disk.sum()
    scene = data.clock() / 255
    crop = tuple(slice((n - 256) // 2, (n - 256) // 2 + 256) for n in scene.shape)
    noise = 0.03 * np.random.default_rng(zlib.crc32(b"clock/defocus r2.5")).standard_normal((256, 256))
    of_the_scene = Blur(disk, scene.shape, boundary="zero").matvec(scene)[crop] + noise
    alone = Blur(disk, (256, 256), boundary="zero").matvec(scene[crop]) + noise
    every_side = (True,) * 4
    assert not is_border_faded(of_the_scene, disk, every_side) and is_border_faded(alone, disk, every_side)


def test_auto_compares_around_missing_pixels(article_psf):
    """Bad pixels scattered over the image (NaN) leave it no region without them: it scores the pixels they spare.

    Before, it compared no region and fell back to ``laplacian``, with a warning.
    """
    _, camera = _case(data.camera(), article_psf, 0.01)
    camera[np.random.default_rng(4).random(camera.shape) < 0.002] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        restored, info = deconvolve(camera, article_psf, loss="auto", return_info=True)
    assert info.loss == "nlmeans" and np.array_equal(np.isnan(restored), np.isnan(camera))


def test_auto_compares_the_regions_that_hold_more_than_noise(article_psf):
    """A retina amid a slide's glass: the comparison took the image's corners, glass, and chose nlmeans alone, where
    the retina alone chose a mix of 69% laplacian (found by a probe). It now takes the four regions of the retina, and
    mixes (76%)."""
    scene = color.rgb2gray(data.retina())
    start = [(n - 524) // 2 for n in scene.shape]
    tissue = Blur(article_psf, (512, 512), boundary="free").matvec(scene[start[0]:start[0] + 524,
                                                                         start[1]:start[1] + 524])
    rng = np.random.default_rng(0)
    slide = 0.9 + rng.normal(0, 0.01, (1024, 1024))
    slide[256:768, 256:768] = tissue + rng.normal(0, 0.01, tissue.shape)

    def read_region(yx):
        return slide[yx][None]

    content = estimate_image_mus(read_region, slide.shape, [article_psf], ("content",))["content"]
    assert [(y.start, x.start) for y, x in compared_regions(content, slide.shape)] == [(256, 256), (256, 512),
                                                                                       (512, 256), (512, 512)]
    (loss,), *_, mixes = choose_loss(read_region, slide.shape, [article_psf], SolverSettings(), solve_channels)
    assert loss == "nlmeans" and 0 < mixes[0][0] < 1


def test_auto_with_nothing_to_compare_warns_at_the_callers_line(tmp_path, article_psf):
    """A blank image: mu="auto" finds no region for either loss, and loss="auto" none to compare; each warning names
    the caller's line. Before, those of the weights pointed into the library (a comprehension's frame, on 3.11)."""
    blank = np.full((64, 96), 0.5)
    zarr.create_array(tmp_path / "blank.zarr", data=blank)
    for choose in (lambda: deconvolve(blank, article_psf, loss="auto"),
                   lambda: plan(tmp_path / "blank.zarr", article_psf, loss="auto")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            choose()
        found = [warning for warning in caught if warning.category is MuWarning]
        assert {str(warning.message).split(" found ")[0] for warning in found} == {"mu: 'auto'", "loss: 'auto'"}
        assert all(warning.filename == __file__ for warning in found), [warning.filename for warning in found]
        # One warning of each: the weights' had one for each loss, and gave other counts of samples (a probe).
        assert len(found) == 2 and all("among its 1 samples" in str(warning.message) for warning in found)
        assert "it used laplacian's default, 0.005 and nlmeans's default, 3e-05." in str(found[0].message)


def test_the_default_is_auto_unless_a_setting_rules_it_out(tmp_path, article_psf, capsys):
    """Left out, the loss is "auto", and laplacian with a given mu or noise level, which "auto" refuses: a given
    weight is on laplacian's scale. nonneg=True made it laplacian too, until nlmeans took the bound."""
    _, camera = _case(data.camera(), article_psf, 0.01)
    restored, info = deconvolve(camera, article_psf, return_info=True)
    assert info.loss == "nlmeans"
    assert np.array_equal(restored, deconvolve(camera, article_psf, loss="auto"))
    for options in ({"mu": info.mu}, {"noise": 0.01}):
        assert deconvolve(camera, article_psf, return_info=True, **options)[1].loss == "laplacian"
    bounded, bounded_info = deconvolve(camera, article_psf, nonneg=np.True_, return_info=True)
    assert bounded_info.loss == "nlmeans" and bounded.min() >= 0
    zarr.create_array(tmp_path / "camera.zarr", data=camera, chunks=(96, 96))
    assert plan(tmp_path / "camera.zarr", article_psf).loss == "nlmeans"
    assert plan(tmp_path / "camera.zarr", article_psf, mu=[0.01]).loss == "laplacian"
    assert main(["plan", str(tmp_path / "camera.zarr"), "--psf", "gaussian:13,1,3", "--nonneg"]) == 0
    assert "; loss nlmeans; " in capsys.readouterr().out


def test_auto_refuses_a_given_mu(tmp_path, article_psf, client):
    image = data.camera()[:64, :64] / 255
    message = "mu: expected 'auto' with loss 'auto', whose losses weigh mu on different scales, got 0.01"
    with pytest.raises(ValueError, match=message):
        deconvolve(image, article_psf, loss="auto", mu=0.01)
    scan = tmp_path / "scan.zarr"
    zarr.create_array(scan, data=image, chunks=(64, 64))
    with pytest.raises(ValueError, match=message):
        run(scan, article_psf, loss="auto", mu=0.01, client=client, progress=False)
    assert not (tmp_path / "scan.deblurred.zarr").exists()


def test_a_run_chooses_as_deconvolve_does_and_resumes(tmp_path, article_psf, client, capsys):
    """The plan, the run and a rerun make one choice, the whole image's: the rerun finds every tile done.

    The run says what it is doing while it compares, which takes seconds per region.
    """
    _, camera = _case(data.camera(), article_psf, 0.01)
    scan = tmp_path / "camera.zarr"
    zarr.create_array(scan, data=camera, chunks=(96, 96))
    whole = deconvolve(camera, article_psf, loss="auto", return_info=True)[1]
    tiles = plan(scan, article_psf, tile=96, loss="auto")
    assert (tiles.loss, tiles.mu) == (whole.loss, whole.mu) == ("nlmeans", whole.mu)
    assert f"; loss nlmeans; mu {whole.mu:.3g}; " in tiles.describe()
    # The command line's plan says what it does first, as run does (found by a probe: silent for 85 s).
    assert main(["plan", str(scan), "--psf", "gaussian:13,1,3", "--tile", "96", "--loss", "auto"]) == 0
    told = capsys.readouterr()
    assert told.err.startswith("loss 'auto': solving laplacian and nlmeans on up to 4 sample regions")
    # And each region as it is compared (found by a probe: one line, then 45 s on a 2048² RGB scan).
    counts = re.findall(r"loss 'auto': (\d+) of (\d+) regions compared after \d+m\d\ds\n", told.err)
    assert counts and [int(done) for done, _ in counts] == list(range(1, int(counts[0][1]) + 1))
    assert told.out == tiles.describe() + "\n"

    # A mix, solved in tiles as on the whole image.
    _, gravel = _case(data.gravel(), article_psf, 0.01)
    scan = tmp_path / "gravel.zarr"
    zarr.create_array(scan, data=gravel, chunks=(96, 96))
    restored, whole = deconvolve(gravel, article_psf, loss="auto", return_info=True)
    first = run(scan, article_psf, tile=96, loss="auto", client=client)
    assert "loss 'auto': solving laplacian and nlmeans on up to 4 sample regions" in capsys.readouterr().err
    again = run(scan, article_psf, tile=96, loss="auto", client=client, progress=False)
    assert first.loss == again.loss == whole.loss == "nlmeans" and first.mix == again.mix == whole.mix
    assert f"; loss nlmeans mixed with {whole.mix[0]:.0%} laplacian at mu {whole.mix[1]:.3g}; " in (
        first.plan.describe())
    assert first.tiles_computed == 4 and again.tiles_computed == 0 and again.tiles_skipped == 4
    assert np.abs(zarr.open_array(first.output)[:] - restored).max() < 1e-3
