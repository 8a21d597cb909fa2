"""The local cluster that run() starts: its workers' settings survive a restart."""

import os
import time

import dask
import psutil
from distributed import Client

from tiledeblur.cluster import WORKER_MALLOC, local_cluster


def _worker_settings(client):
    (environ,) = client.run(lambda: {name: os.environ.get(name) for name in WORKER_MALLOC}).values()
    (profiled,) = client.run(dask.config.get, "distributed.worker.profile.enabled").values()
    (pid,) = client.run(os.getpid).values()
    return environ, profiled, pid


def test_a_killed_worker_comes_back_with_the_same_settings():
    expected = {name: str(value) for name, value in WORKER_MALLOC.items()}
    with local_cluster(1, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        environ, profiled, pid = _worker_settings(client)
        assert (environ, profiled) == (expected, False)
        killed = set(client.scheduler_info()["workers"])
        psutil.Process(pid).kill()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = set(client.scheduler_info()["workers"])
            if workers and not workers & killed:
                break
            time.sleep(0.2)
        environ, profiled, restarted = _worker_settings(client)
    assert restarted != pid
    assert (environ, profiled) == (expected, False)
