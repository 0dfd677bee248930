"""The bulk part of a genesis state: records a genesis takes from a file
(`bulk_state` in the genesis: file name, SHA-256, record count) because
they are too many to list in the genesis itself, such as an opening
register of millions of assets.

File format, version 1:

    MAGIC                       b"consort-bulk-state/1\\n"
    then, per record:           key length (2 bytes, big-endian),
                                value length (4 bytes, big-endian), key, value

Records come in strictly ascending key order (bytewise), so a reader finds
a repeated key by comparing neighbours and a node writes them into LevelDB
in order. Only the assets contract's keys may appear (`KEY_PREFIXES`): the
file can neither collide with `genesis_state` nor set a balance, a key or
a governance record. Values are not decoded here (that would double the
time a 10-million-record load takes): like the rest of the genesis, the
consortium vouches for them through the hash, and the writer
(node.devtools.bulk_state) makes them with the contract's own record
functions and canonical encoding.

`read_records` checks framing, order, prefixes and sizes as it goes and the
count and SHA-256 (of the whole file, what `sha256sum` prints) at the end,
so a reader must treat whatever it took from the file as void when it
raises: the node's loader builds the data folder aside and moves it into
place only afterwards; the auditor stops. Pure: bytes in, records out; the
caller opens the file.
"""

from __future__ import annotations

import hashlib
import heapq
import struct
from collections.abc import Iterable, Iterator

from contracts.genesis import BulkState
from crypto import smt

MAGIC = b"consort-bulk-state/1\n"
KEY_PREFIXES = (b"assets/", b"seq/assets")  # contracts.assets_state: records, histories, offers, id counters
KEY_SIZE_MAX = smt.KEY_SIZE_MAX
VALUE_SIZE_MAX = 64 * 1024  # an asset record with 32 holders, each pledged, is a few KB
_HEAD = struct.Struct(">HI")


class BulkStateError(ValueError):
    """A bulk state file that breaks the format or does not match its genesis."""


def key_allowed(key: bytes) -> bool:
    return 0 < len(key) <= KEY_SIZE_MAX and key.startswith(KEY_PREFIXES)


def encode_record(key: bytes, value: bytes) -> bytes:
    """One record's bytes (the file is MAGIC, then records in key order)."""
    if not key_allowed(key):
        raise BulkStateError(f"key {key[:64]!r}: not under {KEY_PREFIXES} or longer than {KEY_SIZE_MAX} bytes")
    if len(value) > VALUE_SIZE_MAX:
        raise BulkStateError(f"key {key[:64]!r}: a value of {len(value)} bytes exceeds {VALUE_SIZE_MAX}")
    return _HEAD.pack(len(key), len(value)) + key + value


def read_records(chunks: Iterable[bytes], declared: BulkState) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) records of a bulk state file read as `chunks` of
    bytes; BulkStateError, naming the record, for a framing, order, prefix
    or size fault, and after the last record for a count or SHA-256 other
    than `declared`'s. Everything yielded is void if it raises."""
    digest = hashlib.sha256()
    buffer, position, count, previous = b"", 0, 0, b""
    magic_read = False
    for chunk in chunks:
        digest.update(chunk)
        buffer = buffer[position:] + chunk
        position = 0
        if not magic_read:
            if len(buffer) < len(MAGIC):
                continue
            if not buffer.startswith(MAGIC):
                raise BulkStateError("not a bulk state file (version 1): the first line is wrong")
            position, magic_read = len(MAGIC), True
        end = len(buffer)
        while end - position >= _HEAD.size:
            key_length, value_length = _HEAD.unpack_from(buffer, position)
            if key_length > KEY_SIZE_MAX or value_length > VALUE_SIZE_MAX:
                raise BulkStateError(f"record {count + 1}: a key or value over the size limits")
            stop = position + _HEAD.size + key_length + value_length
            if stop > end:
                break
            key = buffer[position + _HEAD.size:position + _HEAD.size + key_length]
            if key <= previous or not key.startswith(KEY_PREFIXES):
                raise BulkStateError(f"record {count + 1}: key {key[:64]!r} is out of order, repeated or not "
                                     f"under {KEY_PREFIXES}")
            count += 1
            if count > declared.keys:
                raise BulkStateError(f"more records than the {declared.keys} the genesis declares")
            yield key, buffer[stop - value_length:stop]
            previous, position = key, stop
    if not magic_read or position != len(buffer):
        raise BulkStateError("the file ends inside its first line or a record")
    if count != declared.keys:
        raise BulkStateError(f"{count} records, the genesis declares {declared.keys}")
    if digest.digest() != declared.sha256:
        raise BulkStateError(f"SHA-256 {digest.hexdigest()}, the genesis declares {declared.sha256.hex()}")


def with_bulk_records(state: dict[bytes, bytes], records: Iterable[tuple[bytes, bytes]]
                      ) -> Iterator[tuple[bytes, bytes]]:
    """The whole state before block 1 in key order: `state` (genesis_state,
    sorted) merged with the bulk `records` (sorted); BulkStateError if a key
    is in both (the prefixes rule it out; this is the check that says so)."""
    previous = None
    for key, value in heapq.merge(state.items(), records, key=lambda item: item[0]):
        if key == previous:
            raise BulkStateError(f"key {key[:64]!r} is both in the genesis and in its bulk state")
        previous = key
        yield key, value
