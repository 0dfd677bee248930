"""The auditor's tools: verify an export or a node's stream, prove a state
value against a certified header, and list an asset's transactions with
inclusion proofs. Everything is checked locally against the genesis file;
the node is trusted for nothing."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Callable

import aiohttp

from consensus.messages import Block, BlockHeader, CommitCertificate
from contracts.genesis import Genesis
from contracts.tx import TxError, decode_tx
from crypto import merkle, smt
from node.audit import AuditFailure, AuditReport, ChainAuditor
from node.export import ExportError, read_export

PROGRESS_EVERY_BLOCKS = 500


def print_progress(height: int, txs: int) -> None:
    print(f"  verified {height} blocks, {txs} transactions", file=sys.stderr, flush=True)


def verify_export(genesis: Genesis, path: Path, reexecute: bool = False,
                  on_block: Callable | None = None, progress: Callable | None = print_progress) -> ChainAuditor:
    """Audit the export at `path`; raise AuditFailure or ExportError on the first problem."""
    try:
        chain_id, blocks = read_export(path)
    except ExportError as exc:
        raise AuditFailure(1, f"export unreadable: {exc}") from None
    if chain_id != genesis.chain_id:
        raise AuditFailure(1, "the export is of another chain than this genesis file")
    auditor = ChainAuditor(genesis, reexecute=reexecute)
    try:
        for block, certificate, receipts in blocks:
            auditor.check(block, certificate, receipts)
            if on_block is not None:
                on_block(auditor, block, certificate, receipts)
            if progress is not None and auditor.height % PROGRESS_EVERY_BLOCKS == 0:
                progress(auditor.height, auditor.report.txs)
    except ExportError as exc:
        raise AuditFailure(auditor.height + 1, f"export unreadable: {exc}") from None
    return auditor


async def download_export(url: str, path: Path, timeout_s: float = 600.0) -> int:
    """Stream a node's /v1/export to `path`; return the bytes written."""
    written = 0
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url.rstrip("/") + "/v1/export") as response:
            if response.status != 200:
                raise ExportError(f"node answered HTTP {response.status} to /v1/export")
            with open(path, "wb") as out:
                async for chunk in response.content.iter_chunked(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
    return written


async def verify_node(genesis: Genesis, url: str, reexecute: bool = False, **kwargs) -> ChainAuditor:
    with tempfile.TemporaryDirectory(prefix="consort-audit-") as folder:
        path = Path(folder) / "chain.export"
        await download_export(url, path)
        return verify_export(genesis, path, reexecute, **kwargs)


def check_state_proof(auditor: ChainAuditor, header: BlockHeader, key: bytes, value: bytes | None,
                      proof: smt.Proof) -> str | None:
    """None when `value` is what `key` holds in the state certified by `header`."""
    if header.height > auditor.height or header.height < 1:
        return "the header is not part of the audited chain"
    if not smt.verify(header.state_root, key, value, proof):
        return "the proof does not verify against the certified state root"
    return None


def _names(values) -> set[str]:
    """The strings among `values`, and among the lists in them (ids of parts, offers...)."""
    found: set[str] = set()
    for value in values:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found |= {v for v in value if isinstance(v, str)}
    return found


def asset_touches(tx_raw: bytes, receipt_output: dict | None, asset_id: str) -> bool:
    """Whether an asset transaction names `asset_id` in its arguments or its receipt."""
    try:
        tx = decode_tx(tx_raw)
    except TxError:
        return False
    if not tx.type.startswith(("assets.", "settlement.dvp")):
        return False
    outputs = receipt_output.values() if isinstance(receipt_output, dict) else ()
    return asset_id in _names(tx.args.values()) | _names(outputs)


def inclusion_entry(block: Block, index: int, receipts: list[bytes]) -> dict:
    """A transaction with its Merkle inclusion proof (against the block's tx root)
    and its receipt with proof (against the next header's receipts root)."""
    return {
        "height": block.header.height, "index": index, "tx": block.txs[index],
        "tx_proof": merkle.inclusion_proof(list(block.txs), index),
        "receipt": receipts[index], "receipt_proof": merkle.inclusion_proof(receipts, index),
        "tx_count": len(block.txs),
    }


def verify_inclusion_entry(entry: dict, header: BlockHeader, next_receipts_root: bytes | None) -> str | None:
    if not merkle.verify_inclusion(header.tx_root, entry["tx"], entry["index"], entry["tx_count"],
                                   entry["tx_proof"]):
        return "transaction inclusion proof fails"
    if next_receipts_root is not None and not merkle.verify_inclusion(
            next_receipts_root, entry["receipt"], entry["index"], entry["tx_count"], entry["receipt_proof"]):
        return "receipt inclusion proof fails"
    return None


__all__ = ["AuditFailure", "AuditReport", "CommitCertificate", "verify_export", "verify_node",
           "download_export", "check_state_proof", "asset_touches", "inclusion_entry",
           "verify_inclusion_entry"]
