"""The trace of a simulated run: a hash of everything that happened when,
so two runs can be compared by one line (the same seed gives the same
trace hash). Plain bookkeeping: it knows nothing of the run.
"""

from __future__ import annotations

import hashlib
import zlib
from array import array


class Trace:
    """The hash of everything that happened when: every message taken, timer
    fired, crash, restart, commit and halt. A row is a few integers (a
    string enters as its CRC-32, None as -1), kept after its length in one
    flat list that is hashed as 64-bit integers whenever it fills: a run
    takes millions of rows, and formatting each as text cost more than
    handling many messages did."""

    CHUNK_VALUES = 1 << 16
    MESSAGE = -2  # a message row's first value, where other rows give their length

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._values: list[int] = []
        self._kinds: dict[str, int] = {}  # message kind -> its CRC-32 (a handful)

    def add(self, *parts) -> None:
        self._values.append(len(parts))
        self._values.extend(_as_int(part) for part in parts)
        if len(self._values) >= self.CHUNK_VALUES:
            self._flush()

    def message(self, now_us: int, dst: int, src: int, message) -> None:
        kind = self._kinds.get(message.KIND)
        if kind is None:
            kind = self._kinds[message.KIND] = _as_int(message.KIND)
        view, seq = getattr(message, "view", None), getattr(message, "seq", None)
        self._values.extend((self.MESSAGE, now_us, dst, src, kind, -1 if view is None else view,
                             -1 if seq is None else seq))
        if len(self._values) >= self.CHUNK_VALUES:
            self._flush()

    def hexdigest(self) -> str:
        self._flush()
        return self._hash.hexdigest()

    def _flush(self) -> None:
        try:
            self._hash.update(array("q", self._values).tobytes())
        except OverflowError:  # an integer beyond 64 bits (a Byzantine view): its digits instead
            self._hash.update(repr(self._values).encode())
        self._values = []


def _as_int(part) -> int:
    if type(part) is int:
        return part
    return -1 if part is None else zlib.crc32(str(part).encode())
