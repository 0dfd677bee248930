"""One seed, many named random streams: adding a fault type never shifts the
latency draws of another stream."""

from __future__ import annotations

import hashlib
import random


class Streams:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def __call__(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            material = hashlib.sha256(f"consort-netsim/{self.seed}/{name}".encode()).digest()
            stream = self._streams[name] = random.Random(int.from_bytes(material[:16], "big"))
        return stream
