"""STATUS that scales (consensus.heartbeat): an idle replica broadcasts its
view and height less and less often, up to a bound; a change, or a peer
that is behind, brings it back at once; under load the votes carry it."""

from __future__ import annotations

from consensus.events import Broadcast, PeerMessage, Send, Start, TimerFired
from consensus.heartbeat import DOUBLINGS_MAX
from consensus.messages import Commit, Status
from replica_net import ReplicaNet


def status_broadcasts(effects) -> list[Status]:
    return [e.message for e in effects if isinstance(e, Broadcast) and isinstance(e.message, Status)]


def status_sends(effects) -> list[Send]:
    return [e for e in effects if isinstance(e, Send) and isinstance(e.message, Status)]


def tick(net: ReplicaNet, replica_id: int) -> list[Status]:
    """One status interval later, the status timer fires; what did the replica broadcast?"""
    net.now_ms += net.replicas[replica_id].config.status_interval_ms
    return status_broadcasts(net.step(replica_id, TimerFired("status")))


def ticks_that_broadcast(net: ReplicaNet, replica_id: int, count: int) -> list[int]:
    return [i for i in range(1, count + 1) if tick(net, replica_id)]


def commit_one_block(net: ReplicaNet, tag: str) -> None:
    net.submit(0, [tag.encode()])
    net.run()


def test_an_idle_replica_broadcasts_status_less_and_less_often_up_to_a_bound():
    net = ReplicaNet(n=4)
    assert status_broadcasts(net.replicas[1].step(Start(), net.now_ms)) == [Status(0, 0)]
    ticks = ticks_that_broadcast(net, 1, 40)
    gaps = [b - a for a, b in zip([0, *ticks], ticks)]
    assert gaps == [2, 4, 8, 8, 8, 8]  # every tick before; now 6 of 40
    assert gaps[-1] == 1 << DOUBLINGS_MAX


def test_a_new_height_is_broadcast_at_the_next_tick_and_the_back_off_starts_over():
    net = ReplicaNet(n=4)
    net.replicas[1].step(Start(), net.now_ms)
    ticks_that_broadcast(net, 1, 20)  # backed off to the bound
    commit_one_block(net, "tx")
    assert len(net.delivered[1]) == 1
    assert tick(net, 1) == [Status(0, 1)]
    assert ticks_that_broadcast(net, 1, 8) == [2, 6]


def test_votes_carry_the_heartbeat_under_load():
    """A PREPARE for block h+1 tells every peer its sender is at height h: while
    a block is in flight at every status tick, no STATUS goes out at all."""
    net = ReplicaNet(n=4)
    held: list = []
    for i in range(12):
        net.now_ms += 50
        net.drop = lambda to, sender, message: isinstance(message, Commit) and not held.append((to, sender, message))
        net.submit(0, [f"tx-{i}".encode()])
        net.run()  # block i+1 is prepared everywhere; its COMMITs wait
        if i % 4 == 3:
            net.now_ms += 40
            assert status_broadcasts(net.step(1, TimerFired("status"))) == [], i
        net.drop = lambda to, sender, message: False
        net.queue.extend(held)
        held.clear()
        net.run()
    assert len(net.delivered[1]) == 12
    assert status_broadcasts(net.step(1, TimerFired("status"))) == [Status(0, 12)]  # no block in flight now


def test_a_peer_below_this_replicas_height_is_answered_at_once_and_at_most_once_an_interval():
    net = ReplicaNet(n=4)
    commit_one_block(net, "tx")
    up_to_date = net.replicas[1]
    effects = up_to_date.step(PeerMessage(3, Status(0, 0)), net.now_ms)  # replica 3 restarted at height 0
    assert status_sends(effects) == [Send(3, Status(0, 1))]
    assert status_sends(up_to_date.step(PeerMessage(3, Status(0, 0)), net.now_ms)) == []
    assert status_sends(up_to_date.step(PeerMessage(2, Status(0, 1)), net.now_ms)) == []  # level: no answer
    net.now_ms += up_to_date.config.status_interval_ms
    assert status_sends(up_to_date.step(PeerMessage(3, Status(0, 0)), net.now_ms)) == [Send(3, Status(0, 1))]


def test_a_restarted_replica_learns_the_heights_from_the_answers_and_fetches_the_blocks():
    """Everyone is backed off; replica 3 comes back empty and announces height 0.
    The answers alone (no STATUS timer of the others fires) get it the chain."""
    net = ReplicaNet(n=4)
    for replica_id in range(4):
        net.step(replica_id, Start())
    net.run()
    for i in range(3):
        commit_one_block(net, f"tx-{i}")
    for replica_id in range(3):
        ticks_that_broadcast(net, replica_id, 20)
    net.queue.clear()  # what they broadcast meanwhile is long gone
    fresh = ReplicaNet(n=4).replicas[3]
    net.replicas[3], net.delivered[3] = fresh, []
    net.step(3, Start())
    net.run()
    assert fresh.catchup.reported_target() == 3
    tick(net, 3)  # the tip did not move since the last tick: stalled, so it fetches
    tick(net, 3)
    net.run()
    assert [d.seq for d in net.delivered[3]] == [1, 2, 3]


def test_a_replica_left_in_an_old_view_is_told_by_the_first_vote_it_hears_from_the_new_one():
    """Replica 3 misses a whole view change. When it hears a PREPARE of view 1,
    it answers with its STATUS (view 0), and the answer brings it the NEW-VIEW
    at once: no STATUS timer has to fire anywhere."""
    net = ReplicaNet(n=4)
    net.drop = lambda to, sender, message: 0 in (to, sender) or 3 in (to, sender)
    net.submit(1, [b"stuck"])  # the view-0 primary never hears of it
    net.run()
    net.drop = lambda to, sender, message: 3 in (to, sender)
    for replica_id in (1, 2):
        net.step(replica_id, TimerFired("request"))
    net.run()
    assert [(r.view, r.active) for r in net.replicas] == [(1, True)] * 3 + [(0, True)]
    net.drop = lambda to, sender, message: False
    net.submit(1, [b"next"])
    net.run()
    left_behind = net.replicas[3]
    assert (left_behind.view, left_behind.active) == (1, True)
    assert left_behind.ignored["wrong view"] >= 1  # it did hear view 1 before it was in it


def test_catch_up_takes_a_peers_height_from_its_votes_but_a_late_vote_never_lowers_it():
    net = ReplicaNet(n=4)
    catchup = net.replicas[1].catchup
    catchup.on_vote(2, 0, 7)
    catchup.on_vote(2, 0, 5)  # a vote from before, delivered late
    assert catchup.statuses[2] == (0, 7)
    catchup.on_status(2, Status(0, 0))  # a STATUS is the peer's word now: a wiped replica starts at 0
    assert catchup.statuses[2] == (0, 0)
