"""Signature checks for peer messages and certificates.

Drivers call `authenticate` on every peer message before stepping the
replica (so verification can be batched or moved elsewhere); auditors and
state transfer call `verify_certificate`. All are pure functions of the
validator set; `verify` is injectable so the simulator can use cheap
signatures.
"""

from __future__ import annotations

from typing import Callable

from crypto import keys
from consensus.config import prepares_needed, quorum
from consensus.messages import (
    SIGNATURE_DOMAIN, Blocks, Checkpoint, CheckpointCertificate, Commit, CommitCertificate, FetchBlocks,
    Forward, Message, NewView, PreparedCertificate, PrePrepare, Prepare, Status, ViewChange,
    checkpoint_bytes, vote_bytes,
)

Verify = Callable[[bytes, str, bytes, bytes], bool]


def _signed_by(message, signer: int, validators: tuple[bytes, ...], verify: Verify) -> bool:
    return 0 <= signer < len(validators) and verify(
        validators[signer], SIGNATURE_DOMAIN, message.signed_bytes(), message.signature)


def _signature_set(signatures, signed: bytes, validators, verify: Verify, needed: int) -> str | None:
    seen: set[int] = set()
    for replica, signature in signatures:
        if not 0 <= replica < len(validators):
            return f"signature from non-validator {replica}"
        if replica in seen:
            return f"two signatures from replica {replica}"
        if not verify(validators[replica], SIGNATURE_DOMAIN, signed, signature):
            return f"bad signature from replica {replica}"
        seen.add(replica)
    if len(seen) < needed:
        return f"{len(seen)} signatures, {needed} needed"
    return None


def verify_certificate(certificate: CommitCertificate, block_hash: bytes, validators: tuple[bytes, ...],
                       verify: Verify = keys.verify) -> str | None:
    """None when `certificate` holds a quorum of valid COMMITs for `block_hash`, else why not."""
    if certificate.digest != block_hash:
        return "certificate is for another block"
    signed = vote_bytes(Commit.KIND, certificate.view, certificate.seq, certificate.digest)
    return _signature_set(certificate.signatures, signed, validators, verify, quorum(len(validators)))


def verify_checkpoint(certificate: CheckpointCertificate, validators: tuple[bytes, ...],
                      verify: Verify = keys.verify) -> str | None:
    signed = checkpoint_bytes(certificate.seq, certificate.block_hash, certificate.state_root)
    return _signature_set(certificate.signatures, signed, validators, verify, quorum(len(validators)))


def verify_prepared(certificate: PreparedCertificate, validators: tuple[bytes, ...],
                    verify: Verify = keys.verify) -> str | None:
    pre_prepare = certificate.pre_prepare
    primary = pre_prepare.view % len(validators)
    if pre_prepare.replica != primary or not _signed_by(pre_prepare, primary, validators, verify):
        return "prepared certificate: pre-prepare not signed by the view's primary"
    if pre_prepare.block.header.hash() != pre_prepare.digest:
        return "prepared certificate: digest does not match the block"
    senders: set[int] = set()
    for prepare in certificate.prepares:
        if (prepare.view, prepare.seq, prepare.digest) != (pre_prepare.view, pre_prepare.seq, pre_prepare.digest):
            return "prepared certificate: prepare for another proposal"
        if prepare.replica == primary or prepare.replica in senders:
            return "prepared certificate: prepare from the primary or repeated"
        if not _signed_by(prepare, prepare.replica, validators, verify):
            return "prepared certificate: bad prepare signature"
        senders.add(prepare.replica)
    if len(senders) < prepares_needed(len(validators)):
        return "prepared certificate: too few prepares"
    return None


def verify_view_change(vc: ViewChange, validators: tuple[bytes, ...], verify: Verify = keys.verify) -> str | None:
    if not _signed_by(vc, vc.replica, validators, verify):
        return "view-change: bad signature"
    if (vc.height == 0) != (vc.commit_certificate is None):
        return "view-change: a height above 0 needs its commit certificate"
    if vc.commit_certificate is not None:
        if vc.commit_certificate.seq != vc.height:
            return "view-change: commit certificate for another height"
        problem = verify_certificate(vc.commit_certificate, vc.commit_certificate.digest, validators, verify)
        if problem is not None:
            return f"view-change: {problem}"
    if vc.checkpoint is not None and verify_checkpoint(vc.checkpoint, validators, verify) is not None:
        return "view-change: invalid checkpoint certificate"
    if vc.prepared is not None:
        if vc.prepared.pre_prepare.seq != vc.height + 1 or vc.prepared.pre_prepare.view >= vc.view:
            return "view-change: prepared certificate for the wrong sequence number or view"
        problem = verify_prepared(vc.prepared, validators, verify)
        if problem is not None:
            return f"view-change: {problem}"
    return None


def authenticate(message: Message, sender: int, validators: tuple[bytes, ...],
                 verify: Verify = keys.verify) -> str | None:
    """None when `message` from link `sender` is acceptable, else the reason."""
    if not 0 <= sender < len(validators):
        return "sender is not a validator"
    if isinstance(message, (Forward, Status, FetchBlocks)):
        return None
    if isinstance(message, Blocks):
        for block, certificate in message.entries:
            if certificate.seq != block.header.height:
                return "certificate for another height"
            problem = verify_certificate(certificate, block.header.hash(), validators, verify)
            if problem is not None:
                return problem
        return None
    if message.replica != sender:
        return "message names another replica than its sender"
    if isinstance(message, (PrePrepare, Prepare, Commit, Checkpoint)):
        return None if _signed_by(message, sender, validators, verify) else "bad signature"
    if isinstance(message, ViewChange):
        return verify_view_change(message, validators, verify)
    if isinstance(message, NewView):
        return _authenticate_new_view(message, sender, validators, verify)
    return f"unknown message {type(message).__name__}"


def _authenticate_new_view(message: NewView, sender: int, validators, verify: Verify) -> str | None:
    if not _signed_by(message, sender, validators, verify):
        return "bad signature"
    for vc in message.view_changes:
        if vc.view != message.view:
            return "new-view holds a view-change for another view"
        problem = verify_view_change(vc, validators, verify)
        if problem is not None:
            return f"new-view: {problem}"
    pre_prepare = message.pre_prepare
    if pre_prepare is not None and (pre_prepare.replica != sender or pre_prepare.view != message.view
                                    or not _signed_by(pre_prepare, sender, validators, verify)):
        return "new-view: re-proposal not signed by the new primary for the new view"
    return None
