"""View change and reconfiguration, the part of the replica that changes
who leads and who votes. Mixed into `Replica`; see `viewchange` for the
rules a NEW-VIEW must follow and why they are safe.

A validator-set change decided by governance arrives with `Executed` for
the checkpoint block that activates it: from the next block on, the new
set votes, signs certificates and elects primaries (view mod n). A replica
whose key is not in the set becomes an observer: it follows the chain by
state transfer and signs nothing.
"""

from __future__ import annotations

import dataclasses
import logging

from consensus.catchup import CatchUp
from consensus.checkpoints import CheckpointTracker
from consensus.events import Broadcast, Send
from consensus.messages import NewView, PrePrepare, ViewChange
from consensus.viewchange import ViewChangeStore, new_view_problem, plan_new_view
from consensus.votes import Votes

log = logging.getLogger("consort.consensus")

BATCH_TIMER = "batch"
REQUEST_TIMER = "request"
VIEW_CHANGE_TIMER = "view-change"
STATUS_TIMER = "status"
FETCH_TIMER = "fetch"
VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX = 16


class ViewChanging:
    """View-change handlers of `Replica` (which owns every attribute used here)."""


    def _start_view_change(self, target: int, reason: str) -> None:
        if not self.config.is_validator:
            return
        if target < self.view or (target == self.view and (self.active or self.own_view_change)):
            return
        log.info("replica %d starts view change to %d: %s", self.config.replica_id, target, reason)
        self.view, self.active = target, False
        for name in (BATCH_TIMER, REQUEST_TIMER):
            self._cancel_timer(name)
        self.slots.clear()
        self.early = []
        self.new_view_message = None
        prepared = self.prepared_certificate
        if prepared is not None and prepared.pre_prepare.seq != self.tip.height + 1:
            prepared = None
        vc = self.votes.view_change(target, self.tip.height, self.tip_certificate, self.checkpoints.stable, prepared)
        self.own_view_change = vc
        self.view_changes.add(vc)
        self._persist()
        self._effects.append(Broadcast(vc))
        self._start_timer(VIEW_CHANGE_TIMER, self._view_change_timeout_ms())
        self._maybe_form_new_view()

    def _view_change_timeout_ms(self) -> int:
        doublings = min(self.view_change_attempts, VIEW_CHANGE_BACKOFF_DOUBLINGS_MAX)
        timeout = self.config.view_change_timeout_ms << doublings
        return min(timeout, self.config.view_change_timeout_ms_max)

    def _on_view_change(self, sender: int, vc: ViewChange) -> None:
        if not self.config.is_validator:
            self._ignore("not a validator: observing only")
            return
        if vc.replica != sender:
            self._ignore("message names another replica than its sender")
            return
        if vc.view < self.view or (vc.view == self.view and self.active):
            if self.active and self.new_view_message is not None:
                self._effects.append(Send(sender, self.new_view_message))
            self._ignore("stale view-change")
            return
        self.view_changes.add(vc)
        target = self.view_changes.join_target(self.view, self.config.f)
        if target is not None and (target > self.view or self.active):
            self._start_view_change(target, "f+1 replicas asked for a higher view")
        self._maybe_form_new_view()

    def _maybe_form_new_view(self) -> None:
        if self.active or not self.is_primary:
            return
        view_changes = self.view_changes.for_view(self.view)
        if len(view_changes) < self.config.quorum:
            return
        chosen = view_changes[: self.config.quorum]
        plan = plan_new_view(chosen)
        pre_prepare = None
        if plan.prepared is not None:
            pre_prepare = self.votes.pre_prepare(self.view, plan.height + 1, plan.prepared.pre_prepare.block)
        message = self.votes.new_view(self.view, chosen, pre_prepare)
        self._enter_view(message)
        self._effects.append(Broadcast(message))

    def _on_new_view(self, sender: int, message: NewView) -> None:
        if message.replica != sender:
            self._ignore("message names another replica than its sender")
            return
        if message.view < self.view or (message.view == self.view and self.active):
            self._ignore("stale new-view")
            return
        problem = new_view_problem(message, self.config.n, self.config.quorum)
        if problem is not None:
            self._ignore(problem)
            return
        self._enter_view(message)

    def _enter_view(self, message: NewView) -> None:
        plan = plan_new_view(message.view_changes)
        self.view, self.active = message.view, True
        self.new_view_message = message
        self.own_view_change = None
        self.view_changes.prune_below(message.view + 1)
        # Fresh proposals start above what this view inherits: H, and the re-proposal at H+1.
        self.view_floor = plan.height + (1 if plan.prepared is not None else 0)
        self._cancel_timer(VIEW_CHANGE_TIMER)
        if plan.checkpoint is not None:
            self.checkpoints.adopt(plan.checkpoint)
        self.catchup.certified_target = max(self.catchup.certified_target, plan.height)
        self.requests.requeue()
        self.slots.clear()
        self._persist()
        early, self.early = self.early, []
        if message.pre_prepare is not None:
            if self.is_primary:
                self._reproposal_as_primary(message.pre_prepare)
            else:
                self._on_phase_message(message.replica, message.pre_prepare)
        for sender, early_message in early:
            self._on_phase_message(sender, early_message)
        self._maybe_fetch(stalled=True)
        self._arm_request_timer(restart=True)
        self._maybe_propose(timer_fired=True)

    def _reproposal_as_primary(self, pre_prepare: PrePrepare) -> None:
        if pre_prepare.seq == self.tip.height + 1 and self.delivered == self.tip.height:
            self._accept_pre_prepare(pre_prepare)
            self._check_prepared(pre_prepare.seq)
        elif pre_prepare.seq > self.tip.height + 1:
            self.slots.defer(pre_prepare)

    def _reconfigure(self, validators: tuple[bytes, ...]) -> None:
        """Adopt the validator set in force from the block after the tip."""
        own = self.signer.public_key
        replica_id = validators.index(own) if own in validators else -1
        log.info("validator set changes at height %d: %d validators, this replica is %s",
                 self.tip.height, len(validators), replica_id)
        self.config = dataclasses.replace(self.config, validators=validators, replica_id=replica_id)
        self.checkpoints = CheckpointTracker(self.config.checkpoint_interval, self.config.window,
                                             self.config.quorum, self.checkpoints.stable)
        catchup = CatchUp(self.config.n, self.config.f, replica_id)
        catchup.queue, catchup.certified_target = self.catchup.queue, self.catchup.certified_target
        self.catchup = catchup
        self.view_changes = ViewChangeStore()
        self.own_view_change, self.new_view_message = None, None
        self.active = True
        self.slots.clear()
        self.early = []
        self.votes = Votes(self.signer, replica_id)
        self.prepared_certificate = None
        for name in (BATCH_TIMER, REQUEST_TIMER, VIEW_CHANGE_TIMER):
            self._cancel_timer(name)
        self._persist()

