"""The PBFT replica: `step(event, now_ms) -> effects`, nothing else.

Normal case only in this version: the primary batches requests into a block
and sends PRE-PREPARE; backups PREPARE; 2f+1 matching COMMITs make a commit
certificate and the block is delivered. A block's header carries the roots
of its parent's execution, so the primary proposes block h+1 once block h is
executed: one block is in flight, and it grows with the load (batching).

Each handler first decides whether to ignore the message (the reason is
counted in `ignored` and logged at debug level), then acts. Peer misbehaviour
is ignored, never asserted; asserts mark our own bugs.
"""

from __future__ import annotations

import hashlib
from itertools import islice
import logging
from collections import Counter
from dataclasses import dataclass, field

from consensus.config import ChainTip, ReplicaConfig
from consensus.events import (
    Broadcast, CancelTimer, ClientRequests, Deliver, Effect, Event, Executed,
    PeerMessage, Send, StartTimer, TimerFired,
)
from consensus.messages import (
    SIGNATURE_DOMAIN, Block, BlockHeader, Commit, CommitCertificate, Forward,
    Prepare, PrePrepare, tx_root, vote_bytes,
)

log = logging.getLogger("consort.consensus")

BATCH_TIMER = "batch"


def request_digest(tx: bytes) -> bytes:
    return hashlib.sha256(tx).digest()


@dataclass(slots=True)
class Slot:
    """What this replica knows about one sequence number in the current view."""

    pre_prepare: PrePrepare | None = None
    prepares: dict[int, Prepare] = field(default_factory=dict)
    commits: dict[int, Commit] = field(default_factory=dict)
    prepared: bool = False
    committed: bool = False

    def matching(self, votes: dict) -> list:
        digest = self.pre_prepare.digest if self.pre_prepare else None
        return [vote for vote in votes.values() if vote.digest == digest]


class Replica:
    def __init__(self, config: ReplicaConfig, signer, tip: ChainTip, view: int = 0) -> None:
        assert signer.public_key == config.validators[config.replica_id], "signer is not this replica"
        self.config = config
        self.signer = signer
        self.view = view
        self.tip = tip
        self.delivered = tip.height
        self.slots: dict[int, Slot] = {}
        self.pending: dict[bytes, bytes] = {}
        self.proposed: set[bytes] = set()
        self.recent: dict[bytes, None] = {}
        self.future: dict[int, PrePrepare] = {}
        self.batch_timer_running = False
        self.ignored: Counter[str] = Counter()
        self.last_ignored: str | None = None
        self._now_ms = 0
        self._effects: list[Effect] = []

    # ----------------------------------------------------------------- public

    @property
    def is_primary(self) -> bool:
        return self.config.primary(self.view) == self.config.replica_id

    def step(self, event: Event, now_ms: int) -> list[Effect]:
        self._now_ms = now_ms
        self._effects = []
        if isinstance(event, PeerMessage):
            self._on_peer_message(event.sender, event.message)
        elif isinstance(event, ClientRequests):
            self._on_client_requests(event.txs)
        elif isinstance(event, TimerFired):
            self._on_timer(event.name)
        elif isinstance(event, Executed):
            self._on_executed(event)
        else:
            raise TypeError(f"unknown event {event!r}")
        self._check_invariants()
        effects, self._effects = self._effects, []
        return effects

    # --------------------------------------------------------------- requests

    def _on_client_requests(self, txs: tuple[bytes, ...]) -> None:
        if not txs:
            return
        if not self.is_primary:
            self._effects.append(Send(self.config.primary(self.view), Forward(txs)))
            return
        self._enqueue(txs)

    def _enqueue(self, txs: tuple[bytes, ...]) -> None:
        for tx in txs:
            if len(self.pending) >= self.config.pending_max:
                self._ignore("pending queue full")
                break
            digest = request_digest(tx)
            if digest in self.pending or digest in self.proposed or digest in self.recent:
                self._ignore("duplicate request")
                continue
            self.pending[digest] = tx
        self._maybe_propose(timer_fired=False)

    def _on_timer(self, name: str) -> None:
        if name != BATCH_TIMER:
            self._ignore(f"unknown timer {name}")
            return
        self.batch_timer_running = False
        self._maybe_propose(timer_fired=True)

    def _maybe_propose(self, timer_fired: bool) -> None:
        seq = self.tip.height + 1
        if not self.is_primary or not self.pending or self.delivered != self.tip.height:
            return
        slot = self.slots.get(seq)
        if slot is not None and slot.pre_prepare is not None:
            return
        full = len(self.pending) >= self.config.batch_size_max
        if not (full or timer_fired or self.config.batch_delay_ms == 0):
            if not self.batch_timer_running:
                self.batch_timer_running = True
                self._effects.append(StartTimer(BATCH_TIMER, self.config.batch_delay_ms))
            return
        if self.batch_timer_running:
            self.batch_timer_running = False
            self._effects.append(CancelTimer(BATCH_TIMER))
        self._propose(seq)

    def _propose(self, seq: int) -> None:
        batch: list[bytes] = []
        for digest in list(islice(self.pending, self.config.batch_size_max)):
            batch.append(self.pending.pop(digest))
            self.proposed.add(digest)
        txs = tuple(batch)
        header = BlockHeader(
            chain_id=self.config.chain_id, height=seq, view=self.view,
            proposer=self.config.replica_id, prev_hash=self.tip.block_hash,
            timestamp_ms=max(self._now_ms, self.tip.timestamp_ms), tx_root=tx_root(txs),
            tx_count=len(txs), state_root=self.tip.state_root,
            receipts_root=self.tip.receipts_root, validator_set_hash=self.config.validator_set_hash,
        )
        digest = header.hash()
        signature = self._sign(PrePrepare.KIND, seq, digest)
        pre_prepare = PrePrepare(self.view, seq, digest, self.config.replica_id, signature,
                                 Block(header, txs))
        self._slot(seq).pre_prepare = pre_prepare
        self._effects.append(Broadcast(pre_prepare))
        self._check_prepared(seq)

    # ------------------------------------------------------------ three phases

    def _on_peer_message(self, sender: int, message) -> None:
        if not 0 <= sender < self.config.n or sender == self.config.replica_id:
            self._ignore("sender is not another validator")
            return
        if isinstance(message, Forward):
            if not self.is_primary:
                self._ignore("forward to a backup")
                return
            self._enqueue(message.txs)
            return
        if message.replica != sender:
            self._ignore("message names another replica than its sender")
            return
        if message.view != self.view:
            self._ignore("wrong view")
            return
        if message.seq <= self.tip.height:
            self._ignore("stale sequence number")
            return
        if message.seq > self.tip.height + self.config.window:
            self._ignore("sequence number beyond the window")
            return
        if isinstance(message, PrePrepare):
            self._on_pre_prepare(sender, message)
        elif isinstance(message, Prepare):
            self._on_prepare(sender, message)
        elif isinstance(message, Commit):
            self._on_commit(sender, message)
        else:
            raise TypeError(f"unknown message {message!r}")

    def _on_pre_prepare(self, sender: int, message: PrePrepare) -> None:
        if sender != self.config.primary(self.view):
            self._ignore("pre-prepare not from the primary")
            return
        slot = self._slot(message.seq)
        if slot.pre_prepare is not None:
            same = slot.pre_prepare.digest == message.digest
            self._ignore("duplicate pre-prepare" if same else "conflicting pre-prepare")
            return
        if message.seq > self.tip.height + 1 or self.delivered != self.tip.height:
            self.future.setdefault(message.seq, message)
            return
        problem = self._block_problem(message)
        if problem is not None:
            self._ignore(f"bad block: {problem}")
            return
        slot.pre_prepare = message
        signature = self._sign(Prepare.KIND, message.seq, message.digest)
        prepare = Prepare(self.view, message.seq, message.digest, self.config.replica_id, signature)
        slot.prepares[self.config.replica_id] = prepare
        self._effects.append(Broadcast(prepare))
        self._check_prepared(message.seq)

    def _block_problem(self, message: PrePrepare) -> str | None:
        """Why the proposed block cannot extend our tip, or None."""
        header, txs = message.block.header, message.block.txs
        if header.hash() != message.digest:
            return "digest mismatch"
        expected = (
            (header.chain_id, self.config.chain_id, "chain id"),
            (header.height, message.seq, "height"),
            (header.view, message.view, "view"),
            (header.proposer, message.replica, "proposer"),
            (header.prev_hash, self.tip.block_hash, "previous hash"),
            (header.state_root, self.tip.state_root, "state root"),
            (header.receipts_root, self.tip.receipts_root, "receipts root"),
            (header.validator_set_hash, self.config.validator_set_hash, "validator set"),
            (header.tx_count, len(txs), "transaction count"),
        )
        for got, want, what in expected:
            if got != want:
                return f"{what} mismatch"
        if header.timestamp_ms < self.tip.timestamp_ms:
            return "timestamp before parent"
        if not 0 < len(txs) <= self.config.batch_size_max:
            return "transaction count outside 1..batch_size_max"
        if len({request_digest(tx) for tx in txs}) != len(txs):
            return "duplicate transaction in block"
        if header.tx_root != tx_root(txs):
            return "transaction root mismatch"
        return None

    def _on_prepare(self, sender: int, message: Prepare) -> None:
        if sender == self.config.primary(self.view):
            self._ignore("prepare from the primary")
            return
        slot = self._slot(message.seq)
        if sender in slot.prepares:
            self._ignore("duplicate prepare")
            return
        if slot.pre_prepare is not None and slot.pre_prepare.digest != message.digest:
            self._ignore("digest mismatch")
            return
        slot.prepares[sender] = message
        self._check_prepared(message.seq)

    def _check_prepared(self, seq: int) -> None:
        slot = self.slots[seq]
        if slot.prepared or slot.pre_prepare is None:
            return
        if len(slot.matching(slot.prepares)) < 2 * self.config.f:
            return
        slot.prepared = True
        digest = slot.pre_prepare.digest
        commit = Commit(self.view, seq, digest, self.config.replica_id,
                        self._sign(Commit.KIND, seq, digest))
        slot.commits[self.config.replica_id] = commit
        self._effects.append(Broadcast(commit))
        self._check_committed(seq)

    def _on_commit(self, sender: int, message: Commit) -> None:
        slot = self._slot(message.seq)
        if sender in slot.commits:
            self._ignore("duplicate commit")
            return
        if slot.pre_prepare is not None and slot.pre_prepare.digest != message.digest:
            self._ignore("digest mismatch")
            return
        slot.commits[sender] = message
        self._check_committed(message.seq)

    def _check_committed(self, seq: int) -> None:
        slot = self.slots[seq]
        if slot.committed or not slot.prepared:
            return
        if len(slot.matching(slot.commits)) < self.config.quorum:
            return
        slot.committed = True
        self._deliver_ready()

    # ------------------------------------------------------ delivery, execution

    def _deliver_ready(self) -> None:
        seq = self.delivered + 1
        slot = self.slots.get(seq)
        if seq != self.tip.height + 1 or slot is None or not slot.committed:
            return
        commits = sorted(slot.matching(slot.commits), key=lambda c: c.replica)[: self.config.quorum]
        certificate = CommitCertificate(
            self.view, seq, slot.pre_prepare.digest,
            tuple((c.replica, c.signature) for c in commits),
        )
        self.delivered = seq
        self._effects.append(Deliver(seq, slot.pre_prepare.block, certificate))

    def _on_executed(self, event: Executed) -> None:
        assert event.seq == self.delivered == self.tip.height + 1, "executed out of order"
        slot = self.slots.pop(event.seq)
        block = slot.pre_prepare.block
        for tx in block.txs:
            digest = request_digest(tx)
            self.proposed.discard(digest)
            self.pending.pop(digest, None)
            self._remember(digest)
        self.tip = ChainTip(event.seq, slot.pre_prepare.digest, event.state_root,
                            event.receipts_root, block.header.timestamp_ms)
        waiting = self.future.pop(event.seq + 1, None)
        self.future = {s: m for s, m in self.future.items() if s > event.seq + 1}
        if waiting is not None:
            self._on_peer_message(waiting.replica, waiting)
        self._maybe_propose(timer_fired=True)

    def _remember(self, digest: bytes) -> None:
        self.recent[digest] = None
        if len(self.recent) > self.config.recent_requests_max:
            del self.recent[next(iter(self.recent))]

    # ---------------------------------------------------------------- helpers

    def _slot(self, seq: int) -> Slot:
        slot = self.slots.get(seq)
        if slot is None:
            slot = self.slots[seq] = Slot()
        return slot

    def _sign(self, kind: str, seq: int, digest: bytes) -> bytes:
        return self.signer.sign(SIGNATURE_DOMAIN, vote_bytes(kind, self.view, seq, digest))

    def _ignore(self, reason: str) -> None:
        self.ignored[reason] += 1
        self.last_ignored = reason
        log.debug("replica %d ignores: %s", self.config.replica_id, reason)

    def _check_invariants(self) -> None:
        assert self.tip.height <= self.delivered <= self.tip.height + 1
        assert all(seq > self.tip.height for seq in self.slots)
        assert len(self.pending) <= self.config.pending_max
        assert self.is_primary or not self.pending
