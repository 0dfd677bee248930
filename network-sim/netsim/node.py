"""A simulated validator: the real replica, a fake executor and what it has
persisted (its chain and consensus snapshot survive a crash; a wipe loses both)."""

from __future__ import annotations

import dataclasses
from collections import deque

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


class SimNode:
    """Node `replica_id` is its network address; its index in the validator
    set (its consensus replica id) can change with the set."""

    def __init__(self, sim, replica_id: int, config: ReplicaConfig, strategy_cls=None) -> None:
        self.sim = sim
        self.replica_id = replica_id
        self.n = len(sim.keys.public_keys)
        self.config = config
        self.signer = sim.keys.signer(replica_id)
        self.chain: list = []
        self.roots: list[tuple[bytes, bytes]] = []
        self.sets: list[tuple[int, tuple[bytes, ...]]] = [(1, sim.initial_validators)]  # persisted with the chain
        self.snapshot = None
        self.up = True
        self.epoch = 0
        self.timer_generation: dict[str, int] = {}
        self.busy_until_us = 0
        self.inbox: deque = deque()  # (sender address, message) arrived while busy, taken in order
        self.committed: set[bytes] = set()
        self._indexed: tuple[bytes, ...] | None = None  # the validator set `_index_by_address` was made for
        self._index_by_address: dict[int, int] = {}
        self.strategy = None if strategy_cls is None else strategy_cls(self, sim.streams(f"byzantine/{replica_id}"))
        self.replica = self._new_replica()

    @property
    def honest(self) -> bool:
        return self.strategy is None

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
        history = ValidatorHistory(tuple((first, ValidatorSet(self.config.chain_id, keys))
                                         for first, keys in self.sets[-SETS_KEPT_MAX:]))
        current = history.current
        config = dataclasses.replace(self.config, validators=current.keys,
                                     replica_id=current.index(self.signer.public_key))
        return Replica(config, self.signer, self.tip(), certificate, self.snapshot, history)

    def address_of(self, replica_index: int) -> int:
        return self.sim.address_of[self.replica.config.validators[replica_index]]

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
            self.chain, self.roots, self.snapshot, self.committed = [], [], None, set()
            self.sets = self.sets[:1]
        self.up = True
        self.epoch += 1
        self.busy_until_us = self.sim.queue.now_us
        self.replica = self._new_replica()
        self.handle(Start())

    def handle(self, event) -> None:
        effects = self.replica.step(event, self.sim.queue.now_us // US_PER_MS)
        if effects:  # most messages (a STATUS, a vote short of a quorum) ask for nothing
            self.perform(effects)

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
            elif isinstance(effect, Deliver):
                queue.extend(self._execute(effect))
            elif isinstance(effect, Halt):
                self.sim.on_halt(self, effect.reason)
                return
        pairs = expand(sends, self.n, self.replica_id, self.address_of)
        if self.strategy is not None:
            pairs = [out for to, message in pairs for out in self.strategy.outgoing(to, message)]
        for to, message in pairs:
            self.sim.send(self.replica_id, to, message)

    def _execute(self, effect: Deliver) -> list:
        parent_state = self.roots[-1][0] if self.roots else GENESIS_STATE_ROOT
        block_hash = effect.certificate.digest
        state_root = hashing.digest("netsim-state", parent_state + block_hash)
        receipts_root = hashing.digest("netsim-receipts", block_hash)
        self.chain.append((effect.block, effect.certificate))
        self.roots.append((state_root, receipts_root))
        self.sim.on_commit(self, effect.seq, block_hash, effect.block.txs)
        changed = self.sim.validator_changes.get(effect.seq)  # what this fake executor decides
        if changed is not None:
            self.sets.append((effect.seq + 1, changed))
        return self.replica.step(Executed(effect.seq, state_root, receipts_root, changed),
                                 self.sim.queue.now_us // US_PER_MS)
