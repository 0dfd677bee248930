"""The client and auditor HTTP API (aiohttp).

    POST /v1/tx                one transaction (JSON object or msgpack wire bytes)
    POST /v1/txs               a batch (JSON {"txs": [...]} or msgpack list of wire bytes)
         ?wait=commit&timeout_ms=N   answer when every receipt is in (or the timeout)
    GET  /v1/tx/{hash}         receipt, ?wait_ms=N to wait for commitment
    GET  /v1/blocks/{height}   block, certificate and receipts (?format=msgpack for raw)
    GET  /v1/status            height, view, state root, peers
    GET  /v1/accounts          settlement balances (and node.queries: assets, queues,
                               cycles, finality records, proposals, validators)
    GET  /v1/export            the chain as an export stream (?from=&to=)
    GET  /v1/state/proof?key=  a state value with its proof against the latest certified root
    GET  /v1/peer              validator websocket (see node.peers)

Every error is JSON: {"error": {"code": ..., "message": ..., "problems": [...]}}.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from contracts.tx import TxError, tx_from_json
from crypto import encoding, smt
from node import export, queries
from node.admission import Rejected
from node.runtime import Node

log = logging.getLogger("consort.api")

MSGPACK = "application/msgpack"
NODE = web.AppKey("node", Node)


def error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return error(exc.status, code, exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # our bug: report it, keep serving
        log.exception("internal error on %s", request.path)
        return error(500, "internal", f"{type(exc).__name__}")


def _parse_batch(request: web.Request, body: bytes, single: bool) -> list:
    if request.content_type == MSGPACK:
        if single:
            return [body]
        try:
            items = encoding.decode(body, request.app[NODE].config.limits.request_bytes_max)
        except encoding.DecodeError as exc:
            raise BadRequest("malformed", str(exc)) from None
        if type(items) is not list or not all(type(i) is bytes for i in items):
            raise BadRequest("malformed", "a msgpack batch is a list of transaction byte strings")
        return items
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("malformed", f"body is not JSON: {exc}") from None
    if single:
        items = [document]
    elif type(document) is dict and type(document.get("txs")) is list:
        items = document["txs"]
    else:
        raise BadRequest("malformed", 'a JSON batch is {"txs": [...]}')
    txs = []
    for index, item in enumerate(items):
        try:
            txs.append(tx_from_json(item))
        except TxError as exc:
            raise BadRequest("malformed", f"transaction {index}: {exc}") from None
    return txs


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    try:
        value = int(request.query.get(name, default))
    except ValueError:
        raise BadRequest("bad_parameter", f"{name} must be an integer") from None
    if not 0 <= value <= maximum:
        raise BadRequest("bad_parameter", f"{name} must be between 0 and {maximum}")
    return value


async def submit(request: web.Request, single: bool) -> web.Response:
    node: Node = request.app[NODE]
    body = await request.read()
    try:
        items = _parse_batch(request, body, single)
        if not 0 < len(items) <= node.config.limits.batch_txs_max:
            raise BadRequest("bad_batch", f"a batch holds 1 to {node.config.limits.batch_txs_max} transactions")
        wait = request.query.get("wait") == "commit"
        timeout_ms = _int_param(request, "timeout_ms", 30_000, node.config.limits.wait_ms_max)
    except BadRequest as exc:
        return error(400, exc.code, str(exc))
    try:
        admitted = node.submit(items)
    except Rejected as exc:
        return error(exc.status, exc.problems[0]["code"], str(exc), problems=exc.problems)
    except asyncio.QueueFull:
        return error(503, "busy", "the node's queue is full; retry later")
    hashes = [tx.hash.hex() for tx in admitted]
    if not wait:
        return web.json_response({"accepted": hashes}, status=202)
    receipts = await wait_for_receipts(node, [tx.hash for tx in admitted], timeout_ms)
    done = all(r is not None for r in receipts)
    return web.json_response({"accepted": hashes, "receipts": receipts}, status=200 if done else 202)


async def wait_for_receipts(node: Node, hashes: list[bytes], timeout_ms: int) -> list:
    futures = [node.waiters.add(h) for h in hashes]
    try:
        pending = [f for f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=timeout_ms / 1000)
        return [_receipt_json(node, h, f.result() if f is not None and f.done() else None)
                for h, f in zip(hashes, futures)]
    finally:
        for h, f in zip(hashes, futures):
            if f is not None:
                node.waiters.discard(h, f)


def _receipt_json(node: Node, tx_hash: bytes, found) -> dict | None:
    if found is None:
        location = node.storage.tx_location(tx_hash)
        if location is None:
            return None
        height, index = location
        found = (height, index, node.storage.block(height).receipts[index])
    height, index, receipt = found
    return {"height": height, "index": index, **receipt.to_json()}


async def post_tx(request: web.Request) -> web.Response:
    return await submit(request, single=True)


async def post_txs(request: web.Request) -> web.Response:
    return await submit(request, single=False)


async def get_tx(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    try:
        tx_hash = bytes.fromhex(request.match_info["hash"])
        if len(tx_hash) != 32:
            raise ValueError
        wait_ms = _int_param(request, "wait_ms", 0, node.config.limits.wait_ms_max)
    except ValueError:
        return error(400, "bad_parameter", "a transaction hash is 64 hex digits")
    except BadRequest as exc:
        return error(400, exc.code, str(exc))
    receipt = _receipt_json(node, tx_hash, None)
    if receipt is None and wait_ms:
        receipt = (await wait_for_receipts(node, [tx_hash], wait_ms))[0]
    if receipt is not None:
        return web.json_response({"status": "committed", "receipt": receipt})
    if tx_hash in node.pending:
        return web.json_response({"status": "pending"}, status=202)
    return error(404, "not_found", "no such transaction on this node")


async def get_block(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    try:
        height = int(request.match_info["height"])
    except ValueError:
        return error(400, "bad_parameter", "height must be an integer")
    stored = node.storage.block(height) if height > 0 else None
    if stored is None:
        return error(404, "not_found", f"no block at height {height}")
    if request.query.get("format") == "msgpack":
        raw = encoding.encode([stored.block.to_wire(), stored.certificate.to_wire(),
                               node.storage.raw_receipts(height), stored.state_root, stored.receipts_root])
        return web.Response(body=raw, content_type=MSGPACK)
    return web.json_response(block_json(stored))


def block_json(stored) -> dict:
    from contracts.tx import decode_tx
    header = stored.block.header
    return {
        "hash": header.hash().hex(),
        "header": {
            "chain_id": header.chain_id.hex(), "height": header.height, "view": header.view,
            "proposer": header.proposer, "prev_hash": header.prev_hash.hex(),
            "timestamp_ms": header.timestamp_ms, "tx_root": header.tx_root.hex(),
            "tx_count": header.tx_count, "state_root": header.state_root.hex(),
            "receipts_root": header.receipts_root.hex(),
            "validator_set_hash": header.validator_set_hash.hex(),
        },
        "certificate": {
            "view": stored.certificate.view, "seq": stored.certificate.seq,
            "digest": stored.certificate.digest.hex(),
            "signatures": [{"replica": r, "signature": s.hex()} for r, s in stored.certificate.signatures],
        },
        "txs": [decode_tx(raw).to_json() for raw in stored.block.txs],
        "receipts": [r.to_json() for r in stored.receipts],
        "result": {"state_root": stored.state_root.hex(), "receipts_root": stored.receipts_root.hex()},
    }


async def get_export(request: web.Request) -> web.StreamResponse:
    """The chain (or heights from..to) as an export stream (see node.export)."""
    node: Node = request.app[NODE]
    tip = node.ledger.tip.height
    try:
        first = _int_param(request, "from", 1, max(tip, 1))
        last = _int_param(request, "to", tip, tip)
    except BadRequest as exc:
        return error(400, exc.code, str(exc))
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    await response.write(export.MAGIC)
    await response.write(export.frame(["chain", node.genesis.chain_id]))
    for height in range(max(first, 1), last + 1):
        await response.write(export.block_record(*node.storage.raw_block(height)))
    await response.write(export.frame(["end", last]))
    await response.write_eof()
    return response


async def get_state_proof(request: web.Request) -> web.Response:
    """A state value with its proof against the latest certified state root:
    the root after block h-1, carried by block h's certified header (h = tip)."""
    node: Node = request.app[NODE]
    try:
        key = bytes.fromhex(request.query.get("key", ""))
        if not 0 < len(key) <= 1024:
            raise ValueError
    except ValueError:
        return error(400, "bad_parameter", "key must be 1 to 1024 bytes in hex")
    tip = node.ledger.tip.height
    if tip == 0:
        return error(404, "not_found", "no certified header yet")
    stored = node.storage.block(tip)
    header = stored.block.header
    value = smt.get(node.ledger.tree, header.state_root, key)
    proof = smt.prove(node.ledger.tree, header.state_root, key)
    return web.json_response({
        "key": key.hex(), "value": None if value is None else value.hex(),
        "state_height": tip - 1, "header_height": tip, "state_root": header.state_root.hex(),
        "proof": proof.to_wire().hex(),
    })


async def get_status(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    tip, replica = node.ledger.tip, node.replica
    return web.json_response({
        "chain_id": node.genesis.chain_id.hex(), "chain_name": node.genesis.chain_name,
        "institution": node.config.institution, "replica_id": replica.config.replica_id,
        "height": tip.height, "block_hash": tip.block_hash.hex(), "state_root": tip.state_root.hex(),
        "view": replica.view, "primary": replica.config.primary(replica.view),
        "pending": len(node.pending), "committed_txs": node.committed_txs,
        "peers": node.peer_status(),
    })


def make_app(node: Node) -> web.Application:
    app = web.Application(client_max_size=node.config.limits.request_bytes_max, middlewares=[json_errors])
    app[NODE] = node
    app.router.add_post("/v1/tx", post_tx)
    app.router.add_post("/v1/txs", post_txs)
    app.router.add_get("/v1/tx/{hash}", get_tx)
    app.router.add_get("/v1/blocks/{height}", get_block)
    app.router.add_get("/v1/status", get_status)
    app.router.add_routes(queries.routes(NODE))
    app.router.add_get("/v1/export", get_export)
    app.router.add_get("/v1/state/proof", get_state_proof)
    app.router.add_get("/v1/peer", node.peers.handle_inbound)
    return app
