import numpy as np
from threadpoolctl import threadpool_limits

from tiledeblur import deconvolve


def test_a_solve_rounds_alike_whatever_blas_threads_its_process_has(camera_case, article_psf):
    """Workers started without a nanny keep OpenBLAS's thread per core, whose sums rounded the tiles that they solved
    up to 1.2e-7 away from those of workers with one thread (found by a probe)."""
    observed = camera_case[1]
    solved = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            solved.append(deconvolve(observed, article_psf, loss="laplacian", mu=3e-3, denoise=False))
    assert np.array_equal(*solved)
