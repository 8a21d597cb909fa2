"""What every benchmark writes beside its figures: machine, versions, command, RESULTS.md.

Imported by the scripts in this folder, which run as ``python benchmarks/<name>.py``
from the repository root, so that this folder is first on ``sys.path``. It imports
neither numpy nor anything that loads a BLAS, so a script may pin thread counts
after importing it.
"""

import argparse
import datetime
import importlib.metadata
import os
import platform
import shlex
import subprocess
from pathlib import Path

__all__ = ["RESULTS_PATH", "append_results", "command_line", "cpu_model", "environment_lines", "git_line", "image_names", "int_list",
           "machine_line", "positive_int", "utc_stamp", "versions_line"]

RESULTS_PATH = Path(__file__).with_name("RESULTS.md")


def cpu_model():
    """The CPU's model name from ``/proc/cpuinfo``, or ``"unknown"``."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else "unknown"


def machine_line():
    """A markdown bullet line: processor, architecture, logical CPUs and CPU model."""
    return (f"- Machine: {platform.processor() or 'unknown'} / {platform.machine()}, "
            f"{os.cpu_count()} logical CPUs, {cpu_model()}")


def versions_line(packages):
    """A markdown bullet line: the Python version and those of the installed ``packages``."""
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in packages)
    return f"- Python {platform.python_version()}; {versions}"


def git_line():
    """A markdown bullet line: the commit, and whether ``tiledeblur/`` differs from it, at the start of the run."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                              check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", str(Path(__file__).parent.parent / "tiledeblur"))
    return f"- Code: commit {commit}; tiledeblur/ {'with uncommitted changes' if changed else 'as committed'}"


def environment_lines(packages, thread_variables):
    """Markdown bullet lines: the machine, the versions of ``packages``, the code, and the threads pinned to one."""
    return [
        machine_line(),
        versions_line(packages),
        git_line(),
        f"- Threads: {', '.join(f'{name}=1' for name in thread_variables)}",
    ]


def utc_stamp():
    """The current time, such as ``"2026-11-26 11:55 UTC"``, for section headings."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def command_line(command, argv):
    """``command`` followed by the arguments ``argv``, less ``--no-write``, quoted for a shell."""
    return shlex.join([*command.split(), *(arg for arg in argv if arg != "--no-write")])


def solved_by(info):
    """What a solve restored by, as ``deconvolve``'s ``info`` names it: its loss, and ``laplacian``'s share where
    ``loss="auto"`` mixed the two, such as ``"nlmeans with 56% laplacian"``."""
    return f"{info.loss}{f' with {info.mix[0]:.0%} laplacian' if info.mix else ''}"


def append_results(section, path=RESULTS_PATH):
    """Append ``section`` to ``path``, creating it with a heading if it is missing."""
    if not path.exists():
        path.write_text("# Benchmark results\n")
    with path.open("a") as results:
        results.write("\n" + section + "\n")


def positive_int(text):
    """Parse a positive integer option."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def int_list(text, *, minimum, what):
    """Parse comma-separated integers such as ``"1,2"``, each at least ``minimum``."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(value < minimum for value in values):
        raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, got {text!r}")
    return values


def image_names(text):
    """Parse comma-separated ``skimage.data`` image names; an empty string names none.

    scikit-image is imported here, when an option is parsed, as this module loads no BLAS on import.
    """
    from skimage import data

    names = tuple(name for name in text.split(",") if name)
    unknown = [name for name in names if not callable(getattr(data, name, None))]
    if unknown:
        raise argparse.ArgumentTypeError(f"not images of skimage.data: {', '.join(unknown)}")
    return names
