"""Figures of one run: JSON holding simulated quantities only (so the same
seed gives the same file), a one-screen summary and an SVG plot."""

from __future__ import annotations

import shlex
from pathlib import Path

from netsim.clock import US_PER_MS, US_PER_S
from netsim.plot import Event, Fault, Panel, Series, staircase, time_figure

MESSAGE_KINDS = ("pre-prepare", "prepare", "commit", "checkpoint", "view-change", "new-view", "status",
                 "fetch-blocks", "blocks", "forward", "client-request", "client-reply")


def percentile_ms(values_us: list[int], fraction: float) -> float:
    if not values_us:
        return 0.0
    ordered = sorted(values_us)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / US_PER_MS, 3)


def build_report(sim) -> dict:
    config, metrics = sim.config, sim.metrics
    honest = [node for node in sim.nodes if node.honest]
    buckets: dict[int, int] = {}
    for at in metrics.commit_times_us:
        buckets[at // US_PER_S] = buckets.get(at // US_PER_S, 0) + 1
    return {
        "seed": config.seed, "nodes": config.nodes, "faulty": config.faulty, "scenario": config.scenario,
        "duration_s": config.duration_s, "rate_tps": config.rate_tps,
        "latency": [config.latency.kind, config.latency.a_us, config.latency.b_us],
        "bandwidth_bytes_per_s": config.bandwidth_bytes_per_s,
        "regions": None if config.regions is None else config.regions.name,
        "drain_s": config.liveness_bound_s,
        "requests_submitted": len(sim.submitted), "requests_committed": len(metrics.latencies_us),
        "throughput_tps": round(len(metrics.latencies_us) * US_PER_S / config.load_end_us, 1),
        "blocks_committed": max((len(node.chain) for node in honest), default=0),
        "latency_ms": {name: percentile_ms(metrics.latencies_us, q)
                       for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))},
        "messages": {kind: metrics.messages.get(kind, 0) for kind in MESSAGE_KINDS},
        "longest_stall_s": longest_stall_s(metrics.commit_times_us, config.load_end_us),
        "view_changes": max((node.replica.view for node in honest), default=0),
        "final_views": [node.replica.view for node in sim.nodes],
        "violations": metrics.violations,
        "first_violation": sim.first_violation,
        "liveness_checked": sim.liveness_checked,
        "mutation": config.mutation,
        "invalid": metrics.invalid,
        "invalid_messages": metrics.invalid_messages,
        "events": sim.events,
        "trace_hash": sim.trace.hexdigest(),
        "timeline": [[second, buckets.get(second, 0)] for second in range(config.duration_s)],
        "load_end_s": config.load_end_us / US_PER_S,
        "faults": sorted(([_seconds(start), None if end is None else _seconds(end), label, end_label]
                          for start, end, label, end_label in metrics.faults), key=lambda f: (f[0], f[2])),
        "samples": [[round(at / US_PER_S, 3), round(lat / US_PER_MS, 1)] for at, lat in
                    list(zip(metrics.commit_times_us, metrics.latencies_us))[::max(1, len(metrics.latencies_us) // 500)]],
    }


def _seconds(at_us: int) -> float:
    return round(at_us / US_PER_S, 3)


def longest_stall_s(commit_times_us: list[int], load_end_us: int) -> float:
    """The longest time while clients kept submitting in which no request
    committed (at f+1 honest replicas), in seconds."""
    times = [0, *sorted(t for t in commit_times_us if t <= load_end_us), load_end_us]
    return round(max(b - a for a, b in zip(times, times[1:])) / US_PER_S, 3)


INVARIANTS = "agreement, validity, liveness"


def verdict(violations: list[str], invalid_messages: int = 0) -> str:
    """The summary's last word: PASS when every invariant held and every
    message kept the real node's wire limits; INVALID when one did not."""
    if violations:
        return f"FAIL: {len(violations)} invariant violation{'s' if len(violations) > 1 else ''}"
    if invalid_messages:
        return (f"INVALID: {invalid_messages:,} message{'s' if invalid_messages > 1 else ''} over the real node's "
                f"wire limits (netsim/limits.py): the run says nothing about a real deployment")
    return f"PASS: every invariant held ({INVARIANTS})"


def is_valid(report: dict) -> bool:
    """Every message of the run kept the real node's wire limits."""
    return not report.get("invalid_messages")


def summary(report: dict, wall_s: float) -> str:
    lat = report["latency_ms"]
    where = f", regions {report['regions']}" if report.get("regions") else ""
    drain_s = report["duration_s"] - report["load_end_s"]
    lines = [
        f"scenario {report['scenario']}: n={report['nodes']} faulty={report['faulty']} seed={report['seed']} "
        f"{report['duration_s']} simulated s{where}",
        f"  load for {report['load_end_s']:g} s, then a {drain_s:g} s drain with no new requests "
        f"(throughput is per second of load)",
        f"  committed {report['requests_committed']}/{report['requests_submitted']} requests "
        f"({report['throughput_tps']} tx/s), {report['blocks_committed']} blocks, "
        f"views reached {report['view_changes']}, longest stall {report['longest_stall_s']} s",
        f"  latency p50 {lat['p50']} ms  p99 {lat['p99']} ms  max {lat['max']} ms",
        "  messages " + ", ".join(f"{k} {v}" for k, v in report["messages"].items() if v),
        f"  trace {report['trace_hash'][:16]}  wall {wall_s:.2f} s "
        f"({report['duration_s'] / wall_s if wall_s else 0:.1f} simulated s per wall s, "
        f"{report['events'] / wall_s if wall_s else 0:,.0f} events/s of {report['events']:,})",
    ]
    if report["violations"]:
        lines.append("  VIOLATIONS:")
        lines += [f"    {v}" for v in report["violations"]]
    if report["invalid"]:
        lines.append("  OVER THE WIRE LIMITS:")
        lines += [f"    {v}" for v in report["invalid"]]
    lines.append(verdict(report["violations"], report["invalid_messages"]))
    return "\n".join(lines)


def write_plot(report: dict, path: Path) -> Path:
    """Requests committed per simulated second above each request's latency,
    on one simulated-time axis from 0 to the run's end, with every fault
    marked where it starts and heals and a line where the load stops."""
    lat = report["latency_ms"]
    title = (f"scenario {report['scenario']}: n={report['nodes']} faulty={report['faulty']} seed={report['seed']}; "
             f"{report['throughput_tps']:,} tx/s, p50 {lat['p50']} ms, p99 {lat['p99']} ms")
    throughput = staircase([(second + 1.0, float(count)) for second, count in report["timeline"]])
    panels = [Panel("requests committed (at f+1 honest replicas) in each simulated second", "throughput (tx/s)",
                    (Series(throughput, "#1f77b4"),)),
              Panel("latency per request, submit to commit at f+1 honest replicas", "latency (ms)",
                    (Series([(float(t), float(ms)) for t, ms in report["samples"]], "#d62728", dots=True),))]
    faults = [Fault(start, end, label, end_label) for start, end, label, end_label in report.get("faults", [])]
    events = [Event(report["load_end_s"], "load stops")] if "load_end_s" in report else []
    Path(path).write_text(time_figure(title, panels, "simulated time (s)", float(report["duration_s"]),
                                      faults, events))
    return Path(path)


def replay_command(report: dict) -> str:
    kind, a_us, b_us = report["latency"]
    return (f"consort sim run --nodes {report['nodes']} --faulty {report['faulty']} --seed {report['seed']} "
            f"--duration {report['duration_s']} --scenario {report['scenario']} --rate {report['rate_tps']} "
            f"--latency {kind} --latency-a-ms {a_us // 1000} --latency-b-ms {b_us // 1000} "
            f"--bandwidth-mbit {report['bandwidth_bytes_per_s'] // 125_000}"
            + (f" --drain-s {report['drain_s']}" if "drain_s" in report else "")
            + (f" --regions {shlex.quote(report['regions'])}" if report.get("regions") else ""))
