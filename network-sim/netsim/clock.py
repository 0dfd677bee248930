"""A virtual clock in integer microseconds and its event queue.

Events at equal times run in the order they were scheduled, so the order
never depends on anything but the seed. The queue is a binary heap of
(time, sequence number, item); a run pushes and pops every message and
timer through it, so `pop_due` does the peek and the pop in one call."""

from __future__ import annotations

import heapq
from typing import Any

US_PER_MS = 1000
US_PER_S = 1_000_000


class EventQueue:
    __slots__ = ("now_us", "_heap", "_counter")

    def __init__(self) -> None:
        self.now_us = 0
        self._heap: list[tuple[int, int, Any]] = []
        self._counter = 0

    def schedule(self, at_us: int, item: Any) -> None:
        assert at_us >= self.now_us, "cannot schedule in the past"
        self._counter += 1
        heapq.heappush(self._heap, (at_us, self._counter, item))

    def pop(self) -> Any | None:
        if not self._heap:
            return None
        at_us, _, item = heapq.heappop(self._heap)
        self.now_us = at_us
        return item

    def pop_due(self, until_us: int) -> Any | None:
        """The next item if it is due at or before `until_us` (the clock moves
        to its time), else None and the queue is left as it is."""
        heap = self._heap
        if not heap or heap[0][0] > until_us:
            return None
        at_us, _, item = heapq.heappop(heap)
        self.now_us = at_us
        return item

    def peek_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
