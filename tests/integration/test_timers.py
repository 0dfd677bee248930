"""The node's timers behave as the simulator's: an expiry that a restart or a
cancel overtook never reaches the replica, and one timer expires once."""

from __future__ import annotations

from fixtures import wait_until
from node.runtime.timers import Timers


async def test_an_expired_timer_cancelled_before_it_is_taken_never_arrives():
    wakes = []
    timers = Timers(lambda: wakes.append(1))
    timers.start("request", 0)
    await wait_until(lambda: wakes, 5, "the timer to expire")
    timers.cancel("request")  # cancelled after expiring, before the consensus task took it
    assert timers.take_due() == []
    timers.close()


async def test_a_restarted_timer_counts_once_and_only_its_latest_start():
    wakes = []
    timers = Timers(lambda: wakes.append(1))
    timers.start("view-change", 0)
    await wait_until(lambda: wakes, 5, "the first expiry")
    timers.start("view-change", 0)  # restarted before the first expiry was taken
    assert timers.take_due() == []
    await wait_until(lambda: len(wakes) == 2, 5, "the second expiry")
    timers.start("batch", 0)
    await wait_until(lambda: len(wakes) == 3, 5, "the batch timer")
    assert timers.take_due() == ["view-change", "batch"] and timers.take_due() == []
    timers.close()
