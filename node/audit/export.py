"""The chain as one file: a stream an auditor can verify offline.

    "CONSORT-EXPORT/1\\n"
    then records, each a 4-byte big-endian length and canonical msgpack:
      ["chain", chain_id]
      ["block", block, certificate, [receipt bytes, ...]]   one per height, in order
      ["end", last_height]

Receipts travel as the exact bytes the receipts root was computed over. The
reader yields records lazily, so a file of any length is verified in
constant memory; it refuses truncated or malformed files with ExportError.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Iterator

import msgpack

from consensus.messages import Block, CommitCertificate, MessageError
from crypto import encoding

MAGIC = b"CONSORT-EXPORT/1\n"
RECORD_SIZE_MAX = 64 * 1024 * 1024


class ExportError(ValueError):
    """A file that is not a well-formed export."""


RECORD_LENGTH_BYTES = 4


def frame_bytes(raw: bytes) -> bytes:
    """A record's canonical bytes as they stand in the stream: length, then the bytes."""
    return len(raw).to_bytes(RECORD_LENGTH_BYTES, "big") + raw


def frame(record: list) -> bytes:
    """One record, encoded canonically and framed."""
    return frame_bytes(encoding.encode(record))


def write_record(out: BinaryIO, record: list) -> None:
    out.write(frame(record))


def block_record(raw_block: bytes, raw_certificate: bytes, receipts: list[bytes]) -> bytes:
    """A framed block record built from stored canonical bytes without decoding
    them: a 4-element array header, then each element's own encoding."""
    return frame_bytes(b"\x94" + encoding.encode("block") + raw_block + raw_certificate + encoding.encode(receipts))


def export_storage(storage, out: BinaryIO, progress=None) -> int:
    """Write the whole stored chain to `out`; return the last height written."""
    tip = storage.tip()
    height = 0 if tip is None else tip.height
    out.write(MAGIC)
    write_record(out, ["chain", storage.chain_id])
    for h in range(1, height + 1):
        raw = storage.raw_block(h)
        if raw is None:
            raise ExportError(f"block {h} missing from storage")
        out.write(block_record(*raw))
        if progress is not None:
            progress(h, height)
    write_record(out, ["end", height])
    return height


def declared_height(path: Path) -> int | None:
    """The height the file's end record claims, read from its last bytes
    without reading the rest; None if it does not end with an end record.
    A hint for showing progress only: nothing is checked, and the verifier
    judges the end record when it gets there."""
    end_frame_max = RECORD_LENGTH_BYTES + len(encoding.encode(["end", 2**64 - 1]))
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - end_frame_max))
            tail = handle.read()
    except OSError:
        return None
    for start in range(len(tail) - RECORD_LENGTH_BYTES):
        if int.from_bytes(tail[start:start + RECORD_LENGTH_BYTES], "big") != len(tail) - start - RECORD_LENGTH_BYTES:
            continue
        try:
            record = msgpack.unpackb(tail[start + RECORD_LENGTH_BYTES:], raw=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            continue
        if isinstance(record, list) and len(record) == 2 and record[0] == "end" and isinstance(record[1], int):
            return record[1] if record[1] >= 0 else None
    return None


def read_records(source: BinaryIO) -> Iterator[list]:
    if source.read(len(MAGIC)) != MAGIC:
        raise ExportError("not a Consort export (bad magic)")
    while True:
        prefix = source.read(RECORD_LENGTH_BYTES)
        if not prefix:
            return
        if len(prefix) != RECORD_LENGTH_BYTES:
            raise ExportError("truncated record length")
        size = int.from_bytes(prefix, "big")
        if size > RECORD_SIZE_MAX:
            raise ExportError(f"record of {size} bytes exceeds the limit")
        raw = source.read(size)
        if len(raw) != size:
            raise ExportError("truncated record")
        try:
            record = msgpack.unpackb(raw, raw=False, strict_map_key=True)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ExportError(f"malformed record: {exc}") from None
        if not isinstance(record, list) or not record or not isinstance(record[0], str):
            raise ExportError("malformed record")
        yield record


def read_export(path: Path) -> tuple[bytes, Iterator[tuple[Block, CommitCertificate, list[bytes]]]]:
    """The chain id and an iterator over (block, certificate, receipt bytes)."""
    handle = open(path, "rb")
    records = read_records(handle)
    first = next(records, None)
    if first is None or first[0] != "chain" or len(first) != 2 or not isinstance(first[1], bytes):
        handle.close()
        raise ExportError("an export starts with the chain record")

    def blocks() -> Iterator[tuple[Block, CommitCertificate, list[bytes]]]:
        ended = False
        with handle:
            for record in records:
                if ended:
                    raise ExportError("records after the end record")
                if record[0] == "end":
                    ended = True
                    continue
                if record[0] != "block" or len(record) != 4 or not isinstance(record[3], list):
                    raise ExportError("malformed block record")
                try:
                    block, certificate = Block.from_wire(record[1]), CommitCertificate.from_wire(record[2])
                except MessageError as exc:
                    raise ExportError(f"malformed block record: {exc}") from None
                if not all(isinstance(r, bytes) for r in record[3]):
                    raise ExportError("receipts must be byte strings")
                yield block, certificate, record[3]
        if not ended:
            raise ExportError("export is truncated: no end record")

    return first[1], blocks()
