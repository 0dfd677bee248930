"""The HTTP client for a Consort node, used by the CLI, the demo and the bench.

It speaks the client API only; it must not import node.runtime, node.api,
node.cli or node.devtools (it is what an outside institution's code would
be: a client of the wire format).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from contracts.tx import Transaction
from crypto import encoding

MSGPACK = "application/msgpack"


class ClientError(Exception):
    """The node refused a request (status and code from its JSON error) or could not be reached."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code
        self.body = body


class ConsortClient:
    def __init__(self, url: str, session: aiohttp.ClientSession | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
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

    async def _request(self, method: str, path: str, **kwargs) -> tuple[int, Any]:
        if self._session is None:
            await self.__aenter__()
        try:
            async with self._session.request(method, self.url + path, **kwargs) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise ClientError(0, "unreachable", f"cannot reach node at {self.url}: {exc or type(exc).__name__}") from None
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw
        if status >= 400:
            err = body.get("error", {}) if isinstance(body, dict) else {}
            raise ClientError(status, err.get("code", "http_error"), err.get("message", str(body)[:200]), body)
        return status, body

    async def get(self, path: str) -> dict:
        return (await self._request("GET", path))[1]

    async def status(self) -> dict:
        return (await self._request("GET", "/v1/status"))[1]

    async def accounts(self) -> dict:
        return (await self._request("GET", "/v1/accounts"))[1]

    async def block(self, height: int) -> dict:
        return (await self._request("GET", f"/v1/blocks/{height}"))[1]

    async def state_proof(self, key: bytes) -> dict:
        return (await self._request("GET", "/v1/state/proof", params={"key": key.hex()}))[1]

    async def receipt(self, tx_hash: str, wait_ms: int = 0) -> dict:
        return (await self._request("GET", f"/v1/tx/{tx_hash}", params={"wait_ms": str(wait_ms)}))[1]

    async def submit(self, txs: list[Transaction], wait: bool = False, timeout_ms: int = 30_000) -> dict:
        """Submit a batch as msgpack; with `wait`, return once every receipt is in."""
        params = {"wait": "commit", "timeout_ms": str(timeout_ms)} if wait else {}
        data = encoding.encode([tx.wire() for tx in txs])
        return (await self._request("POST", "/v1/txs", data=data, params=params,
                                    headers={"Content-Type": MSGPACK}))[1]
