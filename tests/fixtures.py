"""Helpers shared by every test folder: blocks executed from genesis and
compared byte for byte.

Not a pytest conftest: tests import it by name (`from fixtures import ...`),
which works from every folder because tests/conftest.py puts tests/ on
sys.path. Nothing here starts a process or opens a socket.
"""

from __future__ import annotations

from contracts.executor import BlockContext, BlockResult, Executor
from contracts.genesis import Genesis, genesis_state
from contracts.state import DictState
from crypto import encoding


# --- executing blocks ---------------------------------------------------------------

def run(genesis: Genesis, blocks: list[list]) -> tuple[list[BlockResult], DictState]:
    """Execute `blocks` (of Transactions or wire bytes) from genesis, block
    `n` at height n and time 1000 * n ms; return per-block results and the
    final state."""
    state = DictState(genesis_state(genesis))
    executor = Executor()
    results = []
    for height, txs in enumerate(blocks, start=1):
        result = executor.execute(state, BlockContext(genesis.chain_id, height, 1000 * height), txs)
        state.apply(result.writes)
        results.append(result)
    return results, state


def split_blocks(items: list, cuts: list[bool]) -> list[list]:
    """Cut `items` into blocks after every item whose cut flag is set."""
    blocks, current = [], []
    for item, cut in zip(items, cuts):
        current.append(item)
        if cut:
            blocks.append(current)
            current = []
    return blocks + [current] if current else blocks


def wire(result: BlockResult) -> bytes:
    """A block result as canonical bytes (its writes, then its receipts), to
    compare two executions byte for byte."""
    return encoding.encode([[list(w) for w in result.writes], [r.to_wire() for r in result.receipts]])


def accounts(state: DictState) -> dict[tuple[str, str], int]:
    """Every settlement balance in `state`, by (institution, currency)."""
    found = {}
    for state_key, value in state.items.items():
        if state_key.startswith(b"acct/"):
            iid, currency = state_key[len(b"acct/"):].decode().split("/")
            found[iid, currency] = encoding.decode(value)
    return found
