"""Reading the chain: blocks, status, the export stream and state proofs.

    GET  /v1/blocks/{height}   block, certificate and receipts (?format=msgpack for raw)
    GET  /v1/status            height, view, primary, state root, peer links
    GET  /v1/export            the chain as an export stream (?from=&to=; node.audit.export)
    GET  /v1/state/proof?key=  a state value with its proof against the latest certified root

Whole blocks and the export are for auditors, regulators and validators; a
state proof of a key outside the caller's own accounts (acct/<id>/...) too;
the status for any authenticated caller.
"""

from __future__ import annotations

from aiohttp import web

from consensus.messages import BlockHeader
from contracts.tx import decode_tx
from crypto import encoding
from node.api.access import AUTHENTICATED, CHAIN, requires
from contracts.genesis import account_key
from node.api.http import (
    EVERYONE, MSGPACK, NODE, BadRequest, Forbidden, authenticated, error, int_param, note_whose, path_uint,
)
from node.audit import export
from node.runtime.driver import Node
from node.runtime.storage import StoredBlock

STATE_KEY_BYTES_MAX = 1024


@requires(CHAIN)
async def get_block(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    height = path_uint(request, "height")
    note_whose(request, [EVERYONE])
    stored = node.ledger.block(height)
    if stored is None:
        return error(404, "not_found", f"no block at height {height}")
    if request.query.get("format") == "msgpack":
        raw = encoding.encode([stored.block.to_wire(), stored.certificate.to_wire(),
                               node.ledger.raw_block(height)[2], stored.state_root, stored.receipts_root])
        return web.Response(body=raw, content_type=MSGPACK)
    return web.json_response(block_json(stored))


def block_summary(header: BlockHeader) -> dict:
    """A block in brief (the event stream's block event): height, hash, transaction count, time."""
    return {"height": header.height, "hash": header.hash().hex(), "tx_count": header.tx_count,
            "timestamp_ms": header.timestamp_ms}


def block_json(stored: StoredBlock) -> dict:
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


@requires(CHAIN)
async def get_export(request: web.Request) -> web.StreamResponse:
    """The chain (or heights from..to) as an export stream; HEAD gets the headers only."""
    node: Node = request.app[NODE]
    tip = node.ledger.tip.height
    first = int_param(request, "from", 1, max(tip, 1))
    last = int_param(request, "to", tip, tip)
    note_whose(request, [EVERYONE])
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    await response.write(export.MAGIC)
    await response.write(export.frame(["chain", node.genesis.chain_id]))
    for height in range(max(first, 1), last + 1):
        await response.write(export.block_record(*node.ledger.raw_block(height)))
    await response.write(export.frame(["end", last]))
    await response.write_eof()
    return response


@requires(AUTHENTICATED)
async def get_state_proof(request: web.Request) -> web.Response:
    node: Node = request.app[NODE]
    try:
        key = bytes.fromhex(request.query.get("key", ""))
    except ValueError:
        key = b""
    if not 0 < len(key) <= STATE_KEY_BYTES_MAX:
        raise BadRequest("bad_parameter", f"key must be 1 to {STATE_KEY_BYTES_MAX} bytes in hex")
    who = authenticated(request)
    if key.startswith(account_key(who.institution, "")):
        note_whose(request, [who.institution])
    elif who.reads_chain:
        note_whose(request, [EVERYONE])
    else:
        own = account_key(who.institution, "").decode()
        raise Forbidden(f"{who.institution} may prove its own accounts' keys ({own}...); any other key is for "
                        "auditors, regulators and validators")
    found = node.ledger.state_proof(key)
    if found is None:
        return error(404, "not_found", "no certified header yet")
    return web.json_response({
        "key": key.hex(), "value": None if found.value is None else found.value.hex(),
        "state_height": found.header_height - 1, "header_height": found.header_height,
        "state_root": found.state_root.hex(), "proof": found.proof.to_wire().hex(),
    })


@requires(AUTHENTICATED)
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


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/blocks/{height}", get_block),
        web.get("/v1/status", get_status),
        web.get("/v1/export", get_export),
        web.get("/v1/state/proof", get_state_proof),
    ]
