"""What a contract declares: its transaction types, who may send each, and
the pure function that applies it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True, slots=True)
class Call:
    """One transaction as a contract sees it."""

    institution: str
    roles: tuple[str, ...]
    args: dict[str, Any]
    height: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class TxType:
    apply: Callable[..., dict]
    roles: tuple[str, ...]
