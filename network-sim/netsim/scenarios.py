"""Named fault scenarios: what goes wrong, to whom and when.

Faults act between `fault_start_us` and `heal_us`; afterwards the network
is clean and crashed replicas are back, so liveness can be judged. Faulty
replicas always include replica 0, the first primary."""

from __future__ import annotations

from dataclasses import dataclass, field

from netsim.byzantine import STRATEGIES
from netsim.clock import US_PER_S
from netsim.network import Cut, LinkModel, LossBurst, Partition

ISOLATION_US = 2 * US_PER_S


@dataclass(slots=True)
class Plan:
    """What goes wrong in one run: a named scenario's, or a random schedule's (netsim.faults)."""

    link: LinkModel
    faulty_link: LinkModel | None = None
    partitions: tuple[Partition | Cut, ...] = ()
    strategies: dict[int, type] = field(default_factory=dict)
    crashes: list[tuple[int, int, int, bool]] = field(default_factory=list)  # (at_us, replica, down_us, wipe)
    bursts: tuple[LossBurst, ...] = ()
    unsynced_crashes: list[tuple[int, int, int, str]] = field(default_factory=list)  # (at_us, replica, down_us, write)
    skews: list[tuple[int, int, int, int]] = field(default_factory=list)  # (at_us, heal_us, replica, skew_ms)
    twins: tuple[int, ...] = ()  # replicas whose key a second node holds; the k-th twin's address is n+k

    def marks(self, heal_us: int) -> list[list]:
        """The faults known before the run starts, as [start_us, end_us or None, label, end label]."""
        marks = []
        for cut in self.partitions:
            if isinstance(cut, Partition):
                groups = " | ".join(" ".join(f"r{r}" for r in group) for group in cut.groups)
                marks.append([cut.start_us, cut.heal_us, f"partition {groups}", "heals"])
            else:
                sources, targets = (" ".join(f"r{r}" for r in side) for side in (cut.sources, cut.targets))
                marks.append([cut.start_us, cut.heal_us, f"cut {sources} -> {targets}", "heals"])
        for burst in self.bursts:
            nodes = " ".join(f"r{r}" for r in burst.nodes)
            marks.append([burst.start_us, burst.heal_us, f"{burst.loss_percent}% loss at {nodes}", "heals"])
        if self.faulty_link is not None:
            marks.append([0, heal_us, "lossy links", "links heal"])
        for at_us, end_us, replica, skew_ms in self.skews:
            marks.append([at_us, end_us, f"r{replica} clock {skew_ms:+} ms", "clock right"])
        for replica, strategy in sorted(self.strategies.items()):
            marks.append([0, None, f"r{replica} {strategy.name}", ""])
        for replica in self.twins:
            marks.append([0, None, f"r{replica} twinned", ""])
        return marks


def faulty_replicas(n: int, faulty: int, rng) -> list[int]:
    if faulty == 0:
        return []
    return [0] + sorted(rng.sample(range(1, n), faulty - 1))


def plan(name: str, n: int, faulty: int, fault_start_us: int, heal_us: int, rng, link: LinkModel) -> Plan:
    chosen = faulty_replicas(n, faulty, rng)
    result = Plan(link=link)
    if name in (*CLEAN_SCENARIOS, "reconfigure-crash"):  # the run crashes the new primary itself (run.py)
        return result
    if name in STRATEGIES:
        result.strategies = {r: STRATEGIES[name] for r in chosen}
        return result
    if name == "lossy":
        result.faulty_link = LinkModel(link.latency, loss=0.05, duplicate=0.03, reorder_us=20_000,
                                       bandwidth_bytes_per_s=link.bandwidth_bytes_per_s)
        return result
    if name == "partition":
        rest = tuple(r for r in range(n) if r not in chosen)
        result.partitions = (Partition(fault_start_us, heal_us, (tuple(chosen), rest)),)
        return result
    if name == "split":
        half = n // 2
        result.partitions = (Partition(fault_start_us, heal_us, (tuple(range(half)), tuple(range(half, n)))),)
        return result
    if name == "isolate-then-crash":
        # An honest backup is cut off long enough to start a view change alone; then
        # another backup crashes until the faults heal: the other three must go on.
        isolated, crashed = 1 % n, 2 % n
        rest = tuple(r for r in range(n) if r != isolated)
        result.partitions = (Partition(fault_start_us, fault_start_us + ISOLATION_US, ((isolated,), rest)),)
        crash_at = fault_start_us + ISOLATION_US + US_PER_S
        result.crashes.append((crash_at, crashed, max(1, heal_us - crash_at), False))
        return result
    if name in ("crash", "wipe"):
        for replica in chosen:
            at = fault_start_us
            while at < heal_us - 300_000:
                down = rng.randint(200_000, 1_500_000)
                down = min(down, heal_us - at)
                result.crashes.append((at, replica, down, name == "wipe"))
                at += down + rng.randint(300_000, 1_500_000)
        return result
    raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")


CLEAN_SCENARIOS = ("none", "reconfigure")  # no replica is faulty
SCENARIOS = (*CLEAN_SCENARIOS, "reconfigure-crash", "lossy", "partition", "split", "crash", "wipe",
             "isolate-then-crash", *STRATEGIES)
