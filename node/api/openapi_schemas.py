"""The reusable parts of the API's OpenAPI document (node.api.openapi):
the JSON schemas of requests and answers, the error answers with their
codes, the four signed-request headers as security schemes, and the
argument schema of every transaction type, derived from the contracts'
own `Field`s (contracts.registry), so the document cannot drift from what
admission checks.

Schemas say what the node sends and what it parses; where the node is
lenient (upper-case hex, extra fields in a transaction object) the schema
says what a client should send. Contract records inside answers (assets,
proposals, sessions, finality records) are objects whose main fields are
named; the contracts' module docstrings say the rest.

Must not read any node's state: the document is the same for every node
(its limits are the defaults of node.runtime.config.Limits).
"""

from __future__ import annotations

from contracts.registry import GOVERNANCE_ACTIONS, TX_TYPES
from contracts.schema import AMOUNT_MAX, Field
from contracts.tx import TYPE_LENGTH_MAX
from node.runtime.config import Limits

LIMITS = Limits()
UINT64_MAX = 2**64 - 1
REF = "#/components/schemas/"
HEX = "^([0-9a-fA-F]{2})*$"

# --- error codes, by status: what a client branches on --------------------------------

SIGNATURE_CODES = ("unauthenticated", "bad_request_signature", "stale_request", "replayed_request", "unknown_key")
# 400 on a submission; a type's own stateless check may add a code of its own (docs/transactions.md)
ADMISSION_CODES_400 = ("malformed", "bad_batch", "bad_parameter", "wrong_chain", "bad_signature",
                       "duplicate_in_batch", "unknown_type", "bad_args", "unknown_action", "parameter_protected")
CONFLICT_CODES = ("duplicate", "nonce_used", "nonce_too_old")


def ref(name: str) -> dict:
    return {"$ref": REF + name}


def hex_bytes(size: int | None = None, description: str = "") -> dict:
    """A byte string as hex (two digits a byte; lower case is what the node writes)."""
    pattern = HEX if size is None else f"^[0-9a-fA-F]{{{2 * size}}}$"
    found = {"type": "string", "pattern": pattern}
    return {**found, "description": description} if description else found


def uint(maximum: int = UINT64_MAX, description: str = "") -> dict:
    found = {"type": "integer", "minimum": 0, "maximum": maximum}
    return {**found, "description": description} if description else found


def obj(properties: dict, required: tuple[str, ...] | None = None, description: str = "",
        closed: bool = False) -> dict:
    """An object with `properties`, all of them required unless `required` says which."""
    found: dict = {"type": "object", "properties": properties,
                   "required": list(properties if required is None else required)}
    if closed:
        found["additionalProperties"] = False
    if description:
        found["description"] = description
    return found


def nullable(schema: dict) -> dict:
    return {"oneOf": [schema, {"type": "null"}]}


# --- transaction arguments, from the contracts' fields ----------------------------------

def field_schema(field: Field) -> dict:
    """The JSON schema of one argument as the JSON form writes it (byte
    strings as {"$bytes": hex}); the same bounds `Field.check` applies."""
    kind = field.kind
    if kind is bool:
        return {"type": "boolean"}
    if kind is int:
        return {"type": "integer", "minimum": field.minimum, "maximum": field.maximum}
    if kind is str:
        return {"type": "string", "minLength": field.minimum, "maxLength": field.length_max}
    if kind is bytes:
        return {"type": "object", "description": "a byte string: {\"$bytes\": \"<hex>\"}",
                "properties": {"$bytes": {"type": "string", "pattern": HEX, "minLength": 2 * field.minimum,
                                          "maxLength": 2 * field.length_max}},
                "required": ["$bytes"], "additionalProperties": False}
    if kind is list:
        found = {"type": "array", "minItems": field.minimum, "maxItems": field.length_max}
        if field.items is not None:
            found["items"] = field_schema(field.items)
        return found
    if kind is dict:
        found = {"type": "object", "minProperties": field.minimum, "maxProperties": field.length_max}
        if field.items is not None:
            found["additionalProperties"] = field_schema(field.items)
        if field.keys is not None:
            found["propertyNames"] = field_schema(field.keys)
        return found
    raise AssertionError(f"field {field.name} has a kind with no JSON form: {kind}")


def fields_schema(fields: tuple[Field, ...], description: str) -> dict:
    return {"type": "object", "description": description,
            "properties": {f.name: field_schema(f) for f in fields},
            "required": [f.name for f in fields if f.required], "additionalProperties": False}


def tx_args_schemas() -> dict[str, dict]:
    """`TxArgs.<type>` for every transaction type and `GovernanceArgs.<action>`
    for every governance action (governance.propose's `args`)."""
    found = {}
    for name, tx_type in TX_TYPES.items():
        found[f"TxArgs.{name}"] = fields_schema(
            tx_type.fields, f"{name}: sent by an institution with a role among {', '.join(tx_type.roles)}")
    for name, action in GOVERNANCE_ACTIONS.items():
        found[f"GovernanceArgs.{name}"] = fields_schema(action.fields, f"governance action {name}'s args")
    return found


def transaction_schema() -> dict:
    """A signed transaction in its JSON form, one branch per type."""
    branches = [{"properties": {"type": {"const": name}, "args": ref(f"TxArgs.{name}")}} for name in TX_TYPES]
    return {
        "type": "object",
        "description": "A signed transaction in JSON. The node rebuilds the body [chain_id, sender, nonce, type, "
                       "args] in canonical msgpack and checks the signature over it (docs/wire-format.md). "
                       "Other fields (the `hash` the node writes) are ignored.",
        "properties": {
            "chain_id": hex_bytes(32, "the chain id: the genesis file's hash"),
            "sender": hex_bytes(32, "the sender's client key (Ed25519 public key)"),
            "nonce": {"type": "integer", "minimum": 0, "maximum": AMOUNT_MAX - 1,
                      "description": "single use per sender key within a window of 4096"},
            "type": {"type": "string", "minLength": 1, "maxLength": TYPE_LENGTH_MAX, "enum": list(TX_TYPES)},
            "args": {"type": "object", "description": "the type's arguments (TxArgs.<type>); byte strings as "
                                                      "{\"$bytes\": \"<hex>\"}"},
            "signature": hex_bytes(64, "Ed25519 signature of the body in the `tx` domain"),
        },
        "required": ["chain_id", "sender", "nonce", "type", "args", "signature"],
        "oneOf": branches,
    }


# --- answers -------------------------------------------------------------------------

def error_schema() -> dict:
    problem = obj({"index": uint(description="the transaction's index in the batch"),
                   "code": {"type": "string"}, "message": {"type": "string"}})
    return obj({"error": obj({
        "code": {"type": "string", "description": "machine-readable reason; stable"},
        "message": {"type": "string", "description": "for people; may change"},
        "problems": {"type": "array", "items": problem,
                     "description": "a refused submission's problems, one per refused transaction"},
    }, required=("code", "message"))}, description="Every error answer: {\"error\": {\"code\", \"message\"}}.")


def receipt_schema() -> dict:
    return obj({
        "tx_hash": hex_bytes(32), "ok": {"type": "boolean", "description": "code is \"ok\""},
        "code": {"type": "string", "description": "\"ok\" or the error code (docs/transactions.md)"},
        "detail": {"type": "string"}, "output": {"type": "object", "description": "the contract's output"},
    }, description="A transaction's receipt; byte strings in `output` are hex.")


def committed_receipt_schema() -> dict:
    base = receipt_schema()
    return {**base, "properties": {"height": uint(), "index": uint(), **base["properties"]},
            "required": ["height", "index", *base["required"]],
            "description": "A receipt with the height and index of the transaction in its block."}


def submitted_schema() -> dict:
    return obj({
        "accepted": {"type": "array", "items": hex_bytes(32), "description": "the admitted transactions' hashes"},
        "receipts": {"type": "array", "items": nullable(ref("CommittedReceipt")),
                     "description": "with wait=commit: each receipt, null for one not committed in time"},
    }, required=("accepted",))


def block_schema() -> dict:
    header = obj({"chain_id": hex_bytes(32), "height": uint(), "view": uint(), "proposer": uint(),
                  "prev_hash": hex_bytes(32), "timestamp_ms": uint(), "tx_root": hex_bytes(32),
                  "tx_count": uint(), "state_root": hex_bytes(32), "receipts_root": hex_bytes(32),
                  "validator_set_hash": hex_bytes(32)})
    certificate = obj({"view": uint(), "seq": uint(), "digest": hex_bytes(32), "signatures": {
        "type": "array", "items": obj({"replica": uint(), "signature": hex_bytes(64)})}})
    tx = obj({"chain_id": hex_bytes(32), "sender": hex_bytes(32), "nonce": uint(), "type": {"type": "string"},
              "args": {"type": "object"}, "signature": hex_bytes(64), "hash": hex_bytes(32)})
    return obj({
        "hash": hex_bytes(32), "header": header, "certificate": certificate,
        "txs": {"type": "array", "items": tx}, "receipts": {"type": "array", "items": ref("Receipt")},
        "result": obj({"state_root": hex_bytes(32), "receipts_root": hex_bytes(32)}),
    }, description="A block, its commit certificate and receipts. The header carries the state and receipts "
                   "roots of its parent; `result` holds this block's own.")


def status_schema() -> dict:
    return obj({
        "chain_id": hex_bytes(32), "chain_name": {"type": "string"}, "institution": {"type": "string"},
        "replica_id": {"type": "integer", "minimum": -1, "description": "-1: an observer, not a validator"},
        "height": uint(), "block_hash": hex_bytes(32), "state_root": hex_bytes(32), "view": uint(),
        "primary": uint(), "pending": uint(), "committed_txs": uint(),
        "peers": {"type": "object", "additionalProperties": obj({"outbound": {"type": "boolean"},
                                                                 "inbound": {"type": "boolean"}})},
    })


def state_proof_schema() -> dict:
    return obj({
        "key": hex_bytes(), "value": nullable(hex_bytes()), "state_height": uint(), "header_height": uint(),
        "state_root": hex_bytes(32), "proof": hex_bytes(description="the sparse Merkle proof (crypto.smt), msgpack"),
    }, description="A state value (null: absent) with its proof against the state root in the header at "
                   "header_height (the state after block state_height).")


def record(description: str, fields: dict | None = None, required: tuple[str, ...] = ()) -> dict:
    """A contract's record: an object whose named fields are typed, the rest as the contract writes it."""
    return {"type": "object", "description": description, "properties": fields or {}, "required": list(required)}


def audit_txs_schema() -> dict:
    entry = obj({
        "height": uint(), "index": uint(), "institution": {"type": "string"}, "type": {"type": "string"},
        "tx": hex_bytes(description="the transaction's wire bytes"),
        "tx_proof": {"type": "array", "items": hex_bytes(32)},
        "receipt": hex_bytes(description="the receipt's canonical bytes"),
        "receipt_proof": {"type": "array", "items": hex_bytes(32)},
        "sender_proof": nullable(hex_bytes()),
    })
    return obj({
        "chain_id": hex_bytes(32), "institution": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]},
        "from_height": uint(), "to_height": uint(), "certified_height": {"type": "integer", "minimum": -1},
        "txs": {"type": "array", "items": entry},
        "headers": {"type": "object", "additionalProperties": obj({"header": hex_bytes(), "certificate": hex_bytes()}),
                    "description": "by height: the header and its commit certificate, canonical msgpack in hex"},
        "next": {"type": ["string", "null"], "pattern": "^[0-9]+:[0-9]+$", "description": "the next page's cursor"},
    })


def answer_schemas() -> dict[str, dict]:
    height = uint(description="the height of the state answered from")
    asset = record("An asset record (contracts/assets_state.py).",
                   {"id": {"type": "string"}, "holders": {"type": "object"}, "status": {"type": "string"}},
                   ("id", "holders", "status"))
    proposal = record("A governance proposal (contracts/governance.py).",
                      {"id": uint(), "action": {"type": "string"}, "status": {"type": "string"}},
                      ("id", "action", "status"))
    cycle = record("A netting cycle; a member sees the public fields and its own position only.",
                   {"cycle": uint(), "currency": {"type": "string"}, "positions": {"type": "object"}})
    return {
        "Error": error_schema(),
        "Transaction": transaction_schema(),
        "Batch": obj({"txs": {"type": "array", "items": ref("Transaction"), "minItems": 1,
                              "maxItems": LIMITS.batch_txs_max}}, description="A batch of transactions in JSON."),
        "Receipt": receipt_schema(),
        "CommittedReceipt": committed_receipt_schema(),
        "Submitted": submitted_schema(),
        "TxStatus": obj({"status": {"type": "string", "enum": ["committed", "pending"]},
                         "receipt": ref("CommittedReceipt")}, required=("status",)),
        "Block": block_schema(),
        "Status": status_schema(),
        "StateProof": state_proof_schema(),
        "Accounts": obj({"height": height, "accounts": {"type": "array", "items": obj(
            {"institution": {"type": "string"}, "currency": {"type": "string"}, "balance": uint(AMOUNT_MAX)})}}),
        "Queue": obj({"height": height, "currency": {"type": "string"}, "queue": {
            "type": "array", "items": record("A queued netting instruction.")}}),
        "Cycles": obj({"height": height, "count": uint(), "latest": nullable(cycle)}),
        "Cycle": cycle,
        "Finality": record("A settlement finality record (contracts/money.py)."),
        "Proposals": obj({"height": height, "open": {"type": "array", "items": proposal}}),
        "Proposal": proposal,
        "Validators": obj({"height": height, "validators": {"type": "array", "items": {
            "type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2,
            "description": "[institution id, node key in hex]"}},
            "pending": nullable(record("A validator set that takes over after effective_height."))}),
        "Assets": obj({"height": height, "assets": {"type": "array", "items": {"type": "string"}}}),
        "Asset": asset,
        "AssetHistory": obj({"asset": {"type": "string"}, "history": {"type": "array", "items": record(
            "One entry of an asset's history.")}}),
        "AuditTxs": audit_txs_schema(),
        "MpcSessions": obj({"height": height, "sessions": {"type": "array", "items": {"type": "string"}}}),
        "MpcSession": obj({"height": height, "session": record(
            "An MPC session as the caller may see it (contracts/mpc_state.py visible_session).",
            {"id": {"type": "string"}, "protocol": {"type": "string"}, "status": {"type": "string"}},
            ("id", "protocol", "status"))}),
        **tx_args_schemas(),
    }


# --- error answers, by status ----------------------------------------------------------

def error_response(description: str, codes: tuple[str, ...] | None) -> dict:
    """An error answer whose `code` is one of `codes` (None: any, as described)."""
    schema = ref("Error")
    if codes is not None:
        schema = {"allOf": [ref("Error"), {"properties": {"error": {"properties": {
            "code": {"enum": list(codes)}}}}}]}
    listed = "" if codes is None else " Codes: " + ", ".join(f"`{c}`" for c in codes) + "."
    return {"description": description + listed, "content": {"application/json": {"schema": schema}}}


def error_responses() -> dict[str, dict]:
    return {
        "BadParameter": error_response("A path segment or query parameter that is malformed or out of range.",
                                       ("bad_parameter",)),
        "BadSubmission": error_response(
            "The submission is refused whole: a malformed body or transaction, a bad batch size or parameter, "
            "another chain, a bad signature, a transaction twice in the batch, or what no state can make valid "
            "(an unknown type, arguments that do not fit its schema, a type's own stateless check, such as "
            "governance's unknown_action). `problems` lists each refused transaction; the first one's code "
            "is the answer's. Codes: " + ", ".join(f"`{c}`" for c in ADMISSION_CODES_400) + ".", None),
        "Unauthenticated": error_response(
            "The request is not signed (unauthenticated), or its Consort-* headers are malformed or sign "
            "something else (bad_request_signature), its time is outside the node's window (stale_request), "
            "its nonce was seen (replayed_request), or its key is registered to no institution with a role "
            "(unknown_key).", SIGNATURE_CODES),
        "Forbidden": error_response("Signed, without the right to this route or record.", ("forbidden",)),
        "UnknownSender": error_response("A transaction's sender key is registered to no institution.",
                                        ("unknown_sender",)),
        "NotFound": error_response("No such record (or no route at this path).", ("not_found",)),
        "Conflict": error_response("A transaction already committed or pending (duplicate), or its nonce used "
                                   "or below the sender's window.", CONFLICT_CODES),
        "TooLarge": error_response(f"The body exceeds request_bytes_max ({LIMITS.request_bytes_max} bytes by "
                                   "default).", ("too_large",)),
        "TooManyRequests": error_response(
            "This key's share of the remembered signed requests is used up (too_many_requests), or too many of "
            "this caller's requests wait for receipts (too_many_waiters), or holds as many event streams as a "
            "caller may (too_many_subscriptions); retry later.",
            ("too_many_requests", "too_many_waiters", "too_many_subscriptions")),
        "Busy": error_response("The node has no room now (pending transactions, signature checks, remembered "
                               "requests); retry later.", ("busy",)),
    }


# --- the signed-request headers --------------------------------------------------------

SIGNED_HEADERS = (
    ("ConsortKey", "Consort-Key", "the client key: 32-byte Ed25519 public key, 64 hex digits"),
    ("ConsortTime", "Consort-Time", "milliseconds since the Unix epoch, decimal digits"),
    ("ConsortNonce", "Consort-Nonce", "16 random bytes, 32 hex digits, fresh for every request"),
    ("ConsortSignature", "Consort-Signature", "Ed25519 signature, 128 hex digits, over b\"consort-sig/api-request"
                                              "\\x00\" + msgpack([chain_id, method, path?query, sha256(body), "
                                              "time_ms, nonce]) (docs/wire-format.md)"),
)


def security_schemes() -> dict[str, dict]:
    return {scheme: {"type": "apiKey", "in": "header", "name": header, "description": description}
            for scheme, header, description in SIGNED_HEADERS}


SIGNED = [{scheme: [] for scheme, _, _ in SIGNED_HEADERS}]
