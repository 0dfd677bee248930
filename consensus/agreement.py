"""Normal-case PBFT in the current view. The primary cuts a block from the
request pool and sends PRE-PREPARE; backups check the block and PREPARE; a
block with a quorum of PREPAREs (the primary's PRE-PREPARE counting as one)
is prepared and COMMITted; a quorum of matching COMMITs is a commit
certificate, and the block is delivered to the driver, or else the next
block that state transfer fetched with its certificate. A block's header
carries the roots of its parent's execution, so block h+1 is proposed once
block h is executed: one block is in flight, and it grows with the load.

It owns the chain tip, the block being delivered, the three-phase slots and
the prepared certificate for the next block. The view is the replica's and
comes with each call; it signs through `Votes`, reads the view floor and
holds early messages through the view-change state, reads the window from
the checkpoints and fetched blocks from catch-up, and writes its effects
(persisting before it sends a signed vote) and what it ignores to the
step's `Outbox`. It must not import the replica, and does no I/O.
"""

from __future__ import annotations

from consensus.catchup import CatchUp
from consensus.checkpoints import CheckpointTracker
from consensus.config import ChainTip, ReplicaConfig
from consensus.events import BATCH_TIMER, Broadcast, Deliver, Executed, StartTimer
from consensus.messages import Block, Commit, CommitCertificate, PreparedCertificate, PrePrepare, Prepare
from consensus.outbox import Outbox
from consensus.proposal import block_problem, next_block
from consensus.requests import RequestPool
from consensus.slots import Slots
from consensus.viewchange import PhaseMessage, ViewChangeState
from consensus.votes import Votes

class Agreement:
    def __init__(self, config: ReplicaConfig, tip: ChainTip, tip_certificate: CommitCertificate | None,
                 votes: Votes, requests: RequestPool, view_changes: ViewChangeState,
                 checkpoints: CheckpointTracker, catchup: CatchUp, out: Outbox) -> None:
        self._adopt(config)
        self.tip = tip
        self.tip_certificate = tip_certificate
        self.delivered = tip.height
        self.delivering: tuple[Block, CommitCertificate] | None = None
        self.slots = Slots()
        self.prepared_certificate: PreparedCertificate | None = None
        self.votes = votes
        self.requests = requests
        self.view_changes = view_changes
        self.checkpoints = checkpoints
        self.catchup = catchup
        self.out = out

    def _adopt(self, config: ReplicaConfig) -> None:
        """Take `config`, and the figures of its validator set every vote needs (read once, not per vote)."""
        self.config = config
        self.validators = config.validator_set
        self.quorum, self.prepares_needed = config.quorum, config.prepares_needed
        self.replica_id = config.replica_id

    def is_primary(self, view: int) -> bool:
        return self.replica_id >= 0 and self.validators.primary(view) == self.replica_id

    def resume(self, prepared: PreparedCertificate | None) -> None:
        """After a restart: the prepared certificate this replica held, if it is for the next block."""
        if prepared is not None and prepared.pre_prepare.seq == self.tip.height + 1:
            self.prepared_certificate = prepared

    def leave_view(self) -> None:
        """The view changes: what was proposed and voted in it lapses (the prepared certificate stays)."""
        self.slots.clear()

    def reconfigure(self, config: ReplicaConfig) -> None:
        """A new validator set votes from the next block: what this view agreed lapses."""
        self._adopt(config)
        self.slots.clear()
        self.prepared_certificate = None

    # ----------------------------------------------------------------- proposals

    def propose(self, view: int, active: bool, timer_fired: bool, now_ms: int) -> None:
        """As primary, propose the next block once it may and the batch is full or due."""
        seq = self.tip.height + 1
        if not (active and self.is_primary(view) and self.requests.pending and self.delivered == self.tip.height):
            return
        if seq <= self.view_changes.floor or seq > self.checkpoints.high or self.catchup.queue:
            return
        if self.slots.pre_prepare(seq) is not None:
            return
        full = len(self.requests.pending) >= self.config.batch_size_max
        if not (full or timer_fired or self.config.batch_delay_ms == 0):
            if BATCH_TIMER not in self.out.timers:
                self.out.add(StartTimer(BATCH_TIMER, self.config.batch_delay_ms))
            return
        self.out.cancel_timer(BATCH_TIMER)
        block = next_block(self.config, view, self.tip, self.requests.batch(self.config.batch_size_max), now_ms)
        pre_prepare = self.votes.pre_prepare(view, seq, block)
        self.out.persist()
        self.out.add(Broadcast(pre_prepare))
        self._accept(pre_prepare)
        self._check_prepared(view, seq)

    def take_reproposal(self, view: int, pre_prepare: PrePrepare) -> None:
        """As the new primary, take the re-proposal this replica signed into its NEW-VIEW."""
        if pre_prepare.seq == self.tip.height + 1 and self.delivered == self.tip.height:
            self._accept(pre_prepare)
            self._check_prepared(view, pre_prepare.seq)
        elif pre_prepare.seq > self.tip.height + 1:
            self.slots.defer(pre_prepare)

    # -------------------------------------------------------------- three phases

    def on_phase_message(self, sender: int, message: PhaseMessage, view: int, active: bool, now_ms: int) -> bool:
        """Take a PRE-PREPARE, PREPARE or COMMIT; True when the primary proposed
        two blocks for one sequence number (the replica must change view)."""
        if self.replica_id < 0:
            self.out.ignore("not a validator: observing only")
        elif message.replica != sender:
            self.out.ignore("message names another replica than its sender")
        elif message.view == view and not active:
            self.view_changes.hold_early(sender, message)
        elif message.view != view:
            self.out.ignore("wrong view")
        elif message.seq <= self.tip.height:
            self.out.ignore("stale sequence number")
        elif message.seq > self.checkpoints.top(self.tip.height):
            self.out.ignore("sequence number beyond the window")
        elif isinstance(message, PrePrepare):
            return self._on_pre_prepare(sender, message, view, now_ms)
        else:
            self._on_vote(sender, message, view)
        return False

    def _on_pre_prepare(self, sender: int, message: PrePrepare, view: int, now_ms: int) -> bool:
        if sender != self.validators.primary(view):
            self.out.ignore("pre-prepare not from the primary")
            return False
        accepted = self.slots.pre_prepare(message.seq)
        if accepted is not None:
            if accepted.digest == message.digest:
                self.out.ignore("duplicate pre-prepare")
                return False
            self.out.ignore("conflicting pre-prepare")
            return True
        if message.seq > self.tip.height + 1 or self.delivered != self.tip.height:
            self.slots.defer(message)
            return False
        new_view = self.view_changes.new_view
        reproposal = new_view is not None and new_view.pre_prepare == message
        problem = block_problem(message, self.config, self.tip, self.view_changes.floor, reproposal, now_ms)
        if problem is not None:
            self.out.ignore(f"bad block: {problem}")
            return False
        signed = self.votes.digest(Prepare.KIND, view, message.seq)
        if signed is not None and signed != message.digest:
            self.out.ignore("pre-prepare contradicts our own prepare")
            return False
        self._accept(message)
        if not self.is_primary(view):
            prepare = self.votes.prepare(view, message.seq, message.digest)
            self.slots.record(prepare)
            self.out.persist()
            self.out.add(Broadcast(prepare))
        self._check_prepared(view, message.seq)
        return False

    def _accept(self, pre_prepare: PrePrepare) -> None:
        """Take a proposal into its slot: its requests are in flight."""
        self.slots.accept(pre_prepare)
        self.requests.take(pre_prepare.block.txs)

    def _on_vote(self, sender: int, message: Prepare | Commit, view: int) -> None:
        if isinstance(message, Prepare) and sender == self.validators.primary(view):
            self.out.ignore("prepare from the primary")
            return
        problem = self.slots.vote_problem(message)
        if problem is not None:
            self.out.ignore(problem)
            return
        self.slots.record(message)
        if isinstance(message, Prepare):
            self._check_prepared(view, message.seq)
        elif self.slots.mark_committed(message.seq, self.quorum):
            self.deliver_ready(view)

    def _check_prepared(self, view: int, seq: int) -> None:
        certificate = self.slots.prepared_certificate(seq, self.prepares_needed)
        if certificate is None:
            return
        digest = certificate.pre_prepare.digest
        signed = self.votes.digest(Commit.KIND, view, seq)
        if signed is not None and signed != digest:
            self.out.ignore("prepared block contradicts our own commit")
            return
        self.prepared_certificate = certificate
        commit = self.votes.commit(view, seq, digest)
        self.slots.mark_prepared(commit)
        self.out.persist()
        self.out.add(Broadcast(commit))
        if self.slots.mark_committed(seq, self.quorum):
            self.deliver_ready(view)

    # ------------------------------------------------------ delivery, execution

    def deliver_ready(self, view: int) -> None:
        """Deliver the next block if it is committed here or was fetched with its certificate."""
        if self.delivered != self.tip.height:
            return
        entry = self.slots.committed_block(view, self.tip.height + 1, self.quorum)
        if entry is None:
            entry = self.catchup.pop_ready(self.tip.height)
            if entry is None:
                return
            header = entry[0].header
            if header.validator_set_hash != self.config.validator_set_hash:
                self.out.ignore("fetched block names another validator set than the one in force")
                self.catchup.drop_queue()
                return
            if (header.state_root, header.receipts_root) != (self.tip.state_root, self.tip.receipts_root):
                self.out.halt(f"block {header.height}, certified by a quorum, carries other roots for block "
                              f"{self.tip.height} than this replica's own execution of it")
                return
        block, certificate = entry
        self.delivered = block.header.height
        self.delivering = entry
        self.out.add(Deliver(block.header.height, block, certificate))

    def executed(self, event: Executed) -> Block:
        """The driver executed the block delivered last: it is the new tip."""
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
        return block

    def next_deferred(self) -> PrePrepare | None:
        """The PRE-PREPARE that came early for the block after the tip, now its turn."""
        return self.slots.take_deferred(self.tip.height + 1)

    def check_invariants(self) -> None:
        assert self.tip.height <= self.delivered <= self.tip.height + 1
        assert not self.slots.by_seq or min(self.slots.by_seq) > self.tip.height
        assert self.tip_certificate is None or self.tip_certificate.seq == self.tip.height
