"""JPEG scans: the error that compression left, read off the scan's own blocks, sets ``mu="auto"``."""

import io
import warnings

import numpy as np
import pytest
import zarr
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from tiledeblur import MuWarning, deconvolve, gaussian_psf, plan
from tiledeblur.convert import convert
from tiledeblur.gcv import gcv_mu
from tiledeblur.jpeg import (
    LATTICE_FREE,
    JpegBlocks,
    block_coefficients,
    find_blocks,
    noise_power,
    noise_powers,
    quantization_steps,
)


def _saved(scan, quality, *, subsampling=0):
    """``scan`` (uint8) saved by Pillow as JPEG: (the decoded pixels, the luminance table, the file's bytes).

    ``subsampling`` is Pillow's for colour: 0 keeps the chroma whole (4:4:4), 2 halves it both ways (4:2:0).
    """
    buffer = io.BytesIO()
    Image.fromarray(scan).save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    with Image.open(io.BytesIO(buffer.getvalue())) as picture:
        table = np.reshape(picture.quantization[0], (8, 8))  # Pillow's tables are in natural order
        return np.asarray(picture), table, buffer.getvalue()


def test_the_steps_found_are_the_files_table(recorded, article_psf):
    """Each frequency with enough non-zero coefficients lies on the step of the file's table, found without it."""
    decoded, table, _ = _saved(recorded(data.camera(), [article_psf]), 85)
    steps = quantization_steps(block_coefficients(decoded.astype(float)))
    found = steps >= 2
    assert found.sum() >= 10
    np.testing.assert_array_equal(steps[found], table[found])


def test_only_a_jpeg_on_its_grid_holds_blocks(recorded, article_psf):
    """A lossless scan holds no blocks; nor does a JPEG read from a pixel off its grid, unless told its origin."""
    scan = recorded(data.camera(), [article_psf])
    assert noise_power(scan / 255, levels=255, origin=(0, 0)) is None
    decoded = _saved(scan, 85)[0] / 255
    assert noise_power(decoded, levels=255, origin=(0, 0)) is not None
    assert noise_power(decoded[4:, 3:], levels=255, origin=(0, 0)) is None
    assert noise_power(decoded[4:, 3:], levels=255, origin=(4, 3)) is not None


# Measured on the middle 256 px, in the order of the cases: GCV's weights 1e-5 (16.0, 14.3 and 16.8 dB); the model's
# 0.0016 (25.7 dB), 0.0050 (25.0 dB) and 0.0089, 0.0025, 0.013 (26.4 dB); blurred 22.1, 22.1 and 24.0 dB.
@pytest.mark.parametrize(("image", "quality", "subsampling"), [
    ("camera", 95, 0), ("camera", 70, 0),
    ("astronaut", 95, 2),  # colour at quality 95, 4:2:0: its chroma's error counts as much as its brightness's
])
def test_mu_auto_restores_a_jpeg_scan_that_cross_validation_ruins(tmp_path, recorded, article_psf, image, quality,
                                                                  subsampling):
    """Cross-validation sees no noise where JPEG erased it and chooses a weight that ruins the scan; the JPEG's own
    error gives weights that restore it."""
    pixels = getattr(data, image)()[128:384, 128:384]
    truth = pixels / 255
    scan = recorded(pixels, [article_psf] * np.atleast_3d(truth).shape[2], noise=0.005)
    decoded, _, encoded = _saved(scan, quality, subsampling=subsampling)
    (tmp_path / "scan.jpg").write_bytes(encoded)
    convert(tmp_path / "scan.jpg", tmp_path / "scan.zarr", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        mus = np.atleast_1d(plan(tmp_path / "scan.zarr", article_psf, loss="laplacian").mu)
    channels = np.atleast_3d(decoded / 255)
    inner = (slice(32, -32),) * 2

    def psnr(weights):  # of the weights alone: the pass of non-local means estimates the noise apart
        restored = [deconvolve(channels[..., index], article_psf, mu=weight, denoise=False)
                    for index, weight in enumerate(weights)]
        return peak_signal_noise_ratio(truth[inner], np.squeeze(np.stack(restored, axis=-1))[inner], data_range=1)

    blurred = peak_signal_noise_ratio(truth[inner], (decoded / 255)[inner], data_range=1)
    crossvalidated = [gcv_mu(channels[..., index], article_psf, order=2) for index in range(channels.shape[2])]
    assert psnr(crossvalidated) < blurred - 3
    assert psnr(mus) > blurred + 1.5


def test_missing_pixels_leave_out_their_blocks_alone(recorded, article_psf):
    """One missing pixel leaves a colour scan's blocks to be found; a region without a whole block free of missing
    pixels holds none (found by review: both divided by a count of no blocks)."""
    scan = recorded(data.astronaut()[128:384, 128:384], [article_psf] * 3)
    decoded = np.moveaxis(_saved(scan, 85, subsampling=2)[0] / 255, -1, 0)
    decoded[:, 100, 100] = np.nan
    assert all(power is not None for power in noise_powers(decoded, levels=255, origin=(0, 0)))
    assert noise_powers(np.full((3, 64, 64), np.nan), levels=255, origin=(0, 0)) == [None] * 3


def test_a_jpeg_scan_of_another_dtype_warns_as_other_lossy_scans(tmp_path, recorded, article_psf):
    """JPEG's levels are 8-bit: in 16-bit values its blocks cannot be told, and the weight is warned of."""
    scan = zarr.create_array(tmp_path / "scan.zarr", data=recorded(data.camera(), [article_psf]).astype(np.uint16))
    scan.attrs["tiledeblur_source"] = {"file": "scan.jpg", "compression": "JPEG"}
    with pytest.warns(MuWarning, match="JPEG compression of the source file 'scan.jpg' removed"):
        plan(tmp_path / "scan.zarr", article_psf, loss="laplacian")


def test_a_jpeg_s_pixels_without_its_record_are_told_by_their_blocks(tmp_path, recorded, article_psf):
    """Found by a probe: a JPEG's pixels given to deconvolve, or written to Zarr by another tool, got GCV's weight
    1e-5 without a word, and came out 6 to 14 dB below the blurred scan."""
    pixels = data.camera()[128:384, 128:384]
    truth, inner = pixels / 255, (slice(32, -32),) * 2
    decoded, _, encoded = _saved(recorded(pixels, [article_psf], noise=0.005), 90)
    (tmp_path / "scan.jpg").write_bytes(encoded)
    convert(tmp_path / "scan.jpg", tmp_path / "recorded.zarr", progress=False)
    zarr.create_array(tmp_path / "unrecorded.zarr", data=decoded)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        weights = [plan(tmp_path / name, article_psf, loss="laplacian").mu
                   for name in ("unrecorded.zarr", "recorded.zarr")]
        assert weights[0] == weights[1]
        for given in (decoded, decoded / 255):  # the decoded levels, or floats on their steps
            restored, info = deconvolve(given, article_psf, loss="laplacian", return_info=True)
            assert info.mu >= 1e-3
            blurred = peak_signal_noise_ratio(truth[inner], decoded[inner] / 255, data_range=1)
            assert peak_signal_noise_ratio(truth[inner], restored[inner], data_range=1) > blurred + 1.5


@pytest.mark.parametrize(("quality", "channel", "sigma"), [
    (90, 0, (1, 3)),  # red, whose blocks show, under the article's PSF
    (80, 2, 1.5),  # blue, whose blocks show at too few frequencies to weigh the JPEG by (found by review)
])
def test_a_colour_jpeg_s_channel_given_alone_warns(recorded, quality, channel, sigma):
    """Its error mixes those of the colour's brightness and hue, which only the three channels together tell: red
    alone got 1e-5 (found by a probe), blue too."""
    psf = gaussian_psf(13, sigma)
    decoded = _saved(recorded(data.astronaut()[128:384, 128:384], [psf] * 3, noise=0.005), quality,
                     subsampling=2)[0]
    with pytest.warns(MuWarning, match=r"for an image that shows JPEG's 8 x 8 blocks, below .*A channel of a colour "
                                       r"JPEG cannot be weighed alone"):
        deconvolve(decoded[..., channel], psf, loss="laplacian")


def test_a_colour_jpeg_given_whole_is_weighed_as_run_weighs_it(tmp_path, recorded):
    """With ``channel_axis`` the three channels tell the JPEG's error together: no warning, and the plan's weights."""
    psf = gaussian_psf(13, (1, 3))
    decoded = _saved(recorded(data.astronaut()[128:384, 128:384], [psf] * 3, noise=0.005), 90, subsampling=2)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        infos = deconvolve(decoded, psf, channel_axis=-1, loss="laplacian", return_info=True)[1]
    zarr.create_array(tmp_path / "scan.zarr", data=decoded, chunks=(128, 128, 3))
    assert [info.mu for info in infos] == list(plan(tmp_path / "scan.zarr", psf, channel_axis=-1,
                                                    loss="laplacian").mu)


def test_a_subsampled_colour_channel_given_alone_is_weighed_by_its_interpolated_noise(recorded, article_psf):
    """Blue at 4:2:0 shows too few of JPEG's blocks to be weighed by them; its chroma, halved and interpolated back,
    left noise that falls toward the finest frequencies, which the resampling model fits with the scene where the
    article's PSF leaves no frequency to noise alone: cross-validation chose 1e-5 (17.5 dB against the blurred
    23.6), the model 0.0056 (25.8 dB)."""
    pixels = data.astronaut()[128:384, 128:384]
    decoded = _saved(recorded(pixels, [article_psf] * 3, noise=0.005), 95, subsampling=2)[0][..., 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        restored = deconvolve(decoded, article_psf)
    truth, inner = pixels[..., 2] / 255, (slice(32, -32),) * 2
    blurred = peak_signal_noise_ratio(truth[inner], decoded[inner] / 255, data_range=1)
    assert peak_signal_noise_ratio(truth[inner], restored[inner], data_range=1) > blurred + 1.5


def test_a_jpeg_crop_off_its_grid_is_weighed_on_its_own_grid(recorded, article_psf):
    """Found by a probe: JPEG's pixels cropped off its 8 px grid showed no blocks on the crop's, got cross-validation's
    weight, and came out far below the blurred crop (camera at quality 85, 3 px off: 18.3 dB against 26.6)."""
    pixels = data.camera()[125:389, 125:389]
    decoded = _saved(recorded(pixels, [article_psf], noise=0.005), 85)[0]
    crop, truth, inner = decoded[3:259, 5:261], pixels[3:259, 5:261] / 255, (slice(32, -32),) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", MuWarning)
        restored = deconvolve(crop, article_psf)
    blurred = peak_signal_noise_ratio(truth[inner], crop[inner] / 255, data_range=1)
    assert peak_signal_noise_ratio(truth[inner], restored[inner], data_range=1) > blurred + 1.5


@pytest.mark.parametrize("period", [16, 32])
def test_a_lossless_pattern_in_step_with_the_blocks_is_no_jpeg(tmp_path, recorded, article_psf, period):
    """Found by a probe: a grating's ±A in every block passed for a JPEG's lattice, and the JPEG model's weight left it
    far below the blurred scan (a 16 px sine: 33.8 dB against 47.3); its blocks repeat on every grid, JPEG's on one.
    Its 8-bit store is weighed as the same values stored as floats are."""
    rows, columns = np.mgrid[:256, :256]
    pattern = 0.5 + 0.2 * np.sin(2 * np.pi * columns / period) + 0.2 * np.sin(2 * np.pi * rows / period)
    scan = recorded(np.round(255 * pattern).astype(np.uint8), [article_psf], noise=0.002)
    assert find_blocks(lambda yx: scan[(None, *yx)] / 255, [(slice(0, 256), slice(0, 256))], levels=255) is None
    zarr.create_array(tmp_path / "levels.zarr", data=scan)
    zarr.create_array(tmp_path / "fractions.zarr", data=scan / 255)
    assert plan(tmp_path / "levels.zarr", article_psf).mu == plan(tmp_path / "fractions.zarr", article_psf).mu


def test_a_jpeg_cropped_and_saved_again_shows_its_last_grid(recorded, article_psf):
    """Found by a probe: the first save's lattices, on another grid, hid the last one's, and the scan got
    cross-validation's weight (8 to 11 dB below the blurred scan)."""
    first = _saved(recorded(data.camera()[:400, :400], [article_psf], noise=0.005), 70)[0]
    again = _saved(np.ascontiguousarray(first[3:, 3:]), 95)[0] / 255
    found = find_blocks(lambda yx: again[(None, *yx)], [(slice(0, 256), slice(0, 256))], levels=255)
    assert found == JpegBlocks(255, (0, 0))


@pytest.mark.parametrize("lossless_first, found", [(LATTICE_FREE - 1, True), (LATTICE_FREE, False)])
def test_the_search_ends_after_regions_of_most_detail_without_lattices(recorded, article_psf, lossless_first, found):
    """A lossless scan's regions show no lattice on any grid: after ``LATTICE_FREE`` of its regions of most detail the
    search ends, where 16 regions' 64 grids took 3.3 s of a 4096² scan's plan. The JPEG region, of less detail,
    is searched only while fewer regions came before it."""
    lossless = recorded(data.camera()[:256, :256], [article_psf])
    dim = _saved((data.camera()[256:512, :256] // 4 + 64).astype(np.uint8), 85)[0]
    scan = np.concatenate([lossless] * lossless_first + [dim]) / 255
    regions = [(slice(start, start + 256), slice(0, 256)) for start in range(0, len(scan), 256)]
    blocks = find_blocks(lambda yx: scan[(None, *yx)], regions, levels=255)
    assert blocks == (JpegBlocks(255, (0, 0)) if found else None)


@pytest.mark.parametrize("side, psf_side", [(6, 3), (4, 1), (2, 1)])
def test_an_image_smaller_than_a_block_is_weighed(side, psf_side):
    """Smaller than JPEG's 8 px blocks, an 8-bit image crashed in numpy's reshape (found by a probe)."""
    image = data.camera()[:side, :side]
    assert deconvolve(image, np.ones((psf_side, psf_side))).shape == (side, side)
