"""A simulated validator: the real replica, a fake executor and its disk.

The disk holds the chain (with each block's roots and the validator sets it
put in force) and the consensus snapshot. A write is unsynced until the
node syncs, which it does after each step's writes and before any of the
step's messages leave (the order the replica's Persist effect asks for; a
block is applied in one synced batch). A crash between steps loses nothing;
a crash between a write and its sync (`arm_unsynced_crash`) loses every
unsynced write and every message of that step; a wipe loses the disk."""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from consensus.config import ChainTip, ReplicaConfig
from consensus.events import (
    Broadcast, CancelTimer, Deliver, Executed, Halt, Persist, Send, Start, StartTimer,
)
from consensus.replica import Replica
from consensus.validators import SETS_KEPT_MAX, ValidatorHistory, ValidatorSet
from crypto import hashing, merkle
from netsim.byzantine import expand
from netsim.clock import US_PER_MS

GENESIS_STATE_ROOT = hashing.digest("netsim-state", b"genesis")
GENESIS_TIME_MS = 0


@dataclass(frozen=True, slots=True)
class Synced:
    """How much of the disk is durable: the chain's length, the sets' and the snapshot."""

    height: int
    sets: int
    snapshot: object


class SimNode:
    """Node `replica_id` is its network address; its index in the validator
    set (its consensus replica id) can change with the set."""

    def __init__(self, sim, replica_id: int, config: ReplicaConfig, strategy_cls=None) -> None:
        self.sim = sim
        self.replica_id = replica_id
        self.n = len(sim.keys.public_keys)
        self.config = config
        self.signer = sim.keys.signer(replica_id)  # a twin's address holds its sibling's key (Twins)
        self.twinned = False  # this node's key is held by another node too: it counts as faulty
        self.skew_ms = 0  # added to the simulated time this node's replica reads
        self.unsynced_crash: tuple[int, int, str] | None = None  # armed: (until_us, down_us, "snapshot" or "block")
        self.chain: list = []
        self.roots: list[tuple[bytes, bytes]] = []
        self.sets: list[tuple[int, tuple[bytes, ...]]] = [(1, sim.initial_validators)]  # persisted with the chain
        self.snapshot = None
        self.synced = Synced(0, 1, None)
        self.up = True
        self.epoch = 0
        self.timer_generation: dict[str, int] = {}
        self.busy_until_us = 0
        self.inbox: deque = deque()  # (sender address, message) arrived while busy, taken in order
        self.committed: set[bytes] = set()  # what the simulator saw this honest node commit (its invariants)
        self.executed: set[bytes] = set()  # the requests in this node's chain: its state's nonce windows
        self._indexed: tuple[bytes, ...] | None = None  # the validator set `_index_by_address` was made for
        self._index_by_address: dict[int, int] = {}
        self.strategy = None if strategy_cls is None else strategy_cls(self, sim.streams(f"byzantine/{replica_id}"))
        self.replica = self._new_replica()

    @property
    def honest(self) -> bool:
        return self.strategy is None and not self.twinned

    def tip(self) -> ChainTip:
        if not self.chain:
            return ChainTip(0, self.config.chain_id, GENESIS_STATE_ROOT, merkle.EMPTY_ROOT, GENESIS_TIME_MS)
        block, certificate = self.chain[-1]
        state_root, receipts_root = self.roots[-1]
        return ChainTip(len(self.chain), certificate.digest, state_root, receipts_root, block.header.timestamp_ms)

    def _new_replica(self) -> Replica:
        """The replica, from what this node persisted: its chain, the validator
        sets it executed into force, its consensus snapshot."""
        certificate = self.chain[-1][1] if self.chain else None
        history = ValidatorHistory(tuple((first, ValidatorSet(self.config.chain_id, keys, self.config.mutation))
                                         for first, keys in self.sets[-SETS_KEPT_MAX:]))
        current = history.current
        config = dataclasses.replace(self.config, validators=current.keys,
                                     replica_id=current.index(self.signer.public_key))
        return Replica(config, self.signer, self.tip(), certificate, self.snapshot, history)

    def addresses_of(self, replica_index: int) -> tuple[int, ...]:
        return self.sim.addresses_of[self.replica.config.validators[replica_index]]

    def index_of(self, address: int) -> int:
        """The replica index of the node at `address` in this node's validator set, or -1."""
        validators = self.replica.config.validators
        if validators is not self._indexed:  # a new set (or a new replica): take its index
            self._indexed = validators
            self._index_by_address = self.sim.index_by_address(validators)
        return self._index_by_address.get(address, -1)

    def crash(self) -> None:
        self.up = False
        self.epoch += 1
        self.timer_generation = {}
        self.inbox.clear()

    def restart(self, wipe: bool) -> None:
        if wipe:
            self.chain, self.roots, self.snapshot, self.committed, self.executed = [], [], None, set(), set()
            self.sets = self.sets[:1]
            self.sync()
        self.up = True
        self.epoch += 1
        self.busy_until_us = self.sim.queue.now_us
        self.replica = self._new_replica()
        self.handle(Start())

    def admit(self, txs: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """The requests this node's admission lets through: as the node's
        nonce check does (node.runtime.admission), it refuses a request its
        state already executed, from a client or forwarded by a peer."""
        return tuple(tx for tx in txs if tx not in self.executed)

    def now_ms(self) -> int:
        """The time this node's replica reads: simulated time plus its clock's skew."""
        return max(0, self.sim.queue.now_us // US_PER_MS + self.skew_ms)

    def handle(self, event) -> None:
        effects = self.replica.step(event, self.now_ms())
        if effects:  # most messages (a STATUS, a vote short of a quorum) ask for nothing
            self.perform(effects)

    def sync(self) -> None:
        self.synced = Synced(len(self.chain), len(self.sets), self.snapshot)

    def arm_unsynced_crash(self, until_us: int, down_us: int, write: str) -> None:
        """Crash at the next write of kind `write` ("snapshot" or "block") up to `until_us`, before its sync."""
        self.unsynced_crash = (until_us, down_us, write)

    def _crashes_before_sync(self, write: str) -> bool:
        """Armed for this kind of write and in time: crash now, after the write and before its sync."""
        if self.unsynced_crash is None:
            return False
        until_us, down_us, armed_write = self.unsynced_crash
        if armed_write != write or self.sim.queue.now_us > until_us:
            return False
        self.unsynced_crash = None
        lost = self.chain[self.synced.height:]
        for block, _ in lost:
            self.executed.difference_update(block.txs)
        del self.chain[self.synced.height:], self.roots[self.synced.height:], self.sets[self.synced.sets:]
        self.snapshot = self.synced.snapshot
        self.sim.on_unsynced_crash(self, self.synced.height, lost, down_us)
        return True

    def perform(self, effects: list) -> None:
        queue = deque(effects)
        sends = []
        while queue:
            effect = queue.popleft()
            if isinstance(effect, (Send, Broadcast)):
                sends.append(effect)
            elif isinstance(effect, StartTimer):
                generation = self.timer_generation.get(effect.name, 0) + 1
                self.timer_generation[effect.name] = generation
                self.sim.schedule_timer(self, effect.name, generation, effect.delay_ms)
            elif isinstance(effect, CancelTimer):
                self.timer_generation[effect.name] = self.timer_generation.get(effect.name, 0) + 1
            elif isinstance(effect, Persist):
                self.snapshot = effect.snapshot
                if self._crashes_before_sync("snapshot"):
                    return
            elif isinstance(effect, Deliver):
                changed = self._apply(effect)
                if self._crashes_before_sync("block"):
                    return
                queue.extend(self.replica.step(Executed(effect.seq, *self.roots[-1], changed), self.now_ms()))
            elif isinstance(effect, Halt):
                self.sim.on_halt(self, effect.reason)
                return
        self.sync()
        pairs = expand(sends, self.n, self.replica_id, self.addresses_of)
        if self.strategy is not None:
            pairs = [out for to, message in pairs for out in self.strategy.outgoing(to, message)]
        for to, message in pairs:
            self.sim.send(self.replica_id, to, message)

    def _apply(self, effect: Deliver) -> tuple[bytes, ...] | None:
        """Execute the block with the fake executor and write it; returns the
        validator set it puts in force, if any."""
        parent_state = self.roots[-1][0] if self.roots else GENESIS_STATE_ROOT
        block_hash = effect.certificate.digest
        state_root = hashing.digest("netsim-state", parent_state + block_hash)
        receipts_root = hashing.digest("netsim-receipts", block_hash)
        self.chain.append((effect.block, effect.certificate))
        self.roots.append((state_root, receipts_root))
        self.sim.on_commit(self, effect.seq, block_hash, effect.block.txs)
        self.executed.update(effect.block.txs)
        changed = self.sim.validator_changes.get(effect.seq)  # what this fake executor decides
        if changed is not None:
            self.sets.append((effect.seq + 1, changed))
        return changed
