"""The examples run, at their small size, and reach their figures."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import tiledeblur.convert

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_article_reproduction(tmp_path):
    main = runpy.run_path(str(EXAMPLES / "article.py"))["main"]
    blurred_db, restored_db, png = main(tmp_path)
    assert round(blurred_db, 1) == 19.9
    assert restored_db >= 24.0
    assert png.stat().st_size > 10_000


def test_gigapixel_demo_at_small_size(tmp_path):
    main = runpy.run_path(str(EXAMPLES / "gigapixel.py"))["main"]
    result = main(size=600, out_dir=tmp_path, n_workers=2)
    assert result.psnr_deblurred > result.psnr_blurred + 2.0
    assert result.picture.stat().st_size > 50_000


# The option as typed, not the library's argument (found by a probe: --workers 0 was told of n_workers).
@pytest.mark.parametrize(("option", "message"), [(["--size", "100"], "--size: expected at least 310 px, got 100"),
                                                 (["--workers", "0"], "--workers: expected at least 1, got 0")])
def test_gigapixel_demo_refuses_a_bad_option_in_one_line(tmp_path, option, message):
    result = subprocess.run([sys.executable, EXAMPLES / "gigapixel.py", *option, "--out", tmp_path],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: {message} instead." in result.stderr
    assert not any(tmp_path.iterdir())


def test_on_cluster_against_a_running_scheduler(tmp_path, client, recorded):
    import numpy as np
    import zarr
    from skimage import data

    # Scans blurred by the example's PSF, as a user's are: on sharp ones it warns (PsfWarning).
    psfs = [tiledeblur.gaussian_psf(13, (1, 3))]
    zarr.create_array(tmp_path / "scan.zarr", data=recorded(data.camera()[:128, :128], psfs), chunks=(64, 64))
    main = runpy.run_path(str(EXAMPLES / "on_cluster.py"))["main"]
    report = main(client.scheduler.address, tmp_path / "scan.zarr", tile=64, preview=tmp_path / "preview.png")
    assert report.tiles_computed == 4
    assert np.isfinite(zarr.open_array(report.output, mode="r")[...]).all()
    from PIL import Image

    with Image.open(tmp_path / "preview.png") as picture:  # two 128 px panels side by side, with titles
        assert picture.width > 2 * 128 and picture.height > 128
    # An OME-Zarr input too, of a photograph: the preview itself, a noise-free figure, took 18 s to solve.
    Image.fromarray(recorded(data.camera()[:128, 128:256], psfs)).save(tmp_path / "camera.png")
    tiledeblur.convert.convert(tmp_path / "camera.png", tmp_path / "ome.zarr", ome=True)
    report = main(client.scheduler.address, tmp_path / "ome.zarr", tile=64, preview=tmp_path / "ome.png")
    assert report.tiles_computed > 0 and (tmp_path / "ome.png").exists()


def test_on_cluster_refuses_a_preview_before_the_run(tmp_path):
    """It was checked after the run, which replaced an existing picture (found by a probe)."""
    import zarr

    zarr.create_array(tmp_path / "scan.zarr", shape=(64, 64), dtype="uint8")
    (tmp_path / "figure.png").write_text("the user's figure")
    main = runpy.run_path(str(EXAMPLES / "on_cluster.py"))["main"]
    # No scheduler listens at the address: the refusal comes before any connection.
    with pytest.raises(ValueError, match="--preview: expected a new file, got '.*figure.png', which exists"):
        main("tcp://127.0.0.1:1", tmp_path / "scan.zarr", preview=tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_text() == "the user's figure"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figure.png", "scan.zarr"]


def test_on_cluster_names_its_address_as_its_first_argument(tmp_path):
    """Its refusal named an option --address, which it does not have (found by a probe)."""
    import zarr

    zarr.create_array(tmp_path / "scan.zarr", shape=(64, 64), dtype="uint8")
    result = subprocess.run([sys.executable, str(EXAMPLES / "on_cluster.py"), "tcp://127.0.0.1:1",
                             str(tmp_path / "scan.zarr"), "--preview", str(tmp_path / "new.png")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith("on_cluster.py: error: ADDRESS: expected a running dask "
                                                     "scheduler, got 'tcp://127.0.0.1:1'")


def test_mosaic_with_missing_pixels(tmp_path):
    main = runpy.run_path(str(EXAMPLES / "mosaic.py"))["main"]
    blurred_db, deblurred_db, picture = main(out_dir=tmp_path, n_workers=2, size=640)
    assert deblurred_db > blurred_db + 2.0  # measured: 28.81 -> 31.79 dB
    assert picture.stat().st_size > 50_000
    with pytest.raises(ValueError,
                       match=r"size: expected 640 to 864 px \(or no size, for the whole sky\), got 100 instead\."):
        main(out_dir=tmp_path, size=100)
