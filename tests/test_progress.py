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
    progress._start = time.monotonic() - 0.6312  # one tile in 0.63 s: 999 more take 10m30s
    progress.advance(pixels=1)
    progress._start, progress._last_shown = time.monotonic() - 1.092, -float("inf")  # two in 1.09 s: 9m04s left
    progress.advance(pixels=1)
    first, second, _ = terminal.getvalue().split("\r")
    assert re.search(r"ETA 10m\d\ds$", first) and re.search(r"ETA 9m\d\ds$", second.rstrip())
    assert len(second) == len(first)


def test_a_log_gets_whole_lines():
    log = io.StringIO()
    progress = Progress(total=2, stream=log)
    progress.advance(pixels=10)
    progress.advance(pixels=10)
    progress.close()
    assert log.getvalue().splitlines()[-1].startswith("tiles 2/2 (100%)")
    assert "\r" not in log.getvalue()
