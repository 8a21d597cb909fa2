"""What the benchmarks of ``mu="auto"``'s models (``bench_jpeg``, ``bench_demosaic``, ``bench_resampling``) share: a
case's outcome, its table and the summary, and the options and the run of those that weigh each image, noise and kind
of scan alike.

Each weighs scans whose noise is not white with the plan's weights, against
cross-validation's and the best single weight of a sweep, chosen against the
truth (an oracle no user has).
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _report import RESULTS_PATH, append_results, command_line, environment_lines, image_names, utc_stamp

__all__ = ["Outcome", "options", "summary", "table", "weigh"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One case's PSNRs on the interior, in dB, the weights that gave them, and whether the plan warned of them.

    ``label`` holds the case's cells of the table, joined by ``" | "``.
    """

    label: str
    blurred: float
    planned: float
    planned_mu: tuple
    crossvalidated: float
    crossvalidated_mu: tuple
    best: float
    best_mu: float
    warned: bool = False

    @property
    def loss(self):
        """The plan's PSNR less the sweep's best, in dB."""
        return self.planned - self.best


def _weights_text(weights):
    """Weights for a table cell, such as ``"0.0031, 0.012"``."""
    return ", ".join(f"{weight:.2g}" for weight in weights)


def table(columns, outcomes):
    """The per-case markdown table; ``columns`` are the labels' headings, with ``":"`` after those of numbers."""
    header = [
        ("| " + " | ".join(column.rstrip(":") for column in columns) + " | Blurred | Plan: PSNR (μ) "
         "| Cross-validation: PSNR (μ) | Best of the sweep: PSNR (μ) | Plan less best, dB |"),
        "|" + "".join("---:|" if column.endswith(":") else "---|" for column in columns) + "---:|---|---|---|---:|",
    ]
    rows = [(f"| {outcome.label} | {outcome.blurred:.2f} | {outcome.planned:.2f} ({_weights_text(outcome.planned_mu)}"
             f"{'; warned' if outcome.warned else ''}) "
             f"| {outcome.crossvalidated:.2f} ({_weights_text(outcome.crossvalidated_mu)}) "
             f"| {outcome.best:.2f} ({outcome.best_mu:.2g}) | {outcome.loss:+.2f} |") for outcome in outcomes]
    return "\n".join(header + rows)


def summary(groups):
    """The median and worst loss, the least gain over the blurred scan, and cross-validation's, per group."""
    header = [
        ("| Cases | Plan less best, median (dB) | Worst (dB) | Plan less blurred, least (dB) "
         "| Cross-validation less blurred, median (dB) | Cross-validation below blurred |"),
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [(f"| {label} ({len(outcomes)}) | {statistics.median(o.loss for o in outcomes):+.2f} "
             f"| {min(o.loss for o in outcomes):+.2f} | {min(o.planned - o.blurred for o in outcomes):+.2f} "
             f"| {statistics.median(o.crossvalidated - o.blurred for o in outcomes):+.2f} "
             f"| {sum(o.crossvalidated < o.blurred for o in outcomes)} |")
            for label, outcomes in groups.items() if outcomes]
    return "\n".join(header + rows)


def options(argv, *, description, default_images, noise, size, quick, add_arguments=None):
    """A benchmark's options (``--images``, ``--quick``, ``--no-write``, and any that ``add_arguments(parser)``
    adds), with ``noise`` and ``size`` set, or the ``quick`` run's images, noise and size."""
    parser = argparse.ArgumentParser(description=description)
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_argument("--images", type=image_names, default=default_images,
                        help=f"skimage.data images, comma-separated (default: {','.join(default_images)})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: {quick['images'][0]}, noise {quick['noise'][0]}, {quick['size']} px")
    parser.add_argument("--no-write", action="store_true", help=f"do not append to {RESULTS_PATH.name}")
    chosen = parser.parse_args(argv)
    chosen.noise, chosen.size = noise, size
    if chosen.quick:
        chosen.images, chosen.noise, chosen.size = quick["images"], quick["noise"], quick["size"]
    return chosen


def weigh(argv, chosen, *, benchmark, command, kinds, evaluate, columns, notes, thread_variables):
    """Weigh each image, noise and kind of scan, ``evaluate(name, size, noise, kind, folder)``; print
    ``benchmark``'s section with its ``notes`` (lines on the cases) and the table of ``columns``, and append it to
    RESULTS.md unless ``--no-write``."""
    command = command_line(command, argv)
    print(f"command: {command}", file=sys.stderr)
    started = time.perf_counter()
    groups = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as folder:
        for name in chosen.images:
            for noise in chosen.noise:
                for kind, group in groups.items():
                    group.append(evaluate(name, chosen.size, noise, kind, Path(folder)))
                    print(f"{group[-1].label}: done after {time.perf_counter() - started:.0f} s", file=sys.stderr)
    outcomes = [outcome for group in groups.values() for outcome in group]
    section = "\n".join([
        f"## {benchmark} — {utc_stamp()}",
        "",
        *environment_lines(("numpy", "scipy", "scikit-image", "zarr", "tiledeblur"), thread_variables),
        f"- Command: `{command}`",
        *notes,
        "- PSNR in dB on the interior (two PSF sides in from each edge), `data_range=1`",
        f"- Total runtime: {time.perf_counter() - started:.0f} s",
        "",
        table(columns, outcomes),
        "",
        summary({"all": outcomes, **groups}),
    ])
    print(section)
    if not chosen.no_write:
        append_results(section)
