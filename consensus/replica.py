"""The PBFT replica: `step(event, now_ms) -> effects`, nothing else.

Normal case: every replica keeps the requests it hears (clients' own, and
those other replicas forward); the primary batches them into a block and
sends PRE-PREPARE; backups PREPARE; 2f+1 matching COMMITs make a commit
certificate and the block is delivered. A block's header carries the roots
of its parent's execution, so the primary proposes block h+1 once block h is
executed: one block is in flight, and it grows with the load.

Around it: checkpoints every K blocks (stable at 2f+1, they move the
watermarks), view change when a backup's request timer or an equivocating
primary says so (joined by others only on f+1 VIEW-CHANGEs), state transfer
of certified blocks for a replica that fell behind, and a snapshot persisted
before any signed message leaves. See `viewchange` for the safety argument.

Each handler first decides whether to ignore the message (the reason is
counted in `ignored`), then acts. Peer misbehaviour is ignored, never
asserted; asserts mark our own bugs.
"""

from __future__ import annotations

import logging
from collections import Counter

from consensus.catchup import CatchUp
from consensus.checkpoints import CheckpointTracker
from consensus.config import ChainTip, ReplicaConfig
from consensus.events import (
    Broadcast, CancelTimer, CertifiedBlocks, ClientRequests, Deliver, Effect, Event, Executed, Persist,
    PeerMessage, Send, Start, StartTimer, TimerFired,
)
from consensus.messages import (
    Block, Blocks, Checkpoint, CheckpointCertificate, Commit, CommitCertificate, FetchBlocks, Forward, NewView,
    Prepare, PreparedCertificate, PrePrepare, Status, ViewChange,
)
from consensus.proposal import block_problem, next_block
from consensus.requests import RequestPool
from consensus.slots import Slots
from consensus.snapshot import ReplicaSnapshot
from consensus.replica_views import (
    BATCH_TIMER, FETCH_TIMER, REQUEST_TIMER, STATUS_TIMER, VIEW_CHANGE_TIMER, ViewChanging,
)
from consensus.viewchange import ViewChangeStore
from consensus.votes import Votes

log = logging.getLogger("consort.consensus")

EARLY_MESSAGES_MAX = 64


class Replica(ViewChanging):
    def __init__(self, config: ReplicaConfig, signer, tip: ChainTip,
                 tip_certificate: CommitCertificate | None = None,
                 snapshot: ReplicaSnapshot | None = None) -> None:
        assert config.validator_key(config.replica_id) == signer.public_key or (
            config.replica_id == -1 and signer.public_key not in config.validators), "signer is not this replica"
        assert (tip.height == 0) == (tip_certificate is None), "a tip above genesis needs its certificate"
        self.config = config
        self.signer = signer
        self.view = 0
        self.active = True
        self.tip = tip
        self.tip_certificate = tip_certificate
        self.delivered = tip.height
        self.delivering: tuple[Block, CommitCertificate] | None = None
        self.slots = Slots()
        self.requests = RequestPool(config.pending_max, config.recent_requests_max)
        self.early: list[tuple[int, object]] = []
        self.votes = Votes(signer, config.replica_id)
        self.prepared_certificate: PreparedCertificate | None = None
        self.checkpoints = CheckpointTracker(config.checkpoint_interval, config.window, config.quorum)
        self.view_changes = ViewChangeStore()
        self.own_view_change: ViewChange | None = None
        self.new_view_message: NewView | None = None
        self.view_floor = 0
        self.view_change_attempts = 0
        self.catchup = CatchUp(config.n, config.f, config.replica_id)
        self.timers: set[str] = set()
        self.ignored: Counter[str] = Counter()
        self.last_ignored: str | None = None
        self._now_ms = 0
        self._effects: list[Effect] = []
        if snapshot is not None:
            self._restore(snapshot)

    # ----------------------------------------------------------------- public

    @property
    def is_primary(self) -> bool:
        return self.config.is_validator and self.config.primary(self.view) == self.config.replica_id

    def step(self, event: Event, now_ms: int) -> list[Effect]:
        self._now_ms = now_ms
        self._effects = []
        if isinstance(event, PeerMessage):
            self._on_peer_message(event.sender, event.message)
        elif isinstance(event, ClientRequests):
            self._on_requests(event.txs, share=True)
        elif isinstance(event, TimerFired):
            self._on_timer(event.name)
        elif isinstance(event, Executed):
            self._on_executed(event)
        elif isinstance(event, CertifiedBlocks):
            self._on_certified_blocks(event)
        elif isinstance(event, Start):
            self._on_start()
        else:
            raise TypeError(f"unknown event {event!r}")
        self._check_invariants()
        effects, self._effects = self._effects, []
        return effects

    def snapshot(self) -> ReplicaSnapshot:
        return ReplicaSnapshot(self.view, self.active, self.votes.entries(), self.prepared_certificate,
                               self.own_view_change, self.checkpoints.stable)

    # --------------------------------------------------------------- lifecycle

    def _restore(self, snapshot: ReplicaSnapshot) -> None:
        self.view, self.active = snapshot.view, snapshot.active
        self.votes.restore(snapshot.votes, above=self.tip.height)
        prepared = snapshot.prepared
        if prepared is not None and prepared.pre_prepare.seq == self.tip.height + 1:
            self.prepared_certificate = prepared
        if not self.active and snapshot.view_change is not None and snapshot.view_change.view == self.view:
            self.own_view_change = snapshot.view_change
            self.view_changes.add(snapshot.view_change)
        elif not self.active:
            self.active = True  # no view change to resume: wait for the others' NEW-VIEW or a timer
        if snapshot.checkpoint is not None:
            self.checkpoints.adopt(snapshot.checkpoint)

    def _on_start(self) -> None:
        self._effects.append(Broadcast(Status(self.view, self.tip.height)))
        self._start_timer(STATUS_TIMER, self.config.status_interval_ms)
        if not self.active and self.own_view_change is not None:
            self._effects.append(Broadcast(self.own_view_change))
            self._start_timer(VIEW_CHANGE_TIMER, self._view_change_timeout_ms())

    def _on_timer(self, name: str) -> None:
        self.timers.discard(name)
        if name == BATCH_TIMER:
            self._maybe_propose(timer_fired=True)
        elif name == REQUEST_TIMER:
            if self.active and not self.is_primary and self.requests.waiting:
                self._start_view_change(self.view + 1, "request timer expired")
        elif name == VIEW_CHANGE_TIMER:
            if not self.active:
                self.view_change_attempts += 1
                self._start_view_change(self.view + 1, "no new-view in time")
        elif name == STATUS_TIMER:
            self._effects.append(Broadcast(Status(self.view, self.tip.height)))
            self._start_timer(STATUS_TIMER, self.config.status_interval_ms)
            stalled = self.catchup.height_at_last_tick == self.tip.height
            self.catchup.height_at_last_tick = self.tip.height
            self._maybe_fetch(stalled)
        elif name == FETCH_TIMER:
            self.catchup.fetching = None
            self._maybe_fetch(stalled=True)
        else:
            self._ignore(f"unknown timer {name}")

    # --------------------------------------------------------------- requests

    def _on_requests(self, txs: tuple[bytes, ...], share: bool) -> None:
        """Client requests (`share`: pass them to the other validators) or a peer's FORWARD."""
        admission = self.requests.add(txs)
        if admission.duplicates:
            self._ignore("duplicate request", admission.duplicates)
        if admission.full:
            self._ignore("pending queue full")
        if share and admission.fresh and self.config.n > 1:
            self._effects.append(Broadcast(Forward(admission.fresh)))
        if self.is_primary:
            self._maybe_propose(timer_fired=False)
        else:
            self._arm_request_timer(restart=False)

    def _arm_request_timer(self, restart: bool) -> None:
        waiting = (self.active and self.config.is_validator and not self.is_primary
                   and self.requests.waiting)
        if waiting and (restart or REQUEST_TIMER not in self.timers):
            self._start_timer(REQUEST_TIMER, self.config.request_timeout_ms)
        elif not waiting and REQUEST_TIMER in self.timers:
            self._cancel_timer(REQUEST_TIMER)

    def _maybe_propose(self, timer_fired: bool) -> None:
        seq = self.tip.height + 1
        if not (self.active and self.is_primary and self.requests.pending and self.delivered == self.tip.height):
            return
        if seq <= self.view_floor or seq > self.checkpoints.high or self.catchup.queue:
            return
        if self.slots.pre_prepare(seq) is not None:
            return
        full = len(self.requests.pending) >= self.config.batch_size_max
        if not (full or timer_fired or self.config.batch_delay_ms == 0):
            if BATCH_TIMER not in self.timers:
                self._start_timer(BATCH_TIMER, self.config.batch_delay_ms)
            return
        self._cancel_timer(BATCH_TIMER)
        self._propose(seq)

    def _propose(self, seq: int) -> None:
        block = next_block(self.config, self.view, self.tip, self.requests.batch(self.config.batch_size_max),
                           self._now_ms)
        pre_prepare = self.votes.pre_prepare(self.view, seq, block)
        self._persist()
        self._effects.append(Broadcast(pre_prepare))
        self._accept_pre_prepare(pre_prepare)
        self._check_prepared(seq)

    # ------------------------------------------------------------ three phases

    def _on_peer_message(self, sender: int, message) -> None:
        if not 0 <= sender < self.config.n or sender == self.config.replica_id:
            self._ignore("sender is not another validator")
            return
        if isinstance(message, Forward):
            self._on_requests(message.txs, share=False)
        elif isinstance(message, Status):
            self._on_status(sender, message)
        elif isinstance(message, (PrePrepare, Prepare, Commit)):
            self._on_phase_message(sender, message)
        elif isinstance(message, Checkpoint):
            self._on_checkpoint(sender, message)
        elif isinstance(message, ViewChange):
            self._on_view_change(sender, message)
        elif isinstance(message, NewView):
            self._on_new_view(sender, message)
        elif isinstance(message, (FetchBlocks, Blocks)):
            self._ignore("state transfer messages are the driver's")
        else:
            raise TypeError(f"unknown message {message!r}")

    def _on_phase_message(self, sender: int, message) -> None:
        if not self.config.is_validator:
            self._ignore("not a validator: observing only")
            return
        if message.replica != sender:
            self._ignore("message names another replica than its sender")
            return
        if message.view == self.view and not self.active:
            if len(self.early) < EARLY_MESSAGES_MAX:
                self.early.append((sender, message))
            return
        if message.view != self.view:
            self._ignore("wrong view")
            return
        if message.seq <= self.tip.height:
            self._ignore("stale sequence number")
            return
        if message.seq > self.checkpoints.high:
            self._ignore("sequence number beyond the window")
            return
        if isinstance(message, PrePrepare):
            self._on_pre_prepare(sender, message)
        elif isinstance(message, Prepare):
            self._on_prepare(sender, message)
        else:
            self._on_commit(sender, message)

    def _on_pre_prepare(self, sender: int, message: PrePrepare) -> None:
        if sender != self.config.primary(self.view):
            self._ignore("pre-prepare not from the primary")
            return
        accepted = self.slots.pre_prepare(message.seq)
        if accepted is not None:
            if accepted.digest == message.digest:
                self._ignore("duplicate pre-prepare")
            else:
                self._ignore("conflicting pre-prepare")
                self._start_view_change(self.view + 1, "primary sent conflicting pre-prepares")
            return
        if message.seq > self.tip.height + 1 or self.delivered != self.tip.height:
            self.slots.defer(message)
            return
        new_view = self.new_view_message
        reproposal = new_view is not None and new_view.pre_prepare == message
        problem = block_problem(message, self.config, self.tip, self.view_floor, reproposal)
        if problem is not None:
            self._ignore(f"bad block: {problem}")
            return
        signed = self.votes.digest(Prepare.KIND, self.view, message.seq)
        if signed is not None and signed != message.digest:
            self._ignore("pre-prepare contradicts our own prepare")
            return
        self._accept_pre_prepare(message)
        if not self.is_primary:
            prepare = self.votes.prepare(self.view, message.seq, message.digest)
            self.slots.record(prepare)
            self._persist()
            self._effects.append(Broadcast(prepare))
        self._check_prepared(message.seq)

    def _accept_pre_prepare(self, message: PrePrepare) -> None:
        self.slots.accept(message)
        self.requests.take(message.block.txs)

    def _on_prepare(self, sender: int, message: Prepare) -> None:
        if sender == self.config.primary(self.view):
            self._ignore("prepare from the primary")
            return
        problem = self.slots.vote_problem(message)
        if problem is not None:
            self._ignore(problem)
            return
        self.slots.record(message)
        self._check_prepared(message.seq)

    def _check_prepared(self, seq: int) -> None:
        certificate = self.slots.prepared_certificate(seq, self.config.prepares_needed)
        if certificate is None:
            return
        digest = certificate.pre_prepare.digest
        signed = self.votes.digest(Commit.KIND, self.view, seq)
        if signed is not None and signed != digest:
            self._ignore("prepared block contradicts our own commit")
            return
        self.prepared_certificate = certificate
        commit = self.votes.commit(self.view, seq, digest)
        self.slots.mark_prepared(commit)
        self._persist()
        self._effects.append(Broadcast(commit))
        self._check_committed(seq)

    def _on_commit(self, sender: int, message: Commit) -> None:
        problem = self.slots.vote_problem(message)
        if problem is not None:
            self._ignore(problem)
            return
        self.slots.record(message)
        self._check_committed(message.seq)

    def _check_committed(self, seq: int) -> None:
        if self.slots.mark_committed(seq, self.config.quorum):
            self._deliver_ready()

    # ------------------------------------------------------ delivery, execution

    def _deliver_ready(self) -> None:
        if self.delivered != self.tip.height:
            return
        committed = self.slots.committed_block(self.view, self.tip.height + 1, self.config.quorum)
        if committed is not None:
            self._deliver(*committed)
            return
        entry = self.catchup.pop_ready(self.tip.height)
        if entry is None:
            return
        block, certificate = entry
        header = block.header
        if (header.state_root, header.receipts_root) != (self.tip.state_root, self.tip.receipts_root):
            self._ignore("certified block disagrees with our execution of its parent")
            log.error("replica %d: certified block %d does not extend our executed state",
                      self.config.replica_id, header.height)
            self.catchup.queue.clear()
            return
        self._deliver(block, certificate)

    def _deliver(self, block: Block, certificate: CommitCertificate) -> None:
        self.delivered = block.header.height
        self.delivering = (block, certificate)
        self._effects.append(Deliver(block.header.height, block, certificate))

    def _on_executed(self, event: Executed) -> None:
        assert event.seq == self.delivered == self.tip.height + 1, "executed out of order"
        block, certificate = self.delivering
        self.delivering = None
        self.tip = ChainTip(event.seq, certificate.digest, event.state_root, event.receipts_root,
                            block.header.timestamp_ms)
        self.tip_certificate = certificate
        self.slots.prune(event.seq)
        self.requests.committed(block.txs)
        if self.prepared_certificate is not None and self.prepared_certificate.pre_prepare.seq <= event.seq:
            self.prepared_certificate = None
        self.votes.prune(event.seq)
        self.view_change_attempts = 0
        if self.checkpoints.is_checkpoint(event.seq):
            self._checkpoint(event.seq)
        if event.validators is not None and tuple(event.validators) != self.config.validators:
            self._reconfigure(tuple(event.validators))
        waiting = self.slots.take_deferred(event.seq + 1)
        if waiting is not None and self.active:
            self._on_phase_message(waiting.replica, waiting)
        self._arm_request_timer(restart=True)
        self._deliver_ready()
        self._maybe_propose(timer_fired=True)

    # ------------------------------------------------------------ checkpoints

    def _checkpoint(self, seq: int) -> None:
        if not self.config.is_validator:
            return
        vote = self.votes.checkpoint(seq, self.tip.block_hash, self.tip.state_root)
        self._effects.append(Broadcast(vote))
        self._on_checkpoint_vote(vote)

    def _on_checkpoint(self, sender: int, message: Checkpoint) -> None:
        if message.replica != sender:
            self._ignore("message names another replica than its sender")
            return
        self._on_checkpoint_vote(message)

    def _on_checkpoint_vote(self, vote: Checkpoint) -> None:
        stable = self.checkpoints.add(vote)
        if stable is not None:
            self._on_stable_checkpoint(stable)

    def _on_stable_checkpoint(self, stable: CheckpointCertificate) -> None:
        if stable.seq > self.tip.height:
            self.catchup.certified_target = max(self.catchup.certified_target, stable.seq)
            self._maybe_fetch(stalled=True)
        self._maybe_propose(timer_fired=True)

    # --------------------------------------------------------- state transfer

    def _on_status(self, sender: int, status: Status) -> None:
        self.catchup.statuses[sender] = (status.view, status.height)
        if status.view < self.view and self.active and self.new_view_message is not None:
            self._effects.append(Send(sender, self.new_view_message))

    def _maybe_fetch(self, stalled: bool) -> None:
        request = self.catchup.next_fetch(self.tip.height, stalled)
        if request is not None:
            peer, message = request
            self._effects.append(Send(peer, message))
            self._start_timer(FETCH_TIMER, self.config.fetch_timeout_ms)

    def _on_certified_blocks(self, event: CertifiedBlocks) -> None:
        taken = self.catchup.accept(event.sender, event.entries, self.tip.height, self.tip.block_hash)
        if self.catchup.fetching is None:
            self._cancel_timer(FETCH_TIMER)
        if not taken:
            self._ignore("fetched blocks do not extend our chain")
        self._deliver_ready()
        self._maybe_fetch(stalled=True)

    # ---------------------------------------------------------------- helpers

    def _persist(self) -> None:
        self._effects.append(Persist(self.snapshot()))

    def _start_timer(self, name: str, delay_ms: int) -> None:
        self.timers.add(name)
        self._effects.append(StartTimer(name, delay_ms))

    def _cancel_timer(self, name: str) -> None:
        if name in self.timers:
            self.timers.discard(name)
            self._effects.append(CancelTimer(name))

    def _ignore(self, reason: str, count: int = 1) -> None:
        self.ignored[reason] += count
        self.last_ignored = reason
        log.debug("replica %d ignores: %s", self.config.replica_id, reason)

    def _check_invariants(self) -> None:
        assert self.tip.height <= self.delivered <= self.tip.height + 1
        assert all(seq > self.tip.height for seq in self.slots.by_seq)
        assert len(self.requests.pending) <= self.config.pending_max
        assert self.active or self.own_view_change is not None
        assert self.tip_certificate is None or self.tip_certificate.seq == self.tip.height
