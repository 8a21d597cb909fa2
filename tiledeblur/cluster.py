"""Get a dask.distributed client: the caller's, one at an address, or a local cluster.

The local cluster runs one single-threaded worker process per core (the
solver holds the GIL in autograd's Python code, so threads would not help),
and binds its scheduler and dashboard to 127.0.0.1 so that nothing listens on
the network unless the user starts a cluster that does.
"""

import contextlib
import logging
import os

from distributed import Client, LocalCluster

__all__ = ["connect", "worker_memory_limit"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def connect(*, client=None, address=None, n_workers=None):
    """Yield a client; close only what this call started.

    Parameters
    ----------
    client : distributed.Client, optional
        Used as is, and left open.
    address : str, optional
        A running scheduler, such as ``"tcp://10.0.0.5:8786"``.
    n_workers : int, optional
        Workers of the local cluster; defaults to the number of cores.
    """
    if client is not None:
        yield client
    elif address is not None:
        with Client(address) as remote:
            yield remote
    else:
        with LocalCluster(
            n_workers=n_workers or os.cpu_count(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:8787",
        ) as cluster, Client(cluster) as local:
            yield local


def worker_memory_limit(client):
    """The smallest worker memory limit in bytes, or None when unlimited."""
    limits = [w.get("memory_limit") or 0 for w in client.scheduler_info()["workers"].values()]
    return min(limits) if limits and min(limits) > 0 else None
