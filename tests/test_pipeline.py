"""run() end to end: real clusters, real Zarr stores on disk, real images."""

import dataclasses
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
import scipy.signal
import tifffile
import zarr
from skimage import color, data
from skimage.draw import line_aa

import tiledeblur
from tiledeblur import TileError, deconvolve, plan, run
from tiledeblur.denoising import REACH
from tiledeblur.io import MARKER_FOLDER, fingerprint
from tiledeblur.ome import _mean_of_present
from tiledeblur.operators import Blur
from tiledeblur.pipeline import _compute_tiles, process_tile
from tiledeblur.planning import prepare
from tiledeblur.resume import OutputReplacedError
from tiledeblur.settings import DEFAULT_EPS, DEFAULT_MAXITER, DEFAULT_TOL
from tiledeblur.tiling import estimate_tile_bytes


def _write(path, array, *, chunks=64, zarr_format=3):
    chunk_shape = tuple(min(chunks, n) if n > 4 else n for n in array.shape)
    z = zarr.create_array(path, shape=array.shape, chunks=chunk_shape, dtype=array.dtype, zarr_format=zarr_format)
    z[...] = array
    return path


#: How the tests of a run's workings (resume, faults, formats) deblur ``small_scan``: ``laplacian`` at ``mu="auto"``,
#: with its pass, is 4 times as fast there as the ``nlmeans`` that ``loss="auto"`` chooses. A run with the default loss
#: resumes in ``test_selection``, and its tiles meet in ``test_no_seams``.
SMALL = {"tile": 64, "loss": "laplacian"}


def _markers(output):
    folder = Path(output) / MARKER_FOLDER
    return len(list(folder.iterdir())) if folder.exists() else 0


@pytest.fixture(scope="module")
def small_scan(tmp_path_factory, astronaut_scene):
    """A 256² uint8 scan, chunked 64: 16 tiles of 64 px."""
    observed = astronaut_scene[1][128:384, 128:384]
    scan = np.round(np.clip(observed, 0, 1) * 255).astype(np.uint8)
    return _write(tmp_path_factory.mktemp("scan") / "scan.zarr", scan), scan


@pytest.fixture(scope="module")
def small_reference_report(tmp_path_factory, small_scan, article_psf, client):
    """An undisturbed run of ``small_scan``."""
    output = tmp_path_factory.mktemp("reference") / "out.zarr"
    return run(small_scan[0], article_psf, output=output, **SMALL, client=client, progress=False)


@pytest.fixture(scope="module")
def small_reference(small_reference_report):
    """The bytes of the undisturbed run, which the others must match."""
    return zarr.open_array(small_reference_report.output, mode="r")[...]


@pytest.mark.parametrize("loss", ["tikhonov", "laplacian", "tv", "nlmeans"])
def test_no_seams(tmp_path, astronaut_scene, article_psf, client, loss):
    """Three by three tiles: the middle one meets a neighbour on each side, and a corner tile two."""
    observed = astronaut_scene[1][112:400, 112:400]
    scan = _write(tmp_path / "scan.zarr", observed, chunks=96)
    report = run(scan, article_psf, tile=96, loss=loss, out_dtype="float64", client=client, progress=False)
    assert report.plan.grid == (3, 3) and report.tiles_computed == 9
    tiled = zarr.open_array(report.output, mode="r")[...]
    whole, info = deconvolve(observed, article_psf, loss=loss, mu=report.mu, return_info=True)
    assert np.abs(tiled - whole).max() <= 1e-3
    # The quadratic losses' pass of non-local means, at one noise level for the tiles and the whole image.
    assert report.noise == info.noise and (report.noise is None) == (loss in ("tv", "nlmeans"))


def test_no_seams_where_the_denoiser_drops_coefficients(tmp_path, astronaut_scene, article_psf, client):
    """The DCT shrinkage of ``nlmeans``' rounds drops a coefficient below its threshold: with hard thresholds, the
    tiles' solves, up to about 1e-4 from the whole image's, dropped others than it did, and this crop's tiles came out
    1.3e-3 from the whole image's solve; with firm ones, 1.4e-4 (found by a probe)."""
    observed = astronaut_scene[1][:288, 200:488]
    scan = _write(tmp_path / "scan.zarr", observed, chunks=96)
    report = run(scan, article_psf, tile=96, loss="nlmeans", out_dtype="float64", client=client, progress=False)
    tiled = zarr.open_array(report.output, mode="r")[...]
    assert np.abs(tiled - deconvolve(observed, article_psf, loss="nlmeans", mu=report.mu)).max() <= 1e-3


@pytest.mark.parametrize("loss", ["tikhonov", "laplacian", "tv", "nlmeans"])
def test_mosaic_with_missing_pixels(tmp_path, astronaut_scene, article_psf, client, loss):
    """NaN marks what a mosaic did not cover: a footprint's edge across tiles, a tile beyond it, and bad pixels.

    The tiles solve around them as the whole image does, the NaN stay where they were, and the pyramid
    averages the pixels present.
    """
    observed = astronaut_scene[1][112:400, 112:400]
    rows, columns = np.indices(observed.shape)
    missing = (rows + columns // 2 < 60) | (np.random.default_rng(3).random(rows.shape) < 0.002)
    missing[:96, 192:] = True
    mosaic = np.where(missing, np.nan, observed).astype(np.float32)
    scan = _write(tmp_path / "mosaic.zarr", mosaic, chunks=96)
    report = run(scan, article_psf, tile=96, loss=loss, ome=True, client=client, progress=False)
    out = zarr.open_group(report.output, mode="r")
    tiled = out["0"][...]
    assert np.array_equal(np.isnan(tiled), missing) and report.tiles_computed == 9
    whole = deconvolve(mosaic, article_psf, loss=loss, mu=report.mu)
    assert np.nanmax(np.abs(tiled - whole)) <= 1e-3
    blocks = tiled.reshape(144, 2, 144, 2).transpose(0, 2, 1, 3).reshape(144, 144, 4)
    with np.errstate(invalid="ignore"):
        expected = np.nansum(blocks, axis=2) / (~np.isnan(blocks)).sum(axis=2)
    np.testing.assert_allclose(out["1"][...], expected, rtol=1e-6, atol=1e-6)
    assert np.isnan(out["1"][:48, 96:]).all()


@pytest.mark.parametrize("out_dtype", ["float32", "input"])
def test_mosaic_with_a_fill_value(tmp_path, astronaut_scene, article_psf, client, out_dtype):
    """A stitched uint16 mosaic fills with 0 what no field of view took: ``missing_value=0`` makes it missing.

    The tiles solve as the whole image does with NaN there; the output holds NaN there, or 0 in the
    input's dtype, which the pyramid leaves out of its means.
    """
    rows, columns = np.indices(astronaut_scene[1].shape)
    missing = rows + columns // 2 < 100
    missing[:128, 384:] = True
    counts = np.round(1000 + 50000 * np.clip(astronaut_scene[1], 0, 1)).astype(np.uint16)
    scan = _write(tmp_path / "mosaic.zarr", np.where(missing, 0, counts).astype(np.uint16), chunks=128)
    report = run(scan, article_psf, loss="laplacian", tile=128, missing_value=0, out_dtype=out_dtype, ome=True,
                 client=client, progress=False)
    out = zarr.open_group(report.output, mode="r")
    whole = deconvolve(np.where(missing, np.nan, counts / 65535), article_psf, loss=report.loss, mu=report.mu)
    if out_dtype == "float32":
        tiled = out["0"][...]
        assert np.array_equal(np.isnan(tiled), missing)
        assert np.nanmax(np.abs(tiled - whole)) <= 1e-3
        return
    tiled = out["0"][...]
    assert tiled.dtype == np.uint16 and (tiled[missing] == 0).all()
    # Clipped to the dtype's range and rounded, and a present pixel cast onto 0 is 1, so that it does not read as
    # missing (found by a probe); the output declares its missing value.
    assert (tiled[~missing] != 0).all() and out["0"].attrs["missing_value"] == 0
    assert np.abs(tiled[~missing] / 65535 - np.clip(whole[~missing], 0, 1)).max() <= 1e-3 + 1.5 / 65535
    blocks = tiled.reshape(256, 2, 256, 2).transpose(0, 2, 1, 3).reshape(256, 256, 4).astype(float)
    present = blocks != 0
    with np.errstate(invalid="ignore"):
        expected = np.where(present.any(axis=2), np.round(blocks.sum(axis=2) / present.sum(axis=2)), 0)
    assert np.array_equal(out["1"][...], expected)
    assert (out["1"][:64, 192:] == 0).all()


@pytest.mark.parametrize(("zarr_format", "attribute"), [(3, "_FillValue"), (2, "missing_value")])
def test_a_cf_fill_value_marks_missing_pixels(tmp_path, astronaut_scene, article_psf, client, zarr_format, attribute):
    """The pixels that xarray reads as missing are missing without missing_value (found by a probe: they were
    deblurred as data, and rang into their neighbours)."""
    rows, columns = np.indices(astronaut_scene[1].shape)
    missing = rows + columns // 2 < 100
    counts = np.round(1000 + 50000 * np.clip(astronaut_scene[1], 0, 1)).astype(np.uint16)
    z = zarr.create_array(tmp_path / "cf.zarr", shape=counts.shape, chunks=(128, 128), dtype="u2",
                          zarr_format=zarr_format, attributes={attribute: 0})
    z[...] = np.where(missing, 0, counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = run(tmp_path / "cf.zarr", article_psf, tile=128, mu=3e-3, client=client, progress=False)
    tiled = zarr.open_array(report.output, mode="r")[...]
    assert np.array_equal(np.isnan(tiled), missing)
    assert "; missing value 0 (declared by the input); " in report.plan.describe()  # as run and plan print it
    whole = deconvolve(np.where(missing, np.nan, counts / 65535), article_psf, mu=3e-3)
    assert np.nanmax(np.abs(tiled - whole)) <= 1e-3
    # A declared value that no pixel holds marks nothing, and says nothing of it, unlike a missing_value given.
    z.attrs[attribute] = 65535
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = run(tmp_path / "cf.zarr", article_psf, tile=128, mu=3e-3, overwrite=True, client=client,
                     progress=False)
    assert report.plan.missing_value == 65535 and not np.isnan(zarr.open_array(report.output)[...]).any()


# The default loss, and laplacian, which it chooses for some images.
@pytest.mark.parametrize(("channel_axis", "zarr_format", "loss"), [(-1, 3, None), (0, 2, "laplacian")])
def test_rgb_and_ragged_edges(tmp_path, article_psf, recorded, client, channel_axis, zarr_format, loss):
    rgb = recorded(data.astronaut()[100:300, 150:450], [article_psf] * 3)  # 200 × 300: not a multiple of 128 px
    stored = rgb if channel_axis == -1 else np.moveaxis(rgb, -1, 0)
    scan = _write(tmp_path / "rgb.zarr", stored, chunks=128, zarr_format=zarr_format)
    report = run(scan, article_psf, tile=128, channel_axis=channel_axis, loss=loss, client=client, progress=False)
    out = zarr.open_array(report.output, mode="r")
    assert out.shape == stored.shape and out.dtype == np.float32 and out.metadata.zarr_format == zarr_format
    assert report.plan.describe().startswith("image 200 x 300 px, 3 channels; ")
    tiled = out[...] if channel_axis == 0 else np.moveaxis(out[...], -1, 0)
    assert len(report.mu) == 3
    # Each channel's own weight, from the same regions as the whole image's, and nlmeans' rounds denoising the
    # channels together in both.
    whole, infos = deconvolve(rgb, article_psf, channel_axis=-1, loss=loss, return_info=True)
    assert [(info.loss, info.mu) for info in infos] == [(report.loss, mu) for mu in report.mu]
    assert np.abs(tiled - np.moveaxis(whole, -1, 0)).max() <= 1e-3


def test_stains_of_different_scenes_are_denoised_each_alone(tmp_path, article_psf, recorded, client):
    """A fluorescence image's stains show different scenes, which deconvolve restores each alone (see test_solver);
    so do the tiles, each channel with the loss chosen for it, within 1e-3 of the whole image's solve."""
    stains = recorded(np.stack([data.camera()[100:240, 150:406], data.cell()[100:240, 150:406]], -1),
                      [article_psf] * 2)
    report = run(_write(tmp_path / "stains.zarr", np.moveaxis(stains, -1, 0), chunks=128), article_psf, tile=128,
                 channel_axis=0, client=client, progress=False)
    assert report.plan.describe().startswith("image 140 x 256 px, 2 channels denoised each alone; loss nlmeans, "
                                             "laplacian; ")
    assert report.loss == ("nlmeans", "laplacian") and not report.plan.together
    whole = deconvolve(stains, article_psf, channel_axis=-1)
    assert np.abs(zarr.open_array(report.output, mode="r")[...] - np.moveaxis(whole, -1, 0)).max() <= 1e-3


def test_a_channel_flat_over_whole_tiles_still_counts_among_the_channels(tmp_path, article_psf, client):
    """Red clipped flat over a slide's glass, green and blue not: tiles whose red is flat passed green and blue as if
    it were not there, 2e-2 from the whole image's solve, where it counts among the channels (found by a probe)."""
    scene = np.full((140, 524, 3), [1.0, 0.94, 0.92])
    scene[:, :262] = data.astronaut()[100:240, :262] / 255
    rgb = np.stack([Blur(article_psf, (128, 512), boundary="free").matvec(scene[..., c]) for c in range(3)], -1)
    noisy = rgb + np.random.default_rng(0).normal(0, 0.01, rgb.shape)
    noisy[:, 300:, 0] = 1.0
    scan = np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
    report = run(_write(tmp_path / "slide.zarr", scan), article_psf, channel_axis=-1, tile=64, loss="laplacian",
                 client=client, progress=False)
    whole = deconvolve(scan, article_psf, channel_axis=-1, loss="laplacian", mu=report.mu)
    assert np.abs(zarr.open_array(report.output, mode="r")[...] - whole).max() <= 1e-3


def test_a_region_solved_with_the_plans_mu_and_noise_is_what_run_writes(small_scan, small_reference_report,
                                                                        small_reference, article_psf):
    """The README's trial of a region: with its own noise level, 2% off the scan's, the pass of non-local means moved
    it by up to 7e-3 from the run's output (found by a probe)."""
    scan_plan = plan(small_scan[0], article_psf, **SMALL)
    assert (scan_plan.mu, scan_plan.noise) == (small_reference_report.mu, small_reference_report.noise)
    region = (slice(16, 240),) * 2
    trial = deconvolve(small_scan[1][region], article_psf, loss=scan_plan.loss, mu=scan_plan.mu, noise=scan_plan.noise,
                       contrast=scan_plan.contrast, noise_line=scan_plan.noise_line, mix=scan_plan.mix)
    inner = (slice(scan_plan.halo, -scan_plan.halo),) * 2
    assert trial[inner].size and np.abs(trial[inner] - small_reference[region][inner]).max() <= 1e-4


def test_a_region_of_tissue_beside_glass_solved_with_the_plans_contrast_is_what_run_writes(tmp_path, article_psf,
                                                                                            client):
    """nlmeans' rounds start from the scan's contrast, which its glass lowers: a region of the tissue came out
    1.5e-2 from the run's output with the contrast measured on the region alone (4.7e-3 since the DCT shrinkage
    joined non-local means), and 1.7e-7 with the plan's."""
    scene = np.full((268, 524), 0.5)
    scene[:, :268] = data.camera()[100:368, 100:368] / 255
    observed = Blur(article_psf, (256, 512), boundary="free").matvec(scene)
    observed += np.random.default_rng(0).normal(0, 0.03, observed.shape)
    scan = np.round(np.clip(observed, 0, 1) * 255).astype(np.uint8)
    path = _write(tmp_path / "slide.zarr", scan, chunks=128)
    report = run(path, article_psf, tile=128, loss="nlmeans", client=client, progress=False)
    written = zarr.open_array(report.output, mode="r")[...]
    scan_plan = plan(path, article_psf, tile=128, loss="nlmeans", client=client)
    assert (scan_plan.mu, scan_plan.contrast, scan_plan.noise_line) == (report.mu, report.contrast, report.noise_line)
    region = (slice(16, 240),) * 2
    inner = (slice(scan_plan.halo, -scan_plan.halo),) * 2
    trial = deconvolve(scan[region], article_psf, loss="nlmeans", mu=scan_plan.mu, contrast=scan_plan.contrast,
                       noise_line=scan_plan.noise_line)
    alone = deconvolve(scan[region], article_psf, loss="nlmeans", mu=scan_plan.mu, noise_line=scan_plan.noise_line)
    assert trial[inner].size and np.abs(trial[inner] - written[region][inner]).max() <= 1e-4
    assert np.abs(alone[inner] - written[region][inner]).max() > 1e-3


def test_dimension_names_give_the_channels_axis_and_the_output_keeps_them(tmp_path, article_psf, client):
    """A Zarr 3 array that names its axes c, y, x needed channel_axis, and its output lost the names (a probe)."""
    cyx = np.moveaxis(data.astronaut()[100:228, 150:278], -1, 0)
    zarr.create_array(tmp_path / "cyx.zarr", data=cyx, chunks=(3, 64, 64), dimension_names=["c", "y", "x"])
    report = run(tmp_path / "cyx.zarr", article_psf, tile=64, mu=0.01, client=client, progress=False)
    assert report.channel_axis == 0
    out = zarr.open_array(report.output, mode="r")
    assert out.metadata.dimension_names == ("c", "y", "x")
    assert np.abs(out[...] - deconvolve(cyx, article_psf, channel_axis=0, mu=0.01)).max() <= 1e-3
    # A channel axis that contradicts the names would deblur 128 "channels" and keep names that no longer fit.
    with pytest.raises(ValueError, match="channel_axis: expected 0 or None, where the array's dimension_names puts "
                                         "the channels, got -1 instead"):
        run(tmp_path / "cyx.zarr", article_psf, channel_axis=-1, mu=0.01, output=tmp_path / "x.zarr", client=client,
            progress=False)
    # Other tools write "C" or "channel"; z and t name a stack's planes, which are no channels (found by a probe).
    zarr.create_array(tmp_path / "yxc.zarr", data=np.moveaxis(cyx, 0, -1), chunks=(64, 64, 3),
                      dimension_names=["y", "x", "Channel"])
    assert tiledeblur.plan(tmp_path / "yxc.zarr", article_psf, mu=0.01).channels == 3
    zarr.create_array(tmp_path / "zyx.zarr", data=cyx, chunks=(3, 64, 64), dimension_names=["Z", "y", "x"])
    with pytest.raises(ValueError, match=r"zarr_path: expected a plane, .* got shape \(3, 128, 128\), whose axis "
                                         r"'z' holds 3 planes; select one time point or z plane first .*, or pass "
                                         r"channel_axis=0 to deblur each of its planes in 2-D.$"):
        tiledeblur.plan(tmp_path / "zyx.zarr", article_psf, mu=0.01)
    # Asked for, each plane is deblurred in 2-D; and a kymograph's t and x are its plane (found by a probe).
    assert tiledeblur.plan(tmp_path / "zyx.zarr", article_psf, mu=0.01, channel_axis=0).channels == 3
    # Beside a channel axis of one plane too, which refused the advice it gave (found by a probe); beside one of
    # more, no axis leaves planes, and none is advised.
    tczyx = ["t", "c", "z", "y", "x"]
    zarr.create_array(tmp_path / "one_channel.zarr", data=cyx[None, None], chunks=(1, 1, 3, 64, 64),
                      dimension_names=tczyx)
    assert tiledeblur.plan(tmp_path / "one_channel.zarr", article_psf, mu=0.01, channel_axis=2).channels == 3
    zarr.create_array(tmp_path / "two_channels.zarr", data=np.stack([cyx, cyx])[None], chunks=(1, 1, 3, 64, 64),
                      dimension_names=tczyx)
    with pytest.raises(ValueError, match=r"holds 3 planes; select one time point or z plane first \(tiledeblur "
                                         r"deblurs planes in 2-D, not stacks in 3-D\).$"):
        tiledeblur.plan(tmp_path / "two_channels.zarr", article_psf, mu=0.01)
    zarr.create_array(tmp_path / "kymograph.zarr", data=cyx[0], chunks=(64, 64), dimension_names=["t", "x"])
    assert tiledeblur.plan(tmp_path / "kymograph.zarr", article_psf, mu=0.01).channels == 1
    # xarray names a Zarr 2 array's axes in an attribute (found by a probe: its channels were not found).
    for name, names in (("yxc_v2.zarr", ["y", "x", "c"]), ("zyx_v2.zarr", ["z", "y", "x"])):
        written = zarr.create_array(tmp_path / name, data=np.moveaxis(cyx, 0, -1) if names[-1] == "c" else cyx,
                                    chunks=(64, 64, 3) if names[-1] == "c" else (3, 64, 64), zarr_format=2)
        written.attrs["_ARRAY_DIMENSIONS"] = names
    assert tiledeblur.plan(tmp_path / "yxc_v2.zarr", article_psf, mu=0.01).channels == 3
    with pytest.raises(ValueError, match=r"got shape \(3, 128, 128\), whose axis 'z' holds 3 planes"):
        tiledeblur.plan(tmp_path / "zyx_v2.zarr", article_psf, mu=0.01)
    with pytest.raises(ValueError, match="channel_axis: expected 2 or None, where the array's _ARRAY_DIMENSIONS "
                                         "puts the channels, got 0 instead"):
        tiledeblur.plan(tmp_path / "yxc_v2.zarr", article_psf, mu=0.01, channel_axis=0)


def test_each_channel_is_solved_at_its_own_scale(tmp_path, small_scan, article_psf, client):
    """A dim fluorescence channel, 1e-4 of a bright one, is restored as precisely (found by a probe)."""
    observed = small_scan[1] / 255
    scan = _write(tmp_path / "two.zarr", np.stack([observed, 1e-4 * observed]))
    report = run(scan, article_psf, channel_axis=0, tile=64, mu=3e-3, out_dtype="float64", client=client,
                 progress=False)
    tiled = zarr.open_array(report.output, mode="r")[...]
    # Denoised together, as the two channels are, each in units of its own noise.
    tight, _ = deconvolve(np.stack([observed, observed]), article_psf, channel_axis=0, mu=3e-3, tol=1e-7)
    assert np.abs(tiled[0] - tight).max() <= 1e-3
    assert np.abs(tiled[1] / 1e-4 - tight).max() <= 1e-3


def test_faint_content_between_sample_regions_is_restored(tmp_path, small_scan, article_psf, client):
    """Fluxes of 1e-5 on a blank strip, between the regions that mu="auto" samples (found by a probe)."""
    content = np.zeros((64, 2304))
    content[:, 260:292] = small_scan[1][100:164, 100:132] / 255
    scan = _write(tmp_path / "faint.zarr", 1e-5 * content)
    report = run(scan, article_psf, tile=64, mu=3e-3, out_dtype="float64", client=client, progress=False)
    tiled = zarr.open_array(report.output, mode="r")[...]
    tight = deconvolve(content, article_psf, mu=3e-3, tol=1e-7)
    assert np.abs(tiled / 1e-5 - tight).max() <= 1e-3


def test_the_output_keeps_the_inputs_attributes_that_hold_for_it(tmp_path, article_psf, client):
    """A FITS header's WCS, put on the input, was lost on the output (found by a probe); encodings hold only where the
    output stores values as the input does, and the record says by what the values were scaled."""
    counts = zarr.create_array(tmp_path / "counts.zarr", data=(data.camera()[:128, :128] * 100).astype(np.int16),
                               chunks=(64, 64))
    header = {"CTYPE1": "RA---TAN", "CRPIX1": 64.5, "BUNIT": "ADU"}
    counts.attrs.update({"fits_header": header, "scale_factor": 0.5})
    fluxes = zarr.create_array(tmp_path / "fluxes.zarr", data=counts[...].astype(np.float64), chunks=(64, 64),
                               attributes=counts.attrs.asdict())
    for source, out_dtype, value_scale in ((counts, "float32", 1 / 32767), (counts, "input", 1.0),
                                           (fluxes, "float32", 1.0)):  # a float input's scale_factor was dropped
        report = run(source.store.root, article_psf, tile=64, mu=0.01, out_dtype=out_dtype,
                     output=tmp_path / f"{source.dtype}-{out_dtype}.zarr", client=client, progress=False)
        attributes = zarr.open_array(report.output, mode="r").attrs.asdict()
        assert attributes.keys() == {"fits_header", "scale_factor", "tiledeblur"}
        # FITS's BSCALE gives a FITS reader the input's units, which BUNIT names, where the values were scaled.
        assert attributes["fits_header"] == ({**header, "BSCALE": 1 / value_scale} if value_scale != 1 else header)
        assert attributes["tiledeblur"]["value_scale"] == value_scale
        # Decoded as CF readers do, the output's values are in the input's units (a probe: 105 K read as 0.3 K).
        assert attributes["scale_factor"] == pytest.approx(0.5 / value_scale)


def test_default_local_cluster_file_url_and_dashboard(tmp_path, small_scan, small_reference, article_psf, capfd):
    output = tmp_path / "out.zarr"
    report = run(f"file://{small_scan[0]}", article_psf, output=f"file://{output}", **SMALL, n_workers=2)
    assert report.output == str(output)  # file:// URLs are opened as local paths
    err = capfd.readouterr().err
    assert "dask dashboard: http://127.0.0.1:" in err
    assert "tiles 16/16 (100%)" in err
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], small_reference)
    assert zarr.open_array(output, mode="r").attrs["tiledeblur"]["version"] == tiledeblur.__version__
    again = run(small_scan[0], article_psf, output=output, **SMALL, n_workers=2)
    assert (again.tiles_computed, again.tiles_skipped) == (0, 16)
    assert "dask dashboard" not in capfd.readouterr().err  # a finished output starts no cluster


def test_killed_worker_changes_nothing(tmp_path, small_scan, small_reference, article_psf, client):
    output = tmp_path / "out.zarr"
    reports = []
    worker = threading.Thread(
        target=lambda: reports.append(
            run(small_scan[0], article_psf, output=output, **SMALL, client=client, progress=False)
        )
    )
    worker.start()
    while _markers(output) < 3:
        time.sleep(0.05)
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    assert worker.is_alive()  # killed while the run went on
    worker.join(timeout=300)
    assert reports and reports[0].tiles_computed == 16
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], small_reference)
    assert victim not in client.run(os.getpid).values()


RUN_SCRIPT = f"""
import sys, tiledeblur
if __name__ == "__main__":
    tiledeblur.run(sys.argv[1], tiledeblur.gaussian_psf(13, (1, 3)), output=sys.argv[2], n_workers=1, **{SMALL!r})
"""


def test_resume_after_interruption(tmp_path, small_scan, small_reference, small_reference_report, article_psf, client):
    output = tmp_path / "out.zarr"
    script = tmp_path / "job.py"
    script.write_text(RUN_SCRIPT)
    with open(tmp_path / "stderr", "w") as stderr:
        driver = subprocess.Popen([sys.executable, str(script), str(small_scan[0]), str(output)], stderr=stderr)
        while _markers(output) < 4:
            assert driver.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.05)
        driver.send_signal(signal.SIGINT)
        driver.wait(timeout=120)
    # As the command line says it (found by a probe: a notebook's interruption ended in a bare KeyboardInterrupt).
    assert (tmp_path / "stderr").read_text().rstrip().endswith(
        "KeyboardInterrupt\ntiledeblur: the tiles written are kept; run the same call again to resume")
    finished = _markers(output)
    assert 4 <= finished < 16
    # The tiles not written read as missing, not as black (found by a probe: they read 0).
    missing = np.isnan(zarr.open_array(output, mode="r")[...])
    unwritten = missing.reshape(4, 64, 4, 64).all(axis=(1, 3))
    assert 1 <= unwritten.sum() <= 16 - finished and missing.sum() == unwritten.sum() * 64 * 64
    with pytest.raises(ValueError, match="other settings"):
        run(small_scan[0], article_psf, output=output, **SMALL, mu=0.02, client=client, progress=False)
    # plan refuses and counts as run would (found by a probe: it passed an output that run then refused).
    # laplacian's weight sets its halo too.
    with pytest.raises(ValueError, match=r"written from another input or with other settings \(differing: halo, mu\)"):
        tiledeblur.plan(small_scan[0], article_psf, output=output, **SMALL, mu=0.02)
    again = tiledeblur.plan(small_scan[0], article_psf, output=output, **SMALL)
    assert again.describe().endswith(f"; {finished} of 16 tiles written by an earlier run")
    replaced = tiledeblur.plan(small_scan[0], article_psf, output=output, **SMALL, mu=0.02, overwrite=True)
    assert replaced.finished == 0 and "earlier run" not in replaced.describe()
    with pytest.raises(ValueError, match="output: expected a new path, got .*, which exists; pass overwrite=True"):
        tiledeblur.plan(small_scan[0], article_psf, output=output, **SMALL, resume=False)
    report = run(small_scan[0], article_psf, output=output, **SMALL, client=client, progress=False)
    assert (report.tiles_skipped, report.tiles_computed) == (finished, 16 - finished)
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], small_reference)


def test_plan_takes_the_solvers_options_of_run_and_counts_its_tiles(tmp_path, client):
    """plan took neither tol nor maxiter: a run's output with its own was refused, "differing: tol" (a probe)."""
    path = tmp_path / "scan.zarr"
    zarr.create_array(path, data=data.camera()[:128, :128], chunks=(64, 64))
    settings = {"tile": 64, "mu": 0.01, "tol": 1e-3, "maxiter": 50}
    run(path, tiledeblur.gaussian_psf(5, 1.0), client=client, progress=False, **settings)
    again = tiledeblur.plan(path, tiledeblur.gaussian_psf(5, 1.0), client=client, **settings)
    assert again.describe().endswith("; 4 of 4 tiles written by an earlier run")
    for name, value in (("tol", 0.0), ("maxiter", 0)):
        with pytest.raises(ValueError, match=f"{name}: expected a positive"):
            tiledeblur.plan(path, tiledeblur.gaussian_psf(5, 1.0), **{**settings, name: value})


def test_an_automatic_tile_resumes_on_other_workers(tmp_path, client):
    """tile="auto" follows the workers: the same call on three workers chose 512 px, and was refused (a probe)."""
    scene = np.zeros((2048, 2048), np.uint8)  # a slide's black surround, and the camera's scene in a corner
    scene[:512, :512] = data.camera()
    scan = _write(tmp_path / "slide.zarr", scene, chunks=512)
    psf = tiledeblur.gaussian_psf(9, 1.5)
    first = run(scan, psf, mu=0.01, client=client, progress=False)
    fresh = tiledeblur.plan(scan, psf, mu=0.01, n_workers=3, output=tmp_path / "new.zarr")
    assert (first.plan.tile, fresh.tile) == (1024, 512)
    # The plan of the resume is the resume's (found by a probe: plan showed tiles that run did not use).
    assert tiledeblur.plan(scan, psf, mu=0.01, n_workers=3).tile == 1024
    written = zarr.open_array(first.output, mode="r")[...]
    again = run(scan, psf, mu=0.01, n_workers=3, progress=False)
    assert (again.plan.tile, again.tiles_skipped, again.tiles_computed) == (1024, 4, 0)
    np.testing.assert_array_equal(zarr.open_array(again.output, mode="r")[...], written)
    with pytest.raises(ValueError, match=(r"with other settings \(differing: halo, mu, tile\); the output's mu is "
                                          r"0.01, this run's 0.02; pass ")):
        run(scan, psf, mu=0.02, n_workers=3, progress=False)


def test_a_given_tile_resumes_what_it_was_rounded_up_to_before(tmp_path, client):
    """Earlier versions rounded a tile of no whole number of chunks up, where it now rounds down: their outputs were
    refused their resume as differing in tile (found by a probe)."""
    scene = np.zeros((2048, 1024), np.uint8)
    scene[:512, :512] = data.camera()
    scan = _write(tmp_path / "slide.zarr", scene, chunks=512)
    psf = tiledeblur.gaussian_psf(9, 1.5)
    first = run(scan, psf, mu=0.01, tile=1024, client=client, progress=False)  # what tile=1000 wrote before
    with pytest.warns(UserWarning, match="rounded down"):
        again = run(scan, psf, mu=0.01, tile=1000, client=client, progress=False)
    assert (again.plan.tile, again.tiles_skipped, again.tiles_computed) == (1024, 2, 0)
    assert again.output == first.output
    with pytest.warns(UserWarning, match="rounded down"), pytest.raises(ValueError, match=r"differing: tile\)"):
        run(scan, psf, mu=0.01, tile=1600, client=client, progress=False)  # 1024 is no rounding of 1600


def test_an_output_of_one_mu_for_every_channel_resumes(tmp_path, article_psf, client):
    """Versions before per-channel weights recorded one mu for all channels; their outputs were refused their
    resume as differing in mu, which the same command had given (found by a probe)."""
    scan = _write(tmp_path / "rgb.zarr", data.astronaut()[:128, :128], chunks=64)
    first = run(scan, article_psf, mu=0.01, tile=64, channel_axis=-1, client=client, progress=False)
    output = zarr.open_array(first.output, mode="r+")
    recorded = output.attrs["tiledeblur"]
    output.attrs["tiledeblur"] = {**recorded, "settings": {**recorded["settings"], "mu": 0.01}}  # as they wrote it
    again = run(scan, article_psf, mu=0.01, tile=64, channel_axis=-1, client=client, progress=False)
    assert (again.tiles_skipped, again.tiles_computed) == (4, 0)
    with pytest.raises(ValueError, match=r"differing: halo, mu\); the output's mu is 0.01, this run's 0.02; pass"):
        run(scan, article_psf, mu=0.02, tile=64, channel_axis=-1, client=client, progress=False)


def test_an_output_resumes_only_with_its_own_denoise(tmp_path, article_psf, client):
    """The pass of non-local means changes every tile, and a tile's halo: the outputs with and without it differ."""
    scan = _write(tmp_path / "camera.zarr", data.camera()[:128, :128], chunks=64)
    first = run(scan, article_psf, mu=0.01, tile=64, denoise=False, client=client, progress=False)
    with pytest.raises(ValueError, match=r"differing: denoise, halo\); pass overwrite=True"):
        run(scan, article_psf, mu=0.01, tile=64, client=client, progress=False)
    again = run(scan, article_psf, mu=0.01, tile=64, denoise=False, client=client, progress=False)
    assert (again.output, again.tiles_skipped, again.tiles_computed) == (first.output, 4, 0)
    denoised = run(scan, article_psf, output=tmp_path / "denoised.zarr", mu=0.01, tile=64, client=client,
                   progress=False)
    assert denoised.plan.halo == first.plan.halo + REACH
    # The noise is estimated with the PSF: named "denoise" alone, it was taken for the option (found by a probe).
    with pytest.raises(ValueError, match=r"differing: denoise's noise estimate, halo, psf\); pass overwrite=True"):
        run(scan, tiledeblur.gaussian_psf(9, 1.5), output=denoised.output, mu=0.01, tile=64, client=client,
            progress=False)
    with pytest.raises(ValueError, match=r"differing: denoise, halo\); pass overwrite=True"):
        run(scan, article_psf, output=denoised.output, mu=0.01, tile=64, denoise=False, client=client,
            progress=False)


def test_the_input_named_through_a_link_resumes(tmp_path, small_scan, small_reference_report, article_psf, client):
    """One input spelled two ways: the rerun was refused as another input (found by a probe)."""
    link = tmp_path / "scans"
    link.symlink_to(Path(small_scan[0]).parent)
    again = run(link / Path(small_scan[0]).name, article_psf, output=small_reference_report.output, **SMALL,
                client=client, progress=False)
    assert (again.tiles_computed, again.tiles_skipped) == (0, 16)


def test_resume_after_what_a_kill_or_a_file_manager_leaves(tmp_path, small_scan, small_reference, article_psf,
                                                           client):
    """An empty folder or an OME group without level 0 (a driver killed while creating them), stray files."""
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    report = run(small_scan[0], article_psf, output=empty, **SMALL, client=client, progress=False)
    assert report.tiles_computed == 16
    np.testing.assert_array_equal(zarr.open_array(empty, mode="r")[...], small_reference)
    (empty / MARKER_FOLDER / ".DS_Store").write_bytes(b"")
    (empty / MARKER_FOLDER / "9.9").write_bytes(b"")  # no tile of this plan
    report = run(small_scan[0], article_psf, output=empty, **SMALL, client=client, progress=False)
    assert (report.tiles_computed, report.tiles_skipped) == (0, 16)

    ome = tmp_path / "ome.zarr"
    run(small_scan[0], article_psf, output=ome, **SMALL, ome=True, client=client, progress=False)
    shutil.rmtree(ome / "0")
    report = run(small_scan[0], article_psf, output=ome, **SMALL, ome=True, client=client, progress=False)
    assert report.tiles_computed == 16
    np.testing.assert_array_equal(zarr.open_group(ome, mode="r")["0"][...], small_reference)
    with pytest.raises(ValueError, match="other settings"):
        run(small_scan[0], article_psf, output=ome, **SMALL, mu=0.02, ome=True, client=client, progress=False)
    # Level 0 there but unreadable is no half-made output: made anew, it would lose every tile (found in a review).
    (ome / "0" / "zarr.json").write_text("{damaged")
    with pytest.raises(ValueError, match="output: expected an output whose array '0' can be read"):
        run(small_scan[0], article_psf, output=ome, **SMALL, ome=True, client=client, progress=False)
    assert _markers(ome / "0") == 18  # its 16 tiles and its pyramid's two levels, kept


def test_ome_asked_for_over_a_plain_output(tmp_path, small_scan, small_reference_report, small_reference, article_psf,
                                          client):
    output = small_reference_report.output
    with pytest.raises(ValueError, match="exists and was written from another input or with other settings"):
        run(small_scan[0], article_psf, output=output, **SMALL, ome=True, client=client, progress=False)
    replaced = tmp_path / "replaced.zarr"
    shutil.copytree(output, replaced)
    run(small_scan[0], article_psf, output=replaced, **SMALL, ome=True, overwrite=True, client=client,
        progress=False)
    np.testing.assert_array_equal(zarr.open_group(replaced, mode="r")["0"][...], small_reference)


def test_a_tile_of_an_earlier_run_never_writes_into_a_replaced_output(tmp_path, small_scan, article_psf, client):
    """A task of an interrupted run that finishes after ``overwrite=True`` made the output anew writes nothing."""
    output = tmp_path / "out.zarr"
    run(small_scan[0], article_psf, output=output, tile=64, mu=0.02, client=client, progress=False)
    earlier = prepare(small_scan[0], article_psf, output=output, component=None, channel_axis=None, tile=64,
                      halo="auto", loss="tikhonov", mu=0.02, eps=DEFAULT_EPS, tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER,
                      storage_options=None, out_dtype="float32", memory_limit=None, workers=1)
    earlier_job = dataclasses.replace(earlier.job, run=zarr.open_array(output, mode="r").attrs["tiledeblur"]["run"])
    run(small_scan[0], article_psf, output=output, tile=64, mu=0.01, overwrite=True, client=client, progress=False)
    replaced = zarr.open_array(output, mode="r")[...]
    with pytest.raises(OutputReplacedError, match="tile .* not written: .* was replaced by another run"):
        process_tile(earlier_job, next(iter(earlier.plan.tiles())))
    # Refused before it reads or solves anything (found by a probe: the loser of two runs solved every tile).
    unreadable = dataclasses.replace(earlier_job.source, url=str(tmp_path / "gone.zarr"))
    with pytest.raises(OutputReplacedError):
        process_tile(dataclasses.replace(earlier_job, source=unreadable), next(iter(earlier.plan.tiles())))
    # The earlier run's tiles, as dask runs them: it stops at the first, and the message promises no resume.
    with pytest.raises(TileError, match=r"1 of 16 tiles failed; .* No further tile was started: the output is no "
                                        "longer this run's, and holds nothing to resume."):
        _compute_tiles(client, dataclasses.replace(earlier, job=earlier_job), set(), show_progress=False)
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], replaced)
    # An overwrite with the same settings too: the earlier run may have read the input before a change that the
    # fingerprint does not see (found by a probe).
    same_settings = dataclasses.replace(earlier_job, run=zarr.open_array(output, mode="r").attrs["tiledeblur"]["run"])
    run(small_scan[0], article_psf, output=output, tile=64, mu=0.01, overwrite=True, client=client, progress=False)
    with pytest.raises(OutputReplacedError, match="tile .* not written: .* was replaced by another run"):
        process_tile(same_settings, next(iter(earlier.plan.tiles())))
    shutil.rmtree(output)  # as an overwrite does before it creates the output anew
    with pytest.raises(OutputReplacedError, match="tile .* not written: this worker does not find .*, which another run removed or is replacing"):
        process_tile(earlier_job, next(iter(earlier.plan.tiles())))


def test_an_unconverged_tile_warns_at_the_callers_line(tmp_path, small_scan, article_psf, client):
    """run()'s ConvergenceWarning pointed into tiledeblur, where its other warnings point at the caller (a probe)."""
    with pytest.warns(tiledeblur.ConvergenceWarning, match="Newton-CG did not converge") as caught:
        run(small_scan[0], article_psf, output=tmp_path / "out.zarr", tile=64, mu=1e-4, maxiter=1, client=client,
            progress=False)
    assert {Path(warning.filename).name for warning in caught} == {Path(__file__).name}


def test_the_fingerprint_sees_a_change_in_any_chunk_of_a_small_scan(tmp_path, small_scan):
    """A slide's first, middle and last chunks are often all glass: another slide of its size must not resume."""
    scan = zarr.open_array(_write(tmp_path / "scan.zarr", small_scan[1]), mode="r+")
    original = fingerprint(scan)
    for row, col in np.ndindex(4, 4):
        region = (slice(64 * row, 64 * row + 64), slice(64 * col, 64 * col + 64))
        kept = scan[region]
        scan[region] = kept[::-1]
        assert fingerprint(scan) != original, (row, col)
        scan[region] = kept
    assert fingerprint(scan) == original


def test_resume_knows_the_input_however_it_is_spelled(tmp_path, small_scan, article_psf, client, monkeypatch):
    shutil.copytree(small_scan[0], tmp_path / "scan.zarr")
    monkeypatch.chdir(tmp_path)
    first = run("scan.zarr", article_psf, **SMALL, client=client, progress=False)
    again = run(tmp_path / "scan.zarr", article_psf, **SMALL, client=client, progress=False)
    assert again.output == first.output == str(tmp_path / "scan.deblurred.zarr")
    assert (again.tiles_computed, again.tiles_skipped) == (0, 16)


def test_failing_tile_keeps_the_others(tmp_path, small_scan, article_psf, client, monkeypatch):
    scan = _write(tmp_path / "scan.zarr", small_scan[1])
    # The fingerprint reads every chunk of so small a scan; sampling three, (0, 0), (1, 3) and (3, 3), lets the
    # broken chunk reach a tile, as it would in a large scan. With the halo below 128 px (75 px here), the tiles of
    # the last row never read the first row's chunks, so those tiles finish.
    monkeypatch.setattr(tiledeblur.io, "FINGERPRINT_CHUNKS", 3)
    chunk = scan / "c" / "0" / "1"
    original = chunk.read_bytes()
    chunk.write_bytes(b"not a zstd frame")
    output = tmp_path / "out.zarr"
    # laplacian at a fixed mu, without denoising: mu="auto", denoise's noise level and nlmeans' contrast would
    # sample the broken chunk before any tile runs.
    options = {"output": output, "tile": 64, "loss": "laplacian", "mu": 0.005, "denoise": False, "client": client,
               "progress": False}
    with pytest.raises(TileError, match=r"tiles failed; the first, tile \(\d, \d\) at y \d+:\d+, x \d+:\d+"):
        run(scan, article_psf, **options)
    # With overwrite the same call would start anew: it is told to resume without (found by a probe).
    with pytest.raises(TileError, match="Every other tile is written: fix the cause and run again without "
                                        "overwrite=True to compute only the missing tiles."):
        run(scan, article_psf, **options, overwrite=True)
    finished = _markers(output)
    assert 0 < finished < 16
    # The failed tasks leave the user's scheduler, though the client lives on.
    deadline = time.monotonic() + 10
    while any(key.startswith("deconvolve-tile") for key in client.futures) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [key for key in client.futures if key.startswith("deconvolve-tile")]
    # A rerun before the cause is fixed tries only the failed tiles, and must not claim to have written others.
    with pytest.raises(TileError, match=rf"{16 - finished} of 16 tiles failed; .* None of this run's tiles was "
                                        rf"written: fix the cause and run again. The {finished} tiles that earlier "
                                        "runs wrote are kept."):
        run(scan, article_psf, **options)
    chunk.write_bytes(original)
    report = run(scan, article_psf, **options)
    assert report.tiles_computed == 16 - finished
    reference = run(scan, article_psf, **{**options, "output": tmp_path / "reference.zarr"})
    assert reference.tiles_computed == 16
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...],
                                  zarr.open_array(reference.output, mode="r")[...])


def test_an_input_that_changes_while_the_run_reads_it_is_never_called_done(tmp_path, small_scan, small_reference,
                                                                          small_reference_report, article_psf,
                                                                          client, monkeypatch):
    """Found by a probe: chunks moved away mid-run read as zeros, and those tiles were marked done for good."""
    scan = tmp_path / "scan.zarr"
    shutil.copytree(small_scan[0], scan)
    real_compute = tiledeblur.pipeline._compute_tiles

    def chunks_vanish_meanwhile(*args, **kwargs):
        computed = real_compute(*args, **kwargs)
        (scan / "c").rename(tmp_path / "chunks")  # as the probe's mv: the metadata stays
        return computed

    monkeypatch.setattr(tiledeblur.pipeline, "_compute_tiles", chunks_vanish_meanwhile)
    output, settings = tmp_path / "out.zarr", {"loss": small_reference_report.loss, "mu": small_reference_report.mu}
    with pytest.raises(TileError, match=r"the input '.*scan\.zarr' changed while this run read it: its fingerprint, "
                                        r"taken again once every tile was written, differs from the start's, .* run "
                                        r"again and pass overwrite=True\.$"):
        run(scan, article_psf, output=output, tile=64, **settings, client=client, progress=False)
    monkeypatch.undo()
    (tmp_path / "chunks").rename(scan / "c")
    with pytest.raises(ValueError, match=r"output: expected an output to resume, got '.*out\.zarr', whose input "
                                         r"changed while a run wrote it, so that its tiles may hold old data; pass "
                                         r"overwrite=True to replace it\.$"):
        run(scan, article_psf, output=output, tile=64, **settings, client=client, progress=False)
    report = run(scan, article_psf, output=output, tile=64, **settings, overwrite=True, client=client, progress=False)
    assert report.tiles_computed == 16
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], small_reference)


def test_identical_runs_started_together_both_finish_the_one_output(tmp_path, small_scan, small_reference,
                                                                    small_reference_report, article_psf, client,
                                                                    monkeypatch):
    """Found by a probe: the run that lost the race to create the output was refused, as if asked for a new path."""
    looked = threading.Barrier(2, timeout=60)
    looks = []
    real_look = tiledeblur.planning.existing_output

    def look_together(*args):
        found = real_look(*args)
        looks.append(found)
        if len(looks) <= 2:  # each run's first look: both see no output, and both go on to create it
            looked.wait()
        return found

    monkeypatch.setattr(tiledeblur.planning, "existing_output", look_together)
    output, reports, errors = tmp_path / "out.zarr", [], []

    def deblur():
        try:
            reports.append(run(small_scan[0], article_psf, output=output, tile=64, loss=small_reference_report.loss,
                               mu=small_reference_report.mu, client=client, progress=False))
        except Exception as error:  # noqa: BLE001 -- the assertion below shows it
            errors.append(error)

    runs = [threading.Thread(target=deblur) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=300)
    assert not errors and len(reports) == 2
    # Both saw no output. Where Zarr refused the second creation, that run looked again and resumed the first's.
    assert looks[:2] == [None, None]
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], small_reference)


def test_existing_scheduler(tmp_path, small_scan, small_reference, article_psf):
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--host", "127.0.0.1", "--scheduler-file", str(scheduler_file), "--no-dashboard"]
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0", *common])
    worker = None
    try:
        while not scheduler_file.exists():
            time.sleep(0.1)
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--nthreads", "1", *common])
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        output = tmp_path / "out.zarr"
        run(small_scan[0], article_psf, output=output, **SMALL, address=address, progress=False)
        np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], small_reference)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_ome_zarr_in_gives_ome_zarr_out_with_a_pyramid(tmp_path, small_scan, small_reference, article_psf, client,
                                                       monkeypatch, capfd):
    monkeypatch.setattr(tiledeblur.ome, "PYRAMID_BAND_CHUNKS", 1)  # level 1 in two bands, as a large image's are
    group = zarr.open_group(tmp_path / "ome.zarr", mode="w", zarr_format=3)
    group.create_array("full", data=small_scan[1], chunks=(64, 64), attributes={"long_name": "DAPI"})
    group.create_array("half", data=small_scan[1][::2, ::2], chunks=(64, 64))
    axes = [{"name": "y", "type": "space", "unit": "micrometer"}, {"name": "x", "type": "space", "unit": "micrometer"}]
    datasets = [{"path": path, "coordinateTransformations": [{"type": "scale", "scale": [0.25 * f, 0.25 * f]},
                                                             {"type": "translation", "translation": [100.0, 200.0]}]}
                for path, f in (("full", 1), ("half", 2))]
    # The pixel size given once for the whole multiscale, and channel metadata: kept (found by a probe).
    once = [{"type": "scale", "scale": [2.0, 2.0]}]
    omero = {"channels": [{"label": "DAPI", "color": "0000FF", "window": {"start": 0, "end": 255}}]}
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets, "name": "slide 7",
                                                             "coordinateTransformations": once}], "omero": omero}
    report = run(tmp_path / "ome.zarr", article_psf, **SMALL, client=client, progress=False)
    assert report.output == str(tmp_path / "ome.deblurred.zarr")
    out = zarr.open_group(report.output, mode="r")
    multiscale = out.attrs["ome"]["multiscales"][0]
    assert out.attrs["ome"]["version"] == "0.5" and multiscale["axes"] == axes
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales == [[0.25, 0.25], [0.5, 0.5], [1.0, 1.0]]
    # Each level's pixel is centred on the pixels it averages: half a pixel of the level before further on.
    translations = [d["coordinateTransformations"][1]["translation"] for d in multiscale["datasets"]]
    assert translations == [[100.0, 200.0], [100.125, 200.125], [100.375, 200.375]]
    assert multiscale["coordinateTransformations"] == once
    assert multiscale["name"] == "slide 7"  # viewers show it for the image
    assert multiscale["type"] == "mean"  # how the levels were made, which NGFF asks for
    # Display windows follow the values: uint8 counts became floats in [0, 1].
    window = {"start": 0.0, "end": 1.0}
    assert out.attrs["ome"]["omero"] == {"channels": [{"label": "DAPI", "color": "0000FF", "window": window}]}
    np.testing.assert_array_equal(out["0"][...], small_reference)
    assert [out[d["path"]].shape for d in multiscale["datasets"]] == [(256, 256), (128, 128), (64, 64)]
    # NGFF 0.5 requires each array's dimension names.
    assert all(out[d["path"]].metadata.dimension_names == ("y", "x") for d in multiscale["datasets"])
    for level in (1, 2):
        finer = out[str(level - 1)][...].astype(np.float64)
        expected = finer.reshape(finer.shape[0] // 2, 2, finer.shape[1] // 2, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(out[str(level)][...], expected, rtol=1e-6, atol=1e-6)  # float32 means
        assert out[str(level)].chunks == (64, 64)
        # Each level describes its values as level 0 does (found by a probe: a CF reader decoded them 510 times
        # apart); the run's record stays with level 0, whose markers vouch for its chunks.
        assert out[str(level)].attrs.asdict() == {"long_name": "DAPI"} and "tiledeblur" in out["0"].attrs
    # The same run again finds every tile and the pyramid done, and rebuilds nothing (a probe's rerun of a finished
    # 100k² run rebuilt the pyramid for 6 minutes, and Ctrl-C then left level 1 without most of its chunks).
    built = (Path(report.output) / "1" / "zarr.json").stat().st_mtime_ns
    again = run(tmp_path / "ome.zarr", article_psf, **SMALL, client=client, progress=False)
    assert (again.tiles_computed, again.tiles_skipped) == (0, 16)
    assert (Path(report.output) / "1" / "zarr.json").stat().st_mtime_ns == built
    # A run stopped in level 2 resumes there (a probe's rerun built a 50k² slide's pyramid anew, level 1's 207 s
    # again); a tile written again builds every level again. Each level is told in its parts.
    levels = [out[str(level)][...] for level in (1, 2)]
    markers = Path(report.output) / "0" / MARKER_FOLDER
    (markers / "pyramid.2").unlink()
    capfd.readouterr()
    run(tmp_path / "ome.zarr", article_psf, **SMALL, client=client)
    told = capfd.readouterr().err
    assert "pyramid: level 2 of 2\n" in told and "level 1 of 2" not in told
    assert (Path(report.output) / "1" / "zarr.json").stat().st_mtime_ns == built
    (markers / "0.0").unlink()
    run(tmp_path / "ome.zarr", article_psf, **SMALL, client=client)
    told = capfd.readouterr().err
    assert all(f"pyramid: {level}\n" in told for level in ("level 1 of 2 (part 1 of 2)", "level 1 of 2 (part 2 of 2)",
                                                           "level 2 of 2"))
    for level, before in zip((1, 2), levels):
        np.testing.assert_array_equal(out[str(level)][...], before)
    # A coarser level read: its own pixel size, not level 0's; its blur is half as wide as the PSF, and so said.
    with pytest.warns(tiledeblur.PsfWarning, match="wider or longer than the image's blur"):
        half = run(tmp_path / "ome.zarr", article_psf, component="half", output=tmp_path / "half.zarr", **SMALL,
                   client=client, progress=False)
    datasets = zarr.open_group(half.output, mode="r").attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["coordinateTransformations"][0]["scale"] for d in datasets] == [[0.5, 0.5], [1.0, 1.0]]
    # NumPy's False asks for a plain array as False does (found by a probe: it wrote OME-Zarr).
    plain = run(tmp_path / "ome.zarr", article_psf, ome=np.False_, output=tmp_path / "plain.zarr", **SMALL,
                client=client, progress=False)
    np.testing.assert_array_equal(zarr.open_array(plain.output, mode="r")[...], small_reference)


def test_pyramid_halving_warns_of_nothing_from_many_threads():
    """catch_warnings is not thread-safe: convert --ome, on dask's threads, printed numpy's "Mean of empty slice"
    in about half of its runs over a mosaic with blank regions (found by a probe)."""
    blank = np.full((64, 2, 64, 2), np.nan, dtype=np.float32)
    raised = []

    def halve():
        try:
            for _ in range(300):
                _mean_of_present(blank, axis=(1, 3))
        except RuntimeWarning as warning:
            raised.append(warning)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        threads = [threading.Thread(target=halve) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not raised


def test_ome_zarr_0_3_with_one_z_plane(tmp_path, small_scan, article_psf, client):
    """NGFF 0.3 names its axes with plain strings; a single z plane is carried along, and never halved."""
    group = zarr.open_group(tmp_path / "old.zarr", mode="w", zarr_format=2)
    group.create_array("0", data=small_scan[1][None, :128, :128], chunks=(1, 64, 64))
    group.attrs["multiscales"] = [{"version": "0.3", "axes": ["z", "y", "x"], "datasets": [{"path": "0"}]}]
    report = run(tmp_path / "old.zarr", article_psf, tile=64, client=client, progress=False)
    out = zarr.open_group(report.output, mode="r")
    multiscale = out.attrs["multiscales"][0]
    assert multiscale["version"] == "0.4" and [a["name"] for a in multiscale["axes"]] == ["z", "y", "x"]
    assert [out[d["path"]].shape for d in multiscale["datasets"]] == [(1, 128, 128), (1, 64, 64)]
    assert multiscale["datasets"][1]["coordinateTransformations"] == [
        {"type": "scale", "scale": [1.0, 2.0, 2.0]}, {"type": "translation", "translation": [0.0, 0.5, 0.5]}]


def test_long_motion_blur_at_a_small_weight_has_no_seams(tmp_path, client):
    """A 21 px motion line at mu 1e-3, whose halo the rule once cut at 256 px: tiles differed by 1.1e-2."""
    psf = np.zeros((21, 21))
    rows, columns, values = line_aa(19, 8, 1, 12)  # a line at about 80 degrees through the centre
    psf[rows, columns] = values
    scene = color.rgb2gray(data.immunohistochemistry())[:348, :314]
    observed = scipy.signal.fftconvolve(scene, psf / psf.sum(), mode="valid")
    observed += np.random.default_rng(0).normal(0, 0.005, observed.shape)
    # Each tile reads the whole image, as the rule asks: a halo under 200 px would cut the corner tiles short.
    scan = _write(tmp_path / "streaked.zarr", observed.astype(np.float32), chunks=128)
    report = run(scan, psf, tile=128, mu=1e-3, client=client, progress=False)
    whole = deconvolve(observed.astype(np.float32), psf, mu=1e-3)
    assert np.abs(zarr.open_array(report.output, mode="r")[...] - whole).max() <= 1e-3
    zarr.create_array(tmp_path / "big.zarr", shape=(3000, 3000), chunks=(512, 512), dtype="u1")  # never written
    with pytest.warns(tiledeblur.HaloWarning, match="halo: the rule for halo='auto' asks for more than 1024 px"):
        tiledeblur.plan(tmp_path / "big.zarr", psf, mu=1e-3)
    # The middle tile of a 2304 px strip reads it whole, its neighbours do not (found by a probe: no warning).
    zarr.create_array(tmp_path / "strip.zarr", shape=(300, 2304), chunks=(256, 256), dtype="u1")
    with pytest.warns(tiledeblur.HaloWarning):
        tiledeblur.plan(tmp_path / "strip.zarr", psf, mu=1e-3, tile=256)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiledeblur.HaloWarning)
        zarr.create_array(tmp_path / "short.zarr", shape=(300, 2048), chunks=(256, 256), dtype="u1")
        tiledeblur.plan(tmp_path / "short.zarr", psf, mu=1e-3, tile=1024)  # both tiles read the whole strip


def test_a_given_halo_below_the_automatic_one_warns(tmp_path, small_scan, article_psf, client):
    """Found by a probe: halo=2 was taken where "auto" picks 25, without a word; the PSF's radius is not enough."""
    automatic = tiledeblur.plan(small_scan[0], article_psf, tile=64, mu=0.01, denoise=False).halo
    with pytest.warns(tiledeblur.HaloWarning, match=f"halo: expected at least the {automatic} px that halo='auto' "
                                                    "picks at this PSF and mu, got 6; tiles may differ") as caught:
        short = run(small_scan[0], article_psf, tile=64, halo=6, mu=0.01, denoise=False, output=tmp_path / "o.zarr",
                    client=client, progress=False)
    assert {warning.filename for warning in caught if warning.category is tiledeblur.HaloWarning} == {__file__}
    whole = deconvolve(small_scan[1], article_psf, mu=0.01, denoise=False)
    assert np.abs(zarr.open_array(short.output, mode="r")[...] - whole).max() > 1e-3  # the seams it warns of
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiledeblur.HaloWarning)
        tiledeblur.plan(small_scan[0], article_psf, tile=64, halo=automatic, mu=0.01, denoise=False)


def test_tv_at_a_large_weight_with_a_narrow_psf_has_no_seams(tmp_path, client):
    """The rule at mu alone gave a 6 px halo, and tiles 3.4e-3 from the whole image (found by a probe)."""
    psf = tiledeblur.gaussian_psf(5, 0.7)
    observed = scipy.signal.fftconvolve(data.camera()[:164, :204] / 255, psf, mode="valid")
    observed += np.random.default_rng(0).normal(0, 0.02, observed.shape)
    report = run(_write(tmp_path / "narrow.zarr", observed), psf, tile=64, loss="tv", mu=0.1, out_dtype="float64",
                 client=client, progress=False)
    assert report.plan.halo >= 12
    whole = deconvolve(observed, psf, loss="tv", mu=0.1)
    assert np.abs(zarr.open_array(report.output, mode="r")[...] - whole).max() <= 1e-3


def test_black_background_with_tv(tmp_path, small_scan, article_psf, client):
    """Tiles whose pixels and halo are all zero, as on a slide's background, are zero, not a failure."""
    scan = small_scan[1][:192, :192].copy()
    scan[:144, :144] = 0
    report = run(_write(tmp_path / "dark.zarr", scan), article_psf, tile=64, loss="tv", mu=2e-3, client=client,
                 progress=False)
    assert report.tiles_computed == 9 and report.plan.halo < 144 - 64
    restored = zarr.open_array(report.output, mode="r")[...]
    np.testing.assert_array_equal(restored[:64, :64], 0)  # the one tile read within the black square
    assert restored[144:, 144:].std() > 0.1


def test_plan_computes_nothing(tmp_path, small_scan, article_psf):
    # laplacian's plans: "auto" solves sample regions to choose, which plan does too, but no tile.
    plan = tiledeblur.plan(small_scan[0], article_psf, loss="laplacian", tile=100)
    assert (plan.tile, plan.chunk, plan.grid) == (100, 100, (3, 3))
    assert plan.halo >= 6
    assert "9 tiles" in plan.describe() and f"; mu {plan.mu:.3g}; " in plan.describe()
    assert not Path(str(small_scan[0]).replace(".zarr", ".deblurred.zarr")).exists()
    # A float32 weight is the decimal written, which a rerun given --mu 0.01 resumes (found by a probe).
    for mu in (np.float32(0.01), np.array(0.01, dtype=np.float32), [np.float32(0.01)]):
        assert tiledeblur.plan(small_scan[0], article_psf, tile=100, mu=mu).mu == 0.01
    # A tile and halo beyond the image read the image once, and the estimate says so.
    whole = tiledeblur.plan(small_scan[0], article_psf, loss="laplacian", tile=10**6, halo=10**6)
    assert len(whole) == 1 and whole.largest_read() == whole.shape
    assert f"about {estimate_tile_bytes(whole.shape, 6) / 2**20:.0f} MiB per worker thread; " in whole.describe()
    # Such a tile's warning names it as the plan does, not as the whole output chunks that it spans past the image
    # (found by a probe: "100352 px tiles" for a plan of "1 tile of 100000 px").
    zarr.create_array(tmp_path / "strip.zarr", data=np.tile(data.camera()[:40], 2)[:, :600], chunks=(40, 128))
    with pytest.warns(tiledeblur.TileMemoryWarning, match="tile: tiles of 40 x 600 px need about"):
        one = tiledeblur.plan(tmp_path / "strip.zarr", article_psf, tile=10**6, mu=0.01, denoise=False,
                              memory_limit="100 MiB")
    assert one.tile > 600 and "1 tile (1 x 1) of 40 x 600 px" in one.describe()
    for limit in (100 * 2**20, "100 MiB", "104.8576MB"):  # a size also as dask writes one
        with pytest.warns(tiledeblur.TileMemoryWarning, match="tile: tiles of 128 px need about 1..\\.. MiB each by "
                                                              "the estimate, more than 80% of the workers' memory "
                                                              "limit of 100.0 MiB per thread \\(each thread solves "
                                                              "a tile\\), where dask pauses them"):
            tiledeblur.plan(small_scan[0], article_psf, loss="laplacian", tile=128, memory_limit=limit)
    # Where it pauses them, not the limit itself (found by a probe: 281 MiB passed on 286 MiB workers, which paused
    # at 229 MiB holding the last tile while the others idled).
    needed = tiledeblur.plan(small_scan[0], article_psf, tile=128, mu=0.01).tile_bytes()
    with pytest.warns(tiledeblur.TileMemoryWarning, match="more than 80% of the workers' memory limit"):
        tiledeblur.plan(small_scan[0], article_psf, tile=128, mu=0.01, memory_limit=int(needed / 0.9))
    with dask.config.set({"distributed.worker.memory.pause": False}), warnings.catch_warnings():
        warnings.simplefilter("error", tiledeblur.TileMemoryWarning)
        tiledeblur.plan(small_scan[0], article_psf, tile=128, mu=0.01, memory_limit=int(needed / 0.9))
    # A tile that the user did not choose is told as chosen (found by a probe: "--tile: tiles of 512 px" as if asked).
    with pytest.warns(tiledeblur.TileMemoryWarning, match="tile: tiles of 256 px, the smallest automatic tile, need "
                                                          "about"):
        tiledeblur.plan(small_scan[0], article_psf, mu=0.01, memory_limit="10 MiB")
    # Found by a probe: a limit under 1 MiB was told as "0 MiB".
    with pytest.warns(tiledeblur.TileMemoryWarning, match="the workers' memory limit of 1 B per thread"):
        tiledeblur.plan(small_scan[0], article_psf, mu=0.01, memory_limit=1)
    with pytest.raises(TypeError, match=r"memory_limit: expected an int of bytes or a size such as '4 GiB', got 4000000000.0 instead"):
        tiledeblur.plan(small_scan[0], article_psf, loss="laplacian", memory_limit=4e9)
    for limit in (-1, "", "lots", "-1 GB"):
        with pytest.raises(ValueError, match=f"memory_limit: expected a positive number of bytes or a size such as "
                                             f"'4 GiB', got {limit!r} instead"):
            tiledeblur.plan(small_scan[0], article_psf, loss="laplacian", memory_limit=limit)


@pytest.mark.parametrize("tile", ["auto", 10**6])
def test_an_image_smaller_than_a_chunk_is_one_chunk_of_its_size(tmp_path, tile):
    """Found by a probe: a 128 x 200 image was written as one 512 px chunk, against the README's word."""
    path = tmp_path / "scan.zarr"
    zarr.create_array(path, data=data.camera()[:128, :200], chunks=(64, 64))
    small = tiledeblur.plan(path, tiledeblur.gaussian_psf(5, 1.0), tile=tile, mu=0.01, n_workers=1)
    # One tile of the image's size, however large the tile given: runs with others must resume each other (a probe).
    assert (small.tile, small.chunk, len(small)) == (200, 200, 1)
    assert "1 tile (1 x 1) of 128 x 200 px, written as output chunks of 200 px" in small.describe()


def test_auto_mu_is_one_mu_for_the_whole_image(tmp_path, small_scan, article_psf, client):
    report = run(small_scan[0], article_psf, output=tmp_path / "auto.zarr", **SMALL, mu="auto", client=client,
                 progress=False)
    recorded = zarr.open_array(report.output, mode="r").attrs["tiledeblur"]["settings"]["mu"]
    assert recorded == report.mu
    whole = deconvolve(small_scan[1], article_psf, loss=report.loss, mu=report.mu)
    assert np.abs(zarr.open_array(report.output, mode="r")[...] - whole).max() <= 1e-3


def test_nonneg(tmp_path, small_scan, article_psf, client):
    """The default loss, "auto", chooses as it does without the bound, and nlmeans' tiles hold it as the whole image's
    solve does."""
    report = run(small_scan[0], article_psf, output=tmp_path / "bounded.zarr", tile=128, nonneg=True, client=client,
                 progress=False)
    bounded = zarr.open_array(report.output, mode="r")[...]
    whole, info = deconvolve(small_scan[1], article_psf, nonneg=True, return_info=True)
    assert bounded.min() >= 0 and (report.loss, report.mu, report.mix) == ("nlmeans", info.mu, info.mix)
    assert np.abs(bounded - whole).max() <= 1e-3


def test_per_channel_psfs_from_a_path_and_input_dtype(tmp_path, article_psf, recorded, client):
    psfs = np.stack([article_psf, article_psf.T, tiledeblur.gaussian_psf(13, 1.5)])
    rgb = recorded(data.astronaut()[200:296, 200:360], psfs)
    scan = _write(tmp_path / "rgb.zarr", rgb, chunks=64)
    np.save(tmp_path / "psfs.npy", psfs)
    # laplacian: the PSFs' sources are tested here, and "auto" would solve nlmeans, 3 times slower.
    report = run(scan, tmp_path / "psfs.npy", loss="laplacian", tile=64, channel_axis=-1, out_dtype="input",
                 client=client, progress=False)
    out = zarr.open_array(report.output, mode="r")
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    whole = deconvolve(rgb, psfs, channel_axis=-1, loss=report.loss, mu=report.mu)
    expected = np.clip(np.round(whole * 255), 0, 255)
    # The solves agree within 1e-3 of the [0, 1] scale, so the rounded bytes within one step.
    assert np.abs(out[...].astype(int) - expected).max() <= 1
    # The same stack with its channels last, as a TIFF made beside a yxc scan holds it; a NumPy axis and tile (found
    # by a probe: a NumPy tile went unconverted into the record's JSON, and a uint16 one overflowed).
    tifffile.imwrite(tmp_path / "psfs.tif", np.moveaxis(psfs, 0, -1), photometric="rgb")
    channels_last = run(scan, tmp_path / "psfs.tif", loss="laplacian", tile=np.uint16(64), channel_axis=np.int64(-1),
                        out_dtype="input", output=tmp_path / "last.zarr", client=client, progress=False)
    np.testing.assert_array_equal(zarr.open_array(channels_last.output, mode="r")[...], out[...])
    with pytest.raises(ValueError, match=r"psf: expected 1 PSF or 3 \(one per channel\), got 2"):
        run(scan, psfs[:2], channel_axis=-1, output=tmp_path / "other.zarr", client=client, progress=False)
    # A list of one file per channel (found by a probe: it was no list), and one that holds a stack.
    for channel, psf in enumerate(psfs):
        np.save(tmp_path / f"psf{channel}.npy", psf)
    files = run(scan, [tmp_path / f"psf{channel}.npy" for channel in range(3)], loss="laplacian", tile=64,
                channel_axis=-1, out_dtype="input", output=tmp_path / "files.zarr", client=client, progress=False)
    np.testing.assert_array_equal(zarr.open_array(files.output, mode="r")[...], out[...])
    with pytest.raises(ValueError, match=r"psf\[1\]: expected a 2-D array, got shape \(3, 13, 13\) instead"):
        run(scan, [psfs[0], tmp_path / "psfs.npy", psfs[2]], channel_axis=-1, output=tmp_path / "other.zarr",
            client=client, progress=False)


def test_psfs_of_several_sizes_and_one_psf_as_nested_lists(tmp_path):
    """A wider PSF for the red channel; a small PSF typed in as a list of rows."""
    rgb = data.astronaut()[:96, :96]
    psfs = [tiledeblur.gaussian_psf(5, 0.8), tiledeblur.gaussian_psf(9, 1.5), tiledeblur.gaussian_psf((7, 11), (1, 2))]
    assert tiledeblur.plan(_write(tmp_path / "rgb.zarr", rgb), psfs, channel_axis=-1, tile=64).psf_radius == 5
    nested = [[0, 1, 0], [1, 4, 1], [0, 1, 0]]
    assert tiledeblur.plan(_write(tmp_path / "gray.zarr", rgb[..., 0]), nested, tile=64).psf_radius == 1


def test_ome_zarr_0_4_in_zarr_format_2_and_ome_on_request(tmp_path, small_scan, small_reference, article_psf,
                                                           client):
    group = zarr.open_group(tmp_path / "ome04.zarr", mode="w", zarr_format=2)
    group.create_array("level0", data=small_scan[1], chunks=(64, 64))
    group.attrs["multiscales"] = [{"version": "0.4", "datasets": [{"path": "level0"}]}]
    report = run(tmp_path / "ome04.zarr", article_psf, loss="laplacian", tile=64, out_dtype="input", client=client,
                 progress=False)
    out = zarr.open_group(report.output, mode="r")
    assert out.metadata.zarr_format == 2 and out.attrs["multiscales"][0]["version"] == "0.4"
    assert out["0"].dtype == np.uint8 and out["2"].shape == (64, 64)
    for level in ("0", "1", "2"):  # NGFF 0.4 asks for nested chunk keys
        assert json.loads((Path(report.output) / level / ".zarray").read_text())["dimension_separator"] == "/"
    plain = run(small_scan[0], article_psf, output=tmp_path / "asked.zarr", **SMALL, ome=True, client=client,
                progress=False)
    asked = zarr.open_group(plain.output, mode="r")
    assert [axis["name"] for axis in asked.attrs["ome"]["multiscales"][0]["axes"]] == ["y", "x"]
    np.testing.assert_array_equal(asked["0"][...], small_reference)
    # A Zarr 3 array's own names stay its axes' (found by a probe: lat, lon became y, x).
    named = zarr.create_array(tmp_path / "named.zarr", data=data.camera()[:64, :64], dimension_names=["lat", "lon"])
    lat_lon = run(named.store.root, article_psf, mu=0.01, denoise=False, ome=True, client=client, progress=False)
    lat_lon = zarr.open_group(lat_lon.output, mode="r")
    assert [axis["name"] for axis in lat_lon.attrs["ome"]["multiscales"][0]["axes"]] == ["lat", "lon"]
    assert lat_lon["0"].metadata.dimension_names == ("lat", "lon")


@pytest.mark.parametrize("shape", [(256, 256, 1), (256, 1, 256)])
def test_one_sample_per_pixel_needs_no_channel_axis(tmp_path, small_scan, small_reference_report, small_reference,
                                                    article_psf, client, shape):
    """A (Y, X, 1) image, as imaging libraries write one sample per pixel, was refused without channel_axis=-1, and
    a (Y, 1, X) one with contradictory advice (found by a probe): one channel is no choice to make."""
    scan = _write(tmp_path / "one.zarr", small_scan[1].reshape(shape))
    report = run(scan, article_psf, loss=small_reference_report.loss, mu=small_reference_report.mu, tile=64,
                 client=client, progress=False)
    np.testing.assert_array_equal(zarr.open_array(report.output, mode="r")[...], small_reference.reshape(shape))


def test_bioformats2raw_tczyx_with_one_time_point_and_z_plane(tmp_path, article_psf, client, recorded):
    """bioformats2raw writes every image 5-D, under "0" of its top group; both were refused (found by a probe)."""
    cyx = np.moveaxis(recorded(data.astronaut()[200:296, 200:328], [article_psf] * 3), -1, 0)
    top = zarr.open_group(tmp_path / "slide.zarr", mode="w", zarr_format=2, attributes={"bioformats2raw.layout": 3})
    top.create_group("OME")
    image = top.create_group("0")
    image.create_array("0", data=cyx[None, :, None], chunks=(1, 3, 1, 64, 64))
    names_and_types = [("t", "time"), ("c", "channel"), ("z", "space"), ("y", "space"), ("x", "space")]
    image.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": n, "type": t} for n, t in names_and_types],
                                   "datasets": [{"path": "0"}]}]
    report = run(tmp_path / "slide.zarr", article_psf, tile=64, client=client, progress=False)
    assert report.output == str(tmp_path / "slide.deblurred.zarr")
    out = zarr.open_group(report.output, mode="r")
    assert [a["name"] for a in out.attrs["multiscales"][0]["axes"]] == list("tczyx")
    assert out["0"].shape == (1, 3, 1, 96, 128) and out["1"].shape == (1, 3, 1, 48, 64)
    whole = deconvolve(cyx, article_psf, channel_axis=0, loss=report.loss, mu=report.mu)
    assert np.abs(out["0"][0, :, 0] - whole).max() <= 1e-3


def test_plan_names_the_array_of_a_group_that_it_reads(tmp_path, article_psf):
    """Found by a probe: neither plan nor run said which array of a group they read, and a bioformats2raw store's
    images after the first went unsaid."""
    top = zarr.open_group(tmp_path / "plate.zarr", mode="w", attributes={"bioformats2raw.layout": 3})
    for name in ("0", "1"):
        image = top.create_group(name)
        image.create_array("0", data=data.camera()[:128, :128], chunks=(64, 64))
        image.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": "y"}, {"name": "x"}],
                                       "datasets": [{"path": "0"}]}]
    # Its OME folder holds the OME-XML alone, without Zarr metadata: zarr warned of it as no node (a probe).
    (tmp_path / "plate.zarr" / "OME").mkdir()
    (tmp_path / "plate.zarr" / "OME" / "METADATA.ome.xml").write_text("<OME/>")
    describe = functools.partial(tiledeblur.plan, psf=article_psf, tile=64, mu=0.01, denoise=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = describe(tmp_path / "plate.zarr").describe()
    assert first.startswith("image 128 x 128 px, array '0/0' of the input's group, the first of its 2 images "
                            "(component names another); ")
    assert describe(tmp_path / "plate.zarr", component="1").describe().startswith(
        "image 128 x 128 px, array '1/0' of the input's group; ")
    assert describe(tmp_path / "plate.zarr" / "0" / "0").describe().startswith("image 128 x 128 px; ")


def test_ome_level_named_by_its_path_and_axes_without_types(tmp_path, article_psf, client, recorded):
    """NGFF 0.4 only recommends axis types, and names them in any case (capitals were refused in words that named no
    argument, found by a probe); and ``image.zarr/0`` is level 0 of the group around it."""
    cyx = np.moveaxis(recorded(data.astronaut()[200:296, 200:328], [article_psf] * 3), -1, 0)
    group = zarr.open_group(tmp_path / "rgb.zarr", mode="w", zarr_format=2)
    group.create_array("0", data=cyx, chunks=(3, 64, 64))
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": n} for n in "CYX"],
                                   "datasets": [{"path": "0"}]}]
    report = run(tmp_path / "rgb.zarr" / "0", article_psf, tile=64, client=client, progress=False)
    out = zarr.open_group(report.output, mode="r")
    assert out["0"].shape == cyx.shape and out["1"].shape == (3, 48, 64)


def test_ome_channel_axis_comes_from_the_metadata(tmp_path, article_psf, client, recorded):
    cyx = np.moveaxis(recorded(data.astronaut()[200:296, 200:328], [article_psf] * 3), -1, 0)
    group = zarr.open_group(tmp_path / "rgb.zarr", mode="w")
    group.create_array("0", data=cyx, chunks=(3, 64, 64))
    axes = [{"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [{"path": "0"}]}]}
    report = run(tmp_path / "rgb.zarr", article_psf, tile=64, client=client, progress=False)
    out = zarr.open_group(report.output, mode="r")
    assert out["0"].shape == cyx.shape and out["1"].shape == (3, 48, 64)
    whole = deconvolve(cyx, article_psf, channel_axis=0, loss=report.loss, mu=report.mu)
    assert np.abs(out["0"][...] - whole).max() <= 1e-3
    # A channel axis that contradicts the metadata was refused as a PSF stack of 128 (found by a probe).
    with pytest.raises(ValueError, match="channel_axis: expected 0 or None, where the OME-Zarr metadata puts the "
                                         "channels, got -1 instead"):
        run(tmp_path / "rgb.zarr", np.stack([article_psf] * 3), channel_axis=-1, output=tmp_path / "x.zarr",
            client=client, progress=False)
