"""Authenticated reads: every request but a transaction submission is signed
by a client key registered to an institution of the chain (node.client.
request_signing), fresh, never replayed; anything else gets 401 with the
JSON error shape, and a signed caller without the right 403. Every route
declares its rule, and an application with a route that declares none does
not start."""

from __future__ import annotations

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings, strategies as st

from api_node import MSGPACK, assert_refused, open_api
from crypto import encoding
from crypto.keys import KeyPair, read_key_file
from fixtures import PASSPHRASE
from node.api.access import check_routes
from node.api.app import make_app
from node.client.request_signing import HEADERS, request_headers
from node.runtime.driver import now_ms

WINDOW_MS = 60_000  # Limits.request_window_ms's default


def signed(api, target: str, who: str = "auditor-x", **change) -> dict:
    """Headers of a GET of `target` signed by `who`, with fields changed."""
    fields = {"chain_id": api.node.genesis.chain_id, "method": "GET", "path": target, "body": b"", **change}
    return request_headers(api.keys[who], fields["chain_id"], fields["method"], fields["path"], fields["body"],
                           change.get("time_ms"), change.get("nonce"))


async def get_with(api, path: str, headers: dict):
    return await api.client.session.get(api.client.make_url(path), headers=headers)


@pytest.mark.parametrize("path", ["/v1/status", "/v1/accounts", "/v1/blocks/1", "/v1/export", "/v1/assets",
                                  f"/v1/tx/{'00' * 32}", "/v1/governance/validators"])
async def test_an_unsigned_read_is_refused(api, path):
    await api.submit([api.pay(5)])
    await assert_refused(await api.get(path, as_=None), 401, "unauthenticated")
    if path == "/v1/export":
        assert (await api.request("HEAD", path, as_=None)).status == 401


async def test_a_signed_read_is_served(api):
    response = await api.get("/v1/status", as_="bank-other")
    assert response.status == 200 and (await response.json())["height"] == 0


@pytest.mark.parametrize("header, value", [
    ("Consort-Key", "zz" * 32), ("Consort-Key", "ab" * 31), ("Consort-Time", "-5"), ("Consort-Time", "1e12"),
    ("Consort-Time", "9" * 40), ("Consort-Nonce", "00" * 15), ("Consort-Signature", "00" * 63),
    ("Consort-Signature", "ÿ" * 128),
])
async def test_malformed_headers_are_refused(api, header, value):
    headers = {**signed(api, "/v1/status"), header: value}
    await assert_refused(await get_with(api, "/v1/status", headers), 401, "bad_request_signature")


async def test_a_missing_header_is_refused(api):
    for name in HEADERS:
        headers = {k: v for k, v in signed(api, "/v1/status").items() if k != name}
        body = await assert_refused(await get_with(api, "/v1/status", headers), 401, "bad_request_signature")
        assert name in body["error"]["message"]


@pytest.mark.parametrize("change", [
    {"path": "/v1/accounts"}, {"path": "/v1/status?x=1"}, {"method": "POST"}, {"body": b"x"},
    {"chain_id": bytes(32)},
])
async def test_a_signature_over_anything_else_is_refused(api, change):
    headers = signed(api, "/v1/status", **change)
    await assert_refused(await get_with(api, "/v1/status", headers), 401, "bad_request_signature")


async def test_the_signature_covers_the_query_string_as_sent(api):
    headers = signed(api, "/v1/state/proof?key=" + b"acct/bank-other/EUR".hex())
    response = await get_with(api, "/v1/state/proof?key=" + b"acct/bank-other/EUR".hex(), headers)
    assert response.status == 404  # no certified header yet: past the access layer
    moved = await get_with(api, "/v1/state/proof?key=" + b"acct/bank-alpha/EUR".hex(), headers)
    await assert_refused(moved, 401, "bad_request_signature")


@pytest.mark.parametrize("offset_ms", [-WINDOW_MS - 1000, WINDOW_MS + 1000])
async def test_a_stale_request_is_refused(api, offset_ms):
    headers = signed(api, "/v1/status", time_ms=now_ms() + offset_ms)
    await assert_refused(await get_with(api, "/v1/status", headers), 401, "stale_request")


async def test_a_replayed_request_is_refused(api):
    headers = signed(api, "/v1/status")
    assert (await get_with(api, "/v1/status", headers)).status == 200
    await assert_refused(await get_with(api, "/v1/status", headers), 401, "replayed_request")


async def test_a_key_of_no_institution_is_refused(api):
    stranger = KeyPair.generate().signer()
    await assert_refused(await api.get("/v1/status", as_=stranger), 401, "unknown_key")
    node_key = read_key_file(api.node.config.node_key, PASSPHRASE).signer()  # a node key is no client key
    await assert_refused(await api.get("/v1/status", as_=node_key), 401, "unknown_key")


async def test_a_client_key_removed_by_governance_is_refused_from_the_next_block(api):
    other_key = api.keys["bank-other"].public_key
    assert (await api.get("/v1/status", as_="bank-other")).status == 200
    status, body = await api.submit([api.tx("bank-alpha", "governance.propose", {
        "action": "remove_client_key", "args": {"id": "bank-other", "key": other_key}})])
    proposal = body["receipts"][0]["output"]["proposal"]
    status, body = await api.submit([api.tx("bank-alpha", "governance.vote", {"proposal": proposal, "yes": True})])
    assert (await api.get("/v1/status", as_="bank-other")).status == 200  # one yes of three members: not yet
    status, body = await api.submit([api.tx("bank-third", "governance.vote", {"proposal": proposal, "yes": True})])
    assert body["receipts"][0]["output"]["status"] == "passed"
    await assert_refused(await api.get("/v1/status", as_="bank-other"), 401, "unknown_key")


async def test_a_submission_needs_no_request_signature_but_a_bad_one_is_refused(api):
    body = encoding.encode([api.pay(3).wire()])
    response = await api.request("POST", "/v1/txs", as_=None, data=body, headers=MSGPACK,
                                 params={"wait": "commit"})
    assert response.status == 200
    signed_body = encoding.encode([api.pay(4).wire()])
    response = await api.request("POST", "/v1/txs", as_="bank-alpha", data=signed_body, headers=MSGPACK)
    assert response.status == 202
    headers = {**request_headers(api.keys["bank-alpha"], api.node.genesis.chain_id, "POST", "/v1/txs", b"other"),
               **MSGPACK}
    response = await api.client.post("/v1/txs", data=encoding.encode([api.pay(5).wire()]), headers=headers)
    await assert_refused(response, 401, "bad_request_signature")


@pytest.mark.parametrize("path", ["/v1/blocks/1", "/v1/export"])
async def test_a_member_without_a_chain_role_is_forbidden_chain_data(api, path):
    await api.submit([api.pay(5)])
    await assert_refused(await api.get(path, as_="bank-other"), 403, "forbidden")
    for who in ("bank-alpha", "auditor-x", "central-bank"):  # validator, auditor, regulator
        assert (await api.get(path, as_=who)).status == 200


async def test_the_memory_of_requests_is_bounded_per_key_and_in_all(tmp_path):
    limits = {"seen_requests_max": 4, "seen_requests_per_key_max": 2}
    async with open_api(tmp_path, limits=limits) as api:
        assert [(await api.get("/v1/status", as_="bank-other")).status for _ in range(2)] == [200, 200]
        await assert_refused(await api.get("/v1/status", as_="bank-other"), 429, "too_many_requests")
        assert [(await api.get("/v1/status", as_="bank-third")).status for _ in range(2)] == [200, 200]
        await assert_refused(await api.get("/v1/status", as_="auditor-x"), 503, "busy")


def test_an_app_with_a_route_that_declares_no_rule_does_not_start():
    app = web.Application()

    async def undeclared(request):
        return web.json_response({})

    app.router.add_get("/v1/new", undeclared)
    with pytest.raises(RuntimeError, match="/v1/new declares no access rule"):
        check_routes(app)


async def test_every_route_of_the_api_declares_a_rule(api):
    check_routes(make_app(api.node))  # raises otherwise
    declared = {route.resource.canonical for route in api.client.app.router.routes()}
    assert {"/v1/status", "/v1/tx/{hash}", "/v1/export"} <= declared


header_values = st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                                  max_size=140),
                          st.binary(max_size=70).map(bytes.hex),
                          st.integers(-2**70, 2**70).map(str))


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
async def test_any_header_values_get_401_never_a_5xx(api, data):
    headers = signed(api, "/v1/status")
    for name in data.draw(st.lists(st.sampled_from(HEADERS), min_size=1, unique=True)):
        headers[name] = data.draw(header_values).strip()
    response = await get_with(api, "/v1/status", headers)
    await response.read()
    assert response.status in (200, 401), (headers, response.status)
