"""One in-process node (a 1-validator chain) behind its client API, for the
API tests: `open_api` serves it with aiohttp's test server, `served_node`
runs the node's own `serve` on a free port of 127.0.0.1. Both stop
everything they started, also when the test fails.

The consortium: bank-alpha (validator and member, runs the node), bank-other
and bank-third (members without a node), auditor-x (auditor) and
central-bank (regulator), each with a client key in <folder>/<id>/client-0.key.
`Api.request` and `Api.get` sign as one of them (node.client.request_signing)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from contracts.tx import sign_tx
from crypto import encoding, keys
from crypto.keys import KDF_COST_LIGHT, KeyPair, read_key_file, write_key_file
from fixtures import PASSPHRASE, free_base_port
from node.api.app import make_app
from node.client.request_signing import request_headers
from node.devtools.consortium import create_consortium
from node.runtime.config import NodeConfig, load_config
from node.runtime.driver import Node, open_node
from node.runtime.passphrase import PassphraseSource
from node.runtime.server import serve

MSGPACK = {"Content-Type": "application/msgpack"}
LIMITS = {"request_bytes_max": 64 * 1024, "batch_txs_max": 50}
SERVE_READY_TIMEOUT_S = 10.0
AUDITOR, REGULATOR = "auditor-x", "central-bank"
MEMBERS = ("bank-alpha", "bank-other", "bank-third")


def free_port() -> int:
    return free_base_port(1)


@dataclasses.dataclass
class Api:
    client: TestClient
    node: Node
    signer: object
    auditor: object
    keys: dict[str, keys.Signer]  # a client key of each institution
    nonce: int = 0

    def pay(self, amount: int = 100, payer: str = "bank-alpha", payee: str = "bank-other",
            signer=None, nonce: int | None = None):
        if nonce is None:
            self.nonce += 1
            nonce = self.nonce
        return sign_tx(signer or self.signer, self.node.genesis.chain_id, nonce, "settlement.pay",
                       {"from": payer, "to": payee, "currency": "EUR", "amount": amount})

    def tx(self, who: str, tx_type: str, args: dict):
        """A transaction of `tx_type` signed by `who`'s client key with a fresh nonce."""
        self.nonce += 1
        return sign_tx(self.keys[who], self.node.genesis.chain_id, self.nonce, tx_type, args)

    async def request(self, method: str, path: str, as_: str | keys.Signer | None = AUDITOR,
                      params: dict | None = None, data: bytes = b"", headers: dict | None = None):
        """A request signed by `as_` (an institution of the consortium, a
        signer, or None: unsigned) for exactly the path and query it sends."""
        url = self.client.make_url(path)
        if params:
            url = url.update_query(params)
        headers = dict(headers or {})
        signer = self.keys[as_] if isinstance(as_, str) else as_
        if signer is not None:
            headers.update(request_headers(signer, self.node.genesis.chain_id, method, url.raw_path_qs, data))
        return await self.client.session.request(method, url, data=data or None, headers=headers)

    async def get(self, path: str, as_: str | keys.Signer | None = AUDITOR, params: dict | None = None):
        return await self.request("GET", path, as_, params)

    async def submit(self, txs, wait: bool = True):
        body = encoding.encode([tx.wire() for tx in txs])
        params = {"wait": "commit", "timeout_ms": "5000"} if wait else {}
        response = await self.client.post("/v1/txs", data=body, headers=MSGPACK, params=params)
        return response.status, await response.json()

    async def balances(self) -> dict:
        response = await self.get("/v1/accounts")
        return {a["institution"]: a["balance"] for a in (await response.json())["accounts"]}

    async def height(self) -> int:
        response = await self.get("/v1/status")
        return (await response.json())["height"]


def write_consortium(tmp_path: Path, limits: dict | None, extra: dict | None = None) -> tuple[Path, dict]:
    """The consortium above, and bank-alpha's node config with `limits` (and
    the `extra` fields); its config path and every institution's client key."""
    directory = tmp_path / "consortium"
    create_consortium(directory, institutions=1, base_port=free_port(), opening_balance=1_000_000,
                      clients_per_institution=2, passphrase=PASSPHRASE, kdf_cost=KDF_COST_LIGHT)
    genesis_path = directory / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    client_keys = {"bank-alpha": read_key_file(directory / "bank-alpha" / "client-0.key", PASSPHRASE),
                   REGULATOR: read_key_file(directory / REGULATOR / "client-0.key", PASSPHRASE)}
    for iid, roles, balance in ((AUDITOR, ["auditor"], None), ("bank-other", ["member"], 500),
                                ("bank-third", ["member"], 300)):
        client_keys[iid] = KeyPair.generate()
        (directory / iid).mkdir()
        write_key_file(directory / iid / "client-0.key", client_keys[iid], PASSPHRASE, KDF_COST_LIGHT)
        genesis["institutions"].append({"id": iid, "roles": roles, "client_keys": [client_keys[iid].public_key.hex()],
                                        **({"balances": {"EUR": balance}} if balance is not None else {})})
    genesis_path.write_text(json.dumps(genesis))
    config_path = directory / "bank-alpha" / "node.json"
    config = json.loads(config_path.read_text())
    config["limits"] = {**LIMITS, **(limits or {})}
    config.update(extra or {})
    config_path.write_text(json.dumps(config))
    return config_path, client_keys


@contextlib.asynccontextmanager
async def open_api(tmp_path: Path, limits: dict | None = None, config: dict | None = None):
    config_path, client_keys = write_consortium(tmp_path, limits, config)
    node = open_node(load_config(config_path), PASSPHRASE)
    consensus = asyncio.create_task(node.consensus_loop())
    client = TestClient(TestServer(make_app(node), host="127.0.0.1"))
    try:
        await client.start_server()
        signers = {iid: key.signer() for iid, key in client_keys.items()}
        yield Api(client, node, signers["bank-alpha"], signers[AUDITOR], signers)
    finally:
        await client.close()
        consensus.cancel()
        await asyncio.gather(consensus, return_exceptions=True)
        await node.close()


@contextlib.asynccontextmanager
async def served_node(tmp_path: Path, limits: dict | None = None, extra: dict | None = None):
    """The node as `consort node start` runs it (`server.serve`), its passphrase
    coming over a pipe as with --passphrase-fd; yields its config."""
    config_path, _ = write_consortium(tmp_path, limits, extra)
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
