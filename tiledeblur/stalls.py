"""Tell of a run that waits because no worker takes its tasks, so that a wait does not look like a hang.

A run's tiles wait where no worker is connected, where every worker is
paused at dask's memory limit, or where a paused worker holds tasks that
idle workers cannot take. :func:`stalls_told` watches the scheduler from a
thread of its own while a run computes, and tells of such a wait once it has
lasted ``STALL_SECONDS``.
"""

import contextlib
import threading
import time

from .cluster import workers

__all__ = ["STALL_CHECK_SECONDS", "STALL_SECONDS", "stalls_told"]

#: How often a run asks whether any worker takes tiles, and how long none may before it says so.
STALL_CHECK_SECONDS = 10.0
STALL_SECONDS = 60.0
#: The states, in a worker's task counts, of the tasks that it holds but has not started.
HELD_STATES = ("ready", "constrained")


@contextlib.contextmanager
def stalls_told(client, tell):
    """While the block runs, call ``tell(message)`` once each time no worker has taken tasks for ``STALL_SECONDS``.

    No worker takes tasks when none is connected (workers that cannot import
    tiledeblur die, as do those that run out of memory) or each is paused at
    dask's memory limit. A run then waited without a word until it was
    killed (found by a probe). The scheduler is asked every
    ``STALL_CHECK_SECONDS``, from a thread of its own.
    """
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_for_stalls, args=(client, tell, stop), daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=1.0)  # a call to a lost scheduler may take its timeout: the run reports that


def _watch_for_stalls(client, tell, stop):
    since, told = None, False
    while not stop.wait(STALL_CHECK_SECONDS):
        try:
            message = _stall_message(workers(client))
        except (OSError, RuntimeError, KeyError):  # the scheduler is gone, which the run reports itself
            # (KeyError: once the client gives up reconnecting, it describes the scheduler without workers).
            return
        if message is None:
            since, told = None, False
        elif since is None:
            since = time.monotonic()
        elif not told and time.monotonic() - since >= STALL_SECONDS:
            tell(message)
            told = True


def _stall_message(described):
    """What ``stalls_told`` says of the workers ``described`` (as :func:`~tiledeblur.cluster.workers` gives them); None where tasks move.

    Tasks stall where no worker runs, and where a paused worker holds tasks
    that it was given before it paused while a running one idles: the
    scheduler gives a paused worker no more, but takes back none (found by a
    probe: a run waited at 15 of 16 tiles for ten minutes).

    Examples
    --------
    >>> _stall_message({"a": {"status": "paused"}, "b": {"status": "paused"}})[:67]
    'tiledeblur: all 2 workers have been paused for 60 s at their memory'
    >>> holding = {"status": "paused", "metrics": {"task_counts": {"ready": 1}}}
    >>> idle = {"status": "running", "nthreads": 1, "metrics": {"task_counts": {"memory": 3}}}
    >>> _stall_message({"tcp://a:1": holding, "tcp://b:2": idle})[:74]
    'tiledeblur: worker tcp://a:1 has been paused for 60 s at its memory limit '
    >>> _stall_message({"tcp://a:1": holding, "tcp://b:2": {**idle, "metrics": {"task_counts": {"executing": 1}}}})
    """
    statuses = [worker.get("status") for worker in described.values()]
    if "running" not in statuses:
        if "paused" in statuses:
            return (f"tiledeblur: all {len(statuses)} workers have been paused for {STALL_SECONDS:g} s at their memory "
                    "limit (dask's distributed.worker.memory.pause), so nothing runs; the run waits. Give the workers "
                    "more memory, or pass a smaller tile.")
        return (f"tiledeblur: no worker has been running for {STALL_SECONDS:g} s, so nothing runs; the run waits for "
                "one. Workers that cannot import tiledeblur die, as do those that run out of memory: see their logs.")
    counts = {address: worker.get("metrics", {}).get("task_counts", {}) for address, worker in described.items()}
    holding = [address for address, worker in described.items()
               if worker.get("status") == "paused" and any(counts[address].get(state) for state in HELD_STATES)]
    idle = any(worker.get("status") == "running" and counts[address].get("executing", 0) < worker.get("nthreads", 1)
               for address, worker in described.items())
    if holding and idle:
        many = len(holding) > 1
        return (f"tiledeblur: worker{'s' * many} {', '.join(holding)} {'have' if many else 'has'} been paused for "
                f"{STALL_SECONDS:g} s at {'their' if many else 'its'} memory "
                "limit (dask's distributed.worker.memory.pause), holding tasks that no other worker takes while "
                "others idle; the run waits for them. Give the workers more memory, or pass a smaller tile.")
    return None
