"""The view-change checks fed forged and malformed inputs: prepared
certificates, VIEW-CHANGEs and NEW-VIEWs (`consensus.auth`), whether a
NEW-VIEW follows from its VIEW-CHANGEs and what they decide
(`consensus.viewchange`). Four validators (f = 1) with real Ed25519 keys
from fixed seeds; every refusal is checked by its exact reason."""

from __future__ import annotations

import dataclasses

import pytest

from consensus.auth import authenticate, verify_prepared, verify_view_change
from consensus.messages import (
    SIGNATURE_DOMAIN, Block, BlockHeader, CheckpointCertificate, Commit, CommitCertificate, NewView,
    PreparedCertificate, PrePrepare, Prepare, ViewChange, checkpoint_bytes, tx_root, vote_bytes,
)
from consensus.validators import ValidatorHistory, ValidatorSet
from consensus.viewchange import new_view_problem, plan_new_view
from crypto import hashing
from crypto.keys import KeyPair

N = 4
QUORUM = 3
KEYS = [KeyPair.from_seed(bytes([i + 1]) * 32) for i in range(N)]
SIGNERS = [key.signer() for key in KEYS]
CHAIN_ID = hashing.digest("test-chain", b"viewchange-checks")
VALIDATORS = ValidatorSet(CHAIN_ID, tuple(key.public_key for key in KEYS))
HISTORY = ValidatorHistory.of(VALIDATORS)
CONTEXT = VALIDATORS.context
GENESIS_HASH = hashing.digest("test-block", b"genesis")
STATE_ROOT = hashing.digest("test-state", b"any")


def block(height: int, prev_hash: bytes = GENESIS_HASH, view: int = 0, tag: bytes = b"tx") -> Block:
    txs = (tag + b"-%d" % height,)
    header = BlockHeader(CHAIN_ID, height, view, view % N, prev_hash, 1_000 + height, tx_root(txs), len(txs),
                         STATE_ROOT, STATE_ROOT, VALIDATORS.hash)
    return Block(header, txs)


def pre_prepare(view: int, seq: int, proposed: Block, replica: int | None = None, signer: int | None = None,
                digest: bytes | None = None) -> PrePrepare:
    replica = view % N if replica is None else replica
    digest = proposed.header.hash() if digest is None else digest
    signature = SIGNERS[replica if signer is None else signer].sign(
        SIGNATURE_DOMAIN, vote_bytes(CONTEXT, PrePrepare.KIND, view, seq, digest))
    return PrePrepare(view, seq, digest, replica, signature, proposed)


def vote(kind, view: int, seq: int, digest: bytes, replica: int, signer: int | None = None):
    signature = SIGNERS[replica if signer is None else signer].sign(
        SIGNATURE_DOMAIN, vote_bytes(CONTEXT, kind.KIND, view, seq, digest))
    return kind(view, seq, digest, replica, signature)


def prepared(view: int = 0, seq: int = 1, proposed: Block | None = None, backups=(1, 2)) -> PreparedCertificate:
    proposed = block(seq) if proposed is None else proposed
    proposal = pre_prepare(view, seq, proposed)
    return PreparedCertificate(proposal, tuple(vote(Prepare, view, seq, proposal.digest, r) for r in backups))


def commit_certificate(seq: int, digest: bytes, view: int = 0, replicas=(0, 1, 2)) -> CommitCertificate:
    signed = vote_bytes(CONTEXT, Commit.KIND, view, seq, digest)
    return CommitCertificate(view, seq, digest, tuple((r, SIGNERS[r].sign(SIGNATURE_DOMAIN, signed)) for r in replicas))


def checkpoint_certificate(seq: int, block_hash: bytes, replicas=(0, 1, 2)) -> CheckpointCertificate:
    signed = checkpoint_bytes(CONTEXT, seq, block_hash, STATE_ROOT)
    return CheckpointCertificate(seq, block_hash, STATE_ROOT,
                                 tuple((r, SIGNERS[r].sign(SIGNATURE_DOMAIN, signed)) for r in replicas))


def view_change(view: int, replica: int, height: int = 0, certificate: CommitCertificate | None = None,
                checkpoint: CheckpointCertificate | None = None, prepared_certificate: PreparedCertificate | None = None,
                signer: int | None = None) -> ViewChange:
    unsigned = ViewChange(view, replica, height, certificate, checkpoint, prepared_certificate, b"")
    signature = SIGNERS[replica if signer is None else signer].sign(SIGNATURE_DOMAIN, unsigned.signed_bytes(CONTEXT))
    return dataclasses.replace(unsigned, signature=signature)


def new_view(view: int, view_changes, reproposal: PrePrepare | None = None, replica: int | None = None,
             signer: int | None = None) -> NewView:
    replica = view % N if replica is None else replica
    unsigned = NewView(view, replica, tuple(view_changes), reproposal, b"")
    signature = SIGNERS[replica if signer is None else signer].sign(SIGNATURE_DOMAIN, unsigned.signed_bytes(CONTEXT))
    return dataclasses.replace(unsigned, signature=signature)


def at_height_one(view: int, replica: int, **fields) -> ViewChange:
    """A VIEW-CHANGE from a replica that executed block 1 (certified)."""
    first = block(1)
    return view_change(view, replica, 1, commit_certificate(1, first.header.hash()), **fields)


# --------------------------------------------------------------- prepared certificates

def test_a_well_formed_prepared_certificate_verifies():
    assert verify_prepared(prepared(), VALIDATORS) is None
    assert verify_prepared(prepared(view=5, backups=(0, 2)), VALIDATORS) is None  # primary of view 5 is 1


@pytest.mark.parametrize("replica, signer", [(1, 1), (0, 1), (5, 1)])
def test_prepared_certificate_whose_pre_prepare_is_not_from_the_views_primary(replica, signer):
    proposal = pre_prepare(0, 1, block(1), replica=replica % N, signer=signer)
    certificate = PreparedCertificate(dataclasses.replace(proposal, replica=replica),
                                      prepared().prepares)
    assert verify_prepared(certificate, VALIDATORS) == \
        "prepared certificate: pre-prepare not signed by the view's primary"


def test_prepared_certificate_whose_digest_does_not_match_its_block():
    other = block(1, tag=b"other")
    proposal = pre_prepare(0, 1, block(1), digest=other.header.hash())
    prepares = tuple(vote(Prepare, 0, 1, proposal.digest, r) for r in (1, 2))
    assert verify_prepared(PreparedCertificate(proposal, prepares), VALIDATORS) == \
        "prepared certificate: digest does not match the block"


@pytest.mark.parametrize("field, value", [("digest", bytes(32)), ("seq", 2), ("view", 1)])
def test_prepared_certificate_with_a_prepare_for_another_proposal(field, value):
    certificate = prepared()
    good = certificate.prepares[0]
    fields = {"view": good.view, "seq": good.seq, "digest": good.digest, field: value}
    stray = vote(Prepare, fields["view"], fields["seq"], fields["digest"], 3)
    forged = dataclasses.replace(certificate, prepares=(good, stray))
    assert verify_prepared(forged, VALIDATORS) == "prepared certificate: prepare for another proposal"


def test_prepared_certificate_with_a_prepare_from_the_primary():
    certificate = prepared(backups=(0, 1))
    assert verify_prepared(certificate, VALIDATORS) == "prepared certificate: prepare from the primary or repeated"


def test_prepared_certificate_with_a_repeated_prepare():
    certificate = prepared(backups=(1, 1))
    assert verify_prepared(certificate, VALIDATORS) == "prepared certificate: prepare from the primary or repeated"


@pytest.mark.parametrize("replica, signer", [(2, 3), (7, 3)])
def test_prepared_certificate_with_a_bad_prepare_signature(replica, signer):
    certificate = prepared()
    digest = certificate.pre_prepare.digest
    forged = vote(Prepare, 0, 1, digest, replica % N, signer=signer)
    certificate = dataclasses.replace(certificate, prepares=(certificate.prepares[0],
                                                             dataclasses.replace(forged, replica=replica)))
    assert verify_prepared(certificate, VALIDATORS) == "prepared certificate: bad prepare signature"


@pytest.mark.parametrize("backups", [(1,), ()])
def test_prepared_certificate_with_fewer_than_2f_prepares(backups):
    assert verify_prepared(prepared(backups=backups), VALIDATORS) == "prepared certificate: too few prepares"


# ----------------------------------------------------------------------- view changes

def test_well_formed_view_changes_verify():
    assert verify_view_change(view_change(1, 2), HISTORY) is None
    first = block(1)
    full = at_height_one(2, 3, checkpoint=checkpoint_certificate(1, first.header.hash()),
                         prepared_certificate=prepared(view=1, seq=2, proposed=block(2, first.header.hash(), 1),
                                                                 backups=(2, 3)))
    assert verify_view_change(full, HISTORY) is None


def test_view_change_with_a_bad_signature():
    signed_by_another = view_change(1, 2, signer=3)
    assert verify_view_change(signed_by_another, HISTORY) == "view-change: bad signature"
    altered = dataclasses.replace(view_change(1, 2), view=2)
    assert verify_view_change(altered, HISTORY) == "view-change: bad signature"
    from_a_stranger = dataclasses.replace(view_change(1, 2), replica=4)
    assert verify_view_change(from_a_stranger, HISTORY) == "view-change: bad signature"


def test_view_change_above_height_0_without_a_certificate():
    assert verify_view_change(view_change(1, 2, height=1), HISTORY) == \
        "view-change: a height above 0 needs its commit certificate"
    certificate = commit_certificate(1, block(1).header.hash())
    assert verify_view_change(view_change(1, 2, 0, certificate), HISTORY) == \
        "view-change: a height above 0 needs its commit certificate"


def test_view_change_with_a_certificate_for_another_height():
    certificate = commit_certificate(1, block(1).header.hash())
    assert verify_view_change(view_change(1, 2, 2, certificate), HISTORY) == \
        "view-change: commit certificate for another height"


def test_view_change_with_a_weak_commit_certificate():
    certificate = commit_certificate(1, block(1).header.hash(), replicas=(0, 1))
    assert verify_view_change(view_change(1, 2, 1, certificate), HISTORY) == "view-change: commit certificate: 2 signatures, 3 needed"


@pytest.mark.parametrize("replicas", [(0, 1), (0, 1, 1), (0, 1, 9)])
def test_view_change_with_an_invalid_checkpoint(replicas):
    checkpoint = checkpoint_certificate(1, block(1).header.hash(), replicas=(0, 1, 2))
    signatures = {r: s for r, s in checkpoint.signatures}
    forged = dataclasses.replace(checkpoint, signatures=tuple((r, signatures.get(r, bytes(64))) for r in replicas))
    assert verify_view_change(at_height_one(1, 2, checkpoint=forged), HISTORY) == \
        "view-change: invalid checkpoint certificate"


def test_view_change_with_a_checkpoint_signed_over_another_state():
    checkpoint = checkpoint_certificate(1, block(1).header.hash())
    forged = dataclasses.replace(checkpoint, state_root=bytes(32))
    assert verify_view_change(at_height_one(1, 2, checkpoint=forged), HISTORY) == \
        "view-change: invalid checkpoint certificate"


def test_view_change_with_a_prepared_certificate_for_the_wrong_sequence_number():
    assert verify_view_change(view_change(1, 2, prepared_certificate=prepared(seq=2)), HISTORY) == \
        "view-change: prepared certificate for the wrong sequence number or view"
    assert verify_view_change(at_height_one(1, 2, prepared_certificate=prepared(seq=1)), HISTORY) == \
        "view-change: prepared certificate for the wrong sequence number or view"


@pytest.mark.parametrize("prepared_view", [1, 2])
def test_view_change_with_a_prepared_certificate_from_a_view_not_below(prepared_view):
    backups = tuple(r for r in range(N) if r != prepared_view % N)[:2]
    certificate = prepared(view=prepared_view, backups=backups)
    assert verify_prepared(certificate, VALIDATORS) is None
    assert verify_view_change(view_change(1, 2, prepared_certificate=certificate), HISTORY) == \
        "view-change: prepared certificate for the wrong sequence number or view"


def test_view_change_with_an_invalid_prepared_certificate():
    assert verify_view_change(view_change(1, 2, prepared_certificate=prepared(backups=(1,))), HISTORY) == \
        "view-change: prepared certificate: too few prepares"


# -------------------------------------------------------------------------- new views

def quorum_of_view_changes(view: int, replicas=(1, 2, 3), **fields) -> list[ViewChange]:
    return [view_change(view, r, **fields) for r in replicas]


def test_a_well_formed_new_view_is_authenticated_and_follows_from_its_view_changes():
    message = new_view(1, quorum_of_view_changes(1))
    assert authenticate(message, 1, HISTORY) is None
    assert new_view_problem(message, N, QUORUM) is None
    certificate = prepared()
    with_prepared = new_view(1, quorum_of_view_changes(1, prepared_certificate=certificate),
                             pre_prepare(1, 1, certificate.pre_prepare.block))
    assert authenticate(with_prepared, 1, HISTORY) is None
    assert new_view_problem(with_prepared, N, QUORUM) is None


def test_new_view_not_from_the_new_primary():
    by_backup = new_view(1, quorum_of_view_changes(1), replica=2)
    assert authenticate(by_backup, 2, HISTORY) is None  # signed by its sender: only the rules refuse it
    assert new_view_problem(by_backup, N, QUORUM) == "new-view not from the new view's primary"
    relayed = new_view(1, quorum_of_view_changes(1))
    assert authenticate(relayed, 2, HISTORY) is None  # a backup may relay the primary's NEW-VIEW
    assert authenticate(dataclasses.replace(relayed, replica=2), 2, HISTORY) == "bad signature"


def test_new_view_with_a_bad_signature():
    assert authenticate(new_view(1, quorum_of_view_changes(1), signer=2), 1, HISTORY) == "bad signature"
    altered = dataclasses.replace(new_view(1, quorum_of_view_changes(1)), view_changes=tuple(
        quorum_of_view_changes(1, replicas=(0, 2, 3))))
    assert authenticate(altered, 1, HISTORY) == "bad signature"


def test_new_view_with_duplicate_senders():
    twice = view_change(1, 2)
    message = new_view(1, [view_change(1, 1), twice, twice])
    assert authenticate(message, 1, HISTORY) is None
    assert new_view_problem(message, N, QUORUM) == "new-view needs a quorum of view-changes from distinct replicas"


def test_new_view_with_too_few_view_changes():
    message = new_view(1, quorum_of_view_changes(1, replicas=(1, 2)))
    assert authenticate(message, 1, HISTORY) is None
    assert new_view_problem(message, N, QUORUM) == "new-view needs a quorum of view-changes from distinct replicas"


def test_new_view_holding_a_view_change_for_another_view():
    message = new_view(2, [view_change(2, 1), view_change(2, 2), view_change(1, 3)])
    assert authenticate(message, 2, HISTORY) == "new-view holds a view-change for another view"


def test_new_view_holding_a_forged_view_change():
    message = new_view(1, [view_change(1, 1), view_change(1, 2), view_change(1, 3, signer=1)])
    assert authenticate(message, 1, HISTORY) == "new-view: view-change: bad signature"


@pytest.mark.parametrize("replica, signer, view", [(2, 2, 1), (1, 2, 1), (1, 1, 0)])
def test_new_view_whose_reproposal_is_signed_by_another_or_for_another_view(replica, signer, view):
    certificate = prepared()
    reproposal = pre_prepare(view, 1, certificate.pre_prepare.block, replica=replica, signer=signer)
    message = new_view(1, quorum_of_view_changes(1, prepared_certificate=certificate), reproposal)
    assert authenticate(message, 1, HISTORY) == \
        "new-view: re-proposal not signed by the new primary for the new view"


def test_new_view_reproposing_another_block():
    certificate = prepared()
    view_changes = quorum_of_view_changes(1, prepared_certificate=certificate)
    other = new_view(1, view_changes, pre_prepare(1, 1, block(1, tag=b"other")))
    assert new_view_problem(other, N, QUORUM) == "new-view re-proposes another block than the prepared one"
    later = new_view(1, view_changes, pre_prepare(1, 2, certificate.pre_prepare.block))
    assert new_view_problem(later, N, QUORUM) == "new-view re-proposes another block than the prepared one"


def test_new_view_reproposing_another_body_under_the_prepared_digest():
    certificate = prepared()
    body = dataclasses.replace(certificate.pre_prepare.block, txs=(b"smuggled",))
    reproposal = pre_prepare(1, 1, body, digest=certificate.pre_prepare.digest)
    message = new_view(1, quorum_of_view_changes(1, prepared_certificate=certificate), reproposal)
    assert authenticate(message, 1, HISTORY) is None
    assert new_view_problem(message, N, QUORUM) == "new-view re-proposal carries another block body"


def test_new_view_dropping_a_prepared_block():
    certificate = prepared()
    view_changes = [view_change(1, 1), view_change(1, 2, prepared_certificate=certificate), view_change(1, 3)]
    assert new_view_problem(new_view(1, view_changes), N, QUORUM) == "new-view drops a prepared block"


def test_new_view_reproposing_what_nobody_prepared():
    message = new_view(1, quorum_of_view_changes(1), pre_prepare(1, 1, block(1)))
    assert authenticate(message, 1, HISTORY) is None
    assert new_view_problem(message, N, QUORUM) == "new-view re-proposes what nobody prepared"


# ------------------------------------------------------------------- plan_new_view

def test_plan_starts_after_the_highest_certified_height():
    first = block(1)
    second = block(2, first.header.hash())
    view_changes = (view_change(3, 0), view_change(3, 1, 2, commit_certificate(2, second.header.hash())),
                    view_change(3, 2, 1, commit_certificate(1, first.header.hash())))
    plan = plan_new_view(view_changes)
    assert (plan.height, plan.block_hash, plan.prepared, plan.checkpoint) == (2, second.header.hash(), None, None)


def test_plan_takes_the_prepared_certificate_of_the_highest_view():
    older = prepared(view=0, proposed=block(1, tag=b"older"))
    newer = prepared(view=1, proposed=block(1, view=1, tag=b"newer"), backups=(2, 3))
    view_changes = (view_change(2, 0, prepared_certificate=older), view_change(2, 1, prepared_certificate=newer),
                    view_change(2, 3, prepared_certificate=older))
    assert plan_new_view(view_changes).prepared == newer


def test_plan_breaks_a_tie_of_views_by_the_smallest_digest():
    one, two = (prepared(view=1, proposed=block(1, view=1, tag=tag), backups=(2, 3)) for tag in (b"a", b"b"))
    smaller = min(one, two, key=lambda c: c.pre_prepare.digest)
    for order in ((one, two), (two, one)):
        view_changes = tuple(view_change(2, r, prepared_certificate=c) for r, c in zip((0, 1), order)) + (
            view_change(2, 3),)
        assert plan_new_view(view_changes).prepared == smaller


def test_plan_ignores_prepared_certificates_that_do_not_extend_the_top_block():
    first = block(1)
    certificate = commit_certificate(1, first.header.hash())
    elsewhere = prepared(view=0, seq=2, proposed=block(2, prev_hash=bytes(32)))
    too_low = prepared(view=0, seq=1, proposed=first)
    view_changes = (view_change(1, 1, 1, certificate, prepared_certificate=elsewhere),
                    view_change(1, 2, 0, prepared_certificate=too_low),
                    view_change(1, 3, 1, certificate))
    plan = plan_new_view(view_changes)
    assert (plan.height, plan.prepared) == (1, None)
    extends = prepared(view=0, seq=2, proposed=block(2, prev_hash=first.header.hash()))
    view_changes = (*view_changes[:2], view_change(1, 3, 1, certificate, prepared_certificate=extends))
    assert plan_new_view(view_changes).prepared == extends


def test_plan_takes_the_highest_checkpoint():
    low = checkpoint_certificate(4, hashing.digest("test-block", b"4"))
    high = checkpoint_certificate(8, hashing.digest("test-block", b"8"))
    view_changes = (view_change(1, 1, checkpoint=low), view_change(1, 2, checkpoint=high), view_change(1, 3))
    assert plan_new_view(view_changes).checkpoint == high
    assert plan_new_view(tuple(view_change(1, r) for r in (1, 2, 3))).checkpoint is None
