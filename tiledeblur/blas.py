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
one BLAS thread (``distributed.nanny.pre-spawn-environ``); this module does
the same for ``deconvolve``, the plan's sample regions, and workers started
without a nanny, and gives the caller's process its own setting back after.
"""

import functools

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


@functools.cache
def _controller():
    """The BLAS libraries that this process has loaded, found once: finding them took 1.3 ms, limiting 0.02 ms."""
    return ThreadpoolController()


def one_blas_thread():
    """A context in which each BLAS library that the process has loaded uses one thread; the setting is restored
    on leaving it.

    Examples
    --------
    >>> with one_blas_thread():
    ...     print({pool["num_threads"] for pool in _controller().select(user_api="blas").info()})
    {1}
    """
    return _controller().limit(limits=1, user_api="blas")
