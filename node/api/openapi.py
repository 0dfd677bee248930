"""The member API described in OpenAPI 3.1, and the route that serves it.

    GET /v1/openapi.json    this document (any authenticated caller)

`document()` builds the description of every route of node.api.app from
the same constants the handlers use (limits, page sizes, transaction
types and their argument schemas from contracts.registry); the repository
keeps its output as docs/openapi.json, and tests/unit/test_openapi.py
fails when the two differ (regenerate with `python scripts/gen_docs.py`).
Every operation lists each status it may answer with and, for errors, the
codes; the four Consort-* headers of a signed request are its security
schemes. /v1/events (Server-Sent Events) is described ahead of its
handler.

The operator port's endpoints (/metrics, /healthz, /readyz) and the peer
websockets are not the member API and are not described here.

Must not read any node's state: every node serves the same document.
"""

from __future__ import annotations

import copy
import json
from functools import cache

from aiohttp import web

from contracts.genesis import ID_PATTERN
from contracts.registry import TX_TYPES
from node.api.access import AUTHENTICATED, requires
from node.api.audit_txs import PAGE_TXS_MAX
from node.api.chain import STATE_KEY_BYTES_MAX
from node.api.mpc import PAGE_MAX as MPC_PAGE_MAX
from node.api.openapi_schemas import (
    LIMITS, SIGNED, UINT64_MAX, answer_schemas, error_responses, hex_bytes, ref, security_schemes, uint,
)

VERSION = "0.1.0"
MSGPACK = "application/msgpack"
ASSET_ID = "^A[0-9]{12}$"
SESSION_ID = "^M[0-9]{12}$"
CURRENCY = "^[A-Z]{3}$"
INFO = """The API of a Consort node for its consortium's members: submit signed transactions, read receipts,
blocks, state and proofs. Every request except a transaction submission is signed with a client key
registered to an institution (the four Consort-* headers; docs/wire-format.md gives the exact bytes).
What each caller may read is README.md's table "Who may read what".

Every error is JSON: {"error": {"code": ..., "message": ...}} (a refused submission adds "problems").
Besides the statuses each operation lists: any path no route serves is 404 `not_found`, a method a
path does not serve is 405 `method_not_allowed`, a body over request_bytes_max is 413 `too_large`,
any other refusal by the HTTP layer itself is `http_error`, and 500 `internal` is a bug of the node
(please report it)."""


def parameter(name: str, where: str, schema: dict, description: str = "", required: bool = False) -> dict:
    found = {"name": name, "in": where, "schema": schema, "required": required or where == "path"}
    return {**found, "description": description} if description else found


def query(name: str, schema: dict, description: str = "", required: bool = False) -> dict:
    return parameter(name, "query", schema, description, required)


def path(name: str, schema: dict, description: str = "") -> dict:
    return parameter(name, "path", schema, description)


def json_answer(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def errors(*names: str) -> dict:
    statuses = {"BadParameter": "400", "BadSubmission": "400", "Unauthenticated": "401", "Forbidden": "403",
                "UnknownSender": "403", "NotFound": "404", "Conflict": "409", "TooLarge": "413",
                "TooManyRequests": "429", "Busy": "503"}
    return {statuses[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def read(operation_id: str, summary: str, access: str, answers: dict, parameters: list | None = None,
         refusals: tuple[str, ...] = (), tag: str = "queries") -> dict:
    """A signed read: 401, 429 and 503 from the access layer, 404 when a path
    segment names nothing, 400 when a parameter is malformed."""
    parameters = parameters or []
    names = ["Unauthenticated", "TooManyRequests", "Busy", *refusals]
    if parameters:
        names.append("BadParameter")
    if any(p["in"] == "path" for p in parameters):
        names.append("NotFound")
    return {"operationId": operation_id, "summary": summary, "description": f"Access: {access}", "tags": [tag],
            "security": SIGNED, "parameters": parameters, "responses": {**answers, **errors(*names)}}


def submission(operation_id: str, summary: str, body_schema: str, msgpack: str) -> dict:
    wait = [query("wait", {"type": "string", "enum": ["commit"]}, "commit: answer once every receipt is in"),
            query("timeout_ms", uint(LIMITS.wait_ms_max), "how long wait=commit waits (default 30000; at most "
                                                         "the node's wait_ms_max, 60000 by default)")]
    return {
        "operationId": operation_id, "summary": summary, "tags": ["transactions"],
        "description": "Access: anyone; the transactions' own signatures authenticate them. A request that "
                       "carries the Consort-* headers is checked all the same. Admitted whole or refused whole.",
        "security": [{}, *SIGNED], "parameters": wait,
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": ref(body_schema)},
            MSGPACK: {"schema": {"type": "string", "format": "binary", "description": msgpack}}}},
        "responses": {
            "200": json_answer("Submitted", "Admitted, and (wait=commit) every receipt is in."),
            "202": json_answer("Submitted", "Admitted; without wait=commit, or not every receipt in time "
                                            "(null for each missing)."),
            **errors("BadSubmission", "Unauthenticated", "UnknownSender", "Conflict", "TooLarge",
                     "TooManyRequests", "Busy"),
        },
    }


def transaction_paths() -> dict:
    tx_hash = path("hash", hex_bytes(32), "the transaction hash")
    return {
        "/v1/tx": {"post": submission("submitTransaction", "Submit one transaction", "Transaction",
                                      "the transaction's wire bytes: msgpack [body, signature]")},
        "/v1/txs": {"post": submission("submitBatch", f"Submit a batch of 1 to {LIMITS.batch_txs_max} "
                                       "transactions", "Batch", "msgpack array of transactions' wire bytes (bin)")},
        "/v1/tx/{hash}": {"get": read(
            "getTransaction", "A transaction's receipt, or that it is pending",
            "its institution's transactions (sent with its keys); auditors and regulators all.",
            {"200": json_answer("TxStatus", "Committed: the receipt."),
             "202": json_answer("TxStatus", "Pending on this node.")},
            [tx_hash, query("wait_ms", uint(LIMITS.wait_ms_max), "wait this long for the receipt")],
            ("Forbidden",), "transactions")},
    }


def chain_paths() -> dict:
    export_parameters = [query("from", uint(), "first height (default 1); at most the tip"),
                         query("to", uint(), "last height (default the tip); at most the tip")]
    export = read("exportChain", "The chain as an export stream (node/audit/export.py)",
                  "auditors, regulators and validators.",
                  {"200": {"description": "The export stream.", "content": {"application/octet-stream": {
                      "schema": {"type": "string", "format": "binary"}}}}},
                  export_parameters, ("Forbidden",), "chain")
    head = {**read("exportChainHead", "The export stream's headers only", "as GET.",
                   {"200": {"description": "The stream's headers, no body."}}, export_parameters, ("Forbidden",),
                   "chain")}
    for status in ("400", "401", "403", "429", "503"):
        head["responses"][status] = {"description": "As GET; a HEAD answer has no body."}
    return {
        "/v1/blocks/{height}": {"get": read(
            "getBlock", "A block with its commit certificate and receipts", "auditors, regulators and validators.",
            {"200": {"description": "The block (JSON, or ?format=msgpack: [block, certificate, receipts, "
                                    "state_root, receipts_root] in canonical msgpack).",
                     "content": {"application/json": {"schema": ref("Block")},
                                 MSGPACK: {"schema": {"type": "string", "format": "binary"}}}}},
            [path("height", uint()), query("format", {"type": "string", "enum": ["msgpack"]})],
            ("Forbidden",), "chain")},
        "/v1/status": {"get": read("getStatus", "Height, view, primary, state root and peer links",
                                   "any authenticated caller.", {"200": json_answer("Status", "The status.")},
                                   tag="chain")},
        "/v1/export": {"get": export, "head": head},
        "/v1/state/proof": {"get": read(
            "getStateProof", "A state value with its proof against the latest certified root",
            "a member its own acct/<id>/... keys; auditors, regulators and validators any key.",
            {"200": json_answer("StateProof", "The value and its proof."),
             "404": {"$ref": "#/components/responses/NotFound"}},
            [query("key", {**hex_bytes(), "minLength": 2, "maxLength": 2 * STATE_KEY_BYTES_MAX}, "the state key in "
                   "hex", required=True)], ("Forbidden",), "chain")},
    }


def query_paths() -> dict:
    currency = path("currency", {"type": "string", "pattern": CURRENCY}, "ISO 4217 code")
    number = path("number", uint())
    asset = path("asset", {"type": "string", "pattern": ASSET_ID})
    own = "any authenticated caller; a member or validator sees its own"
    party = "auditors and regulators all; anyone else only if a party, else 403."
    return {
        "/v1/accounts": {"get": read("getAccounts", "Settlement balances", f"{own} rows.",
                                     {"200": json_answer("Accounts", "Balances in minor units.")})},
        "/v1/settlement/queue/{currency}": {"get": read(
            "getQueue", "A currency's netting queue", f"{own}: the entries it pays or is paid by.",
            {"200": json_answer("Queue", "Queued instructions in order.")}, [currency])},
        "/v1/settlement/cycles/{currency}": {"get": read(
            "getCycles", "How many netting cycles closed, and the latest", f"{own} position only.",
            {"200": json_answer("Cycles", "The count and the latest cycle.")}, [currency])},
        "/v1/settlement/cycles/{currency}/{number}": {"get": read(
            "getCycle", "One netting cycle", f"{own} position only.",
            {"200": json_answer("Cycle", "The cycle.")}, [currency, number])},
        "/v1/settlement/finality/{tx_hash}": {"get": read(
            "getFinality", "A settlement's finality record", party,
            {"200": json_answer("Finality", "The record.")}, [path("tx_hash", hex_bytes(32))], ("Forbidden",))},
        "/v1/governance/proposals": {"get": read(
            "getProposals", "Open governance proposals", "any authenticated caller.",
            {"200": json_answer("Proposals", "Open proposals still taking votes.")})},
        "/v1/governance/proposals/{number}": {"get": read(
            "getProposal", "One governance proposal", "any authenticated caller.",
            {"200": json_answer("Proposal", "The proposal.")}, [number])},
        "/v1/governance/validators": {"get": read(
            "getValidators", "The validator set in force and a pending one", "any authenticated caller.",
            {"200": json_answer("Validators", "[institution, node key] in replica order.")})},
        "/v1/assets": {"get": read("getAssets", "Asset ids", f"{own}: the assets it holds, issued, pledged or has "
                                   "been pledged.", {"200": json_answer("Assets", "Asset ids in creation order.")})},
        "/v1/assets/{asset}": {"get": read("getAsset", "One asset", party,
                                           {"200": json_answer("Asset", "The asset record.")}, [asset],
                                           ("Forbidden",))},
        "/v1/assets/{asset}/history": {"get": read(
            "getAssetHistory", "An asset's history", party,
            {"200": json_answer("AssetHistory", "The history, oldest first.")}, [asset], ("Forbidden",))},
    }


def other_paths() -> dict:
    audit = read(
        "getAuditTxs", "Transactions by institution, type and heights, each with its proofs",
        f"auditors and regulators. Pages of at most {PAGE_TXS_MAX}; `next` is the next page's cursor. "
        "A parameter not listed or given twice is 400.",
        {"200": json_answer("AuditTxs", "One page, with the headers its proofs need.")},
        [query("institution", {"type": "string", "pattern": ID_PATTERN.pattern}),
         query("type", {"type": "string", "enum": list(TX_TYPES)}),
         query("from_height", {"type": "integer", "minimum": 1, "maximum": UINT64_MAX}),
         query("to_height", uint()),
         query("after", {"type": "string", "pattern": "^[0-9]{1,20}:[0-9]{1,10}$"}, "cursor height:index"),
         query("limit", {"type": "integer", "minimum": 1, "maximum": PAGE_TXS_MAX})], ("Forbidden",), "audit")
    events = read(
        "getEvents", "Server-Sent Events: committed blocks and receipts, history then live",
        "every block event; the receipts of the transactions the caller may read (GET /v1/tx/{hash}'s rule); "
        "auditors and regulators all. Each height sends its `receipt` events, then its `block` event, which "
        "alone carries the event id (the height): Last-Event-ID H resumes at H + 1. A subscriber that falls "
        "behind, or whose replay reaches events_replay_blocks_max blocks, gets a `resync` event (the height "
        "to resume from) and the stream ends. Subscribers are capped per node (503 busy) and per caller "
        "(429 too_many_subscriptions).",
        {"200": {"description": "An event stream (text/event-stream): `block` {height, hash, tx_count, "
                                "timestamp_ms}, `receipt` (GET /v1/tx/{hash}'s record with type and sender), "
                                "`resync` {from_height, reason}.",
                 "content": {"text/event-stream": {"schema": {
                     "description": "one event: its name, its data (JSON text) and, for a block, its id",
                     "type": "object", "required": ["event", "data"],
                     "properties": {"event": {"type": "string", "enum": ["block", "receipt", "resync"]},
                                    "data": {"type": "string", "contentMediaType": "application/json"},
                                    "id": {"type": "string", "pattern": "^[0-9]{1,20}$"}}}}}}},
        [query("from_height", {"type": "integer", "minimum": 1, "maximum": UINT64_MAX}, "replay from this height"),
         query("to_height", uint(), "end the stream after this height"),
         query("type", {"type": "string", "enum": list(TX_TYPES)}, "only receipts of this transaction type"),
         query("account", {"type": "string", "pattern": ID_PATTERN.pattern},
               "only receipts that involve this institution"),
         query("asset", {"type": "string", "pattern": ASSET_ID}, "only receipts that involve this asset"),
         parameter("Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]{1,20}$"},
                   "the last height received: resume after it")], tag="events")
    return {
        "/v1/audit/txs": {"get": audit},
        "/v1/mpc/sessions": {"get": read(
            "getMpcSessions", "MPC session ids", "its own sessions (participant, recipient, opener); auditors "
            "and regulators all.", {"200": json_answer("MpcSessions", "Session ids in opening order.")},
            [query("start", uint(2**63), "first sequence number"), query("limit", uint(MPC_PAGE_MAX))], tag="mpc")},
        "/v1/mpc/sessions/{session}": {"get": read(
            "getMpcSession", "One MPC session as the caller may see it", "any authenticated caller; a party, "
            "auditor or regulator reads the record and commitments, anyone else that the session exists and "
            "how it went.", {"200": json_answer("MpcSession", "The session.")},
            [path("session", {"type": "string", "pattern": SESSION_ID})], tag="mpc")},
        "/v1/openapi.json": {"get": read(
            "getOpenApi", "This document", "any authenticated caller.",
            {"200": {"description": "The OpenAPI document.", "content": {"application/json": {
                "schema": {"type": "object"}}}}}, tag="meta")},
        "/v1/events": {"get": events},
    }


@cache
def _built() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Consort member API", "version": VERSION, "description": INFO},
        "tags": [{"name": name} for name in ("transactions", "chain", "queries", "audit", "mpc", "events", "meta")],
        "paths": {**transaction_paths(), **chain_paths(), **query_paths(), **other_paths()},
        "components": {"schemas": answer_schemas(), "responses": error_responses(),
                       "securitySchemes": security_schemes()},
    }


def document() -> dict:
    """The OpenAPI 3.1 document of the member API (a fresh copy: the caller may change it)."""
    return copy.deepcopy(_built())


@cache
def render() -> str:
    """The document as docs/openapi.json holds it: sorted keys, two-space indent, a final newline."""
    return json.dumps(_built(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@requires(AUTHENTICATED)
async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(text=render(), content_type="application/json")


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/openapi.json", get_openapi)]
