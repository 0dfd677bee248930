"""Argument schemas for transaction types: which fields, of which type, in
which range. A transaction whose args do not fit is refused with `bad_args`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AMOUNT_MAX = 2**62


class ContractError(Exception):
    """A transaction that fails: `code` goes into its receipt."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Field:
    """One argument: its type (str, int, bytes, bool, list or dict), whether it
    is required, the range of an int, and the length range of a str, bytes,
    list or dict (elements of lists and maps are checked by the contract)."""

    name: str
    kind: type
    required: bool = True
    minimum: int = 0
    maximum: int = AMOUNT_MAX
    length_max: int = 64

    def check(self, value: Any) -> None:
        if type(value) is not self.kind:
            raise ContractError("bad_args", f"{self.name} must be {self.kind.__name__}")
        if self.kind is int and not self.minimum <= value <= self.maximum:
            raise ContractError("bad_args", f"{self.name} must be in [{self.minimum}, {self.maximum}]")
        if self.kind in (str, bytes, list, dict) and not self.minimum <= len(value) <= self.length_max:
            raise ContractError("bad_args", f"{self.name} length must be in [{self.minimum}, {self.length_max}]")


def check_args(fields: tuple[Field, ...], args: dict[str, Any]) -> None:
    known = {f.name for f in fields}
    extra = sorted(set(args) - known)
    if extra:
        raise ContractError("bad_args", f"unknown field {extra[0]}")
    for f in fields:
        if f.name in args:
            f.check(args[f.name])
        elif f.required:
            raise ContractError("bad_args", f"missing field {f.name}")
