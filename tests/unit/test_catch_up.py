"""A replica that fell behind: it fetches certified blocks, does not suspect
the primary while it knows it is behind, and once it has caught up it votes
again (it takes votes up to a window above its own tip, not only above its
stable checkpoint)."""

from __future__ import annotations

from consensus.events import ClientRequests, PeerMessage, StartTimer, TimerFired
from consensus.messages import Status
from replica_net import ReplicaNet

WINDOW = 8
INTERVAL = 4


def txs(count: int, tag: str) -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(count)]


def lagging_net() -> ReplicaNet:
    """Replicas 0-2 commit 20 blocks while replica 3 hears nothing."""
    net = ReplicaNet(n=4, batch_size_max=1, checkpoint_interval=INTERVAL, window=WINDOW)
    net.drop = lambda to, sender, message: 3 in (to, sender)
    for i in range(20):
        net.submit(0, txs(1, f"early-{i}"))
        net.run()
    assert len(net.delivered[0]) == 20 and net.delivered[3] == []
    return net


def catch_up(net: ReplicaNet) -> None:
    """Replica 3 is back: STATUS from the others tells it how far the chain is."""
    net.drop = lambda to, sender, message: False
    for sender in (0, 1, 2):
        net.step(3, PeerMessage(sender, Status(0, len(net.delivered[0]))))
    for _ in range(2):  # two status periods without progress: stalled, so it fetches
        net.step(3, TimerFired("status"))
    net.run()
    assert len(net.delivered[3]) == 20


def test_a_replica_that_caught_up_past_its_stable_checkpoint_votes_again():
    net = lagging_net()
    catch_up(net)
    net.drop = lambda to, sender, message: 1 in (to, sender)  # now replica 3's votes are needed
    for i in range(5):
        net.submit(0, txs(1, f"late-{i}"))
        net.run()
    assert [len(net.delivered[r]) for r in (0, 2, 3)] == [25, 25, 25]
    assert net.replicas[3].ignored["sequence number beyond the window"] == 0


def test_a_replica_that_knows_it_is_behind_does_not_suspect_the_primary():
    net = lagging_net()
    lagging = net.replicas[3]
    for sender in (0, 1):
        lagging.step(PeerMessage(sender, Status(0, 20)), net.now_ms)  # f+1 peers are at 20
    lagging.step(ClientRequests(tuple(txs(1, "waiting"))), net.now_ms)
    effects = lagging.step(TimerFired("request"), net.now_ms)
    assert lagging.view == 0 and lagging.active
    assert [e.name for e in effects if isinstance(e, StartTimer)] == ["request"]
