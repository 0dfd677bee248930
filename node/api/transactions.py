"""Submitting transactions and reading their receipts.

    POST /v1/tx                one transaction (JSON object or msgpack wire bytes)
    POST /v1/txs               a batch (JSON {"txs": [...]} or msgpack list of wire bytes)
         ?wait=commit&timeout_ms=N   answer when every receipt is in (or the timeout)
    GET  /v1/tx/{hash}         receipt, ?wait_ms=N to wait for commitment: the sender's
                               institution's own, or any for auditors and regulators

A batch is admitted whole or refused whole (400 malformed or bad signature,
403 unknown key, 409 replay, 413 too large, 503 busy). Waiting requests are
bounded per caller as well as in all: 429 when a caller has too many.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from contracts.executor import Receipt
from contracts.tx import TxError, tx_from_json
from crypto import encoding
from node.api.access import AUTHENTICATED, SUBMISSION, key_institution, requires
from node.api.http import MSGPACK, NODE, BadRequest, caller, error, int_param, json_body, require_party
from node.runtime.admission import Busy, Rejected
from node.runtime.driver import Node

WAIT_TIMEOUT_MS_DEFAULT = 30_000
TX_HASH_SIZE = 32
JSON_TX_VALUES_MAX = 2048          # one transaction in JSON, its {"$bytes": hex} wrappers included
JSON_BATCH_VALUES_MAX = 128 * 1024  # a JSON batch: 5000 payments hold about 105k; send more as msgpack


def parse_batch(request: web.Request, body: bytes, single: bool) -> list:
    """Wire bytes (msgpack) or parsed transactions (JSON); BadRequest if malformed."""
    if request.content_type == MSGPACK:
        if single:
            return [body]
        limits = request.app[NODE].config.limits
        count = encoding.list_length(body)
        if count is None:
            raise BadRequest("malformed", "a msgpack batch is a list of transaction byte strings")
        if not 0 < count <= limits.batch_txs_max:
            raise BadRequest("bad_batch", f"a batch holds 1 to {limits.batch_txs_max} transactions")
        try:
            items = encoding.decode(body, limits.request_bytes_max, depth_max=1, elements_max=count + 1)
        except encoding.DecodeError as exc:
            raise BadRequest("malformed", str(exc)) from None
        if type(items) is not list or not all(type(i) is bytes for i in items):
            raise BadRequest("malformed", "a msgpack batch is a list of transaction byte strings")
        return items
    document = json_body(body, JSON_TX_VALUES_MAX if single else JSON_BATCH_VALUES_MAX)
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


async def submit(request: web.Request, single: bool) -> web.Response:
    node: Node = request.app[NODE]
    limits = node.config.limits
    items = parse_batch(request, await request.read(), single)
    if not 0 < len(items) <= limits.batch_txs_max:
        raise BadRequest("bad_batch", f"a batch holds 1 to {limits.batch_txs_max} transactions")
    wait = request.query.get("wait") == "commit"
    timeout_ms = int_param(request, "timeout_ms", WAIT_TIMEOUT_MS_DEFAULT, limits.wait_ms_max)
    if wait and not node.waiters.room(caller(request), len(items)):
        return too_many_waiters()
    try:
        admitted = await node.submit(items)
    except Rejected as exc:
        return error(exc.status, exc.problems[0]["code"], str(exc), problems=exc.problems)
    except Busy as exc:
        return error(503, "busy", str(exc))
    hashes = [tx.hash.hex() for tx in admitted]
    if not wait:
        return web.json_response({"accepted": hashes}, status=202)
    receipts = await wait_for_receipts(node, [tx.hash for tx in admitted], timeout_ms, caller(request))
    done = all(r is not None for r in receipts)
    return web.json_response({"accepted": hashes, "receipts": receipts}, status=200 if done else 202)


def too_many_waiters() -> web.Response:
    return error(429, "too_many_waiters", "too many of your requests are waiting for receipts; retry later")


async def wait_for_receipts(node: Node, hashes: list[bytes], timeout_ms: int, who: str) -> list:
    """The receipts of `hashes` once all are in or after `timeout_ms`
    (None for each still missing, also for one no waiter was left for)."""
    futures = [node.waiters.add(h, who) for h in hashes]
    try:
        pending = [f for f in futures if f is not None]
        if pending:
            await asyncio.wait(pending, timeout=timeout_ms / 1000)
        return [receipt_json(node, h, f.result() if f is not None and f.done() else None)
                for h, f in zip(hashes, futures)]
    finally:
        for h, f in zip(hashes, futures):
            if f is not None:
                node.waiters.discard(h, f, who)


def receipt_json(node: Node, tx_hash: bytes, found=None) -> dict | None:
    """A receipt as JSON with its height and index; None if not committed."""
    found = found or node.ledger.receipt(tx_hash)
    return None if found is None else receipt_record(*found)


def receipt_record(height: int, index: int, receipt: Receipt) -> dict:
    """The one JSON shape of a committed receipt (here and in the event stream)."""
    return {"height": height, "index": index, **receipt.to_json()}


@requires(SUBMISSION)
async def post_tx(request: web.Request) -> web.Response:
    return await submit(request, single=True)


@requires(SUBMISSION)
async def post_txs(request: web.Request) -> web.Response:
    return await submit(request, single=False)


@requires(AUTHENTICATED)
async def get_tx(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    try:
        tx_hash = bytes.fromhex(request.match_info["hash"])
    except ValueError:
        tx_hash = b""
    if len(tx_hash) != TX_HASH_SIZE:
        raise BadRequest("bad_parameter", "a transaction hash is 64 hex digits")
    wait_ms = int_param(request, "wait_ms", 0, node.config.limits.wait_ms_max)
    receipt = receipt_json(node, tx_hash)
    if receipt is None and wait_ms:
        if not node.waiters.room(caller(request)):
            return too_many_waiters()
        receipt = (await wait_for_receipts(node, [tx_hash], wait_ms, caller(request)))[0]
    if receipt is not None:
        require_party(request, tx_parties(node.ledger.tx_sender(tx_hash)), "this transaction")
        return web.json_response({"status": "committed", "receipt": receipt})
    pending = node.pending.transaction(tx_hash)
    if pending is not None:
        require_party(request, tx_parties(key_institution(node.ledger.view, pending.sender)), "this transaction")
        return web.json_response({"status": "pending"}, status=202)
    return error(404, "not_found", "no such transaction on this node")


def tx_parties(sender: str | None) -> list[str]:
    """Whose a transaction and its receipt are, for reading them: the
    institution that sent it (none known: no one's). The event stream
    applies the same rule to each receipt it sends."""
    return [] if sender is None else [sender]


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/tx", post_tx), web.post("/v1/txs", post_txs), web.get("/v1/tx/{hash}", get_tx)]
