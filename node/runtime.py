"""The node: one task owns the replica; everything else queues into it.

Peer frames are decoded and authenticated where they arrive, then queued
(bounded, with backpressure on the socket). Client batches are admitted by
the API and queued without waiting (a full queue answers 503). Timers queue
`TimerFired`. The consensus task steps the replica and performs its
effects in order; a delivered block is applied to LevelDB in one synced
batch before the replica hears `Executed`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from consensus.auth import authenticate, verify_certificate
from consensus.config import ReplicaConfig
from consensus.events import (
    Broadcast, CancelTimer, CertifiedBlocks, ClientRequests, Deliver, Executed, PeerMessage, Persist, Send,
    Start, StartTimer, TimerFired,
)
from consensus.messages import (
    BLOCKS_PER_FETCH_MAX, Blocks, FetchBlocks, Forward, MessageError, NewView, PrePrepare, decode_message,
    encode_message,
)
from consensus.snapshot import ReplicaSnapshot
from consensus.replica import Replica
from contracts.executor import Receipt
from crypto.keys import read_key_file
from node.admission import Admission, AdmissionError, TxVerifier
from node.config import ConfigError, NodeConfig
from node.ledger import Ledger
from node.peers import PeerLinks, unpack_frame
from node.storage import Storage

log = logging.getLogger("consort.node")

PENDING_TTL_S = 120.0
FETCH_BYTES_MAX = 8 * 1024 * 1024


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ReceiptWaiters:
    """Futures waiting for transactions to commit, bounded in number."""

    def __init__(self, waiters_max: int) -> None:
        self.waiters_max = waiters_max
        self.count = 0
        self.futures: dict[bytes, list[asyncio.Future]] = {}

    def add(self, tx_hash: bytes) -> asyncio.Future | None:
        if self.count >= self.waiters_max:
            return None
        future = asyncio.get_running_loop().create_future()
        self.futures.setdefault(tx_hash, []).append(future)
        self.count += 1
        return future

    def discard(self, tx_hash: bytes, future: asyncio.Future) -> None:
        futures = self.futures.get(tx_hash)
        if futures and future in futures:
            futures.remove(future)
            self.count -= 1
            if not futures:
                del self.futures[tx_hash]

    def resolve(self, height: int, receipts: tuple[Receipt, ...]) -> None:
        for index, receipt in enumerate(receipts):
            for future in self.futures.pop(receipt.tx_hash, ()):
                self.count -= 1
                if not future.done():
                    future.set_result((height, index, receipt))


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.genesis = config.load_genesis()
        key_pair = read_key_file(config.node_key)
        own_institution = next((i for i in self.genesis.institutions if i.id == config.institution), None)
        if own_institution is None or own_institution.node_key != key_pair.public_key:
            raise ConfigError(f"{config.node_key} is not the genesis node key of {config.institution}")
        chain_id = self.genesis.chain_id
        self.storage = Storage(config.data_dir, chain_id)
        self.ledger = Ledger(self.storage, self.genesis)
        validators = self.ledger.validator_keys()
        own = key_pair.public_key
        replica_config = ReplicaConfig(chain_id, validators.index(own) if own in validators else -1,
                                       validators, **self.genesis.consensus)
        tip = self.ledger.tip
        tip_certificate = None if tip.height == 0 else self.storage.block_and_certificate(tip.height)[1]
        raw_snapshot = self.storage.snapshot()
        snapshot = None if raw_snapshot is None else ReplicaSnapshot.decode(raw_snapshot)
        self.replica = Replica(replica_config, key_pair.signer(), tip, tip_certificate, snapshot)
        self.verifier = TxVerifier(chain_id)
        self.admission = Admission(self.verifier, self.ledger)
        self.inbox: asyncio.Queue = asyncio.Queue(config.limits.inbox_max)
        self.waiters = ReceiptWaiters(config.limits.waiters_max)
        self.pending: dict[bytes, float] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        node_keys = self.ledger.node_keys()
        peers = {node_keys[p.institution]: p.url for p in config.peers if p.institution in node_keys}
        self.peers = PeerLinks(chain_id, key_pair.signer(), peers,
                               lambda key: key in self.ledger.node_keys().values(), config.limits, self._on_frame)
        self.committed_txs = 0

    # ------------------------------------------------------------ inputs

    async def _on_frame(self, peer_key: bytes, frame: bytes) -> None:
        """Decode, authenticate and check a peer frame; queue what is valid."""
        try:
            raw_messages = unpack_frame(frame)
        except ValueError as exc:
            log.warning("bad frame from %s: %s", peer_key.hex()[:8], exc)
            return
        for raw in raw_messages:
            try:
                message = decode_message(raw)
            except MessageError as exc:
                log.warning("bad message from %s: %s", peer_key.hex()[:8], exc)
                continue
            event = self._admit_peer_message(peer_key, message)
            if event is not None:
                await self.inbox.put(event)

    def _admit_peer_message(self, peer_key: bytes, message):
        """The event a verified peer message becomes, or None (logged) if refused."""
        validators = self.replica.config.validators
        sender = validators.index(peer_key) if peer_key in validators else -1
        if isinstance(message, FetchBlocks):
            self._serve_fetch(peer_key, message)
            return None
        if isinstance(message, Blocks):
            entries = self._verified_prefix(message.entries)
            return CertifiedBlocks(sender, entries) if entries else None
        if sender < 0:
            if isinstance(message, Forward) and self._check_txs(message) is None:
                return ClientRequests(message.txs)
            return None
        problem = authenticate(message, sender, validators) or self._check_txs(message)
        if problem is not None:
            log.warning("rejected %s from replica %d: %s", type(message).__name__, sender, problem)
            return None
        return PeerMessage(sender, message)

    def _verified_prefix(self, entries) -> tuple:
        """Fetched blocks whose certificates hold 2f+1 signatures of the current
        set; a block certified by a later set waits until this node executes
        the change and fetches again."""
        verified = []
        for block, certificate in entries:
            if certificate.seq != block.header.height or verify_certificate(
                    certificate, block.header.hash(), self.replica.config.validators) is not None:
                break
            verified.append((block, certificate))
        return tuple(verified)

    def _serve_fetch(self, peer_key: bytes, message: FetchBlocks) -> None:
        entries, size = [], 0
        for height in range(message.first, min(message.last, message.first + BLOCKS_PER_FETCH_MAX - 1) + 1):
            found = self.storage.block_and_certificate(height)
            if found is None:
                break
            entries.append(found)
            size += sum(len(tx) for tx in found[0].txs)
            if size > FETCH_BYTES_MAX:
                break
        self.peers.send(peer_key, encode_message(Blocks(tuple(entries))))

    def _check_txs(self, message) -> str | None:
        if isinstance(message, PrePrepare):
            txs = message.block.txs
        elif isinstance(message, NewView) and message.pre_prepare is not None:
            txs = message.pre_prepare.block.txs
        elif isinstance(message, Forward):
            txs = message.txs
        else:
            return None
        for raw in txs:
            try:
                self.verifier.check_wire(raw)
            except AdmissionError as exc:
                return f"invalid transaction: {exc}"
        return None

    def submit(self, txs: list) -> list:
        """Admit a batch and queue it for consensus; raises Rejected or QueueFull."""
        self._expire_pending()
        admitted = self.admission.admit(txs, self.pending)
        self.inbox.put_nowait(ClientRequests(tuple(tx.wire() for tx in admitted)))
        moment = time.monotonic()
        for tx in admitted:
            self.pending[tx.hash] = moment
        return admitted

    def _expire_pending(self) -> None:
        horizon = time.monotonic() - PENDING_TTL_S
        while self.pending:
            tx_hash, moment = next(iter(self.pending.items()))
            if moment > horizon:
                break
            del self.pending[tx_hash]

    # ------------------------------------------------------ consensus task

    async def consensus_loop(self) -> None:
        while True:
            event = await self.inbox.get()
            self._perform(self.replica.step(event, now_ms()))

    def _perform(self, effects: list) -> None:
        queue = deque(effects)
        while queue:
            effect = queue.popleft()
            if isinstance(effect, Send):
                to = self.replica.config.validator_key(effect.to)
                if to is not None:
                    self.peers.send(to, encode_message(effect.message))
            elif isinstance(effect, Broadcast):
                self.peers.broadcast(encode_message(effect.message))
            elif isinstance(effect, StartTimer):
                self._start_timer(effect.name, effect.delay_ms)
            elif isinstance(effect, CancelTimer):
                handle = self.timers.pop(effect.name, None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(effect, Persist):
                self.storage.put_snapshot(effect.snapshot.encode())
            elif isinstance(effect, Deliver):
                queue.extend(self._apply(effect))
            else:
                raise TypeError(f"unknown effect {effect!r}")

    def _apply(self, effect: Deliver) -> list:
        txs = [self.verifier.cache.get(raw, raw) for raw in effect.block.txs]
        tip, result = self.ledger.apply(effect.block, effect.certificate, txs)
        for receipt in result.receipts:
            self.pending.pop(receipt.tx_hash, None)
        self.committed_txs += len(result.receipts)
        self.waiters.resolve(tip.height, result.receipts)
        log.debug("applied block %d with %d txs", tip.height, len(result.receipts))
        validators = self.ledger.validator_keys()
        changed = validators if validators != self.replica.config.validators else None
        return self.replica.step(Executed(tip.height, tip.state_root, tip.receipts_root, changed), now_ms())

    def _start_timer(self, name: str, delay_ms: int) -> None:
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self.timers.pop(name, None)
            loop.create_task(self.inbox.put(TimerFired(name)))

        self.timers[name] = loop.call_later(delay_ms / 1000, fire)

    def peer_status(self) -> dict[str, dict]:
        names = {key: institution for institution, key in self.ledger.node_keys().items()}
        return {names.get(key, key.hex()[:16]): link for key, link in self.peers.status().items()}

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.peers.start()
        self._perform(self.replica.step(Start(), now_ms()))

    async def close(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        await self.peers.close()
        self.storage.close()
