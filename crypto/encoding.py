"""Canonical msgpack: the one byte form of every signed or hashed structure.

A value has exactly one encoding: maps have string keys in sorted order,
integers use the shortest form, byte strings are msgpack `bin`, text is
UTF-8 `str`, and floats, extension types and non-string map keys do not
exist. `decode` refuses anything that is not the canonical encoding of the
value it holds, and anything over a size limit, so two nodes that accept the
same bytes always hash and sign the same thing.
"""

from __future__ import annotations

from typing import Any

import msgpack

SIZE_MAX_DEFAULT = 4 * 1024 * 1024
DEPTH_MAX = 32
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1


class EncodingError(ValueError):
    """A value that has no canonical encoding (our caller's bug or bad input)."""


class DecodeError(ValueError):
    """Bytes that are not a canonical encoding: the sender's fault."""


def _normalize(value: Any, depth: int) -> Any:
    """Check that `value` is encodable and return it with maps in key order."""
    if depth > DEPTH_MAX:
        raise EncodingError(f"nesting deeper than {DEPTH_MAX}")
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return value
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise EncodingError(f"integer out of 64-bit range: {value}")
        return value
    if kind is list or kind is tuple:
        return [_normalize(item, depth + 1) for item in value]
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise EncodingError(f"map key must be str, got {type(key).__name__}")
        return {key: _normalize(value[key], depth + 1) for key in sorted(value)}
    raise EncodingError(f"type {kind.__name__} has no canonical encoding")


_SCALARS = (str, bytes, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def encode(value: Any) -> bytes:
    """Return the canonical encoding of `value`."""
    kind = type(value)
    try:
        if kind in _SCALAR_TYPES or (kind is int and INT_MIN <= value <= INT_MAX):
            return msgpack.packb(value, use_bin_type=True)
        return msgpack.packb(_normalize(value, 0), use_bin_type=True)
    except UnicodeEncodeError:
        raise EncodingError("text with no UTF-8 form (lone surrogate)") from None


def decode_trusted(data: bytes) -> Any:
    """Decode bytes this node wrote itself (its own state, its own store):
    no canonical check, which `decode` does for anything from outside."""
    return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)


def decode(data: bytes, size_max: int = SIZE_MAX_DEFAULT) -> Any:
    """Decode canonical bytes; raise DecodeError for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("expected bytes")
    if len(data) > size_max:
        raise DecodeError(f"message of {len(data)} bytes exceeds limit of {size_max}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
        )
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise DecodeError(f"malformed msgpack: {exc}") from None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed msgpack: {exc}") from None
    try:
        canonical = encode(value)
    except EncodingError as exc:
        raise DecodeError(f"not canonical: {exc}") from None
    if canonical != bytes(data):
        raise DecodeError("not canonical: bytes differ from the canonical encoding")
    return value
