"""Benchmark ``tiledeblur.run`` end to end on a generated scan, with 1 and 2 workers.

What it measures
----------------
For each worker count of ``--workers`` (default 1 and 2), repeated in
``--rounds`` alternating rounds (default 3: 1, 2, 1, 2, 1, 2 workers), on a fresh local
cluster of that many single-threaded worker processes bound to 127.0.0.1, the
one that ``run()`` itself starts (``tiledeblur.cluster.local_cluster``),
passed to ``run(..., client=client, progress=False)``:

- the pixel rate, image pixels over the wall time of the ``run()`` call alone
  (planning, creating the output and every tile; not writing the scan nor
  starting the cluster), in Mpx/s;
- the parallel efficiency, ``rate_N * N0 / (N * rate_N0)`` against the first
  worker count ``N0``, from the median rates: with the defaults,
  ``rate2 / (2 * rate1)``; and the same within each round. Rounds alternate
  because this machine is a virtual one whose memory bandwidth, shared with
  its neighbours, varies from minute to minute: two processes of a streaming
  kernel ran at 47% to 98% of the speed of one, minutes apart;
- the peak RSS of every worker process and of the driver (which holds the
  scheduler and the nannies), sampled with psutil every 0.2 s by a thread of
  the driver, the worker pids from ``client.run(os.getpid)``;
- the scheduler overhead per tile, ``(wall - sum(tile compute) / N) / tiles``,
  the tile compute times being those of the ``deconvolve-tile`` tasks in the
  dask task stream, from ``distributed.get_task_stream``;
- the seconds from the ``run()`` call to the start of its first tile task:
  the plan (``mu="auto"``'s sample regions, the halo, the checks) and the
  output's creation, which the driver does alone before any tile, so that
  they count once however many workers there are; and the efficiency of the
  rest, the tiles' phase;
- each worker's CPU time over the wall time, below 1 where it idled or another
  load shared the cores;
- the tile side, halo and number of tiles from the run's plan.

The scan is uint8, ``--size`` pixels a side (default 8192, 64 Mpx): the gray
astronaut of ``skimage.data`` repeated with mirror flips, so that it has no
seams (with ``--colour``, its red, green and blue as a slide scanner's RGB,
the channels last, each blurred alike), blurred with the article's PSF
``gaussian_psf(13, (1, 3))`` by ``scipy.signal.fftconvolve`` and given
Gaussian noise of sigma 0.01 on the [0, 1] scale from
``np.random.default_rng(0)``. It is written to a Zarr v3
array of 512 x 512 (x 3) chunks in a temporary folder, one chunk row at a time;
every run writes its own output there. Workers get one BLAS/OpenMP thread from
dask's nanny defaults, the malloc settings of ``tiledeblur.cluster.WORKER_MALLOC``
and the dask settings of ``CLUSTER_CONFIG`` (no statistical profiler).

At about 0.9 Mpx/s per core the default takes about 7 minutes; ``--size 32768
--rounds 1``, one gigapixel, about 35. Run it from the repository root
with ``python benchmarks/bench_run.py``; it prints a markdown table and appends
it, with the machine and the library versions, to ``benchmarks/RESULTS.md``
unless ``--no-write`` is given.
"""

import argparse
import dataclasses
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import psutil
import scipy.signal
import zarr
from _report import (
    RESULTS_PATH,
    append_results,
    command_line,
    git_line,
    int_list,
    machine_line,
    positive_int,
    utc_stamp,
    versions_line,
)
from distributed import Client, get_task_stream
from skimage import color, data

import tiledeblur
from tiledeblur.cluster import local_cluster

#: The article's PSF: side and (row, column) standard deviations.
PSF_SIZE = 13
PSF_SIGMA = (1, 3)
#: Standard deviation of the noise added to the blurred scan, on the [0, 1] scale.
NOISE_SIGMA = 0.01
#: Side of the scan's Zarr chunks.
CHUNK = 512
#: The issue's scan side, 64 Mpx.
DEFAULT_SIZE = 8192
SAMPLE_SECONDS = 0.2
#: Keys of the tile tasks that ``tiledeblur.run`` submits start with this.
TILE_KEY_PREFIX = "deconvolve-tile"
#: Below this share of the run on CPU, a worker idled or another load shared the cores.
BUSY_SHARE = 0.8
#: The issue's goals: efficiency from 1 to 2 workers, peak RSS per worker with 1024² tiles.
EFFICIENCY_GOAL = 0.90
RSS_GOAL_BYTES = 10**9
RSS_GOAL_TILE = 1024
MB = 10**6
PACKAGES = ("numpy", "scipy", "dask", "distributed", "zarr", "autograd", "tiledeblur")
COMMAND = "python benchmarks/bench_run.py"


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One ``run()`` on a fresh cluster.

    Attributes
    ----------
    workers : int
    seconds : float
        Wall time of the ``run()`` call.
    compute_seconds : float
        Compute time of every tile task, summed over tiles.
    before_tiles : float
        Seconds from the ``run()`` call to the start of its first tile task.
    worker_peaks : tuple of int
        Peak RSS of each worker in bytes, in the order of their addresses.
    worker_cpu_seconds : tuple of float
        CPU time (user and system) of each worker during the run, in that order.
    driver_peak : int
        Peak RSS of the driver during the run, in bytes.
    unconverged : int
        Tiles (times channels) whose Newton-CG did not converge.
    report : tiledeblur.RunReport
    """

    workers: int
    seconds: float
    compute_seconds: float
    before_tiles: float
    worker_peaks: tuple
    worker_cpu_seconds: tuple
    driver_peak: int
    unconverged: int
    report: tiledeblur.RunReport

    @property
    def tiles(self):
        """Tiles computed."""
        return self.report.tiles_computed

    @property
    def rate(self):
        """Image pixels per second, in Mpx/s."""
        return math.prod(self.report.plan.shape) / self.seconds / 1e6

    @property
    def tiles_rate(self):
        """Image pixels per second of the tiles' phase, after the first tile started, in Mpx/s."""
        return math.prod(self.report.plan.shape) / (self.seconds - self.before_tiles) / 1e6

    @property
    def busy_share(self):
        """The least share of the run's wall time that a worker spent on CPU."""
        return min(self.worker_cpu_seconds) / self.seconds

    @property
    def overhead_per_tile(self):
        """Wall time beyond the tiles' compute time shared over the workers, per tile, in seconds."""
        return (self.seconds - self.compute_seconds / self.workers) / self.tiles


class PeakRss:
    """Peak resident memory of some processes, sampled by a background thread.

    Use as a context manager; ``peaks`` holds the largest RSS seen of each
    process, in bytes, in the order of ``pids``.
    """

    def __init__(self, pids, interval=SAMPLE_SECONDS):
        self._processes = [psutil.Process(pid) for pid in pids]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.peaks = [0] * len(pids)

    def sample(self):
        """Read every process's RSS once and keep the largest."""
        for index, process in enumerate(self._processes):
            self.peaks[index] = max(self.peaks[index], process.memory_info().rss)

    def _sample_until_stopped(self):
        while True:
            self.sample()
            if self._stop.wait(self._interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.sample()


def parse_workers(text):
    """Parse comma-separated worker counts such as ``"1,2"`` into a tuple of ints."""
    return int_list(text, minimum=1, what="worker counts")


def mirrored(image, rows, columns):
    """Pixels of ``image`` repeated without end by mirror flips, at the given indices.

    Index ``-1`` is pixel 0, index ``n`` pixel ``n - 1``, and so on, as
    ``np.pad(..., mode="symmetric")`` would pad it.
    """

    def fold(indices, n):
        folded = np.mod(indices, 2 * n)
        return np.where(folded < n, folded, 2 * n - 1 - folded)

    return image[np.ix_(fold(rows, image.shape[0]), fold(columns, image.shape[1]))]


def write_scan(path, size, psf, *, colour=False):
    """Write the blurred, noisy uint8 scan to a new Zarr v3 array at ``path``, a chunk row at a time.

    With ``colour``, the scan is RGB, its channels last, each channel blurred alike.

    Each chunk row is blurred from the mirrored astronaut with the PSF's radius
    of margin ("valid" convolution), so rows join as in one convolution of the
    whole endless image; the noise is drawn row after row from one generator.
    """
    planes = np.moveaxis(data.astronaut() / 255, -1, 0) if colour else [color.rgb2gray(data.astronaut())]
    radius_y, radius_x = (side // 2 for side in psf.shape)
    columns = np.arange(-radius_x, size + radius_x)
    rng = np.random.default_rng(0)
    channels = (3,) if colour else ()
    scan = zarr.create_array(store=str(path), shape=(size, size, *channels), chunks=(CHUNK, CHUNK, *channels),
                             dtype="uint8", zarr_format=3)
    for start in range(0, size, CHUNK):
        stop = min(start + CHUNK, size)
        rows = np.arange(start - radius_y, stop + radius_y)
        blurred = np.stack([scipy.signal.fftconvolve(mirrored(plane, rows, columns), psf, mode="valid")
                            for plane in planes], axis=-1).reshape(stop - start, size, *channels)
        noisy = blurred + NOISE_SIGMA * rng.standard_normal(blurred.shape)
        scan[start:stop] = np.round(np.clip(noisy, 0.0, 1.0) * 255).astype(np.uint8)


def cpu_seconds(pids):
    """User and system CPU seconds that each process has used so far."""
    return [sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids]


def tile_compute_spans(records):
    """The ``(start, stop)`` seconds since the epoch of each tile task's compute in task-stream ``records``."""
    return [(span["start"], span["stop"]) for record in records if str(record["key"]).startswith(TILE_KEY_PREFIX)
            for span in record["startstops"] if span["action"] == "compute"]


def count_convergence_warnings(caught):
    """How many of the ``caught`` warnings are ConvergenceWarnings; show the others."""
    count = 0
    for caught_warning in caught:
        if issubclass(caught_warning.category, tiledeblur.ConvergenceWarning):
            count += 1
        else:
            warnings.showwarning(caught_warning.message, caught_warning.category, caught_warning.filename,
                                 caught_warning.lineno)
    return count


def measure(scan, output, workers, psf, tile, loss, channel_axis):
    """Run ``tiledeblur.run`` on a fresh local cluster of ``workers`` processes; return a Measurement.

    ``loss`` is passed on unless it is None, which leaves the library's default.
    """
    with local_cluster(workers, dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        worker_pids = [pids[address] for address in sorted(pids)]
        with (PeakRss([*worker_pids, os.getpid()]) as rss, get_task_stream(client) as stream,
              warnings.catch_warnings(record=True) as caught):
            warnings.simplefilter("always")
            cpu_before, started, started_epoch = cpu_seconds(worker_pids), time.perf_counter(), time.time()
            report = tiledeblur.run(scan, psf, output=output, tile=tile, channel_axis=channel_axis, client=client,
                                    progress=False,
                                    **({} if loss is None else {"loss": loss}))
            seconds = time.perf_counter() - started
            cpu_used = [after - before for before, after in zip(cpu_before, cpu_seconds(worker_pids))]
    spans = tile_compute_spans(stream.data)
    if len(spans) != report.tiles_computed:
        raise RuntimeError(f"the task stream holds {len(spans)} {TILE_KEY_PREFIX!r} tasks, "
                           f"but run() computed {report.tiles_computed} tiles")
    compute_seconds = sum(stop - start for start, stop in spans)
    before_tiles = min(start for start, _ in spans) - started_epoch
    return Measurement(workers, seconds, compute_seconds, before_tiles, tuple(rss.peaks[:-1]), tuple(cpu_used),
                       rss.peaks[-1], count_convergence_warnings(caught), report)


def efficiencies(measurements, rate=lambda m: m.rate):
    """Parallel efficiency of each measurement against the first: ``rate_N N0 / (N rate_N0)``, of ``rate(m)``."""
    base = measurements[0]
    return [rate(m) * base.workers / (m.workers * rate(base)) for m in measurements]


def median_measurement(measurements):
    """The measurement of median rate (the lower of the middle two for an even count)."""
    ordered = sorted(measurements, key=lambda m: m.rate)
    return ordered[(len(ordered) - 1) // 2]


def table_row(measurement, efficiency, is_base, round_rates):
    """One markdown table row, of the median round; the base row's efficiency is a dash."""
    plan = measurement.report.plan
    cells = [
        str(measurement.workers),
        f"{measurement.rate:.3f}",
        " / ".join(f"{rate:.3f}" for rate in round_rates),
        "— (base)" if is_base else f"{efficiency:.0%}",
        " / ".join(f"{peak / MB:,.0f}" for peak in measurement.worker_peaks),
        f"{measurement.driver_peak / MB:,.0f}",
        f"{measurement.overhead_per_tile * 1e3:,.0f}",
        str(measurement.tiles),
        f"{plan.tile}²",
        str(plan.halo),
        f"{measurement.seconds:,.1f}",
        f"{measurement.before_tiles:,.1f}",
        " / ".join(f"{cpu / measurement.seconds:.2f}" for cpu in measurement.worker_cpu_seconds),
    ]
    return "| " + " | ".join(cells) + " |"


def goal_lines(measurements, efficiency_by_workers, rounds, tiles_efficiency_by_workers):
    """Markdown lines that set the issue's goals beside what was measured."""
    lines = []
    if measurements[0].workers == 1 and 2 in efficiency_by_workers:
        efficiency = efficiency_by_workers[2]
        verdict = "met" if efficiency >= EFFICIENCY_GOAL else "not met"
        per_round = ", ".join(f"{dict(zip((m.workers for m in each), efficiencies(each)))[2]:.0%}"
                              for each in rounds)
        lines.append(f"- Goal: parallel efficiency from 1 to 2 workers >= {EFFICIENCY_GOAL:.0%}; "
                     f"measured {efficiency:.0%} from the median rates ({verdict}); within each round: {per_round}; "
                     f"of the tiles' phase alone, after the driver's work before the first tile: "
                     f"{tiles_efficiency_by_workers[2]:.0%}.")
    peak = max(max(m.worker_peaks) for m in measurements)  # over every round
    tile = measurements[0].report.plan.tile
    if tile == RSS_GOAL_TILE:
        verdict = "met" if peak < RSS_GOAL_BYTES else "not met"
    else:
        verdict = f"not tested: the tiles were {tile}², not {RSS_GOAL_TILE}²"
    lines.append(f"- Goal: peak RSS per worker < {RSS_GOAL_BYTES / 1e9:.0f} GB with {RSS_GOAL_TILE}² tiles; "
                 f"measured at most {peak / MB:,.0f} MB ({verdict}); the plan's estimate, which `tile=\"auto\"` "
                 f"sizes tiles by: {measurements[0].report.plan.tile_bytes() / MB:,.0f} MB.")
    lines.extend(f"- Caution: with {m.workers} worker(s) a worker was on CPU only {m.busy_share:.0%} of the run, "
                 "so it idled or another load shared the cores: that row's rate, and the efficiency, are low."
                 for m in measurements if m.busy_share < BUSY_SHARE)
    return lines


def table(rounds):
    """The results table in markdown, with the goals and notes on how to read it.

    ``rounds`` holds one list of measurements per round, in worker-count order.
    """
    measurements = [median_measurement(group) for group in zip(*rounds)]
    everything = [m for each in rounds for m in each]
    shares = efficiencies(measurements)
    tiles_shares = efficiencies(measurements, rate=lambda m: m.tiles_rate)
    header = [
        (f"| Workers | Mpx/s, median | Mpx/s per round | Efficiency (goal ≥ {EFFICIENCY_GOAL:.0%}) "
        f"| Peak RSS per worker, MB (goal < {RSS_GOAL_BYTES / MB:.0f} at {RSS_GOAL_TILE}²) "
        "| Driver peak RSS, MB | Overhead per tile, ms | Tiles | Tile | Halo | Seconds | Before the first tile, s "
        "| Worker CPU / wall |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [table_row(m, e, index == 0, [each.rate for each in group])
            for index, (m, e, group) in enumerate(zip(measurements, shares, zip(*rounds)))]
    unconverged = sum(m.unconverged for m in everything)
    notes = [
        "",
        *goal_lines(everything, {m.workers: e for m, e in zip(measurements, shares)}, rounds,
                    {m.workers: e for m, e in zip(measurements, tiles_shares)}),
        ("- Mpx/s: image pixels over the wall time of the `run()` call. The row is the round of median rate: "
        "its RSS, overhead, Seconds (that wall time) and CPU. Efficiency: `rate_N * N0 / (N * rate_N0)` "
        "against the first row."),
        (f"- RSS: sampled every {SAMPLE_SECONDS} s with psutil during `run()`, workers in address order; "
        "the driver holds the scheduler and the nannies; MB are 10^6 bytes."),
        ("- Overhead per tile: `(wall - sum of tile compute / workers) / tiles`, tile compute from the "
        "`deconvolve-tile` tasks of the task stream; it includes workers left idle at the end and their "
        "first imports."),
        ("- Before the first tile: seconds from the `run()` call to the start of its first tile task, the plan "
        "and the output's creation, which the driver does alone; the tiles' phase is the rest of Seconds."),
        ("- Worker CPU / wall: each worker's user and system CPU time during `run()` over its wall time; "
        "below 1 it was idle or waited for the CPU (another load on the machine)."),
        f"- Tiles that did not converge (ConvergenceWarning): {unconverged}.",
    ]
    return "\n".join(header + rows + notes)


def parse_arguments(argv):
    """The command-line options, see ``--help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=positive_int, default=DEFAULT_SIZE,
                        help="side of the square scan in pixels (default: %(default)s)")
    parser.add_argument("--tile", type=positive_int, default=1024,
                        help="core tile side passed to run() (default: %(default)s)")
    parser.add_argument("--workers", type=parse_workers, default=(1, 2),
                        help="worker counts, comma-separated, one fresh cluster each (default: 1,2)")
    parser.add_argument("--rounds", type=positive_int, default=3,
                        help="alternating rounds over the worker counts; medians are reported (default: 3)")
    parser.add_argument("--loss", default=None,
                        help="the loss passed to run(), such as nlmeans (default: none passed, the library's default)")
    parser.add_argument("--colour", action="store_true",
                        help="an RGB scan, its channels last, in place of the gray one")
    parser.add_argument("--no-write", action="store_true", help=f"do not append to {RESULTS_PATH.name}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder with the scan and outputs")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the benchmark, print the table and append it to RESULTS.md unless ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_arguments(argv)
    started, code, load = time.perf_counter(), git_line(), os.getloadavg()[0]
    psf = tiledeblur.gaussian_psf(PSF_SIZE, PSF_SIGMA)
    folder = Path(tempfile.mkdtemp(prefix="bench_run-"))
    try:
        scan = folder / "scan.zarr"
        write_scan(scan, options.size, psf, colour=options.colour)
        scan_seconds = time.perf_counter() - started
        print(f"scan written to {scan} in {scan_seconds:.0f} s", file=sys.stderr)
        rounds = []
        for round_number in range(1, options.rounds + 1):
            rounds.append([])
            for workers in options.workers:
                output = folder / f"out-{workers}-workers.zarr"
                rounds[-1].append(measure(scan, output, workers, psf, options.tile, options.loss,
                                          -1 if options.colour else None))
                shutil.rmtree(output)  # a gigapixel output takes 4 GB
                print(f"round {round_number}, {workers} worker(s): done after {time.perf_counter() - started:.0f} s",
                      file=sys.stderr)
    finally:
        if options.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder)
    report = rounds[0][0].report
    section = "\n".join([
        f"## bench_run — {utc_stamp()}",
        "",
        machine_line(),
        versions_line(PACKAGES),
        code,
        f"- Command: `{command_line(COMMAND, argv)}`",
        (f"- Scan: {options.size} x {options.size} uint8 ({options.size**2 / 1e6:.1f} Mpx), the "
        f"{'RGB' if options.colour else 'gray'} astronaut mirrored, blurred by "
        f"`gaussian_psf({PSF_SIZE}, {PSF_SIGMA})`, noise sigma {NOISE_SIGMA} (seed 0); Zarr v3 with {CHUNK}² "
        f"chunks, written in {scan_seconds:.0f} s (not timed)"),
        (f"- run(): defaults but `tile={options.tile}`"
        f"{'' if options.loss is None else f', `loss={options.loss!r}`'}, `progress=False`, a fresh "
        f"`local_cluster` per row (one thread per worker process, `WORKER_MALLOC` and `CLUSTER_CONFIG`); "
        f"loss {report.loss}, mu {', '.join(f'{mu:g}' for mu in np.atleast_1d(report.mu))}"),
        f"- Plan: {report.plan.describe()}",
        f"- Load average (1 min) at the start: {load:.2f}; total runtime: {time.perf_counter() - started:.0f} s",
        "",
        table(rounds),
    ])
    print(section)
    if not options.no_write:
        append_results(section)


if __name__ == "__main__":
    main()
