"""The request pool: the client requests a replica holds until they commit.

Pending requests are heard but not yet in a block (kept in arrival order,
which is proposal order); requests in flight are in a block accepted in
this view; recent ones committed lately, remembered by digest so a
duplicate is refused. Pending requests and recent digests each have a
maximum. Every operation costs the same however many requests came before
(the recent digests leave oldest first from a queue of their own: deleting
the first key of a large dict over and over makes each next lookup of the
first key scan the deleted slots, a cost that grows with the traffic).
A request's digest is worked out once, when it arrives, and kept while the
request is pending or in flight (`digests`), not hashed again when its
block is accepted and when it commits. Plain bookkeeping: it must not
import the replica or its other parts, and does no I/O.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from itertools import islice


def request_digest(tx: bytes) -> bytes:
    return hashlib.sha256(tx).digest()


@dataclass(frozen=True, slots=True)
class Admission:
    """What `RequestPool.add` did with a batch of requests."""

    fresh: tuple[bytes, ...]
    duplicates: int
    full: bool  # the pool filled up: the rest of the batch was refused


class RequestPool:
    def __init__(self, pending_max: int, recent_max: int) -> None:
        self.pending_max = pending_max
        self.recent_max = recent_max
        self.pending: dict[bytes, bytes] = {}
        self.in_flight: dict[bytes, bytes] = {}
        self.recent: set[bytes] = set()
        self.recent_order: deque[bytes] = deque()  # the digests of `recent`, oldest first
        self.digests: dict[bytes, bytes] = {}  # request -> its digest, for each one pending or in flight

    @property
    def waiting(self) -> bool:
        """Some request is still to commit."""
        return bool(self.pending or self.in_flight)

    def add(self, txs: tuple[bytes, ...]) -> Admission:
        fresh, duplicates = [], 0
        for tx in txs:
            if len(self.pending) >= self.pending_max:
                return Admission(tuple(fresh), duplicates, True)
            digest = request_digest(tx)
            if digest in self.pending or digest in self.in_flight or digest in self.recent:
                duplicates += 1
                continue
            self.pending[digest] = tx
            self.digests[tx] = digest
            fresh.append(tx)
        return Admission(tuple(fresh), duplicates, False)

    def batch(self, size_max: int) -> tuple[bytes, ...]:
        """The oldest pending requests, at most `size_max`."""
        return tuple(self.pending[digest] for digest in islice(self.pending, size_max))

    def take(self, txs: tuple[bytes, ...]) -> None:
        """A block holding `txs` was accepted: they are in flight."""
        for tx in txs:
            digest = self.digests.get(tx) or request_digest(tx)
            self.in_flight[digest] = self.pending.pop(digest, tx)
            self.digests[tx] = digest

    def committed(self, txs: tuple[bytes, ...]) -> None:
        for tx in txs:
            digest = self.digests.pop(tx, None) or request_digest(tx)
            self.in_flight.pop(digest, None)
            self.pending.pop(digest, None)
            if digest in self.recent:
                continue
            self.recent.add(digest)
            self.recent_order.append(digest)
            if len(self.recent_order) > self.recent_max:
                self.recent.discard(self.recent_order.popleft())

    def requeue(self) -> int:
        """The view changed: requests in flight go back to the front of the queue,
        within the limit; the newest pending requests beyond it are dropped (their
        clients resend). Returns how many were dropped."""
        merged = {**self.in_flight, **self.pending}
        self.in_flight = {}
        self.pending = dict(islice(merged.items(), self.pending_max))
        self.digests = {tx: digest for digest, tx in self.pending.items()}
        return len(merged) - len(self.pending)
