"""Admission does the cheap checks first: a batch from a stranger's
self-made key, or a transaction built to be costly to decode, is refused
before any signature is verified and leaves nothing behind; signatures are
verified off the event loop; only admitted transactions are kept, and only
until they commit. Forwards from peers get the same checks."""

from __future__ import annotations

import asyncio
import inspect
import threading

import msgpack
from aiohttp.test_utils import TestClient

from api_node import MSGPACK, assert_refused, open_api
from consensus.events import ClientRequests
from consensus.messages import Forward
from contracts.tx import sign_tx
from crypto import encoding, keys
from crypto.keys import KeyPair
from fixtures import CountedReads, wait_until

RELEASE_TIMEOUT_S = 10.0  # a guard against a deadlock only: the test releases the verifier itself


class CountedVerify:
    """crypto.keys.verify, counting its calls."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        self.real = keys.verify
        monkeypatch.setattr(keys, "verify", self)

    def __call__(self, *args) -> bool:
        self.calls += 1
        return self.real(*args)


async def post_batch(client: TestClient, txs, wait: bool = False):
    params = {"wait": "commit", "timeout_ms": "5000"} if wait else {}
    return await client.post("/v1/txs", data=encoding.encode([tx.wire() for tx in txs]), headers=MSGPACK,
                              params=params)


def cached(api, txs) -> list:
    """The transactions of `txs` the node keeps (for the block applier to reuse)."""
    return [tx for tx in txs if tx.wire() in api.node.verifier.cache or tx.hash in api.node.pending]


async def test_a_strangers_batch_is_refused_without_verifying_a_signature(api, monkeypatch):
    stranger = KeyPair.generate().signer()
    txs = [api.pay(signer=stranger) for _ in range(50)]
    verify = CountedVerify(monkeypatch)
    body = await assert_refused(await post_batch(api.client, txs), 403, "unknown_sender")
    assert len(body["error"]["problems"]) == 50
    assert verify.calls == 0
    assert cached(api, txs) == []


def costly_tx(api, args: dict):
    api.nonce += 1
    return sign_tx(api.signer, api.node.genesis.chain_id, api.nonce, "settlement.pay", args)


async def test_deep_or_element_heavy_transactions_are_refused_before_their_signatures(api, monkeypatch):
    deep: list = []
    for _ in range(30):
        deep = [deep]
    heavy = [[] for _ in range(5000)]
    txs = [costly_tx(api, {"a": deep}), costly_tx(api, {"a": heavy})]
    verify = CountedVerify(monkeypatch)
    for tx in txs:
        await assert_refused(await post_batch(api.client, [tx]), 400, "malformed")
        await assert_refused(await api.client.post("/v1/tx", json=tx.to_json()), 400, "malformed")
    assert verify.calls == 0 and cached(api, txs) == []


async def test_signatures_are_verified_off_the_event_loop(api, monkeypatch):
    # The verifier blocks until the test releases it. Had it run on the event
    # loop, the status request could not be answered before the release.
    started, release = threading.Event(), threading.Event()
    released: list[bool] = []
    real = keys.verify

    def blocking_verify(*args) -> bool:
        if args[1] != "tx":  # the status request's own signature is checked on the loop
            return real(*args)
        started.set()
        released.append(release.wait(RELEASE_TIMEOUT_S))
        release.set()  # after a timeout, let the other calls through
        return real(*args)

    monkeypatch.setattr(keys, "verify", blocking_verify)
    txs = [api.pay(i + 1) for i in range(50)]
    batch = asyncio.create_task(post_batch(api.client, txs, wait=True))
    try:
        await wait_until(started.is_set, RELEASE_TIMEOUT_S, "signature verification to start")
        status = await api.get("/v1/status")
        assert status.status == 200 and not release.is_set()
    finally:
        release.set()
        response = await batch
    assert response.status == 200 and all(r["ok"] for r in (await response.json())["receipts"])
    assert released and all(released)


async def test_only_pending_transactions_are_cached_and_committed_ones_leave(api):
    committed = [api.pay(1), api.pay(2)]
    assert (await post_batch(api.client, committed, wait=True)).status == 200
    assert cached(api, committed) == []
    refused = [api.pay(3), api.pay(4, nonce=committed[0].nonce)]
    await assert_refused(await post_batch(api.client, refused), 409, "nonce_used")
    assert cached(api, refused) == []


async def test_a_senders_key_and_window_are_read_once_a_chunk_and_again_after_each_yield(api, monkeypatch):
    from node.runtime import admission

    reads = []
    real = admission.nonce_window
    monkeypatch.setattr(admission, "nonce_window", lambda state, sender: reads.append(sender) or real(state, sender))
    monkeypatch.setattr(admission, "CHECK_CHUNK_TXS", 4)
    txs = [api.pay(1) for _ in range(6)]
    assert (await post_batch(api.client, txs)).status == 202
    # two chunks (a block may have been applied between them), then once more for the duplicate check,
    # after the last yield: a window that holds a nonce unused spares the index's read
    assert reads == [api.signer.public_key] * 3
    reads.clear()
    used = [api.pay(2), api.pay(3, nonce=txs[0].nonce)]  # the second's nonce is pending, then committed
    await wait_until(lambda: not any(tx.hash in api.node.pending for tx in txs), 10, "the batch to commit")
    await assert_refused(await post_batch(api.client, used), 409, "nonce_used")
    assert reads == [api.signer.public_key]


async def test_a_batch_of_unused_nonces_is_admitted_without_reading_the_transaction_index(api):
    """The index is read only for a nonce the committed window holds used (a retry, maybe): looking up
    a location that is almost never there costs LevelDB a compaction now and then."""
    storage = api.node.ledger.storage
    storage.db = reads = CountedReads(storage.db)
    committed = [api.pay(1), api.pay(2)]
    assert (await post_batch(api.client, committed, wait=True)).status == 200
    assert [key for key in reads.keys if key.startswith(b"t:")] == []
    await assert_refused(await post_batch(api.client, committed[:1]), 409, "duplicate")
    assert [key for key in reads.keys if key.startswith(b"t:")] == [b"t:" + committed[0].hash]


async def test_pending_transactions_are_bounded(tmp_path):
    async with open_api(tmp_path, limits={"pending_txs_max": 3}) as api:
        await assert_refused(await post_batch(api.client, [api.pay(i + 1) for i in range(4)]), 503, "busy")
        assert len(api.node.pending) == 0
        assert (await post_batch(api.client, [api.pay(i + 1) for i in range(3)], wait=True)).status == 200
        assert len(api.node.pending) == 0


async def test_committed_transactions_stay_refused_beyond_the_replicas_recent_memory(tmp_path):
    async with open_api(tmp_path, limits={"recent_requests_max": 2}) as api:
        assert api.node.replica.config.recent_requests_max == 2
        committed = [api.pay(i + 1) for i in range(5)]
        assert (await post_batch(api.client, committed, wait=True)).status == 200
        assert len(api.node.replica.requests.recent) == 2  # the replica keeps the last two only
        await assert_refused(await post_batch(api.client, committed[:1]), 409, "duplicate")  # the index does
        assert cached(api, committed) == []


async def admitted(node, peer_key: bytes, message):
    event = node.inbound.admit(peer_key, message)
    return await event if inspect.isawaitable(event) else event


async def test_forwarded_transactions_get_the_same_checks(api, monkeypatch):
    peer = KeyPair.generate().public_key  # a member node that validates nothing
    stranger = KeyPair.generate().signer()
    verify = CountedVerify(monkeypatch)
    strangers = Forward(tuple(api.pay(signer=stranger).wire() for _ in range(20)))
    assert await admitted(api.node, peer, strangers) is None
    assert verify.calls == 0
    good, replayed = api.pay(5), api.pay(6)
    assert (await post_batch(api.client, [replayed], wait=True)).status == 200
    mixed = Forward((strangers.txs[0], good.wire(), replayed.wire(), costly_tx(api, {"a": [[]] * 5000}).wire()))
    event = await admitted(api.node, peer, mixed)
    assert event == ClientRequests((good.wire(),))
    assert good.hash in api.node.pending


async def test_an_element_heavy_msgpack_batch_is_refused_before_it_is_unpacked(api, monkeypatch):
    unpacked = []
    real = msgpack.unpackb
    monkeypatch.setattr(msgpack, "unpackb", lambda *a, **k: unpacked.append(len(a[0])) or real(*a, **k))
    heavy = b"\xdc" + (20_000).to_bytes(2, "big") + b"\x90" * 20_000  # 20k empty lists: 20 KB
    nested = b"\x91" + b"\x91" * 5_000 + b"\xc0"
    await assert_refused(await api.client.post("/v1/txs", data=heavy, headers=MSGPACK), 400, "bad_batch")
    await assert_refused(await api.client.post("/v1/txs", data=nested, headers=MSGPACK), 400, "malformed")
    assert unpacked == []


async def test_what_no_state_can_make_valid_is_refused_with_400_and_never_reaches_a_block(api, monkeypatch):
    """An unknown type, a negative amount, a missing or unknown argument, a
    wrong-length hash: the receipt would refuse them whatever the state, so the
    API refuses them at once (before: accepted, then a failed receipt stored
    forever). Each is refused before its signature is checked."""
    height = await api.height()
    signer, chain_id = api.signer, api.node.genesis.chain_id
    cases = [
        (sign_tx(signer, chain_id, 901, "settlement.pai", {}), "unknown_type"),
        (api.pay(amount=-5), "bad_args"),
        (sign_tx(signer, chain_id, 902, "settlement.pay", {"from": "bank-alpha", "to": "bank-other",
                                                           "currency": "EUR"}), "bad_args"),
        (sign_tx(signer, chain_id, 903, "settlement.pay", {"from": "bank-alpha", "to": "bank-other",
                                                           "currency": "EUR", "amount": 1, "memo": "x"}), "bad_args"),
        (sign_tx(signer, chain_id, 904, "assets.register", {
            "class": "receivable", "holders": {"bank-alpha": 10}, "currency": "EUR", "face_value": 100,
            "documents_hash": bytes(31)}), "bad_args"),
    ]
    verify = CountedVerify(monkeypatch)
    for tx, code in cases:
        await assert_refused(await post_batch(api.client, [tx]), 400, code)
    assert verify.calls == 0 and cached(api, [tx for tx, _ in cases]) == []
    assert (await api.submit([api.pay()]))[0] == 200  # the node still takes a good one
    for tx, _ in cases:
        assert api.node.ledger.receipt(tx.hash) is None
    assert await api.height() == height + 1
