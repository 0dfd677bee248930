"""Where a block's rows and the transaction index live in the data folder
(layout 2), and the upgrade of a folder written in layout 1.

The rows a block adds are of two kinds, and LevelDB's cost depends on which:

    z:<height><kind>              the block's own rows, one stream in height
                                  order at the end of the key space: kind b the
                                  block, c its certificate, r its receipts,
                                  x its state and receipts roots
    a:<height>                    the transaction index of the block, all of it
    i:<institution>\\0<height>     the same, only what the institution sent
    y:<type>\\0<height>            the same, only the transactions of that type

An index row holds groups [institution, type, [index, ...]]: the block's
transactions of one sender's institution and type (None for what is
unknown or undecodable), in order of their first index.

Why this shape. LevelDB merges every file it writes out with the files of
the next level whose key ranges overlap it. Rows keyed by a height that
only grows, and that sort after every other key, overlap nothing below
them, so the bulk of the chain (the blocks and receipts) moves down the
levels without being rewritten. Layout 1 kept each kind under its own
prefix (b:, c:, r:, x:), so each ended inside the key space and every
level's file that spanned one end overlapped all that was appended there;
and it kept three index rows for each transaction (a:, i:, y:, by position).
Measured offline over 700,000 payments, layout 2 spends about 10 us a
transaction less of CPU on the ledger and LevelDB, and what LevelDB's
compaction costs grows less as the chain does.
"""

from __future__ import annotations

import logging
from operator import itemgetter
from typing import Iterable, NamedTuple

from crypto import encoding

LAYOUT_KEY = b"m:layout"
LAYOUT = b"2"
CHAIN = b"z:"
BLOCK, CERTIFICATE, RECEIPTS, ROOTS = b"b", b"c", b"r", b"x"
HEIGHT_BYTES = 8
INDEX_ALL = b"a:"
INDEX_SEPARATOR = b"\x00"  # ends an institution id or a type in an index key (ids hold none)
UPGRADE_BLOCKS_PER_BATCH = 256               # blocks moved to layout 2 in one synced batch, at most,
UPGRADE_BATCH_BYTES_MAX = 32 * 1024 * 1024   # and no more once their own rows reach this many bytes (the index
                                             # rows' deletes and puts add up to as much again)

log = logging.getLogger("consort.storage")


def height_key(height: int) -> bytes:
    return height.to_bytes(HEIGHT_BYTES, "big")


def chain_key(height: int, kind: bytes) -> bytes:
    """The key of one of block `height`'s own rows (BLOCK, CERTIFICATE, RECEIPTS, ROOTS)."""
    return CHAIN + height_key(height) + kind


def index_by_institution(institution: str) -> bytes:
    """The key prefix of the index rows of what `institution` sent."""
    return b"i:" + institution.encode() + INDEX_SEPARATOR


def index_by_type(tx_type: str) -> bytes:
    """The key prefix of the index rows of the transactions of type `tx_type`."""
    return b"y:" + tx_type.encode() + INDEX_SEPARATOR


def has_type_index(tx_type: str | None) -> bool:
    """Whether transactions of `tx_type` have rows under index_by_type (a type holding the separator has none)."""
    return tx_type is not None and INDEX_SEPARATOR.decode() not in tx_type


class IndexedTx(NamedTuple):
    """What the node indexes of one included transaction: its hash, the
    institution that sent it (the block result's; None: an unknown key or an
    undecodable transaction), its type (None: undecodable) and whether this
    inclusion used its nonce (its receipt's code is not one of
    contracts.executor.NONCE_UNUSED_CODES). A named tuple, made per
    transaction: a frozen dataclass cost several times more."""

    tx_hash: bytes
    institution: str | None
    type: str | None
    nonce_used: bool = False


def index_rows(height: int, entries: Iterable[tuple[int, tuple[str | None, str | None]]]) -> list[tuple[bytes, bytes]]:
    """The index rows of block `height`, from (index, (institution, type)) of
    each of its transactions, by index."""
    groups: dict[tuple[str | None, str | None], list[int]] = {}
    for index, entry in entries:
        found = groups.get(entry)
        if found is None:
            groups[entry] = [index]
        else:
            found.append(index)
    rows: dict[bytes, list] = {INDEX_ALL: []}
    for (institution, tx_type), indexes in groups.items():
        group = [institution, tx_type, indexes]
        rows[INDEX_ALL].append(group)
        if institution is not None:
            rows.setdefault(index_by_institution(institution), []).append(group)
        if has_type_index(tx_type):
            rows.setdefault(index_by_type(tx_type), []).append(group)
    suffix = height_key(height)
    return [(prefix + suffix, encoding.encode(groups_of_row)) for prefix, groups_of_row in rows.items()]


def row_entries(raw: bytes) -> list[tuple[int, str | None, str | None]]:
    """(index, institution, type) of each transaction an index row holds, by index."""
    entries = [(index, institution, tx_type)
               for institution, tx_type, indexes in encoding.decode_trusted(raw) for index in indexes]
    entries.sort(key=itemgetter(0))  # by index alone (None, an unknown sender or type, sorts with nothing)
    return entries


def row_height(prefix: bytes, key: bytes) -> int | None:
    """The height of an index row's key under `prefix` (None: a longer key that only shares the prefix)."""
    suffix = key[len(prefix):]
    return int.from_bytes(suffix, "big") if len(suffix) == HEIGHT_BYTES else None


# ------------------------------------------------------------------ layout 1

V1_KINDS = ((b"b:", BLOCK), (b"c:", CERTIFICATE), (b"r:", RECEIPTS), (b"x:", ROOTS))
V1_POSITION_BYTES = HEIGHT_BYTES + 4  # layout 1's index keys ended in height and index in the block


def upgrade_from_1(db) -> int:
    """Move a layout 1 folder's blocks and index to layout 2, a batch of
    blocks at a time; return how many blocks were moved. Each batch moves
    whole blocks (their rows written anew and the old ones deleted), so a
    crash leaves every block in one layout or the other, and opening the
    folder again moves the rest. The caller records LAYOUT once this returns."""
    moved, start = 0, b"b:"
    while True:
        last, size = None, 0
        with db.write_batch(sync=True, transaction=True) as batch:
            for key in db.iterator(start=start, stop=b"b;", include_value=False):  # the batch is not yet written
                last = int.from_bytes(key[2:], "big")
                size += _move_block(db, batch, last)
                moved += 1
                if moved % UPGRADE_BLOCKS_PER_BATCH == 0 or size >= UPGRADE_BATCH_BYTES_MAX:
                    break
        if last is None:
            return moved
        start = b"b:" + height_key(last + 1)
        log.info("storage: %d blocks moved to layout %s (through height %d)", moved, LAYOUT.decode(), last)


def _move_block(db, batch, height: int) -> int:
    """Put block `height`'s rows in layout 2 and delete its layout 1 rows, in `batch`; the bytes it moved."""
    suffix, size = height_key(height), 0
    for old_prefix, kind in V1_KINDS:
        value = db.get(old_prefix + suffix)
        if value is not None:
            batch.put(chain_key(height, kind), value)
            batch.delete(old_prefix + suffix)
            size += len(value)
    entries = []
    for key, value in db.iterator(prefix=INDEX_ALL + suffix):
        if len(key) - len(INDEX_ALL) != V1_POSITION_BYTES:
            continue
        position = key[len(INDEX_ALL):]
        institution, tx_type = encoding.decode_trusted(value)
        entries.append((int.from_bytes(position[HEIGHT_BYTES:], "big"), (institution, tx_type)))
        batch.delete(key)
        if institution is not None:
            batch.delete(index_by_institution(institution) + position)
        if has_type_index(tx_type):
            batch.delete(index_by_type(tx_type) + position)
    for key, value in index_rows(height, entries):
        batch.put(key, value)
    return size

