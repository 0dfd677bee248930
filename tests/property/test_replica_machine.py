"""Hypothesis state machine: four real replicas joined by an adversarial
network that delivers in any order, drops, duplicates and tampers with
messages, fires timers at any moment and crash-restarts replicas from what
they persisted; replica 3 is Byzantine and signs whatever it likes.
Replicas 0-2 must never commit different blocks at one height, and no step
may trip an internal assertion."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.auth import authenticate
from consensus.config import ChainTip
from consensus.events import (
    REQUEST_TIMER, Broadcast, CancelTimer, CertifiedBlocks, ClientRequests, Deliver, Executed, PeerMessage, Persist,
    Send, Start, StartTimer, TimerFired,
)
from consensus.messages import (
    SIGNATURE_DOMAIN, Blocks, Checkpoint, Commit, FetchBlocks, Prepare, ViewChange, checkpoint_bytes, vote_bytes,
)
from consensus.replica import Replica
from crypto import hashing, merkle
from fixtures import replica_config
from netsim.signing import FakeKeys

N = 4
BYZANTINE = 3
CHAIN_ID = hashing.digest("machine", b"chain")
GENESIS = ChainTip(0, CHAIN_ID, hashing.digest("machine", b"state"), merkle.EMPTY_ROOT, 0)
BAG_MAX = 400
PENDING_MAX = 3  # small, so pools fill and a view change must requeue into a full pool


class ReplicaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.keys = FakeKeys(N, 99)
        self.config = [replica_config(CHAIN_ID, i, self.keys.public_keys, batch_size_max=4, batch_delay_ms=0,
                                     checkpoint_interval=2, window=8, pending_max=PENDING_MAX) for i in range(N)]
        self.chains: list[list] = [[] for _ in range(N)]
        self.roots: list[list] = [[] for _ in range(N)]
        self.snapshots = [None] * N
        self.timers: list[set[str]] = [set() for _ in range(N)]
        self.replicas = [self._fresh(i) for i in range(N)]
        self.bag: list[tuple[int, int, object]] = []
        self.now_ms = 1000
        self.requests = 0
        self.decided: dict[int, bytes] = {}
        for i in range(N):
            self._step(i, Start())

    def _tip(self, i: int) -> ChainTip:
        if not self.chains[i]:
            return GENESIS
        block, certificate = self.chains[i][-1]
        state_root, receipts_root = self.roots[i][-1]
        return ChainTip(len(self.chains[i]), certificate.digest, state_root, receipts_root, block.header.timestamp_ms)

    def _fresh(self, i: int) -> Replica:
        certificate = self.chains[i][-1][1] if self.chains[i] else None
        return Replica(self.config[i], self.keys.signer(i), self._tip(i), certificate, self.snapshots[i])

    def _step(self, i: int, event) -> None:
        effects = list(self.replicas[i].step(event, self.now_ms))
        while effects:
            effect = effects.pop(0)
            if isinstance(effect, Send):
                self._post(i, effect.to, effect.message)
            elif isinstance(effect, Broadcast):
                for to in range(N):
                    if to != i:
                        self._post(i, to, effect.message)
            elif isinstance(effect, StartTimer):
                self.timers[i].add(effect.name)
            elif isinstance(effect, CancelTimer):
                self.timers[i].discard(effect.name)
            elif isinstance(effect, Persist):
                self.snapshots[i] = effect.snapshot
            elif isinstance(effect, Deliver):
                effects.extend(self._execute(i, effect))

    def _execute(self, i: int, effect: Deliver) -> list:
        parent = self.roots[i][-1][0] if self.roots[i] else GENESIS.state_root
        state_root = hashing.digest("machine-state", parent + effect.certificate.digest)
        receipts_root = hashing.digest("machine-receipts", effect.certificate.digest)
        self.chains[i].append((effect.block, effect.certificate))
        self.roots[i].append((state_root, receipts_root))
        if i != BYZANTINE:
            decided = self.decided.setdefault(effect.seq, effect.certificate.digest)
            assert decided == effect.certificate.digest, f"replicas disagree at height {effect.seq}"
        return self.replicas[i].step(Executed(effect.seq, state_root, receipts_root), self.now_ms)

    def _post(self, src: int, dst: int, message) -> None:
        if len(self.bag) < BAG_MAX:
            self.bag.append((src, dst, message))

    # ------------------------------------------------------------------ rules

    @rule(target_replica=st.integers(0, N - 1), count=st.integers(1, 2 * PENDING_MAX))
    def submit(self, target_replica, count):
        txs = []
        for _ in range(count):
            self.requests += 1
            txs.append(b"request-%d" % self.requests)
        self._step(target_replica, ClientRequests(tuple(txs)))

    @rule(replica=st.sampled_from([i for i in range(N) if i != BYZANTINE]))
    def fill_the_pool_then_time_out(self, replica):
        """A full pool, then the request timer: the view change that follows
        must put the requests in flight back into a full pool."""
        self.submit(replica, 2 * PENDING_MAX)
        if REQUEST_TIMER in self.timers[replica]:
            self.timers[replica].discard(REQUEST_TIMER)
            self.now_ms += 100
            self._step(replica, TimerFired(REQUEST_TIMER))

    @precondition(lambda self: self.bag)
    @rule(data=st.data())
    def deliver(self, data):
        src, dst, message = self.bag.pop(data.draw(st.integers(0, len(self.bag) - 1)))
        self._receive(src, dst, message)

    def _receive(self, src: int, dst: int, message) -> None:
        if isinstance(message, FetchBlocks):
            entries = tuple(self.chains[dst][message.first - 1: message.last])
            self._post(dst, src, Blocks(entries))
            return
        if authenticate(message, src, self.replicas[dst].history, self.keys.verify) is not None:
            return
        if isinstance(message, Blocks):
            self._step(dst, CertifiedBlocks(src, message.entries))
        else:
            self._step(dst, PeerMessage(src, message))

    @precondition(lambda self: self.bag)
    @rule(count=st.integers(1, 300))
    def deliver_in_order(self, count):
        for _ in range(count):
            if not self.bag:
                break
            src, dst, message = self.bag.pop(0)
            self._receive(src, dst, message)

    @precondition(lambda self: self.bag)
    @rule(data=st.data())
    def duplicate_or_drop(self, data):
        index = data.draw(st.integers(0, len(self.bag) - 1))
        if data.draw(st.booleans()):
            self._post(*self.bag[index])
        else:
            self.bag.pop(index)

    @precondition(lambda self: self.bag)
    @rule(data=st.data(), field=st.sampled_from(["view", "seq", "digest", "signature", "replica"]))
    def tamper(self, data, field):
        src, dst, message = self.bag.pop(data.draw(st.integers(0, len(self.bag) - 1)))
        if not hasattr(message, field):
            return
        value = getattr(message, field)
        changed = (value + 1) if isinstance(value, int) else bytes(len(value))
        self._receive(src, dst, dataclasses.replace(message, **{field: changed}))

    @rule(replica=st.integers(0, N - 1), data=st.data())
    def fire_timer(self, replica, data):
        if self.timers[replica]:
            name = data.draw(st.sampled_from(sorted(self.timers[replica])))
            self.timers[replica].discard(name)
            self.now_ms += 100
            self._step(replica, TimerFired(name))

    @rule(replica=st.integers(0, N - 1))
    def crash_and_restart(self, replica):
        self.timers[replica] = set()
        self.replicas[replica] = self._fresh(replica)
        self._step(replica, Start())

    @rule(view=st.integers(0, 10**9), seq=st.integers(0, 20), junk=st.binary(min_size=32, max_size=32),
          kind=st.sampled_from(["prepare", "commit", "checkpoint", "view-change"]), to=st.integers(0, 2))
    def byzantine_message(self, view, seq, junk, kind, to):
        signer = self.keys.signer(BYZANTINE)
        context = self.config[0].signing_context
        if kind in ("prepare", "commit"):
            cls = Prepare if kind == "prepare" else Commit
            signature = signer.sign(SIGNATURE_DOMAIN, vote_bytes(context, cls.KIND, view, seq, junk))
            message = cls(view, seq, junk, BYZANTINE, signature)
        elif kind == "checkpoint":
            signature = signer.sign(SIGNATURE_DOMAIN, checkpoint_bytes(context, seq, junk, junk))
            message = Checkpoint(seq, junk, junk, BYZANTINE, signature)
        else:
            unsigned = ViewChange(view, BYZANTINE, 0, None, None, None, b"")
            message = dataclasses.replace(unsigned, signature=signer.sign(SIGNATURE_DOMAIN, unsigned.signed_bytes(context)))
        self._receive(BYZANTINE, to, message)

    @invariant()
    def honest_chains_agree(self):
        for i in range(N):
            if i == BYZANTINE:
                continue
            for height, (_, certificate) in enumerate(self.chains[i], start=1):
                assert self.decided[height] == certificate.digest


ReplicaMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestReplicaMachine = ReplicaMachine.TestCase
