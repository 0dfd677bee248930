"""What one replica step hands its driver: the effects in the order they
must be performed, with the replica's snapshot persisted before a signed
message leaves; the timers running (so a timer is cancelled only if it
runs); and, kept across steps, how many messages were ignored and why.
Must not import the replica or its parts; no I/O, no clock.

A step persists at most once: however many times its handlers ask, it
hands over one `Persist`, where the first request was made (before the
first signed message that needed it) and holding the snapshot as the step
leaves the replica. That is safe because the later snapshot records all
the earlier one did and more (votes are only dropped when a block executes,
which a step does before it signs anything): a replica restarted from it is
one whose messages of that step were all lost, which any network may do.
It saves the driver a synced disk write per extra request.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Callable

from consensus.events import CancelTimer, Effect, Halt, Persist, StartTimer
from consensus.snapshot import ReplicaSnapshot

log = logging.getLogger("consort.consensus")


class Outbox:
    def __init__(self, snapshot: Callable[[], ReplicaSnapshot]) -> None:
        self.snapshot = snapshot
        self.effects: list[Effect] = []
        self.timers: set[str] = set()
        self.ignored: Counter[str] = Counter()
        self.last_ignored: str | None = None
        self.halted: str | None = None
        self.persist_at: int | None = None  # where this step's Persist goes, once one is asked for

    def add(self, effect: Effect) -> None:
        if isinstance(effect, StartTimer):
            self.timers.add(effect.name)
        elif isinstance(effect, CancelTimer):
            self.timers.discard(effect.name)
        self.effects.append(effect)

    def extend(self, effects: list[Effect]) -> None:
        for effect in effects:
            self.add(effect)

    def persist(self) -> None:
        """Store the replica's snapshot before any effect added after this call:
        what it signed so far survives a crash (see the module's docstring)."""
        if self.persist_at is None:
            self.persist_at = len(self.effects)
            self.effects.append(None)  # the Persist, made when the step ends

    def cancel_timer(self, name: str) -> None:
        if name in self.timers:
            self.add(CancelTimer(name))

    def fired(self, name: str) -> None:
        self.timers.discard(name)

    def halt(self, reason: str) -> None:
        """A consensus failure: the last effect this replica hands its driver."""
        log.critical("consensus failure: %s", reason)
        self.halted = reason
        self.add(Halt(reason))

    def ignore(self, reason: str, count: int = 1) -> None:
        self.ignored[reason] += count
        self.last_ignored = reason
        log.debug("replica ignores: %s", reason)

    def take(self) -> list[Effect]:
        effects, self.effects = self.effects, []
        if self.persist_at is not None:
            effects[self.persist_at] = Persist(self.snapshot())
            self.persist_at = None
        return effects
