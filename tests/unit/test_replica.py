"""The PBFT replica driven event by event through a fake link."""

from __future__ import annotations

import dataclasses

from consensus.auth import authenticate, verify_certificate
from consensus.events import Broadcast, ClientRequests, Deliver, PeerMessage, Send, TimerFired
from consensus.messages import Commit, Forward, NewView, Prepare, PrePrepare, Status, ViewChange, vote_bytes
from consensus.votes import Votes
from replica_net import ReplicaNet


def txs(count: int, tag: str = "tx") -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(count)]


def only(effects: list, kind) -> list:
    return [e for e in effects if isinstance(e, kind)]


def signed(net: ReplicaNet, replica_id: int, kind, view: int, seq: int, digest: bytes):
    context = net.replicas[0].config.signing_context
    signature = net.keys[replica_id].signer().sign("pbft", vote_bytes(context, kind.KIND, view, seq, digest))
    return kind(view, seq, digest, replica_id, signature)


def broadcasts(effects: list, kind) -> list:
    return [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, kind)]


def propose(net: ReplicaNet, count: int = 3) -> PrePrepare:
    effects = net.replicas[0].step(ClientRequests(tuple(txs(count))), net.now_ms)
    (pre_prepare,) = broadcasts(effects, PrePrepare)
    return pre_prepare


def test_block_commits_on_every_replica_with_a_valid_certificate():
    net = ReplicaNet(n=4)
    net.submit(0, txs(5))
    net.run()
    for replica_id in range(4):
        (deliver,) = net.delivered[replica_id]
        assert deliver.seq == 1 and list(deliver.block.txs) == txs(5)
        assert len(deliver.certificate.signatures) == 3
        validators = net.replicas[0].config.validator_set
        assert verify_certificate(deliver.certificate, deliver.block.header.hash(), validators) is None
    assert len({tuple(net.committed_blocks(i)) for i in range(4)}) == 1


def test_backup_prepares_then_commits_only_at_quorums():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    backup = net.replicas[1]
    effects = backup.step(PeerMessage(0, pre_prepare), net.now_ms)
    (prepare_out,) = broadcasts(effects, Prepare)
    assert prepare_out.digest == pre_prepare.digest

    digest = pre_prepare.digest
    # The pre-prepare, own prepare and one more make a quorum of 3: prepared, so a COMMIT goes out.
    effects = backup.step(PeerMessage(2, signed(net, 2, Prepare, 0, 1, digest)), net.now_ms)
    (commit_out,) = broadcasts(effects, Commit)
    assert commit_out.digest == digest
    # Own commit plus one is 2, under the quorum of 3: nothing delivered yet.
    effects = backup.step(PeerMessage(2, signed(net, 2, Commit, 0, 1, digest)), net.now_ms)
    assert only(effects, Deliver) == []
    effects = backup.step(PeerMessage(3, signed(net, 3, Commit, 0, 1, digest)), net.now_ms)
    (deliver,) = only(effects, Deliver)
    assert deliver.seq == 1 and deliver.certificate.digest == digest
    assert [r for r, _ in deliver.certificate.signatures] == [1, 2, 3]


def test_primary_needs_2f_prepares_from_backups_before_committing():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    primary = net.replicas[0]
    effects = primary.step(PeerMessage(1, signed(net, 1, Prepare, 0, 1, pre_prepare.digest)), net.now_ms)
    assert broadcasts(effects, Commit) == []
    effects = primary.step(PeerMessage(2, signed(net, 2, Prepare, 0, 1, pre_prepare.digest)), net.now_ms)
    assert len(broadcasts(effects, Commit)) == 1


def test_message_from_a_non_member_is_ignored():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    backup = net.replicas[1]
    assert backup.step(PeerMessage(7, pre_prepare), net.now_ms) == []
    assert backup.last_ignored == "sender is not another validator"
    assert authenticate(pre_prepare, 7, backup.history) == "sender is not a validator"


def test_message_with_a_bad_signature_is_refused_by_the_driver_check():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    validators = net.replicas[0].history
    good = signed(net, 2, Prepare, 0, 1, pre_prepare.digest)
    assert authenticate(good, 2, validators) is None
    forged = dataclasses.replace(good, signature=bytes(64))
    assert authenticate(forged, 2, validators) == "bad signature"
    by_other_key = signed(net, 3, Prepare, 0, 1, pre_prepare.digest)
    assert authenticate(dataclasses.replace(by_other_key, replica=2), 2, validators) == "bad signature"
    assert authenticate(good, 3, validators) == "message names another replica than its sender"


def test_messages_for_the_wrong_view_are_ignored():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    backup = net.replicas[1]
    assert backup.step(PeerMessage(0, dataclasses.replace(pre_prepare, view=1)), net.now_ms) == []
    assert backup.last_ignored == "wrong view"
    # A vote from a higher view is ignored; its sender only hears where this replica is (consensus.heartbeat).
    assert backup.step(PeerMessage(2, signed(net, 2, Prepare, 5, 1, pre_prepare.digest)), net.now_ms) == [
        Send(2, Status(0, 0))]
    assert backup.last_ignored == "wrong view"


def test_pre_prepare_whose_digest_does_not_match_its_block_is_ignored():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    other = propose_elsewhere(net)
    tampered = dataclasses.replace(pre_prepare, block=other.block)
    backup = net.replicas[1]
    assert backup.step(PeerMessage(0, tampered), net.now_ms) == []
    assert backup.last_ignored == "bad block: digest mismatch"
    # The genuine one is still accepted afterwards.
    assert broadcasts(backup.step(PeerMessage(0, pre_prepare), net.now_ms), Prepare)


def propose_elsewhere(net: ReplicaNet) -> PrePrepare:
    twin = ReplicaNet(n=4)
    effects = twin.replicas[0].step(ClientRequests(tuple(txs(2, "other"))), net.now_ms)
    return broadcasts(effects, PrePrepare)[0]


def test_prepare_and_commit_with_another_digest_are_ignored():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    backup = net.replicas[1]
    backup.step(PeerMessage(0, pre_prepare), net.now_ms)
    wrong = bytes(32)
    assert backup.step(PeerMessage(2, signed(net, 2, Prepare, 0, 1, wrong)), net.now_ms) == []
    assert backup.last_ignored == "digest mismatch"
    assert backup.step(PeerMessage(3, signed(net, 3, Commit, 0, 1, wrong)), net.now_ms) == []
    assert backup.last_ignored == "digest mismatch"


def test_pre_prepare_from_a_backup_and_conflicting_pre_prepares_are_ignored():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    backup = net.replicas[1]
    assert backup.step(PeerMessage(2, dataclasses.replace(pre_prepare, replica=2)), net.now_ms) == []
    assert backup.last_ignored == "pre-prepare not from the primary"
    backup.step(PeerMessage(0, pre_prepare), net.now_ms)
    conflicting = propose_elsewhere(net)
    effects = backup.step(PeerMessage(0, conflicting), net.now_ms)
    assert backup.ignored["conflicting pre-prepare"] == 1
    (view_change,) = broadcasts(effects, ViewChange)  # an equivocating primary is replaced
    assert view_change.view == 1 and not backup.active


def test_block_that_does_not_extend_the_tip_is_ignored():
    net = ReplicaNet(n=4)
    pre_prepare = propose(net)
    header = dataclasses.replace(pre_prepare.block.header, prev_hash=bytes(32))
    block = dataclasses.replace(pre_prepare.block, header=header)
    primary_key = net.keys[0].signer()
    digest = header.hash()
    context = net.replicas[0].config.signing_context
    forged = PrePrepare(0, 1, digest, 0, primary_key.sign("pbft", vote_bytes(context, PrePrepare.KIND, 0, 1, digest)),
                        block)
    backup = net.replicas[1]
    assert backup.step(PeerMessage(0, forged), net.now_ms) == []
    assert backup.last_ignored == "bad block: previous hash mismatch"


def test_backup_shares_client_requests_with_every_replica():
    net = ReplicaNet(n=4)
    effects = net.replicas[2].step(ClientRequests(tuple(txs(3))), net.now_ms)
    (forward,) = broadcasts(effects, Forward)
    assert list(forward.txs) == txs(3) and list(net.replicas[2].requests.pending.values()) == txs(3)
    net.perform(2, effects)
    net.run()
    assert [list(d.block.txs) for d in net.delivered[2]] == [txs(3)]


def test_duplicate_requests_are_proposed_once_and_never_again_after_commit():
    net = ReplicaNet(n=4)
    net.submit(1, txs(3))  # via a backup
    net.submit(0, txs(3))  # and again directly at the primary
    net.run()
    assert [list(d.block.txs) for d in net.delivered[0]] == [txs(3)]
    net.submit(0, txs(3))
    net.run()
    assert len(net.delivered[0]) == 1
    assert net.replicas[0].last_ignored == "duplicate request"


def test_requests_are_batched_up_to_the_block_size_in_order():
    net = ReplicaNet(n=4, batch_size_max=10)
    requests = txs(25)
    net.submit(0, requests)
    net.run()
    blocks = [list(d.block.txs) for d in net.delivered[3]]
    assert [len(b) for b in blocks] == [10, 10, 5]
    assert sum(blocks, []) == requests
    headers = [d.block.header for d in net.delivered[3]]
    assert [h.height for h in headers] == [1, 2, 3]
    assert headers[1].prev_hash == headers[0].hash() and headers[2].prev_hash == headers[1].hash()


def test_batch_timer_cuts_a_partial_block():
    net = ReplicaNet(n=4, batch_size_max=10, batch_delay_ms=5)
    net.submit(0, txs(3))
    net.run()
    assert net.delivered[0] == [] and net.timers[0] == {"batch"}
    net.fire_timers()
    net.run()
    assert [len(d.block.txs) for d in net.delivered[0]] == [3]


def test_three_of_four_commit_while_one_backup_is_silent():
    net = ReplicaNet(n=4, batch_size_max=5)
    net.drop = lambda to, sender, message: 3 in (to, sender)
    net.submit(1, txs(12))
    net.run()
    for replica_id in (0, 1, 2):
        assert [len(d.block.txs) for d in net.delivered[replica_id]] == [5, 5, 2]
    assert net.delivered[3] == []


def test_two_silent_replicas_of_four_stop_progress():
    net = ReplicaNet(n=4)
    net.drop = lambda to, sender, message: bool({2, 3} & {to, sender})
    net.submit(0, txs(4))
    net.run()
    assert all(net.delivered[i] == [] for i in range(4))


def test_a_prepared_block_survives_a_view_change_and_commits_in_the_new_view():
    """The backups prepare block X but every COMMIT is lost and the primary
    dies; the backups time out, replica 1 leads view 1 and re-proposes X,
    which commits at the same height; nothing fresh may be proposed there."""
    net = ReplicaNet(n=4)
    net.drop = lambda to, sender, message: isinstance(message, Commit) or 0 in (to, sender) and not (
        sender == 0 and isinstance(message, PrePrepare))
    net.submit(0, txs(3, "x"))
    net.run()
    assert all(net.replicas[i].prepared_certificate is not None for i in (1, 2, 3))
    assert all(not net.delivered[i] for i in range(4))
    prepared_digest = net.replicas[1].prepared_certificate.pre_prepare.digest
    net.drop = lambda to, sender, message: 0 in (to, sender)  # the old primary is gone
    for replica_id in (1, 2, 3):
        net.step(replica_id, TimerFired("request"))  # requests in flight, nothing committed
    net.run()
    for replica_id in (1, 2, 3):
        replica = net.replicas[replica_id]
        assert replica.view == 1 and replica.active
        (deliver,) = net.delivered[replica_id]
        assert deliver.seq == 1 and deliver.certificate.view == 1
        assert deliver.block.header.hash() == prepared_digest and deliver.block.header.view == 0
    assert net.replicas[2].view_floor == 1  # nothing fresh at height 1 in view 1


def test_a_view_change_into_a_full_pool_drops_the_newest_requests_and_keeps_running():
    """A backup holds a proposed block's requests in flight and a full pool of
    others; the new view puts the in-flight ones back first. Before: the pool
    went past its limit and the replica's own assert stopped it (and with it
    the node), so a primary that proposes once and falls silent crashed every
    backup."""
    net = ReplicaNet(n=4, pending_max=3)
    net.drop = lambda to, sender, message: not isinstance(message, PrePrepare)
    net.submit(0, txs(2, "proposed"))  # the primary proposes them; no vote arrives anywhere
    net.run()
    backup = net.replicas[2]  # not the next primary, which would propose its pool at once
    assert len(backup.requests.in_flight) == 2 and not backup.requests.pending
    backup.step(ClientRequests(tuple(txs(3, "queued"))), net.now_ms)  # the pool is full
    assert len(backup.requests.pending) == 3
    # The old primary is gone; the new one sends its NEW-VIEW and never proposes.
    net.drop = lambda to, sender, message: 0 in (to, sender) or (sender == 1 and isinstance(message, PrePrepare))
    for replica_id in (1, 2, 3):
        net.step(replica_id, TimerFired("request"))
    net.run()
    assert backup.view == 1 and backup.active
    assert len(backup.requests.pending) + len(backup.requests.in_flight) <= 3
    assert backup.ignored["pending queue full"] >= 1
    assert list(backup.requests.pending.values()) == [*txs(2, "proposed"), *txs(1, "queued")]  # in flight first


def test_a_block_timed_too_far_ahead_of_a_backups_clock_is_refused():
    """The primary's clock (or its intent) is ahead: its block's time would be
    inherited by every block after it. Backups refuse it beyond the bound."""
    net = ReplicaNet(n=4)
    bound = net.replicas[1].config.block_time_ahead_ms_max
    backup = net.replicas[1]
    ahead = net.replicas[0].step(ClientRequests(tuple(txs(1, "ahead"))), net.now_ms + bound + 1)
    (too_far,) = broadcasts(ahead, PrePrepare)
    assert too_far.block.header.timestamp_ms == net.now_ms + bound + 1
    assert backup.step(PeerMessage(0, too_far), net.now_ms) == []
    assert backup.last_ignored == "bad block: timestamp ahead of this replica's clock"
    twin = ReplicaNet(n=4)
    (in_bound,) = broadcasts(twin.replicas[0].step(ClientRequests(tuple(txs(1, "ahead"))), net.now_ms + bound),
                             PrePrepare)
    assert broadcasts(twin.replicas[1].step(PeerMessage(0, in_bound), net.now_ms), Prepare)


def test_a_peer_behind_in_view_gets_the_new_view_at_most_once_per_status_interval():
    net = ReplicaNet(n=4)
    net.drop = lambda to, sender, message: 0 in (to, sender)  # the view-0 primary is gone
    net.submit(1, txs(1))
    net.run()
    for replica_id in (1, 2, 3):
        net.step(replica_id, TimerFired("request"))
    net.run()
    backup = net.replicas[2]
    assert backup.view == 1 and backup.active

    def resent(message) -> int:
        effects = backup.step(PeerMessage(0, message), net.now_ms)
        return len([e for e in effects if isinstance(e, Send) and isinstance(e.message, NewView)])

    stale_vc = signed_view_change(net, 0, view=1)
    assert [resent(Status(0, 0)), resent(Status(0, 0)), resent(stale_vc), resent(Status(0, 0))] == [1, 0, 0, 0]
    net.now_ms += backup.config.status_interval_ms
    assert [resent(stale_vc), resent(Status(0, 0))] == [1, 0]


def signed_view_change(net: ReplicaNet, replica_id: int, view: int) -> ViewChange:
    votes = Votes(net.keys[replica_id].signer(), replica_id, net.replicas[0].config.signing_context)
    return votes.view_change(view, 0, None, None, None)
