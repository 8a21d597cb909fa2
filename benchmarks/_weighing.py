"""What the benchmarks of ``mu="auto"``'s models (``bench_jpeg``, ``bench_demosaic``) share: a case's outcome, its
table and the summary.

Each weighs scans whose noise is not white with the plan's weights, against
cross-validation's and the best single weight of a sweep, chosen against the
truth (an oracle no user has).
"""

import dataclasses
import statistics

__all__ = ["Outcome", "summary", "table"]


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
