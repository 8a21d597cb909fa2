"""The clusters of run(): the local one's settings reach its scheduler and workers; a wrong address fails fast."""

import http.server
import os
import socket
import threading
import time
import warnings

import dask
import numpy as np
import psutil
import pytest
import zarr
from distributed import Client

from tiledeblur import gaussian_psf, run
from tiledeblur.cluster import WORKER_MALLOC, local_cluster


def _monitor_interval_ms(dask_worker=None, dask_scheduler=None):
    return (dask_worker or dask_scheduler).periodic_callbacks["monitor"].callback_time


def _worker_settings(client):
    (environ,) = client.run(lambda: {name: os.environ.get(name) for name in WORKER_MALLOC}).values()
    (profiled,) = client.run(dask.config.get, "distributed.worker.profile.enabled").values()
    (monitored,) = client.run(_monitor_interval_ms).values()
    (pid,) = client.run(os.getpid).values()
    return environ, profiled, monitored, pid


def test_settings_reach_the_scheduler_and_every_worker_a_restarted_one_too():
    expected = ({name: str(value) for name, value in WORKER_MALLOC.items()}, False, 2000)
    with local_cluster(1, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        assert client.run_on_scheduler(_monitor_interval_ms) == 2000
        *settings, pid = _worker_settings(client)
        assert tuple(settings) == expected
        killed = set(client.scheduler_info()["workers"])
        psutil.Process(pid).kill()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = set(client.scheduler_info()["workers"])
            if workers and not workers & killed:
                break
            time.sleep(0.2)
        *settings, restarted = _worker_settings(client)
    assert restarted != pid
    assert tuple(settings) == expected


def test_a_taken_dashboard_port_moves_the_dashboard_without_a_warning():
    with socket.create_server(("127.0.0.1", 0)) as taken, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        port = taken.getsockname()[1]
        with local_cluster(1, dashboard_address=f"127.0.0.1:{port}") as cluster:
            link = cluster.dashboard_link
    assert link.startswith("http://127.0.0.1:") and f":{port}/" not in link
    assert not [warning for warning in caught if "already in use" in str(warning.message)]


def test_an_address_where_no_scheduler_answers_fails_fast(tmp_path):
    """A dashboard's port given for the scheduler's: distributed.Client would wait for ever."""
    path = tmp_path / "scan.zarr"
    zarr.create_array(path, data=np.zeros((64, 64), dtype=np.uint8), chunks=(32, 32))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    started = time.monotonic()
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "2s"}), pytest.raises(
            ValueError, match=f"address: expected a running dask scheduler, got '{address}', where none answered"
        ):
            run(path, gaussian_psf(5, 1.0), address=address, progress=False)
    finally:
        server.shutdown()
    assert time.monotonic() - started < 30
    assert not (tmp_path / "scan.deblurred.zarr").exists()
