"""The driver: one task owns the replica; everything else queues into it.

Peer frames are decoded and authenticated where they arrive (`inbound`),
then queued (bounded, with backpressure on the socket). Client batches are
admitted (`admission`: cheap checks first, signatures on the worker threads)
and queued without waiting (a full queue answers 503).
Timers queue `TimerFired`. The consensus task steps the replica and
performs its effects in order. A delivered block is executed, the replica
hears `Executed`, and only then is the block written to LevelDB, in one
synced batch with the snapshot that step asked to persist, before any of
that step's effects is performed: one synced write where there were two,
and nothing the replica did after the block leaves before it is on disk.

`Node` is built from its parts (ledger, signer, peer links), so tests can
assemble one; `open_node` builds them from a config file's paths.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import ssl
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable
from datetime import datetime, timezone

from consensus.config import ChainTip, ReplicaConfig
from consensus.events import (
    Broadcast, CancelTimer, ClientRequests, Deliver, Executed, Halt, PeerMessage, Persist, Send, Start, StartTimer,
    TimerFired,
)
from consensus.messages import NewView, PrePrepare, encode_message
from consensus.replica import Replica
from consensus.snapshot import ReplicaSnapshot
from contracts.executor import BlockResult, Receipt
from crypto import keys
from crypto.keys import read_key_file, read_public_key
from node.runtime.admission import Admission, Busy, PendingTxs, Rejected
from node.runtime.config import ConfigError, NodeConfig
from node.runtime.inbound import InboundPeers, PeerChecks
from node.runtime.ledger import Ledger
from node.runtime.membership import Membership
from node.runtime.metrics import NodeMetrics
from node.runtime.peers import PeerLinks
from node.runtime.storage import Storage
from node.runtime.timers import Timers
from node.runtime.tls import TlsContexts, contexts

log = logging.getLogger("consort.node")

PENDING_TTL_S = 120.0
WAKE = object()  # an inbox item that only wakes the consensus task for expired timers


GOVERNANCE_PREFIX = b"gov/"  # the node directory (governance.node_directory) reads only keys under it


def _writes_under(writes: list[tuple[bytes, bytes | None]], prefix: bytes) -> bool:
    """Whether a block's sorted write set touches a key starting with `prefix`."""
    at = bisect.bisect_left(writes, (prefix,))
    return at < len(writes) and writes[at][0].startswith(prefix)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ConsensusFailure(RuntimeError):
    """The replica found its own execution at odds with the certified chain:
    the node stops rather than risk a fork (restart it once the cause is known)."""


class ReceiptWaiters:
    """Futures waiting for transactions to commit, bounded in number, in all
    and per caller (so one caller cannot use up everyone's). A waiter counts
    from `add` until its `discard`, which every waiter gets once, resolved or not."""

    def __init__(self, waiters_max: int, per_caller_max: int) -> None:
        self.waiters_max = waiters_max
        self.per_caller_max = per_caller_max
        self.count = 0
        self.by_caller: dict[str, int] = {}  # callers with a waiter: at most waiters_max
        self.futures: dict[bytes, list[asyncio.Future]] = {}

    def room(self, caller: str, count: int = 1) -> bool:
        """Whether `caller` may add `count` waiters now."""
        return (self.count + count <= self.waiters_max
                and self.by_caller.get(caller, 0) + count <= self.per_caller_max)

    def add(self, tx_hash: bytes, caller: str) -> asyncio.Future | None:
        if not self.room(caller):
            return None
        future = asyncio.get_running_loop().create_future()
        self.futures.setdefault(tx_hash, []).append(future)
        self.count += 1
        self.by_caller[caller] = self.by_caller.get(caller, 0) + 1
        return future

    def discard(self, tx_hash: bytes, future: asyncio.Future, caller: str) -> None:
        futures = self.futures.get(tx_hash)
        if futures and future in futures:
            futures.remove(future)
            if not futures:
                del self.futures[tx_hash]
        self.count -= 1
        left = self.by_caller.pop(caller) - 1
        if left:
            self.by_caller[caller] = left

    def resolve(self, height: int, receipts: tuple[Receipt, ...]) -> None:
        for index, receipt in enumerate(receipts):
            for future in self.futures.pop(receipt.tx_hash, ()):
                if not future.done():
                    future.set_result((height, index, receipt))


class Node:
    def __init__(self, config: NodeConfig, ledger: Ledger, signer: keys.Signer, peers: PeerLinks,
                 tls: TlsContexts | None = None) -> None:
        """`tls`: the node's contexts (None only on a node started --insecure)."""
        self.config = config
        self.tls = tls
        self.ledger = ledger
        self.genesis = ledger.genesis
        self.storage = ledger.storage
        self.peers = peers
        self.replica = self._replica(signer)
        limits = config.limits
        self.workers = ThreadPoolExecutor(limits.worker_threads, thread_name_prefix="consort-worker")
        self.pending = PendingTxs(limits.pending_txs_max, limits.pending_bytes_max, PENDING_TTL_S)
        self.admission = Admission(self.genesis.chain_id, ledger, self.pending, self.workers,
                                   limits.verifying_txs_max)
        self.verifier = self.admission  # the block applier reuses the transactions it checked (`checked`)
        self.inbox: asyncio.Queue = asyncio.Queue(limits.inbox_max)
        self.waiters = ReceiptWaiters(limits.waiters_max, limits.waiters_per_caller_max)
        self.timers = Timers(self._wake)
        self.membership = Membership(signer.public_key, config.scheme, config.peers)
        self.membership.refresh(ledger.node_directory())
        peers.set_initial(self.membership.peer_urls())
        checks = PeerChecks(is_member=self.membership.is_member,
                            history=lambda: self.replica.history,
                            admission=self.admission, storage=self.storage, workers=self.workers,
                            reply=peers.send)
        self.inbound = InboundPeers(self.genesis.chain_id, signer, config.limits, checks, self.inbox,
                                    tls_required=tls is not None)
        self.membership_changed = False
        self._links_stale = False
        self._links_task: asyncio.Task | None = None
        # called with each applied block's height, on the consensus task: quick, non-blocking (they
        # schedule their own work); how node.mpc follows the sessions without the runtime importing it
        self.block_listeners: list[Callable[[int], None]] = []
        # opens another key file of this node's (same passphrase), for extensions with keys of their own
        self.open_key_file: Callable[[Path], keys.KeyPair] | None = None
        self.committed_txs = 0
        self.metrics = NodeMetrics()
        ledger.on_written = self.metrics.block_written
        self.metrics.read_from(height=lambda: self.ledger.tip.height, view=lambda: self.replica.view,
                               pool_size=lambda: len(self.pending), peers=lambda: len(self.connected_peers()))

    def _replica(self, signer: keys.Signer) -> Replica:
        """The replica, resumed from the stored tip and consensus snapshot."""
        history = self.ledger.validator_history()
        validators = history.current
        replica_config = ReplicaConfig(self.genesis.chain_id, validators.index(signer.public_key), validators.keys,
                                       **self.genesis.consensus,
                                       recent_requests_max=self.config.limits.recent_requests_max)
        tip = self.ledger.tip
        tip_certificate = None if tip.height == 0 else self.storage.block_and_certificate(tip.height)[1]
        raw_snapshot = self.storage.snapshot()
        snapshot = None if raw_snapshot is None else ReplicaSnapshot.decode(raw_snapshot)
        return Replica(replica_config, signer, tip, tip_certificate, snapshot, history)

    # ------------------------------------------------------------ inputs

    async def submit(self, txs: list) -> list:
        """Admit a batch and queue it for consensus; raises Rejected or Busy."""
        try:
            if self.inbox.full():
                raise Busy("the node's queue is full; retry later")
            return await self.admission.admit(txs, self._queue_requests)
        except Rejected as exc:
            self.metrics.refused(found["code"] for found in exc.problems)
            raise
        except Busy:
            self.metrics.refused(["busy"] * len(txs))
            raise

    def _queue_requests(self, wires: tuple[bytes, ...]) -> None:
        try:
            self.inbox.put_nowait(ClientRequests(wires))
        except asyncio.QueueFull:
            raise Busy("the node's queue is full; retry later") from None

    # ------------------------------------------------------ consensus task

    async def consensus_loop(self) -> None:
        """The one task that steps the replica: every event from the inbox, then
        every timer that expired and still counts."""
        while True:
            event = await self.inbox.get()
            if event is not WAKE:
                if isinstance(event, PeerMessage):
                    self._note_proposal(event.message)
                await self._perform(self.replica.step(event, now_ms()))
            for name in self.timers.take_due():
                await self._perform(self.replica.step(TimerFired(name), now_ms()))
            self.metrics.view_seen(self.replica.view)

    def _note_proposal(self, message) -> None:
        """Start a block's commit time when its pre-prepare is first seen here."""
        if isinstance(message, NewView):
            message = message.pre_prepare
        if isinstance(message, PrePrepare):
            self.metrics.proposal_seen(message.block.header.height)

    def _wake(self) -> None:
        """A timer expired: make sure the consensus task looks (if the inbox is
        full, the task is busy and looks after its next event anyway)."""
        if not self.inbox.full():
            self.inbox.put_nowait(WAKE)

    async def _perform(self, effects: list) -> None:
        """Perform the replica's effects in order. After each applied block the
        task yields to the event loop, so a node catching up hundreds of blocks
        keeps answering its peers and clients meanwhile."""
        queue = deque(effects)
        while queue:
            effect = queue.popleft()
            if isinstance(effect, Send):
                to = self.replica.config.validator_key(effect.to)
                if to is not None:
                    self.peers.send(to, encode_message(effect.message))
            elif isinstance(effect, Broadcast):
                self._note_proposal(effect.message)
                self.peers.broadcast(encode_message(effect.message))
            elif isinstance(effect, StartTimer):
                self.timers.start(effect.name, effect.delay_ms)
            elif isinstance(effect, CancelTimer):
                self.timers.cancel(effect.name)
            elif isinstance(effect, Persist):
                raw, started = effect.snapshot.encode(), time.perf_counter()
                self.storage.put_snapshot(raw)
                self.metrics.snapshot_written(time.perf_counter() - started)
            elif isinstance(effect, Deliver):
                queue.extend(self._apply(effect))
                if self.membership_changed:
                    self._follow_membership()
                await asyncio.sleep(0)
            elif isinstance(effect, Halt):
                raise ConsensusFailure(effect.reason)
            else:
                raise TypeError(f"unknown effect {effect!r}")

    def _apply(self, effect: Deliver) -> list:
        """Execute and write the delivered block; the effects of the replica's
        `Executed` step, its Persist already written with the block."""
        txs = [self.verifier.checked(raw) or raw for raw in effect.block.txs]
        parent_time_ms = self.ledger.tip.timestamp_ms if self.ledger.tip.height > 0 else None
        followed: list = []

        def executed(tip: ChainTip, result: BlockResult) -> bytes | None:
            followed.extend(self.replica.step(
                Executed(tip.height, tip.state_root, tip.receipts_root, result.validators), now_ms()))
            persist = next((e for e in followed if isinstance(e, Persist)), None)  # at most one a step
            if persist is None:
                return None
            followed.remove(persist)
            return persist.snapshot.encode()

        tip, result = self.ledger.apply(effect.block, effect.certificate, txs, executed)
        self.verifier.applied(effect.block.txs)
        self.metrics.block_applied(tip.height, tip.timestamp_ms, parent_time_ms)
        for receipt in result.receipts:
            self.pending.pop(receipt.tx_hash, None)
        self.committed_txs += len(result.receipts)
        self.waiters.resolve(tip.height, result.receipts)
        log.debug("applied block %d with %d txs", tip.height, len(result.receipts))
        if _writes_under(result.writes, GOVERNANCE_PREFIX):
            self.membership_changed |= self.membership.refresh(self.ledger.node_directory())
        for listener in self.block_listeners:
            listener(tip.height)
        return followed

    def _follow_membership(self) -> None:
        """The committed state changed who belongs: update the links (dial the
        nodes it lists now, close the links of keys it no longer lists) on a
        task of their own, never on the consensus task, which a slow close
        or a hanging dial must not stop. Changes that come while an update
        runs are taken by its next round."""
        self.membership_changed = False
        self._links_stale = True
        if self._links_task is None or self._links_task.done():
            self._links_task = asyncio.create_task(self._update_links(), name="membership-links")

    async def _update_links(self) -> None:
        while self._links_stale:
            self._links_stale = False
            await self.peers.set_peers(self.membership.peer_urls())
            closed = await self.inbound.close_non_members()
            log.info("membership changed: %d nodes listed, %d links of departed nodes closed",
                     len(self.membership.keys), closed)

    def connected_peers(self) -> set[bytes]:
        """Node keys of the member nodes linked both ways: this node dialled
        them (it can send) and they dialled it (it hears them)."""
        return {key for key, up in self.peers.outbound_up.items() if up and self.inbound.up.get(key, 0) > 0}

    def peer_status(self) -> dict[str, dict]:
        names = {key: self.membership.institution_of(key) or key.hex()[:16] for key in self.peers.outbound_up}
        return {names[key]: {"outbound": up, "inbound": self.inbound.up.get(key, 0) > 0}
                for key, up in self.peers.outbound_up.items()}

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Dial the peers, and queue `Start` for the consensus task (the one caller of the replica)."""
        await self.peers.start()
        self.inbox.put_nowait(Start())

    async def close(self) -> None:
        self.timers.close()
        if self._links_task is not None:
            self._links_task.cancel()
            await asyncio.gather(self._links_task, return_exceptions=True)
        await self.peers.close()
        self.workers.shutdown(wait=True, cancel_futures=True)  # no worker may still read the store
        self.storage.close()


def open_node(config: NodeConfig, passphrase: str | None = None) -> Node:
    """A node from its config: genesis, node key, TLS contexts, LevelDB and
    peer links. The node key file is opened with `passphrase`, or else with
    the one its `passphrase_source` gives (asked once the file is known to
    be a key file). A key the stored state does not list yet (a node added
    or rotated by governance, before it has caught up) starts with a
    warning: its peers admit it once their state lists it."""
    genesis = config.load_genesis()
    public_key = read_public_key(config.node_key)
    if passphrase is None:
        passphrase = config.passphrase_source.read(f"passphrase of {config.node_key}: ")
    key_pair = read_key_file(config.node_key, passphrase)
    tls = None
    if not config.insecure:
        if config.tls is None:
            raise ConfigError(f"{config.path} has no 'tls' section (the root CA and this node's certificate "
                              "chain); plain HTTP only with --insecure")
        try:
            tls = contexts(config.tls, key_pair, datetime.now(timezone.utc))
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise ConfigError(f"{config.path}: tls: {exc}") from None
    ledger = Ledger(Storage(config.data_dir, genesis.chain_id), genesis)
    if (config.institution, public_key) not in {(e.institution, e.node_key) for e in ledger.node_directory()}:
        log.warning("%s: the state at height %d lists no node key %s for %s; peers admit this node once "
                    "governance has added its key", config.node_key, ledger.tip.height, public_key.hex()[:16],
                    config.institution)
    links = PeerLinks(genesis.chain_id, key_pair.signer(), {}, config.limits, tls.client if tls else None)
    node = Node(config, ledger, key_pair.signer(), links, tls)
    node.open_key_file = lambda path: read_key_file(path, passphrase)
    return node
