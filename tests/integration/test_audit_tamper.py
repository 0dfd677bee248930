"""Tampering with an exported chain is caught, and the failure names the
height: altered transactions, signatures, roots and receipts, dropped and
swapped blocks, weak or foreign certificates, proofs against another root."""

from __future__ import annotations

import dataclasses
import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from consensus.messages import Commit, CommitCertificate, vote_bytes
from consensus.validators import ValidatorSet
from crypto import encoding, smt
from crypto.keys import KeyPair
from node.audit.auditor import AuditFailure
from node.audit.verify import verify_export
from node.devtools.chainbuilder import ChainBuilder
from node.audit.export import MAGIC, export_storage
from fixtures import export_bytes, export_records

BLOCKS = 6


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    directory = tmp_path_factory.mktemp("chain")
    builder = ChainBuilder(directory)
    builder.build(BLOCKS, 5)
    buffer = io.BytesIO()
    export_storage(builder.storage, buffer)
    yield builder, buffer.getvalue()
    builder.close()


def audit(tmp_path, builder, raw: bytes, reexecute: bool = False):
    path = tmp_path / "chain.export"
    path.write_bytes(raw)
    return verify_export(builder.genesis, path, reexecute=reexecute, progress=None)


def fails_at(tmp_path, builder, raw: bytes, reexecute: bool = False) -> AuditFailure:
    with pytest.raises(AuditFailure) as caught:
        audit(tmp_path, builder, raw, reexecute)
    return caught.value


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1:]


def test_the_untouched_export_verifies_with_and_without_re_execution(tmp_path, chain):
    builder, raw = chain
    assert audit(tmp_path, builder, raw).report.blocks == BLOCKS
    assert audit(tmp_path, builder, raw, reexecute=True).report.state_root == builder.ledger.tip.state_root


def test_an_altered_transaction_is_caught(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    txs = records[3][1][1]
    txs[2] = flip(txs[2], 40)
    failure = fails_at(tmp_path, builder, export_bytes(records))
    assert failure.height == 3 and "transaction root" in failure.what


def test_an_altered_certificate_signature_is_caught(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    signatures = records[4][2][3]
    signatures[1][1] = flip(signatures[1][1], 10)
    failure = fails_at(tmp_path, builder, export_bytes(records))
    assert failure.height == 4 and "bad signature from replica" in failure.what


@pytest.mark.parametrize("field_index, name", [(6, "tx_root"), (8, "state_root"), (9, "receipts_root"),
                                                (4, "prev_hash")])
def test_an_altered_root_in_a_header_is_caught(tmp_path, chain, field_index, name):
    builder, raw = chain
    records = export_records(raw)
    header = records[2][1][0]
    header[field_index] = flip(header[field_index], 0)
    failure = fails_at(tmp_path, builder, export_bytes(records), reexecute=True)
    assert failure.height == 2, name


def test_an_altered_receipt_is_caught_by_the_next_header(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    records[2][3][0] = flip(records[2][3][0], 3)
    failure = fails_at(tmp_path, builder, export_bytes(records))
    assert failure.height == 3 and "receipts root" in failure.what


def test_an_altered_receipt_of_the_last_block_is_caught_by_re_execution(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    records[BLOCKS][3][1] = encoding.encode([bytes(32), "ok", "", {}])
    failure = fails_at(tmp_path, builder, export_bytes(records), reexecute=True)
    assert failure.height == BLOCKS and "receipt 1 differs" in failure.what


def test_a_dropped_block_is_caught(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    del records[3]
    failure = fails_at(tmp_path, builder, export_bytes(records))
    assert failure.height == 3 and "expected height 3" in failure.what


def test_two_swapped_blocks_are_caught(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    records[2], records[3] = records[3], records[2]
    failure = fails_at(tmp_path, builder, export_bytes(records))
    assert failure.height == 2


def test_a_truncated_export_is_caught(tmp_path, chain):
    builder, raw = chain
    failure = fails_at(tmp_path, builder, raw[: len(raw) - 30])
    assert failure.height >= BLOCKS


def certificate_with(records, height: int, signatures) -> bytes:
    record = records[height]
    certificate = CommitCertificate.from_wire(record[2])
    record[2] = dataclasses.replace(certificate, signatures=tuple(signatures)).to_wire()
    return export_bytes(records)


def test_a_certificate_one_signature_short_of_a_quorum_is_caught(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    certificate = CommitCertificate.from_wire(records[5][2])
    failure = fails_at(tmp_path, builder, certificate_with(records, 5, certificate.signatures[:2]))
    assert failure.height == 5 and "2 signatures, 3 needed" in failure.what


def test_a_certificate_signed_by_a_non_validator_is_caught(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    certificate = CommitCertificate.from_wire(records[5][2])
    outsider = KeyPair.from_seed(b"\x42" * 32).signer()
    context = ValidatorSet(builder.genesis.chain_id, builder.genesis.validator_keys).context
    forged = outsider.sign("pbft", vote_bytes(context, Commit.KIND, certificate.view, 5, certificate.digest))
    as_replica_2 = [*certificate.signatures[:2], (2, forged)]
    failure = fails_at(tmp_path, builder, certificate_with(export_records(raw), 5, as_replica_2))
    assert failure.height == 5 and "bad signature from replica 2" in failure.what
    as_index_7 = [*certificate.signatures[:2], (7, forged)]
    failure = fails_at(tmp_path, builder, certificate_with(records, 5, as_index_7))
    assert failure.height == 5 and "non-validator 7" in failure.what


def test_a_proof_for_another_root_fails(chain):
    builder, _ = chain
    ledger = builder.ledger
    header = builder.storage.block(BLOCKS).block.header
    key = b"acct/bank-1/EUR"
    value = smt.get(ledger.tree, header.state_root, key)
    proof = smt.prove(ledger.tree, header.state_root, key)
    assert smt.verify(header.state_root, key, value, proof)
    older = builder.storage.block(2).block.header.state_root
    assert not smt.verify(older, key, value, proof)
    assert not smt.verify(header.state_root, key, encoding.encode(1), proof)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=len(MAGIC)))
def test_flipping_any_byte_anywhere_is_caught(tmp_path, chain, position):
    builder, raw = chain
    position = position % len(raw)
    if position < len(MAGIC):
        return
    failure = fails_at(tmp_path, builder, flip(raw, position), reexecute=True)
    assert 1 <= failure.height <= BLOCKS + 1
