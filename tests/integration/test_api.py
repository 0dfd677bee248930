"""The client API of one in-process node (a 1-validator chain): bad input
gets a clear 4xx JSON error and changes nothing."""

from __future__ import annotations

import dataclasses

from api_node import MSGPACK
from crypto import encoding
from crypto.keys import KeyPair


async def test_payment_commits_and_receipt_is_queryable(api):
    tx = api.pay(250)
    status, body = await api.submit([tx])
    assert status == 200 and body["receipts"][0]["ok"] and body["accepted"] == [tx.hash.hex()]
    assert await api.balances() == {"bank-alpha": 1_000_000 - 250, "bank-other": 750, "bank-third": 300}
    response = await api.get(f"/v1/tx/{tx.hash.hex()}")
    assert response.status == 200
    assert (await response.json())["receipt"]["height"] == 1


async def test_single_json_transaction(api):
    tx = api.pay(5)
    response = await api.client.post("/v1/tx", json=tx.to_json(), params={"wait": "commit"})
    assert response.status == 200
    assert (await response.json())["receipts"][0]["code"] == "ok"


async def assert_refused(api, status_code: int, code: str, response) -> dict:
    assert response.status == status_code
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body


async def test_malformed_bodies_are_refused_and_change_nothing(api):
    before = (await api.balances(), await api.height())
    await assert_refused(api, 400, "malformed", await api.client.post("/v1/tx", data=b"{not json"))
    await assert_refused(api, 400, "malformed",
                         await api.client.post("/v1/txs", data=b"\xc1\xff", headers=MSGPACK))
    await assert_refused(api, 400, "malformed",
                         await api.client.post("/v1/tx", data=b"\x92\x01", headers=MSGPACK))
    bad_json = {**api.pay().to_json(), "args": {"from": "bank-alpha", "amount": 1.5}}
    await assert_refused(api, 400, "malformed", await api.client.post("/v1/tx", json=bad_json))
    assert (await api.balances(), await api.height()) == before


async def test_oversized_request_is_refused_with_json(api):
    before = await api.height()
    response = await api.client.post("/v1/txs", data=b"\x00" * (65 * 1024), headers=MSGPACK)
    await assert_refused(api, 413, "too_large", response)
    status, body = await api.submit([api.pay() for _ in range(51)])
    assert status == 400 and body["error"]["code"] == "bad_batch"
    assert await api.height() == before


async def test_wrong_signature_is_refused_and_changes_nothing(api):
    before = await api.balances()
    tx = dataclasses.replace(api.pay(), signature=bytes(64))
    status, body = await api.submit([tx])
    assert status == 400 and body["error"]["code"] == "bad_signature"
    other_key = KeyPair.generate().signer()
    impostor = dataclasses.replace(api.pay(), signature=other_key.sign("tx", api.pay().body))
    status, body = await api.submit([impostor])
    assert status == 400 and body["error"]["code"] == "bad_signature"
    assert await api.balances() == before and await api.height() == 0


async def test_unknown_key_is_refused(api):
    stranger = KeyPair.generate().signer()
    status, body = await api.submit([api.pay(signer=stranger)])
    assert status == 403 and body["error"]["code"] == "unknown_sender"
    assert await api.height() == 0


async def test_a_batch_with_one_bad_transaction_is_refused_whole(api):
    good = [api.pay(1), api.pay(2)]
    bad = dataclasses.replace(api.pay(3), signature=bytes(64))
    status, body = await api.submit([good[0], bad, good[1]])
    assert status == 400
    assert [p["index"] for p in body["error"]["problems"]] == [1]
    for tx in good:
        response = await api.get(f"/v1/tx/{tx.hash.hex()}")
        assert response.status == 404
    assert await api.height() == 0


async def test_replays_are_refused_and_never_execute_twice(api):
    tx = api.pay(1000)
    assert (await api.submit([tx]))[0] == 200
    after_first = await api.balances()
    status, body = await api.submit([tx])
    assert status == 409 and body["error"]["code"] == "duplicate"
    same_nonce = api.pay(1001, nonce=tx.nonce)
    status, body = await api.submit([same_nonce])
    assert status == 409 and body["error"]["code"] == "nonce_used"
    status, body = await api.submit([api.pay(7), api.pay(8, nonce=api.nonce)])
    assert status == 400 and body["error"]["code"] == "duplicate_in_batch"
    assert await api.balances() == after_first


async def test_failed_receipts_for_wrong_payer_overdraft_unknown_account_and_role(api):
    before = await api.balances()
    cases = [
        (api.pay(10, payer="bank-other", payee="bank-alpha"), "not_authorized"),
        (api.pay(2_000_000), "insufficient_funds"),
        (api.pay(10, payee="bank-nowhere"), "unknown_account"),
        (api.pay(10, payer="auditor-x", payee="bank-alpha", signer=api.auditor, nonce=1), "not_permitted"),
    ]
    status, body = await api.submit([tx for tx, _ in cases])
    assert status == 200
    assert [r["code"] for r in body["receipts"]] == [code for _, code in cases]
    assert not any(r["ok"] for r in body["receipts"])
    assert await api.balances() == before


async def test_bad_query_parameters_and_unknown_things(api):
    await assert_refused(api, 400, "bad_parameter", await api.get("/v1/tx/zz"))
    await assert_refused(api, 404, "not_found", await api.get(f"/v1/tx/{'00' * 32}"))
    await assert_refused(api, 404, "not_found", await api.get("/v1/blocks/99"))
    await assert_refused(api, 400, "bad_parameter", await api.get("/v1/blocks/x"))
    await assert_refused(api, 404, "not_found", await api.get("/v1/nothing"))
    await assert_refused(api, 400, "bad_batch", await api.client.post("/v1/txs", json={"txs": []}))
    response = await api.client.post("/v1/txs", json={"txs": [api.pay().to_json()]}, params={"timeout_ms": "-1"})
    await assert_refused(api, 400, "bad_parameter", response)
    assert await api.height() == 0


async def test_block_endpoint_serves_header_certificate_and_receipts(api):
    await api.submit([api.pay(1), api.pay(2)])
    response = await api.get("/v1/blocks/1")
    block = (await response.json())
    assert block["header"]["height"] == 1 and block["header"]["tx_count"] == 2
    assert len(block["certificate"]["signatures"]) == 1
    assert [r["code"] for r in block["receipts"]] == ["ok", "ok"]


async def test_query_endpoints(api):
    tx = api.pay(125)
    await api.submit([tx])
    finality = await (await api.get(f"/v1/settlement/finality/{tx.hash.hex()}")).json()
    assert finality["kind"] == "payment" and finality["details"]["amount"] == 125
    assert finality["tx_hash"] == tx.hash.hex() and finality["height"] == 1
    validators = await (await api.get("/v1/governance/validators")).json()
    assert [v[0] for v in validators["validators"]] == ["bank-alpha"] and validators["pending"] is None
    assert (await (await api.get("/v1/settlement/queue/EUR")).json())["queue"] == []
    assert (await (await api.get("/v1/settlement/cycles/EUR")).json())["count"] == 0
    assert (await (await api.get("/v1/governance/proposals")).json())["open"] == []
    await assert_refused(api, 404, "not_found", await api.get("/v1/assets/A000000000001"))
    await assert_refused(api, 404, "not_found", await api.get("/v1/settlement/cycles/EUR/1"))
    await assert_refused(api, 404, "not_found", await api.get(f"/v1/settlement/finality/{'00' * 32}"))


async def test_state_proof_endpoint_proves_against_the_certified_header(api):
    await api.submit([api.pay(1)])
    await api.submit([api.pay(2)])
    key = b"acct/bank-other/EUR"
    answer = await (await api.get("/v1/state/proof", params={"key": key.hex()})).json()
    assert answer["header_height"] == 2 and answer["state_height"] == 1
    header = api.node.storage.block(2).block.header
    from crypto import smt
    proof = smt.Proof.from_wire(bytes.fromhex(answer["proof"]))
    assert smt.verify(header.state_root, key, bytes.fromhex(answer["value"]), proof)
    assert encoding.decode(bytes.fromhex(answer["value"])) == 501  # after block 1 only
    absent = await (await api.get("/v1/state/proof", params={"key": b"acct/nobody/EUR".hex()})).json()
    assert absent["value"] is None
    assert smt.verify(header.state_root, b"acct/nobody/EUR", None, smt.Proof.from_wire(bytes.fromhex(absent["proof"])))
