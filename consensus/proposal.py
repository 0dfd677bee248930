"""Blocks a primary proposes: the next block it cuts from its pending
requests, and the checks a proposed block must pass before a replica
prepares it. Pure functions of the proposal, the chain tip and the
configuration: this module must not import the replica or its parts, and
does no I/O.
"""

from __future__ import annotations

from consensus.config import ChainTip, ReplicaConfig
from consensus.messages import Block, BlockHeader, PrePrepare, tx_root


def next_block(config: ReplicaConfig, view: int, tip: ChainTip, txs: tuple[bytes, ...], now_ms: int) -> Block:
    """The block this primary proposes on top of `tip`."""
    header = BlockHeader(
        chain_id=config.chain_id, height=tip.height + 1, view=view,
        proposer=config.replica_id, prev_hash=tip.block_hash,
        timestamp_ms=max(now_ms, tip.timestamp_ms), tx_root=tx_root(txs),
        tx_count=len(txs), state_root=tip.state_root,
        receipts_root=tip.receipts_root, validator_set_hash=config.validator_set_hash,
    )
    return Block(header, txs)


def block_problem(message: PrePrepare, config: ReplicaConfig, tip: ChainTip, view_floor: int,
                  reproposal: bool, now_ms: int) -> str | None:
    """Why the proposed block cannot extend `tip` in the message's view, or None.
    A `reproposal` (the NEW-VIEW's) may carry a block proposed in an earlier view;
    a fresh proposal must lie above the view's floor. A block's time is not
    before its parent's nor more than `block_time_ahead_ms_max` ahead of this
    replica's clock (`now_ms`, from the driver), so a primary cannot push the
    chain's time into the future for every block after it."""
    header, txs = message.block.header, message.block.txs
    if header.hash() != message.digest:
        return "digest mismatch"
    if reproposal:
        view_ok = header.view <= message.view and header.proposer == config.primary(header.view)
    else:
        view_ok = header.view == message.view and header.proposer == message.replica
        if message.seq <= view_floor:
            return "sequence number decided before this view"
    expected = (
        (header.chain_id, config.chain_id, "chain id"),
        (header.height, message.seq, "height"),
        (view_ok, True, "view or proposer"),
        (header.prev_hash, tip.block_hash, "previous hash"),
        (header.state_root, tip.state_root, "state root"),
        (header.receipts_root, tip.receipts_root, "receipts root"),
        (header.validator_set_hash, config.validator_set_hash, "validator set"),
        (header.tx_count, len(txs), "transaction count"),
    )
    for got, want, what in expected:
        if got != want:
            return f"{what} mismatch"
    if header.timestamp_ms < tip.timestamp_ms:
        return "timestamp before parent"
    if header.timestamp_ms > now_ms + config.block_time_ahead_ms_max:
        return "timestamp ahead of this replica's clock"
    if not 0 < len(txs) <= config.batch_size_max:
        return "transaction count outside 1..batch_size_max"
    if len(set(txs)) != len(txs):
        return "duplicate transaction in block"
    if header.tx_root != message.block.tx_root():
        return "transaction root mismatch"
    return None
