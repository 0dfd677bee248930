"""What a contract declares: its transaction types, the argument schema and
roles allowed for each, and the pure function that applies it.

A transaction type is named `<contract>.<operation>` (e.g. `settlement.pay`);
governance can switch a contract off as a whole (except governance itself).
`apply(state, call)` returns the receipt's output map (canonical values
only) or raises ContractError; it must be deterministic: integers only, the
block's height and timestamp for time, and sorted iteration.
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


@dataclass(frozen=True, slots=True)
class TxType:
    apply: Callable[..., dict]
    roles: tuple[str, ...]
    fields: tuple[Field, ...] = ()
