"""Checkpoints: every K blocks each replica signs (seq, block hash, state
root); a quorum of matching signatures makes the checkpoint stable.

Two bounds: the primary proposes no further than `high`, a window above
the stable checkpoint (flow control: it waits for checkpoints to become
stable); and a replica takes votes and checkpoint votes up to `top`, a
window above the stable checkpoint or above its own executed tip, whichever
is higher. A replica that caught up by state transfer past its stable
checkpoint so still hears the votes at the chain's head and rejoins the
agreement, instead of ignoring them as beyond its window and following by
fetches forever. Votes are kept at most one per replica per sequence
number, and counted by what they state as they come, so a vote costs the
same at any number of validators (the certificate is sorted once). Plain
bookkeeping: it must not import the replica or its other parts, and does
no I/O."""

from __future__ import annotations

from consensus.messages import Checkpoint, CheckpointCertificate


class CheckpointTracker:
    def __init__(self, interval: int, window: int, quorum: int,
                 stable: CheckpointCertificate | None = None) -> None:
        self.interval = interval
        self.window = window
        self.quorum = quorum
        self.stable = stable
        self.votes: dict[int, dict[int, Checkpoint]] = {}
        self.counts: dict[tuple[int, bytes, bytes], int] = {}  # (seq, block hash, state root) -> votes for it

    @property
    def low(self) -> int:
        return 0 if self.stable is None else self.stable.seq

    @property
    def high(self) -> int:
        """The highest sequence number the primary may propose."""
        return self.low + self.window

    def top(self, tip_height: int) -> int:
        """The highest sequence number a replica at `tip_height` takes votes for."""
        return max(self.low, tip_height) + self.window

    def reconfigure(self, quorum: int) -> None:
        """A new validator set: the stable checkpoint stands, the votes towards the next one lapse."""
        self.quorum = quorum
        self.votes, self.counts = {}, {}

    def is_checkpoint(self, seq: int) -> bool:
        return seq % self.interval == 0

    def add(self, vote: Checkpoint, tip_height: int) -> CheckpointCertificate | None:
        """Record a vote; return the new stable certificate if it just became stable."""
        if not self.low < vote.seq <= self.top(tip_height) or not self.is_checkpoint(vote.seq):
            return None
        by_replica = self.votes.setdefault(vote.seq, {})
        if vote.replica in by_replica:
            return None
        by_replica[vote.replica] = vote
        stated = (vote.seq, vote.block_hash, vote.state_root)
        self.counts[stated] = self.counts.get(stated, 0) + 1
        if self.counts[stated] < self.quorum:
            return None
        matching = sorted((v for v in by_replica.values()
                           if (v.block_hash, v.state_root) == (vote.block_hash, vote.state_root)),
                          key=lambda v: v.replica)
        self.adopt(CheckpointCertificate(vote.seq, vote.block_hash, vote.state_root,
                                         tuple((v.replica, v.signature) for v in matching[: self.quorum])))
        return self.stable

    def adopt(self, certificate: CheckpointCertificate) -> bool:
        """Take a (verified) stable checkpoint if it is newer; drop older votes."""
        if certificate.seq <= self.low:
            return False
        self.stable = certificate
        self.votes = {seq: votes for seq, votes in self.votes.items() if seq > certificate.seq}
        self.counts = {stated: count for stated, count in self.counts.items() if stated[0] > certificate.seq}
        return True
