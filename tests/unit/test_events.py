"""The event stream's pure parts: what a transaction involves
(contracts.involvement), the filter and who sees which receipt
(node.api.event_feed), the per-subscriber bounded queue that marks a slow
reader behind and the cap on subscribers (node.api.event_hub), and the
client's reading of an event stream (node.client.sse). No node, socket,
LevelDB or running event loop: asyncio.Queue's put_nowait and get_nowait
need none."""

from __future__ import annotations

import pytest

from consensus.messages import Block, BlockHeader
from contracts import involvement
from contracts.executor import Receipt
from contracts.registry import TX_TYPES
from contracts.tx import sign_tx
from fixtures import key
from node.api.event_feed import BLOCK, RECEIPT, EventFilter, block_events, block_facts
from node.api.event_hub import BLOCK_CACHE_MAX, EventHub, SubscriptionRefused
from node.api.http import BadRequest, Caller
from node.client.sse import EventStreamError, EventStreamParser
from node.runtime.storage import StoredBlock

CHAIN = b"\x11" * 32
ALPHA = Caller("bank-a", ("validator", "member"), b"a" * 32)
BRAVO = Caller("bank-b", ("member",), b"b" * 32)
AUDITOR = Caller("audit", ("auditor",), b"c" * 32)
REGULATOR = Caller("reg", ("regulator",), b"d" * 32)


# --- what a transaction involves -------------------------------------------------

def test_every_transaction_type_is_classified_once():
    named = set(involvement.PARTY_ARGS) | set(involvement.PARTY_OUTPUTS)
    assert named | involvement.SENDER_ONLY == set(TX_TYPES)
    assert not named & involvement.SENDER_ONLY


@pytest.mark.parametrize("tx_type, args, output, sender, expected", [
    ("settlement.pay", {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 5}, {}, "bank-a",
     {"bank-a", "bank-b"}),
    ("settlement.mint", {"institution": "bank-c", "currency": "EUR", "amount": 5}, {}, "reg", {"reg", "bank-c"}),
    ("assets.register", {"holders": {"bank-b": 3, "bank-c": 4}}, {"asset": "A000000000001"}, "bank-a",
     {"bank-a", "bank-b", "bank-c"}),
    ("assets.consent", {"asset": "A000000000001", "holder": "bank-b", "op": "transfer", "party": "bank-c"}, {},
     "bank-a", {"bank-a", "bank-b", "bank-c"}),
    ("settlement.close_cycle", {"currency": "EUR"}, {"positions": {"bank-b": -5, "bank-c": 5}}, "bank-a",
     {"bank-a", "bank-b", "bank-c"}),
    ("assets.redeem", {"asset": "A000000000001"}, {"payouts": {"bank-c": 20}}, "bank-a", {"bank-a", "bank-c"}),
    ("governance.propose", {"action": "set_roles", "args": {"id": "bank-c", "roles": ["member"]}}, {}, "bank-a",
     {"bank-a", "bank-c"}),
    ("governance.propose", {"action": "set_parameter", "args": {"name": "x", "value": 1}}, {}, "bank-a",
     {"bank-a"}),
    ("mpc.open", {"participants": ["bank-a", "bank-b"], "result_to": ["*"]}, {}, "bank-a", {"bank-a", "bank-b"}),
    ("settlement.dvp", {"offer": "O000000000001"}, {"asset": "A000000000001"}, "bank-b", {"bank-b"}),
    ("settlement.pay", {"from": 7, "to": ["bank-z"]}, {}, None, {"bank-z"}),  # junk args name only strings
    (None, {}, {}, None, set()),  # an undecodable transaction
])
def test_institutions_involved(tx_type, args, output, sender, expected):
    assert involvement.institutions_involved(tx_type, args, output, sender) == expected


def test_assets_involved_are_named_in_args_or_output():
    assert involvement.assets_involved({"asset": "A000000000002", "parts": [2, 3]},
                                       {"parts": ["A000000000005", "A000000000006"]}) == {
        "A000000000002", "A000000000005", "A000000000006"}
    assert involvement.assets_involved({"part": "A000000000007"}, {"asset": "A000000000001"}) == {
        "A000000000007", "A000000000001"}
    assert involvement.assets_involved({"from": "bank-a", "to": "bank-b"}, {}) == set()


# --- the filter and who sees which receipt -----------------------------------------

def stored_block(height: int, txs: list[tuple[str, str, dict, dict | None, str]]) -> tuple[StoredBlock, list]:
    """A block of (sender key label, type, args, output, code) transactions, and their senders."""
    wires, receipts, senders = [], [], []
    for nonce, (label, tx_type, args, output, code) in enumerate(txs, start=1):
        tx = sign_tx(key(label).signer(), CHAIN, nonce, tx_type, args)
        wires.append(tx.wire())
        receipts.append(Receipt(tx.hash, code, "" if code == "ok" else "refused", output))
        senders.append(label.split("/")[0])
    header = BlockHeader(CHAIN, height, 0, 0, b"\x00" * 32, 1_767_225_600_000 + height, b"\x01" * 32, len(txs),
                         b"\x02" * 32, b"\x03" * 32, b"\x04" * 32)
    return StoredBlock(Block(header, tuple(wires)), None, tuple(receipts), b"\x05" * 32, b"\x06" * 32), senders


PAY_B = ("bank-a/client", "settlement.pay", {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 5},
         {"finality": {"kind": "payment"}}, "ok")
INSTRUCT = ("bank-b/client", "settlement.instruct", {"from": "bank-b", "to": "bank-c", "currency": "EUR",
                                                      "amount": 7}, {"instruction": 1}, "ok")
REGISTER = ("bank-c/client", "assets.register", {"class": "receivable", "holders": {"bank-c": 10}},
            {"asset": "A000000000001", "units": 10}, "ok")
FAILED = ("bank-a/client", "settlement.pay", {"from": "bank-a", "to": "bank-c", "currency": "EUR", "amount": 9},
          None, "insufficient_funds")


def facts():
    return block_facts(*stored_block(7, [PAY_B, INSTRUCT, REGISTER, FAILED]))


def receipts_seen(who: Caller, kept: EventFilter = EventFilter()) -> list[tuple[int, str]]:
    events = block_events(facts(), who, kept)
    assert events[-1].name == BLOCK and events[-1].id == "7", "the block event closes the height, with its id"
    assert all(e.name == RECEIPT and e.id is None for e in events[:-1])
    return [(e.data["index"], e.data["sender"]) for e in events[:-1]]


def test_a_member_sees_the_receipts_its_institution_sent_and_oversight_sees_all():
    assert receipts_seen(ALPHA) == [(0, "bank-a"), (3, "bank-a")]  # a validator reads as a member
    assert receipts_seen(BRAVO) == [(1, "bank-b")]                  # not bank-a's payment to it
    everything = [(0, "bank-a"), (1, "bank-b"), (2, "bank-c"), (3, "bank-a")]
    assert receipts_seen(AUDITOR) == everything
    assert receipts_seen(REGULATOR) == everything


def test_the_filter_narrows_and_never_widens():
    assert receipts_seen(AUDITOR, EventFilter(type="settlement.pay")) == [(0, "bank-a"), (3, "bank-a")]
    assert receipts_seen(AUDITOR, EventFilter(account="bank-c")) == [(1, "bank-b"), (2, "bank-c"), (3, "bank-a")]
    assert receipts_seen(AUDITOR, EventFilter(asset="A000000000001")) == [(2, "bank-c")]
    assert receipts_seen(AUDITOR, EventFilter(type="settlement.pay", account="bank-c")) == [(3, "bank-a")]
    assert receipts_seen(BRAVO, EventFilter(account="bank-a")) == []  # involved, but not bank-b's to read
    assert receipts_seen(AUDITOR, EventFilter(type="assets.transfer")) == []


def test_the_event_shapes():
    events = block_events(facts(), AUDITOR, EventFilter())
    receipt, block = events[3].data, events[-1].data
    assert receipt == {"height": 7, "index": 3, "tx_hash": receipt["tx_hash"], "ok": False,
                       "code": "insufficient_funds", "detail": "refused", "output": {},
                       "type": "settlement.pay", "sender": "bank-a"}
    assert block == {"height": 7, "hash": block["hash"], "tx_count": 4, "timestamp_ms": 1_767_225_600_007}
    assert len(block["hash"]) == 64 and len(receipt["tx_hash"]) == 64


@pytest.mark.parametrize("query", [{"type": "settlement.nothing"}, {"account": "Bank-A"}, {"account": "x" * 33},
                                   {"asset": "A1"}, {"asset": "a000000000001"}])
def test_a_malformed_filter_is_a_bad_request(query):
    with pytest.raises(BadRequest):
        EventFilter.parse(query)


def test_a_well_formed_filter_parses():
    assert EventFilter.parse({"type": "settlement.pay", "account": "bank-a", "asset": "A000000000001"}) == \
        EventFilter("settlement.pay", "bank-a", "A000000000001")
    assert EventFilter.parse({}) == EventFilter()


# --- the subscribers: bounded queues, resync, the caps ----------------------------------

def test_a_subscriber_that_falls_behind_is_marked_and_gets_nothing_more():
    hub = EventHub(subscribers_max=4, per_caller_max=4, queue_max=3)
    slow, quick = hub.subscribe("institution:bank-a"), hub.subscribe("institution:bank-b")
    for height in (5, 6, 7):
        hub.on_block(height)
        assert quick.heights.get_nowait() == height
    assert not slow.behind and slow.heights.qsize() == 3
    hub.on_block(8)  # the fourth height: more than slow's queue holds
    assert slow.behind and not quick.behind
    assert slow.heights.qsize() == 3, "the queue never grows past its bound"
    hub.on_block(9)
    assert slow.heights.qsize() == 3 and quick.heights.get_nowait() == 8 and quick.heights.get_nowait() == 9
    assert [slow.heights.get_nowait() for _ in range(3)] == [5, 6, 7]


def test_subscribers_are_capped_in_all_and_per_caller():
    hub = EventHub(subscribers_max=3, per_caller_max=2, queue_max=1)
    first = hub.subscribe("institution:bank-a")
    hub.subscribe("institution:bank-a")
    with pytest.raises(SubscriptionRefused) as refused:
        hub.subscribe("institution:bank-a")
    assert (refused.value.status, refused.value.code) == (429, "too_many_subscriptions")
    hub.subscribe("institution:bank-b")
    with pytest.raises(SubscriptionRefused) as refused:
        hub.subscribe("institution:bank-c")
    assert (refused.value.status, refused.value.code) == (503, "busy")
    hub.unsubscribe(first)
    hub.unsubscribe(first)  # twice changes nothing
    assert hub.by_owner == {"institution:bank-a": 1, "institution:bank-b": 1}
    hub.subscribe("institution:bank-c")
    hub.on_block(1)
    assert all(s.heights.qsize() == 1 for s in hub.subscriptions)


def test_the_decoded_blocks_kept_are_bounded():
    hub = EventHub(subscribers_max=1, per_caller_max=1, queue_max=1)
    for height in range(1, BLOCK_CACHE_MAX + 6):
        hub.keep(block_facts(*stored_block(height, [])))
    assert len(hub.blocks) == BLOCK_CACHE_MAX
    assert hub.cached(5) is None and hub.cached(BLOCK_CACHE_MAX + 5).height == BLOCK_CACHE_MAX + 5


# --- reading an event stream ---------------------------------------------------------

STREAM = (b": ping\r\n\r\nevent: receipt\r\ndata: {\"index\": 0}\r\n\r\n"
          b"id: 7\r\nevent: block\r\ndata: {\"height\": 7}\r\n\r\n"
          b"data: one\ndata: two\n\nevent: empty\r\n\r\nretry: 5\revent: resync\rdata: {}\r\r\n")


def expected_events():
    return [("receipt", '{"index": 0}', None), ("block", '{"height": 7}', "7"), ("message", "one\ntwo", "7"),
            ("resync", "{}", "7")]


def test_events_come_out_the_same_however_the_bytes_are_cut():
    whole = [(e.name, e.data, e.id) for e in EventStreamParser().feed(STREAM)]
    assert whole == expected_events()
    for size in (1, 2, 3, 7, 64):
        parser = EventStreamParser()
        cut = [e for start in range(0, len(STREAM), size) for e in parser.feed(STREAM[start:start + size])]
        assert [(e.name, e.data, e.id) for e in cut] == expected_events(), size


def test_an_event_above_the_bound_is_refused():
    parser = EventStreamParser(event_bytes_max=100)
    parser.feed(b"data: " + b"x" * 50 + b"\r\n")
    with pytest.raises(EventStreamError):
        parser.feed(b"data: " + b"y" * 60 + b"\r\n")
    with pytest.raises(EventStreamError):
        EventStreamParser(event_bytes_max=100).feed(b"data: " + b"z" * 200)  # a line that never ends
