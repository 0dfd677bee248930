"""Checks for fields read from untrusted bytes: every decoder in consensus/
(messages, the snapshot) takes a field through one of these, and anything
else raises MessageError, the sender's fault. Pure functions: this module
must not import the rest of consensus/, and does no I/O.
"""

from __future__ import annotations

from typing import Any, Callable

from crypto.hashing import HASH_SIZE
from crypto.keys import SIGNATURE_SIZE


class MessageError(ValueError):
    """Bytes from a peer that do not form a valid message: the peer's fault."""


def as_int(value: Any, name: str) -> int:
    if type(value) is not int or value < 0:
        raise MessageError(f"{name} must be a non-negative integer")
    return value


def as_hash(value: Any, name: str) -> bytes:
    if type(value) is not bytes or len(value) != HASH_SIZE:
        raise MessageError(f"{name} must be {HASH_SIZE} bytes")
    return value


def as_signature(value: Any) -> bytes:
    if type(value) is not bytes or len(value) != SIGNATURE_SIZE:
        raise MessageError(f"signature must be {SIGNATURE_SIZE} bytes")
    return value


def as_list(value: Any, name: str, length: int | None = None) -> list:
    if type(value) is not list or (length is not None and len(value) != length):
        expected = f" of {length} items" if length is not None else ""
        raise MessageError(f"{name} must be a list{expected}")
    return value


def as_optional(value: Any, parse: Callable[[Any], Any]) -> Any:
    return None if value is None else parse(value)


def as_signatures(value: Any) -> tuple[tuple[int, bytes], ...]:
    """A certificate's (replica, signature) pairs."""
    return tuple((as_int(as_list(pair, "signature pair", 2)[0], "replica"), as_signature(pair[1]))
                 for pair in as_list(value, "signatures"))
