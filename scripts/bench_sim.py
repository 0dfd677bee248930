"""How fast the simulator decides blocks as the number of replicas grows.

For each N (--nodes, default 16,32,64,128,256) one fault-free run of N real
replicas on the virtual clock: 20 ms one-way latency (constant), one client
batch of 20 requests a simulated second for --blocks seconds (each batch
its own block), then a 1 s drain. Each run happens in a child process of
its own, so its peak resident memory is its own. The figures per N: wall
and CPU seconds, wall seconds per decision (per block committed), events
(messages taken, timers fired, request batches) and events per wall and
per CPU second, messages sent (STATUS among them), peak memory, and
whether the run held every invariant and kept the real node's wire limits.

Progress goes to stderr; the JSON goes to --out (default ./bench_sim.json)
and, as one line, last to stdout; an SVG of wall seconds per decision
against N, both axes logarithmic, is written beside the JSON.

Timings depend on the machine and on what else runs on it: a busy machine
shows it in wall time more than in CPU time, so both are given.

    .venv/bin/python scripts/bench_sim.py [--nodes 16,64,256,512] [--blocks 1] [-o bench_sim.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "network-sim")]

from netsim.network import Latency  # noqa: E402
from netsim.plot import Panel, Series, xy_figure  # noqa: E402
from netsim.report import is_valid  # noqa: E402
from netsim.run import SimConfig, Simulation  # noqa: E402

ONE_WAY_US = 20_000
CLIENT_BATCH = 20
DRAIN_S = 1
NODES_DEFAULT = "16,32,64,128,256"
NODES_MAX = 4096
BLOCKS_MAX = 1000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def config(nodes: int, blocks: int) -> SimConfig:
    """One batch a simulated second, `blocks` seconds of load, then the drain."""
    return SimConfig(nodes=nodes, faulty=0, seed=1, duration_s=blocks + DRAIN_S, scenario="none",
                     rate_tps=CLIENT_BATCH, client_batch=CLIENT_BATCH, latency=Latency("constant", ONE_WAY_US, 0),
                     liveness_bound_s=DRAIN_S)


def measure(nodes: int, blocks: int) -> dict:
    """One run, in this process: its figures."""
    simulation = Simulation(config(nodes, blocks))
    wall, cpu = time.perf_counter(), time.process_time()
    report = simulation.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    decided = report["blocks_committed"]
    return {
        "nodes": nodes, "simulated_s": report["duration_s"], "blocks": decided,
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "wall_s_per_decision": round(wall / decided, 3) if decided else None,
        "events": report["events"], "events_per_s": round(report["events"] / wall),
        "events_per_cpu_s": round(report["events"] / cpu),
        "messages": sum(count for kind, count in report["messages"].items() if not kind.startswith("client-")),
        "status_messages": report["messages"]["status"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "passed": not report["violations"], "valid": is_valid(report),
        "simulated_s_per_wall_s": round(report["duration_s"] / wall, 3),
        "load_end_s": report["load_end_s"], "trace_hash": report["trace_hash"][:16],
        "violations": report["violations"][:3], "invalid": report["invalid"][:3],
    }


def measure_in_child(nodes: int, blocks: int, timeout_s: float) -> dict:
    """`measure` in a fresh interpreter, so the peak memory is this run's alone."""
    command = [sys.executable, __file__, "--one", str(nodes), "--blocks", str(blocks)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"nodes": nodes, "error": f"did not finish within {timeout_s:g} s"}
    if done.returncode != 0:
        return {"nodes": nodes, "error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_plot(runs: list[dict], path: Path) -> Path:
    """Wall (solid) and CPU (dashed) seconds per decision against N, both axes logarithmic."""
    done = [r for r in runs if r.get("blocks")]
    wall = [(float(r["nodes"]), r["wall_s"] / r["blocks"]) for r in done]
    cpu = [(float(r["nodes"]), r["cpu_s"] / r["blocks"]) for r in done]
    title = "simulator speed: seconds per committed block against replicas"
    panel = Panel("fault-free, 20 ms one-way latency, the real replicas on the virtual clock",
                  "seconds per decision", (Series(wall, "#1f77b4"), Series(cpu, "#ff7f0e", dash="5 3")))
    legend = (("#1f77b4", "", "wall time"), ("#ff7f0e", "5 3", "CPU time of the run's process"))
    path.write_text(xy_figure(title, [panel], "replicas (N)", legend, x_log=True, y_log=True))
    return path


def node_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--nodes takes numbers separated by commas, not {text!r}") from None
    if not counts or not all(1 <= n <= NODES_MAX for n in counts):
        raise argparse.ArgumentTypeError(f"--nodes: each between 1 and {NODES_MAX:,}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=node_counts, default=node_counts(NODES_DEFAULT),
                        help=f"replica counts, comma-separated (default {NODES_DEFAULT})")
    parser.add_argument("--blocks", type=int, default=1, help="blocks a run decides (one client batch each)")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="give up on one run after this long")
    parser.add_argument("-o", "--out", default="bench_sim.json", help="the JSON; the SVG goes beside it")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child: one run, JSON on stdout
    args = parser.parse_args(argv)
    if not 1 <= args.blocks <= BLOCKS_MAX:
        parser.error(f"--blocks must be between 1 and {BLOCKS_MAX}")
    if args.one is not None:
        print(json.dumps(measure(args.one, args.blocks)))
        return 0
    runs = []
    for nodes in args.nodes:
        log(f"bench_sim: {nodes} replicas, {args.blocks} block(s) ...")
        run = measure_in_child(nodes, args.blocks, args.timeout_s)
        runs.append(run)
        log("  " + (run["error"] if "error" in run else
                    f"{run['wall_s']:.2f} s wall, {run['cpu_s']:.2f} s CPU, {run['blocks']} block(s), "
                    f"{run['events']:,} events ({run['events_per_s']:,}/s), {run['messages']:,} messages, "
                    f"peak {run['peak_rss_mb']:,} MB{'' if run['passed'] and run['valid'] else ', FAILED'}"))
    result = {"bench": "simulator", "one_way_ms": ONE_WAY_US / 1000, "blocks_asked": args.blocks,
              "drain_s": DRAIN_S, "simulated_s": args.blocks + DRAIN_S, "runs": runs}
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1) + "\n")
    plot = write_plot(runs, out.with_suffix(".svg"))
    log(f"bench_sim: wrote {out} and {plot}")
    print(json.dumps(result))
    return 0 if all("error" not in r and r["passed"] and r["valid"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
