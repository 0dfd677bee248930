"""An asset's history from the chain itself: every transaction that names
the asset, each with a Merkle proof of inclusion against its block's
transaction root and of its receipt against the next header's receipts
root."""

from __future__ import annotations

from consensus.messages import Block, BlockHeader
from contracts.tx import TxError, decode_tx
from crypto import merkle


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
