"""Canonical msgpack: the one byte form of every signed or hashed structure.

A value has exactly one encoding: maps have string keys in sorted order,
integers use the shortest form, byte strings are msgpack `bin`, text is
UTF-8 `str`, and floats, extension types and non-string map keys do not
exist. `decode` refuses anything that is not the canonical encoding of the
value it holds, and anything over a size limit, so two nodes that accept the
same bytes always hash and sign the same thing. Given limits on nesting depth
and on the number of elements, `decode` walks the headers first and refuses
an input over either before it builds a single object (an input shorter than
the element limit, which cannot hold more elements than bytes, is built first
and its depth checked on the value), so bytes from a stranger cost time and
memory in proportion to those limits, not to their size.
"""

from __future__ import annotations

import threading
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
    """Check that `value` is encodable and return it with maps in key order.
    A long list that holds only scalars is checked by the types of its items
    as a whole (in C, not item by item) and returned as it is: msgpack packs
    a tuple as it packs a list. Scalar items, and integers in range, need
    no call of their own (their check is inline: most values are small maps
    of strings and integers, and a call per integer was most of the walk)."""
    if depth > DEPTH_MAX:
        raise EncodingError(f"nesting deeper than {DEPTH_MAX}")
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return value
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise EncodingError(f"integer out of 64-bit range: {value}")
        return value
    inner = depth + 1
    if kind is list or kind is tuple:
        if inner > DEPTH_MAX:
            return [_normalize(item, inner) for item in value]  # any item is too deep
        if len(value) >= FLAT_CHECK_ITEMS_MIN and _flat(value):
            return value
        return [item if type(item) in _SCALAR_TYPES or (type(item) is int and INT_MIN <= item <= INT_MAX)
                else _normalize(item, inner) for item in value]
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise EncodingError(f"map key must be str, got {type(key).__name__}")
        if inner > DEPTH_MAX:
            return {key: _normalize(value[key], inner) for key in sorted(value)}
        return {key: item if type(item) in _SCALAR_TYPES or (type(item) is int and INT_MIN <= item <= INT_MAX)
                else _normalize(item, inner) for key, item in sorted(value.items())}
    raise EncodingError(f"type {kind.__name__} has no canonical encoding")


def _flat(items: list | tuple) -> bool:
    """Whether `items` are all scalars or integers in range (then they need no walk)."""
    kinds = set(map(type, items))
    if kinds <= _SCALAR_TYPES:
        return True
    if kinds <= _FLAT_TYPES:
        return all(INT_MIN <= item <= INT_MAX for item in items if type(item) is int)
    return False


_SCALARS = (str, bytes, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)
_FLAT_TYPES = _SCALAR_TYPES | {int}
FLAT_CHECK_ITEMS_MIN = 16  # shorter lists are walked item by item: cheaper than building a set of types


_packers = threading.local()  # one msgpack Packer per thread (a Packer is not thread-safe)
PACKER_BYTES_KEPT_MAX = 1024 * 1024  # a Packer that packed more is dropped: its buffer never shrinks


def _packer() -> msgpack.Packer:
    """This thread's Packer: `msgpack.packb` makes one per call, which cost
    about as much as packing a small value. A Packer empties its buffer
    after each value and after a failed one, but keeps its size."""
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True)
    return packer


def encode(value: Any) -> bytes:
    """Return the canonical encoding of `value`."""
    kind = type(value)
    try:
        if kind in _SCALAR_TYPES or (kind is int and INT_MIN <= value <= INT_MAX):
            packed = _packer().pack(value)
        else:
            packed = _packer().pack(_normalize(value, 0))
    except UnicodeEncodeError:
        raise EncodingError("text with no UTF-8 form (lone surrogate)") from None
    if len(packed) > PACKER_BYTES_KEPT_MAX:
        _packers.packer = None  # a block or a fetch reply: do not keep its buffer for this thread's life
    return packed


def list_header(length: int) -> bytes:
    """The canonical header of a list of `length` items: the list's encoding
    is this header followed by its items' encodings, so canonical items can
    be joined into a canonical list without decoding them."""
    if length < 16:
        return bytes([0x90 | length])
    if length < 2**16:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def list_length(data: bytes) -> int | None:
    """The number of items of the list `data` starts with, read from its
    header alone; None if `data` does not start with a list header."""
    if not data or not (0x90 <= data[0] <= 0x9F or data[0] in (0xDC, 0xDD)):
        return None
    if data[0] <= 0x9F:
        return data[0] & 0x0F
    width = 2 if data[0] == 0xDC else 4
    return int.from_bytes(data[1:1 + width], "big") if len(data) > width else None


def decode_trusted(data: bytes) -> Any:
    """Decode bytes this node wrote itself (its own state, its own store):
    no canonical check, which `decode` does for anything from outside."""
    return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)


def decode(data: bytes, size_max: int = SIZE_MAX_DEFAULT, *, depth_max: int = DEPTH_MAX,
           elements_max: int | None = None) -> Any:
    """Decode canonical bytes; raise DecodeError for anything else.

    With `elements_max` (every value counts, the outermost and map keys
    included) or a `depth_max` below DEPTH_MAX, the headers are scanned
    first and an input over either limit is refused before any object is
    built. Without them, the depth limit is DEPTH_MAX, checked on the built
    value, and the number of elements is bounded only by `size_max`. (No
    value deeper than DEPTH_MAX has a canonical form, so a larger
    `depth_max` admits nothing more.)

    An input of at most `elements_max` bytes (or with only a depth limit)
    cannot hold more elements than the limit, as every element takes a byte
    at least: building it costs no more than the limit allows, so it is
    built first and its depth checked on the value, which costs far less
    than reading its headers in Python (a transaction's body is such an
    input). Both ways refuse the same inputs.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("expected bytes")
    if len(data) > size_max:
        raise DecodeError(f"message of {len(data)} bytes exceeds limit of {size_max}")
    depth_checked = depth_max >= DEPTH_MAX
    if elements_max is not None and len(data) > elements_max:
        check_shape(data, depth_max, elements_max)
        depth_checked = True
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
    if not depth_checked and not _within_depth(value, 0, depth_max):
        raise DecodeError(f"nesting deeper than {depth_max}")
    try:
        canonical = encode(value)
    except EncodingError as exc:
        raise DecodeError(f"not canonical: {exc}") from None
    if canonical != bytes(data):
        raise DecodeError("not canonical: bytes differ from the canonical encoding")
    return value


def _within_depth(value: Any, depth: int, depth_max: int) -> bool:
    """Whether nothing in `value`, itself at `depth`, lies deeper than
    `depth_max` (a map's keys lie one deeper than the map, as its values);
    the walk goes no deeper than depth_max + 1."""
    kind = type(value)
    if kind is list:
        children = value
    elif kind is dict:
        children = value.values()
    else:
        return True
    if not value:
        return True
    if depth >= depth_max:
        return False
    inner = depth + 1
    for child in children:
        if (type(child) is list or type(child) is dict) and not _within_depth(child, inner, depth_max):
            return False
    return True


# --- the shape of an encoding, read from its headers alone ------------------------

_SKIP, _SIZED, _EXT, _ARRAY, _MAP = range(5)


def _header_table() -> tuple:
    """For each first byte, (kind, n): _SKIP, n more bytes; _SIZED, a payload
    whose length is in the next n bytes; _EXT, the same plus a type byte;
    _ARRAY or _MAP, n items, or with n < 0 a count in the next -n bytes.
    None: no msgpack type starts with that byte."""
    table: list = [None] * 256
    for byte in range(256):
        if byte <= 0x7F or byte >= 0xE0:
            table[byte] = (_SKIP, 0)
        elif byte <= 0x8F:
            table[byte] = (_MAP, byte & 0x0F)
        elif byte <= 0x9F:
            table[byte] = (_ARRAY, byte & 0x0F)
        elif byte <= 0xBF:
            table[byte] = (_SKIP, byte & 0x1F)
    fixed = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1,
             0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
    for byte, size in fixed.items():
        table[byte] = (_SKIP, size)
    for byte, width in {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}.items():
        table[byte] = (_SIZED, width)
    for byte, width in {0xC7: 1, 0xC8: 2, 0xC9: 4}.items():
        table[byte] = (_EXT, width)
    table[0xDC], table[0xDD] = (_ARRAY, -2), (_ARRAY, -4)
    table[0xDE], table[0xDF] = (_MAP, -2), (_MAP, -4)
    return tuple(table)


_HEADERS = _header_table()


def check_shape(data: bytes, depth_max: int, elements_max: int) -> int:
    """Walk the msgpack headers of `data` without building any value; return
    the number of elements (every value, map keys included), or raise
    DecodeError if a value lies deeper than `depth_max` (the outermost value
    is at depth 0), if there are more than `elements_max` elements, or if the
    input ends inside a value. What the headers hold is left to `decode`."""
    end, position, elements = len(data), 0, 0
    unread = [1]  # per open container (and the outermost value), the items still to read
    while unread:
        if not unread[-1]:
            unread.pop()
            continue
        unread[-1] -= 1
        if position >= end:
            raise DecodeError("malformed msgpack: input ends inside a value")
        elements += 1
        if elements > elements_max:
            raise DecodeError(f"more than {elements_max} elements")
        if len(unread) - 1 > depth_max:
            raise DecodeError(f"nesting deeper than {depth_max}")
        header = _HEADERS[data[position]]
        if header is None:
            raise DecodeError(f"malformed msgpack: no type starts with byte 0x{data[position]:02x}")
        kind, size = header
        position += 1
        if kind == _SKIP:
            position += size
        elif kind == _SIZED or kind == _EXT:
            length = int.from_bytes(data[position:position + size], "big")
            position += size + length + (kind == _EXT)
        else:
            if size < 0:
                width = -size
                size = int.from_bytes(data[position:position + width], "big")
                position += width
            unread.append(size * 2 if kind == _MAP else size)
    return elements
