"""Progress of a long command (export, audit, simulator run, bench, chaos)
on stderr: a bar redrawn in place on a terminal, plain lines otherwise.

On a terminal the line is redrawn at most TTY_REDRAWS_PER_S times a second.
When the stream is a file or a pipe (CI, `2> log`, a test capturing output),
or TERM is "dumb", it writes whole lines instead, and few of them: one when
another LINE_PERCENT_STEP percent is done or LINE_INTERVAL_S seconds have
passed, never more than one in LINE_GAP_MIN_S, and none at all in a
command's first LINE_QUIET_S seconds; then one closing line. A command that
fails leaves no closing line, so its error stays the last thing printed.

It lives in devtools so that the CLI and the scripts can both import it;
the libraries that do the work (node.audit, netsim, the chain builder) take
a plain callback and know nothing of terminals. Written here rather than
taken from tqdm: the lines it writes when not on a terminal are what a log
should hold (tqdm writes carriage-return redraws into files too), and it is
one small module instead of a dependency.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Callable, TextIO

TTY_REDRAWS_PER_S = 5
LINE_PERCENT_STEP = 10
LINE_INTERVAL_S = 10.0
LINE_GAP_MIN_S = 1.0
LINE_QUIET_S = 2.0
BAR_WIDTH_MIN, BAR_WIDTH_MAX = 10, 30
TAIL_RESERVE = 50  # terminal columns kept for the counts, time and rate after the bar
BYTE_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def is_terminal(stream: TextIO) -> bool:
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def amount(value: float, unit: str) -> str:
    """A count as people read it: 12,500 blocks; 3.2 MiB; 7.5 simulated s."""
    if unit == "bytes":
        size, index = float(value), 0
        while size >= 1024 and index < len(BYTE_UNITS) - 1:
            size, index = size / 1024, index + 1
        return f"{size:,.0f} bytes" if index == 0 else f"{size:,.1f} {BYTE_UNITS[index]}"
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return f"{text} {unit}" if unit else text


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """`update(done, total=None, note="")` as work goes on; `close()` at the end
    (or use it as a context manager: leaving on an exception is not "done").
    `total` None means the end is not known: no bar, a count and a rate.
    `show_rate` False leaves the rate out (for work counted in seconds)."""

    def __init__(self, label: str, total: float | None = None, unit: str = "", stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, width: int | None = None,
                 show_rate: bool = True) -> None:
        self.label, self.total, self.unit, self.show_rate = label, total, unit, show_rate
        self.stream = sys.stderr if stream is None else stream
        self.tty = is_terminal(self.stream)
        self.clock = clock
        self.width = width
        self.started = clock()
        self.done: float = 0
        self.note = ""
        self.closed = False
        self.drawn_at: float | None = None   # tty: last redraw
        self.line_at = self.started          # lines: last line written (the start counts as one)
        self.next_percent = LINE_PERCENT_STEP

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(failed=kind is not None)

    def update(self, done: float, total: float | None = None, note: str | None = None) -> None:
        if self.closed:
            return
        self.done = done
        self.total = self.total if total is None else total
        self.note = self.note if note is None else note
        now = self.clock()
        if self.tty:
            if self.drawn_at is None or now - self.drawn_at >= 1 / TTY_REDRAWS_PER_S:
                self._redraw(now)
        elif self._line_due(now):
            self._write_line(now)

    def advance(self, amount_done: float = 1, note: str | None = None) -> None:
        self.update(self.done + amount_done, note=note)

    def close(self, note: str | None = None, failed: bool = False) -> None:
        """The last word: on a terminal, the final state and a newline; as lines,
        one closing line unless the work failed."""
        if self.closed:
            return
        self.note = self.note if note is None else note
        now = self.clock()
        if self.tty:
            if self.drawn_at is not None or not failed:
                self._redraw(now)
                self.stream.write("\n")
        elif not failed:
            self.stream.write(f"{self.label}: done, {self._counts()} in {duration(now - self.started)}"
                              f"{self._rate(now)}{self._suffix()}\n")
        self.stream.flush()
        self.closed = True

    # -------------------------------------------------------------- rendering

    def _percent(self) -> float | None:
        if not self.total:
            return None
        return min(100.0, max(0.0, 100.0 * self.done / self.total))

    def _line_due(self, now: float) -> bool:
        since_start, since_line = now - self.started, now - self.line_at
        if since_start < LINE_QUIET_S or since_line < LINE_GAP_MIN_S:
            return False
        percent = self._percent()
        stepped = percent is not None and self.next_percent <= percent < 100  # 100 %: the closing line says it
        return since_line >= LINE_INTERVAL_S or stepped

    def _write_line(self, now: float) -> None:
        percent = self._percent()
        if percent is not None:
            self.next_percent = (int(percent) // LINE_PERCENT_STEP + 1) * LINE_PERCENT_STEP
        share = "" if percent is None else f" ({percent:.0f}%)"
        self.stream.write(f"{self.label}: {self._counts()}{share}, {duration(now - self.started)}"
                          f"{self._rate(now)}{self._eta(now)}{self._suffix()}\n")
        self.stream.flush()
        self.line_at = now

    def _redraw(self, now: float) -> None:
        width = self.width or shutil.get_terminal_size((80, 24)).columns
        percent = self._percent()
        head = f"{self.label} "
        counts = f" {self._counts()} {duration(now - self.started)}{self._rate(now)}{self._eta(now)}"
        if percent is not None:  # a bar of steady width; a narrow terminal cuts the note, then the counts
            cells = min(BAR_WIDTH_MAX, max(BAR_WIDTH_MIN, width - len(head) - len("[] 100%") - TAIL_RESERVE))
            filled = int(cells * percent / 100)
            head += f"[{'#' * filled}{'.' * (cells - filled)}] {percent:3.0f}%"
        line = (head + counts + self._suffix())[: max(1, width - 1)]
        self.stream.write(f"\r{line}\x1b[K")
        self.stream.flush()
        self.drawn_at = now

    def _counts(self) -> str:
        if self.total is None:
            return amount(self.done, self.unit)
        if self.unit == "bytes":
            return f"{amount(self.done, 'bytes')} of {amount(self.total, 'bytes')}"
        done, total = self.done, self.total
        if isinstance(done, float) or isinstance(total, float):
            done, total = float(done), float(total)
        return f"{amount(done, '')}/{amount(total, self.unit)}"

    def _rate(self, now: float) -> str:
        elapsed = now - self.started
        if not self.show_rate or elapsed <= 0 or self.done <= 0:
            return ""
        per_s = self.done / elapsed
        return f", {amount(per_s if per_s < 100 else round(per_s), self.unit)}/s"

    def _eta(self, now: float) -> str:
        elapsed = now - self.started
        if not self.total or self.done <= 0 or elapsed <= 0 or self.done >= self.total:
            return ""
        return f", about {duration((self.total - self.done) * elapsed / self.done)} left"

    def _suffix(self) -> str:
        return f"; {self.note}" if self.note else ""
