"""Outputs in object storage: an S3 bucket served by moto on this machine, written through s3fs, as on AWS."""

import numpy as np
import pytest
import s3fs
import zarr
from moto.server import ThreadedMotoServer
from skimage import data

from tiledeblur import gaussian_psf, run

PSF = gaussian_psf(9, (1.0, 2.0))


@pytest.fixture(scope="module")
def bucket():
    """The ``storage_options`` of a bucket named ``scans``."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "tiledeblur", "secret": "tiledeblur"}
    s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir("scans")
    yield options
    server.stop()


def test_a_rerun_in_the_same_process_sees_what_another_process_changed(tmp_path, bucket, client):
    """fsspec keeps one filesystem per set of options in a process, and s3fs its listings in it: a rerun took the
    done-markers of the look before, and left the tile whose marker and chunk another process had removed since as
    NaN, without an error (found by a probe). And a local scan's S3 output took none of the storage_options."""
    scan = tmp_path / "scan.zarr"
    zarr.create_array(scan, data=data.camera()[:256, :256], chunks=(128, 128))
    options = {"output": "s3://scans/camera.zarr", "tile": 128, "mu": 0.01, "storage_options": bucket,
               "client": client, "progress": False}
    assert run(scan, PSF, **options).tiles_computed == 4
    expected = zarr.open_array("s3://scans/camera.zarr", mode="r", storage_options=bucket)[...]
    assert run(scan, PSF, **options).tiles_computed == 0  # its done-markers listed in this process
    elsewhere = s3fs.S3FileSystem(skip_instance_cache=True, **bucket)  # as another process sees the bucket
    removed = [key for key in elsewhere.find("scans/camera.zarr") if key.endswith(("/c/1/1", "/done/1.1"))]
    assert len(removed) == 2
    elsewhere.rm(removed)
    assert run(scan, PSF, **options).tiles_computed == 1
    np.testing.assert_array_equal(zarr.open_array("s3://scans/camera.zarr", mode="r", storage_options=bucket)[...],
                                  expected)


def test_an_s3_store_that_cannot_be_reached_is_named(tmp_path):
    """botocore's errors are no OSErrors: a local scan's S3 output at an endpoint that was down ended in a traceback of
    149 lines (found by a probe)."""
    scan = tmp_path / "scan.zarr"
    zarr.create_array(scan, data=data.camera()[:64, :64], chunks=(64, 64))
    closed = {"endpoint_url": "http://127.0.0.1:9", "key": "tiledeblur", "secret": "tiledeblur",
              "config_kwargs": {"retries": {"max_attempts": 1}}}  # botocore's own retries take seconds
    with pytest.raises(ValueError, match=r"output: expected a store that this process can reach, got "
                                         r"'s3://scans/out.zarr', which it could not \(EndpointConnectionError: "):
        run(scan, PSF, output="s3://scans/out.zarr", mu=0.01, storage_options=closed)
    with pytest.raises(ValueError, match=r"zarr_path: expected a store that this process can read, got "
                                         r"'s3://scans/scan.zarr', which it could not \(EndpointConnectionError: "):
        run("s3://scans/scan.zarr", PSF, mu=0.01, storage_options=closed)
