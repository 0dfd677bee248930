"""The one narrow interface between the executor and a contract.

A contract declares its transaction types: for each, the pure function that
applies it, the roles allowed to send it, its argument schema, the checks
across its arguments that need no state (`check`), and the other contracts
it needs switched on. `apply` sees only arguments that passed the schema
and `check`; the node can run both before a transaction reaches a block.
A transaction type is named `<contract>.<operation>` (e.g.
`settlement.pay`). `apply(state, call)` returns the receipt's output map
(canonical values only) or raises ContractError; it must be deterministic:
integers only, the block's height and timestamp for time, and sorted
iteration.

A contract may also name an end-of-block hook: `hook(state, height)` runs on
the block's state after its last transaction and returns a `BlockEnd` (writes
that belong to the block, and a validator set that orders the blocks after
it) or None. Must not import the executor, the registry or any contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from contracts.schema import Field


@dataclass(frozen=True, slots=True)
class Call:
    """One transaction as a contract sees it."""

    institution: str
    roles: tuple[str, ...]
    args: dict[str, Any]
    height: int
    timestamp_ms: int
    tx_hash: bytes = b"\x00" * 32
    sender: bytes = b"\x00" * 32
    chain_id: bytes = b""  # the block's chain, for signatures a contract checks (mpc's attestations)


@dataclass(frozen=True, slots=True)
class TxType:
    apply: Callable[..., dict]
    roles: tuple[str, ...]
    fields: tuple[Field, ...] = ()
    requires: tuple[str, ...] = ()  # other contracts that must be switched on
    check: Callable[[dict], None] | None = None  # args -> None or ContractError; no state, sender or height


@dataclass(frozen=True, slots=True)
class BlockEnd:
    """What an end-of-block hook adds to a block: writes (None deletes) in the
    block's own write set and state root, and, when the validator set changes,
    the node keys that order the blocks after it, in replica order."""

    writes: tuple[tuple[bytes, bytes | None], ...]
    validators: tuple[bytes, ...] | None = None


EndOfBlockHook = Callable[[Any, int], "BlockEnd | None"]
