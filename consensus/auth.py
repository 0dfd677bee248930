"""Signature checks for peer messages and certificates.

Drivers call `authenticate` on every peer message before stepping the
replica (so verification can be batched or moved elsewhere); auditors and
state transfer call `verify_certificate`. Every signature is checked under
the signing context of the set that made it: a message from a peer against
the set in force now, a certificate carried inside a VIEW-CHANGE against
the set that ordered its own height (`ValidatorHistory.at`), a fetched block
against the set its header names (the replica then checks, when the block
is its turn, that the header names the set in force at its height). All
are pure functions; `verify` is injectable so the simulator can use cheap
signatures.
"""

from __future__ import annotations

from typing import Callable

from consensus.messages import (
    SIGNATURE_DOMAIN, Blocks, Checkpoint, CheckpointCertificate, Commit, CommitCertificate, FetchBlocks,
    Forward, Message, NewView, PreparedCertificate, PrePrepare, Prepare, Status, ViewChange,
    checkpoint_bytes, vote_bytes,
)
from consensus.validators import ValidatorHistory, ValidatorSet
from crypto import keys

Verify = Callable[[bytes, str, bytes, bytes], bool]


def _signed_by(message, signer: int, validators: ValidatorSet, verify: Verify) -> bool:
    key = validators.key(signer)
    return key is not None and verify(key, SIGNATURE_DOMAIN, message.signed_bytes(validators.context),
                                      message.signature)


def _signature_set(signatures, signed: bytes, validators: ValidatorSet, verify: Verify) -> str | None:
    seen: set[int] = set()
    for replica, signature in signatures:
        key = validators.key(replica)
        if key is None:
            return f"signature from non-validator {replica}"
        if replica in seen:
            return f"two signatures from replica {replica}"
        if not verify(key, SIGNATURE_DOMAIN, signed, signature):
            return f"bad signature from replica {replica}"
        seen.add(replica)
    if len(seen) < validators.quorum:
        return f"{len(seen)} signatures, {validators.quorum} needed"
    return None


def verify_certificate(certificate: CommitCertificate, block_hash: bytes, validators: ValidatorSet,
                       verify: Verify = keys.verify) -> str | None:
    """None when `certificate` holds a quorum of `validators`' valid COMMITs for `block_hash`, else why not."""
    if certificate.digest != block_hash:
        return "certificate is for another block"
    signed = vote_bytes(validators.context, Commit.KIND, certificate.view, certificate.seq, certificate.digest)
    return _signature_set(certificate.signatures, signed, validators, verify)


def verify_checkpoint(certificate: CheckpointCertificate, validators: ValidatorSet,
                      verify: Verify = keys.verify) -> str | None:
    signed = checkpoint_bytes(validators.context, certificate.seq, certificate.block_hash, certificate.state_root)
    return _signature_set(certificate.signatures, signed, validators, verify)


def verify_prepared(certificate: PreparedCertificate, validators: ValidatorSet,
                    verify: Verify = keys.verify) -> str | None:
    pre_prepare = certificate.pre_prepare
    primary = validators.primary(pre_prepare.view)
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
    if len(senders) < validators.prepares_needed:
        return "prepared certificate: too few prepares"
    return None


def verify_view_change(vc: ViewChange, history: ValidatorHistory, verify: Verify = keys.verify) -> str | None:
    """The VIEW-CHANGE is signed under the set in force; what it carries is
    checked against the set that ordered (or follows) the height it is for."""
    if not _signed_by(vc, vc.replica, history.current, verify):
        return "view-change: bad signature"
    if (vc.height == 0) != (vc.commit_certificate is None):
        return "view-change: a height above 0 needs its commit certificate"
    if vc.commit_certificate is not None:
        if vc.commit_certificate.seq != vc.height:
            return "view-change: commit certificate for another height"
        problem = _certificate_at(vc.commit_certificate, vc.height, history, verify)
        if problem is not None:
            return f"view-change: {problem}"
    if vc.checkpoint is not None:
        signers = history.at(vc.checkpoint.seq + 1)  # a checkpoint is signed by the set that goes on from it
        if signers is None or verify_checkpoint(vc.checkpoint, signers, verify) is not None:
            return "view-change: invalid checkpoint certificate"
    if vc.prepared is not None:
        if vc.prepared.pre_prepare.seq != vc.height + 1 or vc.prepared.pre_prepare.view >= vc.view:
            return "view-change: prepared certificate for the wrong sequence number or view"
        signers = history.at(vc.height + 1)
        problem = "prepared certificate: older than this node's validator history" if signers is None else \
            verify_prepared(vc.prepared, signers, verify)
        if problem is not None:
            return f"view-change: {problem}"
    return None


def _certificate_at(certificate: CommitCertificate, height: int, history: ValidatorHistory,
                    verify: Verify) -> str | None:
    validators = history.at(height)
    if validators is None:
        return "commit certificate older than this node's validator history"
    problem = verify_certificate(certificate, certificate.digest, validators, verify)
    return None if problem is None else f"commit certificate: {problem}"


def verify_fetched(entries, history: ValidatorHistory, verify: Verify = keys.verify) -> tuple:
    """The longest prefix of fetched (block, certificate) entries whose
    certificates hold a quorum of the set each header names, where this node
    knows that set. Whether that set is the one in force at the block's
    height is the replica's check when the block is its turn."""
    verified = []
    for block, certificate in entries:
        validators = history.by_hash(block.header.validator_set_hash)
        if validators is None or certificate.seq != block.header.height or verify_certificate(
                certificate, block.header.hash(), validators, verify) is not None:
            break
        verified.append((block, certificate))
    return tuple(verified)


def authenticate(message: Message, sender: int, history: ValidatorHistory,
                 verify: Verify = keys.verify) -> str | None:
    """None when `message` from link `sender` (an index in the set in force)
    is acceptable, else the reason."""
    validators = history.current
    if validators.key(sender) is None:
        return "sender is not a validator"
    if isinstance(message, (Forward, Status, FetchBlocks)):
        return None
    if isinstance(message, Blocks):
        verified = verify_fetched(message.entries, history, verify)
        return None if len(verified) == len(message.entries) else "fetched block not certified by the set it names"
    if isinstance(message, NewView):
        return _authenticate_new_view(message, history, verify)
    if message.replica != sender:
        return "message names another replica than its sender"
    if isinstance(message, (PrePrepare, Prepare, Commit, Checkpoint)):
        return None if _signed_by(message, sender, validators, verify) else "bad signature"
    if isinstance(message, ViewChange):
        return verify_view_change(message, history, verify)
    return f"unknown message {type(message).__name__}"


def _authenticate_new_view(message: NewView, history: ValidatorHistory, verify: Verify) -> str | None:
    """A NEW-VIEW is checked by its own signature, not its link: a backup may
    relay the primary's NEW-VIEW to a replica that missed it."""
    validators = history.current
    if not _signed_by(message, message.replica, validators, verify):
        return "bad signature"
    for vc in message.view_changes:
        if vc.view != message.view:
            return "new-view holds a view-change for another view"
        problem = verify_view_change(vc, history, verify)
        if problem is not None:
            return f"new-view: {problem}"
    pre_prepare = message.pre_prepare
    if pre_prepare is not None and (pre_prepare.replica != message.replica or pre_prepare.view != message.view
                                    or not _signed_by(pre_prepare, message.replica, validators, verify)):
        return "new-view: re-proposal not signed by the new primary for the new view"
    return None
