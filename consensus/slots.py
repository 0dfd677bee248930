"""The three phases of the current view. For each sequence number: the
PRE-PREPARE accepted, the PREPAREs and COMMITs heard (one per replica), and
whether the block is prepared and committed there; and the PRE-PREPAREs
that came before their turn (at most one per sequence number). The replica
admits only sequence numbers within its window and empties the slots when
the view changes, so both stay bounded.

Plain bookkeeping that answers with reasons and certificates: it must not
import the replica or its other parts, sign anything, or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consensus.messages import Block, Commit, CommitCertificate, PreparedCertificate, PrePrepare, Prepare


@dataclass(slots=True)
class Slot:
    """What this replica knows about one sequence number in the current view.
    It counts the votes that match its PRE-PREPARE as they come, so deciding
    whether a quorum is there costs the same at 4 validators as at 1,000;
    only a certificate, made once, sorts them."""

    pre_prepare: PrePrepare | None = None
    prepares: dict[int, Prepare] = field(default_factory=dict)
    commits: dict[int, Commit] = field(default_factory=dict)
    prepared: bool = False
    committed: bool = False
    prepares_matching: int = 0
    commits_matching: int = 0

    def accept(self, pre_prepare: PrePrepare) -> None:
        self.pre_prepare = pre_prepare
        self.prepares_matching = sum(1 for v in self.prepares.values() if v.digest == pre_prepare.digest)
        self.commits_matching = sum(1 for v in self.commits.values() if v.digest == pre_prepare.digest)

    def record(self, vote: Prepare | Commit) -> None:
        """Keep `vote` as its replica's (replacing an earlier one) and count it if it matches."""
        is_prepare = isinstance(vote, Prepare)
        votes = self.prepares if is_prepare else self.commits
        digest = None if self.pre_prepare is None else self.pre_prepare.digest
        earlier = votes.get(vote.replica)
        change = int(vote.digest == digest) - int(earlier is not None and earlier.digest == digest)
        votes[vote.replica] = vote
        if is_prepare:
            self.prepares_matching += change
        else:
            self.commits_matching += change

    def matching(self, votes: dict) -> list:
        digest = self.pre_prepare.digest if self.pre_prepare else None
        return sorted((v for v in votes.values() if v.digest == digest), key=lambda v: v.replica)


class Slots:
    def __init__(self) -> None:
        self.by_seq: dict[int, Slot] = {}
        self.deferred: dict[int, PrePrepare] = {}

    def clear(self) -> None:
        self.by_seq, self.deferred = {}, {}

    def prune(self, height: int) -> None:
        """Block `height` executed: forget the slots up to it."""
        self.by_seq = {seq: slot for seq, slot in self.by_seq.items() if seq > height}

    def pre_prepare(self, seq: int) -> PrePrepare | None:
        slot = self.by_seq.get(seq)
        return None if slot is None else slot.pre_prepare

    def accept(self, message: PrePrepare) -> None:
        self._slot(message.seq).accept(message)

    def defer(self, message: PrePrepare) -> None:
        """A PRE-PREPARE for a later block: kept (the first per sequence number) until its turn."""
        self.deferred.setdefault(message.seq, message)

    def take_deferred(self, seq: int) -> PrePrepare | None:
        """The PRE-PREPARE deferred for `seq`; those up to `seq` are dropped."""
        message = self.deferred.pop(seq, None)
        self.deferred = {s: m for s, m in self.deferred.items() if s > seq}
        return message

    def vote_problem(self, vote: Prepare | Commit) -> str | None:
        """Why a PREPARE or COMMIT cannot count in its slot, or None."""
        slot = self.by_seq.get(vote.seq)
        if slot is None:
            return None
        if vote.replica in (slot.prepares if isinstance(vote, Prepare) else slot.commits):
            return f"duplicate {vote.KIND}"
        if slot.pre_prepare is not None and slot.pre_prepare.digest != vote.digest:
            return "digest mismatch"
        return None

    def record(self, vote: Prepare | Commit) -> None:
        self._slot(vote.seq).record(vote)

    def prepared_certificate(self, seq: int, prepares_needed: int) -> PreparedCertificate | None:
        """The certificate that makes `seq` prepared, once its PRE-PREPARE has
        `prepares_needed` matching PREPAREs and until it is marked prepared."""
        slot = self.by_seq[seq]
        if slot.prepared or slot.pre_prepare is None or slot.prepares_matching < prepares_needed:
            return None
        prepares = slot.matching(slot.prepares)
        return PreparedCertificate(slot.pre_prepare, tuple(prepares[:prepares_needed]))

    def mark_prepared(self, own_commit: Commit) -> None:
        slot = self.by_seq[own_commit.seq]
        slot.prepared = True
        slot.record(own_commit)

    def mark_committed(self, seq: int, quorum: int) -> bool:
        """Mark `seq` committed once it is prepared with a quorum of matching
        COMMITs; True when that happens now."""
        slot = self.by_seq[seq]
        if slot.committed or not slot.prepared or slot.commits_matching < quorum:
            return False
        slot.committed = True
        return True

    def committed_block(self, view: int, seq: int, quorum: int) -> tuple[Block, CommitCertificate] | None:
        """The block committed at `seq` with its commit certificate, if it is committed."""
        slot = self.by_seq.get(seq)
        if slot is None or not slot.committed:
            return None
        commits = slot.matching(slot.commits)[:quorum]
        certificate = CommitCertificate(view, seq, slot.pre_prepare.digest,
                                        tuple((c.replica, c.signature) for c in commits))
        return slot.pre_prepare.block, certificate

    def _slot(self, seq: int) -> Slot:
        slot = self.by_seq.get(seq)
        if slot is None:
            slot = self.by_seq[seq] = Slot()
        return slot
