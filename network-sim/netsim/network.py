"""The network model: per-link latency distributions, loss, duplication,
reordering, bandwidth, partitions (both ways or one way, overlapping) and
bursts of loss that start and heal, and optionally a topology (where each
node sits: the propagation delay between two nodes and each node's uplink
bandwidth; netsim.regions builds one from a region matrix).

A message's one-way delay is: the wait for the sender's uplink (when the
topology limits it: copies queue there one after another, each taking its
size / bandwidth to serialise), the wait for the link's own bandwidth (when
the link model limits it), the topology's propagation delay between the two
nodes, then the link model's latency draw (the variable part) and any
reordering jitter. Without a topology and bandwidth, sizes play no part.

Each kind of draw has its own random stream, so turning on loss does not
change which latencies are drawn."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, fields
from typing import Protocol

from netsim.rng import Streams

DELAY_US_MAX = 60_000_000
LATENCY_KINDS = ("constant", "uniform", "lognormal")


class SettingsError(ValueError):
    """Simulation settings that cannot make a run (the caller's input, not our bug)."""


@dataclass(frozen=True, slots=True)
class Latency:
    """One-way delay: constant(a), uniform(a, b), or lognormal with median a and
    sigma b/1,000,000 (so b_us=500_000 is sigma 0.5); draws are capped at 60 s."""

    kind: str = "constant"
    a_us: int = 1000
    b_us: int = 0

    def __post_init__(self) -> None:
        if self.kind not in LATENCY_KINDS:
            raise SettingsError(f"latency kind {self.kind!r} is not one of {', '.join(LATENCY_KINDS)}")
        if self.a_us < 0 or self.b_us < 0:
            raise SettingsError("latency parameters must not be negative")

    def draw(self, rng) -> int:
        if self.kind == "constant":
            return self.a_us
        if self.kind == "uniform":  # randint(a, b)'s very draw, without its argument checks (one per message)
            return self.a_us + rng._randbelow(max(self.a_us, self.b_us) - self.a_us + 1)
        exponent = min(rng.gauss(0.0, self.b_us / 1_000_000), math.log(DELAY_US_MAX / max(self.a_us, 1)))
        return int(self.a_us * math.exp(exponent))


@dataclass(frozen=True, slots=True)
class LinkModel:
    latency: Latency = Latency()
    loss: float = 0.0
    duplicate: float = 0.0
    reorder_us: int = 0
    bandwidth_bytes_per_s: int = 0


class Topology(Protocol):
    """Where the nodes sit, for Network.transmit. Both methods are pure and
    answer for any node address (observers included)."""

    def propagation_us(self, src: int, dst: int) -> int:
        """The fixed one-way delay from `src` to `dst` (distance, routing)."""
        ...

    def uplink_bytes_per_s(self, node: int) -> int:
        """How fast `node` puts bytes on the wire; 0 means unlimited."""
        ...


@dataclass(frozen=True, slots=True)
class Partition:
    """Between `start_us` and `heal_us`, nodes in different groups cannot talk."""

    start_us: int
    heal_us: int
    groups: tuple[tuple[int, ...], ...]

    def separates(self, src: int, dst: int, now_us: int) -> bool:
        if not self.start_us <= now_us < self.heal_us:
            return False
        return not any(src in group and dst in group for group in self.groups)


@dataclass(frozen=True, slots=True)
class Cut:
    """A one-way partition: between `start_us` and `heal_us`, messages from
    `sources` to `targets` are lost; the other way still works."""

    start_us: int
    heal_us: int
    sources: tuple[int, ...]
    targets: tuple[int, ...]

    def separates(self, src: int, dst: int, now_us: int) -> bool:
        return self.start_us <= now_us < self.heal_us and src in self.sources and dst in self.targets


@dataclass(frozen=True, slots=True)
class LossBurst:
    """Between `start_us` and `heal_us`, a message from or to one of `nodes`
    is lost with probability `loss_percent`/100."""

    start_us: int
    heal_us: int
    nodes: tuple[int, ...]
    loss_percent: int

    def applies(self, src: int, dst: int, now_us: int) -> bool:
        return self.start_us <= now_us < self.heal_us and (src in self.nodes or dst in self.nodes)


@dataclass(slots=True)
class Network:
    n: int
    streams: Streams
    link: LinkModel = LinkModel()
    faulty_link: LinkModel | None = None
    faulty_until_us: int = 0
    partitions: tuple[Partition | Cut, ...] = ()
    bursts: tuple[LossBurst, ...] = ()
    topology: Topology | None = None
    _link_free_us: dict[tuple[int, int], int] = field(default_factory=dict)  # at most one entry per link
    _uplink_free_us: dict[int, int] = field(default_factory=dict)  # at most one entry per node
    _plain: bool = field(init=False, default=False)
    _latency: random.Random | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """A plain network is one where only the link's latency applies: every
        optional setting (each field after `link` but `faulty_until_us`, a field
        added later included) holds its default and the link has no loss,
        duplication, reordering or bandwidth limit. `transmit` then takes the
        short way, with the same draws from the same stream."""
        optional = [f for f in fields(self) if f.init and not f.name.startswith("_")
                    and f.name not in ("n", "streams", "link", "faulty_until_us")]
        self._plain = (all(getattr(self, f.name) == f.default for f in optional)
                       and self.link == LinkModel(self.link.latency))
        self._latency = self.streams("latency")

    @property
    def needs_sizes(self) -> bool:
        """Whether message sizes change arrival times (some bandwidth is limited)."""
        links = (self.link, self.faulty_link)
        limited = any(m is not None and m.bandwidth_bytes_per_s for m in links)
        return limited or (self.topology is not None and any(
            self.topology.uplink_bytes_per_s(node) for node in range(self.n + 1)))

    def model(self, now_us: int) -> LinkModel:
        if self.faulty_link is not None and now_us < self.faulty_until_us:
            return self.faulty_link
        return self.link

    def _lost_in_burst(self, src: int, dst: int, now_us: int) -> bool:
        loss_percent = max((b.loss_percent for b in self.bursts if b.applies(src, dst, now_us)), default=0)
        return loss_percent > 0 and self.streams("burst").randrange(100) < loss_percent

    def transmit(self, src: int, dst: int, size_bytes: int, now_us: int) -> list[int]:
        """Arrival times of the copies of one message (none when lost)."""
        if self._plain:
            return [now_us + max(1, self.link.latency.draw(self._latency))]
        if any(p.separates(src, dst, now_us) for p in self.partitions):
            return []
        if self.bursts and self._lost_in_burst(src, dst, now_us):
            return []
        model = self.model(now_us)
        if model.loss and self.streams("loss").random() < model.loss:
            return []
        depart, propagation = now_us, 0
        if self.topology is not None:
            propagation = self.topology.propagation_us(src, dst)
            uplink = self.topology.uplink_bytes_per_s(src)
            if uplink:
                depart = max(depart, self._uplink_free_us.get(src, 0)) + _serialise_us(size_bytes, uplink)
                self._uplink_free_us[src] = depart
        if model.bandwidth_bytes_per_s:
            free = max(depart, self._link_free_us.get((src, dst), 0))
            depart = free + _serialise_us(size_bytes, model.bandwidth_bytes_per_s)
            self._link_free_us[(src, dst)] = depart
        copies = 2 if model.duplicate and self.streams("duplicate").random() < model.duplicate else 1
        arrivals = []
        for _ in range(copies):
            delay = model.latency.draw(self.streams("latency"))
            if model.reorder_us:
                delay += self.streams("reorder").randint(0, model.reorder_us)
            arrivals.append(depart + max(1, propagation + delay))
        return arrivals


def _serialise_us(size_bytes: int, bytes_per_s: int) -> int:
    """Time to put `size_bytes` on a wire of `bytes_per_s`, rounded up to a microsecond."""
    return -(-size_bytes * 1_000_000 // bytes_per_s)
