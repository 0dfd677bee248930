"""Signature checks for peer messages and commit certificates.

Drivers call `authenticate` on each peer message before stepping the
replica, and auditors and state transfer call `verify_certificate`; both are
pure functions of the validator set.
"""

from __future__ import annotations

from crypto import keys
from consensus.messages import (
    SIGNATURE_DOMAIN, Commit, CommitCertificate, Forward, Message, vote_bytes,
)


def authenticate(message: Message, sender: int, validators: tuple[bytes, ...]) -> str | None:
    """None when `message` from link `sender` is acceptable, else the reason."""
    if not 0 <= sender < len(validators):
        return "sender is not a validator"
    if isinstance(message, Forward):
        return None
    if message.replica != sender:
        return "message names another replica than its sender"
    if not keys.verify(validators[sender], SIGNATURE_DOMAIN, message.signed_bytes(), message.signature):
        return "bad signature"
    return None


def verify_certificate(
    certificate: CommitCertificate, block_hash: bytes, validators: tuple[bytes, ...]
) -> str | None:
    """None when `certificate` holds 2f+1 valid COMMITs for `block_hash`, else why not."""
    if certificate.digest != block_hash:
        return "certificate is for another block"
    quorum = 2 * ((len(validators) - 1) // 3) + 1
    signed = vote_bytes(Commit.KIND, certificate.view, certificate.seq, certificate.digest)
    seen: set[int] = set()
    for replica, signature in certificate.signatures:
        if not 0 <= replica < len(validators):
            return f"signature from non-validator {replica}"
        if replica in seen:
            return f"two signatures from replica {replica}"
        if not keys.verify(validators[replica], SIGNATURE_DOMAIN, signed, signature):
            return f"bad signature from replica {replica}"
        seen.add(replica)
    if len(seen) < quorum:
        return f"{len(seen)} signatures, {quorum} needed"
    return None
