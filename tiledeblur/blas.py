"""One BLAS thread for tiledeblur's solves and fits, in whatever process they run.

tiledeblur's arithmetic is FFTs and elementwise products; the BLAS serves
only the dot products and small least-squares fits inside scipy's
optimizers (Newton-CG's conjugate gradients, L-BFGS-B). There OpenBLAS's
threads, which spin while they wait for the next call, cost CPU and saved no
time: on 2 cores, ``deconvolve`` of a 512² image took 15.3 s of CPU in
11.2 s with OpenBLAS's default of a thread per core, and 10.7 s of CPU in
10.7 s with one; a ``plan`` whose sample regions measured the noise of a
2048² image 13.2 s of CPU in 7.2 s, against 7.0 s in 7.0 s. Where the
cores are shared, as with a local cluster's workers or other programs, that
spinning takes time from them. dask's nanny already starts its workers with
one BLAS thread (``distributed.nanny.pre-spawn-environ``). This module
holds the solves of ``deconvolve`` and of the plan's sample regions to one
thread and gives the caller's process its own setting back after
(:func:`one_blas_thread`); a worker started without a nanny it holds to one
for good (:func:`hold_one_blas_thread`): OpenBLAS 0.3.31 ignored a count set
in a thread once the main thread had set one, and blocks that two threads
opened and closed side by side still let some sums run threads of their own
(found by probes). In a program whose main thread sets its own count, a
solve in another thread may keep that count: so :func:`tiledeblur.run`
holds its caller's thread to one while its tiles are solved, for workers in
the caller's own process (a ``Client(processes=False)``).
"""

import functools
import threading

# Loads scipy's own BLAS, which its L-BFGS-B would load only at its first call, after the limits had been set.
import scipy.linalg  # noqa: F401
from threadpoolctl import ThreadpoolController

from .processstate import kept_until_the_last_ends

__all__ = ["hold_one_blas_thread", "one_blas_thread"]

#: The blocks of :func:`one_blas_thread` open in this process, and the limit that the first set.
_open_blocks = {"count": 0, "kept": None}
#: Its own lock, not the one held while a local cluster starts: a solve need not wait for that.
_LOCK = threading.Lock()


@functools.cache
def _controller():
    """The BLAS libraries that this process has loaded (numpy's and scipy's, by now), found once: finding them took
    1.3 ms, limiting 0.02 ms."""
    return ThreadpoolController()


def one_blas_thread():
    """A block in which each BLAS library that the process has loaded uses one thread; the last such block to end
    in any thread restores their counts.

    Blocks that overlap in several threads share one limit, which the last
    to end lifts: each restoring what it found would give a solve still
    running in another thread the library's own count back.

    Examples
    --------
    >>> with one_blas_thread():
    ...     print({pool["num_threads"] for pool in _controller().select(user_api="blas").info()})
    {1}
    """
    return kept_until_the_last_ends(_open_blocks, lambda: _controller().limit(limits=1, user_api="blas"),
                                    lambda limiter: limiter.restore_original_limits(), lock=_LOCK)


@functools.cache
def hold_one_blas_thread():
    """Hold each BLAS library that this process has loaded to one thread for good, as a dask nanny's environment holds
    its worker's: for the process of a worker started without one.

    Tiles that a worker of two threads solved side by side, each in its own
    :func:`one_blas_thread` block, still came out up to 6e-8 from those of
    other workers (found by a probe), as OpenBLAS let some of their sums run
    threads of its own; with the limit held for good, they were the same.
    """
    _controller().limit(limits=1, user_api="blas")
