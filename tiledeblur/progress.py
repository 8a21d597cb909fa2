"""A progress line for long runs: tiles done of total, pixel rate and ETA.

It writes to a terminal in place (carriage return) and, when the stream is
not a terminal (a log file, CI), a new line at most every ``interval``
seconds, so progress is always visible without flooding the log.
"""

import sys
import time

__all__ = ["Progress"]


def _duration(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    """Count finished tiles and show the rate.

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> progress = Progress(total=4, already_done=1, stream=stream)
    >>> progress.advance(pixels=1_000_000)
    >>> progress.close()
    >>> "tiles 2/4" in stream.getvalue()
    True
    """

    def __init__(self, *, total, already_done=0, stream=None, interval=5.0, enabled=True):
        self.total = total
        self.done = already_done
        self._counted_from = already_done
        self._pixels = 0
        self._stream = stream or sys.stderr
        self._interactive = self._stream.isatty()
        self._interval = 0.2 if self._interactive else interval
        self._enabled = enabled
        self._start = time.monotonic()
        self._first_finished = None
        self._last_shown = -float("inf")
        self._shown_done = None
        self._shown_width = 0

    def line(self):
        """The current status as text."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        computed = self.done - self._counted_from
        rate = self._pixels / elapsed / 1e6
        remaining = self.total - self.done
        # From the first finished tile on: the cluster's start and the first tiles' imports would make the first
        # lines of a long run promise hours (a probe saw 10h for a 6 min run).
        if computed >= 2:
            eta = _duration((time.monotonic() - self._first_finished) / (computed - 1) * remaining)
        else:
            eta = "0m00s" if not remaining else "?"
        percent = 100 * self.done / self.total if self.total else 100
        return f"tiles {self.done}/{self.total} ({percent:.0f}%), {rate:.2f} Mpx/s, ETA {eta}"

    def advance(self, *, pixels):
        """Count one finished tile of ``pixels`` pixels."""
        if self._first_finished is None:
            self._first_finished = time.monotonic()
        self.done += 1
        self._pixels += pixels
        self._show(force=self.done == self.total)

    def _show(self, force=False):
        now = time.monotonic()
        if not self._enabled or (not force and now - self._last_shown < self._interval):
            return
        if force and self._shown_done == self.done:
            return
        self._last_shown, self._shown_done = now, self.done
        if self._interactive:
            # Over the last line, padded to its width: a shorter ETA must not leave "ETA 9m57ss".
            text = self.line()
            self._stream.write(text.ljust(self._shown_width) + "\r")
            self._shown_width = len(text)
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()

    def close(self):
        """Show the final state and end the line."""
        self._show(force=True)
        if self._enabled and self._interactive:
            self._stream.write("\n")
