import _thread
import contextlib
import threading
import time

import numpy as np
import pytest
import zarr
from PIL import Image
from skimage import data

from tiledeblur import gaussian_psf
from tiledeblur.demo import ground_truth, run_demo, save_panels, save_preview, write_scan
from tiledeblur.operators import Blur


def test_ground_truth_is_the_photograph_mirrored_without_seams():
    photo = ground_truth((slice(0, 512), slice(0, 512)))
    np.testing.assert_array_equal(ground_truth((slice(512, 1024), slice(0, 512))), photo[::-1])
    np.testing.assert_array_equal(ground_truth((slice(-512, 0), slice(0, 512))), photo[::-1])
    np.testing.assert_array_equal(ground_truth((slice(0, 512, 2), slice(0, 512, 3))), photo[::2, ::3])


@pytest.mark.parametrize("kind", ["12 bits in uint16", "fluxes with missing pixels"])
def test_preview_is_stretched_to_the_input(tmp_path, kind):
    """12-bit counts were nearly black on the dtype's range, and fluxes in the thousands white."""
    camera = data.camera()[:256, :256]
    if kind == "12 bits in uint16":
        scan = (camera.astype(np.uint16) * 16).astype(np.uint16)
    else:
        scan = camera * 40.0
        scan[:, :32] = np.nan
    source = zarr.create_array(tmp_path / "in.zarr", data=scan)
    save_preview(tmp_path / "preview.png", source, source)
    pixels = np.asarray(Image.open(tmp_path / "preview.png"))
    panel = pixels[26:26 + 256, 8:8 + 256]  # below its title, inside the margin
    low, high = np.percentile(panel[:, 32:], (1, 99))
    assert low < 30 and high > 225
    assert kind != "fluxes with missing pixels" or (panel[:, :32] == 0).all()


def test_preview_of_three_channels_is_in_color(tmp_path):
    """A slide scan's preview was gray, which hides its color fringes."""
    astronaut = data.astronaut()[:256, :256]
    source = zarr.create_array(tmp_path / "in.zarr", data=np.moveaxis(astronaut, -1, 0))  # cyx
    save_preview(tmp_path / "preview.png", source, source, channel_axis=0)
    picture = Image.open(tmp_path / "preview.png")
    panel = np.asarray(picture)[26:26 + 256, 8:8 + 256].astype(float)
    assert picture.mode == "RGB"
    for channel in range(3):  # each color follows its own channel, not their mean
        own = np.corrcoef(panel[..., channel].ravel(), astronaut[..., channel].ravel())[0, 1]
        others = [np.corrcoef(panel[..., channel].ravel(), astronaut[..., other].ravel())[0, 1]
                  for other in range(3) if other != channel]
        assert own > 0.99 and own > max(others)


def test_scan_chunks_join_exactly(tmp_path):
    psf = gaussian_psf(13, (1, 3))
    scan = write_scan(tmp_path / "scan.zarr", 300, psf, noise=0.0, chunk=128)
    assert scan.dtype == np.uint8 and scan.chunks == (128, 128)
    whole = Blur(psf, (300, 300), boundary="free").matvec(ground_truth((slice(-6, 306), slice(-6, 306))))
    expected = np.round(np.clip(whole, 0, 1) * 255)
    assert np.abs(zarr.open_array(tmp_path / "scan.zarr", mode="r")[...] - expected).max() <= 1


def test_demo_never_replaces_a_scan_it_did_not_write(tmp_path):
    """``--out`` pointed at a project folder must not delete the user's scan.zarr."""
    users = zarr.create_array(tmp_path / "scan.zarr", shape=(64, 64), dtype="u1", fill_value=7)
    users[...] = 7
    with pytest.raises(ValueError, match="out_dir: expected a new folder or an earlier demo's, got .*, which holds"):
        run_demo(size=512, out_dir=tmp_path, n_workers=1)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "scan.zarr", mode="r")[...], 7)
    assert not (tmp_path / "scan.deblurred.zarr").exists()
    # Nor a picture of the user's by the demo's name (found by a probe).
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "demo.png").write_bytes(b"the user's")
    with pytest.raises(ValueError, match="out_dir: expected a new folder or an earlier demo's, got .*, which holds "
                                         "a demo.png without the demo's scan.zarr"):
        run_demo(size=512, out_dir=tmp_path / "pictures", n_workers=1)
    assert (tmp_path / "pictures" / "demo.png").read_bytes() == b"the user's"
    (tmp_path / "notes.txt").write_text("not a folder")
    with pytest.raises(ValueError, match="out_dir: expected a folder, got .*notes.txt', which is a file"):
        run_demo(size=512, out_dir=tmp_path / "notes.txt", n_workers=1)
    # Nor a store, nor a folder inside one: the scan went into it before run refused the output (found by a probe).
    stored = sorted((tmp_path / "scan.zarr").rglob("*"))
    for out_dir in (tmp_path / "scan.zarr", tmp_path / "scan.zarr" / "demo"):
        with pytest.raises(ValueError, match=r"out_dir: expected a path outside any Zarr store, got .*scan.zarr/"
                                             r"(demo/)?scan.zarr', which lies inside the Zarr store .*scan.zarr'"):
            run_demo(size=512, out_dir=out_dir, n_workers=1)
    assert sorted((tmp_path / "scan.zarr").rglob("*")) == stored


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 20}, ValueError, "size: expected at least 310 px, got 20"),
        ({"size": 512.0}, TypeError, "size: expected an int, got 512.0"),
        ({"n_workers": 0}, ValueError, "n_workers: expected at least 1, got 0"),
        # Found by probes: a bad PSF left the folder behind, and a size this large wrote until it was stopped.
        ({"psf": np.zeros((3, 3))}, ValueError, "psf: expected a positive sum"),
        ({"size": 10**8}, ValueError, (r"size: expected a scan whose data fit the .* free on the disk of .*demo', "
                                       r"got 100000000 px a side, which take 46566128.7 GiB; pass a smaller size")),
    ],
)
def test_bad_options_are_refused_before_the_scan_is_written(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        run_demo(**{"size": 512, "out_dir": tmp_path / "demo", **kwargs})
    assert not (tmp_path / "demo").exists()


def test_the_titles_of_narrow_panels_stay_apart(tmp_path):
    """Found by a probe: over a 13 px wide scan, the preview's two titles ran into each other."""
    titles = ["input, central 512 x 13 px", "deblurred, central 512 x 13 px"]
    save_panels(tmp_path / "panels.png", [[(title, np.full((64, 13), 0.5)) for title in titles]])
    band = np.asarray(Image.open(tmp_path / "panels.png").convert("L"))[8:26]  # the titles' 18 px
    inked = np.flatnonzero((band < 128).any(axis=0))
    gaps = np.flatnonzero(np.diff(inked) >= 8)  # between words a few px, between the cells a margin at least
    assert len(gaps) == 1, inked


def test_a_row_of_smaller_images_is_no_higher_than_they_are(tmp_path):
    """Found by a probe: ``tiledeblur demo --size 310`` left a blank band under its 160 px zoom, in a cell as
    high as the 310 px scan below it, which no whole factor enlarges the zoom to."""
    save_panels(tmp_path / "panels.png", [[("zoom", np.zeros((160, 160)))], [("whole", np.zeros((310, 310)))]])
    picture = np.asarray(Image.open(tmp_path / "panels.png"))
    zoom_rows = np.flatnonzero(picture[:, 8 + 80] == 0)  # the zoom's column, below its title
    assert picture.shape[0] == 8 + (18 + 160 + 8) + (18 + 310 + 8)
    assert zoom_rows[0] == 8 + 18 and zoom_rows[159] == 8 + 18 + 159
    assert (picture[8 + 18 + 160:8 + 18 + 160 + 8 + 18, 8 + 80] == 255).all()  # margin and title, then the scan


def test_a_picture_stopped_part_way_leaves_nothing_under_its_name(tmp_path):
    """A run stopped while it wrote its preview left a cut picture, which refused the same command run again
    (found by a probe): the picture appears whole under its name, or not at all."""
    noise = np.random.default_rng(0).random((3000, 3000))  # a second or so to compress

    def interrupt_once_a_file_appears():
        deadline = time.monotonic() + 60
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.001)
        _thread.interrupt_main()  # as Ctrl-C

    watcher = threading.Thread(target=interrupt_once_a_file_appears)
    watcher.start()
    with contextlib.suppress(KeyboardInterrupt):
        save_panels(tmp_path / "panels.png", [[("noise", noise)]])
        time.sleep(60)  # where the picture was whole before the interrupt came
    watcher.join()
    written = list(tmp_path.iterdir())
    assert written in ([], [tmp_path / "panels.png"])
    for path in written:
        with Image.open(path) as picture:
            picture.load()
