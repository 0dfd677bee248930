"""The data folder's layout (node.runtime.layout): a folder written by a
node of layout 1 is moved to layout 2 when it is opened, and reads the
same after as before: blocks, receipts, locations and every index query;
an upgrade cut off part way goes on when the folder is opened again; a
folder of a layout this node does not know is refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import plyvel
import pytest

from crypto import encoding
from fixtures import build_mixed_chain
from node.devtools.chainbuilder import ChainBuilder
from node.runtime import layout
from node.runtime.ledger import Ledger, TxQuery
from node.runtime.storage import Storage, StorageError

BLOCKS = 7
V1_BLOCK_PREFIXES = {b"b": b"b:", b"c": b"c:", b"r": b"r:", b"x": b"x:"}
QUERIES = [(None, None), ("bank-0", None), ("bank-3", "settlement.instruct"), (None, "settlement.pay"),
           ("nobody", None)]


class Interrupted(BaseException):
    """The process stopping part way through the upgrade."""


def reads(builder: ChainBuilder) -> dict:
    """Everything a node reads of the blocks and the index."""
    storage, ledger, seen = builder.storage, builder.ledger, {}
    for height in range(1, BLOCKS + 1):
        seen["raw", height] = storage.raw_block(height)
        seen["block", height] = stored = storage.block(height)
        seen["senders", height] = ledger.tx_senders(height)
        for index, receipt in enumerate(stored.receipts):
            seen["indexed", height, index] = storage.indexed_tx(height, index)
            seen["location", receipt.tx_hash] = storage.tx_location(receipt.tx_hash)
    for institution, tx_type in QUERIES:
        for first, after in ((1, None), (3, None), (1, (2, 1))):
            found, cursor = ledger.find_txs(TxQuery(institution, tx_type, first, BLOCKS, after, 1000, 1000))
            seen["query", institution, tx_type, first, after] = (found, cursor)
    return seen


def write_layout_1(db) -> None:
    """Rewrite a layout 2 folder as a node of layout 1 wrote it: each kind of a block's rows under its own prefix,
    three index rows for each transaction (all, its institution, its type) keyed by its position."""
    with db.write_batch() as batch:
        for key, value in db.iterator(prefix=layout.CHAIN):
            batch.delete(key)
            batch.put(V1_BLOCK_PREFIXES[key[-1:]] + key[2:-1], value)
        for prefix in (b"a:", b"i:", b"y:"):
            for key, _ in db.iterator(prefix=prefix):
                batch.delete(key)
        for key, value in db.iterator(prefix=b"a:"):
            for institution, tx_type, indexes in encoding.decode(value):
                entry = encoding.encode([institution, tx_type])
                for index in indexes:
                    position = key[2:] + index.to_bytes(4, "big")
                    batch.put(b"a:" + position, entry)
                    if institution is not None:
                        batch.put(b"i:" + institution.encode() + b"\x00" + position, entry)
                    if tx_type is not None:
                        batch.put(b"y:" + tx_type.encode() + b"\x00" + position, entry)
        batch.delete(layout.LAYOUT_KEY)


def keys_by_layout(db) -> tuple[int, int]:
    """How many blocks the folder holds in layout 1 and in layout 2."""
    old = sum(1 for _ in db.iterator(prefix=b"b:", include_value=False))
    new = sum(1 for key in db.iterator(prefix=layout.CHAIN, include_value=False) if key.endswith(layout.BLOCK))
    return old, new


def data_folder(builder: ChainBuilder) -> Path:
    return Path(builder.directory) / "data"


def reopened(builder: ChainBuilder) -> None:
    builder.storage.close()
    opened(builder)


def opened(builder: ChainBuilder) -> None:
    builder.storage = Storage(data_folder(builder), builder.genesis.chain_id)
    builder.ledger = Ledger(builder.storage, builder.genesis)


@pytest.fixture
def chain(tmp_path):
    builder, _ = build_mixed_chain(tmp_path, BLOCKS)
    yield builder
    builder.close()


def test_a_layout_1_folder_is_moved_to_layout_2_and_reads_the_same(chain):
    before = reads(chain)
    write_layout_1(chain.storage.db)
    assert keys_by_layout(chain.storage.db) == (BLOCKS, 0)
    reopened(chain)
    db = chain.storage.db
    assert db.get(layout.LAYOUT_KEY) == layout.LAYOUT
    assert keys_by_layout(db) == (0, BLOCKS)
    for prefix in (b"c:", b"r:", b"x:"):
        assert list(db.iterator(prefix=prefix)) == []
    for prefix in (b"i:", b"y:"):  # every index row is a block's, none a transaction's
        assert {len(key.split(b"\x00", 1)[1]) for key in db.iterator(prefix=prefix, include_value=False)} == {8}
    assert {len(key) for key in db.iterator(prefix=b"a:", include_value=False)} == {2 + 8}
    assert reads(chain) == before
    chain.append(chain.payments(5, start=1000))  # and the node goes on writing in layout 2
    assert keys_by_layout(chain.storage.db) == (0, BLOCKS + 1)


def test_an_upgrade_cut_off_part_way_goes_on_when_the_folder_is_opened_again(chain, monkeypatch):
    before = reads(chain)
    write_layout_1(chain.storage.db)
    chain.storage.close()
    moved = itertools.count(1)
    move_block = layout._move_block

    def cut_off_in_the_second_batch(db, batch, height):
        if next(moved) == 4:
            raise Interrupted
        return move_block(db, batch, height)

    monkeypatch.setattr(layout, "UPGRADE_BLOCKS_PER_BATCH", 2)
    monkeypatch.setattr(layout, "_move_block", cut_off_in_the_second_batch)
    with pytest.raises(Interrupted):
        Storage(data_folder(chain), chain.genesis.chain_id)
    monkeypatch.undo()
    db = plyvel.DB(str(data_folder(chain)))  # the folder as the upgrade left it
    assert keys_by_layout(db) == (BLOCKS - 2, 2)  # the first batch's two blocks, none of the second's
    assert db.get(layout.LAYOUT_KEY) is None
    db.close()
    opened(chain)
    assert keys_by_layout(chain.storage.db) == (0, BLOCKS)
    assert reads(chain) == before


def test_a_folder_of_a_layout_this_node_does_not_know_is_refused(chain):
    chain.storage.db.put(layout.LAYOUT_KEY, b"3")
    chain.storage.close()
    with pytest.raises(StorageError, match="layout '3'.*reads layout 2"):
        Storage(data_folder(chain), chain.genesis.chain_id)
