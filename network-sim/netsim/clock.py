"""A virtual clock in integer microseconds and its event queue.

Events at equal times run in the order they were scheduled, so the order
never depends on anything but the seed. Many events share a time (every
copy of a broadcast with a constant latency, every replica's timer after
a common start), so the queue keeps one bucket per distinct time, its
events in scheduling order, and a heap of those times: that is the order
a heap of (time, sequence number) pairs gives, at a fraction of the heap
work when buckets are large. The bucket being run may still grow (an event
scheduled for now runs after those already there)."""

from __future__ import annotations

import heapq
from typing import Any

US_PER_MS = 1000
US_PER_S = 1_000_000


class EventQueue:
    __slots__ = ("now_us", "_times", "_buckets", "_running", "_next")

    def __init__(self) -> None:
        self.now_us = 0
        self._times: list[int] = []  # a heap of the times that have a bucket (but the running one)
        self._buckets: dict[int, list[Any]] = {}  # time -> its events in scheduling order
        self._running: list[Any] | None = None  # the bucket of now_us, being run
        self._next = 0  # the index in it of the next event to run

    def schedule(self, at_us: int, item: Any) -> None:
        assert at_us >= self.now_us, "cannot schedule in the past"
        bucket = self._buckets.get(at_us)
        if bucket is None:
            self._buckets[at_us] = [item]
            heapq.heappush(self._times, at_us)
        else:
            bucket.append(item)

    def pop(self) -> Any | None:
        return self.pop_due(self._times[0] if self._times else self.now_us)

    def pop_due(self, until_us: int) -> Any | None:
        """The next event if it is due at or before `until_us` (the clock moves
        to its time), else None and the queue is left as it is."""
        running = self._running
        if running is not None:
            if self._next < len(running):
                item, running[self._next] = running[self._next], None  # run: no longer held here
                self._next += 1
                return item
            del self._buckets[self.now_us]
            self._running = None
        times = self._times
        if not times or times[0] > until_us:
            return None
        self.now_us = heapq.heappop(times)
        self._running = running = self._buckets[self.now_us]
        self._next = 1
        item, running[0] = running[0], None
        return item

    def peek_time(self) -> int | None:
        if self._running is not None and self._next < len(self._running):
            return self.now_us
        return self._times[0] if self._times else None

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values()) - (self._next if self._running else 0)
