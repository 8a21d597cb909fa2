"""The progress line: in place on a terminal, one line per update in a log."""

import io
import re
import time

from tiledeblur.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_shorter_line_on_a_terminal_covers_the_longer_one_before_it():
    terminal = _Terminal()
    progress = Progress(total=1000, stream=terminal)
    progress.advance(pixels=1)  # one tile: no rate yet
    progress._first_finished, progress._last_shown = time.monotonic() - 0.6312, -float("inf")
    progress.advance(pixels=1)  # one more 0.63 s after the first: 998 more take 10m30s
    progress._first_finished, progress._last_shown = time.monotonic() - 1.092, -float("inf")
    progress.advance(pixels=1)  # two more in 1.09 s: 9m04s left
    first, longer, shorter, _ = terminal.getvalue().split("\r")
    assert first.rstrip().endswith("ETA ?")
    assert re.search(r"ETA 10m\d\ds$", longer) and re.search(r"ETA 9m\d\ds$", shorter.rstrip())
    assert len(shorter) == len(longer)


def test_the_time_left_counts_from_the_first_finished_tile():
    """The cluster's start must not count: the first lines of a long run promised hours (found by a probe)."""
    progress = Progress(total=100, stream=io.StringIO())
    progress._start = time.monotonic() - 600  # ten minutes of start-up
    progress.advance(pixels=1)
    progress._first_finished = time.monotonic() - 10
    progress.advance(pixels=1)  # then a tile per 10 s
    assert re.search(r"ETA 16m\d\ds$", progress.line())  # 98 tiles left at 10 s each


def test_a_log_gets_whole_lines():
    log = io.StringIO()
    progress = Progress(total=2, stream=log)
    progress.advance(pixels=10)
    progress.advance(pixels=10)
    progress.close()
    assert log.getvalue().splitlines()[-1].startswith("tiles 2/2 (100%)")
    assert "\r" not in log.getvalue()
