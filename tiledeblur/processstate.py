"""State of this process that blocks in several threads change together: loggers' levels, the environment, the
BLAS's threads."""

import contextlib
import threading

__all__ = ["PROCESS_STATE_LOCK", "kept_until_the_last_ends"]

#: Held while a local cluster starts with dask settings and warnings filters of its own (its nannies set the
#: environment of this process), and while the blocks of :func:`kept_until_the_last_ends` open and close.
PROCESS_STATE_LOCK = threading.Lock()


@contextlib.contextmanager
def kept_until_the_last_ends(record, keep, give_back, *, lock=PROCESS_STATE_LOCK):
    """A block that changes some of this process's state: the first of those open calls ``keep()``, which changes it
    and returns what was there, and the last to close calls ``give_back`` with that.

    Blocks that overlap in several threads share ``record``, a dict whose
    ``"count"`` starts at 0: each block's own record of what was there kept
    the state of another block still open (found by a probe, for the loggers'
    levels). ``lock`` guards ``record``; state that no cluster's start
    touches can take a lock of its own.

    Examples
    --------
    >>> state, record = {"level": 1}, {"count": 0}
    >>> def keep():
    ...     kept, state["level"] = state["level"], 2
    ...     return kept
    >>> def give_back(kept):
    ...     state["level"] = kept
    >>> with kept_until_the_last_ends(record, keep, give_back):
    ...     with kept_until_the_last_ends(record, keep, give_back):
    ...         pass
    ...     print(state["level"])
    2
    >>> state["level"]
    1
    """
    with lock:
        if not record["count"]:
            record["kept"] = keep()
        record["count"] += 1
    try:
        yield
    finally:
        with lock:
            record["count"] -= 1
            if not record["count"]:
                give_back(record["kept"])
