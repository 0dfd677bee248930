"""Signed client transactions: canonical body, Ed25519 signature, hash.

Wire form: canonical msgpack `[body, signature]` where `body` is the
canonical encoding of `[chain_id, sender, nonce, type, args]`. The
transaction hash is `digest("tx", body)`; the signature is over `body` in
the "tx" domain, so neither can be confused with any other structure.

A `Transaction` keeps its wire bytes (`raw`, joined from the encodings of
body and signature when it is made, so a copy with another signature has
its own) and no path encodes a transaction again; `decode_tx` reads the
outer list of a well-formed transaction from its byte layout (the only
canonical one: list of 2, bin body, bin signature of 64 bytes) instead of
decoding it and encoding it again to compare; anything else goes through
the strict decoder, which says what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts.schema import AMOUNT_MAX
from crypto import encoding, hashing, keys

TX_SIZE_MAX = 16 * 1024
NONCE_MAX = AMOUNT_MAX  # exclusive: a sender's replay window stores nonce + 1
TYPE_LENGTH_MAX = 64
SIGNATURE_DOMAIN = "tx"


class TxError(ValueError):
    """A transaction that cannot be decoded: the submitter's fault."""


@dataclass(frozen=True, slots=True)
class Transaction:
    chain_id: bytes
    sender: bytes
    nonce: int
    type: str
    args: dict[str, Any]
    signature: bytes
    body: bytes
    hash: bytes
    raw: bytes = field(init=False, repr=False, compare=False)  # the wire form, made from body and signature

    def __post_init__(self) -> None:
        # canonical [body, signature], joined from the two byte strings' encodings (no walk)
        object.__setattr__(self, "raw", encoding.list_header(2) + encoding.encode(self.body)
                           + encoding.encode(self.signature))

    def wire(self) -> bytes:
        return self.raw

    def signature_valid(self) -> bool:
        return keys.verify(self.sender, SIGNATURE_DOMAIN, self.body, self.signature)

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id.hex(), "sender": self.sender.hex(), "nonce": self.nonce,
            "type": self.type, "args": args_to_json(self.args), "signature": self.signature.hex(),
            "hash": self.hash.hex(),
        }


BYTES_TAG = "$bytes"


def args_to_json(value: Any) -> Any:
    """JSON form of transaction arguments: byte strings become {"$bytes": hex}."""
    if isinstance(value, bytes):
        return {BYTES_TAG: value.hex()}
    if isinstance(value, dict):
        return {k: args_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [args_to_json(v) for v in value]
    return value


def args_from_json(value: Any, depth: int = 0) -> Any:
    """Inverse of `args_to_json`; TxError for a malformed {"$bytes": ...}."""
    if depth > encoding.DEPTH_MAX:
        raise TxError("args nested too deeply")
    if isinstance(value, dict):
        if BYTES_TAG in value:
            if len(value) != 1 or not isinstance(value[BYTES_TAG], str):
                raise TxError('a byte string is written {"$bytes": "<hex>"}')
            try:
                return bytes.fromhex(value[BYTES_TAG])
            except ValueError:
                raise TxError("$bytes must be hex") from None
        return {k: args_from_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [args_from_json(v, depth + 1) for v in value]
    return value


def _fields(chain_id: Any, sender: Any, nonce: Any, tx_type: Any, args: Any) -> None:
    if type(chain_id) is not bytes or len(chain_id) != 32:
        raise TxError("chain_id must be 32 bytes")
    if type(sender) is not bytes or len(sender) != keys.PUBLIC_KEY_SIZE:
        raise TxError("sender must be a 32-byte public key")
    if type(nonce) is not int or not 0 <= nonce < NONCE_MAX:
        raise TxError("nonce must be an integer in [0, 2^62)")
    if type(tx_type) is not str or not 0 < len(tx_type) <= TYPE_LENGTH_MAX:
        raise TxError("type must be a non-empty string")
    if type(args) is not dict:
        raise TxError("args must be a map")


def _build(chain_id: bytes, sender: bytes, nonce: int, tx_type: str, args: dict,
           signature: bytes, body: bytes) -> Transaction:
    return Transaction(chain_id, sender, nonce, tx_type, args, signature, body,
                       hashing.digest("tx", body))


_BIN8, _BIN16 = 0xC4, 0xC5
_SIGNATURE_HEADER = bytes([_BIN8, keys.SIGNATURE_SIZE])


def _split_wire(wire: bytes) -> tuple[bytes, bytes] | None:
    """(body, signature) of a wire form laid out as a canonical transaction
    is (list of 2, bin8 or bin16 body in its shortest header, bin8 of 64
    bytes, nothing after); None for anything else."""
    if type(wire) is not bytes or not 3 <= len(wire) <= TX_SIZE_MAX or wire[0] != 0x92:
        return None
    if wire[1] == _BIN8:
        start, size = 3, wire[2]
    elif wire[1] == _BIN16 and len(wire) > 4:
        start, size = 4, int.from_bytes(wire[2:4], "big")
        if size < 256:
            return None  # bin8 holds it: not the shortest header
    else:
        return None
    end = start + size
    if len(wire) != end + 2 + keys.SIGNATURE_SIZE or wire[end:end + 2] != _SIGNATURE_HEADER:
        return None
    return wire[start:end], wire[end + 2:]


def _decode_outer(wire: bytes) -> tuple[bytes, bytes]:
    """(body, signature) by the strict decoder: TxError saying what is wrong."""
    try:
        outer = encoding.decode(wire, TX_SIZE_MAX, depth_max=1, elements_max=3)
    except encoding.DecodeError as exc:
        raise TxError(str(exc)) from None
    if type(outer) is not list or len(outer) != 2:
        raise TxError("a transaction is [body, signature]")
    body, signature = outer
    if type(body) is not bytes or type(signature) is not bytes:
        raise TxError("body and signature must be bytes")
    if len(signature) != keys.SIGNATURE_SIZE:
        raise TxError("signature must be 64 bytes")
    return body, signature


def sign_tx(signer: keys.Signer, chain_id: bytes, nonce: int, tx_type: str,
            args: dict[str, Any]) -> Transaction:
    """Build and sign a transaction with a client key."""
    _fields(chain_id, signer.public_key, nonce, tx_type, args)
    try:
        body = encoding.encode([chain_id, signer.public_key, nonce, tx_type, args])
    except encoding.EncodingError as exc:
        raise TxError(f"args cannot be encoded: {exc}") from None
    return _build(chain_id, signer.public_key, nonce, tx_type, args,
                  signer.sign(SIGNATURE_DOMAIN, body), body)


def decode_tx(wire: bytes, depth_max: int = encoding.DEPTH_MAX, elements_max: int | None = None) -> Transaction:
    """Parse wire bytes; TxError when malformed. The body is decoded within
    `depth_max` and `elements_max` (see encoding.decode: over them, it is
    refused before anything is built). The signature is not checked here."""
    parts = _split_wire(wire)
    body, signature = _decode_outer(wire) if parts is None else parts
    try:
        fields = encoding.decode(body, TX_SIZE_MAX, depth_max=depth_max, elements_max=elements_max)
    except encoding.DecodeError as exc:
        raise TxError(str(exc)) from None
    if type(fields) is not list or len(fields) != 5:
        raise TxError("a transaction body is [chain_id, sender, nonce, type, args]")
    _fields(*fields)
    return _build(*fields, signature, body)


def tx_from_json(document: Any) -> Transaction:
    """Parse the JSON form (hex for byte fields); TxError when malformed."""
    if type(document) is not dict:
        raise TxError("a transaction must be a JSON object")
    try:
        chain_id = bytes.fromhex(document["chain_id"])
        sender = bytes.fromhex(document["sender"])
        signature = bytes.fromhex(document["signature"])
        nonce, tx_type, args = document["nonce"], document["type"], args_from_json(document["args"])
    except KeyError as exc:
        raise TxError(f"missing field {exc}") from None
    except (TypeError, ValueError):
        raise TxError("chain_id, sender and signature must be hex strings") from None
    _fields(chain_id, sender, nonce, tx_type, args)
    if len(signature) != keys.SIGNATURE_SIZE:
        raise TxError("signature must be 64 bytes")
    try:
        body = encoding.encode([chain_id, sender, nonce, tx_type, args])
    except encoding.EncodingError as exc:
        raise TxError(f"args: {exc}") from None
    tx = _build(chain_id, sender, nonce, tx_type, args, signature, body)
    if len(tx.wire()) > TX_SIZE_MAX:  # the limit decode_tx applies to the wire form
        raise TxError(f"transaction exceeds {TX_SIZE_MAX} bytes")
    return tx
