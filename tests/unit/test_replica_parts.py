"""The replica's parts on their own: what they remember, what they refuse
and the bounds they keep, without a replica around them."""

from __future__ import annotations

from consensus.catchup import CatchUp
from consensus.checkpoints import CheckpointTracker
from consensus.config import ChainTip
from consensus.events import FETCH_TIMER, CancelTimer, Persist, Send, StartTimer
from consensus.messages import Commit, FetchBlocks, NewView, Prepare, PrePrepare, Status, ViewChange
from consensus.outbox import Outbox
from consensus.proposal import next_block
from consensus.slots import Slots
from consensus.snapshot import ReplicaSnapshot
from consensus.viewchange import BACKOFF_DOUBLINGS_MAX, EARLY_MESSAGES_MAX, ViewChangeState
from consensus.votes import Votes
from fixtures import replica_config
from netsim.signing import FakeKeys

KEYS = FakeKeys(4, 7)
CHAIN_ID = bytes([9]) * 32
CONFIG = replica_config(CHAIN_ID, 0, KEYS.public_keys)
DIGEST_A, DIGEST_B = bytes([1]) * 32, bytes([2]) * 32


def proposal(seq: int, tag: bytes = b"tx") -> PrePrepare:
    tip = ChainTip(seq - 1, CHAIN_ID, bytes(32), bytes(32), 0)
    return Votes(KEYS.signer(0), 0, CONFIG.signing_context).pre_prepare(0, seq, next_block(CONFIG, 0, tip, (tag,), 0))


def vote(kind, seq: int, digest: bytes, replica: int, view: int = 0) -> Prepare | Commit:
    votes = Votes(KEYS.signer(replica), replica, CONFIG.signing_context)
    return votes.prepare(view, seq, digest) if kind is Prepare else votes.commit(view, seq, digest)


def test_votes_remember_what_was_signed_above_the_tip_and_survive_a_snapshot():
    votes = Votes(KEYS.signer(1), 1, CONFIG.signing_context)
    prepare = votes.prepare(0, 5, DIGEST_A)
    assert KEYS.verify(KEYS.public_keys[1], "pbft", prepare.signed_bytes(CONFIG.signing_context), prepare.signature)
    votes.commit(0, 5, DIGEST_A)
    votes.prepare(0, 6, DIGEST_B)
    assert votes.digest(Prepare.KIND, 0, 5) == DIGEST_A and votes.digest(Commit.KIND, 0, 6) is None
    restarted = Votes(KEYS.signer(1), 1, CONFIG.signing_context)
    restarted.restore(votes.entries(), above=5)
    assert restarted.entries() == (("prepare", 0, 6, DIGEST_B),)
    votes.prune(5)
    assert votes.entries() == restarted.entries()
    votes.reconfigure(3, CONFIG.signing_context)
    assert votes.entries() == () and votes.prepare(0, 7, DIGEST_A).replica == 3


def test_view_change_timeout_doubles_per_failed_attempt_up_to_the_maximum():
    state = ViewChangeState(timeout_ms=100, timeout_ms_max=1_000)
    waits = []
    for _ in range(6):
        waits.append(state.timeout_ms())
        state.attempt_failed()
    assert waits == [100, 200, 400, 800, 1_000, 1_000]
    state.enter(NewView(1, 1, (ViewChange(1, 0, 0, None, None, None, bytes(64)),), None, bytes(64)))
    assert state.timeout_ms() == 100  # a view formed: only that resets the backoff
    uncapped = ViewChangeState(timeout_ms=1, timeout_ms_max=10**30)
    uncapped.attempts = 10**6
    assert uncapped.timeout_ms() == 1 << BACKOFF_DOUBLINGS_MAX


def test_view_change_state_keeps_own_view_change_and_a_bounded_early_buffer():
    state = ViewChangeState(100, 1_000)
    own = ViewChange(1, 2, 0, None, None, None, bytes(64))
    state.begin(own)
    assert state.quorum_for(1, 1) == (own,) and state.quorum_for(1, 2) is None
    early = vote(Prepare, 1, DIGEST_A, 3, view=1)
    for _ in range(EARLY_MESSAGES_MAX + 5):
        state.hold_early(3, early)
    assert len(state.early) == EARLY_MESSAGES_MAX
    state.forget_messages()
    assert (state.own, state.early, state.quorum_for(1, 1)) == (None, [], None)


def test_outbox_cancels_only_running_timers_and_persists_once_a_step_where_first_asked():
    replica = {"view": 1}
    out = Outbox(lambda: ReplicaSnapshot(replica["view"], True, (), None, None, None))
    out.cancel_timer("batch")
    out.add(StartTimer("batch", 5))
    out.persist()
    out.cancel_timer("batch")
    out.cancel_timer("batch")
    out.add(StartTimer("status", 5))
    out.fired("status")
    out.cancel_timer("status")
    replica["view"] = 2
    out.persist()
    effects = out.take()
    assert [type(e) for e in effects] == [StartTimer, Persist, CancelTimer, StartTimer]
    assert [e.snapshot.view for e in effects if isinstance(e, Persist)] == [2]  # the state the step ended in
    assert out.take() == [] and out.timers == set()
    out.add(StartTimer("status", 5))
    out.persist()
    assert [type(e) for e in out.take()] == [StartTimer, Persist]  # the next step persists anew
    out.ignore("wrong view")
    out.ignore("duplicate request", 3)
    assert out.ignored == {"wrong view": 1, "duplicate request": 3} and out.last_ignored == "duplicate request"


def test_slots_refuse_repeated_and_mismatching_votes_and_certify_at_the_quorum():
    slots = Slots()
    proposed = proposal(1)
    slots.accept(proposed)
    first = vote(Prepare, 1, proposed.digest, 1)
    slots.record(first)
    assert slots.vote_problem(first) == "duplicate prepare"
    assert slots.vote_problem(vote(Prepare, 1, DIGEST_A, 2)) == "digest mismatch"
    assert slots.prepared_certificate(1, 2) is None
    slots.record(vote(Prepare, 1, proposed.digest, 2))
    certificate = slots.prepared_certificate(1, 2)
    assert [p.replica for p in certificate.prepares] == [1, 2]
    slots.mark_prepared(vote(Commit, 1, proposed.digest, 0))
    assert slots.prepared_certificate(1, 2) is None and not slots.mark_committed(1, 3)
    for replica in (1, 2):
        slots.record(vote(Commit, 1, proposed.digest, replica))
    assert slots.mark_committed(1, 3) and not slots.mark_committed(1, 3)
    committed, commit_certificate = slots.committed_block(0, 1, 3)
    assert committed == proposed.block and [r for r, _ in commit_certificate.signatures] == [0, 1, 2]
    slots.prune(1)
    assert slots.committed_block(0, 1, 3) is None


def test_slots_count_only_votes_that_match_the_pre_prepare_whenever_it_comes():
    """Votes may come before the PRE-PREPARE, for another block, or twice from one
    replica (a second view's vote after a restart): the counts behind the quorum
    checks follow exactly what the certificates would hold."""
    slots = Slots()
    proposed = proposal(1)
    for replica, digest in ((1, proposed.digest), (2, DIGEST_A), (3, proposed.digest)):
        slots.record(vote(Prepare, 1, digest, replica))
    assert slots.prepared_certificate(1, 2) is None  # no PRE-PREPARE yet: nothing matches
    slots.accept(proposed)
    certificate = slots.prepared_certificate(1, 3)
    assert certificate is None and slots.by_seq[1].prepares_matching == 2
    slots.record(vote(Prepare, 1, proposed.digest, 2))  # replica 2's vote replaced: it matches now
    assert [p.replica for p in slots.prepared_certificate(1, 3).prepares] == [1, 2, 3]
    slots.record(vote(Prepare, 1, DIGEST_B, 3))  # and replica 3's no longer does
    assert slots.prepared_certificate(1, 3) is None and slots.by_seq[1].prepares_matching == 2


def test_a_checkpoint_is_stable_at_a_quorum_of_votes_that_state_the_same_chain():
    tracker = CheckpointTracker(interval=4, window=8, quorum=3)

    def checkpoint(replica: int, block_hash: bytes):
        return Votes(KEYS.signer(replica), replica, CONFIG.signing_context).checkpoint(4, block_hash, DIGEST_B)

    assert tracker.add(checkpoint(3, DIGEST_A), tip_height=4) is None
    assert tracker.add(checkpoint(1, DIGEST_B), tip_height=4) is None  # states another chain
    assert tracker.add(checkpoint(3, DIGEST_B), tip_height=4) is None  # replica 3 already voted
    assert tracker.add(checkpoint(0, DIGEST_A), tip_height=4) is None
    assert tracker.counts == {(4, DIGEST_A, DIGEST_B): 2, (4, DIGEST_B, DIGEST_B): 1}
    stable = tracker.add(checkpoint(2, DIGEST_A), tip_height=4)
    assert (stable.seq, stable.block_hash) == (4, DIGEST_A) and [r for r, _ in stable.signatures] == [0, 2, 3]
    assert tracker.low == 4 and tracker.votes == {} and tracker.counts == {}


def test_slots_defer_one_pre_prepare_per_sequence_number_until_its_turn():
    slots = Slots()
    early, other, later = proposal(2), proposal(2, b"other"), proposal(3)
    for message in (early, other, later):
        slots.defer(message)
    assert slots.take_deferred(2) == early
    assert slots.take_deferred(2) is None and slots.take_deferred(3) == later


def test_catch_up_asks_a_peer_that_reported_the_height_and_forgets_reports_on_reconfiguration():
    catchup = CatchUp(n=4, f=1, replica_id=0, fetch_timeout_ms=700)
    catchup.on_status(2, Status(0, 9))
    assert catchup.fetch(tip_height=3, stalled=True) == []  # one report is not f+1
    catchup.on_status(3, Status(0, 5))
    assert catchup.fetch(tip_height=3, stalled=True) == [Send(2, FetchBlocks(4, 5)), StartTimer(FETCH_TIMER, 700)]
    assert catchup.fetch(tip_height=3, stalled=True) == []  # one request in flight
    catchup.raise_target(12)
    catchup.reconfigure(n=5, f=1, replica_id=4)
    assert catchup.statuses == {} and catchup.fetching is None and catchup.certified_target == 12
    assert catchup.fetch(tip_height=3, stalled=False)[0] == Send(0, FetchBlocks(4, 12))
