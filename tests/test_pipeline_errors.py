"""Bad input to run(): a clear error, and nothing written or changed."""

import hashlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import warnings
import zipfile
from fractions import Fraction
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import scipy.signal
import zarr
from PIL import Image
from skimage import data

import tiledeblur
from tiledeblur import DiskSpaceWarning, gaussian_psf, plan, run
from tiledeblur.destination import output_location
from tiledeblur.io import MARKER_FOLDER, Location, create_output, fingerprint
from tiledeblur.pipeline import _carried_attributes
from tiledeblur.planning import check_disk_space, prepare
from tiledeblur.scan import _computed_telling
from tiledeblur.settings import DEFAULT_EPS, DEFAULT_MAXITER, DEFAULT_TOL


def _digest(path):
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(str(p).encode() + p.read_bytes() for p in files)).hexdigest()


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.zarr"
    z = zarr.create_array(path, shape=(96, 80), chunks=(32, 32), dtype="f4")
    z[...] = np.random.default_rng(5).random((96, 80))
    return path


PSF = gaussian_psf(13, (1, 3))

CASES = [
    ({"tile": 8}, ValueError, "tile: expected at least the PSF size, 13 px, got 8"),
    ({"tile": "big"}, TypeError, "tile: expected 'auto' or an int, got 'big'"),
    ({"halo": 3}, ValueError, "halo: expected at least the PSF radius, 6 px, got 3"),
    ({"loss": "article"}, ValueError, "loss: expected one of .* for tiles, got 'article'"),
    ({"loss": "TV"}, ValueError,
     r"loss: expected one of \('auto', 'laplacian', 'nlmeans', 'tikhonov', 'tv'\) for tiles, got 'TV' instead\.$"),
    ({"out_dtype": "int8"}, ValueError, "out_dtype: expected one of"),
    ({"out_dtype": np.dtype("float32")}, TypeError, r"out_dtype: expected one of .*, got dtype\('float32'\)"),
    ({"loss": ["tv"]}, TypeError, r"loss: expected one of .*, got \['tv'\] instead"),
    ({"ome": 0}, TypeError, "ome: expected None, True or False, got 0 instead"),
    ({"mu": -1.0}, ValueError, "mu: expected a positive finite number"),
    ({"mu": [0.01, -1]}, ValueError, r"mu\[1\]: expected a positive finite number, got -1 instead"),
    ({"mu": [0.01, 1e39]}, ValueError, r"mu\[1\]: expected a positive number up to 1e\+20, got 1e\+39 instead"),
    ({"mu": ["auto", 0.01]}, ValueError, (r"mu: expected 'auto', a number, or a list of numbers, one per channel, "
                                         r"got \['auto', 0.01\] instead")),
    ({"mu": np.array(-1.0)}, ValueError, "mu: expected a positive finite number, got -1.0 instead"),
    ({"mu": []}, ValueError, (r"mu: expected 'auto', a number, or a list of numbers, one per channel, got \[\] "
                             r"instead")),
    ({"mu": [0.01, 0.02]}, ValueError, "mu: expected 1 weight for an image without channels, got 2 instead"),
    ({"channel_axis": 0}, ValueError,
     "channel_axis: expected none \\(no channel axis\\) for 2-D data, got 0 instead; pass channel_axis=None"),
    ({"mu": "Auto"}, TypeError, "mu: expected 'auto', a number, or a list of numbers, one per channel, got 'Auto'"),
    ({"component": "0"}, ValueError, "component: expected None for the array"),
    ({"psf": np.ones((4, 4))}, ValueError, "psf: expected odd side lengths"),
    ({"psf": [[1.0, 2.0, 1.0], [1.0, 2.0]]}, ValueError,  # NumPy's words alone before (found by a probe)
     r"psf: expected a 2-D array, got list that NumPy cannot make one of"),
    ({"psf": np.array(1.0)}, ValueError, r"psf: expected a 2-D array, got shape \(\)"),  # an IndexError (a probe)
    # NumPy's array(None, dtype=object) before (found by a probe), where deconvolve said None.
    ({"psf": None}, TypeError, r"psf: expected a real numeric array, got None instead\.$"),
    ({"psf": [PSF, PSF]}, ValueError, r"psf: expected 1 PSF for an image without channels, got 2 instead"),
    # "got 9" alone before, for what was read as 9 PSFs (found by a probe).
    ({"psf": np.stack([PSF] * 3, axis=-1)}, ValueError, (r"psf: expected 1 PSF for an image without channels, got 13 "
                                                         r"\(a stack of shape \(13, 13, 3\), read as \(C, P, Q\); its "
                                                         r"last axis holds 3 if it is \(P, Q, C\); of a z-stack, "
                                                         r"pass its in-focus plane\) instead")),
    ({"psf": "no-such-psf.npy"}, ValueError, "psf: expected an existing PSF file, got 'no-such-psf.npy'"),
    # NumPy's and the system's words before (found by a probe).
    ({"output": "a\x00b.zarr"}, ValueError, r"output: expected a path without a NUL character, got 'a\\x00b.zarr'"),
    # The command line's words, given in Python (found by a probe).
    ({"psf": "gaussian:13,1,3"}, ValueError,
     (r"psf: expected an existing PSF file, got 'gaussian:13,1,3', which does not exist; a Gaussian is "
      r"gaussian_psf\(SIZE, SIGMA\) in Python, gaussian:SIZE,SIGMA on the command line\.")),
    ({"psf": gaussian_psf(151, 3.0)}, ValueError,
     "zarr_path: expected an image at least as large as the 151 x 151 PSF, got 96 x 80 px"),
    ({"address": "tcp://127.0.0.1:1", "client": object()}, ValueError, "address: expected None when a client"),
    ({"address": "tcp://127.0.0.1:1", "n_workers": 2}, ValueError, "n_workers: expected no count with a client or an"),
    ({"address": "no-port"}, ValueError, "address: expected a dask scheduler's address .* got 'no-port'"),
    ({"address": "tcp://127.0.0.1:1"}, ValueError, "address: expected a running dask scheduler, got 'tcp://127"),
    ({"address": "127.0.0.1:99999"}, ValueError, "address: expected a port from 1 to 65535, got '127.0.0.1:99999'"),
    # dask's own words named no option (found by a probe).
    ({"address": "http://127.0.0.1:8786"}, ValueError,
     (r"address: expected a dask scheduler's address such as 'tcp://10.0.0.5:8786', got 'http://127.0.0.1:8786' "
      r"instead, a web address such as a dashboard's, which is not the scheduler's\.")),
    ({"address": "ftp://127.0.0.1:8786"}, ValueError,
     r"address: expected a scheme that dask connects with \(inproc, tcp, tls, .*\), got 'ftp://127.0.0.1:8786'"),
    ({"address": "tls://127.0.0.1:1"}, ValueError,
     ("address: expected a dask scheduler that this process can reach, got 'tls://127.0.0.1:1', which it could "
      r"not \(TLS expects a `ssl_context`")),
    ({"overwrite": "no"}, TypeError, "overwrite: expected True or False, got 'no'"),
    ({"resume": "no"}, TypeError, "resume: expected True or False, got 'no'"),
    ({"n_workers": -1}, ValueError, "n_workers: expected at least 1, got -1"),
    ({"n_workers": 0}, ValueError, "n_workers: expected at least 1, got 0"),
    ({"n_workers": 1.5}, TypeError, "n_workers: expected None or an int, got 1.5"),
    # A million worker processes were asked of LocalCluster (found by a probe).
    ({"n_workers": 10**6}, ValueError, (r"n_workers: expected at most \d+, the worker processes that this "
                                        r"machine's [\d.]+ GiB hold at 256 MiB each before any tile, got 1000000")),
    ({"output": 5}, TypeError, "output: expected None, a str or an os.PathLike, got 5"),
    ({"output": "foo://out.zarr"}, ValueError, "output: expected a path or a URL that fsspec can open, got 'foo://"),
    # Split as one store's path: "[Errno 21] Is a directory" (found by a probe).
    ({"output": "zip://out.zarr::file:///tmp/out.zip"}, ValueError,
     r"output: expected a path or the URL of one store, got 'zip://out.zarr::file:///tmp/out.zip', a chain of URLs"),
    ({"output": "memory://out.zarr"}, ValueError, "output: expected a store that dask's worker processes can open"),
    ({"output": "s3://bucket/out.zarr?X-Amz-Signature=1"}, ValueError,
     "output: expected a store's URL without a query string, got 's3://bucket/out.zarr\\?X-Amz-Signature=1'"),
    ({"output": "file://server/share/out.zarr"}, ValueError, "output: expected a file:// URL of this machine"),
    ({"storage_options": 5}, TypeError, "storage_options: expected None or a dict, got 5"),
    ({"missing_value": "0"}, TypeError, "missing_value: expected None or a number, got '0'"),
    ({"missing_value": True}, TypeError, "missing_value: expected None or a number, got True"),
    ({"missing_value": np.nan}, ValueError, "missing_value: expected a finite number .* got nan"),
    # float() of them raised OverflowError, which named no argument (found by a probe).
    ({"missing_value": 10**400}, ValueError, "missing_value: expected a finite number .* got 1000"),
    ({"mu": 10**400}, ValueError, "mu: expected a positive finite number, got 1000"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), CASES)
def test_bad_arguments(scan, kwargs, error, match):
    before = _digest(scan)
    kwargs = {"psf": PSF, **kwargs}
    with pytest.raises(error, match=match):
        run(scan, kwargs.pop("psf"), progress=False, **kwargs)
    assert _digest(scan) == before
    assert not (scan.parent / "scan.deblurred.zarr").exists()


def test_an_input_url_with_a_query_or_on_a_server_that_is_down_is_named():
    """Found by a probe: zarr added its keys after the query and read a web server's listing as metadata, and a server
    that was down gave "[Errno 111] Connection refused" alone."""
    with pytest.raises(ValueError, match=r"^zarr_path: expected a store's URL without a query string, got 'http://"
                                         r"127.0.0.1:1/scan.zarr\?token=abc': zarr adds each file's name to the URL's"):
        plan("http://127.0.0.1:1/scan.zarr?token=abc", PSF)
    with pytest.raises(ValueError, match=r"^zarr_path: expected a store that this process can read, got 'ftp://"
                                         r"127.0.0.1:1/scan.zarr', which it could not \(ConnectionRefusedError: "):
        plan("ftp://127.0.0.1:1/scan.zarr", PSF)


def test_an_output_on_a_server_that_is_down_is_named(scan):
    """Found by a probe: the output's server refused the connection, and the error named no argument."""
    with pytest.raises(ValueError, match=r"^output: expected a store that this process can reach, got 'ftp://"
                                         r"127.0.0.1:1/out.zarr', which it could not \(ConnectionRefusedError: "):
        plan(scan, PSF, output="ftp://127.0.0.1:1/out.zarr")


def test_plain_arrays_that_ngff_cannot_describe_are_refused_as_ome(tmp_path):
    """NGFF orders channels before y and x, and names every axis: refused before any work, not written wrong."""
    zarr.create_array(tmp_path / "yxc.zarr", shape=(64, 64, 3), dtype="u1")
    for call in (run, plan):  # plan accepted what run refused (found by a probe)
        with pytest.raises(ValueError, match=r"ome: expected channels first \(on axis 0\) .* got them on axis 2"):
            call(tmp_path / "yxc.zarr", PSF, channel_axis=-1, mu=0.01, ome=True)
    zarr.create_array(tmp_path / "tczyx.zarr", shape=(1, 1, 1, 64, 64), dtype="u1")
    with pytest.raises(ValueError, match="ome: expected a plain array of 2 or 3 axes to describe as OME-Zarr, got 5"):
        run(tmp_path / "tczyx.zarr", PSF, mu=0.01, ome=True, progress=False)
    assert not list(tmp_path.glob("*.deblurred.zarr"))


def test_the_default_output_name_drops_a_zarr_suffix_in_any_case(tmp_path):
    for name, output in (("scan.zarr", "scan"), ("UP.ZARR", "UP"), ("plain", "plain"), ("a.zarr.Zarr", "a.zarr")):
        zarr.create_array(tmp_path / name, shape=(8, 8), dtype="u1")
        assert output_location(None, Location.at(tmp_path / name), None, None).url == str(tmp_path / output) + \
            ".deblurred.zarr"


def test_an_array_or_none_is_no_path(tmp_path):
    """Their str() became a path: an array's printout, "./None" (found by a probe)."""
    scan = zarr.create_array(tmp_path / "scan.zarr", data=np.zeros((64, 64), np.uint8))
    with pytest.raises(TypeError, match=r"zarr_path: expected a str or an os.PathLike .*, got a zarr.Array of shape "
                                        r"\(64, 64\) instead; pass the path of its store"):
        plan(scan, PSF)
    with pytest.raises(TypeError, match=r"got a numpy.ndarray of shape \(64, 64\) instead; tiledeblur.deconvolve"):
        run(scan[...], PSF, progress=False)
    with pytest.raises(TypeError, match=r"zarr_path: expected a str or an os.PathLike .*, got None instead.$"):
        run(None, PSF, progress=False)


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda metadata: metadata.pop("data_type"), "KeyError: 'data_type'"),
    # zarr's own words, which differ between its versions, name the codec.
    (lambda metadata: metadata["codecs"][0].update(name="nosuchcodec"), "UnknownCodecError: .*'nosuchcodec'"),
])
def test_metadata_that_zarr_cannot_read_is_named(tmp_path, damage, reason):
    """A traceback ending in KeyError, or an error that named no argument (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", shape=(64, 64), dtype="u1")
    metadata = json.loads((tmp_path / "scan.zarr" / "zarr.json").read_text())
    damage(metadata)
    (tmp_path / "scan.zarr" / "zarr.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=rf"zarr_path: expected Zarr metadata that zarr can read, got .*scan.zarr', "
                                         rf"whose metadata it could not \(.*{reason}"):
        plan(tmp_path / "scan.zarr", PSF, mu=0.01)


AXES = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]


@pytest.mark.parametrize(("ome", "reason"), [
    # Each ended in a traceback of KeyError, AttributeError or "could not convert string to float" (found by a probe).
    ({"version": "0.5", "multiscales": [{"axes": [{"type": "space"}] * 2, "datasets": [{"path": "0"}]}]},
     "multiscale's axes are not each a name or an object with a \"name\""),
    ({"version": "0.5", "multiscales": {"axes": AXES, "datasets": [{"path": "0"}]}},
     "\"multiscales\" is no list of objects"),
    ("0.5", "\"ome\" is no object"),
    ({"version": "0.5", "multiscales": [{"axes": AXES, "datasets": []}]},
     "multiscale's \"datasets\" are no list of objects, each with a \"path\""),
    *(({"version": "0.5", "multiscales": [{"axes": AXES, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", **scale}]}]}]},
       "dataset '0' has a scale or a translation that is no list of numbers, one per axis")
      for scale in ({"path": "scale.json"}, {"scale": ["a", 1]}, {"scale": [0.5]})),
    # Carried into every level of the output (found by a probe).
    ({"version": "0.5", "multiscales": [{"axes": AXES, "datasets": [
        {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0, -1]}]}]}]},
     "dataset '0' has a scale that is not positive on every axis"),
    # Passed by plan, and ended run in a traceback where an integer input's windows were scaled (found by a probe).
    *(({"version": "0.5", "multiscales": [{"axes": AXES, "datasets": [{"path": "0"}]}], "omero": omero},
       "\"omero\" is no object whose \"channels\" are a list, each \"window\" an object of numbers")
      for omero in ([{"label": "DAPI"}], {"channels": {"a": 1}}, {"channels": [{"window": [0, 1000]}]},
                    {"channels": [{"window": {"start": "0", "end": 1000}}]}, {"channels": [{"window": None}]})),
])
def test_ome_metadata_that_ngff_does_not_write_is_named(tmp_path, ome, reason):
    group = zarr.open_group(tmp_path / "image.zarr", mode="w", attributes={"ome": ome})
    group.create_array("0", data=data.camera()[:64, :64], chunks=(64, 64))
    said = (f"zarr_path: expected OME-Zarr metadata as NGFF writes it, got '{tmp_path}/image.zarr', whose {reason}; "
            "correct the group's attributes.")
    for path in ("image.zarr", "image.zarr/0"):  # the group, or its level by its path
        with pytest.raises(ValueError, match=re.escape(said)):
            plan(tmp_path / path, PSF, mu=0.01)


def test_a_level_0_that_the_metadata_names_and_the_group_lacks(tmp_path):
    """Found by a probe: a store copied in part was told of component, which was not given."""
    datasets = [{"path": "s0"}]
    group = zarr.open_group(tmp_path / "image.zarr", mode="w",
                            attributes={"ome": {"version": "0.5", "multiscales": [{"axes": AXES, "datasets": datasets}]}})
    group.create_array("s1", data=data.camera()[:64, :64], chunks=(64, 64))
    with pytest.raises(ValueError, match=re.escape(
            f"zarr_path: expected the array 's0', which the OME-Zarr metadata of '{tmp_path}/image.zarr' names as level "
            "0, got a group without it (one of ['s1']); the store may be copied in part, or pass component to read "
            "another.")):
        plan(tmp_path / "image.zarr", PSF, mu=0.01)


def test_missing_and_empty_and_3d(tmp_path):
    with pytest.raises(ValueError, match="zarr_path: expected an existing Zarr array or group, got .*missing"):
        run(tmp_path / "missing.zarr", PSF, progress=False)
    (tmp_path / "scan.png").write_bytes(b"an image, not Zarr")
    with pytest.raises(ValueError, match=r"zarr_path: expected an existing Zarr .*scan.png', which is not a Zarr array"):
        run(tmp_path / "scan.png", PSF, progress=False)
    with zipfile.ZipFile(tmp_path / "scan.zip", "w") as packed:  # a store zipped to move it (found by a probe)
        packed.writestr("zarr.json", "{}")
    with pytest.raises(ValueError, match=r"scan.zip', a Zip file, which tiledeblur does not read: unzip the Zarr"):
        run(tmp_path / "scan.zip", PSF, progress=False)
    # The same through fsspec's zip://: "[Errno 21] Is a directory" (found by a probe).
    with pytest.raises(ValueError, match=r"zarr_path: expected a path or the URL of one store, got 'zip://::file:"):
        run(f"zip://::file://{tmp_path}/scan.zip", PSF, progress=False)
    with pytest.raises(ValueError, match=r"zarr_path: expected a path or a URL that fsspec can open, .*foo"):
        run("foo://bucket/scan.zarr", PSF, progress=False)
    zarr.create_array(tmp_path / "empty.zarr", shape=(0, 10), dtype="u1")
    with pytest.raises(ValueError, match=r"zarr_path: expected a non-empty array, got shape \(0, 10\)"):
        run(tmp_path / "empty.zarr", PSF, progress=False)
    for shape in ((), (20,)):  # a 0-d array was an IndexError in the sampling (found by a probe)
        zarr.create_array(tmp_path / f"{len(shape)}d.zarr", shape=shape, dtype="u1")
        with pytest.raises(ValueError, match=rf"zarr_path: expected 2 to 5 axes, got shape {re.escape(str(shape))}"):
            plan(tmp_path / f"{len(shape)}d.zarr", PSF)
    zarr.create_array(tmp_path / "cube.zarr", shape=(3, 20, 20), dtype="u1")
    with pytest.raises(ValueError, match=r"channel_axis: expected 0 \(cyx\) or -1 \(yxc\) .* got None instead; pass "
                                         r"channel_axis=0.$"):  # "got None" alone told nothing (found by a probe)
        run(tmp_path / "cube.zarr", PSF, progress=False)
    # Of the wrong type before anything else (found by a probe: a ValueError, "-1" and [2] too).
    for wrong in (0.0, False, "-1", [2]):
        with pytest.raises(TypeError, match=rf"channel_axis: expected None or an int, got {re.escape(repr(wrong))} "):
            run(tmp_path / "cube.zarr", PSF, channel_axis=wrong, progress=False)
    with pytest.raises(ValueError, match=r"channel_axis: expected 0 \(cyx\) or -1 \(yxc\) .* got 3 instead"):
        run(tmp_path / "cube.zarr", PSF, channel_axis=3, progress=False)
    zarr.create_array(tmp_path / "time_lapse.zarr", shape=(2, 3, 20, 20), dtype="u1")
    with pytest.raises(ValueError, match=r"zarr_path: expected a plane, with channels on at most one more axis, .* got "
                                         r"shape \(2, 3, 20, 20\) instead; select one time point"):
        run(tmp_path / "time_lapse.zarr", PSF, channel_axis=1, progress=False)  # no channel axis would do
    zarr.create_array(tmp_path / "czyx.zarr", shape=(3, 1, 20, 20), dtype="u1")
    with pytest.raises(ValueError, match=r"channel_axis: expected the axis of the channels \(.*\) for 4-D data of "
                                         r"shape \(3, 1, 20, 20\), got None instead; pass channel_axis=0.$"):
        run(tmp_path / "czyx.zarr", PSF, progress=False)
    # Not "expected 0 (cyx) or -1 (yxc)", then "pass channel_axis=1" (found by a probe).
    zarr.create_array(tmp_path / "ycx.zarr", shape=(20, 2, 20), dtype="u1")
    with pytest.raises(ValueError, match=r"channel_axis: expected the axis of the channels \(.*\) for 3-D data of "
                                         r"shape \(20, 2, 20\), got None instead; pass channel_axis=1.$"):
        run(tmp_path / "ycx.zarr", PSF, progress=False)
    zarr.create_array(tmp_path / "rgb.zarr", shape=(40, 30, 3), dtype="u1")
    with pytest.raises(ValueError, match=r"channel_axis: .* 0 makes 40 planes of 30 x 3 px, smaller than the 13 x 13 "
                                         r"PSF \(pass -1 if"):
        run(tmp_path / "rgb.zarr", PSF, channel_axis=0, progress=False)
    with pytest.raises(ValueError, match=r"channel_axis: .* 1 makes 30 planes of 40 x 3 px, .* \(pass -1 if"):
        run(tmp_path / "rgb.zarr", PSF, channel_axis=1, progress=False)
    # Told in the caller's form, not as 2 (found by a probe).
    zarr.create_array(tmp_path / "cyx.zarr", shape=(3, 40, 30), dtype="u1")
    with pytest.raises(ValueError, match=r"channel_axis: .* -1 makes 30 planes of 3 x 40 px, .* \(pass 0 if"):
        run(tmp_path / "cyx.zarr", PSF, channel_axis=-1, progress=False)
    # Names that put the channels on the wrong axis are blamed, not the axis that they refuse (found by a probe: the
    # advice to pass channel_axis=0 was then refused, as the names disagreed).
    zarr.create_array(tmp_path / "misnamed.zarr", shape=(3, 40, 30), dtype="u1", dimension_names=["y", "x", "c"])
    with pytest.raises(ValueError, match=r"zarr_path: expected an axis of channels that leaves planes as large as the "
                                         r"PSF; the array's dimension_names puts the channels on axis 2, which makes "
                                         r"30 planes of 3 x 40 px, .*: correct it if the channels are on axis 0.$"):
        run(tmp_path / "misnamed.zarr", PSF, progress=False)
    # No axis of channels would make planes as large as the PSF: the PSF is named, not the axis (found by a probe).
    with pytest.raises(ValueError, match=r"zarr_path: expected an image at least as large as the 41 x 41 PSF, got "
                                         r"40 x 30 px instead"):
        run(tmp_path / "rgb.zarr", gaussian_psf(41, 5.0), channel_axis=-1, progress=False)
    group = zarr.open_group(tmp_path / "group.zarr", mode="w")
    group.create_array("a", shape=(8, 8), dtype="u1")
    group.create_array("sub/b", shape=(8, 8), dtype="u1")  # nested arrays are listed too (found by a probe)
    with pytest.raises(ValueError, match=r"component: expected the array to read .* \['a', 'sub/b'\]\), got None"):
        run(tmp_path / "group.zarr", PSF, progress=False)
    with pytest.raises(ValueError, match=r"component: expected the array to read .* \['a', 'sub/b'\]\), got '../a'"):
        run(tmp_path / "group.zarr", PSF, component="../a", progress=False)
    with pytest.raises(TypeError, match="component: expected None or a str, got 123"):
        run(tmp_path / "group.zarr", PSF, component=123, progress=False)
    zarr.open_group(tmp_path / "empty.zarr", mode="w")
    with pytest.raises(ValueError, match=r"zarr_path: expected a Zarr array, or a group that holds one, got "
                                         r"'.*empty\.zarr', a group without arrays\.$"):
        run(tmp_path / "empty.zarr", PSF, progress=False)
    ome = zarr.open_group(tmp_path / "ome.zarr", mode="w")
    ome.create_array("0", shape=(40, 40), dtype="u1")
    ome.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": [{"name": n} for n in "cyx"],
                                                          "datasets": [{"path": "0"}]}]}
    with pytest.raises(ValueError, match="zarr_path: expected 2 axes in the OME-Zarr metadata, got 3"):
        run(tmp_path / "ome.zarr", PSF, progress=False)


@pytest.mark.parametrize(
    ("pixel", "match"),
    [(np.inf, "expected finite values or NaN for missing pixels, got inf"),
     (-2e9, "expected values of magnitude at most 1e")],
)
def test_inf_and_huge_pixels(tmp_path, client, pixel, match, capfd):
    path = tmp_path / "odd.zarr"
    z = zarr.create_array(path, shape=(64, 64), chunks=(32, 32), dtype="f8")
    z[...] = 0.5
    z[40, 50] = pixel
    before = _digest(path)
    with pytest.raises(ValueError, match=f"zarr_path '.*odd.zarr': {match}"):
        run(path, PSF, mu=1e-3, denoise=False, client=client)  # no sample read for mu or noise: the workers' scan
    assert "scanning the input for inf, huge values and pixels present" in capfd.readouterr().err
    with pytest.raises(ValueError, match=f"zarr_path '.*odd.zarr': {match}"):
        plan(path, PSF)  # the regions read for mu="auto"
    assert _digest(path) == before
    assert not (tmp_path / "odd.deblurred.zarr").exists()


@pytest.mark.parametrize(("value", "dtype", "given"), [
    (256, "u1", "256"), (-1, "u1", "-1"), (1.5, "u1", "1.5"),
    (10**23, "u1", "100000000000000000000000"), (Fraction(1, 2), "u1", r"Fraction\(1, 2\)"),  # numpy's TypeError before
    (1e39, "f4", r"1e\+39"),  # an overflow warning before
])
def test_a_missing_value_that_the_dtype_cannot_hold(tmp_path, value, dtype, given):
    path = tmp_path / "counts.zarr"
    zarr.create_array(path, shape=(64, 64), chunks=(32, 32), dtype=dtype)
    # A fraction in an integer's range is told that a whole number is needed, not the range (found by a probe).
    kind = "a whole number" if dtype == "u1" and 0 <= value <= 255 else "a value"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=f"missing_value: expected {kind} that {np.dtype(dtype)} holds.*, got {given} "):
            run(path, PSF, missing_value=value, progress=False)
    assert not (tmp_path / "counts.deblurred.zarr").exists()


@pytest.mark.parametrize(("declared", "taken", "warning"), [
    ({"_FillValue": "a lot"}, None, "the attribute _FillValue holds 'a lot', which is no value of uint8, so it marks no"),
    ({"missing_value": [-1, 7]}, 7, "the attribute missing_value holds -1, which is no value of uint8"),
    ({"_FillValue": 0, "missing_value": [255, 0]}, 0,
     "the attributes _FillValue and missing_value name 2 values, 0, 255; only 0 marks missing pixels here"),
])
def test_declared_fill_values_that_a_run_cannot_take_whole_warn(tmp_path, declared, taken, warning):
    """Each is left out, or all but the first, with a word: xarray masks every value, where a run takes one."""
    path = tmp_path / "counts.zarr"
    zarr.create_array(path, shape=(64, 64), chunks=(32, 32), dtype="u1", attributes=declared)
    with pytest.warns(UserWarning, match=f"zarr_path: {warning}"):
        assert plan(path, PSF, mu=0.01).missing_value == taken


def test_a_fill_value_is_no_huge_pixel(tmp_path, client):
    """A mosaic filled with -1e30 where it has no data is refused as huge, unless that is its missing_value."""
    path = tmp_path / "filled.zarr"
    z = zarr.create_array(path, shape=(64, 64), chunks=(32, 32), dtype="f4")
    z[...] = np.random.default_rng(1).random((64, 64))
    z[:20, :30] = -1e30
    with pytest.raises(ValueError, match="expected values of magnitude at most 1e.*, or pass a fill value that marks "
                                         "missing pixels as missing_value.$"):
        run(path, PSF, mu=1e-3, client=client, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the value is there: no warning that it is not
        report = run(path, PSF, mu=1e-3, missing_value=-1e30, client=client, progress=False)
    result = zarr.open_array(report.output, mode="r")[...]
    assert np.isnan(result[:20, :30]).all() and np.isfinite(result[20:]).all() and np.isfinite(result[:, 30:]).all()
    # A value that no pixel holds marks nothing, and says so (found by a probe).
    z[:20, :30] = 0.5
    with pytest.warns(UserWarning, match=r"missing_value: no pixel of '.*filled.zarr' is -1e\+30, so none is left "
                                         "out; check the value that marks the input's missing pixels."):
        run(path, PSF, mu=1e-3, missing_value=-1e30, overwrite=True, client=client, progress=False)


def test_a_resume_does_not_scan_the_input_again(tmp_path, client, capfd):
    """Every rerun read the whole input again before its first tile: minutes for a 100k² slide (found by a probe)."""
    path = tmp_path / "mosaic.zarr"
    zarr.create_array(path, data=(data.camera()[:64, :128] / 255).astype("f4"), chunks=(32, 32))
    first = run(path, PSF, mu=1e-3, tile=64, client=client)
    assert "scanning the input for inf, huge values and pixels present" in capfd.readouterr().err
    (Path(first.output) / MARKER_FOLDER / "0.1").unlink()
    again = run(path, PSF, mu=1e-3, tile=64, client=client)
    assert (again.tiles_skipped, again.tiles_computed) == (1, 1)
    assert "scanning" not in capfd.readouterr().err


def test_a_long_scan_tells_the_share_read(client, monkeypatch, capfd):
    """A 100k² slide's scan was one line for minutes (found by a probe)."""
    monkeypatch.setattr(tiledeblur.scan, "SCAN_TELL_SECONDS", 0.0)  # as if each part took long
    parts = _computed_telling(client, [da.full(3, value) for value in range(4)], progress=True)
    assert [part.tolist() for part in parts] == [[value] * 3 for value in range(4)]
    assert capfd.readouterr().err.splitlines() == [f"scanning the input: {share}% read" for share in (25, 50, 75)]


def test_the_fingerprint_sees_a_chunk_beyond_its_sample(tmp_path, client):
    """64 sampled chunks of a 100k² slide's 9,604 missed 16 chunks of tissue removed, and a rerun resumed over them
    (found by a probe). A file manager's hidden files change no chunk."""
    path = tmp_path / "slide.zarr"
    zarr.create_array(path, data=data.camera()[:128, :128], chunks=(8, 8))  # 256 chunks, 64 in the sample
    # Without denoise, whose noise level the chunk removed below changes too.
    options = {"mu": 1e-3, "denoise": False, "tile": 128, "client": client, "progress": False}
    run(path, PSF, **options)
    # An earlier version's output, which recorded no listing, resumes on the sample.
    earlier = zarr.open_array(run(path, PSF, output=tmp_path / "earlier.zarr", **options).output, mode="r+")
    recorded = earlier.attrs["tiledeblur"]
    del recorded["input"]["stored_chunks"]
    earlier.attrs["tiledeblur"] = recorded
    (path / ".DS_Store").write_bytes(b"\0")
    (path / "c" / ".DS_Store").write_bytes(b"\0")
    for output in (None, tmp_path / "earlier.zarr"):
        assert run(path, PSF, output=output, **options).tiles_skipped == 1
    (path / "c" / "0" / "1").unlink()  # chunk 1 of the grid: the sample takes 0, 4, 8, ...
    with pytest.raises(ValueError, match=r"written from another input or with other settings \(differing: input\)"):
        run(path, PSF, **options)


def test_only_missing_pixels(tmp_path, client):
    path = tmp_path / "blank.zarr"
    zarr.create_array(path, shape=(64, 64), chunks=(32, 32), dtype="f4", fill_value=np.nan)
    with pytest.raises(ValueError, match="zarr_path '.*blank.zarr': expected some pixels that are not NaN"):
        run(path, PSF, mu=1e-3, client=client, progress=False)
    # With the defaults the sample is read first: its regions of NaN alone ended in NumPy's "zero-size array to
    # reduction operation", which named no argument (found by a probe). The plan now warns, and the run's scan refuses.
    with pytest.warns(tiledeblur.MuWarning) as told:  # of its weight, and of its loss
        plan(path, PSF)
    assert any("'auto' found no region to cross-validate" in str(warning.message) for warning in told)
    with (pytest.raises(ValueError, match="zarr_path '.*blank.zarr': expected some pixels that are not NaN"),
          warnings.catch_warnings()):
        warnings.simplefilter("ignore", tiledeblur.MuWarning)
        run(path, PSF, client=client, progress=False)
    assert not (tmp_path / "blank.deblurred.zarr").exists()
    # An integer image that missing_value marks whole (found by a probe: its output was all NaN).
    zarr.create_array(tmp_path / "zeros.zarr", shape=(64, 64), chunks=(32, 32), dtype="u1")
    with pytest.raises(ValueError, match="zarr_path '.*zeros.zarr': expected some pixels present, got only "
                                         "missing_value 0 instead."):
        run(tmp_path / "zeros.zarr", PSF, mu=1e-3, missing_value=0, client=client, progress=False)
    assert not (tmp_path / "zeros.deblurred.zarr").exists()
    # A channel that was not acquired, beside one that was: its output is all NaN, and that is told.
    channels = np.full((2, 64, 64), np.nan, dtype="f4")
    channels[1] = data.camera()[:64, :64] / 255
    zarr.create_array(tmp_path / "one-empty.zarr", data=channels, chunks=(1, 32, 32))
    with pytest.warns(UserWarning, match=r"expected pixels present in every channel, got none in channels \[0\] of "
                                         "axis 0; the output is all NaN there."):
        report = run(tmp_path / "one-empty.zarr", PSF, mu=1e-3, channel_axis=0, client=client, progress=False)
    result = zarr.open_array(report.output, mode="r")[...]
    assert np.isnan(result[0]).all() and np.isfinite(result[1]).all()


def test_a_stack_of_psfs_whose_channels_could_be_on_either_axis_warns(tmp_path):
    """Three 3 x 3 PSFs saved as (P, Q, C) were read as (C, P, Q), rows of all three, without a word (a probe)."""
    zarr.create_array(tmp_path / "cyx.zarr", data=np.stack([data.camera()[:64, :64]] * 3), chunks=(3, 64, 64))
    stack = np.stack([gaussian_psf(3, sigma) for sigma in (0.4, 0.6, 0.8)])
    with pytest.warns(tiledeblur.PsfWarning, match=r"psf: a stack of shape \(3, 3, 3\) is read as \(C, P, Q\)"):
        plan(tmp_path / "cyx.zarr", stack, channel_axis=0, mu=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tiledeblur.PsfWarning)
        plan(tmp_path / "cyx.zarr", list(stack), channel_axis=0, mu=0.01)  # a list is no stack


def test_a_tile_that_is_no_whole_number_of_chunks_is_rounded_down_and_told(tmp_path):
    """768 px was rounded up to 1024, 2.7 times the memory, told only in a log (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", shape=(2048, 2048), chunks=(512, 512), dtype="u1", fill_value=9)
    with pytest.warns(UserWarning, match="tile: 768 px rounded down to 512 px, a whole number of the 512 px output "
                                         "chunks") as caught:
        assert plan(tmp_path / "scan.zarr", PSF, mu=0.01, tile=768).tile == 512
    assert caught[0].filename == __file__  # the caller's line: prepare's was named (found in review)
    with pytest.warns(UserWarning, match="tile: 1280 px rounded down to 1024 px"):
        assert plan(tmp_path / "scan.zarr", PSF, mu=0.01, tile=1280).tile == 1024
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plan(tmp_path / "scan.zarr", PSF, mu=0.01, tile=1024).tile == 1024
        assert plan(tmp_path / "scan.zarr", PSF, mu=0.01, tile=300).tile == 300  # one chunk of its own size
        assert plan(tmp_path / "scan.zarr", PSF, mu=0.01, tile=3000).grid == (1, 1)  # beyond the image: one tile
    # Rounded below the PSF: refused as a smaller tile is (found by a probe: 700 passed with a 601 px PSF).
    with pytest.raises(ValueError, match="tile: expected at least the PSF size, 601 px, once rounded down to whole "
                                         "512 px output chunks, got 700, which rounds to 512."):
        plan(tmp_path / "scan.zarr", gaussian_psf(601, 40.0), mu=0.01, tile=700)


def test_corrupt_chunk_is_named_before_any_tile(scan, client):
    (scan / "c" / "1" / "2").write_bytes(b"not a zstd frame")
    before = _digest(scan)
    with pytest.raises(ValueError, match=r"zarr_path: expected readable chunks, got RuntimeError \(Zstd .*\) "
                                         r"reading \[\d+:\d+, \d+:\d+\] of file://.*scan\.zarr"):
        run(scan, PSF, progress=False)  # in the regions read for mu
    # In the workers' scan for inf, with mu given and no noise level to estimate, where the fingerprint's chunks
    # miss it: a traceback before (found by a probe), read as the tiles read.
    large = zarr.create_array(scan.parent / "large.zarr", data=np.full((512, 512), 0.5, "f4"), chunks=(32, 32))
    (scan.parent / "large.zarr" / "c" / "0" / "1").write_bytes(b"not a zstd frame")
    fingerprint(large)  # not among its chunks
    with pytest.raises(ValueError, match=r"zarr_path: expected readable chunks, got RuntimeError \(Zstd .*\) "
                                         r"reading \[0:512, 0:512\] of file://.*large\.zarr"):
        run(scan.parent / "large.zarr", PSF, mu=0.01, denoise=False, client=client, progress=False)
    assert _digest(scan) == before
    assert not (scan.parent / "scan.deblurred.zarr").exists()


def test_an_output_given_as_a_link_is_written_where_it_leads(tmp_path, client):
    """overwrite=True through a link failed after the scan with zarr's "Cannot call rmtree on a symbolic link", and
    a link to nowhere was refused as another run's new output (found by a probe)."""
    scan = tmp_path / "scan.zarr"
    zarr.create_array(scan, data=data.camera()[:128, :128], chunks=(64, 64))
    (tmp_path / "scratch").mkdir()
    link = tmp_path / "out.zarr"
    link.symlink_to(tmp_path / "scratch" / "out.zarr")  # to nowhere yet
    first = run(scan, PSF, output=link, tile=64, mu=0.01, client=client, progress=False)
    assert first.output == str(tmp_path / "scratch" / "out.zarr") and link.is_symlink()
    assert run(scan, PSF, output=link, tile=64, mu=0.01, client=client, progress=False).tiles_computed == 0
    replaced = run(scan, PSF, output=link, tile=64, mu=0.02, overwrite=True, client=client, progress=False)
    assert replaced.tiles_computed == 4 and link.is_symlink()
    expected = run(scan, PSF, output=tmp_path / "plain.zarr", tile=64, mu=0.02, client=client, progress=False)
    np.testing.assert_array_equal(zarr.open_array(link, mode="r")[...],
                                  zarr.open_array(expected.output, mode="r")[...])
    (tmp_path / "a.zarr").symlink_to(tmp_path / "b.zarr")
    (tmp_path / "b.zarr").symlink_to(tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="output: expected a path, or a link to one, got '.*a.zarr', a loop of links "
                                         r"\(Too many levels of symbolic links\)."):
        run(scan, PSF, output=tmp_path / "a.zarr", tile=64, mu=0.01, client=client, progress=False)


def test_a_runs_leftovers_without_metadata_are_refused_for_resume_and_replaced_by_overwrite(tmp_path, client, capsys):
    """An overwrite that raced another run left done-markers and chunks but no zarr.json, and the path was refused
    for good, even with overwrite (found by a probe)."""
    scan = tmp_path / "scan.zarr"
    zarr.create_array(scan, data=data.camera()[:128, :128], chunks=(64, 64))
    output = tmp_path / "out.zarr"
    expected = run(scan, PSF, output=output, tile=64, mu=0.01, client=client, progress=False)
    expected = zarr.open_array(expected.output, mode="r")[...]
    with pytest.raises(ValueError, match="output: expected a new path, got .*out.zarr', which exists; pass "
                                         "overwrite=True"):
        run(scan, PSF, output=output, tile=64, mu=0.01, resume=False, client=client, progress=False)
    # Before loss "auto" compares its losses on sample regions, which takes seconds (found by a probe).
    with pytest.raises(ValueError, match="output: expected a new path, got .*out.zarr', which exists"):
        plan(scan, PSF, output=output, tile=64, resume=False, progress=True)
    assert "loss 'auto'" not in capsys.readouterr().err
    (output / "zarr.json").unlink()
    with pytest.raises(ValueError, match="exists and holds the tiles of a run without its metadata, which an overwrite "
                                         "stopped part way leaves; pass overwrite=True"):
        run(scan, PSF, output=output, tile=64, mu=0.01, client=client, progress=False)
    run(scan, PSF, output=output, tile=64, mu=0.01, overwrite=True, client=client, progress=False)
    np.testing.assert_array_equal(zarr.open_array(output, mode="r")[...], expected)


@pytest.mark.parametrize("ome", [False, True])
def test_an_overwrite_keeps_files_put_into_an_earlier_output(tmp_path, client, ome):
    """Zarr replaces a store by removing its folder: a user's notes and data put into an output went with an
    --overwrite (found by a probe)."""
    scan = tmp_path / "scan.zarr"
    zarr.create_array(scan, data=data.camera()[:128, :128], chunks=(64, 64))
    output = tmp_path / "out.zarr"
    run(scan, PSF, output=output, tile=64, mu=0.01, ome=ome, client=client, progress=False)
    (output / "notes.txt").write_text("mine")
    (output / "0" if ome else output / "c").joinpath("extra.npy").write_bytes(b"mine")
    with pytest.raises(ValueError, match=r"output: expected an output of tiledeblur to replace, got .*out.zarr', "
                                         r"which also holds files that tiledeblur does not write \('.*', '.*'\); "
                                         "move them, or pass another output"):
        run(scan, PSF, output=output, tile=64, mu=0.02, ome=ome, overwrite=True, client=client, progress=False)
    assert (output / "notes.txt").read_text() == "mine"
    (output / "notes.txt").unlink()
    (output / "0" if ome else output / "c").joinpath("extra.npy").unlink()
    replaced = run(scan, PSF, output=output, tile=64, mu=0.02, ome=ome, overwrite=True, client=client,
                   progress=False)
    assert replaced.tiles_computed == 4


def test_output_rules(scan, tmp_path, client):
    with pytest.raises(ValueError, match="output: expected a path apart from the input"):
        run(scan, PSF, output=scan, progress=False)
    with pytest.raises(ValueError, match="output: expected a path apart from the input"):
        run(scan, PSF, output=scan / "inside", progress=False)
    taken = tmp_path / "taken.zarr"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone else's")
    for options in ({}, {"resume": False}, {"overwrite": True}):  # not even overwrite replaces someone's files
        with pytest.raises(ValueError, match="output: expected a new path or a Zarr store to replace, got .*taken"):
            run(scan, PSF, output=taken, progress=False, **options)
    assert (taken / "notes.txt").read_text() == "someone else's"
    # Nor a Zarr store that tiledeblur did not write, such as a raw scan given as the output (found by a probe).
    raw = zarr.create_array(tmp_path / "raw.zarr", data=np.arange(16, dtype=np.uint8).reshape(4, 4))
    for options in ({}, {"resume": False}, {"overwrite": True}):
        with pytest.raises(ValueError, match=r"output: expected a new path or an output of tiledeblur, got .*raw.zarr"
                                             r"', a Zarr store that tiledeblur did not write; pass another output"):
            run(scan, PSF, output=raw.store.root, progress=False, **options)
    # Both refused by plan too, which passed them (found by a probe).
    for output, refusal in ((taken, "a Zarr store to replace"), (raw.store.root, "an output of tiledeblur")):
        with pytest.raises(ValueError, match=f"output: expected a new path or {refusal}, got "):
            plan(scan, PSF, output=output, mu=0.01)
    assert np.array_equal(zarr.open_array(raw.store.root, mode="r")[...], np.arange(16).reshape(4, 4))
    # Nor inside another store: an array holds no children, and a group's members are its writer's (a probe).
    group = zarr.open_group(tmp_path / "project.zarr", mode="w")
    group.create_array("raw", data=np.zeros((4, 4), dtype=np.uint8))
    before = {store: _digest(store) for store in (raw.store.root, group.store.root)}
    for inside in (Path(raw.store.root) / "out", Path(group.store.root) / "5", Path(group.store.root) / "raw" / "x"):
        with pytest.raises(ValueError, match=f"output: expected a path outside any Zarr store, got '{inside}', which "
                                             r"lies inside the Zarr store '.*(raw|project)\.zarr'; pass a path beside"):
            run(scan, PSF, output=inside, progress=False)
    assert {store: _digest(store) for store in before} == before
    # A folder's own file of that name is no Zarr metadata (found by a probe: a project's zarr.json of settings).
    (tmp_path / "project" / "zarr.json").parent.mkdir()
    (tmp_path / "project" / "zarr.json").write_text('{"tool": "settings"}')
    report = run(scan, PSF, output=tmp_path / "project" / "out.zarr", mu=0.01, client=client, progress=False)
    assert report.tiles_computed > 0


def test_no_output_inside_the_store_that_holds_the_input(tmp_path):
    """An array named by its path inside a store: the store is the input, and nothing is written into it."""
    store = tmp_path / "slides.zarr"
    zarr.open_group(store, mode="w").create_array("a/b", shape=(96, 80), dtype="u1", fill_value=9)
    before = _digest(store)
    for output in (store / "out.zarr", store / "a" / "out.zarr"):
        with pytest.raises(ValueError, match="output: expected a path apart from the input's store .*slides.zarr'"):
            run(store / "a" / "b", PSF, mu=0.01, output=output, progress=False)
    report = run(store / "a" / "b", PSF, mu=0.01, n_workers=1, progress=False)
    assert report.output == str(tmp_path / "slides.a.b.deblurred.zarr")
    # The array named as a component: the same default output, which this run then resumes.
    again = run(store, PSF, component="a/b", mu=0.01, n_workers=1, progress=False)
    assert (again.output, again.tiles_computed) == (report.output, 0)
    # The array a.b has the same default output: it never replaces a/b's (found by a probe: overwrite=True did).
    zarr.open_group(store, mode="a").create_array("a.b", shape=(96, 80), dtype="u1", fill_value=7)
    before, written = _digest(store), _digest(tmp_path / "slides.a.b.deblurred.zarr")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"output: expected the default output of this input to be new or its "
                                             r"own, got '.*slides.a.b.deblurred.zarr', which holds the output of "
                                             r"another input, '.*slides.zarr/a/b'; pass an output to name another."):
            run(store, PSF, component="a.b", mu=0.01, overwrite=overwrite, progress=False)
    assert _digest(tmp_path / "slides.a.b.deblurred.zarr") == written
    assert _digest(store) == before
    # Moved with its output, the same input still replaces its own (found by a probe).
    (tmp_path / "moved").mkdir()
    for name in ("slides.zarr", "slides.a.b.deblurred.zarr"):
        shutil.copytree(tmp_path / name, tmp_path / "moved" / name)
    moved = run(tmp_path / "moved" / "slides.zarr", PSF, component="a/b", mu=0.01, overwrite=True, n_workers=1,
                progress=False)
    assert moved.output == str(tmp_path / "moved" / "slides.a.b.deblurred.zarr")


def test_the_input_reached_through_a_bind_mount_is_not_the_output(tmp_path):
    """The store under a second path: overwrite=True deleted the input, then wrote zeros (found by a probe)."""
    (tmp_path / "scans").mkdir()
    (tmp_path / "alias").mkdir()
    store = zarr.create_array(tmp_path / "scans" / "slide.zarr", data=np.arange(96 * 80, dtype=np.uint16).reshape(96, 80))
    mounted = subprocess.run(["mount", "--bind", tmp_path / "scans", tmp_path / "alias"], capture_output=True, check=False)
    if mounted.returncode:
        pytest.skip(f"no bind mount here: {mounted.stderr.decode().strip()}")
    try:
        before = _digest(tmp_path / "scans")
        for output in ("alias/slide.zarr", "alias/slide.zarr/out.zarr", "alias"):
            with pytest.raises(ValueError, match="output: expected a path apart from the input's store"):
                run(store.store.root, PSF, mu=0.01, output=tmp_path / output, overwrite=True, progress=False)
        assert _digest(tmp_path / "scans") == before
    finally:
        subprocess.run(["umount", tmp_path / "alias"], check=True)


def test_a_finished_output_on_a_read_only_disk_reruns_as_done(tmp_path, client, small_disk):
    """Nothing is left to write: a pipeline that reruns every step got 'read-only' (found by a probe)."""
    scan = zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:128, :128], chunks=(64, 64))
    disk = small_disk("4m")
    first = run(scan.store.root, PSF, mu=0.01, tile=64, output=disk / "out.zarr", client=client, progress=False)
    subprocess.run(["mount", "-o", "remount,ro", disk], check=True)
    again = run(scan.store.root, PSF, mu=0.01, tile=64, output=disk / "out.zarr", client=client, progress=False)
    assert (again.tiles_computed, again.tiles_skipped) == (0, first.tiles_computed)
    assert plan(scan.store.root, PSF, mu=0.01, tile=64, output=disk / "out.zarr").finished == first.tiles_computed
    with pytest.raises(ValueError, match=r"output: expected a path this process may write, .* is read-only"):
        run(scan.store.root, PSF, mu=0.01, tile=64, output=disk / "out.zarr", overwrite=True, client=client,
            progress=False)
    # plan refuses what run would refuse before any work (found by a probe: it printed a plan).
    for output, overwrite in (("out.zarr", True), ("new.zarr", False)):
        with pytest.raises(ValueError, match=r"output: expected a path this process may write, .* is read-only"):
            plan(scan.store.root, PSF, mu=0.01, tile=64, output=disk / output, overwrite=overwrite)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_no_output_inside_a_store_through_an_implicit_group(tmp_path, zarr_format):
    """A folder without metadata between the store and the array still lies inside the store (found by a probe)."""
    store = tmp_path / "slides.zarr"
    zarr.open_group(store, mode="w", zarr_format=zarr_format)
    zarr.create_array(store / "sub" / "arr", shape=(64, 64), dtype="u1", fill_value=9, zarr_format=zarr_format)
    assert not any((store / "sub" / name).exists() for name in (".zgroup", "zarr.json"))
    before = _digest(store)
    report = run(store / "sub" / "arr", PSF, mu=0.01, n_workers=1, progress=False)
    assert report.output == str(tmp_path / "slides.sub.arr.deblurred.zarr")
    assert _digest(store) == before


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_a_group_is_read_by_its_arrays_own_metadata_not_a_stale_consolidated_copy(tmp_path, zarr_format):
    """Found by a probe: an array resized after its group's metadata was consolidated was read at its old shape, and
    only that part of it was deblurred, without a word."""
    store = tmp_path / "scan.zarr"
    group = zarr.open_group(store, mode="w", zarr_format=zarr_format)
    group.create_array("0", shape=(64, 64), chunks=(32, 32), dtype="u1", fill_value=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: consolidated metadata is not part of the Zarr 3 specification yet
        zarr.consolidate_metadata(store)
    zarr.open_array(store / "0", mode="r+").resize((96, 128))
    assert zarr.open(store, mode="r")["0"].shape == (64, 64)  # what zarr reads by default: the copy
    assert plan(store, PSF, component="0", mu=0.01).shape == (96, 128)


def test_an_output_path_that_cannot_be_a_store_is_refused_before_any_work(tmp_path, scan):
    (tmp_path / "notes.txt").write_text("someone's notes")
    with pytest.raises(ValueError, match="output: expected a new path or a Zarr store, got .*notes.txt', which is a file"):
        run(scan, PSF, output=tmp_path / "notes.txt", overwrite=True, progress=False)
    with pytest.raises(ValueError, match="output: expected a path in a folder, got .*out.zarr', which lies under the "
                                         "file .*notes.txt'"):
        run(scan, PSF, output=tmp_path / "notes.txt" / "out.zarr", progress=False)
    # And by plan, which passed it (found by a probe).
    with pytest.raises(ValueError, match="output: expected a new path or a Zarr store, got .*notes.txt', which is a file"):
        plan(scan, PSF, output=tmp_path / "notes.txt", mu=0.01)
    assert (tmp_path / "notes.txt").read_text() == "someone's notes"
    # A scratch disk's link, not mounted: a cluster started, and the output was told to be another run's (a probe).
    (tmp_path / "scratch").symlink_to(tmp_path / "unmounted")
    said = (f"output: expected a path whose folders exist or can be made, got '{tmp_path}/scratch/out.zarr', under the "
            f"link '{tmp_path}/scratch' to '{tmp_path}/unmounted', which does not exist.")
    for call in (run, plan):
        with pytest.raises(ValueError, match=re.escape(said)):
            call(scan, PSF, output=tmp_path / "scratch" / "out.zarr", mu=0.01)


@pytest.mark.parametrize("component", ["", "0"])
def test_an_output_created_meanwhile_by_another_run(tmp_path, component):
    """Two runs started together on one new output: the second is refused in one line, the first's is kept."""
    location = Location.at(tmp_path / "out.zarr", component)
    options = {"shape": (8, 8), "chunks": (8, 8), "dtype": "u1", "zarr_format": 3, "attributes": {"first": True},
               "overwrite": False}
    create_output(location, **options)
    with pytest.raises(ValueError, match="output: expected a new path, got .*out.zarr', which another run has just"):
        create_output(location, **{**options, "attributes": {"first": False}})
    assert location.open("r").attrs["first"] is True


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc, where no folder can be made")
def test_an_output_that_cannot_be_created_is_named():
    """plan passed it, and run's error was errno's alone: "[Errno 2] No such file or directory" (found by a probe)."""
    with pytest.raises(ValueError, match=r"output: expected a store this process can create, got '/proc/out.zarr', "
                                         r"which could not be created \(No such file or directory\)"):
        create_output(Location.at("/proc/out.zarr"), shape=(8, 8), chunks=(8, 8), dtype="u1", zarr_format=3,
                      attributes={}, overwrite=False)


def test_an_output_larger_than_the_free_disk_space_is_announced(tmp_path):
    """A 100k² RGB scan makes 112 GiB of float32; a full disk would stop the run hours in (found by a probe)."""
    free = shutil.disk_usage(tmp_path).free
    side = math.isqrt(free // 4) + 1024  # float32: just over the free space, and stored as fill value: no bytes

    def prepared(dtype, out_dtype):
        zarr.create_array(tmp_path / f"{dtype}.zarr", shape=(side, side), chunks=(4096, 4096), dtype=dtype,
                          fill_value=0, overwrite=True)
        return prepare(tmp_path / f"{dtype}.zarr", PSF, output=None, component=None, channel_axis=None, tile="auto",
                       halo="auto", loss="tikhonov", mu=0.01, eps=DEFAULT_EPS, tol=DEFAULT_TOL,
                       maxiter=DEFAULT_MAXITER, storage_options=None, out_dtype=out_dtype, memory_limit=None, workers=1)

    with pytest.warns(DiskSpaceWarning, match=r"output: .*u1.deblurred.zarr' takes about .* GiB more uncompressed "
                                              r"as float32, more than the .* GiB free on its disk; out_dtype='input'"):
        check_disk_space(prepared("u1", "float32"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_disk_space(prepared("u1", "input"))
        # A resume with most tiles written needs room for the rest alone (found by a probe).
        slide = prepared("u1", "float32")
        written = set(itertools.islice((tile.index for tile in slide.plan.tiles()), len(slide.plan) // 2))
        check_disk_space(slide, written)
    with pytest.warns(DiskSpaceWarning, match="free on its disk; pass another output.$"):  # 'input' saves nothing
        check_disk_space(prepared("f4", "input"))
    # The plan says so too, and states the output's size, before anything runs.
    with pytest.warns(DiskSpaceWarning, match=r"output: .*elsewhere.zarr' takes about"):
        tiles = plan(tmp_path / "u1.zarr", PSF, output=tmp_path / "elsewhere.zarr", mu=0.01, n_workers=1)
    assert tiles.describe().endswith(f"; output {side * side * 4 / 2**30:.1f} GiB uncompressed as float32")


def test_a_big_endian_input_in_its_own_dtype_keeps_its_cf_attributes(tmp_path):
    """Stores made from FITS are big-endian; its dtype compared by name alone passed for another, and the output
    lost its _FillValue, which CF readers then read as data (found by a review)."""
    zarr.create_array(tmp_path / "be.zarr", data=data.camera()[:128, :128].astype(">i2"), chunks=(64, 64),
                      zarr_format=2, attributes={"_FillValue": -1, "units": "adu"})
    prepared = prepare(tmp_path / "be.zarr", PSF, output=None, component=None, channel_axis=None, tile=64, halo="auto",
                       loss="tikhonov", mu=0.01, eps=DEFAULT_EPS, tol=DEFAULT_TOL, maxiter=DEFAULT_MAXITER,
                       storage_options=None, out_dtype="input", memory_limit=None, workers=1)
    assert _carried_attributes(prepared) == {"_FillValue": -1, "units": "adu"}
    assert prepared.plan.describe().endswith("; output 32.0 KiB uncompressed as int16")


def test_the_plan_says_that_counts_of_over_16_bits_come_out_over_their_dtypes_largest(tmp_path):
    """int32 counts to 2550 came out near 1e-6, which neither the plan nor the run said (found by a probe)."""
    for dtype, said in (("int32", ", the input's values over 2147483647"), ("uint32", " over 4294967295"),
                        ("uint16", "uncompressed as float32")):
        zarr.create_array(tmp_path / f"{dtype}.zarr", data=data.camera()[:128, :128].astype(dtype) * 10,
                          chunks=(64, 64))
        assert plan(tmp_path / f"{dtype}.zarr", PSF, mu=0.01, n_workers=1).describe().endswith(said)
    assert plan(tmp_path / "int32.zarr", PSF, mu=0.01, out_dtype="input", n_workers=1).describe().endswith(" int32")


def test_input_chunks_that_dwarf_a_tile_warn(tmp_path):
    """Each read decodes whole the chunks it meets: a one-chunk 8192² RGB scan added 200 MiB a read, unsaid (found
    by a probe)."""
    for name, chunks in (("whole.zarr", (4096, 4096)), ("tiled.zarr", (256, 256))):
        zarr.create_array(tmp_path / name, shape=(4096, 4096), chunks=chunks, dtype="f4")  # no pixel is read
    with pytest.warns(tiledeblur.TileMemoryWarning, match=r"zarr_path: the input's chunks of 4096 x 4096 hold 64\.0 "
                                                          r"MiB decoded, which each tile's read decodes whole, beside "
                                                          r"the \d+\.\d MiB that a tile of 256 px needs"):
        plan(tmp_path / "whole.zarr", gaussian_psf(5, 1.0), tile=256, mu=0.01, denoise=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan(tmp_path / "tiled.zarr", gaussian_psf(5, 1.0), tile=256, mu=0.01, denoise=False)


@pytest.mark.parametrize(("options", "message"), [
    ({"tile": 0}, "tile: expected at least the PSF size, 5 px, got 0 instead."),
    ({"halo": "none"}, "halo: expected 'auto' or an int, got 'none' instead."),
    ({"output": ""}, "output: expected"),
])
def test_bad_options_are_refused_before_the_sample_is_read(tmp_path, options, message):
    """They were refused after mu="auto" had read its regions, which takes a while over a network; a blank image
    warned of them first (found by a probe)."""
    zarr.create_array(tmp_path / "blank.zarr", shape=(256, 256), chunks=(128, 128), dtype="f4", fill_value=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises((ValueError, TypeError), match=re.escape(message)):
            plan(tmp_path / "blank.zarr", gaussian_psf(5, 1.0), **options)


def test_cf_packing_in_a_list_of_one_is_read_and_what_cannot_be_is_refused_by_plan(tmp_path, client):
    """netCDF's attributes are arrays: scale_factor [0.01] ended a run in a bare TypeError, after plan passed it; uint8
    stored as int8 with _Unsigned "true" was deblurred with its bright pixels negative (found by a probe)."""
    counts = (data.camera()[:128, :128] // 2).astype(np.int16)
    path = tmp_path / "packed.zarr"
    zarr.create_array(path, data=counts, chunks=(64, 64), zarr_format=2).attrs.update(
        {"scale_factor": [0.01], "add_offset": "5"})
    report = run(path, gaussian_psf(5, 1.0), mu=0.01, denoise=False, client=client, progress=False)
    written = zarr.open_array(report.output, mode="r").attrs
    assert (written["scale_factor"], written["add_offset"]) == (pytest.approx(0.01 * 32767), 5.0)
    for name, attributes, dtype, message in (
        ("pair", {"scale_factor": [0.01, 0.02]}, "i2", ("the attribute scale_factor to be a finite number, as CF's "
                                                      "conventions declare it, got [0.01, 0.02] instead.")),
        ("signed", {"_Unsigned": "true"}, "i1", ("values that the array's dtype, int8, holds, got its attribute "
                                                "_Unsigned='true'")),
        # Carried to the output as a scale_factor of 0 (found by a probe).
        ("zero", {"scale_factor": "0"}, "i2", "the attribute scale_factor to be a number other than 0, got '0' instead."),
    ):
        zarr.create_array(tmp_path / f"{name}.zarr", shape=(64, 64), dtype=dtype, zarr_format=2).attrs.update(attributes)
        with pytest.raises(ValueError, match=re.escape(f"zarr_path: expected {message}")):
            plan(tmp_path / f"{name}.zarr", gaussian_psf(5, 1.0), mu=0.01, denoise=False)


def test_declared_missing_values_that_the_run_took_as_data_are_not_declared_by_its_output(tmp_path, client):
    """The input's _FillValue 65535, with missing_value=0 given: the output declared 65535 still, and its bright
    pixels, clipped onto it, read as missing (found by a probe)."""
    scene = np.full((128, 128), 0.2)
    scene[40:88, 40:88] = 0.999  # the deblurred edges overshoot 1
    counts = np.round(scipy.signal.fftconvolve(scene, gaussian_psf(7, 1.5), mode="same") * 65535).clip(1, 65534)
    counts[:4, :4] = 0
    path = tmp_path / "scan.zarr"
    # And its valid range, which the deblurred edges overstep: CF readers take such pixels for missing (a probe).
    zarr.create_array(path, data=counts.astype(np.uint16), chunks=(64, 64)).attrs.update(
        {"_FillValue": 65535, "valid_range": [1, 65534], "units": "counts"})
    report = run(path, gaussian_psf(7, 1.5), mu=1e-3, denoise=False, missing_value=0, out_dtype="input",
                 client=client, progress=False)
    output = zarr.open_array(report.output, mode="r")
    assert (output[...] == 65535).any()  # data, as the run took them
    assert "_FillValue" not in output.attrs and output.attrs["missing_value"] == 0
    assert "valid_range" not in output.attrs and output.attrs["units"] == "counts"


def test_an_output_named_as_a_zip_file_is_refused(tmp_path):
    """It was written as a folder under that name, which no Zip reader opened (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    with pytest.raises(ValueError, match=r"output: expected a folder for the Zarr store, got '.*scan\.zarr\.ZIP', a "
                                         r"Zip file's name, which tiledeblur does not write"):
        plan(tmp_path / "scan.zarr", gaussian_psf(5, 1.0), mu=0.01, output=tmp_path / "scan.zarr.ZIP")
    assert not (tmp_path / "scan.zarr.ZIP").exists()


def test_an_output_name_longer_than_the_disk_holds_is_refused_before_any_work(tmp_path):
    """plan passed a 305-byte name, and run and convert failed with the system's error after starting (a probe)."""
    from tiledeblur.convert import convert
    from tiledeblur.demo import check_preview, run_demo

    scan = zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    output = tmp_path / ("a" * 300 + ".zarr")
    with pytest.raises(ValueError, match=r"^output: expected names of at most 255 bytes, .* has 305\.$"):
        plan(scan.store.root, PSF, mu=0.01, output=output)
    with pytest.raises(ValueError, match=r"^output: expected names of at most 255 bytes"):
        run(scan.store.root, PSF, mu=0.01, output=output, n_workers=1, progress=False)
    Image.fromarray(data.camera()[:64, :64]).save(tmp_path / "camera.png")
    with pytest.raises(ValueError, match=r"^output: expected names of at most 255 bytes"):
        convert(tmp_path / "camera.png", output)
    # A preview's and the demo's folder: exists() raised the system's error first (found by a probe).
    with pytest.raises(ValueError, match=r"^--preview: expected names of at most 255 bytes"):
        check_preview(tmp_path / ("a" * 300 + ".png"))
    with pytest.raises(ValueError, match=r"^out_dir: expected names of at most 255 bytes"):
        run_demo(size=310, out_dir=output)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["camera.png", "scan.zarr"]


def test_plan_refuses_a_progress_that_is_no_flag(tmp_path):
    scan = zarr.create_array(tmp_path / "scan.zarr", data=data.camera()[:64, :64], chunks=(64, 64))
    with pytest.raises(TypeError, match="^progress: expected True or False, got 'yes'"):
        plan(scan.store.root, PSF, mu=0.01, progress="yes")


@pytest.mark.parametrize("eps", [5e-324, 1e-40])
def test_an_eps_below_what_the_solve_holds_is_refused(eps):
    """5e-324 failed in scipy's factorization ('Factor is exactly singular'), and 1e-40 overflowed and returned the
    solve's start (found by probes)."""
    with pytest.raises(ValueError, match=rf"^eps: expected at least 1e-20, below which the solve overflows, got "
                                         rf"{eps!r} instead\.$"):
        tiledeblur.deconvolve(data.camera()[:32, :32], PSF, loss="tv", mu=0.01, eps=eps)


def test_the_caller_s_own_timeout_is_not_told_as_a_lost_scheduler(tmp_path, client):
    """A pipeline's watchdog (SIGALRM raising TimeoutError, an OSError) while tiles were solved came back as "the dask
    scheduler was lost", with the scheduler running (found by a probe)."""
    zarr.create_array(tmp_path / "scan.zarr", data=data.camera(), chunks=(32, 32))
    markers = tmp_path / "scan.deblurred.zarr" / MARKER_FOLDER

    done = threading.Event()

    def watchdog(signum, frame):
        raise TimeoutError("the pipeline's watchdog")

    def alarm_after_first_tile():
        # Again until run returns: one alarm failed once to reach it ("DID NOT RAISE"), as one that lands where a
        # TimeoutError is caught and retried (distributed's waits with a timeout) would.
        while not done.wait(0.05):
            if markers.exists() and any(markers.iterdir()):
                signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)

    previous = signal.signal(signal.SIGALRM, watchdog)
    alarm = threading.Thread(target=alarm_after_first_tile, daemon=True)
    alarm.start()
    try:
        with pytest.raises(TimeoutError, match="the pipeline's watchdog"):
            run(tmp_path / "scan.zarr", gaussian_psf(5, 1.0), mu=0.01, tile=32, client=client, progress=False)
    finally:
        done.set()
        alarm.join()
        signal.signal(signal.SIGALRM, previous)
    assert client.status == "running"
