"""The replica's named timers on the event loop, as the simulator runs them.

A timer restarted or cancelled before its expiry reaches the replica never
reaches it: each start gets a new generation, and an expiry counts only if
its generation is still the timer's. Expiries wait in `due` (at most one per
timer name) until the consensus task takes them, so a full inbox can delay
a timer but never lose one; `wake` tells the consensus task to look.
"""

from __future__ import annotations

import asyncio
from typing import Callable


class Timers:
    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.handles: dict[str, asyncio.TimerHandle] = {}
        self.generations: dict[str, int] = {}
        self.due: dict[str, int] = {}  # name -> generation that expired, in expiry order

    def start(self, name: str, delay_ms: int) -> None:
        """(Re)start timer `name`: an earlier start of it no longer counts."""
        self.cancel(name)
        generation = self.generations[name]
        loop = asyncio.get_running_loop()
        self.handles[name] = loop.call_later(delay_ms / 1000, self._expire, name, generation)

    def cancel(self, name: str) -> None:
        self.generations[name] = self.generations.get(name, 0) + 1
        handle = self.handles.pop(name, None)
        if handle is not None:
            handle.cancel()
        self.due.pop(name, None)

    def take_due(self) -> list[str]:
        """The timers that expired and still count, in the order they expired."""
        names = [name for name, generation in self.due.items() if generation == self.generations.get(name)]
        self.due = {}
        return names

    def close(self) -> None:
        for handle in self.handles.values():
            handle.cancel()
        self.handles, self.due = {}, {}

    def _expire(self, name: str, generation: int) -> None:
        self.handles.pop(name, None)
        if generation == self.generations.get(name):
            self.due[name] = generation
            self.wake()
