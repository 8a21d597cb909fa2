"""The ``tiledeblur`` command, run as a user runs it: the installed console script.

Refusals of bad input, which start no cluster, call the script's function in this process instead: the second or
two that a command takes to import dask, scipy and autograd, times a few dozen cases, is most of their time.
"""

import contextlib
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
import scipy.ndimage
import tifffile
import zarr
from astropy.io import fits
from PIL import Image
from skimage import data

import tiledeblur
from tiledeblur import deconvolve, gaussian_psf, run
from tiledeblur.cli import main
from tiledeblur.convert import convert
from tiledeblur.fits import FitsImage, header_cards
from tiledeblur.io import SOURCE_ATTRIBUTE
from tiledeblur.planning import _warn_if_lossy
from tiledeblur.settings import DEFAULT_EPS, DEFAULT_TOL

SCRIPT = Path(sys.executable).with_name("tiledeblur")


def _tiledeblur(*arguments):
    return subprocess.run([str(SCRIPT), *map(str, arguments)], capture_output=True, text=True, timeout=600,
                          check=False)


def _refused(*arguments):
    """``tiledeblur ARGUMENTS`` refused in this process, by the function that the console script calls: its exit
    status and what it printed to stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            status = main([str(argument) for argument in arguments])
        except SystemExit as exit_:  # argparse's refusals
            status = exit_.code
    return status, stderr.getvalue()


@pytest.fixture(scope="module")
def scan(tmp_path_factory, recorded):
    """A uint8 scan as a camera records it, blurred by the PSF that the tests pass."""
    path = tmp_path_factory.mktemp("cli") / "scan.zarr"
    zarr.create_array(path, data=recorded(data.camera()[:192, :256], [gaussian_psf(13, (1, 3))]), chunks=(64, 64))
    return path


def _help_default(help_text, option):
    """The number in the "(default: ...)" of ``option``'s entry in ``help_text``."""
    entry = re.search(rf"\n +{option} +([^\n]*(\n {{10,}}[^\n]*)*)", help_text).group(1)
    return float(re.search(r"\(default: ([\d.e-]+)\)", " ".join(entry.split())).group(1))


@pytest.mark.parametrize("command", [[], ["run"], ["plan"], ["convert"], ["demo"]])
def test_help_says_what_and_defaults(command):
    result = _tiledeblur(*command, "--help")
    assert result.returncode == 0
    if command in (["run"], ["plan"]):
        assert "gaussian:SIZE,SIGMA0,SIGMA1" in result.stdout and "(default: auto" in result.stdout
        # Written out, since the command reads its options before it imports the solver.
        assert _help_default(result.stdout, "--eps EPS") == DEFAULT_EPS
    if command == ["run"]:
        assert _help_default(result.stdout, "--tol TOL") == DEFAULT_TOL
    if command == ["demo"]:
        assert "(default: 2048)" in result.stdout


def test_version_and_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "tiledeblur", "--version"], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stdout) == (0, f"tiledeblur {tiledeblur.__version__}\n")


#: The command, then Ctrl-C and SIGTERM, as a user or a batch system sends them while the interpreter exits.
SIGNALLED_AFTER_THE_COMMAND = """
import os, signal, sys
from tiledeblur.cli import console
sys.argv = ["tiledeblur", "plan", sys.argv[1], "--psf", "gaussian:5,1", "--mu", "0.01"]
status = console()
os.kill(os.getpid(), signal.SIGINT)
os.kill(os.getpid(), signal.SIGTERM)
print("exited", status)
"""


def test_a_signal_once_the_command_is_done_changes_nothing(tmp_path):
    """Found by a probe: Ctrl-C or SIGTERM just after "wrote ..." gave a KeyboardInterrupt traceback as the
    interpreter joined dask's threads, or a finished run's exit status 130."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    result = subprocess.run([sys.executable, "-c", SIGNALLED_AFTER_THE_COMMAND, str(tmp_path / "scan.zarr")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "exited 0"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "missing.zarr", "--psf", "gaussian:13,1,3"], "INPUT: expected an existing Zarr array"),
        (["run", "{scan}", "--psf", "gaussian:13,1,3", "--halo", "2"], "--halo: expected at least the PSF radius"),
        (["run", "{scan}", "--psf", "missing.npy"], "--psf: expected an existing PSF file"),
        (["plan", "{scan}", "--psf", "gaussian:12,1"], "expected gaussian:SIZE,SIGMA"),
        (["plan", "{scan}", "--psf", "gaussian:7"], "got 'gaussian:7' (0 sigmas)"),
        # Spelled otherwise, it was taken for a missing file, and the message said no more (found by a probe).
        (["plan", "{scan}", "--psf", "Gaussian:12,1"], "expected gaussian:SIZE,SIGMA"),
        (["plan", "{scan}", "--psf", "gauss:13,1"],
         ("got 'gauss:13,1', which does not exist; a Gaussian is gaussian_psf(SIZE, SIGMA) in Python, "
          "gaussian:SIZE,SIGMA on the command line.")),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--tile", "big"], "expected 'auto' or an int, got 'big'"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--preview", "missing/p.png"],
         "--preview: expected a path in an existing folder, got 'missing/p.png'"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--preview", "{scan}.npy"],
         "--preview: expected a picture's file name such as before_after.png, got"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--preview", "{scan}/../notes.png"],
         "notes.png', which exists; remove it or name another."),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--preview", "{scan}/../dangling.png"],
         "dangling.png', which exists; remove it or name another."),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--preview", "{scan}/p.png"],
         "--preview: expected a path outside the Zarr stores of input and output, got '"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--out", "{scan}/../same.png", "--preview", "{scan}/../same.png"],
         "--preview: expected a path outside the Zarr stores of input and output, got '"),
        # plan ran where run refused (found by a probe).
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--preview", "{scan}/../notes.png"],
         "notes.png', which exists; remove it or name another."),
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--preview", "{scan}/p.png"],
         "--preview: expected a path outside the Zarr stores of input and output, got '"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--workers", "0"], "--workers: expected at least 1, got 0"),
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--workers", "1", "--address", "tcp://127.0.0.1:1"],
         "--workers: expected no count with a client or an address, whose cluster has its own workers, got 1"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--out", "{scan}/../notes/out.zarr"], "--out: expected a path"),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--over"], "tiledeblur run: error: unrecognized arguments: --over"),
        (["convert", "{scan}", "out.zarr", "--chunk", "8"], "IMAGE: expected an existing image file"),
        (["convert", "{scan}/../notes.png", "{scan}/../out.png"],
         "OUTPUT: expected a Zarr path such as scan.zarr, got '"),
        # Written as a folder under that name, which run then refused as its output (found by a probe).
        (["convert", "{scan}/../notes.png", "{scan}/../out.zarr.zip"],
         "OUTPUT: expected a folder for the Zarr store, got '"),
        # Said what was wrong and not what to do (found by a probe); convert has no --overwrite.
        (["convert", "{scan}/../notes.png", "{scan}"], "zarr', which exists; remove it or name another."),
        (["plan", "{scan}", "--psf", "gaussian:999999,1"],
         "(size: expected odd positive side lengths of at most 8191 px, got 999999 instead.)"),
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--missing-value", "256"],
         "--missing-value: expected a value that uint8 holds, 0 to 255, got 256"),
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--missing-value", "none"], "expected a number, got 'none'"),
        # Given once per channel, as --mu may be, the last was kept for all (found by a probe).
        (["run", "{scan}", "--psf", "gaussian:13,1", "--loss", "tv", "--eps", "0.002", "--eps", "1e-4"],
         "--eps: expected once, for every channel (only --mu and --psf take one per channel), got it twice"),
        # Told of as a Python list, "[0.01, 'auto']" (found by a probe).
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--mu", "0.01", "--mu", "auto"],
         "channel, got --mu 0.01 --mu auto"),
        # An empty path is the working directory to os and pathlib (found by a probe: --out '' was taken so).
        (["plan", "", "--psf", "gaussian:13,1"], "INPUT: expected a path or a URL, got '' instead."),
        (["plan", "{scan}", "--psf", ""], "--psf: expected a PSF file's path, got '' instead."),
        # The system's words, and exit status 1 (found by a probe).
        (["plan", "{scan}", "--psf", "a" * 300 + ".npy"], "a.npy', which the disk cannot hold (File name too long)."),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--out", ""], "--out: expected a path or a URL, got '' instead."),
        (["run", "{scan}", "--psf", "gaussian:13,1", "--preview", ""],
         "--preview: expected a picture's file name such as before_after.png, got '' instead."),
        # The last of both was taken (found by a probe).
        (["run", "{scan}", "--psf", "gaussian:13,1", "--ome", "--no-ome"],
         "error: argument --no-ome: not allowed with argument --ome"),
        (["plan", "{scan}", "--psf", "gaussian:13,1", "--eps", "0.1"],
         "--eps: expected the default with loss 'auto', whose losses ('laplacian', 'nlmeans') smooth no edges by it"),
    ],
)
def test_bad_input_is_one_line_without_traceback(scan, arguments, message):
    (scan.parent / "notes").write_text("a file, not a folder")
    (scan.parent / "notes.png").write_text("the user's file, which no preview may replace")
    if not (scan.parent / "dangling.png").is_symlink():
        (scan.parent / "dangling.png").symlink_to(scan.parent / "scan.deblurred.zarr" / "p.png")
    status, stderr = _refused(*[a.replace("{scan}", str(scan)) for a in arguments])
    assert status == 2 and message in stderr
    assert len(stderr.splitlines()) == 1 or stderr.startswith("usage: "), stderr


def test_an_output_by_default_is_not_blamed_on_out(tmp_path):
    """Found by a probe: beside an input served over HTTP, the default output was refused as "--out", not given."""
    zarr.create_array(tmp_path / "grey.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    (tmp_path / "grey.deblurred.zarr").mkdir()
    (tmp_path / "grey.deblurred.zarr" / "notes.txt").write_text("someone's file")
    for given in ([], ["--out", tmp_path / "grey.deblurred.zarr"]):
        status, stderr = _refused("plan", tmp_path / "grey.zarr", "--psf", "gaussian:13,1", *given)
        named = "--out:" if given else "--out (not given, so beside the input):"
        # The last line: loss "auto" tells of its choice before the output is read.
        assert (status, stderr.splitlines()[-1].partition(" expected")[0]) == (2, f"tiledeblur: error: {named}")


def test_errors_name_the_options_as_typed(tmp_path):
    """--ome and --component, named in Python's terms or by zarr's own text before (found by a probe)."""
    zarr.create_array(tmp_path / "yxc.zarr", data=data.astronaut()[:64, :64], chunks=(64, 64, 3))
    status, stderr = _refused("run", tmp_path / "yxc.zarr", "--psf", "gaussian:13,1,3", "--channel-axis", "-1", "--ome")
    assert status == 2 and "tiledeblur: error: --ome: expected channels first" in stderr
    assert "pass --no-ome." in stderr
    status, stderr = _refused("plan", tmp_path / "yxc.zarr", "--psf", "gaussian:13,1,3")  # an RGB scan's yxc
    assert status == 2 and stderr.endswith("got None instead; pass --channel-axis -1.\n")
    # Not "expected none": argparse takes no --channel-axis none (found by a probe).
    zarr.create_array(tmp_path / "gray.zarr", data=data.camera()[:64, :64])
    status, stderr = _refused("plan", tmp_path / "gray.zarr", "--psf", "gaussian:13,1,3", "--channel-axis", "0")
    assert status == 2 and stderr.endswith("got 0 instead; leave out --channel-axis.\n")
    zarr.open_group(tmp_path / "group.zarr", mode="w").create_array("a", shape=(64, 64), dtype="u1")
    status, stderr = _refused("plan", tmp_path / "group.zarr", "--psf", "gaussian:13,1,3", "--component", "../a")
    assert status == 2 and "tiledeblur: error: --component: expected the array to read" in stderr


def test_eps_for_counts_that_do_not_fill_the_scale(tmp_path):
    """tv's warning on 12-bit counts advised an eps that the command line had no option for (found by a probe)."""
    zarr.create_array(tmp_path / "counts.zarr", data=data.camera().astype(np.uint16) * 16)
    command = ["plan", tmp_path / "counts.zarr", "--psf", "gaussian:13,1,3", "--loss", "tv", "--mu", "1e-4"]
    assert "pass eps for its scale" in _tiledeblur(*command).stderr
    result = _tiledeblur(*command, "--eps", "0.002")
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr


def test_plan_prints_the_plan(scan):
    result = _tiledeblur("plan", scan, "--psf", "gaussian:13,1,3", "--tile", "64", "--out-dtype", "input")
    assert result.returncode == 0, result.stderr
    assert "12 tiles (3 x 4) of 64 px" in result.stdout and "MiB per worker thread" in result.stdout
    assert result.stdout.rstrip().endswith("; output 48.0 KiB uncompressed as uint8")  # 192 x 256 px of uint8
    assert not scan.with_name("scan.deblurred.zarr").exists()


def test_plan_nlmeans_reads_its_first_solve_s_halo_and_weighs_the_noise(scan):
    """``--loss nlmeans``: the halo of its weakest solve, whatever mu, and mu 0.3 times the noise variance (0.01²)."""
    result = _tiledeblur("plan", scan, "--psf", "gaussian:13,1,3", "--tile", "64", "--loss", "nlmeans")
    assert result.returncode == 0, result.stderr
    assert "halo 82 px" in result.stdout
    assert float(re.search(r"mu ([\d.e-]+);", result.stdout).group(1)) == pytest.approx(3e-5, rel=0.15)


def test_plan_auto_prints_the_loss_that_deconvolve_chooses(scan):
    """``--loss auto`` names its choice, the one that ``deconvolve`` makes on the same image, with its mu."""
    result = _tiledeblur("plan", scan, "--psf", "gaussian:13,1,3", "--tile", "64", "--loss", "auto")
    assert result.returncode == 0, result.stderr
    info = deconvolve(zarr.open_array(scan, mode="r")[...], gaussian_psf(13, (1, 3)), loss="auto", return_info=True)[1]
    assert f"; loss {info.loss}; mu {info.mu:.3g}; " in result.stdout


def test_plan_takes_a_run_command_line_and_writes_nothing(scan, tmp_path):
    """plan refused run's output options, so a run's command line did not plan with plan in its place (a probe)."""
    options = ["--psf", "gaussian:13,1,3", "--tile", "64", "--out", tmp_path / "out.zarr", "--tol", "1e-3",
               "--out-dtype", "input", "--ome", "--overwrite", "--no-resume", "--preview", tmp_path / "p.png"]
    # laplacian: loss="auto"'s comparison of losses, which these options leave as it is, made a plan take 5.4 s, not 3.
    result = _tiledeblur("plan", scan, "--loss", "laplacian", *options)
    assert result.returncode == 0, result.stderr
    # The options that only a run uses change nothing; --out-dtype and --ome set the output's size, which it states.
    assert result.stdout == _tiledeblur("plan", scan, "--loss", "laplacian", *options[:4], *options[8:11]).stdout
    assert result.stdout.rstrip().endswith("; output 63.0 KiB uncompressed as uint8 with its pyramid of 2 levels")
    assert not (tmp_path / "out.zarr").exists() and not (tmp_path / "p.png").exists()
    status, stderr = _refused("plan", scan, *options[:4], "--tol", "0")  # as run refuses it (found by a probe)
    assert status == 2 and "--tol: expected a positive finite number, got 0.0 instead." in stderr


def test_psf_and_mu_given_once_per_channel(tmp_path):
    """--psf given once per channel kept the last for all three (found by a probe); --mu may be given so too."""
    scan = tmp_path / "rgb.zarr"
    zarr.create_array(scan, data=data.astronaut()[:128, :128], chunks=(64, 64, 3))
    psfs = ["gaussian:7,1", "gaussian:13,1,3", "gaussian:9,1.5"]
    mus = [0.01, 0.03, 0.003]
    options = ["--channel-axis", "-1", "--tile", "64", "--workers", "1"]
    per_channel = _tiledeblur("run", scan, *options, *(f"--psf={psf}" for psf in psfs),
                              *(f"--mu={mu}" for mu in mus), "--out", tmp_path / "a.zarr")
    assert per_channel.returncode == 0, per_channel.stderr
    assert "mu 0.01, 0.03, 0.003; " in per_channel.stdout
    result = zarr.open_array(tmp_path / "a.zarr", mode="r")[...]
    arrays = [gaussian_psf(int(size), tuple(map(float, sigma)) if len(sigma) == 2 else float(sigma[0]))
              for size, *sigma in (psf.removeprefix("gaussian:").split(",") for psf in psfs)]
    expected = deconvolve(data.astronaut()[:128, :128], arrays, channel_axis=-1, mu=mus)
    assert np.abs(result - expected).max() <= 1e-3
    status, stderr = _refused("plan", scan, *options, "--psf", psfs[0], "--psf", psfs[1])
    assert status == 2 and "--psf: expected 1 PSF or 3 (one per channel), got 2 instead." in stderr
    status, stderr = _refused("plan", scan, *options, "--psf", psfs[0], "--mu", "0.01", "--mu", "0.02")
    assert status == 2 and "--mu: expected 1 weight or 3 (one per channel), got 2 instead." in stderr


def test_plan_a_plain_tczyx_array_with_its_channel_axis(tmp_path):
    """bioformats2raw-like 5-D data without OME metadata: --channel-axis 1 took only 0 or -1 (found by a probe)."""
    zarr.create_array(tmp_path / "five.zarr", data=np.zeros((1, 3, 1, 96, 128), np.uint8), chunks=(1, 3, 1, 64, 64))
    result = _tiledeblur("plan", tmp_path / "five.zarr", "--psf", "gaussian:13,1,3", "--mu", "0.01",
                         "--channel-axis", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("image 96 x 128 px, 3 channels;")


def test_run_with_preview(scan, tmp_path):
    output, preview = tmp_path / "out.zarr", tmp_path / "preview.png"
    result = _tiledeblur("run", scan, "--psf", "gaussian:13,1,3", "--tile", "64", "--workers", "2",
                         "--out", output, "--preview", preview)
    assert result.returncode == 0, result.stderr
    assert "dask dashboard: http://127.0.0.1:" in result.stderr
    assert "12 tiles computed" in result.stdout
    assert zarr.open_array(output, mode="r").shape == (192, 256)
    assert preview.stat().st_size > 10_000


def test_the_preview_shows_each_channel_in_its_ome_colour(tmp_path):
    """DAPI, GFP and RFP were previewed as red, green and blue in that order: DAPI red (found by a probe). A fourth
    channel that viewers hide (``active: false``, as an RGBA scan's alpha) is hidden too."""
    group = zarr.open_group(tmp_path / "cells.zarr", mode="w", zarr_format=3)
    cyx = np.zeros((4, 128, 128), dtype=np.uint16)
    cyx[3] = 4095
    cyx[0] = data.camera()[:128, :128].astype(np.uint16) * 16  # 12-bit nuclei; the other channels dark
    # RFP nearly empty: its own percentiles stretched its read noise over the picture (found by a probe); its
    # window, as viewers show it, keeps it dark.
    cyx[2] = np.random.default_rng(0).integers(0, 8, (128, 128))
    group.create_array("0", data=cyx, chunks=(4, 64, 64), dimension_names=["c", "y", "x"])
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": "c", "type": "channel"},
                                                                      {"name": "y", "type": "space"},
                                                                      {"name": "x", "type": "space"}],
                                                             "datasets": [{"path": "0"}]}],
                          "omero": {"channels": [{"label": label, "color": color, "window": {"start": 0, "end": 4095}}
                                                 # a CSS name, and as other tools write RRGGBB
                                                 for label, color in [("DAPI", "blue"), ("GFP", "#00FF00"),
                                                                      ("RFP", "FF0000FF")]]
                                                + [{"label": "hidden", "color": "FFFFFF", "active": False,
                                                    "window": {"start": 0, "end": 4095}}]}}
    preview = tmp_path / "preview.png"
    result = _tiledeblur("run", tmp_path / "cells.zarr", "--psf", "gaussian:13,1,3", "--tile", "64", "--mu", "0.01",
                         "--workers", "1", "--out", tmp_path / "out.zarr", "--preview", preview)
    assert result.returncode == 0, result.stderr
    red, green, blue = np.moveaxis(np.asarray(Image.open(preview).convert("RGB"), dtype=int), -1, 0)
    assert (blue > red + 64).sum() > 10_000 and not (red > blue + 64).any() and not (green > blue + 64).any()


def test_run_with_a_missing_value(tmp_path):
    """A mosaic's 0 fill stays 0 in the input's dtype, and the preview's window is that of the pixels present."""
    mosaic = data.camera()[:192, :256].copy()
    mosaic[:64, :100] = 0
    scan = tmp_path / "mosaic.zarr"
    zarr.create_array(scan, data=mosaic, chunks=(64, 64))
    output, preview = tmp_path / "out.zarr", tmp_path / "preview.png"
    result = _tiledeblur("run", scan, "--psf", "gaussian:13,1,3", "--tile", "64", "--workers", "1", "--mu", "0.01",
                         "--missing-value", "0", "--out-dtype", "input", "--out", output, "--preview", preview)
    assert result.returncode == 0, result.stderr
    deblurred = zarr.open_array(output, mode="r")[...].astype(int)
    missing = mosaic == 0
    whole = tiledeblur.deconvolve(np.where(missing, np.nan, mosaic / 255), tiledeblur.gaussian_psf(13, (1, 3)),
                                  mu=0.01)
    assert (deblurred[missing] == 0).all()
    assert np.abs(deblurred[~missing] - np.clip(np.round(whole[~missing] * 255), 0, 255)).max() <= 1
    assert preview.stat().st_size > 10_000


def test_the_preview_leaves_out_the_missing_value_that_the_input_declares(tmp_path):
    """A mosaic's declared fill of -9999 set the preview's window: both halves came out nearly white (a probe)."""
    mosaic = (data.camera()[:128, :128] / 255).astype("f4")
    mosaic[:40, :50] = -9999
    zarr.create_array(tmp_path / "mosaic.zarr", data=mosaic, chunks=(64, 64), attributes={"_FillValue": -9999.0})
    preview = tmp_path / "preview.png"
    result = _tiledeblur("run", tmp_path / "mosaic.zarr", "--psf", "gaussian:13,1,3", "--tile", "64", "--mu", "0.01",
                         "--workers", "1", "--out", tmp_path / "out.zarr", "--preview", preview)
    assert result.returncode == 0, result.stderr
    picture = np.asarray(Image.open(preview).convert("L"), dtype=float)
    # The input's panel starts at the corner of the largest black patch on the left: its missing pixels.
    patches, _ = scipy.ndimage.label(picture[:, :picture.shape[1] // 2] == 0)
    top, left = (int(found.min()) for found in np.nonzero(patches == np.bincount(patches.ravel())[1:].argmax() + 1))
    before, present = picture[top:top + 128, left:left + 128], mosaic != -9999
    assert (before[~present] == 0).all() and (before[present] == 0).mean() < 0.01  # the window's lowest 0.5%
    # Spread over the window of the pixels present, not squeezed to white by -9999: the window's 0.5th to 99.5th
    # percentile.
    assert np.median(before[present]) < 230 and before[present].max() - before[present].min() > 128


def test_ctrl_c_and_sigterm_are_one_line_and_the_reruns_resume(scan, tmp_path):
    output = tmp_path / "out.zarr"
    command = [str(SCRIPT), "run", str(scan), "--psf", "gaussian:13,1,3", "--tile", "64", "--workers", "2",
               "--mu", "0.001", "--out", str(output)]
    markers = output / ".tiledeblur" / "done"

    def done():
        return len(list(markers.iterdir())) if markers.exists() else 0

    # Ctrl-C, then a batch job's time up in a run that replaces the output, which the same command would replace
    # again (found by a probe); each stops the run once it has done a tile more.
    for sent, status, options, said in (
            (signal.SIGINT, 130, [], "interrupted; run the same command again to resume"),
            (signal.SIGTERM, 143, ["--overwrite"], "terminated; run it again without --overwrite to resume")):
        before = done()
        # In a group of its own, as a terminal's job is: Ctrl-C signals every process of the group, workers too.
        driver = subprocess.Popen(command + options, stderr=subprocess.PIPE, text=True, process_group=0)
        while done() <= before:
            assert driver.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.05)
        os.killpg(driver.pid, sent)
        _, stderr = driver.communicate(timeout=120)
        assert driver.returncode == status
        # Before, each worker printed its traceback, and dask warned of every task and worker it stopped.
        assert stderr.splitlines()[-1] == f"tiledeblur: {said}"
        assert "Traceback" not in stderr and "WARNING" not in stderr, stderr
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert int(re.search(r", (\d+) already done", again.stdout).group(1)) >= 2


def test_a_full_disk_is_one_line(scan, small_disk):
    """Before any tile, where the output is created, it ended in a 60-line traceback (found by a probe)."""
    disk = small_disk("256k")
    with open(disk / "filler", "wb") as filler, pytest.raises(OSError):
        filler.write(bytes(2**20))
    result = _tiledeblur("run", scan, "--psf", "gaussian:13,1,3", "--mu", "0.01", "--workers", "1",
                         "--out", disk / "out.zarr")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("tiledeblur: error: [Errno 28] No space left on device")
    assert "Traceback" not in result.stderr, result.stderr


def test_a_disk_that_fills_mid_run_stops_it_and_the_rerun_resumes(scan, tmp_path, small_disk, article_psf, client):
    """Every tile went on to be solved and to fail at its write, each logging 3 KB of traceback (a probe)."""
    disk = small_disk("96k")
    command = ["run", scan, "--psf", "gaussian:13,1,3", "--mu", "0.01", "--tile", "64", "--workers", "1",
               "--out", disk / "out.zarr"]
    full = _tiledeblur(*command)
    subprocess.run(["mount", "-o", "remount,size=4m", disk], check=True)
    again = _tiledeblur(*command)
    assert full.returncode == 1, full.stderr
    failed = re.search(r"tiledeblur: (\d+) of 12 tiles failed; the first, .* raised OSError: \[Errno 28\] No space "
                       r"left on device.*No further tile was started", full.stderr.splitlines()[-1])
    assert failed and int(failed.group(1)) < 12 and "Compute Failed" not in full.stderr, full.stderr
    assert again.returncode == 0 and 0 < int(re.search(r", (\d+) already done", again.stdout).group(1)) < 12
    # The same bytes as an undisturbed run of the same options: here, from Python on the tests' cluster.
    reference = run(scan, article_psf, mu=0.01, tile=64, output=tmp_path / "reference.zarr", client=client,
                    progress=False)
    np.testing.assert_array_equal(zarr.open_array(disk / "out.zarr", mode="r")[...],
                                  zarr.open_array(reference.output, mode="r")[...])


def test_an_unreadable_chunk_is_one_line_that_names_the_input(tmp_path, recorded, client):
    """Read by the planning in this process, or by a tile on a worker.

    Found by a probe: among many small chunks, some 250 lines of asyncio errors followed the planning's error
    (zarr's reads of the other chunks, destroyed half done as the process exited), and a tile's error named
    ``zarr_path``. The corrupt chunk is none of those that the input's fingerprint reads, so that the second run
    reaches its tile.
    """
    scan = tmp_path / "scan.zarr"
    observed = recorded(data.camera(), [gaussian_psf(13, (1, 3))])
    zarr.create_array(scan, data=observed, chunks=(32, 32))
    (scan / "c" / "0" / "1").write_bytes(b"not a zstd frame" * 4)
    command = ["run", scan, "--psf", "gaussian:13,1,3", "--tile", "128"]
    planned = _tiledeblur(*command, "--workers", "1", "--out", tmp_path / "planned.zarr")
    assert planned.returncode == 2
    assert planned.stderr.startswith("tiledeblur: error: INPUT: expected readable chunks, got RuntimeError (Zstd ")
    assert len(planned.stderr.splitlines()) == 1, planned.stderr
    # On the tests' cluster, from this process: what the command line prints of a failed tile.
    status, said = _refused(*command, "--no-denoise", "--mu", "0.01", "--address", client.scheduler.address,
                            "--out", tmp_path / "tiled.zarr")
    assert status == 1
    # Its chunk is in tiles (0, 0) and (0, 1), whichever fails first on two workers.
    assert re.search(r"2 of 16 tiles failed; the first, tile \(0, [01]\)", said.splitlines()[-1]), said
    assert "raised ValueError: INPUT: expected readable chunks" in said.splitlines()[-1]
    assert "Traceback" not in said and "zarr_path" not in said, said
    # In the workers' scan of a float input for inf: some 300 lines of asyncio's from the worker came first (found by
    # a probe).
    zarr.create_array(tmp_path / "floats.zarr", data=observed / 255, chunks=(32, 32))
    (tmp_path / "floats.zarr" / "c" / "0" / "1").write_bytes(b"not a zstd frame" * 4)
    scanned = _tiledeblur("run", tmp_path / "floats.zarr", "--psf", "gaussian:13,1,3", "--mu", "0.01",
                          "--no-denoise", "--workers", "1", "--out", tmp_path / "scanned.zarr")
    assert scanned.returncode == 2
    error_line = ("tiledeblur: error: INPUT: expected readable chunks, got RuntimeError (Zstd decompression error: "
                  f"invalid input data) reading [0:512, 0:512] of file://{tmp_path / 'floats.zarr'}.")
    assert scanned.stderr.splitlines()[3:] == [error_line], scanned.stderr  # after the dashboard, the plan and the scan


def test_a_reader_of_the_output_that_leaves_early_fails_nothing(tmp_path):
    """``tiledeblur plan ... | head -0``: the plan was made, then the command failed with "[Errno 32] Broken pipe"
    (found by a probe, with a run whose tiles were all written)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    command = [str(SCRIPT), "plan", str(tmp_path / "scan.zarr"), "--psf", "gaussian:5,1", "--mu", "0.01"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as planning:
        planning.stdout.close()  # the reader has gone before the plan is printed
        stderr = planning.stderr.read()
    assert (planning.returncode, stderr) == (0, "")


def test_a_reader_of_the_progress_that_leaves_early_stops_no_tile(tmp_path, client):
    """``tiledeblur run ... 2>&1 | head -2``: the progress line that found its reader gone stopped the run after 2 of
    its 16 tiles, told as a lost scheduler (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:256, :256], chunks=(64, 64))
    command = [str(SCRIPT), "run", str(tmp_path / "scan.zarr"), "--psf", "gaussian:5,1", "--mu", "0.01", "--tile", "64",
               "--address", client.scheduler.address]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as running:
        running.stdout.close()
        running.stderr.close()
    assert running.returncode == 0
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert "0 tiles computed, 16 already done" in again.stdout, again.stdout + again.stderr


def test_a_run_started_with_its_stderr_closed_runs(tmp_path, client):
    """``tiledeblur run ... 2>&-``: Python's sys.stderr is None then, and the first progress line ended the run
    with an AttributeError (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:128, :128], chunks=(64, 64))
    command = [str(SCRIPT), "run", str(tmp_path / "scan.zarr"), "--psf", "gaussian:5,1", "--mu", "0.01", "--tile", "64",
               "--address", client.scheduler.address]
    result = subprocess.run(["sh", "-c", 'exec "$0" "$@" 2>&-', *command], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stdout
    assert "4 tiles computed, 0 already done" in result.stdout


def test_an_address_that_cannot_be_reached_is_one_line(tmp_path, client):
    """A tls:// address for the tests' tcp scheduler: the right line at once, then 60 s and a traceback as the client
    that failed to connect was collected at exit (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    tls = client.scheduler.address.replace("tcp://", "tls://")
    result = _tiledeblur("plan", tmp_path / "scan.zarr", "--psf", "gaussian:5,1", "--mu", "0.01", "--address", tls)
    assert result.returncode == 2
    assert result.stderr.startswith(f"tiledeblur: error: --address: expected a dask scheduler that this process can "
                                    f"reach, got '{tls}', which it could not (TLS expects")
    assert len(result.stderr.splitlines()) == 1, result.stderr


#: Presses Ctrl-C (a real SIGINT) as the command first imports dask, then runs it with the arguments given.
CTRL_C_AS_DASK_IMPORTS = """
import os, signal, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "dask":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)

sys.meta_path.insert(0, CtrlC())
from tiledeblur.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_options_are_read_before_the_heavy_imports_and_ctrl_c_among_them_is_one_line(scan):
    """A Ctrl-C in the second or two that dask, scipy and autograd take to import printed a traceback."""
    imported = subprocess.run([sys.executable, "-c", "import sys, tiledeblur.cli; print(*sys.modules)"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert not {"dask", "numpy", "scipy", "autograd"} & set(imported)
    # Only run has anything to resume (plan and convert were told to, found by a probe).
    for command, said in (("plan", "interrupted"), ("run", "interrupted; run the same command again to resume")):
        interrupted = subprocess.run([sys.executable, "-c", CTRL_C_AS_DASK_IMPORTS, command, str(scan), "--psf",
                                      "gaussian:13,1,3"], capture_output=True, text=True, timeout=120, check=False)
        assert (interrupted.returncode, interrupted.stderr) == (130, f"tiledeblur: {said}\n")


def test_run_ome_with_preview(scan, tmp_path):
    output, preview = tmp_path / "out.zarr", tmp_path / "preview.png"
    # laplacian: with the default, which chooses nlmeans here, the command took 14 s against 8; test_run_with_preview
    # runs the default.
    result = _tiledeblur("run", scan, "--psf", "gaussian:13,1,3", "--tile", "128", "--workers", "1", "--ome",
                         "--loss", "laplacian", "--out", output, "--preview", preview)
    assert result.returncode == 0, result.stderr
    assert zarr.open_group(output, mode="r")["0"].shape == (192, 256)
    assert "building the OME-Zarr pyramid: level 1 of 1" in result.stderr  # after the tiles, not silently
    assert preview.stat().st_size > 10_000
    # An OME-Zarr input gives an OME-Zarr output unless --no-ome asks for a plain array.
    plain = tmp_path / "plain.zarr"
    result = _tiledeblur("run", output, "--psf", "gaussian:13,1,3", "--tile", "128", "--workers", "1", "--no-ome",
                         "--mu", "0.01", "--out", plain)
    assert result.returncode == 0, result.stderr
    assert zarr.open_array(plain, mode="r").shape == (192, 256)


def _damaged_png(path):
    png = io.BytesIO()
    Image.fromarray(data.camera()).save(png, format="PNG")
    path.write_bytes(png.getvalue()[:8] + b"\x00\x00\x00\x0dIHDR" + bytes(40))  # Pillow: SyntaxError


def _truncated_tiff(path):
    tifffile.imwrite(path, data.camera(), compression="zlib", rowsperstrip=16)
    path.write_bytes(path.read_bytes()[:9000])  # opens, then a strip fails to inflate: zlib.error


def _truncated_slide(path):
    """A pyramidal JPEG scan cut short: tifffile logged lines of the series it could not make (found by a probe)."""
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(data.astronaut(), tile=(64, 64), compression="jpeg", photometric="rgb", subifds=1)
        tiff.write(data.astronaut()[::2, ::2], tile=(64, 64), compression="jpeg", photometric="rgb", subfiletype=1)
    path.write_bytes(path.read_bytes()[:100_000])  # of about 180 kB: its second level's tags are lost


def _truncated_fits(path):
    fits.PrimaryHDU(data.camera().astype(np.float32)).writeto(path)
    path.write_bytes(path.read_bytes()[:100_000])  # the header is whole, the data are not


def _compressed_fits(path):
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data.camera().astype(np.int16))]).writeto(path)


def _gzipped_fits(path):
    with gzip.open(path, "wb") as file:
        fits.PrimaryHDU(data.camera()).writeto(file)


def _fits_header(*cards):
    """A FITS file of one header of ``cards`` (keyword and value text) and no data."""
    lines = [f"{keyword:<8}= {value:>20}".ljust(80) for keyword, value in (("SIMPLE", "T"), *cards)]
    return "".join([*lines, "END".ljust(80)]).ljust(2880).encode("ascii")


@pytest.mark.parametrize(("cards", "reason"), [
    ((("NAXIS", "2"), ("NAXIS1", "5"), ("NAXIS2", "5")), "its header has no integer BITPIX card"),  # was a KeyError
    ((("BITPIX", "8"), ("NAXIS", "'two'")), "its header has no integer NAXIS card"),
    ((("BITPIX", "8"), ("NAXIS", "2"), ("NAXIS1", "5.0"), ("NAXIS2", "5")), "its header has no integer NAXIS1 card"),
    ((("BITPIX", "8"), ("NAXIS", "2"), ("NAXIS1", "0"), ("NAXIS2", "5")), "its image is empty"),
])
def test_convert_refuses_a_fits_header_without_what_an_image_needs(tmp_path, cards, reason):
    (tmp_path / "odd.fits").write_bytes(_fits_header(*cards))
    with pytest.raises(ValueError, match=f"image: expected a TIFF, FITS, PNG or JPEG file, got .*odd.fits', which "
                                         f"could not be read \\({reason}"):
        convert(tmp_path / "odd.fits", tmp_path / "odd.zarr")
    assert not (tmp_path / "odd.zarr").exists()


@pytest.mark.parametrize("contents", [b"", b"x\n", b"\x89PNG\r\n\x1a\n", bytes(range(256)) * 8])
def test_convert_refuses_a_png_that_is_no_image(tmp_path, contents):
    """A file shorter than PNG's signature raised struct.error, and unknown contents got imageio's garbled message."""
    (tmp_path / "odd.png").write_bytes(contents)
    with pytest.raises(ValueError, match=r"image: expected a TIFF, .*odd.png', which could not be read \(its contents "
                                         r"are no image format that Pillow reads\)\.$"):
        convert(tmp_path / "odd.png", tmp_path / "odd.zarr")
    assert not (tmp_path / "odd.zarr").exists()


def test_convert_refuses_a_tiff_without_an_image_and_a_z_stack(tmp_path):
    """An empty or truncated TIFF ended in a traceback, and a Fiji z-stack became an OME-Zarr's channels (a probe)."""
    (tmp_path / "cut.tif").write_bytes(b"II*\x00\x08\x00\x00\x00")  # a header without an image
    with pytest.raises(ValueError, match=r"image: expected a TIFF, .*cut.tif', which could not be read \(it holds no "
                                         r"image\)"):
        convert(tmp_path / "cut.tif", tmp_path / "cut.zarr")
    tifffile.imwrite(tmp_path / "z.tif", np.stack([data.camera()] * 5), imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(ValueError, match=r"image: expected a 2-D image, .* got shape \(5, 512, 512\) \(a z-stack"):
        convert(tmp_path / "z.tif", tmp_path / "z.zarr", ome=True)
    assert not (tmp_path / "cut.zarr").exists() and not (tmp_path / "z.zarr").exists()
    # Unlabelled, planes are taken as channels, and told (found by a probe: without a word).
    tifffile.imwrite(tmp_path / "planes.tif", np.stack([data.camera()[:64, :64]] * 5))
    with pytest.warns(UserWarning, match=r"image: expected a TIFF whose planes are labelled, got 'planes.tif', whose "
                                         r"5 planes are not \('QYX' to tifffile\); they are taken as channels"):
        converted = convert(tmp_path / "planes.tif", tmp_path / "planes.zarr")
    assert converted.metadata.dimension_names == ("c", "y", "x")
    # Written, and refused by run only (found by a probe).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tifffile's: a zero-size array makes a nonconformant TIFF
        tifffile.imwrite(tmp_path / "empty.tif", np.ones((0, 16), np.uint8))
    with pytest.raises(ValueError, match=r"image: expected a non-empty image, as run takes, got shape \(0, 16\)\."):
        convert(tmp_path / "empty.tif", tmp_path / "empty.zarr")
    assert not (tmp_path / "empty.zarr").exists()
    # Grey and a sample of no known meaning: told a z-stack before.
    tifffile.imwrite(tmp_path / "two.tif", np.dstack([data.camera()] * 2), extrasamples=["unspecified"])
    with pytest.raises(ValueError, match=r"got shape \(512, 512, 2\) \(grey, with alpha or not, in a third axis"):
        convert(tmp_path / "two.tif", tmp_path / "two.zarr")
    # Pixels that run refuses were written without a word (found by a probe).
    for name, pixels in (("mask", data.camera() > 100), ("complex", data.camera().astype(np.complex64))):
        tifffile.imwrite(tmp_path / f"{name}.tif", pixels)
        with pytest.raises(TypeError, match=rf"image: expected pixels of uint, int or float, as run takes, got dtype "
                                            rf"{pixels.dtype} instead"):
            convert(tmp_path / f"{name}.tif", tmp_path / f"{name}.zarr")
        assert not (tmp_path / f"{name}.zarr").exists()


def _image_after_random_groups(path):
    """An interferometer's random groups first, then an image; the groups' data size is not NAXIS1's product."""
    groups = fits.GroupData(np.ones((100, 1, 79), np.uint8), parnames=["p"], pardata=[np.ones(100, np.uint8)],
                            bitpix=8)
    fits.HDUList([fits.GroupsHDU(groups), fits.ImageHDU(data.camera().astype(np.float32))]).writeto(path)


@pytest.mark.parametrize(("name", "write"), [
    ("notes.png", lambda path: path.write_text("not an image")),
    ("damaged.png", _damaged_png),
    ("truncated.tif", _truncated_tiff),
    ("truncated.svs", _truncated_slide),
    ("notes.fits", lambda path: path.write_text("not FITS")),
    ("truncated.fits", _truncated_fits),
    ("compressed.fits", _compressed_fits),
    ("compressed.fits.fz", _compressed_fits),  # fpack's name for it
    ("gzipped.fits.gz", _gzipped_fits),
])
def test_convert_refuses_a_file_it_cannot_read(tmp_path, name, write):
    write(tmp_path / name)
    status, stderr = _refused("convert", tmp_path / name, tmp_path / "out.zarr", "--chunk", "64")
    assert status == 2 and "IMAGE: expected a TIFF, FITS, PNG or JPEG file, got" in stderr
    assert {"compressed.fits.fz": "decompress it first (funpack)", "gzipped.fits.gz": "gunzip it first",
            "truncated.fits": "it is truncated: its header declares 1048576 bytes of image data, and the file "
                              "holds 97120 after the header"}.get(name, "") in stderr
    assert len(stderr.splitlines()) == 1
    assert not (tmp_path / "out.zarr").exists()


@pytest.mark.parametrize("image_path, output, named", [
    ("camera.png", None, "output"), ("camera.png", b"out.zarr", "output"), (3, "out.zarr", "image"),
])
def test_convert_refuses_what_is_no_path(tmp_path, monkeypatch, image_path, output, named):
    """None and bytes were written as folders named 'None' and "b'out.zarr'" (found by a probe)."""
    monkeypatch.chdir(tmp_path)
    Image.fromarray(data.camera()[:64, :64]).save("camera.png")
    with pytest.raises(TypeError, match=rf"^{named}: expected a path \(str or os.PathLike\), got "):
        convert(image_path, output)
    assert sorted(os.listdir()) == ["camera.png"]


def test_a_preview_or_demo_folder_on_a_read_only_disk_is_refused_before_any_work(tmp_path, small_disk):
    """The run finished, then the preview failed with the system's error, and the demo with mkdir's (a probe)."""
    from tiledeblur.demo import run_demo

    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    disk = small_disk("1m")
    subprocess.run(["mount", "-o", "remount,ro", disk], check=True)
    status, stderr = _refused("run", tmp_path / "scan.zarr", "--psf", "gaussian:5,1", "--mu", "0.01",
                              "--out", tmp_path / "out.zarr", "--preview", disk / "preview.png")
    assert status == 2 and "--preview: expected a path this process may write" in stderr
    assert not (tmp_path / "out.zarr").exists()
    with pytest.raises(ValueError, match=r"^out_dir: expected a path this process may write, .* is read-only"):
        run_demo(size=310, out_dir=disk / "demo")


@pytest.mark.parametrize("ome", [False, True])
def test_an_interrupted_convert_leaves_nothing(tmp_path, monkeypatch, ome):
    """A convert stopped by SIGTERM left half an image, its rest black, which plan took for a scan (found by a probe)."""
    fits.PrimaryHDU(data.camera()).writeto(tmp_path / "scan.fits")
    read = FitsImage.__getitem__
    seen_while_written = []

    def interrupted_at_the_second_band(image, rows):
        if rows.start:
            # A convert killed here (SIGKILL, or out of memory) cleans nothing up, and left its half image (a probe).
            seen_while_written.append((tmp_path / "scan.zarr").exists())
            signal.raise_signal(signal.SIGINT)  # Ctrl-C, as the second band is read
        return read(image, rows)

    monkeypatch.setattr(FitsImage, "__getitem__", interrupted_at_the_second_band)
    with pytest.raises(KeyboardInterrupt):
        convert(tmp_path / "scan.fits", tmp_path / "scan.zarr", chunk=128, ome=ome)
    assert seen_while_written == [False]
    assert list(tmp_path.iterdir()) == [tmp_path / "scan.fits"]


@pytest.mark.parametrize(("chunk", "error", "message"), [
    (8, ValueError, "chunk: expected at least 16 px, got 8 instead"),
    (64.0, TypeError, "chunk: expected an int, got 64.0 instead"),
    (True, TypeError, "chunk: expected an int, got True instead"),
])
def test_convert_refuses_a_bad_chunk(tmp_path, chunk, error, message):
    Image.fromarray(data.camera()).save(tmp_path / "camera.png")
    with pytest.raises(error, match=message):
        convert(tmp_path / "camera.png", tmp_path / "out.zarr", chunk=chunk)
    assert not (tmp_path / "out.zarr").exists()


def test_convert_refuses_an_output_under_a_file(tmp_path):
    """Found by a probe: "[Errno 17] File exists: 'camera.png'"."""
    Image.fromarray(data.camera()).save(tmp_path / "camera.png")
    said = (f"tiledeblur: error: OUTPUT: expected a path in a folder, got '{tmp_path}/camera.png/scan.zarr', which "
            f"lies under the file '{tmp_path}/camera.png'.\n")
    assert _refused("convert", tmp_path / "camera.png", tmp_path / "camera.png" / "scan.zarr") == (2, said)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, which takes no folder")
def test_convert_refuses_an_output_where_no_folder_can_be_made(tmp_path):
    """Found by a probe: as root, who may write anywhere by os.access, "[Errno 2] No such file or directory"."""
    Image.fromarray(data.camera()[:64, :64]).save(tmp_path / "camera.png")
    with pytest.raises(ValueError, match="^output: expected a path this process may write, got '/proc/scan.zarr'"):
        convert(tmp_path / "camera.png", "/proc/scan.zarr")


def test_convert_caps_the_chunk_at_the_image(tmp_path):
    """Found by a probe: --chunk 100000 on a 200 x 300 PNG ran out of memory, each edge chunk allocated whole."""
    Image.fromarray(data.camera()[:200, :300]).save(tmp_path / "camera.png")
    assert convert(tmp_path / "camera.png", tmp_path / "camera.zarr", chunk=4096).chunks == (300, 300)


def test_convert_a_still_gif_and_refuse_an_animation(tmp_path):
    """Found by a probe: imageio gives a GIF's frames an axis, and a still GIF was refused as a stack."""
    Image.fromarray(data.camera()[:64]).save(tmp_path / "grey.gif")
    Image.fromarray(data.astronaut()[:64]).save(tmp_path / "colour.gif")
    grey = convert(tmp_path / "grey.gif", tmp_path / "grey.zarr")[...]  # imageio may make it RGB, by its palette
    assert grey.shape[:2] == (64, 512) and np.all(grey.reshape(64, 512, -1) == data.camera()[:64, :, None])
    assert convert(tmp_path / "colour.gif", tmp_path / "colour.zarr").shape == (64, 512, 3)
    frames = [Image.fromarray(data.camera()[:64]), Image.fromarray(data.camera()[64:128])]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=r"got shape \(2, 64, 512(, 3)?\) \(a z-stack or a time series"):
        convert(tmp_path / "moving.gif", tmp_path / "moving.zarr")


@pytest.mark.parametrize(("name", "save", "compression"), [
    ("scan.jpg", {"format": "JPEG"}, "JPEG"),
    ("scan.jfif", {"format": "JPEG"}, "JPEG"),
    ("scan.png", {"format": "JPEG"}, "JPEG"),  # misnamed
    ("scan.webp", {"format": "WEBP", "quality": 90}, "WEBP"),
    ("scan.webp", {"format": "WEBP", "lossless": True}, None),
    ("scan.png", {"format": "PNG"}, None),
])
def test_convert_records_a_lossy_source_by_its_contents(tmp_path, name, save, compression):
    """Found by a probe: a JPEG named .jfif was recorded as lossless, and mu="auto" deblurred its scan to 18.0 dB,
    against 24.2 dB blurred and 26.9 dB from the same file named .jpg; a lossless WebP was warned of as lossy."""
    Image.fromarray(data.astronaut()[:64, :64]).save(tmp_path / name, **save)
    recorded = convert(tmp_path / name, tmp_path / "scan.zarr").attrs.get(SOURCE_ATTRIBUTE)
    assert recorded == (None if compression is None else {"file": name, "compression": compression})


def test_convert_a_cmyk_picture_as_rgb_or_not_at_all(tmp_path):
    """Found by a probe: its inks were written as four channels, and labelled red, green, blue and alpha."""
    Image.fromarray(data.astronaut()[:128, :128]).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    with pytest.warns(UserWarning, match="image: expected light's colours, got a CMYK picture, 'print.jpg'"):
        array = convert(tmp_path / "print.jpg", tmp_path / "print.zarr")
    with Image.open(tmp_path / "print.jpg") as picture:
        np.testing.assert_array_equal(array[...], np.asarray(picture.convert("RGB")))
    # A TIFF is read in bands by tifffile, whose inks are refused (found by review).
    tifffile.imwrite(tmp_path / "print.tif", np.zeros((64, 64, 4), np.uint8), photometric="separated")
    # Read, and refused: not "could not be read" (found by a probe).
    with pytest.raises(ValueError, match=r"image: expected an image that run deblurs, got '.*print.tif': it holds "
                                         r"inks \(CMYK\), not light's colours: save it as RGB.$"):
        convert(tmp_path / "print.tif", tmp_path / "print_tif.zarr")


def _write_with_alpha(path, pixels, planar):
    """Write ``pixels``, colours and then alpha last, as a PNG or a TIFF; a planar TIFF holds its samples first."""
    if path.suffix == ".png":
        Image.fromarray(pixels).save(path)  # RGBA, or LA
    elif planar:
        tifffile.imwrite(path, np.moveaxis(pixels, -1, 0), planarconfig="separate", extrasamples=["assocalpha"],
                         photometric="rgb" if pixels.shape[-1] == 4 else "minisblack")
    else:
        tifffile.imwrite(path, pixels, photometric="rgb")  # tifffile names a fourth sample alpha


@pytest.mark.parametrize(("name", "colours", "planar"), [
    ("scan.png", 3, False), ("scan.png", 1, False), ("scan.tif", 3, False), ("scan.tif", 3, True),
    ("scan.tif", 1, True),
])
@pytest.mark.parametrize("ome", [False, True])
def test_convert_leaves_alpha_out(tmp_path, name, colours, planar, ome):
    """Found by a probe: an RGBA PNG's alpha was deblurred as a fourth channel, rang from -8.6 to 9.6 times the
    opaque value along its transparent edge, and set every tile's halo by its floor weight (358 px against 108)."""
    pixels = data.astronaut()[:96, :80, :colours]
    alpha = np.full(pixels.shape[:2], 255, np.uint8)
    _write_with_alpha(tmp_path / name, np.dstack([pixels, alpha]), planar)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to tell where every pixel is opaque
        array = convert(tmp_path / name, tmp_path / "opaque.zarr", chunk=32, ome=ome)
    expected = pixels[..., 0] if colours == 1 else np.moveaxis(pixels, -1, 0) if ome or planar else pixels
    np.testing.assert_array_equal(array[...], expected)
    alpha[:, 60:] = 0
    _write_with_alpha(tmp_path / f"clear_{name}", np.dstack([pixels, alpha]), planar)
    with pytest.warns(UserWarning, match=rf"image: 'clear_{name}' holds an alpha channel, which is left out as no "
                                         r"light; 1,920 of its 7,680 pixels are not opaque"):
        array = convert(tmp_path / f"clear_{name}", tmp_path / "clear.zarr", chunk=32, ome=ome)
    np.testing.assert_array_equal(array[...], expected)


def test_convert_reads_a_pngs_16_bits_and_its_transparency(tmp_path):
    """Found by a probe: Pillow read 16-bit colours as 8-bit (33375 as 130), 16-bit grey and alpha as RGB, and a
    palette's transparency was dropped without a word."""
    rgba = np.random.default_rng(0).integers(0, 65536, (40, 50, 4), dtype=np.uint16)
    rgba[..., 3] = 65535
    (tmp_path / "rgb16.png").write_bytes(imagecodecs.png_encode(np.ascontiguousarray(rgba[..., :3])))
    np.testing.assert_array_equal(convert(tmp_path / "rgb16.png", tmp_path / "rgb16.zarr")[...], rgba[..., :3])
    rgba[:10, :, 3] = 1000
    (tmp_path / "rgba16.png").write_bytes(imagecodecs.png_encode(rgba))
    (tmp_path / "la16.png").write_bytes(imagecodecs.png_encode(np.ascontiguousarray(rgba[..., 2:])))
    for name, colours in (("rgba16", rgba[..., :3]), ("la16", rgba[..., 2])):
        with pytest.warns(UserWarning, match="500 of its 2,000 pixels are not opaque"):
            array = convert(tmp_path / f"{name}.png", tmp_path / f"{name}.zarr")
        assert array.dtype == np.uint16
        np.testing.assert_array_equal(array[...], colours)
    palette = Image.fromarray(data.astronaut()[:40, :50]).quantize(colors=16)
    for name in ("palette.png", "palette.gif"):  # a GIF's transparent colour was dropped too (found by a probe)
        palette.save(tmp_path / name, transparency=0)
        with pytest.warns(UserWarning, match="holds an alpha channel"):
            array = convert(tmp_path / name, tmp_path / f"{name}.zarr")
        np.testing.assert_array_equal(array[...], np.asarray(palette.convert("RGB")))


def test_convert_keeps_a_fourth_sample_that_is_not_alpha(tmp_path):
    """A TIFF's extra sample of no known meaning may be light (a fourth band), and stays a channel."""
    pixels = data.astronaut()[:64, :64]
    four = np.dstack([pixels, pixels[..., :1]])
    tifffile.imwrite(tmp_path / "four.tif", four, photometric="rgb", extrasamples=["unspecified"])
    np.testing.assert_array_equal(convert(tmp_path / "four.tif", tmp_path / "four.zarr")[...], four)


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize(("extras", "kept"), [(["assocalpha", "unassalpha"], 3), (["unassalpha", "unspecified"], 4),
                                              (["unspecified", "unassalpha"], 4)])
def test_convert_leaves_out_every_alpha_of_several_extra_samples(tmp_path, extras, kept, planar):
    """Found by a probe: of two extra samples only the last was looked at, so an alpha before another was kept as
    light, or the five samples were refused as "a z-stack or a time series"."""
    pixels = data.astronaut()[:64, :48]
    half_opaque, fourth_band = np.full((64, 48, 1), 128, np.uint8), pixels[..., :1] // 2
    samples = np.dstack([pixels, *(fourth_band if extra == "unspecified" else half_opaque for extra in extras)])
    tifffile.imwrite(tmp_path / "five.tif", np.moveaxis(samples, -1, 0) if planar else samples, photometric="rgb",
                     extrasamples=extras, planarconfig="separate" if planar else "contig")
    with pytest.warns(UserWarning, match="3,072 of its 3,072 pixels are not opaque"):
        array = convert(tmp_path / "five.tif", tmp_path / "five.zarr", chunk=32)
    light = [c for c in range(5) if c < 3 or extras[c - 3] == "unspecified"]
    assert len(light) == kept
    expected = samples[..., light]
    np.testing.assert_array_equal(array[...], np.moveaxis(expected, -1, 0) if planar else expected)


@pytest.mark.parametrize("name", ["palette.tif", "palette.png"])
def test_convert_a_palette_picture_as_its_colours(tmp_path, name):
    """Found by a probe: a palette TIFF's indices into its table of colours were written as its pixels, where a
    palette PNG became RGB."""
    picture = Image.fromarray(data.astronaut()[:96, :80]).quantize(colors=64)
    picture.save(tmp_path / name)
    array = convert(tmp_path / name, tmp_path / "palette.zarr", chunk=32)
    assert array.dtype == np.uint8 and array.metadata.dimension_names == ("y", "x", "c")
    np.testing.assert_array_equal(array[...], np.asarray(picture.convert("RGB")))


def test_a_long_convert_tells_the_share_written(tmp_path, monkeypatch, capfd):
    """A 100k² slide's file takes about 15 minutes to convert here (an 8192² RGB JPEG TIFF with --ome: 6.1 s),
    which were silent."""
    monkeypatch.setattr(tiledeblur.convert, "CONVERT_TELL_SECONDS", 0.0)  # as if each band took long
    monkeypatch.setattr(tiledeblur.ome, "PYRAMID_BAND_CHUNKS", 1)  # level 1 in two parts, as a large image's are
    Image.fromarray(data.camera()).save(tmp_path / "camera.png")
    convert(tmp_path / "camera.png", tmp_path / "camera.zarr", chunk=128, ome=True)
    assert capfd.readouterr().err.splitlines() == [
        *(f"converting camera.png: {share}% of its rows written" for share in (25, 50, 75)),
        "building the OME-Zarr pyramid: level 1 of 2 (part 1 of 2)",
        "building the OME-Zarr pyramid: level 1 of 2 (part 2 of 2)", "building the OME-Zarr pyramid: level 2 of 2"]
    convert(tmp_path / "camera.png", tmp_path / "quiet.zarr", chunk=128, ome=True, progress=False)
    assert capfd.readouterr().err == ""


def test_convert_takes_file_urls_and_refuses_others(tmp_path, monkeypatch):
    """Found by a probe: an s3:// output was written into a local folder "s3:", and said to be uploaded; a file://
    URL's escapes were kept, and its image not found."""
    (tmp_path / "in folder").mkdir()
    Image.fromarray(data.camera()).save(tmp_path / "in folder" / "camera.png")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="output: expected a local path or a file:// URL, got 's3://bucket/x.zarr'"):
        convert(tmp_path / "in folder" / "camera.png", "s3://bucket/x.zarr")
    # Nor a blank one, which was refused as the working directory '.' (a probe).
    with pytest.raises(ValueError, match="output: expected a local path or a file:// URL, got '' instead"):
        convert(tmp_path / "in folder" / "camera.png", "")
    assert list(tmp_path.iterdir()) == [tmp_path / "in folder"]
    url = f"file://localhost{tmp_path}/in%20folder/"
    convert(f"{url}camera.png", f"{url}camera%201.zarr")
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "in folder" / "camera 1.zarr", mode="r")[...],
                                  data.camera())


def test_convert_warns_of_an_orientation_that_viewers_apply(tmp_path):
    """A phone's photo came out on its side, without a word (found by a probe): converted as stored, and told."""
    picture = Image.fromarray(data.astronaut()[:64, :48])
    exif = picture.getexif()
    exif[0x0112] = 6  # turned 90° clockwise to view
    picture.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    tifffile.imwrite(tmp_path / "upside.tif", data.camera()[:64, :48], extratags=[(0x0112, 3, 1, 3, True)])
    for name, tag in (("phone.jpg", 6), ("upside.tif", 3)):
        with pytest.warns(UserWarning, match=rf"image: expected pixels in the order that viewers show them, got "
                                             rf"'{name}', whose orientation tag \({tag}\) asks them to turn or mirror "
                                             "it; it is converted as stored"):
            assert convert(tmp_path / name, tmp_path / f"{name}.zarr").shape[:2] == (64, 48)


def test_convert_writes_into_no_zarr_store(tmp_path):
    """Found by a probe: a converted image written inside a scan's store changed that scan, whose earlier run was
    then refused as from another input."""
    Image.fromarray(data.camera()).save(tmp_path / "camera.png")
    convert(tmp_path / "camera.png", tmp_path / "scan.zarr", progress=False)
    before = sorted(path.relative_to(tmp_path) for path in (tmp_path / "scan.zarr").rglob("*"))
    result = _refused("convert", tmp_path / "camera.png", tmp_path / "scan.zarr" / "more.zarr")
    said = (f"tiledeblur: error: OUTPUT: expected a path outside any Zarr store, got '{tmp_path}/scan.zarr/more.zarr', "
            f"which lies inside the Zarr store '{tmp_path}/scan.zarr'; pass a path beside it.\n")
    assert result == (2, said)
    assert sorted(path.relative_to(tmp_path) for path in (tmp_path / "scan.zarr").rglob("*")) == before


@pytest.mark.parametrize("ome", [False, True])
def test_convert_a_microscopes_channels_first_tiff(tmp_path, ome):
    channels = np.stack([data.camera(), data.moon(), data.camera().T, 255 - data.camera(), data.camera() // 2])
    tifffile.imwrite(tmp_path / "cells.tif", channels, photometric="minisblack", tile=(128, 128))  # axes QYX
    with pytest.warns(UserWarning, match="planes are not .* they are taken as channels"):
        array = convert(tmp_path / "cells.tif", tmp_path / "cells.zarr", chunk=256, ome=ome)
    assert (array.shape, array.chunks) == ((5, 512, 512), (5, 256, 256))
    np.testing.assert_array_equal(array[...], channels)
    assert array.metadata.dimension_names == ("c", "y", "x")
    assert tiledeblur.plan(tmp_path / "cells.zarr", gaussian_psf(13, 2.0), mu=0.01).channels == 5


def test_convert_an_ome_tiff_keeps_its_pixel_size_and_channels_to_the_output(tmp_path):
    """convert --ome wrote a scale of 1 without units, so no output after it had a pixel size, and dropped the
    channels' names (found by probes)."""
    channels = np.stack([data.camera(), data.moon()])
    tifffile.imwrite(tmp_path / "cells.ome.tif", channels, ome=True,
                     metadata={"axes": "CYX", "PhysicalSizeX": 0.108, "PhysicalSizeY": 0.11, "PhysicalSizeXUnit": "nm",
                               "Name": "well A1", "Channel": {"Name": ["DAPI", "GFP"], "Color": [65535, 16711935]}})
    # A plain array keeps neither, which it did without a word (found by a probe).
    with pytest.warns(UserWarning, match="ome: cells.ome.tif gives its pixel size and its channels' names, which "
                                         "only an OME-Zarr keeps; pass ome=True to keep them"):
        convert(tmp_path / "cells.ome.tif", tmp_path / "plain.zarr", chunk=256)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        convert(tmp_path / "cells.ome.tif", tmp_path / "cells.zarr", chunk=256, ome=True)
    report = tiledeblur.run(tmp_path / "cells.zarr", gaussian_psf(13, (1, 3)), mu=0.01, tile=256, n_workers=1,
                            progress=False)
    for group in (zarr.open_group(tmp_path / "cells.zarr", mode="r"), zarr.open_group(report.output, mode="r")):
        multiscale = group.attrs["ome"]["multiscales"][0]
        assert [axis.get("unit") for axis in multiscale["axes"]] == [None, "nanometer", "nanometer"]
        scales = [dataset["coordinateTransformations"][0]["scale"] for dataset in multiscale["datasets"]]
        # y has OME's default unit, µm: in x's, nm (it took x's unit before, 1000 times off; found by a probe).
        assert scales == [[1.0, 110.0, 0.108], [1.0, 220.0, 0.216]]
        assert multiscale["name"] == "well A1"
        # OME's signed RGBA integers as NGFF's RRGGBB: blue and green; and each channel the display window that NGFF
        # requires of it, which the file does not give (found by a probe).
        channels = group.attrs["ome"]["omero"]["channels"]
        assert [(channel["label"], channel["color"]) for channel in channels] == [("DAPI", "0000FF"), ("GFP", "00FF00")]
        assert all({"min", "max", "start", "end"} <= channel["window"].keys() for channel in channels)


def test_convert_an_ome_tiff_warns_of_no_channel_names_that_it_does_not_give(tmp_path):
    """tifffile writes OME channels without a name; a made-up "Channel 0" was warned of as the file's (found by a
    probe)."""
    tifffile.imwrite(tmp_path / "grey.ome.tif", data.camera(), ome=True,
                     metadata={"PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25})
    with pytest.warns(UserWarning) as caught:
        convert(tmp_path / "grey.ome.tif", tmp_path / "grey.zarr", chunk=256)
    assert [str(warning.message) for warning in caught] == [
        "ome: grey.ome.tif gives its pixel size, which only an OME-Zarr keeps; pass ome=True to keep it."]
    tifffile.imwrite(tmp_path / "rgb.ome.tif", data.astronaut(), ome=True, photometric="rgb")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        convert(tmp_path / "rgb.ome.tif", tmp_path / "rgb.zarr", chunk=256)


def test_convert_names_the_images_of_a_tiff_that_it_leaves_out(tmp_path):
    """Only the first image of a multi-position TIFF was converted, without a word (found by a probe)."""
    with tifffile.TiffWriter(tmp_path / "fields.ome.tif", ome=True) as writer:
        writer.write(data.camera(), metadata={"Name": "field 1"})
        writer.write(data.moon()[:400, :200], metadata={"Name": "field 2"})
    with pytest.warns(UserWarning, match=r"image: 'fields.ome.tif' holds 2 images, and only the first, field 1 "
                                         r"\(512 x 512\), is converted; left out: field 2 \(400 x 200\)\. To convert"):
        array = convert(tmp_path / "fields.ome.tif", tmp_path / "fields.zarr", chunk=256)
    np.testing.assert_array_equal(array[...], data.camera())
    # A whole slide's label, overview and thumbnail are no part of its scan, and its pyramid is one image.
    description = "Aperio Image Library v12.0.15 \n512x512 (128x128) RGB|AppMag = 40|MPP = 0.2500"
    with tifffile.TiffWriter(tmp_path / "slide.svs") as writer:
        for picture, more in [(data.astronaut(), {"tile": (128, 128), "description": description}),
                              (data.astronaut()[::4, ::4], {"description": "Aperio Image Library thumbnail"}),
                              (data.astronaut()[::2, ::2], {"tile": (128, 128), "description": "Aperio level 1"}),
                              (data.astronaut()[:64, :96], {"description": "Aperio Image Library\nlabel",
                                                            "subfiletype": 1}),
                              (data.astronaut()[:80, :200], {"description": "Aperio Image Library\nmacro",
                                                             "subfiletype": 9})]:
            writer.write(picture, photometric="rgb", metadata=None, **more)
    with tifffile.TiffFile(tmp_path / "slide.svs") as slide:
        assert [series.name for series in slide.series] == ["Baseline", "Thumbnail", "Label", "Macro"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        array = convert(tmp_path / "slide.svs", tmp_path / "slide.zarr", chunk=256, ome=True)
    np.testing.assert_array_equal(array[...], np.moveaxis(data.astronaut(), -1, 0))


def test_convert_an_aperio_slide_keeps_its_pixel_size(tmp_path):
    """A scanner's microns per pixel, which QuPath measures by, were dropped without a word (found by a probe)."""
    tifffile.imwrite(tmp_path / "slide.svs", data.astronaut(), tile=(128, 128), photometric="rgb",
                     description="Aperio Image Library v12.0.15 \n512x512 (128x128) RGB|AppMag = 40|MPP = 0.2500")
    convert(tmp_path / "slide.svs", tmp_path / "slide.zarr", chunk=256, ome=True)
    multiscale = zarr.open_group(tmp_path / "slide.zarr", mode="r").attrs["ome"]["multiscales"][0]
    assert [axis.get("unit") for axis in multiscale["axes"]] == [None, "micrometer", "micrometer"]
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 0.25, 0.25]


@pytest.mark.parametrize("unit, expected", [("CENTIMETER", [1.0, 0.5, 0.25]), ("INCH", [1.0, 1.0, 1.0])])
def test_convert_a_tiff_keeps_a_metric_resolution_as_its_pixel_size(tmp_path, unit, expected):
    """A Hamamatsu slide's pixels per centimetre were dropped; inches are a generic writer's 72 dpi, no pixel size."""
    tifffile.imwrite(tmp_path / "slide.tif", data.astronaut(), tile=(128, 128), photometric="rgb",
                     resolution=(40000, 20000), resolutionunit=unit)
    convert(tmp_path / "slide.tif", tmp_path / "slide.zarr", chunk=256, ome=True)
    multiscale = zarr.open_group(tmp_path / "slide.zarr", mode="r").attrs["ome"]["multiscales"][0]
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == pytest.approx(expected)
    assert [axis.get("unit") for axis in multiscale["axes"]][1:] == (["micrometer"] * 2 if unit == "CENTIMETER"
                                                                     else [None, None])


def test_convert_an_imagej_tiff_keeps_its_calibration_and_labels(tmp_path):
    """A Fiji hyperstack's pixel size and channel labels were dropped without a word (found by a probe)."""
    channels = np.stack([data.camera(), data.moon()])
    tifffile.imwrite(tmp_path / "fiji.tif", channels, imagej=True, resolution=(1 / 0.325, 1 / 0.4),
                     metadata={"axes": "CYX", "unit": "\\u00B5m", "Labels": ["DAPI", "GFP"]})  # µ as ImageJ writes it
    convert(tmp_path / "fiji.tif", tmp_path / "fiji.zarr", chunk=256, ome=True)
    group = zarr.open_group(tmp_path / "fiji.zarr", mode="r")
    multiscale = group.attrs["ome"]["multiscales"][0]
    assert [axis.get("unit") for axis in multiscale["axes"]] == [None, "micrometer", "micrometer"]
    assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == pytest.approx([1.0, 0.4, 0.325])
    # White, and each in a window from its least value to its 99.9th percentile, which NGFF requires and the file
    # does not give (found by a probe: labels alone).
    smallest = group[multiscale["datasets"][-1]["path"]][...]
    assert group.attrs["ome"]["omero"]["channels"] == [
        {"label": label, "color": "FFFFFF", "window": {"min": 0, "max": 255, "start": int(plane.min()),
                                                        "end": int(np.ceil(np.percentile(plane, 99.9)))}}
        for label, plane in zip(("DAPI", "GFP"), smallest)]
    np.testing.assert_array_equal(group["0"][...], channels)


def test_convert_tiff_and_ome(tmp_path):
    rgb = data.astronaut()
    tifffile.imwrite(tmp_path / "scan.tif", rgb, tile=(128, 128))
    result = _tiledeblur("convert", tmp_path / "scan.tif", tmp_path / "plain.zarr", "--chunk", "256")
    assert result.returncode == 0, result.stderr
    plain = zarr.open_array(tmp_path / "plain.zarr", mode="r")
    assert plain.chunks == (256, 256, 3)
    np.testing.assert_array_equal(plain[...], rgb)
    result = _tiledeblur("convert", tmp_path / "scan.tif", tmp_path / "ome.zarr", "--ome", "--chunk", "128")
    assert result.returncode == 0, result.stderr
    group = zarr.open_group(tmp_path / "ome.zarr", mode="r")
    multiscale = group.attrs["ome"]["multiscales"][0]
    axes = [axis["name"] for axis in multiscale["axes"]]
    assert axes == ["c", "y", "x"] and group["0"].metadata.dimension_names == ("c", "y", "x")  # as NGFF 0.5 requires
    # Named after the file, its channels red, green and blue in the dtype's window, as viewers show them.
    assert multiscale["name"] == "scan"
    channels = group.attrs["ome"]["omero"]["channels"]
    assert [(channel["label"], channel["color"], channel["window"]["end"]) for channel in channels] == [
        ("red", "FF0000", 255), ("green", "00FF00", 255), ("blue", "0000FF", 255)]
    np.testing.assert_array_equal(group["0"][...], np.moveaxis(rgb, -1, 0))
    # A pyramid down to one chunk, each level the rounded 2 x 2 mean of the one before.
    assert [dataset["path"] for dataset in multiscale["datasets"]] == ["0", "1", "2"]
    assert group["2"].shape == (3, 128, 128)
    halved = np.round(group["0"][...].reshape(3, 256, 2, 256, 2).mean(axis=(2, 4)))
    np.testing.assert_array_equal(group["1"][...], halved)
    status, stderr = _refused("convert", tmp_path / "scan.tif", tmp_path / "ome.zarr")
    assert status == 2 and "which exists" in stderr
    # Stored planar, channels first, its samples are red, green and blue all the same (found by a probe: no colours).
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    group = zarr.open_group(convert(tmp_path / "planar.tif", tmp_path / "planar.zarr", chunk=128, ome=True).store,
                            mode="r")
    assert group.attrs["ome"]["omero"]["channels"] == channels
    np.testing.assert_array_equal(group["0"][...], np.moveaxis(rgb, -1, 0))
    # Of 12-bit counts, the window ends where the counts do, not at 65535 (found by a probe: a CYX TIFF that
    # tifffile wrote as planar RGB previewed nearly black); one window for all keeps the colours' balance.
    counts = (np.moveaxis(rgb, -1, 0).astype(np.uint16) * 16)[:, :200, :300]
    tifffile.imwrite(tmp_path / "counts.tif", counts, photometric="rgb", planarconfig="separate")
    group = zarr.open_group(convert(tmp_path / "counts.tif", tmp_path / "counts.zarr", chunk=128, ome=True).store,
                            mode="r")
    windows = [channel["window"] for channel in group.attrs["ome"]["omero"]["channels"]]
    smallest = group.attrs["ome"]["multiscales"][0]["datasets"][-1]["path"]  # as viewers read for their contrast
    end = np.ceil(np.percentile(group[smallest][...], 99.9))
    assert windows == [{"min": 0, "max": 65535, "start": 0, "end": end}] * 3 and 3500 < end <= 4080


# A Leica scan's .scn went to a reader that loads the whole image, and lost its JPEG's warning (found by a probe).
@pytest.mark.parametrize(("compression", "name"), [("jpeg", "slide.svs"), ("jpeg", "slide.scn"),
                                                   ("jpeg2000", "slide.svs"), ("lzw", "cells.tif")])
def test_convert_compressed_tiffs(tmp_path, recorded, article_psf, compression, name):
    """Whole-slide scans are JPEG-compressed and microscopes write LZW: both need imagecodecs (found by a probe)."""
    rgb = recorded(data.astronaut(), [article_psf] * 3)
    tifffile.imwrite(tmp_path / name, rgb, tile=(128, 128), compression=compression, photometric="rgb")
    result = _tiledeblur("convert", tmp_path / name, tmp_path / "scan.zarr")
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "scan.zarr", mode="r")[...],
                                  tifffile.imread(tmp_path / name))
    # Lossy codecs took the noise that cross-validation measures: a JPEG scan got 3.5e-5 and 13 dB, a lossless one
    # 4.5e-3 and 27 dB (found by a probe). JPEG's own error sets the weight (tiledeblur.jpeg); the others warn.
    # convert names the axes: no --channel-axis is needed (found by a probe: "got None" for an option not given).
    command = ["plan", tmp_path / "scan.zarr", "--psf", "gaussian:13,1,3", "--loss", "laplacian"]  # its weights
    lossy = f"mu: 'auto' measures noise that JPEG2000 compression of the source file '{name}' removed"
    result = _tiledeblur(*command)
    assert (lossy in result.stderr) == (compression == "jpeg2000")
    weights = re.search(r"; mu (.*?); ", result.stdout).group(1)
    if compression == "jpeg":
        assert "Warning" not in result.stderr
        assert min(map(float, weights.split(", "))) > 1e-3
    if compression == "jpeg2000":  # every channel's weight, as the plan says them, not the smallest alone (a probe)
        assert f"chose {weights}, likely far too small" in result.stderr
        assert "laplacian's best weights lay between 1e-3 and 1e-2." in result.stderr
        with pytest.warns(tiledeblur.MuWarning, match="chose 0.001, 0.02, 0.3, likely") as caught:  # channels differ
            _warn_if_lossy(zarr.open_array(tmp_path / "scan.zarr", mode="r"), (0.001, 0.02, 0.3), ("tv",) * 3,
                           stacklevel=1)
        # Each loss weighs mu on its own scale: the range measured is laplacian's alone.
        assert str(caught[0].message).endswith("Pass mu, tried on a region first.")
    assert "Warning" not in _tiledeblur(*command, "--mu", "0.005").stderr


def test_demo(tmp_path):
    result = _tiledeblur("demo", "--size", "320", "--out", tmp_path, "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "PSNR blurred" in result.stdout
    assert (tmp_path / "demo.png").stat().st_size > 20_000


def test_convert_takes_a_fits_cube_of_wavelengths_as_channels_and_refuses_one_of_times(tmp_path):
    """Five epochs became five channels, where a TIFF's planes of time are refused (found by a probe)."""
    cube = fits.PrimaryHDU(np.stack([data.camera()[:64, :64]] * 5).astype(np.float32))
    cube.header["CTYPE3"] = "WAVE"
    cube.writeto(tmp_path / "spectral.fits")
    assert convert(tmp_path / "spectral.fits", tmp_path / "spectral.zarr").shape == (5, 64, 64)
    cube.header["CTYPE3"] = "TIME"
    cube.writeto(tmp_path / "epochs.fits")
    with pytest.raises(ValueError, match=r"image: expected an image that run deblurs, got '.*epochs.fits': its "
                                         r"planes are times \(CTYPE3 'TIME'\), and a time series is no channels: write "
                                         r"each plane"):
        convert(tmp_path / "epochs.fits", tmp_path / "epochs.zarr")
    assert not (tmp_path / "epochs.zarr").exists()


def test_convert_fits_keeps_the_header_and_names_the_image_read_of_several(tmp_path):
    """WCS, units and object were lost without a word, and of several images the first was read silently (a probe)."""
    science = fits.ImageHDU(data.camera().astype(np.float32), name="SCI")
    described = {"CTYPE1": "RA---TAN", "CRVAL1": 150.1, "CRPIX1": 256.5, "CDELT1": -1e-5, "BUNIT": "ELECTRONS/S"}
    science.header.update(described)
    # ESO's long keywords, a string longer than a card, and the pipeline's history were dropped.
    science.header["HIERARCH ESO DET DIT"] = 1.5
    science.header["FILENAME"] = "drizzled_mosaic_" * 6
    science.header.add_history("flat-fielded")
    science.header.add_history("drizzled")
    primary = fits.PrimaryHDU()
    primary.header.update({"TELESCOP": "HST", "OBJECT": "M 51"})  # the observation's, on the primary HDU
    hdus = fits.HDUList([primary, science, fits.ImageHDU(np.ones((512, 512), np.float32), name="ERR")])
    hdus.writeto(tmp_path / "hst.fits")
    with pytest.warns(UserWarning, match=r"image: '.*hst.fits' holds images in HDU 1 \(SCI\), HDU 2 \(ERR\), and only "
                                         "the first is read") as caught:
        array = convert(tmp_path / "hst.fits", tmp_path / "hst.zarr", chunk=128)
    assert caught[0].filename == __file__  # the caller's line: convert's own was named (found in review)
    header = array.attrs["fits_header"]
    assert {**described, "EXTNAME": "SCI", "TELESCOP": "HST", "OBJECT": "M 51", "ESO DET DIT": 1.5,
            "FILENAME": "drizzled_mosaic_" * 6, "HISTORY": ["flat-fielded", "drizzled"]}.items() <= header.items()
    assert not {"XTENSION", "BITPIX", "NAXIS", "NAXIS1", "PCOUNT"} & header.keys()
    np.testing.assert_array_equal(array[...], data.camera())
    # Its commentary's lists make a header again (found by a probe: astropy refused the attribute as it was).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)  # HIERARCH made of the long keyword, as it was
        rebuilt = fits.Header(header_cards(header))
    assert list(rebuilt["HISTORY"]) == ["flat-fielded", "drizzled"]
    assert rebuilt["CTYPE1"] == "RA---TAN" and rebuilt["ESO DET DIT"] == 1.5
    # JSON holds no NaN or inf, and INHERIT = F keeps the primary's cards out (found by a probe).
    science.header.update({"INHERIT": False, "DATAMIN": -1.0})
    hdus.writeto(tmp_path / "odd.fits")
    raw = (tmp_path / "odd.fits").read_bytes()
    card = next(raw[at:at + 80] for at in range(0, len(raw), 80) if raw[at:at + 8] == b"DATAMIN ")
    (tmp_path / "odd.fits").write_bytes(raw.replace(card, b"DATAMIN = NaN".ljust(80)))
    with pytest.warns(UserWarning, match="only the first is read"):
        header = convert(tmp_path / "odd.fits", tmp_path / "odd.zarr", chunk=128).attrs["fits_header"]
    assert header["DATAMIN"] == "nan" and "TELESCOP" not in header
    json.loads((tmp_path / "odd.zarr" / "zarr.json").read_text(), parse_constant=pytest.fail)
    # A primary's coordinate system beside the chip's own: astropy took the primary's PC matrix over the chip's CD
    # matrix, and turned its coordinates 90° (found by a probe). Nor is the primary's history the chip's.
    science.header.update({"INHERIT": True, "CD1_1": 0.0, "CD1_2": -1e-5, "CD2_1": 1e-5, "CD2_2": 0.0})
    del science.header["CDELT1"]
    primary.header.update({"CTYPE1": "RA---TAN", "PC1_1": 1.0, "CDELT1": -2e-5, "CRVAL2": 20.0, "RADESYS": "FK5"})
    primary.header.add_comment("a note on the observation")
    hdus.writeto(tmp_path / "chips.fits")
    with pytest.warns(UserWarning, match="only the first is read"):
        header = convert(tmp_path / "chips.fits", tmp_path / "chips.zarr", chunk=128).attrs["fits_header"]
    assert header["TELESCOP"] == "HST" and header["RADESYS"] == "FK5" and header["CD1_2"] == -1e-5
    assert header["CRVAL1"] == 150.1 and not {"PC1_1", "CDELT1", "CRVAL2", "COMMENT"} & header.keys()


def _mosaic_with_blank():
    """Fluxes with NaN beyond a slanted footprint's edge, as a drizzled mosaic has them."""
    flux = data.camera().astype(np.float32) * 3.5 + 120.0
    rows, columns = np.indices(flux.shape)
    flux[rows > columns + 200] = np.nan
    return flux


def _scaled_int16_with_blank(path):
    flux = _mosaic_with_blank()
    blank = np.isnan(flux)
    hdu = fits.PrimaryHDU(np.where(blank, 1000.0, np.round(flux * 4) / 4))
    hdu.scale("int16", bscale=0.25, bzero=1000.0)
    hdu.data[blank] = -32768
    hdu.header["BLANK"] = -32768
    hdu.writeto(path)


@pytest.mark.parametrize(("write", "dtype"), [
    # HST's and JWST's layout: an empty primary HDU, the science image in an IMAGE extension.
    (lambda path: fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(_mosaic_with_blank(), name="SCI")]).writeto(path),
     np.float32),
    (lambda path: fits.PrimaryHDU(data.camera().astype(np.uint16) * 200).writeto(path), np.uint16),  # BZERO 32768
    (lambda path: fits.PrimaryHDU(data.camera()).writeto(path), np.uint8),
    (lambda path: fits.PrimaryHDU(data.camera().astype(np.int32) - 100).writeto(path), np.int32),
    (_scaled_int16_with_blank, np.float32),
    (lambda path: fits.PrimaryHDU(data.camera()[None, None].astype(np.float64)).writeto(path), np.float64),  # radio
    (lambda path: fits.PrimaryHDU(np.stack([data.camera(), data.moon()]).astype(">f4")).writeto(path), np.float32),
    (_image_after_random_groups, np.float32),
])
def test_convert_fits_gives_the_values_astropy_reads(tmp_path, write, dtype):
    write(tmp_path / "mosaic.fits")
    with fits.open(tmp_path / "mosaic.fits") as hdus:
        expected = np.squeeze(next(hdu.data for hdu in hdus if hdu.is_image and hdu.data is not None))
    array = convert(tmp_path / "mosaic.fits", tmp_path / "mosaic.zarr", chunk=128)
    assert array.dtype == dtype and array.shape == expected.shape
    np.testing.assert_array_equal(array[...], expected)  # NaN where astropy reads NaN


def test_convert_fits_keeps_fine_steps_on_a_large_zero(tmp_path):
    """int16 steps of 0.001 on a BZERO of 1e6, which float32 cannot hold, collapsed four to one (found by a probe;
    astropy reads them so too)."""
    stored = data.camera().astype(np.int16) * 100 - 12_000
    hdu = fits.PrimaryHDU(stored)
    hdu.header.update(BSCALE=0.001, BZERO=1e6)
    hdu.writeto(tmp_path / "fine.fits")
    array = convert(tmp_path / "fine.fits", tmp_path / "fine.zarr", chunk=128)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array[...], stored * 0.001 + 1e6)
    assert len(np.unique(array[...])) == len(np.unique(stored))
