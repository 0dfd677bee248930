"""Signatures checked ahead by worker processes (node.audit.signatures)
change how fast an audit runs, never how it ends: on built chains with a
forged transaction signature, a weak certificate, tampered receipts and a
truncated file, the audit with workers fails at the same height with the
same words as the audit without, and passes where it passes."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from contracts.tx import Transaction, decode_tx
from crypto import encoding
from node.audit import export, signatures
from node.audit.auditor import AuditFailure
from node.audit.export import export_storage
from node.audit.verify import verify_export
from node.devtools.chainbuilder import ChainBuilder, build_payments
from fixtures import export_bytes, export_records

pytestmark = pytest.mark.integration
BLOCKS = 8
TXS_PER_BLOCK = 7
WORKERS = 2


def built(directory, forged_at: int | None = None, honest_bad_at: int | None = None) -> ChainBuilder:
    """A chain of payments. `forged_at`: that block holds a transaction whose
    signature was replaced, certified and applied as if it held (what a
    quorum of lying validators could publish). `honest_bad_at`: that block
    holds a bad-signature and a malformed transaction as bytes, which the
    executor refused, as a live chain records them."""
    builder = ChainBuilder(directory)
    for height in range(1, BLOCKS + 1):
        txs = builder.payments(TXS_PER_BLOCK, height * TXS_PER_BLOCK)
        if height == forged_at:
            txs[3] = dataclasses.replace(txs[3], signature=bytes(64))
        if height == honest_bad_at:
            forged = dataclasses.replace(txs[2], signature=bytes(64))
            txs = [*txs[:2], forged.wire(), b"\x91\x00", *txs[3:]]
        builder.append(txs)
    return builder


def exported(builder: ChainBuilder) -> bytes:
    buffer = io.BytesIO()
    export_storage(builder.storage, buffer)
    return buffer.getvalue()


def outcome(tmp_path, builder: ChainBuilder, raw: bytes, reexecute: bool, workers: int):
    """("ok", blocks, state root) or ("failed", height, what)."""
    path = tmp_path / f"chain-{workers}.export"
    path.write_bytes(raw)
    try:
        auditor = verify_export(builder.genesis, path, reexecute=reexecute, progress=None, workers=workers)
    except AuditFailure as failure:
        return "failed", failure.height, failure.what
    return "ok", auditor.report.blocks, auditor.report.state_root


def both(tmp_path, builder, raw: bytes, reexecute: bool):
    """The outcome with workers, after checking it is the outcome without."""
    serial = outcome(tmp_path, builder, raw, reexecute, workers=0)
    parallel = outcome(tmp_path, builder, raw, reexecute, workers=WORKERS)
    assert parallel == serial
    return parallel


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 1]) + data[index + 1:]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    builder = built(tmp_path_factory.mktemp("chain"))
    yield builder, exported(builder)
    builder.close()


@pytest.mark.parametrize("reexecute", [False, True])
def test_an_untouched_chain_verifies_with_workers(tmp_path, chain, reexecute):
    builder, raw = chain
    result = both(tmp_path, builder, raw, reexecute)
    assert result[:2] == ("ok", BLOCKS)
    if reexecute:
        assert result[2] == builder.ledger.tip.state_root


def test_a_forged_transaction_signature_fails_re_execution_at_its_height(tmp_path):
    builder = built(tmp_path / "chain", forged_at=5)
    raw = exported(builder)
    assert both(tmp_path, builder, raw, reexecute=True) == ("failed", 5, "receipt 3 differs from re-execution")
    # without re-execution no transaction signature is checked: the certified receipt is taken as it stands
    assert both(tmp_path, builder, raw, reexecute=False)[:2] == ("ok", BLOCKS)
    builder.close()


def test_transactions_the_executor_refused_verify_with_workers(tmp_path):
    builder = built(tmp_path / "chain", honest_bad_at=4)
    raw = exported(builder)
    codes = [encoding.decode(receipt)[1] for receipt in export_records(raw)[4][3]]
    assert codes[2:4] == ["bad_signature", "malformed"]
    assert both(tmp_path, builder, raw, reexecute=True) == ("ok", BLOCKS, builder.ledger.tip.state_root)
    builder.close()


def test_a_bad_certificate_signature_fails_at_its_height(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    signatures_6 = records[6][2][3]
    signatures_6[1][1] = flip(signatures_6[1][1], 10)
    for reexecute in (False, True):
        assert both(tmp_path, builder, export_bytes(records), reexecute) == (
            "failed", 6, "commit certificate: bad signature from replica 1")


def test_a_tampered_receipt_fails_at_the_next_header_or_by_re_execution(tmp_path, chain):
    builder, raw = chain
    records = export_records(raw)
    records[3][3][0] = flip(records[3][3][0], 3)
    failed = both(tmp_path, builder, export_bytes(records), reexecute=False)
    assert failed[:2] == ("failed", 4) and "receipts root" in failed[2]
    records = export_records(raw)
    tx_hash = decode_tx(records[BLOCKS][1][1][1]).hash
    records[BLOCKS][3][1] = encoding.encode([tx_hash, "ok", "", {}])
    assert both(tmp_path, builder, export_bytes(records), reexecute=True) == (
        "failed", BLOCKS, "receipt 1 differs from re-execution")


def test_a_bad_block_before_a_truncation_is_the_failure_named(tmp_path, chain):
    """The workers read ahead and meet the truncation first; the audit still
    names the bad block before it, as it does without them."""
    builder, raw = chain
    records = export_records(raw)
    records[2][2][3][0][1] = flip(records[2][2][3][0][1], 0)
    truncated = export_bytes(records)[:-40]
    assert both(tmp_path, builder, truncated, reexecute=True) == (
        "failed", 2, "commit certificate: bad signature from replica 0")
    untouched_but_truncated = both(tmp_path, builder, raw[:-40], reexecute=True)
    assert untouched_but_truncated[0] == "failed" and "export unreadable" in untouched_but_truncated[2]


def test_the_lookahead_reads_a_bounded_number_of_blocks_ahead(tmp_path, chain, monkeypatch):
    builder, raw = chain
    monkeypatch.setattr(signatures, "BLOCKS_AHEAD_MAX", 2)
    path = tmp_path / "chain.export"
    path.write_bytes(raw)
    read = []
    audited = []

    def on_block(auditor, block, certificate, receipts):
        audited.append(block.header.height)
        assert max(read) <= block.header.height + 2  # the block audited and two ahead of it

    original = export.read_export

    def counting(path_):
        chain_id, blocks = original(path_)

        def counted():
            for item in blocks:
                read.append(item[0].header.height)
                yield item
        return chain_id, counted()

    monkeypatch.setattr("node.audit.verify.read_export", counting)
    verify_export(builder.genesis, path, reexecute=True, progress=None, workers=WORKERS, on_block=on_block)
    assert audited == read == list(range(1, BLOCKS + 1))


def test_a_chain_signed_by_workers_is_the_chain_signed_here(tmp_path):
    exports, heights = [], []
    for workers in (0, WORKERS):
        builder = ChainBuilder(tmp_path / f"chain-{workers}")
        build_payments(builder, 23, 5, workers=workers, progress=lambda done, total: heights.append((done, total)))
        exports.append(exported(builder))
        builder.close()
    assert exports[0] == exports[1]
    assert heights == [(h, 5) for h in range(1, 6)] * 2
    records = export_records(exports[0])
    assert len(records) == 1 + 5 + 1 and len(records[5][1][1]) == 3  # chain, five blocks (the last of three), end


def test_a_workers_answer_rebuilds_the_transaction_the_executor_would_decode(chain):
    builder, raw = chain
    txs = export_records(raw)[1][1][1]
    forged = dataclasses.replace(decode_tx(txs[1]), signature=bytes(64)).wire()
    checked, votes = signatures.check_chunk((txs[0], forged, b"\x91\x00"), ())
    assert Transaction(*checked[0]) == decode_tx(txs[0]) and checked[1:] == [None, None] and votes == []


def test_workers_end_by_themselves_when_their_parent_is_killed():
    script = ("import time\n"
              "from node.audit.signatures import worker_pool\n"
              "pool = worker_pool(2)\n"
              "pool.submit(int).result()\n"
              "print('started', flush=True)\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline() == "started\n"
        workers = children(parent.pid)
        assert len(workers) == 2 and all(alive(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        parent.stdout.close()
    deadline = time.monotonic() + 10 * signatures.PARENT_CHECK_INTERVAL_S
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:  # the test stops what it started, even when the workers did not
        os.kill(pid, signal.SIGKILL)
    assert not left


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state, parent, ...); None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        fields = stat_fields(int(entry)) if entry.isdigit() else None
        if fields is not None and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, ended but not yet reaped by init, counts as gone)."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z"
