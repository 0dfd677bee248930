"""The node's transaction index (LevelDB, written in each block's one
batch): by the sender's institution, by type and in chain order, read in
bounded pages with a cursor, each query giving exactly the transactions
that match, whatever the page size."""

from __future__ import annotations

import itertools

import pytest

from crypto.keys import KeyPair
from contracts.tx import sign_tx
from node.devtools.chainbuilder import ChainBuilder
from node.runtime.ledger import TxQuery

BLOCKS = 5
TYPES = ("settlement.pay", "settlement.instruct")


class Raw(bytes):
    """Bytes that are no transaction, included in a block as they are."""

    def wire(self) -> bytes:
        return bytes(self)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Blocks of payments and instructions from four members, an
    undecodable transaction and one from an unregistered key; the truth:
    (height, index) -> (institution, type)."""
    builder = ChainBuilder(tmp_path_factory.mktemp("index"))
    truth: dict[tuple[int, int], tuple[str | None, str | None]] = {}
    stranger = KeyPair.generate().signer()
    counter = itertools.count()
    for height in range(1, BLOCKS + 1):
        txs = []
        for _ in range(height + 2):
            n = next(counter)
            payer, payee = builder.members[n % 4], builder.members[(n + 1) % 4]
            tx_type = TYPES[n % 3 == 0]
            txs.append(builder.tx(payer, tx_type, {"from": payer, "to": payee, "currency": "EUR", "amount": 1 + n}))
            truth[height, len(txs) - 1] = (payer, tx_type)
        if height == 2:
            txs.append(Raw(b"\x92\xc4\x01x"))
            truth[height, len(txs) - 1] = (None, None)
            txs.append(sign_tx(stranger, builder.genesis.chain_id, 1, "settlement.pay", {}))
            truth[height, len(txs) - 1] = (None, "settlement.pay")
        builder.append(txs)
    yield builder, truth
    builder.close()


def pages(ledger, count_max: int, scan_max: int = 10_000, **query) -> list[tuple[int, int]]:
    """Every position the query finds, page by page."""
    found, after = [], None
    for _ in range(1000):
        page, after = ledger.find_txs(TxQuery(query.get("institution"), query.get("type"), query.get("first", 1),
                                              query.get("last", BLOCKS), after, count_max, scan_max))
        assert len(page) <= count_max
        found += [(f.height, f.index) for f in page]
        if after is None:
            return found
    raise AssertionError("the cursor does not move on")


def expected(truth, institution=None, tx_type=None, first=1, last=BLOCKS) -> list[tuple[int, int]]:
    return sorted(position for position, (who, what) in truth.items()
                  if (institution is None or who == institution) and (tx_type is None or what == tx_type)
                  and first <= position[0] <= last)


@pytest.mark.parametrize("count_max", [1, 2, 3, 100])
@pytest.mark.parametrize("institution, tx_type, first, last", [
    ("bank-1", None, 1, BLOCKS), (None, "settlement.instruct", 1, BLOCKS), ("bank-2", "settlement.pay", 1, BLOCKS),
    (None, None, 2, 4), ("bank-0", None, 3, 3), ("bank-3", "settlement.instruct", 2, 5), ("nobody", None, 1, BLOCKS),
    (None, "settlement.pay", 2, 2),
])
def test_each_query_finds_exactly_what_matches_across_pages(chain, count_max, institution, tx_type, first, last):
    builder, truth = chain
    found = pages(builder.ledger, count_max, institution=institution, type=tx_type, first=first, last=last)
    assert found == expected(truth, institution, tx_type, first, last)
    for height, index in found:
        assert builder.storage.indexed_tx(height, index) == truth[height, index]


def test_a_query_reads_a_bounded_number_of_entries_and_goes_on_from_its_cursor(chain):
    builder, truth = chain
    want = expected(truth, "bank-1", "settlement.instruct")
    page, after = builder.ledger.find_txs(TxQuery("bank-1", "settlement.instruct", 1, BLOCKS, None, 100, 1))
    assert len(page) <= 1 and after is not None
    assert pages(builder.ledger, 100, scan_max=1, institution="bank-1", type="settlement.instruct") == want


def test_the_sender_of_a_committed_transaction(chain):
    builder, truth = chain
    block = builder.storage.block(3)
    for index, receipt in enumerate(block.receipts):
        assert builder.ledger.tx_sender(receipt.tx_hash) == truth[3, index][0]
    assert builder.ledger.tx_sender(bytes(32)) is None


def test_a_transaction_twice_in_one_block_is_located_at_its_first_place(tmp_path):
    builder = ChainBuilder(tmp_path)
    first, other = builder.payments(2)
    builder.append([first, other, first])
    assert builder.storage.tx_location(first.hash) == (1, 0)
    assert [r.code for r in builder.ledger.block(1).receipts] == ["ok", "ok", "nonce_used"]
    builder.append([first])  # a later block includes it again: still located where it first was
    assert builder.storage.tx_location(first.hash) == (1, 0)
    builder.close()
