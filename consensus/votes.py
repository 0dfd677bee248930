"""What this replica signs. Every message it signs is made here, and the
digest of each PRE-PREPARE, PREPARE and COMMIT it signed above its last
executed block is remembered (and persisted in its snapshot), so the
replica can refuse, even after a crash, to sign a second digest for one
(kind, view, seq).

It must not import the replica or its other parts; signing is the injected
signer's, and nothing here does I/O.
"""

from __future__ import annotations

import dataclasses

from consensus.messages import (
    SIGNATURE_DOMAIN, Block, Checkpoint, CheckpointCertificate, Commit, CommitCertificate, NewView,
    PreparedCertificate, PrePrepare, Prepare, ViewChange, checkpoint_bytes, vote_bytes,
)

VoteKey = tuple[str, int, int]  # (kind, view, seq)


class Votes:
    """Signs as replica `replica_id` under `context`, the signing context of the
    chain and the validator set in force (consensus.validators)."""

    def __init__(self, signer, replica_id: int, context: bytes) -> None:
        self.signer = signer
        self.replica_id = replica_id
        self.context = context
        self.signed: dict[VoteKey, bytes] = {}

    def digest(self, kind: str, view: int, seq: int) -> bytes | None:
        """The digest this replica signed for (kind, view, seq), if any."""
        return self.signed.get((kind, view, seq))

    def pre_prepare(self, view: int, seq: int, block: Block) -> PrePrepare:
        digest = block.header.hash()
        return PrePrepare(view, seq, digest, self.replica_id, self._vote(PrePrepare.KIND, view, seq, digest), block)

    def prepare(self, view: int, seq: int, digest: bytes) -> Prepare:
        return Prepare(view, seq, digest, self.replica_id, self._vote(Prepare.KIND, view, seq, digest))

    def commit(self, view: int, seq: int, digest: bytes) -> Commit:
        return Commit(view, seq, digest, self.replica_id, self._vote(Commit.KIND, view, seq, digest))

    def checkpoint(self, seq: int, block_hash: bytes, state_root: bytes) -> Checkpoint:
        signature = self.signer.sign(SIGNATURE_DOMAIN, checkpoint_bytes(self.context, seq, block_hash, state_root))
        return Checkpoint(seq, block_hash, state_root, self.replica_id, signature)

    def view_change(self, view: int, height: int, commit_certificate: CommitCertificate | None,
                    checkpoint: CheckpointCertificate | None, prepared: PreparedCertificate | None) -> ViewChange:
        unsigned = ViewChange(view, self.replica_id, height, commit_certificate, checkpoint, prepared, b"")
        return dataclasses.replace(unsigned, signature=self._sign(unsigned))

    def new_view(self, view: int, view_changes: tuple[ViewChange, ...], pre_prepare: PrePrepare | None) -> NewView:
        unsigned = NewView(view, self.replica_id, view_changes, pre_prepare, b"")
        return dataclasses.replace(unsigned, signature=self._sign(unsigned))

    def reconfigure(self, replica_id: int, context: bytes) -> None:
        """A new validator set: this replica's index and signing context change,
        and what it signed lapses."""
        self.replica_id = replica_id
        self.context = context
        self.signed = {}

    def restore(self, entries: tuple[tuple[str, int, int, bytes], ...], above: int) -> None:
        """Take the votes of a snapshot that are above executed height `above`."""
        self.signed = {(kind, view, seq): digest for kind, view, seq, digest in entries if seq > above}

    def prune(self, height: int) -> None:
        """Block `height` executed: votes up to it can no longer conflict."""
        self.signed = {key: digest for key, digest in self.signed.items() if key[2] > height}

    def entries(self) -> tuple[tuple[str, int, int, bytes], ...]:
        return tuple(sorted((kind, view, seq, digest) for (kind, view, seq), digest in self.signed.items()))

    def _vote(self, kind: str, view: int, seq: int, digest: bytes) -> bytes:
        self.signed[(kind, view, seq)] = digest
        return self.signer.sign(SIGNATURE_DOMAIN, vote_bytes(self.context, kind, view, seq, digest))

    def _sign(self, unsigned: ViewChange | NewView) -> bytes:
        return self.signer.sign(SIGNATURE_DOMAIN, unsigned.signed_bytes(self.context))
