"""How fast the pure MPC protocols of crypto.mpc run: the secure sum and
PSI-cardinality, phase by phase, with the bytes each phase puts on the wire.

Secure sum (3 and 5 parties, 1,000-value vectors, value maximum 10^12), all
parties driven in memory on one core, one after the other, every message
encoded and decoded as it would cross the wire (each recipient decodes its
own copy):
  commitments                 every party's Pedersen commitments, encoded
                              once, decoded and point-checked by each of the
                              n-1 others
  masking-exchange-unmasking  every party's masked(), encoded once and
                              decoded by each of the n-1 others, and one combine
  check                       the result encoded and decoded once (it is
                              posted), and one party's check against every
                              party's commitments
Bytes: n*(n-1) copies of each commitments and masked message; one result.
Key agreement and drawing the blindings (SumParty's constructor) are timed
apart as `setup_ms`.

PSI-cardinality (1,000 and 10,000 elements per side, 30% overlap): the two
parties run in two processes, one per core, exchanging messages through one
multiprocessing.Queue per direction (a Queue's put does not block: with bare
pipes, both sides sending a message bigger than the pipe's buffer before
reading would deadlock). Per side: hash-and-blind (first_message),
double-blind (respond), finish (compare); the total runs from the start
signal to both results, so it includes the waits and the transfers.

Each figure is the median of --repeat runs. Progress on stderr; one JSON
object on stdout; bench_mpc.json and bench_mpc.svg written to --out.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

from crypto.mpc import masking
from crypto.mpc.psi import PsiParty, Role, Variant
from crypto.mpc.secure_sum import SumCommitments, SumMasked, SumParty, SumResult, SumSpec
from netsim.plot import write_grouped_bars

VALUE_MAX = 10**12
SUM_LENGTH = 1_000
PSI_OVERLAP = 0.3
PSI_VARIANT = Variant.CARDINALITY
PSI_WAIT_S_MAX = 300.0
REFERENCE = {
    "mpyc_0_11_sum_3x1000_ms": [6, 14],
    "mpyc_note": "MPyC 0.11, semi-honest Shamir with gmpy2 and numpy, all parties on one machine: "
                 "3 parties x 1,000 values, on this machine (issue 11)",
    "pedersen_commitment_ms": 0.15,
    "psi_10000_target_s": 3.0,
}


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Stopwatch:
    """Milliseconds spent under each name, added up over `with watch(name):` blocks."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._name, self._started = "", 0.0

    def __call__(self, name: str) -> Stopwatch:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *_) -> None:
        elapsed_ms = (time.perf_counter() - self._started) * 1000
        self.ms[self._name] = self.ms.get(self._name, 0.0) + elapsed_ms


# --- secure sum -----------------------------------------------------------------------

def make_sum_parties(count: int, length: int, seed: int) -> tuple[dict[str, SumParty], list[int], float]:
    """`count` parties with random inputs in [0, VALUE_MAX], the plain sum, and
    the milliseconds the parties took to build (key agreement, blindings)."""
    rng = random.Random(seed)
    ids = [f"bank-{i}" for i in range(count)]
    spec = SumSpec(session_id=f"bench-sum-{seed}".encode(), parties=tuple(ids), length=length,
                   value_max=VALUE_MAX)
    keys = {i: masking.kx_keypair(rng.randbytes(32)) for i in ids}
    publics = {i: pair[0] for i, pair in keys.items()}
    inputs = {i: [rng.randint(0, VALUE_MAX) for _ in range(length)] for i in ids}
    started = time.perf_counter()
    parties = {i: SumParty(spec, i, keys[i], publics, inputs[i]) for i in ids}
    setup_ms = (time.perf_counter() - started) * 1000
    return parties, [sum(column) for column in zip(*inputs.values())], setup_ms


def sum_commitments_phase(parties: dict[str, SumParty], watch: Stopwatch) -> int:
    """Every party commits; every other party decodes and checks the points."""
    wire_bytes = 0
    for party in parties.values():
        with watch("commit"):
            message = party.commitments()
        with watch("encode"):
            data = message.encode()
        wire_bytes += len(data) * (len(parties) - 1)
        for receiver in parties.values():
            if receiver is party:
                continue
            with watch("decode"):
                received = SumCommitments.decode(data)
            with watch("check_points"):
                receiver.receive_commitments(received)
    return wire_bytes


def sum_masking_phase(parties: dict[str, SumParty], watch: Stopwatch) -> tuple[SumResult, int]:
    """Every party masks; every other party decodes it; one party combines."""
    wire_bytes = 0
    inboxes: dict[str, list[SumMasked]] = {name: [] for name in parties}
    for sender, party in parties.items():
        with watch("mask"):
            message = party.masked()
        inboxes[sender].append(message)
        with watch("encode"):
            data = message.encode()
        wire_bytes += len(data) * (len(parties) - 1)
        for receiver in parties:
            if receiver != sender:
                with watch("decode"):
                    inboxes[receiver].append(SumMasked.decode(data))
    combiner = next(iter(parties))
    with watch("combine"):
        result = parties[combiner].combine(inboxes[combiner])
    return result, wire_bytes


def sum_check_phase(parties: dict[str, SumParty], result: SumResult, watch: Stopwatch) -> tuple[bool, int]:
    """The result crosses the wire once and one party checks it."""
    with watch("encode"):
        data = result.encode()
    with watch("decode"):
        received = SumResult.decode(data)
    with watch("check"):
        ok = next(iter(parties.values())).check(received)
    return ok, len(data)


def phase_entry(watch: Stopwatch, wire_bytes: int) -> dict:
    return {"ms": round(sum(watch.ms.values()), 3), "bytes": wire_bytes,
            "parts_ms": {name: round(ms, 3) for name, ms in watch.ms.items()}}


def sum_once(count: int, length: int, seed: int) -> dict:
    gc.collect()
    parties, expected, setup_ms = make_sum_parties(count, length, seed)
    watches = {name: Stopwatch() for name in ("commitments", "masking_exchange_unmasking", "check")}
    commitment_bytes = sum_commitments_phase(parties, watches["commitments"])
    result, masked_bytes = sum_masking_phase(parties, watches["masking_exchange_unmasking"])
    ok, result_bytes = sum_check_phase(parties, result, watches["check"])
    if not ok or list(result.sums) != expected:
        raise AssertionError(f"secure sum of {count} parties: wrong result or failed check")
    byte_counts = {"commitments": commitment_bytes, "masking_exchange_unmasking": masked_bytes,
                   "check": result_bytes}
    phases = {name: phase_entry(watch, byte_counts[name]) for name, watch in watches.items()}
    per_commitment_ms = watches["commitments"].ms["commit"] / (count * length)
    return {"parties": count, "length": length, "value_max": VALUE_MAX, "setup_ms": round(setup_ms, 3),
            "per_commitment_ms": round(per_commitment_ms, 4),
            "phases": phases, "total_ms": round(sum(p["ms"] for p in phases.values()), 3),
            "bytes": sum(byte_counts.values())}


# --- PSI: two processes ----------------------------------------------------------------

def psi_sets(size: int) -> tuple[list[bytes], list[bytes], int]:
    """Two sets of `size` account-like elements sharing PSI_OVERLAP of them."""
    shared = round(size * PSI_OVERLAP)
    common = [b"customer/%012d" % i for i in range(shared)]
    only_a = [b"bank-a/%012d" % i for i in range(size - shared)]
    only_b = [b"bank-b/%012d" % i for i in range(size - shared)]
    return common + only_a, common + only_b, shared


def psi_side(role: str, session_id: bytes, elements: list[bytes], to_peer, from_peer, ready, go, report) -> None:
    """One party in its own process: round 1, round 2, finish; its times to `report`."""
    party = PsiParty(session_id, Role(role), elements, PSI_VARIANT)
    ready.put(role)
    if not go.wait(PSI_WAIT_S_MAX):
        return
    watch, sent = Stopwatch(), 0
    with watch("hash_blind"):
        first = party.first_message()
    to_peer.put(first)
    sent += len(first)
    with watch("wait"):
        peer_first = from_peer.get(timeout=PSI_WAIT_S_MAX)
    with watch("double_blind"):
        step = party.respond(peer_first)
    to_peer.put(step.to_peer)
    sent += len(step.to_peer)
    with watch("wait"):
        peer_double = from_peer.get(timeout=PSI_WAIT_S_MAX)
    with watch("finish"):
        result = party.finish(peer_double)
    report.put({"role": role, "count": result.count, "ms": watch.ms, "bytes_sent": sent,
                "round1_bytes": len(first), "round2_bytes": len(step.to_peer)})


def collect(queue, sides: list, what: str) -> list:
    """One item from `queue` per side, within PSI_WAIT_S_MAX; fail at once if a
    side died without sending its item."""
    items, deadline = [], time.monotonic() + PSI_WAIT_S_MAX
    while len(items) < len(sides):
        try:
            items.append(queue.get(timeout=0.05))
        except Empty:
            dead = [side.name for side in sides if side.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"PSI: no {what} from every side ({', '.join(dead) or 'timed out'})") from None
    return items


def psi_once(size: int, seed: int) -> dict:
    gc.collect()
    set_a, set_b, shared = psi_sets(size)
    context = multiprocessing.get_context("spawn")
    a_to_b, b_to_a, ready, report = context.Queue(), context.Queue(), context.Queue(), context.Queue()
    go = context.Event()
    session_id = f"bench-psi-{size}-{seed}".encode()
    wiring = (("initiator", set_a, a_to_b, b_to_a), ("responder", set_b, b_to_a, a_to_b))
    sides = [context.Process(target=psi_side, name=role,
                             args=(role, session_id, elements, out, into, ready, go, report))
             for role, elements, out, into in wiring]
    for side in sides:
        side.start()
    try:
        collect(ready, sides, "ready signal")
        started = time.perf_counter()
        go.set()
        reports = {r["role"]: r for r in collect(report, sides, "report")}
        total_ms = (time.perf_counter() - started) * 1000
    finally:
        for side in sides:
            side.join(timeout=10)
            if side.is_alive():
                side.terminate()
    if any(r["count"] != shared for r in reports.values()):
        raise AssertionError(f"PSI at {size}: counted {[r['count'] for r in reports.values()]}, not {shared}")
    return psi_summary(size, shared, reports, total_ms)


def psi_summary(size: int, shared: int, reports: dict[str, dict], total_ms: float) -> dict:
    """Per phase: the slower side's time (the sides run at once) and the bytes
    both sides sent in that round."""
    sides = reports.values()
    round_bytes = {"hash_blind": sum(r["round1_bytes"] for r in sides),
                   "double_blind": sum(r["round2_bytes"] for r in sides)}
    phases = {}
    for phase in ("hash_blind", "double_blind", "finish"):
        phases[phase] = {"ms": round(max(r["ms"][phase] for r in sides), 3),
                         "bytes": round_bytes.get(phase, 0),
                         "by_side_ms": {r["role"]: round(r["ms"][phase], 3) for r in sides}}
    return {"size": size, "overlap": shared, "variant": str(PSI_VARIANT), "phases": phases,
            "wait_ms": {r["role"]: round(r["ms"].get("wait", 0.0), 3) for r in sides},
            "total_ms": round(total_ms, 3), "bytes": sum(r["bytes_sent"] for r in sides)}


# --- medians, targets, output --------------------------------------------------------

def median_of(runs: list):
    """The runs merged leaf by leaf: the median of every number, the first of anything else."""
    first = runs[0]
    if isinstance(first, dict):
        return {key: median_of([run[key] for run in runs]) for key in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        middle = statistics.median(runs)
        return round(middle, 3) if isinstance(middle, float) else middle
    return first


def repeated(label: str, repeat: int, run) -> dict:
    runs = []
    for index in range(repeat):
        runs.append(run(index))
        progress(f"  {label}: run {index + 1}/{repeat}: total {runs[-1]['total_ms']:.1f} ms")
    return {**median_of(runs), "runs": repeat}


def targets(sums: list[dict], psis: list[dict]) -> list[dict]:
    """The issue's comparison figures and whether each is met."""
    low_ms, high_ms = REFERENCE["mpyc_0_11_sum_3x1000_ms"]
    found = []
    three = next((s for s in sums if s["parties"] == 3), None)
    if three:
        ms = three["phases"]["masking_exchange_unmasking"]["ms"]
        found.append({"target": f"sum, 3 parties x {SUM_LENGTH}: masking-exchange-unmasking at or below "
                                f"MPyC 0.11's {low_ms}-{high_ms} ms", "measured_ms": ms, "limit_ms": high_ms,
                      "met": ms <= high_ms, "below_mpyc_best": ms <= low_ms})
    ten_thousand = next((p for p in psis if p["size"] == 10_000), None)
    limit_ms = REFERENCE["psi_10000_target_s"] * 1000
    found.append({"target": "PSI-cardinality, 10,000 per side, two processes: <= 3 s",
                  "measured_ms": ten_thousand["total_ms"] if ten_thousand else None, "limit_ms": limit_ms,
                  "met": ten_thousand["total_ms"] <= limit_ms if ten_thousand else None})
    return found


PHASE_LABELS = {"commitments": "commitments", "masking_exchange_unmasking": "masking, exchange, unmasking",
                "check": "result check", "hash_blind": "hash and blind own set",
                "double_blind": "double-blind peer's set", "finish": "finish (compare)"}


def plot(summary: dict, path: Path) -> Path:
    sum_groups = [(f"{s['parties']} parties x {s['length']:,} values",
                   [(PHASE_LABELS[name], p["ms"]) for name, p in s["phases"].items()]) for s in summary["sum"]]
    psi_groups = [(f"{p['size']:,} elements per side",
                   [*((PHASE_LABELS[name], v["ms"]) for name, v in p["phases"].items()),
                    ("total, start to both results", p["total_ms"])]) for p in summary["psi"]]
    return write_grouped_bars([("secure sum: time per phase (all parties on one core)", sum_groups, "ms"),
                               ("PSI-cardinality: time per phase (slower side; one process per side)",
                                psi_groups, "ms")], path, axis_title="time (ms)")


def report_targets(found: list[dict]) -> None:
    for target in found:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[target["met"]]
        measured = "-" if target["measured_ms"] is None else f"{target['measured_ms']:.1f} ms"
        progress(f"target {verdict}: {target['target']} (measured {measured})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is kept")
    parser.add_argument("--quick", action="store_true", help="3 parties and PSI at 1,000 only (a smoke test)")
    parser.add_argument("--out", help="folder for bench_mpc.json and bench_mpc.svg (default: a new temporary one)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="consort-bench-mpc-"))
    out.mkdir(parents=True, exist_ok=True)
    party_counts, psi_sizes = ((3,), (1_000,)) if args.quick else ((3, 5), (1_000, 10_000))
    sums, psis = [], []
    load_1min = round(os.getloadavg()[0], 2)  # the cores may be shared: say how busy they were
    for count in party_counts:
        progress(f"bench_mpc: secure sum, {count} parties x {SUM_LENGTH} values")
        sums.append(repeated(f"sum {count}", args.repeat, lambda i, c=count: sum_once(c, SUM_LENGTH, i)))
    for size in psi_sizes:
        progress(f"bench_mpc: PSI-cardinality, {size} elements per side, two processes")
        psis.append(repeated(f"psi {size}", args.repeat, lambda i, s=size: psi_once(s, i)))
    machine = {"cpus": os.cpu_count(), "load_1min_at_start": load_1min, "python": sys.version.split()[0]}
    summary = {"repeat": args.repeat, "quick": args.quick, "machine": machine, "sum": sums, "psi": psis,
               "reference": REFERENCE}
    summary["targets"] = targets(sums, psis)
    report_targets(summary["targets"])
    (out / "bench_mpc.json").write_text(json.dumps(summary, indent=1) + "\n")
    svg = plot(summary, out / "bench_mpc.svg")
    progress(f"bench_mpc: wrote {out / 'bench_mpc.json'} and {svg}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
