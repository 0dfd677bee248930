"""The PBFT replica: `step(event, now_ms) -> effects`, nothing else.

The one object drivers call. It keeps the view, routes each event to the
part that owns what it concerns, and leads the transitions that touch
several parts: view change and new view, execution of a block, and a
validator-set change decided by governance (it arrives with `Executed` for
the block that activates it; a replica whose key left the set becomes an
observer that follows the chain and signs nothing).

Parts, each owning its state: `agreement.Agreement` (the normal case in the
current view, the chain tip and delivery), `requests.RequestPool`,
`votes.Votes` (what the replica signs), `viewchange.ViewChangeState`,
`checkpoints.CheckpointTracker` (every K blocks; stable at a quorum, they
move the watermarks), `catchup.CatchUp` (state transfer of certified blocks
for a replica that fell behind), `heartbeat.Heartbeat` (when STATUS goes
out: on a change, less and less often while idle, and to a peer that is
behind), and `outbox.Outbox`, which collects a step's effects and
persists the snapshot before any signed message leaves.
See `viewchange` for the safety argument.

One block in flight. A block's header carries the state and receipts
roots its parent's execution produced, so the primary proposes block h+1
only once h is committed and executed (`Executed`), and a replica whose
execution disagrees with a certified root finds out before it votes on
anything built on it, and stops. It costs little: requests that arrive
while h executes wait in the pool and go into h+1, so blocks grow with the
load (about 265 transactions at 3,870 tx/s on the 4-node bench), and on
the bench's two cores the nodes already keep both cores busy, so a second
block in flight would add no throughput there. Where it would (more cores
than the executor can use), the smallest safe change is that header h
carries the roots of block h-2: h+1 could be proposed once h commits, its
agreement overlapping h's execution, with the view change unchanged
(still one block agreed at a time) and state proofs, the auditor and the
export reading a block's roots two heights on.

Each handler first decides whether to ignore the message (the reason is
counted in `ignored`), then acts. Peer misbehaviour is ignored, never
asserted; asserts mark our own bugs. Like all of consensus/, this module
must not import asyncio, sockets, plyvel, a clock, a random source, `os`,
contracts or node.
"""

from __future__ import annotations

import dataclasses
import logging

from consensus.agreement import Agreement
from consensus.catchup import CatchUp
from consensus.checkpoints import CheckpointTracker
from consensus.config import ChainTip, ReplicaConfig
from consensus.events import (
    BATCH_TIMER, FETCH_TIMER, REQUEST_TIMER, STATUS_TIMER, VIEW_CHANGE_TIMER, Broadcast, CertifiedBlocks,
    ClientRequests, Effect, Event, Executed, PeerMessage, Start, StartTimer, TimerFired,
)
from consensus.heartbeat import Heartbeat
from consensus.messages import (
    Blocks, Checkpoint, Commit, CommitCertificate, FetchBlocks, Forward, NewView, Prepare, PreparedCertificate,
    PrePrepare, Status, ViewChange,
)
from consensus.mutations import FORGET_PREPARED
from consensus.outbox import Outbox
from consensus.requests import RequestPool
from consensus.snapshot import ReplicaSnapshot
from consensus.validators import ValidatorHistory
from consensus.viewchange import PhaseMessage, ViewChangeState, new_view_problem, plan_new_view
from consensus.votes import Votes

log = logging.getLogger("consort.consensus")


class Replica:
    def __init__(self, config: ReplicaConfig, signer, tip: ChainTip,
                 tip_certificate: CommitCertificate | None = None,
                 snapshot: ReplicaSnapshot | None = None, history: ValidatorHistory | None = None) -> None:
        """`history`: the sets that ordered the recent heights, the one in force
        last (by default only the configured set, from the block after the tip)."""
        assert config.validator_key(config.replica_id) == signer.public_key or (
            config.replica_id == -1 and signer.public_key not in config.validators), "signer is not this replica"
        assert (tip.height == 0) == (tip_certificate is None), "a tip above genesis needs its certificate"
        self.history = history or ValidatorHistory.of(config.validator_set, tip.height + 1)
        assert self.history.current == config.validator_set, "the history ends in the configured set"
        self.config = config
        self.signer = signer
        self.view = 0
        self.active = True
        self.out = Outbox(self.snapshot)
        self.ignored = self.out.ignored
        self.requests = RequestPool(config.pending_max, config.recent_requests_max)
        self.votes = Votes(signer, config.replica_id, config.signing_context)
        self.view_changes = ViewChangeState(config.view_change_timeout_ms, config.view_change_timeout_ms_max)
        self.checkpoints = CheckpointTracker(config.checkpoint_interval, config.window, config.quorum)
        self.catchup = CatchUp(config.n, config.f, config.replica_id, config.fetch_timeout_ms)
        self.heartbeat = Heartbeat(config.status_interval_ms)
        self.agreement = Agreement(config, tip, tip_certificate, self.votes, self.requests, self.view_changes,
                                   self.checkpoints, self.catchup, self.out)
        self._now_ms = 0
        if snapshot is not None:
            self._restore(snapshot)

    # ----------------------------------------------------------------- public

    @property
    def is_primary(self) -> bool:
        return self.agreement.is_primary(self.view)

    @property
    def tip(self) -> ChainTip:
        return self.agreement.tip

    @property
    def tip_certificate(self) -> CommitCertificate | None:
        return self.agreement.tip_certificate

    @property
    def prepared_certificate(self) -> PreparedCertificate | None:
        return self.agreement.prepared_certificate

    @property
    def view_floor(self) -> int:
        return self.view_changes.floor

    @property
    def last_ignored(self) -> str | None:
        return self.out.last_ignored

    def step(self, event: Event, now_ms: int) -> list[Effect]:
        assert not self.out.effects, "a step was interrupted"
        if self.out.halted is not None:
            return []  # a consensus failure stopped this replica: its driver stops the node
        self._now_ms = now_ms
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
        effects = self.out.take()
        if effects:
            self.heartbeat.sent(effects, now_ms)
        return effects

    def snapshot(self) -> ReplicaSnapshot:
        return ReplicaSnapshot(self.view, self.active, self.votes.entries(), self.prepared_certificate,
                               self.view_changes.own, self.checkpoints.stable)

    # --------------------------------------------------------------- lifecycle

    def _restore(self, snapshot: ReplicaSnapshot) -> None:
        self.view, self.active = snapshot.view, snapshot.active
        self.votes.restore(snapshot.votes, above=self.tip.height)
        self.agreement.resume(snapshot.prepared)
        if not self.active and snapshot.view_change is not None and snapshot.view_change.view == self.view:
            self.view_changes.resume(snapshot.view_change)
        elif not self.active:
            self.active = True  # no view change to resume: wait for the others' NEW-VIEW or a timer
        if snapshot.checkpoint is not None:
            self.checkpoints.adopt(snapshot.checkpoint)

    def _on_start(self) -> None:
        self.out.extend(self.heartbeat.broadcast(self.view, self.tip.height, self._now_ms))
        self.out.add(StartTimer(STATUS_TIMER, self.config.status_interval_ms))
        if not self.active and self.view_changes.own is not None:
            self.out.add(Broadcast(self.view_changes.own))
            self.out.add(StartTimer(VIEW_CHANGE_TIMER, self.view_changes.timeout_ms()))

    def _on_timer(self, name: str) -> None:
        self.out.fired(name)
        if name == BATCH_TIMER:
            self._maybe_propose(timer_fired=True)
        elif name == REQUEST_TIMER:
            if self.catchup.behind(self.tip.height):
                self._arm_request_timer(restart=True)  # its requests may have committed in blocks it lacks
            elif self.active and not self.is_primary and self.requests.waiting:
                self._start_view_change(self.view + 1, "request timer expired")
        elif name == VIEW_CHANGE_TIMER:
            if not self.active:
                self._on_view_change_timeout()
        elif name == STATUS_TIMER:
            self.out.extend(self.heartbeat.tick(self.view, self.tip.height, self._now_ms))
            self.out.add(StartTimer(STATUS_TIMER, self.config.status_interval_ms))
            stalled = self.catchup.tick(self.tip.height)
            self.out.extend(self.catchup.fetch(self.tip.height, stalled))
        elif name == FETCH_TIMER:
            self.catchup.fetch_timed_out()
            self.out.extend(self.catchup.fetch(self.tip.height, stalled=True))
        else:
            self.out.ignore(f"unknown timer {name}")

    # ------------------------------------------------------------ requests

    def _on_requests(self, txs: tuple[bytes, ...], share: bool) -> None:
        """Client requests (`share`: pass them to the other validators) or a peer's FORWARD."""
        admission = self.requests.add(txs)
        if admission.duplicates:
            self.out.ignore("duplicate request", admission.duplicates)
        if admission.full:
            self.out.ignore("pending queue full")
        if share and admission.fresh and self.config.n > 1:
            self.out.add(Broadcast(Forward(admission.fresh)))
        if self.is_primary:
            self._maybe_propose(timer_fired=False)
        else:
            self._arm_request_timer(restart=False)

    def _arm_request_timer(self, restart: bool) -> None:
        waiting = self.active and self.config.is_validator and not self.is_primary and self.requests.waiting
        if waiting and (restart or REQUEST_TIMER not in self.out.timers):
            self.out.add(StartTimer(REQUEST_TIMER, self.config.request_timeout_ms))
        elif not waiting:
            self.out.cancel_timer(REQUEST_TIMER)

    def _maybe_propose(self, timer_fired: bool) -> None:
        self.agreement.propose(self.view, self.active, timer_fired, self._now_ms)

    # ------------------------------------------------------------ peer messages

    def _on_peer_message(self, sender: int, message) -> None:
        if self.config.validator_set.key(sender) is None or sender == self.config.replica_id:
            self.out.ignore("sender is not another validator")
            return
        if isinstance(message, (Prepare, Commit, PrePrepare)):  # the most frequent first
            if not isinstance(message, PrePrepare) and message.replica == sender and message.seq > 0:
                # A PREPARE or COMMIT for (v, s) says its sender is in view v at height s - 1
                # (consensus.heartbeat); a sender in a higher view hears where this replica is.
                self.catchup.on_vote(sender, message.view, message.seq - 1)
                if message.view > self.view:
                    self.out.extend(self.heartbeat.answer(sender, self.view, self.tip.height, self._now_ms))
            self._on_phase_message(sender, message)
        elif isinstance(message, Forward):
            self._on_requests(message.txs, share=False)
        elif isinstance(message, Status):
            self._on_status(sender, message)
        elif isinstance(message, Checkpoint):
            self._on_checkpoint(sender, message)
        elif isinstance(message, ViewChange):
            self._on_view_change(sender, message)
        elif isinstance(message, NewView):
            self._on_new_view(sender, message)
        elif isinstance(message, (FetchBlocks, Blocks)):
            self.out.ignore("state transfer messages are the driver's")
        else:
            raise TypeError(f"unknown message {message!r}")

    def _on_phase_message(self, sender: int, message: PhaseMessage) -> None:
        if self.agreement.on_phase_message(sender, message, self.view, self.active, self._now_ms):
            self._start_view_change(self.view + 1, "primary sent conflicting pre-prepares")

    def _on_checkpoint(self, sender: int, message: Checkpoint) -> None:
        if message.replica != sender:
            self.out.ignore("message names another replica than its sender")
            return
        stable = self.checkpoints.add(message, self.tip.height)
        if stable is None:
            return
        if stable.seq > self.tip.height:
            self.catchup.raise_target(stable.seq)
            self.out.extend(self.catchup.fetch(self.tip.height, stalled=True))
        self._maybe_propose(timer_fired=True)

    def _on_status(self, sender: int, status: Status) -> None:
        self.catchup.on_status(sender, status)
        if status.view < self.view and self.active:
            self.out.extend(self.view_changes.resend(sender, self._now_ms, self.config.status_interval_ms))
        if status.height < self.tip.height or status.view > self.view:
            self.out.extend(self.heartbeat.answer(sender, self.view, self.tip.height, self._now_ms))

    # -------------------------------------------------- execution, state transfer

    def _on_executed(self, event: Executed) -> None:
        self.agreement.executed(event)
        if event.validators is not None and tuple(event.validators) != self.config.validators:
            self._reconfigure(tuple(event.validators))
        if self.checkpoints.is_checkpoint(event.seq) and self.config.is_validator:
            # Signed by the set that goes on from this block: the one VIEW-CHANGEs are checked against next.
            vote = self.votes.checkpoint(event.seq, self.tip.block_hash, self.tip.state_root)
            self.out.add(Broadcast(vote))
            self._on_checkpoint(self.config.replica_id, vote)
        waiting = self.agreement.next_deferred()
        if waiting is not None and self.active:
            self._on_phase_message(waiting.replica, waiting)
        self._arm_request_timer(restart=True)
        self.agreement.deliver_ready(self.view)
        self._maybe_propose(timer_fired=True)

    def _reconfigure(self, validators: tuple[bytes, ...]) -> None:
        """Adopt the validator set in force from the block after the tip."""
        own = self.signer.public_key
        replica_id = validators.index(own) if own in validators else -1
        log.info("validator set changes at height %d: %d validators, this replica is %s",
                 self.tip.height, len(validators), replica_id)
        self.config = dataclasses.replace(self.config, validators=validators, replica_id=replica_id)
        self.history = self.history.then(self.tip.height + 1, self.config.validator_set)
        self.checkpoints.reconfigure(self.config.quorum)
        self.catchup.reconfigure(self.config.n, self.config.f, replica_id)
        self.heartbeat.reconfigure()
        self.view_changes.forget_messages()
        self.active = True
        self.agreement.reconfigure(self.config)
        self.votes.reconfigure(replica_id, self.config.signing_context)
        for name in (BATCH_TIMER, REQUEST_TIMER, VIEW_CHANGE_TIMER):
            self.out.cancel_timer(name)
        self.out.persist()

    def _on_certified_blocks(self, event: CertifiedBlocks) -> None:
        taken = self.catchup.accept(event.sender, event.entries, self.tip.height, self.tip.block_hash)
        if self.catchup.fetching is None:
            self.out.cancel_timer(FETCH_TIMER)
        if not taken:
            self.out.ignore("fetched blocks do not extend our chain")
        self.agreement.deliver_ready(self.view)
        self.out.extend(self.catchup.fetch(self.tip.height, stalled=True))

    # ------------------------------------------------------------- view change

    def _start_view_change(self, target: int, reason: str) -> None:
        if not self.config.is_validator:
            return
        if target < self.view or (target == self.view and (self.active or self.view_changes.own is not None)):
            return
        log.info("replica %d starts view change to %d: %s", self.config.replica_id, target, reason)
        self.view, self.active = target, False
        for name in (BATCH_TIMER, REQUEST_TIMER):
            self.out.cancel_timer(name)
        self.agreement.leave_view()
        prepared = self.prepared_certificate
        if prepared is not None and prepared.pre_prepare.seq != self.tip.height + 1:
            prepared = None
        if self.config.mutation == FORGET_PREPARED:  # the simulator's mutation check only (consensus.mutations)
            prepared = None
        own = self.votes.view_change(target, self.tip.height, self.tip_certificate, self.checkpoints.stable, prepared)
        self.view_changes.begin(own)
        self.out.persist()
        self.out.add(Broadcast(own))
        self.out.add(StartTimer(VIEW_CHANGE_TIMER, self.view_changes.timeout_ms()))
        self._maybe_form_new_view()

    def _on_view_change_timeout(self) -> None:
        """No NEW-VIEW in time. Move on to the next view only if a quorum asked
        for this one or beyond (its primary then failed us); otherwise this replica may be
        alone in wanting it, so it stays, repeats its VIEW-CHANGE (a replica
        that joins later, or restarted, gets it) and waits as long again. A
        lone replica thus stays one view above the others, where they meet it
        when they leave their view (see `viewchange`)."""
        if not self.view_changes.quorum_left(self.view, self.config.quorum):
            self.out.add(Broadcast(self.view_changes.own))
            self.out.add(StartTimer(VIEW_CHANGE_TIMER, self.view_changes.timeout_ms()))
            return
        self.view_changes.attempt_failed()
        self._start_view_change(self.view + 1, "no new-view in time")

    def _on_view_change(self, sender: int, vc: ViewChange) -> None:
        if not self.config.is_validator:
            self.out.ignore("not a validator: observing only")
            return
        if vc.replica != sender:
            self.out.ignore("message names another replica than its sender")
            return
        if vc.view < self.view or (vc.view == self.view and self.active):
            if self.active:
                self.out.extend(self.view_changes.resend(sender, self._now_ms, self.config.status_interval_ms))
            self.out.ignore("stale view-change")
            return
        self.view_changes.add(vc)
        target = self.view_changes.join_target(self.view, self.config.f)
        if target is not None and (target > self.view or self.active):
            self._start_view_change(target, "f+1 replicas asked for a higher view")
        self._maybe_form_new_view()

    def _maybe_form_new_view(self) -> None:
        if self.active or not self.is_primary:
            return
        chosen = self.view_changes.quorum_for(self.view, self.config.quorum)
        if chosen is None:
            return
        plan = plan_new_view(chosen)
        pre_prepare = None
        if plan.prepared is not None:
            pre_prepare = self.votes.pre_prepare(self.view, plan.height + 1, plan.prepared.pre_prepare.block)
        message = self.votes.new_view(self.view, chosen, pre_prepare)
        self._enter_view(message)
        self.out.add(Broadcast(message))

    def _on_new_view(self, sender: int, message: NewView) -> None:
        """`sender` may be a backup relaying the primary's NEW-VIEW: it is taken
        for its signature, which the driver checked, not for its link."""
        if message.view < self.view or (message.view == self.view and self.active):
            self.out.ignore("stale new-view")
            return
        problem = new_view_problem(message, self.config.n, self.config.quorum)
        if problem is not None:
            self.out.ignore(problem)
            return
        self._enter_view(message)

    def _enter_view(self, message: NewView) -> None:
        plan, early = self.view_changes.enter(message)
        self.view, self.active = message.view, True
        self.out.cancel_timer(VIEW_CHANGE_TIMER)
        if plan.checkpoint is not None:
            self.checkpoints.adopt(plan.checkpoint)
        self.catchup.raise_target(plan.height)
        dropped = self.requests.requeue()
        if dropped:
            self.out.ignore("pending queue full", dropped)
        self.agreement.leave_view()
        self.out.persist()
        if message.pre_prepare is not None and self.is_primary:
            self.agreement.take_reproposal(self.view, message.pre_prepare)
        elif message.pre_prepare is not None:
            self._on_phase_message(message.replica, message.pre_prepare)  # checked like any PRE-PREPARE
        for sender, early_message in early:
            self._on_phase_message(sender, early_message)
        self.out.extend(self.catchup.fetch(self.tip.height, stalled=True))
        self._arm_request_timer(restart=True)
        self._maybe_propose(timer_fired=True)

    def _check_invariants(self) -> None:
        self.agreement.check_invariants()
        assert len(self.requests.pending) <= self.config.pending_max
        assert self.active or self.view_changes.own is not None
