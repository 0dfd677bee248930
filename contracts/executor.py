"""Execute a committed block: state view + transactions -> writes + receipts.

Per transaction: known chain, registered sender key, unused nonce, the
stateless checks (`check_stateless`: known type, arguments that fit its
schema), the contract switched on, permitted role, then the contract's
apply in its own overlay. Any failure yields a receipt with an error code
and changes nothing but the sender's nonce window (so a failed instruction
can never be replayed later to succeed).

No transaction can stop a block: an exception that contract code raises
for one transaction, whatever its type, is that transaction's
`internal_error` receipt (detail: the exception's type, which is the same
on every node; the message and traceback go to this node's log). Only
MemoryError and RecursionError propagate and stop the node, because where
they strike differs from machine to machine; the input limits keep them
out of reach. The end-of-block hooks are our own code: their exceptions
propagate.

Replay protection is a sliding window of nonces per sender key, as in
IPsec's anti-replay window: nonces need not arrive in order, each is used
at most once, and the state per key stays bounded.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crypto import encoding, hashing, merkle
from contracts.genesis import client_key_key, institution_key
from contracts.interface import Call, EndOfBlockHook, TxType
from contracts.registry import END_OF_BLOCK_HOOKS, TX_TYPES, contract_enabled
from contracts.schema import ContractError, check_args
from contracts.state import Overlay, StateView
from contracts.tx import Transaction, TxError, decode_tx

NONCE_WINDOW = 4096
OK = "ok"
INTERNAL_ERROR = "internal_error"
NOT_DETERMINISTIC = (MemoryError, RecursionError)  # never a receipt: they propagate
# The receipts of a transaction refused before its nonce was marked used (or because it was used
# already): they leave the sender's replay window as it was, so the same transaction may be included
# again. A receipt with any other code marked its nonce used, which at most one inclusion of a
# transaction can do (the node's transaction index relies on it: node.runtime.storage).
NONCE_UNUSED_CODES = frozenset({"malformed", "bad_signature", "wrong_chain", "unknown_sender", "nonce_used",
                                "nonce_too_old"})

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BlockContext:
    chain_id: bytes
    height: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: bytes
    code: str
    detail: str = ""
    output: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.code == OK

    def to_wire(self) -> list:
        return [self.tx_hash, self.code, self.detail, self.output or {}]

    @classmethod
    def from_wire(cls, fields: list) -> "Receipt":
        return cls(fields[0], fields[1], fields[2], fields[3] or None)

    def to_json(self) -> dict[str, Any]:
        return {"tx_hash": self.tx_hash.hex(), "ok": self.ok, "code": self.code, "detail": self.detail,
                "output": to_json_value(self.output or {})}


def to_json_value(value: Any) -> Any:
    """Canonical values as JSON: byte strings become hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What executing a block produced: its sorted write set, one receipt per
    transaction (and each receipt's canonical bytes, the receipts-root
    leaves, encoded once), the validator set in force from the next block
    when this block changed it (node keys in replica order), else None, and
    the institution that sent each transaction (None: an unknown key or an
    undecodable transaction) and its type (None: undecodable), for the
    node's indexes; not part of any root."""

    writes: list[tuple[bytes, bytes | None]]
    receipts: tuple[Receipt, ...]
    receipt_leaves: tuple[bytes, ...]
    validators: tuple[bytes, ...] | None = None
    senders: tuple[str | None, ...] = ()
    types: tuple[str | None, ...] = ()

    @property
    def receipts_root(self) -> bytes:
        return merkle.root(list(self.receipt_leaves))


ROLES_KEPT_MAX = 1024  # institution records whose roles `_roles` keeps


@functools.lru_cache(maxsize=ROLES_KEPT_MAX)
def _roles(raw_record: bytes) -> tuple[tuple[str, ...], frozenset[str]]:
    """The roles an institution record (its stored bytes) holds, in its order
    and as a set: decoded once per record value, not once per transaction
    (a pure function of the bytes, so every node and the auditor get the same)."""
    roles = tuple(encoding.decode_trusted(raw_record)["roles"])
    return roles, frozenset(roles)


def nonce_key(sender: bytes) -> bytes:
    return b"nonce/" + sender


def use_nonce(state: Overlay, sender: bytes, nonce: int) -> None:
    """Mark `nonce` used for `sender`; ContractError if it was used or is too old."""
    raw = state.get(nonce_key(sender))
    top, bitmap = _advanced((0, 0) if raw is None else _unpack_window(raw), nonce)
    state.put(nonce_key(sender), _pack_window(top, bitmap))


def _advanced(window: tuple[int, int], nonce: int) -> tuple[int, int]:
    """The window (top, bitmap) with `nonce` marked used; ContractError if it was used or is too old."""
    top, bitmap = window
    if nonce >= top:
        shift = nonce + 1 - top  # up to 2^62: never build a shift-sized integer
        bitmap = ((bitmap << shift) | 1) & ((1 << NONCE_WINDOW) - 1) if shift < NONCE_WINDOW else 1
        return nonce + 1, bitmap
    offset = top - 1 - nonce
    if offset >= NONCE_WINDOW:
        raise ContractError("nonce_too_old", f"nonce {nonce} is below the replay window")
    if bitmap >> offset & 1:
        raise ContractError("nonce_used", f"nonce {nonce} was already used")
    return top, bitmap | 1 << offset


def _unpack_window(raw: bytes) -> tuple[int, int]:
    top, bitmap = encoding.decode_trusted(raw)
    return top, int.from_bytes(bitmap, "little")


def _pack_window(top: int, bitmap: int) -> bytes:
    return encoding.encode([top, bitmap.to_bytes(NONCE_WINDOW // 8, "little")])


class NonceWindows:
    """The replay windows of one block's senders, each read from the state
    once and written back once (`write_to`), whatever the number of its
    transactions in the block: the same writes as `use_nonce` per transaction,
    without decoding and encoding a 512-byte window each time. No contract
    reads a nonce key, so none sees a window before the end of the block."""

    __slots__ = ("state", "windows")

    def __init__(self, state: StateView) -> None:
        self.state = state
        self.windows: dict[bytes, tuple[int, int]] = {}  # sender -> (top, bitmap), changed in this block

    def use(self, sender: bytes, nonce: int) -> None:
        """Mark `nonce` used for `sender`; ContractError (and no change) if it was used or is too old."""
        window = self.windows.get(sender)
        if window is None:
            raw = self.state.get(nonce_key(sender))
            window = (0, 0) if raw is None else _unpack_window(raw)
        self.windows[sender] = _advanced(window, nonce)

    def write_to(self, block: Overlay) -> None:
        for sender, (top, bitmap) in self.windows.items():
            block.put(nonce_key(sender), _pack_window(top, bitmap))


def check_stateless(tx: Transaction, tx_types: Mapping[str, TxType] = TX_TYPES) -> None:
    """What can be judged without state: a known type, and arguments that fit
    its schema and its own stateless checks. ContractError with the code the
    receipt would carry (`unknown_type`, `bad_args`, or a type's own, such as
    governance's `unknown_action`). The node's admission refuses with it
    before a block; the executor runs this very function first, so the two
    never disagree, whatever the sender's role or the contracts' switches."""
    tx_type = tx_types.get(tx.type)
    if tx_type is None:
        raise ContractError("unknown_type", tx.type)
    check_args(tx_type.fields, tx.args)
    if tx_type.check is not None:
        tx_type.check(tx.args)


def nonce_window(state: StateView, sender: bytes) -> tuple[int, int]:
    """A sender's replay window (top, bitmap) as `state` holds it, for `window_status`."""
    raw = state.get(nonce_key(sender))
    return (0, 0) if raw is None else _unpack_window(raw)


def window_status(window: tuple[int, int], nonce: int) -> str | None:
    """The error code `nonce` would get against `window`, or None."""
    try:
        _advanced(window, nonce)
    except ContractError as exc:
        return exc.code
    return None


def nonce_status(state: StateView, sender: bytes, nonce: int) -> str | None:
    """Read-only pre-check for admission: the error code the nonce would get, or None."""
    return window_status(nonce_window(state, sender), nonce)


class Executor:
    """Applies blocks; holds no state of its own between calls. The contracts
    and end-of-block hooks are the registry's unless given."""

    def __init__(self, tx_types: dict[str, TxType] | None = None,
                 hooks: tuple[EndOfBlockHook, ...] = END_OF_BLOCK_HOOKS) -> None:
        self.tx_types = TX_TYPES if tx_types is None else tx_types
        self.hooks = hooks

    def execute(self, state: StateView, context: BlockContext, txs: list[Transaction | bytes]) -> BlockResult:
        """Run `txs` in order, then the end-of-block hooks on the result.
        Raw bytes are decoded and signature-checked here; a `Transaction`
        object is taken as already verified by the caller."""
        block = Overlay(state)
        nonces = NonceWindows(block)
        receipts = [self._execute_tx(block, nonces, context, tx) for tx in txs]
        nonces.write_to(block)
        validators = None
        for hook in self.hooks:
            end = hook(block, context.height)
            if end is None:
                continue
            for key, value in end.writes:
                if value is None:
                    block.delete(key)
                else:
                    block.put(key, value)
            validators = end.validators if end.validators is not None else validators
        return BlockResult(block.sorted_writes(), tuple(r for r, _, _, _ in receipts),
                           tuple(leaf for _, leaf, _, _ in receipts), validators,
                           tuple(sender for _, _, sender, _ in receipts),
                           tuple(tx_type for _, _, _, tx_type in receipts))

    def _execute_tx(self, block: Overlay, nonces: NonceWindows, context: BlockContext,
                    tx: Transaction | bytes) -> tuple[Receipt, bytes, str | None, str | None]:
        """The transaction's receipt, its canonical bytes (a receipts-root leaf),
        the institution that sent it and its type."""
        if isinstance(tx, bytes):
            tx, refused = self._checked(tx)
            if refused is not None:
                return refused, encoding.encode(refused.to_wire()), None, None if tx is None else tx.type
        raw_sender = block.get(client_key_key(tx.sender))
        sender = None if raw_sender is None else encoding.decode_trusted(raw_sender)
        receipt, scope = self._run_tx(block, nonces, context, tx, sender)
        try:
            leaf = encoding.encode(receipt.to_wire())
        except encoding.EncodingError as exc:  # a contract's bug: refuse rather than diverge
            receipt, scope = Receipt(receipt.tx_hash, INTERNAL_ERROR, str(exc)), None
            leaf = encoding.encode(receipt.to_wire())
        if scope is not None:
            scope.merge_into(block)
        return receipt, leaf, sender, tx.type

    @staticmethod
    def _checked(raw: bytes) -> tuple[Transaction | None, Receipt | None]:
        """Raw bytes decoded and signature-checked, or the receipt that refuses
        them (with the transaction if it decoded)."""
        try:
            tx = decode_tx(raw)
        except TxError as exc:
            return None, Receipt(hashing.digest("malformed-tx", raw), "malformed", str(exc))
        if not tx.signature_valid():
            return tx, Receipt(tx.hash, "bad_signature")
        return tx, None

    def _run_tx(self, block: Overlay, nonces: NonceWindows, context: BlockContext, tx: Transaction,
                institution: str | None) -> tuple[Receipt, Overlay | None]:
        """The receipt, and the overlay of writes to keep (None: nothing beyond the
        nonce, which `nonces` writes to the block at its end)."""
        try:
            return self._run_verified(block, nonces, context, tx, institution)
        except NOT_DETERMINISTIC:
            raise
        except Exception as exc:  # contract code's bug: this transaction fails, the block goes on
            log.error("transaction %s: contract code raised %s", tx.hash.hex(), type(exc).__name__, exc_info=exc)
            return Receipt(tx.hash, INTERNAL_ERROR, type(exc).__name__), None

    def _run_verified(self, block: Overlay, nonces: NonceWindows, context: BlockContext, tx: Transaction,
                      institution: str | None) -> tuple[Receipt, Overlay | None]:
        if tx.chain_id != context.chain_id:
            return Receipt(tx.hash, "wrong_chain"), None
        if institution is None:
            return Receipt(tx.hash, "unknown_sender"), None
        try:
            nonces.use(tx.sender, tx.nonce)
        except ContractError as exc:
            return Receipt(tx.hash, exc.code, exc.detail), None
        scope = Overlay(block)
        try:
            output = self._apply(scope, context, tx, institution)
        except ContractError as exc:
            return Receipt(tx.hash, exc.code, exc.detail), None
        return Receipt(tx.hash, OK, "", output or None), scope

    def _apply(self, scope: Overlay, context: BlockContext, tx: Transaction, institution: str) -> dict:
        check_stateless(tx, self.tx_types)
        tx_type = self.tx_types[tx.type]
        contract = tx.type.split(".", 1)[0]
        if not contract_enabled(scope, contract):
            raise ContractError("contract_disabled", f"{contract} is switched off by governance")
        raw_record = scope.get(institution_key(institution))
        if raw_record is None:
            raise ContractError("unknown_institution", institution)
        roles, role_set = _roles(raw_record)
        if role_set.isdisjoint(tx_type.roles):
            raise ContractError("not_permitted", f"{tx.type} needs one of the roles {list(tx_type.roles)}")
        for needed in tx_type.requires:
            if not contract_enabled(scope, needed):
                raise ContractError("contract_disabled", f"{needed} is switched off by governance")
        call = Call(institution, roles, tx.args, context.height, context.timestamp_ms, tx.hash, tx.sender,
                    context.chain_id)
        return tx_type.apply(scope, call) or {}
