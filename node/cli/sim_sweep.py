"""`consort sim sweep`: thousands of seeded runs over a grid (n, scenario,
latency model, region matrix) on local processes or a Dask cluster, then
their JSONL, a summary table, a PASS/FAIL verdict and plots. The work is
netsim.sweep's; this module reads the command line and shows progress."""

from __future__ import annotations

import os
import time
from pathlib import Path

from netsim.network import LATENCY_KINDS, Latency, SettingsError
from netsim.regions import BUILT_IN, load_regions
from netsim.scenarios import SCENARIOS
from netsim.sweep import Sweep, dask_pool, jsonl, local_pool, run_sweep
from netsim.sweep_report import summarise, table, verdict, write_plots
from node.cli.shared import UsageError
from node.cli.sim_options import DRAIN_HELP, MBIT_BYTES_PER_S, drain_s
from node.devtools.progress import Progress

LIST_ITEMS_MAX = 64
NO_REGIONS = "none"


def _items(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or len(items) > LIST_ITEMS_MAX:
        raise UsageError(f"{option} takes 1 to {LIST_ITEMS_MAX} comma-separated values, not {text!r}")
    return items


def parse_nodes(text: str) -> tuple[int, ...]:
    try:
        nodes = tuple(int(item) for item in _items(text, "--nodes"))
    except ValueError:
        raise UsageError(f"--nodes takes comma-separated whole numbers, not {text!r}") from None
    if any(n < 1 for n in nodes):
        raise UsageError("--nodes: every n must be at least 1")
    return nodes


def parse_scenarios(text: str) -> tuple[str, ...]:
    if text == "all":
        return SCENARIOS
    scenarios = tuple(_items(text, "--scenarios"))
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise UsageError(f"--scenarios: {unknown[0]!r} is not one of all, {', '.join(SCENARIOS)}")
    return scenarios


def parse_latency(item: str) -> Latency:
    """KIND:A_MS[:B_MS], as --latency, --latency-a-ms and --latency-b-ms of `sim run`."""
    kind, *numbers = item.split(":")
    try:
        if kind not in LATENCY_KINDS or not 1 <= len(numbers) <= 2:
            raise ValueError
        a_us, b_us = (round(float(number) * 1000) for number in (*numbers, "0")[:2])
        return Latency(kind, a_us, b_us)
    except (ValueError, SettingsError):
        raise UsageError(f"--latency: {item!r} is not KIND:A_MS[:B_MS] with KIND one of "
                         f"{', '.join(LATENCY_KINDS)} and numbers not negative (uniform:2:8, lognormal:5:500 "
                         "for median 5 ms and sigma 0.5, constant:3)") from None


def parse_regions(text: str) -> tuple:
    try:
        return tuple(None if item == NO_REGIONS else load_regions(item) for item in _items(text, "--regions"))
    except SettingsError as exc:
        raise UsageError(f"--regions: {exc}") from None


def sweep_from_args(args) -> Sweep:
    try:
        return Sweep(nodes=parse_nodes(args.nodes), scenarios=parse_scenarios(args.scenarios),
                     latencies=tuple(parse_latency(item) for item in _items(args.latency, "--latency")),
                     regions=parse_regions(args.regions), seeds=args.seeds, first_seed=args.first_seed,
                     duration_s=args.duration, drain_s=drain_s(args.duration, args.drain_s), rate_tps=args.rate,
                     bandwidth_bytes_per_s=args.bandwidth_mbit * MBIT_BYTES_PER_S, chunk_seeds=args.chunk_seeds)
    except SettingsError as exc:
        raise UsageError(f"invalid sweep settings: {exc}") from None


def cmd_sim_sweep(args) -> int:
    sweep = sweep_from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        pool = dask_pool(args.scheduler) if args.scheduler else local_pool(args.workers or os.cpu_count() or 1)
        started = time.perf_counter()
        with pool as workers, Progress("sweeping", total=sweep.runs, unit="runs") as progress:
            print(f"sweep: {len(sweep.cells()):,} cells x {sweep.seeds:,} seeds = {sweep.runs:,} runs "
                  f"on {workers.where}", flush=True)
            records = run_sweep(sweep, workers.executor, workers.workers,
                                lambda done, runs, failed: progress.update(done, note=f"{failed:,} failed"))
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    wall_s = time.perf_counter() - started
    (out / "sweep.jsonl").write_text(jsonl(records))
    summaries = summarise(records)
    text = f"{table(summaries)}\n{verdict(records)}\n"
    (out / "summary.txt").write_text(text)
    plots = write_plots(summaries, out)
    print(text, end="")
    print(f"  {sweep.runs:,} runs in {wall_s:.1f} s wall; wrote {out / 'sweep.jsonl'}, {out / 'summary.txt'}, "
          + ", ".join(p.name for p in plots))
    return 1 if any(r["violations"] for r in records) else 0


def add_sweep_command(sim) -> None:
    sweep = sim.add_parser("sweep", help="many seeded runs over a grid, on local processes or a Dask cluster")
    sweep.add_argument("--nodes", default="4,7,10", help="validator counts, comma-separated (default 4,7,10)")
    sweep.add_argument("--scenarios", default="none,crash,partition,equivocate",
                       help=f"fault scenarios, comma-separated, or all ({', '.join(SCENARIOS)})")
    sweep.add_argument("--latency", default="uniform:2:8", metavar="KIND:A_MS[:B_MS],...",
                       help="latency models: uniform:LOW:HIGH, constant:MS, lognormal:MEDIAN:SIGMAx1000")
    sweep.add_argument("--regions", default=NO_REGIONS, metavar="none|NAME|FILE,...",
                       help=f"region matrices, comma-separated: none (the latency model alone), a built-in "
                            f"matrix ({', '.join(BUILT_IN)}) or a JSON file of one-way delays between regions and "
                            "per-node bandwidth (README, netsim/regions.py)")
    sweep.add_argument("--seeds", type=int, default=20, help="seeds per grid cell (default 20)")
    sweep.add_argument("--first-seed", type=int, default=1)
    sweep.add_argument("--duration", type=int, default=10, help="simulated seconds per run (default 10)")
    sweep.add_argument("--drain-s", type=int, help=DRAIN_HELP)
    sweep.add_argument("--rate", type=int, default=500, help="client requests per simulated second (default 500)")
    sweep.add_argument("--bandwidth-mbit", type=int, default=0, help="per-link bandwidth in Mbit/s (0: unlimited)")
    sweep.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run on this Dask cluster instead (needs pip install 'consort[cluster]' here and on "
                            "every worker)")
    sweep.add_argument("--chunk-seeds", type=int, default=8, help="seeds per task handed to a worker (default 8)")
    sweep.add_argument("-o", "--out", default="sweep", metavar="DIR",
                       help="folder for sweep.jsonl, summary.txt and the plots (default ./sweep)")
    sweep.set_defaults(func=cmd_sim_sweep)

