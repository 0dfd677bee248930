"""View change: which VIEW-CHANGEs a replica keeps, when it joins a higher
view, what a NEW-VIEW must contain, and the view-change state of one
replica (`ViewChangeState`). Pure functions and bounded stores: this module
must not import the replica or its other parts, sign anything, or do I/O.

A VIEW-CHANGE carries the sender's last executed height with that block's
commit certificate, and the prepared certificate it holds for the next
height. The new view starts after H, the highest certified height among
a quorum (n - f) of VIEW-CHANGEs; blocks up to H are final (laggards fetch
them). At H+1 the new primary must re-propose the block of the prepared
certificate from the highest view, if any: a block that may have committed
at H+1 was prepared by a quorum, which shares at least f+1 replicas, so at
least one honest one, with the quorum of VIEW-CHANGEs.

How honest replicas meet in one view (liveness), without ever voting in a
view they left (safety: a replica that sent VIEW-CHANGE for v+1 signs
nothing more in v, or a block could commit in v unseen by the NEW-VIEW):

- A replica joins a higher view when f+1 replicas ask for higher views (at
  least one honest one wants to leave), so f faulty ones cannot drive the
  others through views.
- A replica whose NEW-VIEW does not come in time moves on to the next view
  only when a quorum has asked for its view or beyond (`quorum_left`): the
  primary of that view then failed a quorum. Otherwise it may be alone
  (isolated for a moment, or its own timer was early): it stays, repeats its
  VIEW-CHANGE, and waits as long again. So a lone replica is at most one
  view ahead of the others, never racing away, and every replica keeps the
  latest VIEW-CHANGE of each peer: when the others leave their view, their
  f+1 join rule and its kept VIEW-CHANGE bring them to the lone replica's
  view, where a quorum can form.
- The backoff doubles per view that failed a quorum and resets only when a
  view forms (executing fetched blocks does not reset it), so replicas that
  keep missing each other wait longer and longer until they overlap.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from consensus.events import Send
from consensus.messages import (
    CheckpointCertificate, Commit, NewView, PreparedCertificate, PrePrepare, Prepare, ViewChange,
)

PhaseMessage = PrePrepare | Prepare | Commit
EARLY_MESSAGES_MAX = 64
BACKOFF_DOUBLINGS_MAX = 16


@dataclass(frozen=True, slots=True)
class NewViewPlan:
    height: int
    block_hash: bytes | None
    prepared: PreparedCertificate | None
    checkpoint: CheckpointCertificate | None


def plan_new_view(view_changes: tuple[ViewChange, ...]) -> NewViewPlan:
    """What a quorum of authenticated VIEW-CHANGEs decide for the new view."""
    top = max(view_changes, key=lambda vc: vc.height)
    height = top.height
    block_hash = None if top.commit_certificate is None else top.commit_certificate.digest
    candidates = [
        vc.prepared for vc in view_changes
        if vc.prepared is not None and vc.prepared.pre_prepare.seq == height + 1
        and (block_hash is None or vc.prepared.pre_prepare.block.header.prev_hash == block_hash)
    ]
    prepared = None
    if candidates:
        best_view = max(c.pre_prepare.view for c in candidates)
        prepared = min((c for c in candidates if c.pre_prepare.view == best_view),
                       key=lambda c: c.pre_prepare.digest)
    checkpoints = [vc.checkpoint for vc in view_changes if vc.checkpoint is not None]
    checkpoint = max(checkpoints, key=lambda c: c.seq) if checkpoints else None
    return NewViewPlan(height, block_hash, prepared, checkpoint)


def new_view_problem(message: NewView, n: int, quorum: int) -> str | None:
    """None when an authenticated NEW-VIEW follows from its VIEW-CHANGEs."""
    if message.replica != message.view % n:
        return "new-view not from the new view's primary"
    senders = {vc.replica for vc in message.view_changes}
    if len(senders) != len(message.view_changes) or len(senders) < quorum:
        return "new-view needs a quorum of view-changes from distinct replicas"
    plan = plan_new_view(message.view_changes)
    if plan.prepared is None:
        return None if message.pre_prepare is None else "new-view re-proposes what nobody prepared"
    proposal = message.pre_prepare
    if proposal is None:
        return "new-view drops a prepared block"
    if (proposal.seq, proposal.digest) != (plan.height + 1, plan.prepared.pre_prepare.digest):
        return "new-view re-proposes another block than the prepared one"
    if proposal.block != plan.prepared.pre_prepare.block:
        return "new-view re-proposal carries another block body"
    return None


class ViewChangeStore:
    """The latest VIEW-CHANGE from each replica for views above a floor: at
    most n messages, whatever view numbers a faulty replica sends. Their
    views are also kept sorted, so the join and quorum questions asked on
    every VIEW-CHANGE cost log n, not a sort of n (each of n replicas asks
    them for each of n VIEW-CHANGEs)."""

    def __init__(self) -> None:
        self.latest: dict[int, ViewChange] = {}
        self.views: list[int] = []  # the views of `latest`, ascending

    def add(self, vc: ViewChange) -> bool:
        current = self.latest.get(vc.replica)
        if current is not None and current.view >= vc.view:
            return False
        if current is not None:
            del self.views[bisect.bisect_left(self.views, current.view)]
        bisect.insort(self.views, vc.view)
        self.latest[vc.replica] = vc
        return True

    def for_view(self, view: int) -> tuple[ViewChange, ...]:
        return tuple(vc for _, vc in sorted(self.latest.items()) if vc.view == view)

    def join_target(self, above: int, f: int) -> int | None:
        """The view to join when f+1 replicas ask for views above `above`:
        the smallest of the f+1 highest requested views."""
        if len(self.views) <= f or self.views[-(f + 1)] <= above:
            return None
        return self.views[-(f + 1)]

    def asking_at_least(self, view: int) -> int:
        """How many replicas' latest VIEW-CHANGE is for `view` or a higher one."""
        return len(self.views) - bisect.bisect_left(self.views, view)

    def prune_below(self, view: int) -> None:
        self.latest = {r: vc for r, vc in self.latest.items() if vc.view >= view}
        self.views = self.views[bisect.bisect_left(self.views, view):]


class ViewChangeState:
    """One replica's view-change state: the latest VIEW-CHANGE from each
    replica, its own VIEW-CHANGE while it changes view, the NEW-VIEW in
    force, the view floor (the highest sequence number the view inherits:
    fresh proposals start above it), the backoff of the view-change timer,
    and the phase messages that arrive for a view before its NEW-VIEW
    (at most EARLY_MESSAGES_MAX)."""

    def __init__(self, timeout_ms: int, timeout_ms_max: int) -> None:
        self.timeout_ms_min = timeout_ms
        self.timeout_ms_max = timeout_ms_max
        self.store = ViewChangeStore()
        self.own: ViewChange | None = None
        self.new_view: NewView | None = None
        self.floor = 0
        self.attempts = 0
        self.early: list[tuple[int, PhaseMessage]] = []
        self.resent_ms: dict[int, int] = {}  # peer -> when the NEW-VIEW was last resent to it (at most n)

    def timeout_ms(self) -> int:
        """How long to wait for the NEW-VIEW: doubled by each failed attempt, up to the maximum."""
        timeout = self.timeout_ms_min << min(self.attempts, BACKOFF_DOUBLINGS_MAX)
        return min(timeout, self.timeout_ms_max)

    def attempt_failed(self) -> None:
        self.attempts += 1

    def begin(self, own: ViewChange) -> None:
        """This replica moves to `own.view`: the NEW-VIEW in force and early messages lapse."""
        self.own = own
        self.store.add(own)
        self.new_view = None
        self.early = []

    def resume(self, own: ViewChange) -> None:
        """After a restart, the view change this replica had begun."""
        self.own = own
        self.store.add(own)

    def add(self, vc: ViewChange) -> None:
        self.store.add(vc)

    def join_target(self, above: int, f: int) -> int | None:
        return self.store.join_target(above, f)

    def quorum_left(self, view: int, quorum: int) -> bool:
        """A quorum of replicas asked for `view` or beyond: its primary failed a
        quorum, not just this replica, so moving past it is no lone race."""
        return self.store.asking_at_least(view) >= quorum

    def quorum_for(self, view: int, quorum: int) -> tuple[ViewChange, ...] | None:
        """The first `quorum` VIEW-CHANGEs for `view`, once there are that many."""
        view_changes = self.store.for_view(view)
        return view_changes[:quorum] if len(view_changes) >= quorum else None

    def resend(self, peer: int, now_ms: int, interval_ms: int) -> list[Send]:
        """The NEW-VIEW in force for a peer that is behind in view: at most once
        an interval per peer, whatever stale messages it sends meanwhile."""
        last = self.resent_ms.get(peer)
        if self.new_view is None or (last is not None and now_ms - last < interval_ms):
            return []
        self.resent_ms[peer] = now_ms
        return [Send(peer, self.new_view)]

    def hold_early(self, sender: int, message: PhaseMessage) -> None:
        if len(self.early) < EARLY_MESSAGES_MAX:
            self.early.append((sender, message))

    def enter(self, message: NewView) -> tuple[NewViewPlan, list[tuple[int, PhaseMessage]]]:
        """Put `message` in force; returns what it decides and the early messages to replay."""
        plan = plan_new_view(message.view_changes)
        self.new_view = message
        self.own = None
        self.resent_ms = {}
        self.attempts = 0  # a view formed: the next view change starts with the shortest wait
        self.store.prune_below(message.view + 1)
        self.floor = plan.height + (1 if plan.prepared is not None else 0)
        early, self.early = self.early, []
        return plan, early

    def forget_messages(self) -> None:
        """The validator set changed: every VIEW-CHANGE, NEW-VIEW and early
        message lapses (the floor and the backoff stay)."""
        self.store = ViewChangeStore()
        self.own, self.new_view = None, None
        self.early = []
        self.resent_ms = {}
