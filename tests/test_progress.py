"""The progress line: in place on a terminal, one line per update in a log."""

import io
import re

from tiledeblur.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_shorter_line_on_a_terminal_covers_the_longer_one_before_it():
    terminal = _Terminal()
    progress = Progress(total=1000, stream=terminal)
    progress._interval = 0.0  # a terminal's own interval: every tile here gets its line
    progress.advance(pixels=1, seconds=0.63)  # 999 more at 0.63 s: 10m29s
    progress.advance(pixels=1, seconds=0.45)  # 998 more at 0.54 s: 8m58s
    longer, shorter, _ = terminal.getvalue().split("\r")
    assert re.search(r"ETA 10m29s$", longer) and re.search(r"ETA 8m58s$", shorter.rstrip())
    assert len(shorter) == len(longer)


def test_the_time_left_is_the_tiles_own_time_shared_among_the_threads():
    """Not the time since the start, which counted the cluster's start-up (found by a probe: hours promised for
    minutes), nor since the first tile finished, which bunched finishes made nearly nothing (a probe: 7 s for 19 s)."""
    threads = [1]
    progress = Progress(total=100, threads=lambda: threads[0], stream=io.StringIO())
    assert progress.line().endswith("ETA ?")
    progress._start -= 600  # ten minutes of start-up
    for _ in range(4):  # four workers that finish together, each tile after 10 s
        progress.advance(pixels=1, seconds=10.0)
    threads[0] = 4
    assert progress.line().endswith("ETA 4m00s")  # 96 tiles left at 10 s each, four at a time
    threads[0] = 1
    assert progress.line().endswith("ETA 16m00s")


def test_a_log_gets_whole_lines():
    log = io.StringIO()
    progress = Progress(total=2, stream=log)
    progress.advance(pixels=10, seconds=1.0)
    progress.advance(pixels=10, seconds=1.0)
    progress.close()
    assert log.getvalue().splitlines()[-1].startswith("tiles 2/2 (100%)")
    assert log.getvalue().splitlines()[-1].endswith("ETA 0m00s")
    assert "\r" not in log.getvalue()
