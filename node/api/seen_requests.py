"""The node's memory of the signed requests it accepted: each (key, nonce)
is kept until its time has left the acceptance window, after which the
request would be refused as stale anyway, so a request is never served
twice. Bounded in all and per key; pure (the caller passes the clock).
"""

from __future__ import annotations

import heapq

REPLAYED = "replayed_request"
KEY_OVER_SHARE = "too_many_requests"  # this key holds its share of the memory: 429
FULL = "busy"                         # the memory is full: 503


class SeenRequests:
    """(key, nonce) pairs of accepted requests within `window_ms` of their
    time: at most `entries_max` in all and `per_key_max` per key, so one key
    cannot use up everyone's room."""

    def __init__(self, window_ms: int, entries_max: int, per_key_max: int) -> None:
        assert 0 < window_ms and 0 < per_key_max <= entries_max
        self.window_ms = window_ms
        self.entries_max = entries_max
        self.per_key_max = per_key_max
        self.seen: set[tuple[bytes, bytes]] = set()
        self.expiries: list[tuple[int, bytes, bytes]] = []  # heap of (forget after ms, key, nonce)
        self.per_key: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self.seen)

    def fresh(self, time_ms: int, now_ms: int) -> bool:
        """Whether a request made at `time_ms` is within the window of `now_ms`."""
        return abs(now_ms - time_ms) <= self.window_ms

    def admit(self, key: bytes, nonce: bytes, time_ms: int, now_ms: int) -> str | None:
        """Remember a fresh request; None, or why it is refused (REPLAYED,
        KEY_OVER_SHARE or FULL: then nothing is remembered)."""
        assert self.fresh(time_ms, now_ms)
        self._forget(now_ms)
        if (key, nonce) in self.seen:
            return REPLAYED
        if self.per_key.get(key, 0) >= self.per_key_max:
            return KEY_OVER_SHARE
        if len(self.seen) >= self.entries_max:
            return FULL
        self.seen.add((key, nonce))
        heapq.heappush(self.expiries, (time_ms + self.window_ms, key, nonce))
        self.per_key[key] = self.per_key.get(key, 0) + 1
        return None

    def _forget(self, now_ms: int) -> None:
        """Drop every entry whose request would now be refused as stale."""
        while self.expiries and self.expiries[0][0] < now_ms:
            _, key, nonce = heapq.heappop(self.expiries)
            self.seen.discard((key, nonce))
            left = self.per_key.pop(key) - 1
            if left:
                self.per_key[key] = left
