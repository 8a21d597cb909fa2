"""The local cluster that run() starts: its settings reach the scheduler and the workers, restarted ones too."""

import os
import time

import dask
import psutil
from distributed import Client

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
