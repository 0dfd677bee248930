"""The HTTP client for a Consort node, used by the CLI, the demo and the bench.

Given a client key's signer and the chain id (from the client's own genesis
file), it signs every request as `request_signing` defines; without them
it sends unsigned requests, which a node answers only for transaction
submission (a transaction carries its own signature).

It speaks the client API only; it must not import node.runtime, node.api,
node.cli or node.devtools (it is what an outside institution's code would
be: a client of the wire format).
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from contracts.tx import Transaction
from crypto import encoding, keys
from node.client.request_signing import request_headers
from node.client.sse import EventStreamError, EventStreamParser, ServerEvent

MSGPACK = "application/msgpack"
RESYNC_EVENT = "resync"
RESYNCS_IDLE_MAX = 3             # resyncs in a row without a block: the node makes no progress for this reader
EVENTS_READ_TIMEOUT_S = 60.0     # silence on an event stream (the node pings every 15 s): the link is dead


class ClientError(Exception):
    """The node refused a request (status and code from its JSON error) or could not be reached."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code
        self.body = body


def refusal(status: int, body: Any) -> ClientError:
    """The ClientError of a 4xx or 5xx answer with `body` (its JSON error, if it is one)."""
    err = body.get("error", {}) if isinstance(body, dict) else {}
    return ClientError(status, err.get("code", "http_error"), err.get("message", str(body)[:200]), body)


def tls_context(ca: str | Path) -> ssl.SSLContext:
    """A client's TLS context: TLS 1.3, trusting only the consortium's root
    certificate `ca` (the node's certificate names its address)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        context.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(0, "bad_ca", f"cannot load the root CA certificate {ca}: {exc}") from None
    return context


class ConsortClient:
    def __init__(self, url: str, session: aiohttp.ClientSession | None = None, timeout_s: float = 60.0,
                 signer: keys.Signer | None = None, chain_id: bytes | None = None,
                 ca: str | Path | None = None) -> None:
        """`ca`: the consortium's root certificate, the one trusted for an
        https URL (None: the system's roots)."""
        if (signer is None) != (chain_id is None):
            raise ValueError("signing requests takes both a client key's signer and the chain id")
        self.url = url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = tls_context(ca) if ca is not None else True
        self.signer = signer
        self.chain_id = chain_id
        self._own_session = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> "ConsortClient":
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _signed(self, method: str, path: str, params: dict | None, data: bytes,
                headers: dict | None) -> tuple[URL, dict]:
        """The URL with its query, and the headers with this client's request signature."""
        url = URL(self.url + path)
        if params:
            url = url.update_query(params)
        headers = dict(headers or {})
        if self.signer is not None:
            headers.update(request_headers(self.signer, self.chain_id, method, url.raw_path_qs, data))
        return url, headers

    async def _request(self, method: str, path: str, params: dict | None = None, data: bytes = b"",
                       headers: dict | None = None) -> tuple[int, Any]:
        """Send one request (signed when this client has a signer); the
        status and the JSON body. ClientError for a 4xx or 5xx answer."""
        if self._session is None:
            await self.__aenter__()
        url, headers = self._signed(method, path, params, data, headers)
        try:
            async with self._session.request(method, url, data=data or None, headers=headers,
                                             ssl=self._ssl) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ClientError(0, "unreachable", f"cannot reach node at {self.url}: {exc or type(exc).__name__}") from None
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw
        if status >= 400:
            raise refusal(status, body)
        return status, body

    async def get(self, path: str, params: dict | None = None) -> dict:
        """GET `path` (percent-encode what it holds beyond URL-safe characters)."""
        return (await self._request("GET", path, params))[1]

    async def status(self) -> dict:
        return (await self._request("GET", "/v1/status"))[1]

    async def accounts(self) -> dict:
        return (await self._request("GET", "/v1/accounts"))[1]

    async def block(self, height: int) -> dict:
        return (await self._request("GET", f"/v1/blocks/{height}"))[1]

    async def state_proof(self, key: bytes) -> dict:
        return (await self._request("GET", "/v1/state/proof", {"key": key.hex()}))[1]

    async def audit_txs(self, **params) -> dict:
        """One page of GET /v1/audit/txs (institution, type, from_height,
        to_height, after, limit; None values left out)."""
        query = {name: str(value) for name, value in params.items() if value is not None}
        return (await self._request("GET", "/v1/audit/txs", query))[1]

    async def receipt(self, tx_hash: str, wait_ms: int = 0) -> dict:
        return (await self._request("GET", f"/v1/tx/{tx_hash}", {"wait_ms": str(wait_ms)}))[1]

    async def events(self, from_height: int | None = None, to_height: int | None = None, *,
                     tx_type: str | None = None, account: str | None = None, asset: str | None = None,
                     resume: bool = True) -> AsyncIterator[ServerEvent]:
        """Follow the chain (GET /v1/events, signed like every read): yield
        each event as it comes (`name`: receipt, block or resync; `.json()`
        its data; a block event's `id` is its height), from `from_height`
        (None: the next block) through `to_height` (None: without end),
        receipts of `tx_type`, or involving `account` or `asset`, only.

        With `resume` a `resync` event (the node's history page is done, or
        this reader fell behind) is not yielded: the client asks again from
        the height it names, so the caller sees one sequence without gap or
        repeat; more than RESYNCS_IDLE_MAX in a row with no block between
        them is a ClientError. Returns when the node ends the stream
        otherwise (to_height reached); ClientError for a refusal or when the
        node cannot be reached or says nothing for EVENTS_READ_TIMEOUT_S."""
        query = {"to_height": to_height, "type": tx_type, "account": account, "asset": asset}
        params = {name: str(value) for name, value in query.items() if value is not None}
        resyncs_idle = 0
        while True:
            if from_height is not None:
                params["from_height"] = str(from_height)
            resync = None
            async with contextlib.aclosing(self._event_stream(params)) as stream:
                async for event in stream:
                    if event.name == RESYNC_EVENT and resume:
                        resync = event.json()["from_height"]
                        break
                    if event.name == "block":
                        resyncs_idle = 0
                    yield event
            if resync is None:
                return
            resyncs_idle += 1
            if resyncs_idle > RESYNCS_IDLE_MAX:
                raise ClientError(0, "no_progress", f"the node asked {resyncs_idle} times in a row to resume from "
                                                    f"height {resync} without sending a block")
            from_height = resync

    async def _event_stream(self, params: dict) -> AsyncIterator[ServerEvent]:
        """One GET /v1/events request's events, resync included."""
        if self._session is None:
            await self.__aenter__()
        url, headers = self._signed("GET", "/v1/events", params, b"", {"Accept": "text/event-stream"})
        parser = EventStreamParser()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total,
                                        sock_read=EVENTS_READ_TIMEOUT_S)
        try:
            async with self._session.get(url, headers=headers, ssl=self._ssl, timeout=timeout) as response:
                if response.status >= 400:
                    raw = await response.read()
                    try:
                        body = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        body = raw
                    raise refusal(response.status, body)
                async for chunk in response.content.iter_any():
                    for event in parser.feed(chunk):
                        yield event
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise ClientError(0, "unreachable", f"event stream from {self.url} broke: "
                                                f"{exc or type(exc).__name__}") from None
        except EventStreamError as exc:
            raise ClientError(0, "bad_stream", f"event stream from {self.url}: {exc}") from None

    async def submit(self, txs: list[Transaction], wait: bool = False, timeout_ms: int = 30_000) -> dict:
        """Submit a batch as msgpack; with `wait`, return once every receipt is in."""
        params = {"wait": "commit", "timeout_ms": str(timeout_ms)} if wait else {}
        data = encoding.encode([tx.wire() for tx in txs])
        return (await self._request("POST", "/v1/txs", params, data, {"Content-Type": MSGPACK}))[1]
