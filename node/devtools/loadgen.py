"""The arithmetic of the bench's open-loop load, with no I/O: when
transactions arrive (a seeded Poisson process), how arrivals are grouped
into submissions, how many submissions may be in flight, and the figures
read off a run (percentiles, committed per second in a window).

Open loop means arrivals follow the schedule whatever the nodes do: a slow
answer does not delay the next arrival (a closed loop, whose clients wait
for each answer before sending more, slows its own load down exactly when
the system struggles, and so hides the latency an outside client would
see). Each transaction arrives on its own; arrivals that fall due close
together are sent as one submission (see `Gather`), and each one's latency
is counted from its own arrival time, so time spent waiting in the client
(gathering, or behind a busy event loop) is part of the latency, not
hidden from it.

The clock and the random source are passed in; nothing here reads either.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Iterable

MINUTE_S = 60.0
MINUTE_RATES_DURATION_MIN_S = 120.0  # a run at least this long reports its first and last minute


class PoissonArrivals:
    """Arrival times (seconds from the start) of a Poisson process of
    `rate_per_s` from 0 until `duration_s`: the gaps between arrivals are
    exponential draws from `rng`, so the same seed gives the same schedule."""

    def __init__(self, rate_per_s: float, duration_s: float, rng: random.Random) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"an arrival rate is a positive number of transactions a second, not {rate_per_s!r}")
        if not (math.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"a schedule lasts a finite, non-negative time, not {duration_s!r}")
        self.rate_per_s = rate_per_s
        self.duration_s = duration_s
        self.rng = rng
        self.next_s = rng.expovariate(rate_per_s)
        self.count = 0  # arrivals handed out so far

    @property
    def done(self) -> bool:
        return self.next_s >= self.duration_s

    def due(self, now_s: float, count_max: int) -> list[float]:
        """The arrivals at or before `now_s` not handed out yet, oldest
        first: at most `count_max` of them (call again for the rest)."""
        times: list[float] = []
        while len(times) < count_max and self.next_s <= now_s and not self.done:
            times.append(self.next_s)
            self.next_s += self.rng.expovariate(self.rate_per_s)
        self.count += len(times)
        return times


@dataclass(slots=True)
class Gather:
    """Arrivals waiting to be sent. A submission leaves when it holds
    `batch_max` arrivals, or when its oldest has waited `linger_s` (0: as
    soon as the sender looks), or at the end of the schedule. Lingering a
    few milliseconds saves the nodes a request (an HTTP exchange and a
    request signature to check) per transaction at high rates, and costs
    each transaction at most `linger_s` of latency, which is counted."""

    batch_max: int
    linger_s: float
    waiting: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.batch_max < 1 or not (math.isfinite(self.linger_s) and self.linger_s >= 0):
            raise ValueError(f"a gather needs batch_max >= 1 and a linger >= 0 s, not {self.batch_max}, "
                             f"{self.linger_s}")

    def add(self, times: Iterable[float]) -> None:
        self.waiting.extend(times)

    @property
    def deadline_s(self) -> float:
        """When the oldest waiting arrival must leave (inf: none waits)."""
        return self.waiting[0] + self.linger_s if self.waiting else math.inf

    def ready(self, now_s: float, final: bool = False) -> list[list[float]]:
        """The submissions to send now, each a list of arrival times
        (`final`: the schedule is over, send everything)."""
        out = []
        while len(self.waiting) >= self.batch_max:
            out.append(self.waiting[:self.batch_max])
            del self.waiting[:self.batch_max]
        if self.waiting and (final or now_s >= self.deadline_s):
            out.append(self.waiting)
            self.waiting = []
        return out


@dataclass(slots=True)
class InFlight:
    """Submissions sent and not yet answered: at most `limit`. A submission
    that falls due while `limit` are in flight is not sent and its
    transactions are counted in `dropped_txs` (the load offered beyond what
    the client may keep open), never queued."""

    limit: int
    count: int = 0
    peak: int = 0
    dropped_txs: int = 0
    dropped_submissions: int = 0

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"at least one submission must be allowed in flight, not {self.limit}")

    def admit(self, txs: int) -> bool:
        """Take a place for a submission of `txs` transactions; False (and
        counted as dropped) when none is free."""
        if self.count >= self.limit:
            self.dropped_txs += txs
            self.dropped_submissions += 1
            return False
        self.count += 1
        self.peak = max(self.peak, self.count)
        return True

    def release(self) -> None:
        assert self.count > 0, "released a place that was not taken"
        self.count -= 1


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank;
    0.0 for no values)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"a percentile's fraction is between 0 and 1, not {fraction!r}")
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def committed_per_s(commits: Iterable[tuple[float, int]], start_s: float, end_s: float) -> float:
    """Transactions committed a second within [start_s, end_s), from
    (seconds since the load started, transactions committed then) pairs."""
    if not end_s > start_s:
        raise ValueError(f"a window ends after it starts, not {start_s}..{end_s}")
    return sum(count for at_s, count in commits if start_s <= at_s < end_s) / (end_s - start_s)


def minute_rates(commits: list[tuple[float, int]], duration_s: float) -> dict:
    """For a run of at least MINUTE_RATES_DURATION_MIN_S: committed tx/s in
    its first and in its last minute (a node that slows down as its ledger
    or memory grows shows here); {} for a shorter run."""
    if duration_s < MINUTE_RATES_DURATION_MIN_S:
        return {}
    return {"tps_first_minute": round(committed_per_s(commits, 0.0, MINUTE_S), 1),
            "tps_last_minute": round(committed_per_s(commits, duration_s - MINUTE_S, duration_s), 1)}


def by_minute(commits: list[tuple[float, int]], cpu_marks: list[tuple[float, float | None]],
              nodes: int) -> list[dict]:
    """Each whole minute of a run: committed tx/s, and the CPU the nodes spent
    on each committed transaction (microseconds, per node) from `cpu_marks`,
    (seconds since the load started, CPU seconds of all nodes so far) taken
    at each minute's start and end (None: not this bench's nodes). The CPU
    figure says whether the nodes' work per transaction grows with the chain,
    whatever else the machine was doing that minute."""
    rows = []
    for (start_s, cpu_start), (end_s, cpu_end) in zip(cpu_marks, cpu_marks[1:]):
        committed = sum(count for at_s, count in commits if start_s <= at_s < end_s)
        cpu_us = None
        if cpu_start is not None and cpu_end is not None and committed:
            cpu_us = round((cpu_end - cpu_start) / nodes / committed * 1e6, 1)
        rows.append({"minute": len(rows) + 1, "tps": round(committed / (end_s - start_s), 1),
                     "node_cpu_us_per_tx": cpu_us})
    return rows


def latency_summary(latencies_ms: list[float]) -> dict:
    return {"p50_ms": round(percentile(latencies_ms, 0.50), 1), "p99_ms": round(percentile(latencies_ms, 0.99), 1),
            "max_ms": round(max(latencies_ms, default=0.0), 1)}
