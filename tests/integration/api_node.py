"""One in-process node (a 1-validator chain) behind its client API, for the
API tests: `open_api` serves it with aiohttp's test server, `served_node`
runs the node's own `serve` on a free port of 127.0.0.1. Both stop
everything they started, also when the test fails."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from contracts.tx import sign_tx
from crypto import encoding
from crypto.keys import KDF_COST_LIGHT, KeyPair, read_key_file
from fixtures import PASSPHRASE
from node.api.app import make_app
from node.devtools.consortium import create_consortium
from node.runtime.config import NodeConfig, load_config
from node.runtime.driver import Node, open_node
from node.runtime.passphrase import PassphraseSource
from node.runtime.server import serve

MSGPACK = {"Content-Type": "application/msgpack"}
LIMITS = {"request_bytes_max": 64 * 1024, "batch_txs_max": 50}
SERVE_READY_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Api:
    client: TestClient
    node: Node
    signer: object
    auditor: object
    nonce: int = 0

    def pay(self, amount: int = 100, payer: str = "bank-alpha", payee: str = "bank-other",
            signer=None, nonce: int | None = None):
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        return sign_tx(signer or self.signer, self.node.genesis.chain_id, nonce, "settlement.pay",
                       {"from": payer, "to": payee, "currency": "EUR", "amount": amount})

    async def submit(self, txs, wait: bool = True):
        body = encoding.encode([tx.wire() for tx in txs])
        params = {"wait": "commit", "timeout_ms": "5000"} if wait else {}
        response = await self.client.post("/v1/txs", data=body, headers=MSGPACK, params=params)
        return response.status, await response.json()

    async def balances(self) -> dict:
        response = await self.client.get("/v1/accounts")
        return {a["institution"]: a["balance"] for a in (await response.json())["accounts"]}

    async def height(self) -> int:
        response = await self.client.get("/v1/status")
        return (await response.json())["height"]


def write_consortium(tmp_path: Path, limits: dict | None) -> tuple[Path, KeyPair]:
    """A one-institution consortium with an auditor and a second member
    (no node), and bank-alpha's node config with `limits`; its config path
    and the auditor's key."""
    directory = tmp_path / "consortium"
    create_consortium(directory, institutions=1, base_port=free_port(), opening_balance=1_000_000,
                      clients_per_institution=2, passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    genesis_path = directory / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    auditor_key = KeyPair.generate()
    genesis["institutions"].append({"id": "auditor-x", "roles": ["auditor"],
                                    "client_keys": [auditor_key.public_key.hex()]})
    genesis["institutions"].append({"id": "bank-other", "roles": ["member"], "balances": {"EUR": 500}})
    genesis_path.write_text(json.dumps(genesis))
    config_path = directory / "bank-alpha" / "node.json"
    config = json.loads(config_path.read_text())
    config["limits"] = {**LIMITS, **(limits or {})}
    config_path.write_text(json.dumps(config))
    return config_path, auditor_key


@contextlib.asynccontextmanager
async def open_api(tmp_path: Path, limits: dict | None = None):
    config_path, auditor_key = write_consortium(tmp_path, limits)
    node = open_node(load_config(config_path), PASSPHRASE)
    consensus = asyncio.create_task(node.consensus_loop())
    client = TestClient(TestServer(make_app(node), host="127.0.0.1"))
    try:
        await client.start_server()
        signer = read_key_file(config_path.parent / "client-0.key", PASSPHRASE).signer()
        yield Api(client, node, signer, auditor_key.signer())
    finally:
        await client.close()
        consensus.cancel()
        await asyncio.gather(consensus, return_exceptions=True)
        await node.close()


@contextlib.asynccontextmanager
async def served_node(tmp_path: Path, limits: dict | None = None):
    """The node as `consort node start` runs it (`server.serve`), its passphrase
    coming over a pipe as with --passphrase-fd; yields its config."""
    config_path, _ = write_consortium(tmp_path, limits)
    config: NodeConfig = dataclasses.replace(load_config(config_path),
                                             passphrase_source=PassphraseSource(fd=passphrase_pipe(PASSPHRASE)))
    ready = asyncio.Event()
    server = asyncio.create_task(serve(config, make_app, ready))
    try:
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({server, waiting}, timeout=SERVE_READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if server.done():
            server.result()  # its error, if it failed to start
        assert ready.is_set(), f"the node did not start serving within {SERVE_READY_TIMEOUT_S} s"
        yield config
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


def passphrase_pipe(passphrase: str) -> int:
    """The read end of a pipe holding `passphrase` and a newline (its reader closes it)."""
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as pipe:
        pipe.write(passphrase.encode() + b"\n")
    return read_end


async def assert_refused(response, status_code: int, code: str) -> dict:
    """`response` is a JSON error with this status and code; its body."""
    assert response.status == status_code, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body
