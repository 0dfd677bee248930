"""One simulated run: build the replicas, drive clients and faults on the
virtual clock, check the invariants, report the figures.

Invariants, checked on every run:
- agreement: no two honest replicas commit different blocks at one height;
- validity: only submitted requests commit, each at most once per replica;
- liveness: once faults heal (at most f faulty), every request a client
  submitted commits at f+1 honest replicas and every honest replica reaches
  the same height, within the run's liveness bound.

Agreement and validity are checked on every commit, and the first safety
violation (agreement, validity, or an honest replica halting) ends the run
there: the report's `first_violation` gives its kind, height and simulated
time. The faults come from a named scenario (netsim.scenarios) or from a
random schedule (netsim.faults); `SimConfig.mutation` weakens every
replica for the mutation check (consensus.mutations).

A run is valid only if every message sent keeps the real node's wire
limits (netsim.limits): one that a real node would refuse makes the run
invalid, whatever the invariants say.

A node takes one message at a time and is busy for its cost (EVENT_COST_US,
more for requests); messages that arrive meanwhile wait in its inbox, in
order, and the node takes the next when it is free. Timers and client
requests do not wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from consensus.auth import verify_fetched
from consensus.config import ReplicaConfig
from consensus.mutations import MUTATIONS
from consensus.validators import faulty_max
from consensus.events import CertifiedBlocks, ClientRequests, PeerMessage, Start, TimerFired
from consensus.messages import Blocks, FetchBlocks, Forward, PrePrepare
from crypto import hashing
from netsim import limits
from netsim.clock import US_PER_MS, US_PER_S, EventQueue
from netsim.faults import ARM_MS, claims_liveness, to_plan
from netsim.network import Latency, LinkModel, Network, SettingsError
from netsim.node import SimNode
from netsim.regions import RegionMatrix
from netsim.rng import Streams
from netsim.scenarios import CLEAN_SCENARIOS, SCENARIOS, plan
from netsim.signing import FakeKeys, VoteChecks
from netsim.sizes import MessageSizes
from netsim.trace import Trace

CLIENT_TIMEOUT_US = 1_500_000
RECONFIGURE_AT = 16
RECONFIGURING = ("reconfigure", "reconfigure-crash")  # node 0 leaves and node n joins after block 16
CLIENT_CHECK_US = 500_000
EVENT_COST_US = 30
TX_COST_US = 2
PROGRESS_STEP_US = 100_000
INDEXES_MAX = 64  # validator sets indexed at once (index_by_address)


def faulty_default(nodes: int, scenario: str) -> int:
    """Faulty replicas a scenario gets unless told: f, or none for a clean scenario."""
    return 0 if scenario in CLEAN_SCENARIOS else faulty_max(nodes)


@dataclass(frozen=True, slots=True)
class SimConfig:
    nodes: int = 4
    faulty: int = 1
    seed: int = 1
    duration_s: int = 10
    scenario: str = "none"
    rate_tps: int = 2000
    client_batch: int = 20
    tx_bytes: int = 64
    latency: Latency = Latency("uniform", 2_000, 8_000)
    bandwidth_bytes_per_s: int = 0  # per link; 0 means unlimited
    liveness_bound_s: int = 5  # the drain: the last seconds carry no new requests, so the last ones can commit
    batch_size_max: int = 500
    batch_delay_ms: int = 5
    regions: RegionMatrix | None = None  # where nodes sit (propagation, uplinks); None: the latency model alone
    mutation: str | None = None  # the mutation check's weakened replica (consensus.mutations); None in earnest

    def __post_init__(self) -> None:
        problems = (
            (self.scenario not in SCENARIOS, f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}"),
            (self.nodes < 1, "nodes must be at least 1"),
            (not 0 <= self.faulty <= faulty_max(self.nodes),
             f"faulty must be between 0 and f={faulty_max(self.nodes)} for {self.nodes} nodes"),
            (self.liveness_bound_s < 1,
             f"the drain (liveness_bound_s, the last seconds without new requests) must be at least 1 s, "
             f"not {self.liveness_bound_s}"),
            (self.duration_s <= self.liveness_bound_s,
             f"duration_s ({self.duration_s}) must exceed the drain ({self.liveness_bound_s} s) to leave time "
             f"for load"),
            (self.rate_tps <= 0 or self.client_batch <= 0, "rate_tps and client_batch must be positive"),
            (self.bandwidth_bytes_per_s < 0, "bandwidth must not be negative"),
            (self.mutation is not None and self.mutation not in MUTATIONS,
             f"mutation must be one of {', '.join(MUTATIONS)}"),
        )
        for failed, what in problems:
            if failed:
                raise SettingsError(what)

    @property
    def heal_us(self) -> int:
        return (self.duration_s - self.liveness_bound_s) * US_PER_S // 2 + US_PER_S // 2

    @property
    def load_end_us(self) -> int:
        return (self.duration_s - self.liveness_bound_s) * US_PER_S


@dataclass(slots=True)
class Metrics:
    messages: dict[str, int] = field(default_factory=dict)
    latencies_us: list[int] = field(default_factory=list)
    commit_times_us: list[int] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # the first messages a real node would refuse, and why
    invalid_messages: int = 0
    faults: list[list] = field(default_factory=list)  # [start_us, end_us or None, label, end_label]


class Simulation:
    """`faults`: a checked schedule's fault records (netsim.faults) instead of the config's scenario."""

    def __init__(self, config: SimConfig, faults: list[dict] | None = None) -> None:
        self.config = config
        self.streams = Streams(config.seed)
        self.queue = EventQueue()
        self.trace = Trace()
        self.metrics = Metrics()
        self.events = 0  # messages taken, timers fired, request batches, crashes and restarts
        self._checked: object = None  # the last message checked against the wire limits (a broadcast repeats it)
        self._indexes: dict[int, tuple[tuple[bytes, ...], dict[int, int]]] = {}  # see index_by_address
        self.f = faulty_max(config.nodes)
        self.first_violation: dict | None = None
        fault_plan = self._fault_plan(faults)
        addresses = self._keys(fault_plan.twins)
        self.checks = VoteChecks(self.keys.verify)
        self.initial_validators = self.keys.public_keys[: config.nodes]
        self.validator_changes: dict[int, tuple[bytes, ...]] = {}
        if config.scenario in RECONFIGURING:
            self.validator_changes[RECONFIGURE_AT] = self.keys.public_keys[1:]
        self.primary_crashed_after_change = False
        chain_id = hashing.digest("netsim-chain", str(config.seed).encode())
        self.network = Network(config.nodes, self.streams, fault_plan.link, fault_plan.faulty_link,
                               config.heal_us, fault_plan.partitions, fault_plan.bursts, config.regions)
        self.sizes = MessageSizes() if self.network.needs_sizes else None
        self.nodes = [
            SimNode(self, i, self._replica_config(chain_id, i), fault_plan.strategies.get(i))
            for i in range(addresses)
        ]
        for address in (address for group in self.addresses_of.values() if len(group) > 1 for address in group):
            self.nodes[address].twinned = True
        self.submitted: dict[bytes, int] = {}
        self.outstanding: dict[bytes, int] = {}
        self.commit_counts: dict[bytes, int] = {}
        self.decided: dict[int, bytes] = {}
        self.request_counter = 0
        self.down_since: dict[int, int] = {}  # replica -> index in metrics.faults of its open crash
        self._schedule_faults(fault_plan)

    def _fault_plan(self, faults: list[dict] | None):
        """The named scenario's plan, or the schedule's; and whether liveness is claimed under it."""
        config = self.config
        link = LinkModel(config.latency, bandwidth_bytes_per_s=config.bandwidth_bytes_per_s)
        if faults is None:
            self.liveness_checked = True
            return plan(config.scenario, config.nodes, config.faulty, US_PER_S, config.heal_us,
                        self.streams("scenario"), link)
        assert config.scenario == "none", "a schedule replaces the scenario"
        self.liveness_checked = claims_liveness(faults, config.nodes, config.load_end_us // US_PER_MS)
        return to_plan(faults, link)

    def _keys(self, twins: tuple[int, ...]) -> int:
        """Every node's key (a twin holds its sibling's, at address n+k) and the
        addresses holding each key; returns how many nodes there are."""
        extra = 1 if self.config.scenario in RECONFIGURING else 0
        assert not (extra and twins), "twins come with schedules, reconfiguration with its scenarios"
        addresses = self.config.nodes + extra + len(twins)
        self.keys = FakeKeys(addresses, self.config.seed)
        for k, replica in enumerate(twins):
            self.keys.share(self.config.nodes + k, replica)
        self.addresses_of: dict[bytes, tuple[int, ...]] = {}
        for address, key in enumerate(self.keys.public_keys):
            self.addresses_of[key] = (*self.addresses_of.get(key, ()), address)
        self.address_of = {key: holders[0] for key, holders in self.addresses_of.items()}
        return addresses

    def _schedule_faults(self, fault_plan) -> None:
        for at_us, replica, down_us, wipe in fault_plan.crashes:
            self.queue.schedule(at_us, ("crash", replica))
            self.queue.schedule(at_us + down_us, ("restart", replica, wipe))
        for at_us, replica, down_us, write in fault_plan.unsynced_crashes:
            self.queue.schedule(at_us, ("arm-unsynced", replica, down_us, write))
        for at_us, heal_us, replica, skew_ms in fault_plan.skews:
            self.queue.schedule(at_us, ("skew", replica, skew_ms))
            self.queue.schedule(heal_us, ("skew", replica, 0))
        self.metrics.faults.extend(fault_plan.marks(self.config.heal_us))

    def _replica_config(self, chain_id: bytes, address: int) -> ReplicaConfig:
        validators = self.initial_validators
        key = self.keys.public_keys[address]
        replica_id = validators.index(key) if key in validators else -1
        return ReplicaConfig(
            chain_id, replica_id, validators, batch_size_max=self.config.batch_size_max,
            batch_delay_ms=self.config.batch_delay_ms, checkpoint_interval=8, window=32,
            request_timeout_ms=500, view_change_timeout_ms=500, view_change_timeout_ms_max=2000,
            status_interval_ms=200, fetch_timeout_ms=500, block_time_ahead_ms_max=1000,
            mutation=self.config.mutation,
        )

    # ----------------------------------------------------------------- driving

    def run(self, progress: Callable[[int, int], None] | None = None) -> dict:
        """Run to the end and return the report. `progress(now_us, end_us)`, when
        given, is called about every simulated PROGRESS_STEP_US; it may only
        look: the run must not depend on whether anyone watches."""
        for node in self.nodes:
            node.handle(Start())
        self.queue.schedule(0, ("client",))
        self.queue.schedule(CLIENT_CHECK_US, ("client-check",))
        end_us = self.config.duration_s * US_PER_S
        next_progress_us = 0
        pop_due, dispatch = self.queue.pop_due, self._dispatch
        while not self.stopped:
            item = pop_due(end_us)
            if item is None:
                break
            if progress is not None and self.queue.now_us >= next_progress_us:
                at = self.queue.now_us
                progress(at, end_us)
                next_progress_us = at - at % PROGRESS_STEP_US + PROGRESS_STEP_US
            dispatch(item)
        if self.stopped:
            return self._report()
        self.queue.now_us = end_us
        if progress is not None:
            progress(end_us, end_us)
        if self.liveness_checked:
            self._check_liveness()
        return self._report()

    @property
    def stopped(self) -> bool:
        """A safety violation ends the run where it happened."""
        return self.first_violation is not None and self.first_violation["kind"] != "liveness"

    def _dispatch(self, item: tuple) -> None:
        kind = item[0]
        now = self.queue.now_us
        if kind == "msg":
            _, dst, src, message = item
            node = self.nodes[dst]
            if not node.up:
                return
            if node.busy_until_us > now or node.inbox:
                node.inbox.append((src, message))
                if len(node.inbox) == 1:
                    self.queue.schedule(node.busy_until_us, ("ready", dst, node.epoch))
                return
            self._take(node, src, message, now)
        elif kind == "ready":
            _, dst, epoch = item
            node = self.nodes[dst]
            if node.up and node.epoch == epoch:
                src, message = node.inbox.popleft()
                self._take(node, src, message, now)
                if node.inbox and node.up and node.epoch == epoch:
                    self.queue.schedule(node.busy_until_us, ("ready", dst, epoch))
        elif kind == "timer":
            _, replica_id, epoch, name, generation = item
            node = self.nodes[replica_id]
            if node.up and node.epoch == epoch and node.timer_generation.get(name) == generation:
                self.events += 1
                self._trace(now, "t", replica_id, name)
                node.handle(TimerFired(name))
        elif kind == "request":
            _, replica_id, txs = item
            node = self.nodes[replica_id]
            if node.up:
                self.events += 1
                self._count("client-request", len(txs))
                admitted = node.admit(txs)
                if admitted:
                    node.handle(ClientRequests(admitted))
        elif kind == "client":
            self._client_tick()
        elif kind == "client-check":
            self._client_check()
        elif kind == "crash":
            self.events += 1
            self._trace(now, "crash", item[1])
            self._went_down(item[1], "crashes")
            self.nodes[item[1]].crash()
        elif kind == "restart":
            self.events += 1
            self._trace(now, "restart", item[1])
            self._came_back(item[1], "restarts, disk wiped" if item[2] else "restarts")
            self.nodes[item[1]].restart(wipe=item[2])
        elif kind == "arm-unsynced":
            self.nodes[item[1]].arm_unsynced_crash(now + ARM_MS * US_PER_MS, item[2], item[3])
        elif kind == "skew":
            self._trace(now, "skew", item[1], item[2])
            self.nodes[item[1]].skew_ms = item[2]

    def _take(self, node: SimNode, src: int, message, now: int) -> None:
        """`node` is free: it takes `message` and is busy for the message's cost.
        The driver's part: serve FETCH-BLOCKS, verify BLOCKS, authenticate the rest."""
        self.events += 1
        self.trace.message(now, node.replica_id, src, message)
        kind = type(message)
        if kind is PrePrepare:
            node.busy_until_us = now + EVENT_COST_US + TX_COST_US * len(message.block.txs)
        elif kind is Forward:
            node.busy_until_us = now + EVENT_COST_US + TX_COST_US * len(message.txs)
        else:
            node.busy_until_us = now + EVENT_COST_US
        if kind is FetchBlocks:
            entries = tuple(node.chain[message.first - 1: message.last])
            self.send(node.replica_id, src, Blocks(entries))
            return
        if kind is Blocks:
            verified = verify_fetched(message.entries, node.replica.history, self.keys.verify)
            if verified:
                node.handle(CertifiedBlocks(node.index_of(src), verified))
            return
        sender = node.index_of(src)
        if kind is Forward:
            message = Forward(node.admit(message.txs))
            if not message.txs:
                return
        if sender < 0:
            if kind is Forward:
                node.handle(ClientRequests(message.txs))
            return
        if self.checks.authenticate(message, sender, node.replica.history) is None:
            node.handle(PeerMessage(sender, message))

    def send(self, src: int, dst: int, message) -> None:
        counts = self.metrics.messages
        counts[message.KIND] = counts.get(message.KIND, 0) + 1
        if message is not self._checked:
            self._checked = message
            problem = limits.problem(message)
            if problem is not None:
                self._over_limits(src, problem)
        size = 0 if self.sizes is None else self.sizes.of(message)
        for arrival in self.network.transmit(src, dst, size, self.queue.now_us):
            self.queue.schedule(arrival, ("msg", dst, src, message))

    def index_by_address(self, validators: tuple[bytes, ...]) -> dict[int, int]:
        """Node address -> replica index in `validators`: one dict per validator
        set, shared by every node that holds that set (a few sets a run)."""
        known = self._indexes.get(id(validators))
        if known is None or known[0] is not validators:
            if len(self._indexes) >= INDEXES_MAX:
                self._indexes.clear()
            index = {address: i for i, key in enumerate(validators) for address in self.addresses_of.get(key, ())}
            known = self._indexes[id(validators)] = (validators, index)  # holding the tuple keeps its id unique
        return known[1]

    def schedule_timer(self, node: SimNode, name: str, generation: int, delay_ms: int) -> None:
        self.queue.schedule(self.queue.now_us + delay_ms * US_PER_MS,
                            ("timer", node.replica_id, node.epoch, name, generation))

    # ----------------------------------------------------------------- clients

    def _client_tick(self) -> None:
        now = self.queue.now_us
        if now >= self.config.load_end_us:
            return
        txs = []
        for _ in range(self.config.client_batch):
            self.request_counter += 1
            request = self.request_counter.to_bytes(8, "big").rjust(self.config.tx_bytes, b"r")
            self.submitted[request] = now
            self.outstanding[request] = now
            txs.append(request)
        target = self.streams("clients").randrange(self.config.nodes)
        self.queue.schedule(now + 500, ("request", target, tuple(txs)))
        interval = self.config.client_batch * US_PER_S // self.config.rate_tps
        self.queue.schedule(now + max(1, interval), ("client",))

    def _client_check(self) -> None:
        """A correct client whose request is not answered in time sends it to every replica."""
        now = self.queue.now_us
        late = [r for r, sent in self.outstanding.items() if now - sent >= CLIENT_TIMEOUT_US]
        for start in range(0, len(late), self.config.batch_size_max):
            batch = tuple(late[start:start + self.config.batch_size_max])
            for address in range(len(self.nodes)):
                self.queue.schedule(now + 500, ("request", address, batch))
        for request in late:
            self.outstanding[request] = now
        self.queue.schedule(now + CLIENT_CHECK_US, ("client-check",))

    # -------------------------------------------------------------- invariants

    def on_commit(self, node: SimNode, seq: int, block_hash: bytes, txs: tuple[bytes, ...]) -> None:
        now = self.queue.now_us
        self._trace(now, "commit", node.replica_id, seq, block_hash.hex())
        if not node.honest:
            return
        if seq == RECONFIGURE_AT and self.config.scenario == "reconfigure-crash":
            self._crash_the_new_primary(node)
        decided = self.decided.setdefault(seq, block_hash)
        if decided != block_hash:
            self._violation(f"agreement: replica {node.replica_id} committed another block at {seq}", seq)
            return
        self._count("client-reply", len(txs))
        submitted, committed, counts, enough = self.submitted, node.committed, self.commit_counts, self.f + 1
        for tx in txs:
            if tx not in submitted:
                self._violation(f"validity: replica {node.replica_id} committed an unsubmitted request", seq)
                return
            if tx in committed:
                self._violation(f"validity: replica {node.replica_id} committed a request twice", seq)
                return
            committed.add(tx)
            count = counts[tx] = counts.get(tx, 0) + 1
            if count == enough:
                self.outstanding.pop(tx, None)
                self.metrics.latencies_us.append(now - submitted[tx])
                self.metrics.commit_times_us.append(now)

    def on_halt(self, node: SimNode, reason: str) -> None:
        """A replica stopped on a consensus failure: an honest one never should."""
        self._trace(self.queue.now_us, "halt", node.replica_id)
        self._went_down(node.replica_id, "halts")
        node.crash()
        if node.honest:
            self._violation(f"halt: replica {node.replica_id} stopped on a consensus failure: {reason}",
                            node.replica.tip.height + 1)

    def on_unsynced_crash(self, node: SimNode, synced_height: int, lost: list, down_us: int) -> None:
        """`node` crashed after a write and before its sync, losing blocks `lost`
        above `synced_height`: it told nobody it committed them, so they are
        not counted as its commits (it commits them again after catching up)."""
        now = self.queue.now_us
        self._trace(now, "crash-unsynced", node.replica_id, synced_height, len(lost))
        self._went_down(node.replica_id, f"crashes before a sync, {len(lost)} blocks lost")
        if node.honest:
            for block, _ in lost:
                for tx in block.txs:
                    if tx in node.committed:
                        node.committed.discard(tx)
                        self.commit_counts[tx] -= 1
        node.crash()
        self.queue.schedule(now + max(1, down_us), ("restart", node.replica_id, False))

    def _crash_the_new_primary(self, node: SimNode) -> None:
        """Scenario reconfigure-crash: the first time the activating block
        commits, the new set's primary crashes until the faults heal, so the
        new set's first view change needs the old set's certificates."""
        if self.primary_crashed_after_change:
            return
        self.primary_crashed_after_change = True
        new_set = self.validator_changes[RECONFIGURE_AT]
        primary = self.address_of[new_set[node.replica.view % len(new_set)]]
        now = self.queue.now_us
        self.queue.schedule(now, ("crash", primary))
        self.queue.schedule(max(now + 1, self.config.heal_us), ("restart", primary, False))

    def _check_liveness(self) -> None:
        if self.outstanding:
            self._violation(f"liveness: {len(self.outstanding)} requests not committed at f+1 honest replicas "
                            f"{self.config.liveness_bound_s} s after the load stopped")
        honest = [node for node in self.nodes if node.honest and node.up]
        heights = sorted({len(node.chain) for node in honest})
        if len(heights) > 1:
            self._violation(f"liveness: honest replicas ended at different heights {heights}")

    # ------------------------------------------------------------------ faults

    def _went_down(self, replica: int, what: str) -> None:
        if replica not in self.down_since and self.nodes[replica].up:
            self.down_since[replica] = len(self.metrics.faults)
            self.metrics.faults.append([self.queue.now_us, None, f"r{replica} {what}", ""])

    def _came_back(self, replica: int, what: str) -> None:
        index = self.down_since.pop(replica, None)
        if index is not None:
            fault = self.metrics.faults[index]
            fault[1], fault[3] = self.queue.now_us, f"r{replica} {what}"

    def _over_limits(self, src: int, problem: str) -> None:
        self.metrics.invalid_messages += 1
        if len(self.metrics.invalid) < 20:
            self.metrics.invalid.append(f"t={self.queue.now_us / US_PER_S:.3f}s r{src} sent a {problem}")

    def _violation(self, text: str, height: int | None = None) -> None:
        if self.first_violation is None:
            self.first_violation = {"kind": text.split(":")[0], "height": height, "time_us": self.queue.now_us,
                                    "text": text}
        if len(self.metrics.violations) < 20:
            self.metrics.violations.append(f"t={self.queue.now_us / US_PER_S:.3f}s {text}")

    # ------------------------------------------------------------------ output

    def _count(self, kind: str, amount: int = 1) -> None:
        self.metrics.messages[kind] = self.metrics.messages.get(kind, 0) + amount

    def _trace(self, now: int, *parts) -> None:
        self.trace.add(now, *parts)

    def _report(self) -> dict:
        from netsim.report import build_report
        return build_report(self)
