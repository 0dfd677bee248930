"""A fake link joining replicas in one process: no sockets, no event loop.

Messages queue in a deque and are handed to the addressed replica one at a
time; a `drop` predicate models a silent or disconnected replica. Delivered
blocks are "executed" with deterministic fake roots, as a driver would.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from consensus.config import ChainTip
from consensus.events import (
    Broadcast, CancelTimer, CertifiedBlocks, ClientRequests, Deliver, Executed, PeerMessage, Persist, Send,
    StartTimer, TimerFired,
)
from consensus.messages import Blocks, FetchBlocks
from consensus.replica import Replica
from crypto import hashing, merkle
from crypto.keys import KeyPair
from fixtures import replica_config

CHAIN_ID = hashing.digest("test-chain", b"replica-net")
GENESIS_STATE_ROOT = hashing.digest("test-state", b"genesis")


def node_keys(n: int) -> list[KeyPair]:
    return [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(n)]


def genesis_tip() -> ChainTip:
    return ChainTip(0, CHAIN_ID, GENESIS_STATE_ROOT, merkle.EMPTY_ROOT, 1_000)


def fake_roots(block_hash: bytes) -> tuple[bytes, bytes]:
    return hashing.digest("test-state", block_hash), hashing.digest("test-receipts", block_hash)


class ReplicaNet:
    def __init__(self, n: int = 4, batch_size_max: int = 100, batch_delay_ms: int = 0, **overrides) -> None:
        self.keys = node_keys(n)
        validators = tuple(k.public_key for k in self.keys)
        self.replicas = [
            Replica(replica_config(CHAIN_ID, i, validators, batch_size_max=batch_size_max,
                                  batch_delay_ms=batch_delay_ms, **overrides), self.keys[i].signer(), genesis_tip())
            for i in range(n)
        ]
        self.queue: deque = deque()
        self.delivered: dict[int, list[Deliver]] = {i: [] for i in range(n)}
        self.timers: dict[int, set[str]] = {i: set() for i in range(n)}
        self.snapshots: dict[int, object] = {}
        self.now_ms = 2_000
        self.drop: Callable[[int, int, object], bool] = lambda to, sender, message: False

    def step(self, replica_id: int, event) -> list:
        effects = self.replicas[replica_id].step(event, self.now_ms)
        self.perform(replica_id, effects)
        return effects

    def perform(self, replica_id: int, effects: list) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.queue.append((effect.to, replica_id, effect.message))
            elif isinstance(effect, Broadcast):
                for other in range(len(self.replicas)):
                    if other != replica_id:
                        self.queue.append((other, replica_id, effect.message))
            elif isinstance(effect, StartTimer):
                self.timers[replica_id].add(effect.name)
            elif isinstance(effect, CancelTimer):
                self.timers[replica_id].discard(effect.name)
            elif isinstance(effect, Persist):
                self.snapshots[replica_id] = effect.snapshot
            elif isinstance(effect, Deliver):
                self.delivered[replica_id].append(effect)
                state_root, receipts_root = fake_roots(effect.block.header.hash())
                self.step(replica_id, Executed(effect.seq, state_root, receipts_root))

    def submit(self, replica_id: int, txs: list[bytes]) -> None:
        self.step(replica_id, ClientRequests(tuple(txs)))

    def fire_timers(self) -> None:
        for replica_id, names in self.timers.items():
            for name in sorted(names):
                names.discard(name)
                self.step(replica_id, TimerFired(name))

    def run(self, steps_max: int = 100_000) -> int:
        """Deliver queued messages until none are left; returns how many were handed over."""
        handed = 0
        while self.queue:
            assert handed < steps_max, "message storm: no quiescence"
            to, sender, message = self.queue.popleft()
            if self.drop(to, sender, message):
                continue
            if isinstance(message, FetchBlocks):
                self.serve_fetch(to, sender, message)
            elif isinstance(message, Blocks):
                self.step(to, CertifiedBlocks(sender, message.entries))
            else:
                self.step(to, PeerMessage(sender, message))
            handed += 1
        return handed

    def serve_fetch(self, server: int, asker: int, message: FetchBlocks) -> None:
        entries = tuple((d.block, d.certificate) for d in self.delivered[server]
                        if message.first <= d.seq <= message.last)
        self.queue.append((asker, server, Blocks(entries)))

    def committed_blocks(self, replica_id: int) -> list[tuple[int, bytes]]:
        return [(d.seq, d.block.header.hash()) for d in self.delivered[replica_id]]
