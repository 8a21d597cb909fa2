import os
import subprocess
import sys

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


def test_a_tile_holds_its_workers_blas_to_one_thread_for_good():
    """A worker started without a nanny solves its tiles in threads of its own; the limit that one of them sets must
    hold in the others, and after its tile. (Two tiles side by side in one-thread blocks still came out 6e-8 from
    other workers' in one run of three, found by a probe.)"""
    code = """
import threading
from threadpoolctl import threadpool_info
from tiledeblur.blas import hold_one_blas_thread
counts = lambda: {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
before = counts()
tile = threading.Thread(target=hold_one_blas_thread)
tile.start()
tile.join()
print(before, counts())
"""
    # Local clusters' nannies set the thread counts in this process too, which the child would inherit.
    environment = {name: value for name, value in os.environ.items() if not name.endswith("_NUM_THREADS")}
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=environment).stdout
    before, after = shown.split()
    assert after == "{1}" and (before != after or os.cpu_count() == 1)  # OpenBLAS starts with a thread per core
