"""`consort sim run`: one seeded run of the real replicas in the simulator;
`consort sim sweep` is in sim_sweep, `sim search` and `sim replay` in
sim_search. With those two, the only part of node/ that imports netsim."""

from __future__ import annotations

import json
import time
from pathlib import Path

from netsim.clock import US_PER_S
from netsim.network import LATENCY_KINDS, Latency, SettingsError
from netsim.regions import load_regions
from netsim.report import is_valid, replay_command, summary, write_plot
from netsim.run import SimConfig, Simulation, faulty_default
from netsim.scenarios import SCENARIOS
from node.cli.shared import UsageError, add_out_option
from node.cli.sim_options import DRAIN_HELP, DURATION_HELP, MBIT_BYTES_PER_S, REGIONS_HELP, drain_s
from node.cli.sim_search import add_search_commands
from node.cli.sim_sweep import add_sweep_command
from node.devtools.progress import Progress

def cmd_sim_run(args) -> int:
    faulty = faulty_default(args.nodes, args.scenario) if args.faulty is None else args.faulty
    drain = drain_s(args.duration, args.drain_s)
    try:
        config = SimConfig(nodes=args.nodes, faulty=faulty, seed=args.seed, duration_s=args.duration,
                           scenario=args.scenario, rate_tps=args.rate,
                           latency=Latency(args.latency, args.latency_a_ms * 1000, args.latency_b_ms * 1000),
                           bandwidth_bytes_per_s=args.bandwidth_mbit * MBIT_BYTES_PER_S, liveness_bound_s=drain,
                           regions=None if args.regions is None else load_regions(args.regions))
    except SettingsError as exc:
        raise UsageError(f"invalid simulation settings: {exc}") from None
    started = time.perf_counter()
    with Progress("simulating", total=config.duration_s, unit="simulated s", show_rate=False) as progress:
        report = Simulation(config).run(lambda now_us, end_us: progress.update(now_us / US_PER_S))
    print(summary(report, time.perf_counter() - started))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        plot = write_plot(report, Path(args.out).with_suffix(".svg"))
        print(f"  wrote {args.out} and {plot}")
    if report["violations"] or not is_valid(report):
        print(f"reproduce with seed={report['seed']}: {replay_command(report)}")
        return 1
    return 0


def add_commands(commands) -> None:
    sim = commands.add_parser("sim", help="network simulator").add_subparsers(dest="action", required=True)
    run = sim.add_parser("run", help="one seeded simulated run of the real consensus code")
    run.add_argument("--nodes", type=int, default=4)
    run.add_argument("--faulty", type=int, help="faulty replicas (default f, or 0 for a clean scenario)")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--duration", type=int, default=20, help=DURATION_HELP)
    run.add_argument("--drain-s", type=int, help=DRAIN_HELP)
    run.add_argument("--scenario", default="none", choices=SCENARIOS, metavar="SCENARIO",
                     help="one of: " + ", ".join(SCENARIOS))
    run.add_argument("--rate", type=int, default=2000, help="client requests per simulated second")
    run.add_argument("--latency", default="uniform", choices=LATENCY_KINDS)
    run.add_argument("--latency-a-ms", type=int, default=2, help="constant, low or median one-way latency")
    run.add_argument("--latency-b-ms", type=int, default=8, help="uniform high; for lognormal, sigma x 1000 (500 = 0.5)")
    run.add_argument("--bandwidth-mbit", type=int, default=0, help="per-link bandwidth in Mbit/s (0: unlimited)")
    run.add_argument("--regions", metavar="NAME|FILE", help=REGIONS_HELP)
    add_out_option(run, "write the JSON report here (and an SVG plot beside it)")
    run.set_defaults(func=cmd_sim_run)
    add_sweep_command(sim)
    add_search_commands(sim)
