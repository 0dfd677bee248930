"""When a replica tells the others where it is (STATUS: its view and executed
height), and when it answers a peer directly.

Replicas used to broadcast STATUS on every status tick, n^2 messages an
interval whether or not anything had changed; at a few hundred validators
that was nearly all the traffic of an idle chain. Now, on each tick, a
replica broadcasts STATUS only

- when its (view, height) differs from what it last told everyone: by a
  STATUS, or by a broadcast PREPARE or COMMIT for (v, s), which a replica
  sends only in view v at height s - 1 (one block is in flight; a
  PRE-PREPARE is left out, as a NEW-VIEW's re-proposal need not be at its
  primary's height), so under load the votes carry the heartbeat; or
- when it has told everyone nothing for its idle interval: two status
  intervals after a change, then doubling after each unchanged broadcast
  up to 2^DOUBLINGS_MAX intervals (the bound on how stale an idle
  replica's news can be). Any change starts the sequence over.

What the quiet replicas miss comes back by answers: a replica that hears a
STATUS from a peer below its height, or a STATUS or vote from a peer in a
higher view, sends that peer its own STATUS at once (at most once a status
interval per peer). So a restarted replica that announces its height
learns the others' heights from their answers and fetches the blocks it
lacks; a replica left in an old view tells the view's replicas where it
is, and they resend it the NEW-VIEW (the replica's `_on_status`).
A peer's vote is not answered for its height: under load votes from
peers one block behind are the norm. The status tick itself still comes
every interval: it drives catch-up's check for a stalled tip.

Pure bookkeeping: it must not import the replica or its other parts, and
does no I/O. Its memory is one entry per peer (`answered_ms`).
"""

from __future__ import annotations

from consensus.events import Broadcast, Effect, Send
from consensus.messages import Commit, Prepare, Status

DOUBLINGS_MAX = 3  # an idle replica still broadcasts STATUS every 8 status intervals


class Heartbeat:
    def __init__(self, interval_ms: int) -> None:
        self.interval_ms = interval_ms
        self.announced: tuple[int, int] | None = None  # (view, height) everyone was last told
        self.announced_ms = 0
        self.doublings = 0
        self.answered_ms: dict[int, int] = {}  # peer -> when it was last answered directly (at most n)

    def broadcast(self, view: int, height: int, now_ms: int) -> list[Effect]:
        """STATUS for everyone now (a replica that starts announces itself)."""
        self._announce(view, height, now_ms)
        return [Broadcast(Status(view, height))]

    def tick(self, view: int, height: int, now_ms: int) -> list[Effect]:
        """A status tick: STATUS for everyone if it changed or the idle interval passed."""
        if (view, height) == self.announced:
            if now_ms - self.announced_ms < self.interval_ms << self.doublings:
                return []
            self.doublings = min(self.doublings + 1, DOUBLINGS_MAX)
        return self.broadcast(view, height, now_ms)

    def answer(self, peer: int, view: int, height: int, now_ms: int) -> list[Effect]:
        """This replica's STATUS for `peer` alone: at most once an interval per peer."""
        last = self.answered_ms.get(peer)
        if last is not None and now_ms - last < self.interval_ms:
            return []
        self.answered_ms[peer] = now_ms
        return [Send(peer, Status(view, height))]

    def sent(self, effects: list[Effect], now_ms: int) -> None:
        """A step's effects left: a broadcast PREPARE or COMMIT told everyone its view and height."""
        for effect in reversed(effects):
            if isinstance(effect, Broadcast) and isinstance(effect.message, (Prepare, Commit)):
                self._announce(effect.message.view, effect.message.seq - 1, now_ms)
                return

    def reconfigure(self) -> None:
        """A new validator set: replica indices change and the new set has not been told."""
        self.announced = None
        self.doublings = 0
        self.answered_ms = {}

    def _announce(self, view: int, height: int, now_ms: int) -> None:
        if (view, height) != self.announced:
            self.announced = (view, height)
            self.doublings = 1
        self.announced_ms = now_ms
