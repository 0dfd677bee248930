"""Argument schemas for transaction types: which fields, of which type, in
which range, down to the elements of lists and maps. A transaction whose
args do not fit is refused with `bad_args`. Checking a schema needs no
state, so the node can refuse a misfit before it reaches a block.

`AMOUNT_MAX` is the one bound on every integer a contract accepts or stores:
amounts, balances, supplies, units, face value times units, sums of queued
instructions, cycle totals and counters. The canonical encoder stops at
2^64 - 1; keeping every stored value at or under 2^62 leaves room for the
sums contracts compute before they check them with `bounded`, which
refuses (`overflow`) what would exceed it, so it is never stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AMOUNT_MAX = 2**62


class ContractError(Exception):
    """A transaction that fails: `code` and `detail` go into its receipt,
    which every node reads. The code is stable (clients rely on it); the
    detail names the rule that failed and never a figure of the state that
    the transaction did not carry itself (a balance, holding, cap, price,
    queue count or amount, a pledge's or offer's terms, a parameter's
    value), nor an institution other than the sender and those the
    transaction names."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def bounded(value: int, what: str) -> int:
    """`value`, if its magnitude is at most AMOUNT_MAX; else ContractError
    `overflow`: a sum that would exceed the maximum is refused, never stored."""
    if not -AMOUNT_MAX <= value <= AMOUNT_MAX:
        raise ContractError("overflow", f"{what} would exceed 2^62")
    return value


_SIZED_KINDS = frozenset({str, bytes, list, dict})  # the kinds whose length a Field bounds


@dataclass(frozen=True, slots=True)
class Field:
    """One argument: its type (str, int, bytes, bool, list or dict), whether it
    is required, the range of an int, the length range of a str, bytes, list
    or dict (a hash or key states one exact length), and the schema of each
    element of a list or value of a map (`items`) and of each key of a map
    (`keys`)."""

    name: str
    kind: type
    required: bool = True
    minimum: int = 0
    maximum: int = AMOUNT_MAX
    length_max: int = 64
    items: Field | None = None
    keys: Field | None = None

    def check(self, value: Any) -> None:
        kind = self.kind
        if type(value) is not kind:
            raise ContractError("bad_args", f"{self.name} must be {kind.__name__}")
        if kind is int:
            if not self.minimum <= value <= self.maximum:
                raise ContractError("bad_args", f"{self.name} must be in [{self.minimum}, {self.maximum}]")
        elif kind in _SIZED_KINDS and not self.minimum <= len(value) <= self.length_max:
            raise ContractError("bad_args", f"{self.name} length must be in [{self.minimum}, {self.length_max}]")
        if self.keys is not None:
            for key in value:
                self.keys.check(key)
        if self.items is not None:
            for item in value.values() if self.kind is dict else value:
                self.items.check(item)


NAMES_MAX = 1024  # schemas whose field names `_names` keeps (the registry declares a few hundred)
_STR_ONLY = frozenset({str})
_names_by_id: dict[int, tuple[tuple[Field, ...], frozenset[str]]] = {}


def _names(fields: tuple[Field, ...]) -> frozenset[str]:
    """The field names of a schema, made once per schema: each entry holds its
    schema, so the id it is filed under cannot be reused by another."""
    entry = _names_by_id.get(id(fields))
    if entry is None or entry[0] is not fields:
        if len(_names_by_id) >= NAMES_MAX:
            _names_by_id.clear()
        entry = _names_by_id[id(fields)] = (fields, frozenset(f.name for f in fields))
    return entry[1]


def check_args(fields: tuple[Field, ...], args: dict[str, Any]) -> None:
    if type(args) is not dict or not _STR_ONLY.issuperset(map(type, args)):
        raise ContractError("bad_args", "args must be a map with string keys")
    known = _names(fields)
    if not known.issuperset(args):
        raise ContractError("bad_args", f"unknown field {min(set(args) - known)}")
    for f in fields:
        if f.name in args:
            f.check(args[f.name])
        elif f.required:
            raise ContractError("bad_args", f"missing field {f.name}")
