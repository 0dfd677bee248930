"""Helpers shared by the property tests (imported by name, not a conftest)."""

from __future__ import annotations

from contracts.executor import BlockContext, Executor
from contracts.genesis import genesis_state
from contracts.state import DictState
from crypto import encoding


def accounts(state: DictState) -> dict[tuple[str, str], int]:
    """Every settlement balance in `state`, by (institution, currency)."""
    found = {}
    for key, value in state.items.items():
        if key.startswith(b"acct/"):
            iid, currency = key[len(b"acct/"):].decode().split("/")
            found[iid, currency] = encoding.decode(value)
    return found


def split_blocks(items: list, cuts: list[bool]) -> list[list]:
    """Cut `items` into blocks after every item whose cut flag is set."""
    blocks, current = [], []
    for item, cut in zip(items, cuts):
        current.append(item)
        if cut:
            blocks.append(current)
            current = []
    return blocks + [current] if current else blocks


def run(genesis, blocks: list[list]) -> tuple[list, DictState]:
    """Execute `blocks` (of Transactions or wire bytes) from genesis; return
    per-block results and the final state."""
    state = DictState(genesis_state(genesis))
    executor = Executor()
    results = []
    for height, txs in enumerate(blocks, start=1):
        result = executor.execute(state, BlockContext(genesis.chain_id, height, 1000 * height), txs)
        state.apply(result.writes)
        results.append(result)
    return results, state
