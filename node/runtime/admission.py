"""Admission of client transactions: decode, signature, sender, replay checks.

A batch is admitted whole or not at all: any bad transaction refuses the
batch with the index and reason of each problem, and nothing changes.
Verified transactions are cached by their wire bytes, so a transaction a
node checked on submission is not checked again when it comes back in a
block.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.executor import nonce_status
from contracts.genesis import client_key_key
from contracts.tx import Transaction, TxError, decode_tx
from node.runtime.ledger import Ledger

STATUS_BY_CODE = {
    "malformed": 400, "wrong_chain": 400, "bad_signature": 400, "duplicate_in_batch": 400,
    "unknown_sender": 403, "duplicate": 409, "nonce_used": 409, "nonce_too_old": 409,
}


class AdmissionError(Exception):
    """One transaction refused: `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Rejected(Exception):
    """A batch refused: every problem, by index."""

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(problems[0]["message"])
        self.problems = problems

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.problems[0]["code"], 400)


class TxVerifier:
    """Decodes and signature-checks transactions, remembering the good ones."""

    def __init__(self, chain_id: bytes, cache_max: int = 300_000) -> None:
        self.chain_id = chain_id
        self.cache_max = cache_max
        self.cache: dict[bytes, Transaction] = {}

    def check_wire(self, raw: bytes) -> Transaction:
        tx = self.cache.get(raw)
        if tx is not None:
            return tx
        try:
            tx = decode_tx(raw)
        except TxError as exc:
            raise AdmissionError("malformed", str(exc)) from None
        return self.check(tx, raw)

    def check(self, tx: Transaction, raw: bytes | None = None) -> Transaction:
        raw = tx.wire() if raw is None else raw
        if raw in self.cache:
            return self.cache[raw]
        if tx.chain_id != self.chain_id:
            raise AdmissionError("wrong_chain", "transaction is for another chain")
        if not tx.signature_valid():
            raise AdmissionError("bad_signature", "signature does not verify for the sender key")
        if len(self.cache) >= self.cache_max:
            for stale in list(self.cache)[: self.cache_max // 4]:
                del self.cache[stale]
        self.cache[raw] = tx
        return tx


@dataclass(slots=True)
class Admission:
    verifier: TxVerifier
    ledger: Ledger

    def admit(self, txs: list[Transaction | bytes], pending: set[bytes] | dict) -> list[Transaction]:
        """Check every transaction; raise Rejected listing all problems."""
        admitted: list[Transaction] = []
        problems: list[dict] = []
        seen: set = set()
        for index, item in enumerate(txs):
            try:
                tx = self.verifier.check_wire(item) if isinstance(item, bytes) else self.verifier.check(item)
                self._check_ledger(tx, pending)
                if tx.hash in seen or (tx.sender, tx.nonce) in seen:
                    raise AdmissionError("duplicate_in_batch", "transaction appears twice in the batch")
                seen.update((tx.hash, (tx.sender, tx.nonce)))
                admitted.append(tx)
            except AdmissionError as exc:
                problems.append({"index": index, "code": exc.code, "message": str(exc)})
        if problems:
            raise Rejected(problems)
        return admitted

    def _check_ledger(self, tx: Transaction, pending) -> None:
        storage = self.ledger.storage
        if storage.state_get(client_key_key(tx.sender)) is None:
            raise AdmissionError("unknown_sender", "sender key is not registered to any institution")
        if tx.hash in pending or storage.tx_location(tx.hash) is not None:
            raise AdmissionError("duplicate", f"transaction {tx.hash.hex()} was already submitted")
        code = nonce_status(self.ledger.view, tx.sender, tx.nonce)
        if code is not None:
            raise AdmissionError(code, f"nonce {tx.nonce} of this sender is already used or too old")
