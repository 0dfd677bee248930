"""The simulator's event queue runs events in the order of a heap of (time,
sequence number): by time, and at equal times in the order they were
scheduled, events scheduled for now while now's events run included."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given, strategies as st

from netsim.clock import EventQueue


class ReferenceQueue:
    """The order the queue must give, the plain way."""

    def __init__(self) -> None:
        self.now_us, self.heap, self.counter = 0, [], 0

    def schedule(self, at_us: int, item) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (at_us, self.counter, item))

    def pop_due(self, until_us: int):
        if not self.heap or self.heap[0][0] > until_us:
            return None
        self.now_us, _, item = heapq.heappop(self.heap)
        return item


# Each step: schedule a few events at now + delay (0 is now), then pop up to `until` ahead.
steps = st.lists(st.tuples(st.lists(st.integers(0, 3), max_size=4), st.integers(0, 4), st.integers(0, 5)),
                 max_size=60)


@given(steps)
def test_events_run_by_time_then_in_scheduling_order(plan):
    queue, reference, label = EventQueue(), ReferenceQueue(), 0
    for delays, pops, ahead in plan:
        for delay in delays:
            label += 1
            queue.schedule(queue.now_us + delay, label)
            reference.schedule(reference.now_us + delay, label)
        for _ in range(pops):
            expected = reference.pop_due(reference.now_us + ahead)
            assert queue.pop_due(queue.now_us + ahead) == expected
            assert queue.now_us == reference.now_us
        assert queue.peek_time() == (reference.heap[0][0] if reference.heap else None)
        assert len(queue) == len(reference.heap)
    drained = [queue.pop_due(10**9) for _ in range(len(reference.heap) + 1)]
    assert drained == [reference.pop_due(10**9) for _ in range(len(drained))]


def test_an_event_scheduled_for_now_runs_after_those_already_due_now():
    queue = EventQueue()
    for item in ("a", "b"):
        queue.schedule(5, item)
    queue.schedule(7, "later")
    assert queue.pop_due(100) == "a"
    queue.schedule(5, "c")  # now is 5, while 5's bucket runs
    assert [queue.pop_due(100) for _ in range(4)] == ["b", "c", "later", None]
    assert queue.pop_due(6) is None and queue.now_us == 7


def test_the_past_cannot_be_scheduled():
    queue = EventQueue()
    queue.schedule(10, "x")
    queue.pop_due(10)
    with pytest.raises(AssertionError):
        queue.schedule(9, "too late")
