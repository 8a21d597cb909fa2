"""A progress line for long runs: tiles done of total, pixel rate and ETA.

The ETA is the tiles left times their mean time on a worker, shared among
the worker threads. Not the time since the run began, which counted the
cluster's start (a probe saw 10h promised for a 6 min run), nor since the
first tile finished, which workers that finish together make nearly nothing
(found by a probe: 7 s promised for 19 s).

It writes to a terminal in place (carriage return) and, when the stream is
not a terminal (a log file, CI), a new line at most every ``interval``
seconds, so progress is always visible without flooding the log. While no
tile finishes, :meth:`Progress.beating` writes the line again every
``HEARTBEAT_SECONDS``.
"""

import contextlib
import sys
import threading
import time

__all__ = ["HEARTBEAT_SECONDS", "Progress", "Teller", "duration_text", "tell", "tell_of_band"]

#: The longest that the progress line goes unwritten while tiles are solved: a tile of a minute or more (a large
#: tile, loss="nlmeans") left the log silent from the plan to its end (found by a probe: 50 s).
HEARTBEAT_SECONDS = 30.0


def tell(message, *, progress):
    """Say on stderr what a run or a conversion is doing, where ``progress`` is shown: a long step must not look like
    a hang."""
    if progress:
        _written(sys.stderr, message + "\n")


def _written(stream, text):
    """Write ``text`` to ``stream`` and flush it; False where the stream is gone (its reader left, ``2>&1 | head``):
    a line that tells of the work must not stop it (found by a probe: a run ended after 2 of its 16 tiles).

    Examples
    --------
    >>> import io
    >>> closed = io.StringIO()
    >>> closed.close()
    >>> _written(closed, "tiles 1/4"), _written(None, "tiles 1/4")
    (False, False)
    """
    if stream is None:  # Python's sys.stderr where the process started with it closed (2>&-)
        return False
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # ValueError: a closed file
        return False
    return True


class Teller:
    """:func:`tell` at most once every ``every`` seconds: the share done of a long step, without a line per part.

    Examples
    --------
    >>> teller = Teller(every=3600.0, progress=True)
    >>> teller.tell_if_due("half done")  # an hour has not passed: nothing is said
    """

    def __init__(self, *, every, progress):
        self._every, self._progress, self._told = every, progress, time.monotonic()

    def tell_if_due(self, message):
        """Tell ``message`` where ``every`` seconds have passed since the last line (or the start)."""
        if time.monotonic() - self._told >= self._every:
            tell(message, progress=self._progress)
            self._told = time.monotonic()


def tell_of_band(level, band, bands, *, levels, progress):
    """:func:`tell` of the part ``band`` of ``bands`` of a pyramid's ``level`` of ``levels``, as it starts.

    Examples
    --------
    >>> import contextlib, io
    >>> told = io.StringIO()
    >>> with contextlib.redirect_stderr(told):
    ...     tell_of_band(1, 2, 7, levels=3, progress=True)
    >>> told.getvalue().strip()
    'building the OME-Zarr pyramid: level 1 of 3 (part 2 of 7)'
    """
    part = f" (part {band} of {bands})" if bands > 1 else ""
    tell(f"building the OME-Zarr pyramid: level {level} of {levels}{part}", progress=progress)


def _rate(pixels_per_second):
    """A pixel rate for people: in kpx/s below 0.01 Mpx/s, which read as a stall when written ``0.00 Mpx/s`` (found
    by a probe: every line of a 256² star field's ``tv`` run).

    Examples
    --------
    >>> _rate(420_000), _rate(5_123), _rate(0)
    ('0.42 Mpx/s', '5.12 kpx/s', '0.00 Mpx/s')
    """
    if 0 < pixels_per_second < 1e4:
        return f"{pixels_per_second / 1e3:.2f} kpx/s"
    return f"{pixels_per_second / 1e6:.2f} Mpx/s"


def duration_text(seconds):
    """``seconds`` for people, as the progress line gives its ETA.

    Examples
    --------
    >>> duration_text(75.9), duration_text(3725)
    ('1m15s', '1h02m05s')
    """
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    """Count finished tiles and show the rate.

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> progress = Progress(total=4, already_done=1, threads=lambda: 2, stream=stream)
    >>> progress.advance(pixels=1_000_000, seconds=10.0)
    >>> progress.close()
    >>> stream.getvalue().split(", ETA ")[1].strip()  # 2 tiles left, 10 s each, on 2 threads
    '0m10s'
    >>> stalled = Progress(total=4, threads=lambda: 0, enabled=False)  # no worker runs
    >>> stalled.advance(pixels=1_000_000, seconds=10.0)
    >>> stalled.line().split(", ETA ")[1]
    '?'

    Parameters
    ----------
    total, already_done : int
        The tiles of the run, and those that earlier runs wrote.
    threads : callable
        The worker threads that solve tiles now; with none, the ETA is "?".
    stream : file, optional
        Where the line goes: stderr by default.
    interval : float
        Seconds between lines in a log (not a terminal).
    enabled : bool
        Whether to write at all.
    """

    def __init__(self, *, total, already_done=0, threads=lambda: 1, stream=None, interval=5.0, enabled=True):
        self.total = total
        self.done = already_done
        self._counted_from = already_done
        self._threads = threads
        self._pixels = 0
        self._tile_seconds = 0.0
        self._stream = stream or sys.stderr
        self._interactive = self._stream is not None and self._stream.isatty()
        self._interval = 0.2 if self._interactive else interval
        self._enabled = enabled and self._stream is not None
        self._start = time.monotonic()
        self._last_shown = -float("inf")
        self._shown_done = None
        self._shown_width = 0
        self._writing = threading.Lock()  # the heartbeat's thread writes too

    def line(self):
        """The current status as text."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        computed = self.done - self._counted_from
        rate = _rate(self._pixels / elapsed)
        remaining = self.total - self.done
        threads = self._threads() if remaining and computed else 0
        if threads:
            eta = duration_text(self._tile_seconds / computed * remaining / threads)
        else:
            eta = "?" if remaining else "0m00s"
        percent = 100 * self.done / self.total if self.total else 100
        return f"tiles {self.done}/{self.total} ({percent:.0f}%), {rate}, ETA {eta}"

    def advance(self, *, pixels, seconds):
        """Count one finished tile of ``pixels`` pixels, which took a worker ``seconds``."""
        self.done += 1
        self._pixels += pixels
        self._tile_seconds += seconds
        self._show(force=self.done == self.total)

    @contextlib.contextmanager
    def beating(self, every=HEARTBEAT_SECONDS):
        """While the block runs, write the line again where none was written for ``every`` seconds (a quarter more
        at most)."""
        stopped = threading.Event()

        def beat():
            while not stopped.wait(every / 4):
                self._show(quiet_for=every)

        heart = threading.Thread(target=beat, daemon=True)
        heart.start()
        try:
            yield
        finally:
            stopped.set()
            heart.join()

    def _show(self, force=False, quiet_for=None):
        with self._writing:
            now = time.monotonic()
            interval = self._interval if quiet_for is None else quiet_for
            if not self._enabled or (not force and now - self._last_shown < interval):
                return
            if force and self._shown_done == self.done:
                return
            self._last_shown, self._shown_done = now, self.done
            self._write()

    def _write(self):
        if self._interactive:
            # Over the last line, padded to its width: a shorter ETA must not leave "ETA 9m57ss".
            text = self.line()
            self._enabled = _written(self._stream, text.ljust(self._shown_width) + "\r")
            self._shown_width = len(text)
        else:
            self._enabled = _written(self._stream, self.line() + "\n")

    def close(self):
        """Show the final state and end the line."""
        self._show(force=True)
        if self._enabled and self._interactive:
            _written(self._stream, "\n")
