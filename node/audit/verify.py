"""Verify an export file or a node's export stream, and check a state value
against a certified header. Everything is checked locally against the
genesis file; the node is trusted for nothing (its export is read with a
signed request: the stream is for auditors, regulators and validators)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import aiohttp
from yarl import URL

from consensus.messages import BlockHeader
from contracts.genesis import Genesis, GenesisError, genesis_from_json
from contracts.genesis_bulk import read_records
from crypto import keys, smt
from node.audit.auditor import AuditFailure, ChainAuditor
from node.audit.export import ExportError, read_export
from node.audit.signatures import Lookahead
from node.client import tls_context
from node.client.request_signing import request_headers

PROGRESS_EVERY_BLOCKS = 500
DOWNLOAD_CHUNK_BYTES = 1 << 20
DOWNLOAD_TIMEOUT_S = 600.0
BULK_CHUNK_BYTES = 1 << 20


def read_genesis(path: Path) -> Genesis:
    """The genesis file: the one thing an auditor trusts. GenesisError if unusable."""
    try:
        return genesis_from_json(Path(path).read_text())
    except OSError as exc:
        raise GenesisError(f"cannot read genesis {path}: {exc}") from None
    except GenesisError as exc:
        raise GenesisError(f"genesis {path}: {exc}") from None


def bulk_records(genesis_path: Path, genesis: Genesis) -> Iterator[tuple[bytes, bytes]]:
    """The records of the bulk state file `genesis` names, read from beside
    the genesis file at `genesis_path` and checked as they are read
    (contracts.genesis_bulk.read_records: void if it raises); nothing when
    the genesis names none."""
    if genesis.bulk_state is None:
        return
    with open(Path(genesis_path).parent / genesis.bulk_state.file, "rb") as handle:
        yield from read_records(iter(lambda: handle.read(BULK_CHUNK_BYTES), b""), genesis.bulk_state)


def print_progress(height: int, txs: int) -> None:
    print(f"  verified {height} blocks, {txs} transactions", file=sys.stderr, flush=True)


def verify_export(genesis: Genesis, path: Path, reexecute: bool = False,
                  on_block: Callable | None = None, progress: Callable | None = print_progress,
                  workers: int = 0, bulk: Iterator[tuple[bytes, bytes]] | None = None) -> ChainAuditor:
    """Audit the export at `path`; raise AuditFailure or ExportError on the
    first problem. With `workers` > 0, that many processes check signatures
    ahead of the audit (node.audit.signatures): same result, sooner. `bulk`:
    the genesis's bulk state records (`bulk_records`), which re-execution
    needs when the genesis names a bulk state file."""
    try:
        chain_id, blocks = read_export(path)
    except ExportError as exc:
        raise AuditFailure(1, f"export unreadable: {exc}") from None
    if chain_id != genesis.chain_id:
        raise AuditFailure(1, "the export is of another chain than this genesis file")
    auditor = ChainAuditor(genesis, reexecute=reexecute, bulk_records=bulk)
    try:
        if workers <= 0:
            _audit(auditor, ((*item, None) for item in blocks), on_block, progress)
        else:
            with Lookahead(workers, reexecute, lambda: auditor.validators) as lookahead:
                _audit(auditor, lookahead.blocks(blocks), on_block, progress)
    except ExportError as exc:
        raise AuditFailure(auditor.height + 1, f"export unreadable: {exc}") from None
    finally:
        blocks.close()
    return auditor


def _audit(auditor: ChainAuditor, blocks, on_block: Callable | None, progress: Callable | None) -> None:
    for block, certificate, receipts, checked in blocks:
        auditor.check(block, certificate, receipts, checked)
        if on_block is not None:
            on_block(auditor, block, certificate, receipts)
        if progress is not None and auditor.height % PROGRESS_EVERY_BLOCKS == 0:
            progress(auditor.height, auditor.report.txs)


async def download_export(url: str, path: Path, signer: keys.Signer | None = None, chain_id: bytes | None = None,
                          timeout_s: float = DOWNLOAD_TIMEOUT_S, last_height: int | None = None,
                          ca: Path | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Stream a node's /v1/export (through `last_height`, else its tip) to
    `path`, the request signed with `signer` (a client key of an auditor,
    regulator or validator) for `chain_id`, over TLS trusting the root
    certificate `ca` when given; return the bytes written (each chunk's
    running total also goes to `progress`, when given). What the node
    sends is checked afterwards, against the genesis file only: TLS keeps
    the download private, it is not what makes it trusted."""
    written = 0
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    target = URL(url.rstrip("/") + "/v1/export")
    if last_height is not None:
        target = target.with_query(to=str(last_height))
    headers = {} if signer is None else request_headers(signer, chain_id, "GET", target.raw_path_qs)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(target, headers=headers, ssl=tls_context(ca) if ca is not None else True) as response:
            if response.status != 200:
                raise ExportError(f"node answered HTTP {response.status} to /v1/export: {await _reason(response)}")
            with open(path, "wb") as out:
                async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        progress(written)
    return written


async def _reason(response) -> str:
    """A node's JSON error message, or the start of whatever it answered."""
    try:
        return (await response.json())["error"]["message"]
    except (aiohttp.ContentTypeError, ValueError, KeyError, TypeError):
        return (await response.text(errors="replace"))[:200]


async def verify_node(genesis: Genesis, url: str, reexecute: bool = False, signer: keys.Signer | None = None,
                      last_height: int | None = None, ca: Path | None = None, **kwargs) -> ChainAuditor:
    """Download a node's export (through `last_height`, else its tip;
    signing the request with `signer` for the genesis's chain, trusting the
    root certificate `ca`) and audit it (`kwargs` go to verify_export)."""
    with tempfile.TemporaryDirectory(prefix="consort-audit-") as folder:
        path = Path(folder) / "chain.export"
        await download_export(url, path, signer, genesis.chain_id, last_height=last_height, ca=ca)
        return verify_export(genesis, path, reexecute, **kwargs)


def check_state_proof(auditor: ChainAuditor, header: BlockHeader, key: bytes, value: bytes | None,
                      proof: smt.Proof) -> str | None:
    """None when `value` is what `key` holds in the state certified by `header`."""
    if header.height > auditor.height or header.height < 1:
        return "the header is not part of the audited chain"
    if not smt.verify(header.state_root, key, value, proof):
        return "the proof does not verify against the certified state root"
    return None
