"""The progress line: in place on a terminal, one line per update in a log."""

import io
import re
import time

from tiledeblur.progress import Progress
from tiledeblur.tiling import TilePlan


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


def _seconds(eta):
    hours, minutes, seconds = re.search(r"ETA (?:(\d+)h)?(\d+)m(\d+)s", eta).groups()
    return 3600 * int(hours or 0) + 60 * int(minutes) + int(seconds)


def test_the_time_left_holds_on_a_sparse_slide():
    """A run solves its tiles in the plan's spread order. Row by row, a sparse slide's blank tiles came first and
    the ETA was 15 min where an hour remained (found by a probe: 0.2 s a blank tile, 50 s one of tissue)."""
    plan = TilePlan(shape=(20_000, 20_000), tile=1000, chunk=1000, halo=0)
    tissue = {(row, col) for row in range(12, 18) for col in range(5, 11)}  # 36 of 400 tiles, in the lower half
    order = [tile.index for tile in plan.tiles(spread=True)]
    seconds = [50.0 if index in tissue else 0.2 for index in order]
    progress = Progress(total=len(plan), stream=io.StringIO())
    done = len(order) // 5
    for tile_seconds in seconds[:done]:
        progress.advance(pixels=1, seconds=tile_seconds)
    left = sum(seconds[done:])
    assert left / 2 < _seconds(progress.line()) < left * 2


def test_a_log_gets_whole_lines():
    log = io.StringIO()
    progress = Progress(total=2, stream=log)
    progress.advance(pixels=10, seconds=1.0)
    progress.advance(pixels=10, seconds=1.0)
    progress.close()
    assert log.getvalue().splitlines()[-1].startswith("tiles 2/2 (100%)")
    assert log.getvalue().splitlines()[-1].endswith("ETA 0m00s")
    assert "\r" not in log.getvalue()


def test_the_line_is_written_again_while_no_tile_finishes():
    """A tile of a minute or more left a log silent from the plan to its end (found by a probe: 50 s)."""
    log = io.StringIO()
    progress = Progress(total=2, stream=log)
    with progress.beating(every=0.05):
        deadline = time.monotonic() + 60  # a bound, not a measure: a loaded machine may beat late, but beats
        while log.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 2 and lines[0] == lines[1] == "tiles 0/2 (0%), 0.00 Mpx/s, ETA ?"
    written = log.getvalue()
    time.sleep(0.2)
    assert log.getvalue() == written  # and not after the block
