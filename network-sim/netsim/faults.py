"""Random fault schedules: a seed draws the faults themselves (which
replicas, when, of which kind), for any number of validators, instead of
one of the named scenarios.

A schedule is plain data, a JSON object: the run's settings and a list of
fault records, so it can be saved, shrunk (netsim.shrink) and replayed
exactly (netsim.search.run_schedule). Times are simulated milliseconds from
the run's start; a node is named by its address (the validators are 0..n-1,
the k-th twin is n+k).

    crash           replica, at_ms, down_ms     crashes, restarts from its disk
    crash-unsynced  replica, at_ms, down_ms, write
                                                crashes at its first write of kind `write`
                                                ("snapshot": the consensus snapshot, or
                                                "block": a block applied) within ARM_MS of
                                                at_ms, before the write's sync: the step's
                                                unsynced writes and messages are lost
                                                (netsim.node); no such write, no crash
    wipe            replica, at_ms, down_ms     crashes, restarts with an empty disk
    skew            replica, at_ms, heal_ms, skew_ms   its clock is skew_ms off
    partition       groups, at_ms, heal_ms      nodes in different groups cannot talk;
                                                a node in no group talks to nobody
    one-way         from, to, at_ms, heal_ms    messages from `from` to `to` are lost
    loss            nodes, at_ms, heal_ms, loss_percent   messages from or to `nodes`
    byzantine       replica, strategy           a netsim.byzantine strategy, whole run
    twin            replica                     a second node holds the replica's key
                                                (Twins), whole run

The fault model: a replica that is Byzantine, twinned or wiped (a wipe is
amnesia: it forgets what it signed) is faulty for the whole run, and at
most f = (n-1)//3 replicas are; within that, agreement must hold whatever
else happens (any number of crashes, partitions, loss bursts, skewed
clocks). Liveness is claimed only when at most f replicas are faulty at
once (crashed, skewed or faulty for good) and every fault heals before the
load stops; then every request must commit within the run's liveness
bound. Validation (`check`) refuses a schedule outside this model.

Pure functions of the schedule and the seed: no I/O, no clock.
"""

from __future__ import annotations

import json

from consensus.mutations import MUTATIONS
from consensus.validators import faulty_max
from netsim.byzantine import STRATEGIES
from netsim.clock import US_PER_MS
from netsim.network import Cut, LossBurst, Partition, SettingsError
from netsim.rng import Streams
from netsim.scenarios import Plan

FORMAT = "consort-netsim-schedule/1"
NODES_MIN, NODES_MAX = 1, 64
FAULTS_MAX = 64
DURATION_S_MAX = 600
SKEW_MS_MAX = 60_000
ARM_MS = 1000  # a crash-unsynced waits at most this long for the replica's next write
FOREVER_MS = 10**12

DURATION_S = 10
LIVENESS_BOUND_S = 5
RATE_TPS = 300
FAULT_START_MS = 300
HEAL_MARGIN_MS = 500  # faults heal this long before the load stops
TRANSIENT_MAX = 7  # faults a generated schedule draws besides the lasting ones
STORM_PERCENT = 20  # schedules whose crashes may exceed f at once (safety only)
KIND_WEIGHTS = (("crash", 3), ("crash-unsynced", 2), ("partition", 2), ("one-way", 2), ("loss", 4), ("skew", 1))
LASTING = ("byzantine", "twin", "wipe")
WRITES = ("snapshot", "block")  # what a crash-unsynced loses
REPLICA_KINDS = ("crash", "crash-unsynced", "wipe", "skew", "byzantine", "twin")
KINDS = (*REPLICA_KINDS, "partition", "one-way", "loss")
FIELDS = {
    "crash": ("replica", "at_ms", "down_ms"), "crash-unsynced": ("replica", "at_ms", "down_ms", "write"),
    "wipe": ("replica", "at_ms", "down_ms"), "skew": ("replica", "at_ms", "heal_ms", "skew_ms"),
    "partition": ("groups", "at_ms", "heal_ms"), "one-way": ("from", "to", "at_ms", "heal_ms"),
    "loss": ("nodes", "at_ms", "heal_ms", "loss_percent"), "byzantine": ("replica", "strategy"),
    "twin": ("replica",),
}


class ScheduleError(SettingsError):
    """A schedule that cannot run or lies outside the fault model (the caller's input)."""


# ------------------------------------------------------------------ generating

def generate(seed: int, nodes: int, *, duration_s: int = DURATION_S, liveness_bound_s: int = LIVENESS_BOUND_S,
             rate_tps: int = RATE_TPS, mutation: str | None = None) -> dict:
    """The schedule seed `seed` draws for `nodes` validators."""
    rng = Streams(seed)("schedule")
    f = faulty_max(nodes)
    end_ms = (duration_s - liveness_bound_s) * 1000 - HEAL_MARGIN_MS
    if end_ms <= FAULT_START_MS + ARM_MS + 100:
        raise ScheduleError("the load stops too early for faults: lengthen duration_s")
    storm = rng.randrange(100) < STORM_PERCENT
    faults = _lasting(rng, nodes, f if rng.randrange(2) else rng.randint(0, f), end_ms)
    addresses = nodes + sum(1 for record in faults if record["kind"] == "twin")
    wanted = len(faults) + rng.randint(1, TRANSIENT_MAX)
    kinds, weights = zip(*KIND_WEIGHTS)
    for _ in range(3 * TRANSIENT_MAX):
        if len(faults) >= wanted:
            break
        record = _draw(rng, rng.choices(kinds, weights)[0], nodes, addresses, end_ms)
        if storm or faulty_at_once([*faults, record]) <= f:
            faults.append(record)
    faults.sort(key=lambda record: record.get("at_ms", 0))
    return {"format": FORMAT, "nodes": nodes, "seed": seed, "duration_s": duration_s,
            "liveness_bound_s": liveness_bound_s, "rate_tps": rate_tps, "mutation": mutation, "faults": faults}


def _lasting(rng, nodes: int, count: int, end_ms: int) -> list[dict]:
    """Faults for good on `count` (at most f; half the schedules take all f)
    distinct replicas; half the time one of them is replica 0, the first
    primary (as the named scenarios always do)."""
    faults = []
    chosen = rng.sample(range(nodes), count)
    if chosen and 0 not in chosen and rng.randrange(2):
        chosen[0] = 0
    for replica in sorted(chosen):
        kind = rng.choice(LASTING)
        if kind == "byzantine":
            faults.append({"kind": kind, "replica": replica, "strategy": rng.choice(sorted(STRATEGIES))})
        elif kind == "twin":
            faults.append({"kind": kind, "replica": replica})
        else:
            at = rng.randint(FAULT_START_MS, end_ms - 100)
            faults.append({"kind": kind, "replica": replica, "at_ms": at, "down_ms": rng.randint(100, end_ms - at)})
    return faults


def _draw(rng, kind: str, nodes: int, addresses: int, end_ms: int) -> dict:
    latest = end_ms - 100 - (ARM_MS if kind == "crash-unsynced" else 0)  # it may wait ARM_MS for its write
    at = rng.randint(FAULT_START_MS, latest)
    span = rng.randint(100, min(3000, latest + 100 - at))
    if kind == "crash":
        return {"kind": kind, "replica": rng.randrange(nodes), "at_ms": at, "down_ms": span}
    if kind == "crash-unsynced":
        return {"kind": kind, "replica": rng.randrange(nodes), "at_ms": at, "down_ms": span,
                "write": rng.choice(WRITES)}
    if kind == "skew":
        skew = rng.choice((-1, 1)) * rng.randint(500, 4000)
        return {"kind": kind, "replica": rng.randrange(nodes), "at_ms": at, "heal_ms": at + span, "skew_ms": skew}
    order = rng.sample(range(addresses), addresses)
    if kind == "partition":
        cuts = sorted(rng.sample(range(1, addresses), min(addresses - 1, rng.randint(1, 2))))
        groups = [sorted(order[a:b]) for a, b in zip([0, *cuts], [*cuts, addresses])]
        return {"kind": kind, "groups": groups, "at_ms": at, "heal_ms": at + span}
    if kind == "one-way":
        split = rng.randint(1, addresses - 1)
        targets = order[split:]
        targets = sorted(rng.sample(targets, rng.randint(1, len(targets))))
        return {"kind": kind, "from": sorted(order[:split]), "to": targets, "at_ms": at, "heal_ms": at + span}
    assert kind == "loss", kind
    chosen = sorted(order[:rng.randint(1, addresses)])
    return {"kind": kind, "nodes": chosen, "at_ms": at, "heal_ms": at + span, "loss_percent": rng.randint(20, 95)}


# ------------------------------------------------------------------ the model

def faulty_span_ms(record: dict) -> tuple[int, int] | None:
    """When the record's replica is faulty, [start, end) in ms; None for a network fault."""
    kind = record["kind"]
    if kind in ("byzantine", "twin"):
        return 0, FOREVER_MS
    if kind == "wipe":
        return record["at_ms"], FOREVER_MS
    if kind == "crash":
        return record["at_ms"], record["at_ms"] + record["down_ms"]
    if kind == "crash-unsynced":
        return record["at_ms"], record["at_ms"] + ARM_MS + record["down_ms"]
    if kind == "skew":
        return record["at_ms"], record["heal_ms"]
    return None


def faulty_at_once(faults: list[dict]) -> int:
    """The most replicas faulty at one instant."""
    spans = [(record["replica"], span) for record in faults if (span := faulty_span_ms(record)) is not None]
    return max((len({replica for replica, (start, end) in spans if start <= at < end})
                for _, (at, _) in spans), default=0)


def faulty_for_good(faults: list[dict]) -> set[int]:
    """Replicas that are Byzantine, twinned or wiped: the f the model allows."""
    return {record["replica"] for record in faults if record["kind"] in LASTING}


def heal_ms(faults: list[dict]) -> int:
    """When the last fault that heals has healed (Byzantine replicas and twins never do)."""
    ends = [0]
    for record in faults:
        if "heal_ms" in record:
            ends.append(record["heal_ms"])
        elif "down_ms" in record:
            ends.append(record["at_ms"] + record["down_ms"] + (ARM_MS if record["kind"] == "crash-unsynced" else 0))
    return max(ends)


def claims_liveness(faults: list[dict], nodes: int, load_end_ms: int) -> bool:
    """Whether a run with these faults must be live: at most f faulty at once, all healed when the load stops."""
    return faulty_at_once(faults) <= faulty_max(nodes) and heal_ms(faults) <= load_end_ms


def twins(faults: list[dict]) -> list[int]:
    """The replicas that have a twin, in the order of their twins' addresses."""
    return [record["replica"] for record in faults if record["kind"] == "twin"]


# ------------------------------------------------------------------ checking

SETTINGS = ("format", "nodes", "seed", "duration_s", "liveness_bound_s", "rate_tps", "mutation", "faults")
NOTES = ("failure", "replay")  # what a saved schedule may carry besides: the failure it showed, its command


def check(schedule) -> dict:
    """`schedule` if it can run and lies within the fault model, else ScheduleError saying why."""
    _require(isinstance(schedule, dict), "a schedule is a JSON object")
    unknown = sorted(set(schedule) - set(SETTINGS) - set(NOTES))
    _require(not unknown, f"unknown schedule fields: {', '.join(map(str, unknown))}")
    missing = [name for name in SETTINGS if name not in schedule]
    _require(not missing, f"missing schedule fields: {', '.join(missing)}")
    _require(schedule["format"] == FORMAT, f"format must be {FORMAT!r}")
    nodes, duration_s = schedule["nodes"], schedule["duration_s"]
    _integer(nodes, "nodes", NODES_MIN, NODES_MAX)
    _integer(schedule["seed"], "seed", 0, 2**63)
    _integer(duration_s, "duration_s", 2, DURATION_S_MAX)
    _integer(schedule["liveness_bound_s"], "liveness_bound_s", 1, duration_s - 1)
    _integer(schedule["rate_tps"], "rate_tps", 1, 100_000)
    _require(schedule["mutation"] is None or schedule["mutation"] in MUTATIONS,
             f"mutation must be null or one of {', '.join(MUTATIONS)}")
    faults = schedule["faults"]
    _require(isinstance(faults, list) and len(faults) <= FAULTS_MAX, f"faults must be a list of at most {FAULTS_MAX}")
    addresses = nodes + sum(1 for record in faults if isinstance(record, dict) and record.get("kind") == "twin")
    for index, record in enumerate(faults):
        _check_record(record, f"faults[{index}]", nodes, addresses, duration_s * 1000)
    for kind in ("twin", "byzantine"):
        replicas = [record["replica"] for record in faults if record["kind"] == kind]
        _require(len(set(replicas)) == len(replicas), f"a replica is named by two {kind} faults")
    lasting = faulty_for_good(faults)
    _require(len(lasting) <= faulty_max(nodes),
             f"outside the fault model: {len(lasting)} replicas Byzantine, twinned or wiped "
             f"(at most f={faulty_max(nodes)} of {nodes})")
    return schedule


def _check_record(record, where: str, nodes: int, addresses: int, end_ms: int) -> None:
    _require(isinstance(record, dict) and record.get("kind") in KINDS,
             f"{where}: a fault record with kind one of {', '.join(KINDS)}")
    kind = record["kind"]
    _require(set(record) == {"kind", *FIELDS[kind]}, f"{where}: a {kind} fault has fields {', '.join(FIELDS[kind])}")
    if "replica" in record:
        _integer(record["replica"], f"{where}.replica", 0, nodes - 1)
    if "at_ms" in record:
        _integer(record["at_ms"], f"{where}.at_ms", 0, end_ms)
    if "down_ms" in record:
        _integer(record["down_ms"], f"{where}.down_ms", 1, end_ms)
    if "heal_ms" in record:
        _integer(record["heal_ms"], f"{where}.heal_ms", record["at_ms"] + 1, FOREVER_MS)
    if kind == "skew":
        _integer(record["skew_ms"], f"{where}.skew_ms", -SKEW_MS_MAX, SKEW_MS_MAX)
    elif kind == "loss":
        _integer(record["loss_percent"], f"{where}.loss_percent", 1, 100)
    elif kind == "crash-unsynced":
        _require(record["write"] in WRITES, f"{where}.write must be one of {', '.join(WRITES)}")
    elif kind == "byzantine":
        _require(record["strategy"] in STRATEGIES, f"{where}.strategy must be one of {', '.join(STRATEGIES)}")
    for name in ("groups",) if kind == "partition" else ("from", "to") if kind == "one-way" else \
            ("nodes",) if kind == "loss" else ():
        groups = record[name] if name == "groups" else [record[name]]
        _require(isinstance(groups, list) and groups and all(isinstance(g, list) and g for g in groups),
                 f"{where}.{name}: non-empty lists of node addresses")
        members = [a for group in groups for a in group]
        for address in members:
            _integer(address, f"{where}.{name}", 0, addresses - 1)
        _require(len(set(members)) == len(members), f"{where}.{name}: a node is named twice")


def _integer(value, name: str, low: int, high: int) -> None:
    _require(type(value) is int and low <= value <= high, f"{name} must be an integer in [{low}, {high}]")


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise ScheduleError(problem)


def dumps(document: dict) -> str:
    """A schedule (with any notes) as JSON text, one fault record a line."""
    head = [f" {json.dumps(name)}: {json.dumps(value)}" for name, value in document.items() if name != "faults"]
    faults = ",\n".join(f"  {json.dumps(record)}" for record in document.get("faults", []))
    return "{\n" + ",\n".join([*head, f' "faults": [\n{faults}\n ]']) + "\n}\n"


# ------------------------------------------------------------------ running

def to_plan(faults: list[dict], link) -> Plan:
    """The simulator's plan of a checked schedule's faults."""
    us = US_PER_MS
    result = Plan(link=link, twins=tuple(twins(faults)))
    partitions, bursts = [], []
    for record in faults:
        kind = record["kind"]
        if kind in ("crash", "wipe"):
            result.crashes.append((record["at_ms"] * us, record["replica"], record["down_ms"] * us, kind == "wipe"))
        elif kind == "crash-unsynced":
            result.unsynced_crashes.append((record["at_ms"] * us, record["replica"], record["down_ms"] * us,
                                            record["write"]))
        elif kind == "skew":
            result.skews.append((record["at_ms"] * us, record["heal_ms"] * us, record["replica"], record["skew_ms"]))
        elif kind == "byzantine":
            result.strategies[record["replica"]] = STRATEGIES[record["strategy"]]
        elif kind == "partition":
            groups = tuple(tuple(group) for group in record["groups"])
            partitions.append(Partition(record["at_ms"] * us, record["heal_ms"] * us, groups))
        elif kind == "one-way":
            partitions.append(Cut(record["at_ms"] * us, record["heal_ms"] * us, tuple(record["from"]),
                                  tuple(record["to"])))
        elif kind == "loss":
            bursts.append(LossBurst(record["at_ms"] * us, record["heal_ms"] * us, tuple(record["nodes"]),
                                    record["loss_percent"]))
    result.partitions, result.bursts = tuple(partitions), tuple(bursts)
    return result
