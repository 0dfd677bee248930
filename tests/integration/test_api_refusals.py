"""Bad input to the client API gets a 4xx JSON error, never a 500, and a
refused request leaves at most one short log line below ERROR: each test
here is input that once answered 500 or flooded the log."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import aiohttp
import pytest

from api_node import MSGPACK, assert_refused, open_api, served_node
from crypto import encoding
from fixtures import wait_until
from node.client import tls_context

INT_STR_DIGITS_MAX = 4300  # Python's limit on converting a decimal string to int


@pytest.mark.parametrize("route", ["/v1/tx", "/v1/txs"])
@pytest.mark.parametrize("depth", [1_000, 30_000])  # 30k: within the 64 KiB body limit
async def test_deeply_nested_json_is_refused(api, route, depth):
    nested = "[" * depth + "]" * depth
    for body in (nested, f'{{"txs": [{{"args": {{"a": {nested}}}}}]}}'):
        response = await api.client.post(route, data=body, headers={"Content-Type": "application/json"})
        await assert_refused(response, 400, "malformed")
    assert await api.height() == 0


async def test_json_integer_beyond_the_conversion_limit_is_refused(api):
    huge = "9" * (INT_STR_DIGITS_MAX + 1)
    document = {**api.pay().to_json(), "nonce": 0}
    body = json.dumps(document).replace('"nonce": 0', f'"nonce": {huge}')
    await assert_refused(await api.client.post("/v1/tx", data=body), 400, "malformed")
    await assert_refused(await api.client.post("/v1/txs", data=f'{{"txs": [{huge}]}}'), 400, "malformed")


@pytest.mark.parametrize("route, count", [("/v1/tx", 3_000), ("/v1/txs", 200_000)])
async def test_element_heavy_json_is_refused_before_parsing(tmp_path, route, count, monkeypatch):
    body = '{"txs": [' + ",".join(["[]"] * count) + "]}"
    async with open_api(tmp_path, limits={"request_bytes_max": 1024 * 1024}) as api:
        parsed = []
        real_loads = json.loads
        monkeypatch.setattr(json, "loads", lambda *a, **k: parsed.append(a) or real_loads(*a, **k))
        await assert_refused(await api.client.post(route, data=body), 400, "malformed")
        assert parsed == []


@pytest.mark.parametrize("height", [str(2**64), str(2**64 - 1 + 10**30), "9" * 5000])
async def test_block_height_beyond_64_bits_is_refused(api, height):
    await assert_refused(await api.get(f"/v1/blocks/{height}"), 400, "bad_parameter")


@pytest.mark.parametrize("path", [
    "/v1/governance/proposals/{n}", "/v1/settlement/cycles/EUR/{n}", "/v1/blocks/{n}",
])
@pytest.mark.parametrize("number", ["²", "¹²", "٣", "１", "1_0", "+1", " 1", str(2**64)])
async def test_path_numbers_are_ascii_digits_within_64_bits(api, path, number):
    response = await api.get(path.format(n=number))
    await assert_refused(response, 400, "bad_parameter")


@pytest.mark.parametrize("path", [
    "/v1/settlement/queue/{c}", "/v1/settlement/cycles/{c}", "/v1/settlement/cycles/{c}/1",
])
@pytest.mark.parametrize("currency", ["eur", "EURO", "E%2FR", "EUR%0A", "X" * 5000])
async def test_a_path_currency_is_an_iso_4217_code(api, path, currency):
    assert (await api.get(path.format(c="EUR"))).status in (200, 404)  # a cycle that is not there yet: 404
    await assert_refused(await api.get(path.format(c=currency)), 400, "bad_parameter")


@pytest.mark.parametrize("number", ["²", "1_0", "１", "+5", str(2**64)])
async def test_query_numbers_are_ascii_digits(api, number):
    response = await api.get(f"/v1/tx/{'00' * 32}", params={"wait_ms": number})
    await assert_refused(response, 400, "bad_parameter")


async def test_head_on_the_export_stream_answers_headers_only(api, caplog):
    await api.submit([api.pay(1)])
    with caplog.at_level(logging.DEBUG):
        response = await api.request("HEAD", "/v1/export")
        assert response.status == 200
        assert await response.read() == b""
        get = await api.get("/v1/export")
        assert get.status == 200 and len(await get.read()) > 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_one_caller_cannot_use_up_the_receipt_waiters(tmp_path):
    # 127.0.0.1 waits on random hashes as long as it may; a caller from
    # 127.0.0.2 (the test client's own address, then another one: both are
    # loopback, the node still listens on 127.0.0.1 only) still gets its
    # receipts with wait=commit, and the flooder is told it is over its share.
    waiters_max, per_caller_max = 8, 4
    async with open_api(tmp_path, limits={"waiters_max": waiters_max,
                                          "waiters_per_caller_max": per_caller_max}) as api:
        flood = [asyncio.create_task(api.get(f"/v1/tx/{os.urandom(32).hex()}", params={"wait_ms": "30000"}))
                 for _ in range(waiters_max)]
        try:
            refused = await wait_until(lambda: [t for t in flood if t.done()], 5.0, "the flooder's refusals")
            await wait_until(lambda: api.node.waiters.count == per_caller_max, 5.0, "the flooder's waiters")
            assert len(refused) == waiters_max - per_caller_max
            for task in refused:
                await assert_refused(task.result(), 429, "too_many_waiters")
            connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            async with aiohttp.ClientSession(connector=connector) as other:
                tx = api.pay(7)
                async with other.post(api.client.make_url("/v1/txs"), data=encoding.encode([tx.wire()]),
                                      headers=MSGPACK, params={"wait": "commit", "timeout_ms": "5000"}) as response:
                    assert response.status == 200, await response.text()
                    assert (await response.json())["receipts"][0]["code"] == "ok"
        finally:
            for task in flood:
                task.cancel()
            await asyncio.gather(*flood, return_exceptions=True)
        await wait_until(lambda: api.node.waiters.count == 0, 5.0, "the waiters of cancelled requests released")


LOG_LINE_CHARS_MAX = 200


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /v1/status HTTP/1.1 trailing\r\nHost: x\r\n\r\n",
    b"GET /v1/status HTTP/7.5\r\nHost: x\r\n\r\n",
    b"GET /v1/status HTTP/1.1\r\nHost: x\r\nNo colon in this header\r\n\r\n",
    b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
    b"GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
], ids=["method", "request-line", "version", "header", "header-too-long", "content-length"])
async def test_malformed_http_gets_4xx_and_at_most_one_short_quiet_log_line(tmp_path, caplog, raw):
    async with served_node(tmp_path) as config:
        with caplog.at_level(logging.DEBUG):
            caplog.clear()
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(config.host, config.port, ssl=tls_context(config.tls.ca)), 5)
            try:
                writer.write(raw)
                await writer.drain()
                status_line = await asyncio.wait_for(reader.readline(), 5)
            finally:
                writer.close()
                await writer.wait_closed()
            await asyncio.sleep(0)  # let the server finish with the connection
            records = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert status_line.startswith((b"HTTP/1.0 4", b"HTTP/1.1 4")), status_line
    assert len(records) <= 1, [r.getMessage() for r in records]
    for record in records:
        message = record.getMessage()
        assert record.levelno < logging.ERROR and record.exc_info is None, (record.levelname, message)
        assert "\n" not in message and len(message) <= LOG_LINE_CHARS_MAX, message


async def test_our_own_bug_is_a_500_logged_at_error_with_its_traceback(api, caplog, monkeypatch):
    def broken(tx_hash):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(api.node.ledger, "receipt", broken)
    with caplog.at_level(logging.INFO):
        await assert_refused(await api.get(f"/v1/tx/{'00' * 32}"), 500, "internal")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
