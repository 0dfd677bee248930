"""Signature checks for the auditor, done ahead of it on the other cores.

A chain's signatures are independent of one another and of the state: each
transaction's (its sender's key over its body) and each commit
certificate's (a validator's key over its COMMIT). `Lookahead` reads the
blocks of an export ahead of the auditor (at most BLOCKS_AHEAD_MAX blocks
and TXS_AHEAD_MAX transactions), has worker processes decode the
transactions and check those signatures, and hands each block on, in
order, with what they found (`CheckedSignatures`).

What a worker found is a shortcut, never a verdict, so an audit ends as
the same audit without workers ends, failure and height included:

- a transaction that decoded and whose signature holds reaches the
  executor as a `Transaction`, which the executor takes as verified (the
  node's block applier does the same with what admission verified); any
  other reaches it as the bytes it was, and the executor decodes and
  judges it as always (its `malformed` or `bad_signature` receipt);
- a certificate signature found valid is remembered as valid for exactly
  (key, domain, signed bytes, signature); any other is checked again by
  the auditor itself. A certificate is checked ahead under the validator
  set in force when its block is read; if the set changes before the block
  is audited, the signed bytes differ and the auditor checks them again.

Processes, not threads: pynacl releases the GIL inside the check, but the
auditor's own thread runs Python without pause, so a verifying thread
waits for the GIL again after every signature. Measured re-executing
100,000 payments on two shared cores: no workers 11.1 s, two threads
10.8 s, two processes 5.6 s. On Linux the workers are forked at the
start, before the audit has started any thread: they begin in
milliseconds with the modules already imported. A worker whose auditor
is gone, even killed, ends by itself within PARENT_CHECK_INTERVAL_S.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

from consensus.messages import SIGNATURE_DOMAIN, Block, Commit, CommitCertificate, vote_bytes
from consensus.validators import ValidatorSet
from contracts.tx import Transaction, TxError, decode_tx
from crypto import keys

BLOCKS_AHEAD_MAX = 64      # blocks read and handed to the workers before the auditor takes them
TXS_AHEAD_MAX = 16_000     # transactions in those blocks (about 10 MB in flight at 200-byte payments)
CHUNK_TXS = 500            # transactions in one worker's task: a block's spread over the workers
PARENT_CHECK_INTERVAL_S = 1.0  # how soon a worker whose parent was killed ends

Vote = tuple[bytes, str, bytes, bytes]  # (key, domain, signed bytes, signature): keys.verify's arguments
Item = tuple[Block, CommitCertificate, list[bytes]]


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Worker processes for an audit: one per core, none on a single core."""
    count = cores()
    return count if count > 1 else 0


@dataclass(frozen=True, slots=True)
class CheckedSignatures:
    """What the workers found for one block: each transaction decoded with
    its signature valid, else None (None for all: transactions not checked),
    and the certificate signatures found valid."""

    txs: tuple[Transaction | None, ...] | None
    valid_votes: frozenset[Vote]

    def verify(self, public_key: bytes, domain: str, data: bytes, signature: bytes) -> bool:
        """keys.verify, answered from what the workers found valid when they did."""
        return (public_key, domain, data, signature) in self.valid_votes or \
            keys.verify(public_key, domain, data, signature)

    def executor_txs(self, raw: tuple[bytes, ...]) -> list[Transaction | bytes]:
        """The executor's input: each transaction found valid as a Transaction, any other as its bytes."""
        if self.txs is None:
            return list(raw)
        assert len(self.txs) == len(raw), "the workers checked another block"
        return [raw_tx if tx is None else tx for tx, raw_tx in zip(self.txs, raw)]


def check_chunk(txs: tuple[bytes, ...], votes: tuple[Vote, ...]) -> tuple[list[tuple | None], list[bool]]:
    """A worker's task: decode and check each transaction and check each vote.
    A valid transaction comes back as its fields in order, a tuple (half the
    cost of pickling the dataclass), anything else as None."""
    checked: list[tuple | None] = []
    for raw in txs:
        try:
            tx = decode_tx(raw)
        except TxError:
            checked.append(None)
            continue
        checked.append(_fields(tx) if tx.signature_valid() else None)
    return checked, [keys.verify(*vote) for vote in votes]


def _fields(tx: Transaction) -> tuple:
    """The transaction's fields in order: Transaction(*_fields(tx)) == tx."""
    return tuple(getattr(tx, name) for name in _TX_FIELDS)


_TX_FIELDS = tuple(field.name for field in dataclasses.fields(Transaction) if field.init)  # raw is made, not given


def certificate_votes(certificate: CommitCertificate, validators: ValidatorSet) -> tuple[Vote, ...]:
    """The certificate's signatures as keys.verify's arguments under `validators`
    (a signer outside the set is left out: the auditor refuses it by itself)."""
    signed = vote_bytes(validators.context, Commit.KIND, certificate.view, certificate.seq, certificate.digest)
    votes = []
    for replica, signature in certificate.signatures:
        public_key = validators.key(replica)
        if public_key is not None:
            votes.append((public_key, SIGNATURE_DOMAIN, signed, signature))
    return tuple(votes)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` processes (forked on Linux, else spawned) that end by
    themselves when this process ends, even killed: a killed parent leaves
    no worker waiting on its queue forever."""
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_watch_parent,
                               initargs=(os.getpid(),))


def _watch_parent(parent: int) -> None:
    """In a worker: a daemon thread that ends the worker once `parent` is gone."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_INTERVAL_S)
        os._exit(1)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


class Lookahead:
    """Worker processes checking the signatures of the blocks ahead of the auditor.

    `validators` gives the set in force as the auditor knows it now; with
    `check_txs` False (an audit without re-execution, which checks no
    transaction signature) only certificates are sent."""

    def __init__(self, workers: int, check_txs: bool, validators: Callable[[], ValidatorSet]) -> None:
        assert workers >= 1, "no workers: audit without a lookahead"
        self.workers = workers
        self.check_txs = check_txs
        self.validators = validators
        self.pool = worker_pool(workers)

    def __enter__(self) -> "Lookahead":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def blocks(self, source: Iterator[Item]) -> Iterator[tuple[Block, CommitCertificate, list[bytes],
                                                               CheckedSignatures]]:
        """`source`'s blocks in order, each with what the workers found. An
        error reading `source` is raised after the blocks read before it have
        been handed on, where the auditor would have met it without workers."""
        pending: deque[tuple[Item, tuple[Vote, ...], list[Future]]] = deque()
        txs_ahead, failure = 0, None
        while True:
            try:
                item = next(source)
            except StopIteration:
                break
            except Exception as exc:  # the source's own error, raised again below in its place
                failure = exc
                break
            votes = certificate_votes(item[1], self.validators())
            pending.append((item, votes, self._submit(item[0], votes)))
            txs_ahead += len(item[0].txs)
            while len(pending) > BLOCKS_AHEAD_MAX or (txs_ahead > TXS_AHEAD_MAX and len(pending) > 1):
                txs_ahead -= len(pending[0][0][0].txs)
                yield self._collect(*pending.popleft())
        while pending:
            yield self._collect(*pending.popleft())
        if failure is not None:
            raise failure

    def _submit(self, block: Block, votes: tuple[Vote, ...]) -> list[Future]:
        txs = block.txs if self.check_txs else ()
        chunks = [txs[start:start + CHUNK_TXS] for start in range(0, len(txs), CHUNK_TXS)] or [()]
        return [self.pool.submit(check_chunk, chunk, votes if index == 0 else ())
                for index, chunk in enumerate(chunks)]

    def _collect(self, item: Item, votes: tuple[Vote, ...], futures: list[Future]):
        checked_txs: list[Transaction | None] = []
        valid: list[bool] = []
        for future in futures:
            chunk_txs, chunk_votes = future.result()
            checked_txs.extend(None if fields is None else Transaction(*fields) for fields in chunk_txs)
            valid.extend(chunk_votes)
        block, certificate, receipts = item
        found = frozenset(vote for vote, ok in zip(votes, valid) if ok)
        return block, certificate, receipts, CheckedSignatures(tuple(checked_txs) if self.check_txs else None, found)
