"""The node's transaction index (LevelDB, written in each block's one
batch): by the sender's institution, by type and in chain order, read in
bounded pages with a cursor, each query giving exactly the transactions
that match, whatever the page size."""

from __future__ import annotations

import pytest

from crypto.keys import KeyPair
from contracts import governance
from contracts.genesis import client_key_key
from contracts.tx import sign_tx
from fixtures import CountedReads, build_mixed_chain
from node.devtools.chainbuilder import ChainBuilder
from node.api.audit_txs import INDEX_MAX
from node.runtime.ledger import TxQuery

BLOCKS = 5


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """fixtures.build_mixed_chain: payments and instructions from four members, an undecodable transaction and
    one from an unregistered key; and the truth, (height, index) -> (institution, type)."""
    builder, truth = build_mixed_chain(tmp_path_factory.mktemp("index"), BLOCKS)
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


def test_a_cursor_at_the_largest_index_goes_on_from_the_next_block(chain):
    """The API lets a cursor's index reach INDEX_MAX; the index was once keyed by index + 1 in 4 bytes,
    and such a cursor made the reader fail (OverflowError) instead of answering."""
    builder, truth = chain
    found, _ = builder.ledger.find_txs(TxQuery(None, None, 1, BLOCKS, (1, INDEX_MAX), 1000, 1000))
    assert [(f.height, f.index) for f in found] == expected(truth, first=2)


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


def test_a_transaction_refused_before_its_nonce_is_located_where_it_was_later_executed(tmp_path):
    """Refused for its unknown sender, the transaction used no nonce and
    may come again; once its key is registered it is executed, and the
    index locates that inclusion, the only one that can use its nonce."""
    builder = ChainBuilder(tmp_path)
    stranger = KeyPair.generate().signer()
    payer, payee = builder.members[:2]
    tx = sign_tx(stranger, builder.genesis.chain_id, 1, "settlement.pay",
                 {"from": payer, "to": payee, "currency": "EUR", "amount": 5})
    builder.append([tx])
    assert [r.code for r in builder.ledger.block(1).receipts] == ["unknown_sender"]
    assert builder.storage.tx_location(tx.hash) == (1, 0)
    builder.append([builder.tx(payer, "governance.propose", {
        "action": "add_client_key", "args": {"id": payer, "key": stranger.public_key}})])
    proposal = governance.open_proposal_ids(builder.ledger.view)[-1]
    for voter in builder.members:
        if governance.open_proposal_ids(builder.ledger.view):
            builder.append([builder.tx(voter, "governance.vote", {"proposal": proposal, "yes": True})])
    assert builder.storage.state_get(client_key_key(stranger.public_key)) is not None
    block = builder.append([*builder.payments(1), tx, tx])
    height = block.header.height
    assert [r.code for r in builder.ledger.block(height).receipts] == ["ok", "ok", "nonce_used"]
    assert builder.storage.tx_location(tx.hash) == (height, 1)
    assert builder.ledger.receipt(tx.hash)[2].ok
    builder.append([tx])  # once more, refused for its used nonce: the executed inclusion stays
    assert builder.storage.tx_location(tx.hash) == (height, 1)
    builder.close()


def test_a_block_of_executed_transactions_reads_no_location(tmp_path):
    """Looking up a location that is almost never there costs LevelDB a compaction now and then: only
    a transaction that did not use its nonce (refused, or a repeat) looks for an earlier place."""
    builder = ChainBuilder(tmp_path)
    first, second = builder.payments(2)
    builder.storage.db = reads = CountedReads(builder.storage.db)
    builder.append([first, second])
    assert [key for key in reads.keys if key.startswith(b"t:")] == []
    builder.append([first])
    assert [key for key in reads.keys if key.startswith(b"t:")] == [b"t:" + first.hash]
    assert builder.storage.tx_location(first.hash) == (1, 0)
    builder.close()
