"""State transfer bookkeeping: how far behind this replica is, which peer to
ask next, and the fetched blocks waiting to be delivered in order.

A replica trusts commit certificates, not peers: a target height comes from
f+1 peers' reports (STATUS, or the height a PREPARE or COMMIT implies; one
of them is honest), from a stable checkpoint
certificate, or from the certified height of a NEW-VIEW; fetched blocks are
delivered only if their certificates verified and they extend the chain.
It answers with the FETCH-BLOCKS to send and its timer. It must not import
the replica or its other parts, and does no I/O.
"""

from __future__ import annotations

from consensus.events import FETCH_TIMER, Effect, Send, StartTimer
from consensus.messages import BLOCKS_PER_FETCH_MAX, Block, CommitCertificate, FetchBlocks, Status

QUEUE_MAX = 4 * BLOCKS_PER_FETCH_MAX


class CatchUp:
    def __init__(self, n: int, f: int, replica_id: int, fetch_timeout_ms: int) -> None:
        self.n, self.f, self.replica_id = n, f, replica_id
        self.fetch_timeout_ms = fetch_timeout_ms
        self.statuses: dict[int, tuple[int, int]] = {}
        self.certified_target = 0
        self.fetching: tuple[int, int, int] | None = None
        self.rotation = 0
        self.queue: list[tuple[Block, CommitCertificate]] = []
        self.height_at_last_tick = -1

    def reconfigure(self, n: int, f: int, replica_id: int) -> None:
        """A new validator set: the certified target and the fetched blocks
        carry over; what peers reported and the fetch in flight do not."""
        self.n, self.f, self.replica_id = n, f, replica_id
        self.statuses = {}
        self.fetching = None
        self.rotation = 0
        self.height_at_last_tick = -1

    def on_status(self, sender: int, status: Status) -> None:
        self.statuses[sender] = (status.view, status.height)

    def on_vote(self, sender: int, view: int, height: int) -> None:
        """A vote says its sender was at `height` when it voted. Votes arrive
        late and replayed, so this only raises what the sender last reported
        (a STATUS may lower it: a wiped replica starts again from 0)."""
        reported = self.statuses.get(sender)
        if reported is None or height >= reported[1]:
            self.statuses[sender] = (view, height)

    def raise_target(self, height: int) -> None:
        """Some certificate proves the chain reaches `height`."""
        self.certified_target = max(self.certified_target, height)

    def tick(self, tip_height: int) -> bool:
        """A status period passed; True if the tip has not moved since the last one."""
        stalled = self.height_at_last_tick == tip_height
        self.height_at_last_tick = tip_height
        return stalled

    def fetch_timed_out(self) -> None:
        self.fetching = None

    def behind(self, tip_height: int) -> bool:
        """Whether this replica knows it is behind: fetched blocks wait, a fetch
        is out, or a certificate or f+1 peers put the chain above its tip."""
        return bool(self.queue) or self.fetching is not None or max(
            self.certified_target, self.reported_target()) > tip_height

    def reported_target(self) -> int:
        """A height that at least f+1 peers say they have executed."""
        heights = sorted((h for _, h in self.statuses.values()), reverse=True)
        return heights[self.f] if len(heights) > self.f else 0

    def fetch(self, tip_height: int, stalled: bool) -> list[Effect]:
        """The FETCH-BLOCKS to send now, with its timer, if this replica is
        behind and no request is in flight."""
        if self.fetching is not None or len(self.queue) >= QUEUE_MAX:
            return []
        first = tip_height + 1 + len(self.queue)
        target = max(self.certified_target, self.reported_target() if stalled else 0)
        if target < first:
            return []
        peers = [p for p in sorted(self.statuses) if self.statuses[p][1] >= first] or \
            [p for p in range(self.n) if p != self.replica_id]
        peer = peers[self.rotation % len(peers)]
        self.rotation += 1
        last = min(target, first + BLOCKS_PER_FETCH_MAX - 1)
        self.fetching = (peer, first, last)
        return [Send(peer, FetchBlocks(first, last)), StartTimer(FETCH_TIMER, self.fetch_timeout_ms)]

    def accept(self, sender: int, entries, tip_height: int, tip_hash: bytes) -> int:
        """Queue fetched blocks that extend the chain; return how many were taken."""
        expected_height = tip_height + 1 + len(self.queue)
        prev_hash = self.queue[-1][1].digest if self.queue else tip_hash
        taken = 0
        for block, certificate in entries:
            if block.header.height < expected_height:
                continue
            if block.header.height != expected_height or block.header.prev_hash != prev_hash:
                break
            if len(self.queue) >= QUEUE_MAX:
                break
            self.queue.append((block, certificate))
            expected_height += 1
            prev_hash = certificate.digest
            taken += 1
        if self.fetching is not None and self.fetching[0] == sender:
            self.fetching = None
        return taken

    def pop_ready(self, tip_height: int) -> tuple[Block, CommitCertificate] | None:
        while self.queue and self.queue[0][0].header.height <= tip_height:
            self.queue.pop(0)
        if self.queue and self.queue[0][0].header.height == tip_height + 1:
            return self.queue.pop(0)
        return None

    def drop_queue(self) -> None:
        """Forget the queued blocks: they do not extend our executed state."""
        self.queue.clear()
