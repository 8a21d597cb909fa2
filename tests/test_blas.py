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


def test_workers_in_the_callers_process_write_the_bytes_of_other_workers(tmp_path):
    """A notebook's ``Client(processes=False)`` solves the tiles in threads of the caller's process, whose OpenBLAS
    ignored their limit once the caller's thread had set one: its output came out up to 1.8e-7 from that of a local
    cluster's workers (found by a probe)."""
    script = tmp_path / "in_process.py"
    script.write_text("""
import numpy as np, zarr
from distributed import Client
from skimage import data
from tiledeblur import gaussian_psf, run
if __name__ == "__main__":
    zarr.create_array("scan.zarr", data=data.camera(), chunks=(256, 256))
    psf, options = gaussian_psf(13, (1.0, 3.0)), {"tile": 256, "mu": 1e-3, "progress": False}
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        run("scan.zarr", psf, output="in_process.zarr", client=client, **options)
    run("scan.zarr", psf, output="workers.zarr", n_workers=1, **options)
    in_process, workers = (zarr.open_array(name, mode="r")[...] for name in ("in_process.zarr", "workers.zarr"))
    print(np.abs(in_process - workers).max())
""")
    # As a user's process starts: with OpenBLAS's thread per core, not the nannies' one that this process may hold.
    environment = {name: value for name, value in os.environ.items() if not name.endswith("_NUM_THREADS")}
    shown = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                           env=environment, cwd=tmp_path).stdout
    assert float(shown) == 0.0
