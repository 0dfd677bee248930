"""Admission of client transactions, cheapest checks first, signatures last.

For each transaction, in this order:

    1. size and shape: at most TX_SIZE_MAX bytes, a body nested at most
       TX_DEPTH_MAX deep with at most TX_ELEMENTS_MAX values (read from the
       msgpack headers before anything is built), then decoded; the chain;
    2. the contracts' stateless checks (`check_stateless`: an unknown type,
       arguments that do not fit its schema), refused with 400 and the code a
       receipt would carry;
    3. a registered sender key;
    4. the sender's nonce window;
    5. duplicates: in the batch, pending here, being verified, or committed;
    6. room among the pending and the transactions being verified;
    7. the signature, on worker threads in chunks (pynacl's C calls release
       the GIL, so chunks verify in parallel and the event loop keeps serving).

A client batch is admitted whole or refused whole, with the index and
reason of each problem. A peer's FORWARD gets the same checks, transaction
by transaction: the bad ones are dropped. Admitted transactions are pending
until they commit or expire, and the pending set is the only cache of
admitted transactions (a refused one leaves nothing behind): the block
applier reuses a pending transaction instead of checking it again.
Transactions in a primary's proposal are checked for decoding, chain and
signature only, as every replica checks them before it votes; those that
were not pending here are kept (`proposed`, at most PROPOSED_TXS_MAX, the
oldest leave first) until their block is applied, so the applier need not
decode them or check their signatures again either.

Must not import the API: `Rejected` and `Busy` carry what it answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable

from contracts.executor import check_stateless, nonce_window, window_status
from contracts.schema import ContractError
from contracts.genesis import client_key_key
from contracts.tx import TX_SIZE_MAX, Transaction, TxError, decode_tx
from crypto import encoding
from node.runtime.ledger import Ledger

log = logging.getLogger("consort.admission")

TX_DEPTH_MAX = 8          # the deepest value in a transaction body ([chain, sender, nonce, type, args])
TX_ELEMENTS_MAX = 512     # values in a transaction body, map keys included
CHECK_CHUNK_TXS = 256     # transactions checked between two yields to the event loop
SIGNATURE_CHUNK_TXS = 64  # transactions one worker verifies in one go
PROPOSED_TXS_MAX = 20_000  # transactions of checked proposals that were not pending here, until applied

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


class Busy(Exception):
    """No room now (pending, being verified, or the driver's queue): retry later."""


def problem(index: int, exc: AdmissionError) -> dict:
    return {"index": index, "code": exc.code, "message": str(exc)}


class PendingTxs:
    """Transactions admitted here and not yet committed, oldest first, by hash
    and by wire bytes; at most `txs_max` of them and `bytes_max` wire bytes.
    One leaves when it commits (`pop`, by the block applier) or `ttl_s` after
    its admission (`expire`). An OrderedDict, not a dict: finding the oldest
    entry of a dict whose first keys were deleted scans every deleted slot."""

    def __init__(self, txs_max: int, bytes_max: int, ttl_s: float) -> None:
        self.txs_max = txs_max
        self.bytes_max = bytes_max
        self.ttl_s = ttl_s
        self.admitted_at: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()  # hash -> (wire, monotonic time)
        self.by_wire: dict[bytes, Transaction] = {}
        self.size = 0

    def __len__(self) -> int:
        return len(self.admitted_at)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.admitted_at

    def room(self, count: int, size: int) -> bool:
        return len(self.admitted_at) + count <= self.txs_max and self.size + size <= self.bytes_max

    def add(self, tx: Transaction, wire: bytes, moment: float) -> None:
        if tx.hash in self.admitted_at:
            return
        self.admitted_at[tx.hash] = (wire, moment)
        self.by_wire[wire] = tx
        self.size += len(wire)

    def transaction(self, tx_hash: bytes) -> Transaction | None:
        entry = self.admitted_at.get(tx_hash)
        return None if entry is None else self.by_wire[entry[0]]

    def pop(self, tx_hash: bytes, default=None):
        """Forget a transaction (it committed); its wire bytes, or `default`."""
        entry = self.admitted_at.pop(tx_hash, None)
        if entry is None:
            return default
        del self.by_wire[entry[0]]
        self.size -= len(entry[0])
        return entry[0]

    def expire(self, now: float) -> None:
        horizon = now - self.ttl_s
        while self.admitted_at:
            tx_hash, (_, moment) = next(iter(self.admitted_at.items()))
            if moment > horizon:
                break
            self.pop(tx_hash)


def decode_wire(raw: bytes) -> Transaction:
    """Step 1 for wire bytes: size, then the body's shape on its headers, then decode (once)."""
    if len(raw) > TX_SIZE_MAX:
        raise AdmissionError("malformed", f"a transaction is at most {TX_SIZE_MAX} bytes")
    try:
        return decode_tx(raw, TX_DEPTH_MAX, TX_ELEMENTS_MAX)
    except TxError as exc:
        raise AdmissionError("malformed", str(exc)) from None


def shaped(tx: Transaction) -> Transaction:
    """Step 1 for a transaction parsed from JSON: the same shape limits."""
    try:
        encoding.check_shape(tx.body, TX_DEPTH_MAX, TX_ELEMENTS_MAX)
    except encoding.DecodeError as exc:
        raise AdmissionError("malformed", str(exc)) from None
    return tx


def _signature_failures(txs: list[Transaction]) -> list[int]:
    """Run on a worker thread: the indexes of the transactions whose signature fails."""
    return [index for index, tx in enumerate(txs) if not tx.signature_valid()]


@dataclass(slots=True)
class Admission:
    chain_id: bytes
    ledger: Ledger
    pending: PendingTxs
    workers: Executor
    verifying_max: int                                    # transactions being verified at once
    verifying: set[bytes] = field(default_factory=set)    # their hashes
    forwards_dropped: int = 0   # forwarded transactions not admitted: refused, known already, or no room
    proposed: OrderedDict[bytes, Transaction] = field(default_factory=OrderedDict)  # by wire; PROPOSED_TXS_MAX

    @property
    def cache(self) -> dict[bytes, Transaction]:
        """Admitted transactions by wire bytes: the pending ones."""
        return self.pending.by_wire

    def checked(self, raw: bytes) -> Transaction | None:
        """The decoded transaction of `raw` if this node checked it (pending, or
        in a proposal it checked), else None: the block applier decodes and checks it."""
        tx = self.pending.by_wire.get(raw)
        return self.proposed.get(raw) if tx is None else tx

    def applied(self, raws: tuple[bytes, ...]) -> None:
        """A block holding `raws` was applied: its proposal's transactions are done with."""
        if self.proposed:
            for raw in raws:
                self.proposed.pop(raw, None)

    # ------------------------------------------------------------ client batches

    async def admit(self, items: list[Transaction | bytes],
                    enqueue: Callable[[tuple[bytes, ...]], None]) -> list[Transaction]:
        """Check a batch, hand its wire bytes to `enqueue` (which may raise
        Busy) and keep it pending; raise Rejected or Busy and keep nothing."""
        self.pending.expire(time.monotonic())
        txs, problems = await self._checked(items)
        if problems:
            raise Rejected(problems)
        wires = self._reserve_batch(txs)
        try:
            failed = await self._signature_failures(txs)
            if failed:
                raise Rejected([problem(i, AdmissionError(
                    "bad_signature", "signature does not verify for the sender key")) for i in failed])
            enqueue(tuple(wires))
            moment = time.monotonic()
            for tx, wire in zip(txs, wires):
                self.pending.add(tx, wire, moment)
        finally:
            self.verifying.difference_update(tx.hash for tx in txs)
        return txs

    async def _checked(self, items: list) -> tuple[list[Transaction], list[dict]]:
        """Steps 1 to 4 for every item, yielding to the event loop between
        chunks. A batch usually comes from one sender: its key and replay
        window are read once a chunk (`senders`), and read again after each
        yield, as a block may have been applied meanwhile."""
        txs, problems = [], []
        # by sender: the committed replay window (None: an unknown key); at most CHECK_CHUNK_TXS, emptied each chunk
        senders: dict[bytes, tuple[int, int] | None] = {}
        for index, item in enumerate(items):
            if index and index % CHECK_CHUNK_TXS == 0:
                await asyncio.sleep(0)
                senders.clear()
            try:
                tx = decode_wire(item) if isinstance(item, bytes) else shaped(item)
                self._check(tx, senders)
                txs.append(tx)
            except AdmissionError as exc:
                problems.append(problem(index, exc))
        return txs, problems

    def _check(self, tx: Transaction, senders: dict[bytes, tuple[int, int] | None]) -> None:
        """Steps 1 (the chain) to 4 for a decoded transaction; `senders`: the
        committed state of the senders seen so far, filled as they come."""
        if tx.chain_id != self.chain_id:
            raise AdmissionError("wrong_chain", "transaction is for another chain")
        try:
            check_stateless(tx)  # what a receipt would refuse whatever the state: refused here, not stored
        except ContractError as exc:
            raise AdmissionError(exc.code, f"{exc.code}: {exc.detail}" if exc.detail else exc.code) from None
        if tx.sender in senders:
            window = senders[tx.sender]
        else:
            registered = self.ledger.storage.state_get(client_key_key(tx.sender)) is not None
            window = senders[tx.sender] = nonce_window(self.ledger.view, tx.sender) if registered else None
        if window is None:
            raise AdmissionError("unknown_sender", "sender key is not registered to any institution")
        code = window_status(window, tx.nonce)
        if code is not None:
            if self.ledger.storage.tx_location(tx.hash) is not None:  # a retry: say it committed
                raise AdmissionError("duplicate", f"transaction {tx.hash.hex()} is already committed")
            raise AdmissionError(code, f"nonce {tx.nonce} of this sender is already used or too old")

    def _duplicate(self, tx: Transaction, windows: dict[bytes, tuple[int, int]]) -> AdmissionError | None:
        """Step 5 against what this node holds or is verifying, and what
        committed. `windows`: the senders' committed replay windows read so
        far in this (synchronous) pass, filled as they come. While the
        window holds the nonce unused, no inclusion of the transaction used
        it, so the index is not read: a LevelDB get of an absent key costs
        LevelDB a compaction now and then (storage.Storage.append_block).
        One refused before its nonce was used (an unknown sender then) may
        so come again and be executed; the index then locates that one."""
        if tx.hash in self.pending or tx.hash in self.verifying:
            return AdmissionError("duplicate", f"transaction {tx.hash.hex()} was already submitted")
        window = windows.get(tx.sender)
        if window is None:
            window = windows[tx.sender] = nonce_window(self.ledger.view, tx.sender)
        if window_status(window, tx.nonce) is not None and self.ledger.storage.tx_location(tx.hash) is not None:
            return AdmissionError("duplicate", f"transaction {tx.hash.hex()} was already submitted")
        return None

    def _reserve_batch(self, txs: list[Transaction]) -> list[bytes]:
        """Steps 5 and 6 for a whole batch, then mark it as being verified;
        the batch's wire bytes. Synchronous, so no other batch slips between
        the checks and the mark."""
        problems, seen, windows = [], set(), {}
        for index, tx in enumerate(txs):
            found = self._duplicate(tx, windows)
            if found is None and (tx.hash in seen or (tx.sender, tx.nonce) in seen):
                found = AdmissionError("duplicate_in_batch", "transaction appears twice in the batch")
            seen.update((tx.hash, (tx.sender, tx.nonce)))
            if found is not None:
                problems.append(problem(index, found))
        if problems:
            raise Rejected(problems)
        wires = [tx.raw for tx in txs]
        self._make_room(len(txs), sum(map(len, wires)))
        self.verifying.update(tx.hash for tx in txs)
        return wires

    def _make_room(self, count: int, size: int) -> None:
        if not self.pending.room(count + len(self.verifying), size):
            raise Busy(f"this node holds as many pending transactions as it may ({self.pending.txs_max})")
        if len(self.verifying) + count > self.verifying_max:
            raise Busy("this node is verifying as many transactions as it may; retry later")

    async def _signature_failures(self, txs: list[Transaction]) -> list[int]:
        """Step 7: the indexes whose signature fails, verified in chunks on the workers."""
        loop = asyncio.get_running_loop()
        starts = range(0, len(txs), SIGNATURE_CHUNK_TXS)
        found = await asyncio.gather(*(loop.run_in_executor(
            self.workers, _signature_failures, txs[start:start + SIGNATURE_CHUNK_TXS]) for start in starts))
        return [start + index for start, failed in zip(starts, found) for index in failed]

    # ------------------------------------------------------------ from peers

    async def admit_forwarded(self, raws: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """The wire bytes of the forwarded transactions that pass every check,
        now pending here; the others are dropped (and counted)."""
        self.pending.expire(time.monotonic())
        txs, problems = await self._checked(list(raws))
        fresh, seen, windows = [], set(), {}
        for tx in txs:
            if self._duplicate(tx, windows) is None and tx.hash not in seen:
                seen.add(tx.hash)
                fresh.append(tx)
        wires = [tx.raw for tx in fresh]
        room = self.pending.txs_max - len(self.pending) - len(self.verifying)
        room = max(0, min(room, self.verifying_max - len(self.verifying)))
        fresh, wires = fresh[:room], wires[:room]
        self.verifying.update(tx.hash for tx in fresh)
        try:
            failed = set(await self._signature_failures(fresh))
            moment, admitted = time.monotonic(), []
            for index, (tx, wire) in enumerate(zip(fresh, wires)):
                if index not in failed and self.pending.room(1, len(wire)):
                    self.pending.add(tx, wire, moment)
                    admitted.append(wire)
        finally:
            self.verifying.difference_update(tx.hash for tx in fresh)
        self.forwards_dropped += len(raws) - len(admitted)
        if len(admitted) < len(raws):
            log.debug("forward: %d of %d transactions dropped (%d malformed or refused, %d bad signatures)",
                      len(raws) - len(admitted), len(raws), len(problems), len(failed))
        return tuple(admitted)

    async def check_proposed(self, raws: tuple[bytes, ...]) -> str | None:
        """Why a transaction in a proposal is invalid (decoding, chain or
        signature), or None; pending transactions are known good."""
        txs = []
        for index, raw in enumerate(raws):
            if index and index % CHECK_CHUNK_TXS == 0:
                await asyncio.sleep(0)
            if raw in self.pending.by_wire:
                continue
            try:
                tx = decode_tx(raw)
            except TxError as exc:
                return f"invalid transaction: {exc}"
            if tx.chain_id != self.chain_id:
                return "invalid transaction: it is for another chain"
            txs.append(tx)
        if await self._signature_failures(txs):
            return "invalid transaction: signature does not verify for the sender key"
        for tx in txs:
            self.proposed[tx.raw] = tx
        while len(self.proposed) > PROPOSED_TXS_MAX:
            self.proposed.popitem(last=False)
        return None
