"""Drive a 4-node consortium with concurrent signed payments for a fixed time.

Closed loop (the default): each worker owns one client key, signs batches
of payments and submits them to one node with wait=commit, then sends the
next, so every latency is measured from submit to committed receipt and
the load is whatever the nodes can take (saturation). Progress shows each
second; the last line is one JSON object (tps, p50_ms, p99_ms, nodes,
committed, duration_s, ...). An SVG plot of throughput and latency over
time is written next to the JSON.

Open loop (--rate N, or --rates N1,N2,...): payments arrive on a seeded
Poisson schedule at N tx/s and are submitted as they arrive, whether or not
earlier ones are answered (node.devtools.openloop), so latency is measured
at a given offered load. --rates runs each rate in turn on one consortium,
a short pause between them, and plots p50 and p99 latency and the achieved
rate against the offered one.

Either way the JSON holds each node's CPU use (cores kept busy) and peak
resident memory, the bench client's own CPU, and the Ed25519 verification
rate of one core measured before the load with the throughput bound it sets
for 4 validators on this machine's cores (`verify_bound`); a run of 120 s
or more adds its first and last minute's throughput, and the closed loop
gives each whole minute's throughput and the CPU each node spent on a
committed transaction that minute (`minutes`): whether the nodes' work
per transaction grows as the chain does, whatever else the machine did.

The nodes run with TLS (HTTPS and mutual-TLS peer links), as they do by
default. Unless --no-compare (or the consortium was given), a second fresh
consortium of the same shape then runs --insecure (plain HTTP, no peer
certificates) for the same time, so both runs start from an empty chain;
the JSON's `tls` holds both throughputs and latencies and what TLS costs.
The open loop makes no such comparison.

The consortia live in temporary folders removed at the end (a run leaves
nothing in the temporary directory) unless --dir names one to keep; the
JSON goes to --out, else DIR/bench.json with --dir, else ./bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT, read_key_file
from netsim.plot import write_bench_plot, write_load_plot
from node.client import ClientError, ConsortClient
from node.devtools import machine
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium, throwaway_passphrase
from node.devtools.loadgen import MINUTE_S, by_minute, latency_summary, minute_rates
from node.devtools.openloop import IN_FLIGHT_MAX, LINGER_MS, Plan, offer, open_lanes
from node.devtools.progress import Progress
from node.devtools.workfolder import work_folder
from node.runtime.passphrase import PassphraseSource

VALIDATORS = 4
CLIENT = "bench-client"  # the bench's own process among the watched ones
RATES_PAUSE_S = 3.0      # between two offered rates of --rates


class Recorder:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.samples: list[tuple[float, float]] = []  # (seconds since start, latency ms)
        self.commits: list[tuple[float, int]] = []    # (seconds since start, transactions committed then)
        self.committed = 0
        self.failed = 0
        self.errors = 0


async def worker(number: int, url: str, signer, institution: str, others: list[str],
                 chain_id: bytes, currency: str, batch: int, deadline: float, start: float,
                 recorder: Recorder, ca: Path) -> None:
    rng = random.Random(number)
    nonce = time.time_ns() // 1000 * 1000
    async with ConsortClient(url, timeout_s=30, signer=signer, chain_id=chain_id, ca=ca) as client:
        while time.monotonic() < deadline:
            txs = []
            for _ in range(batch):
                nonce += 1
                txs.append(sign_tx(signer, chain_id, nonce, "settlement.pay", {
                    "from": institution, "to": rng.choice(others), "currency": currency,
                    "amount": rng.randint(1, 10_000)}))
            sent = time.monotonic()
            try:
                result = await client.submit(txs, wait=True, timeout_ms=20_000)
            except ClientError as exc:
                recorder.errors += 1
                if exc.status == 503:
                    await asyncio.sleep(0.05)
                    continue
                print(f"worker {number}: {exc}", file=sys.stderr)
                await asyncio.sleep(0.2)
                continue
            latency_ms = (time.monotonic() - sent) * 1000
            committed = 0
            for receipt in result["receipts"]:
                if receipt is None:
                    continue
                committed += 1
                recorder.failed += 0 if receipt["ok"] else 1
                recorder.latencies_ms.append(latency_ms)
            recorder.committed += committed
            recorder.commits.append((time.monotonic() - start, committed))
            recorder.samples.append((time.monotonic() - start, latency_ms))


async def progress(recorder: Recorder, start: float, deadline: float, timeline: list,
                   watch: machine.ProcessWatch, cpu_marks: list) -> None:
    """Each second: the committed count and the nodes' resident memory; at each
    whole minute since `start`, the nodes' CPU seconds so far (`cpu_marks`)."""
    last = 0
    cpu_marks.append((0.0, node_cpu_seconds(watch)))
    with Progress("bench", total=round(deadline - start, 1), unit="s", show_rate=False) as bar:
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - start
            rate = recorder.committed - last
            last = recorder.committed
            timeline.append((round(elapsed, 2), rate))
            watch.sample()
            if elapsed >= len(cpu_marks) * MINUTE_S:  # read when taken: its minute's commits are counted to then
                cpu_marks.append((elapsed, node_cpu_seconds(watch)))
            bar.update(elapsed, note=f"committed {recorder.committed:,}, last second {rate:,} tx/s")


def node_cpu_seconds(watch: machine.ProcessWatch) -> float | None:
    """CPU seconds the nodes this bench started have used so far (None: it started none, or one is gone)."""
    readings = [machine.cpu_seconds(pid) for name, pid in watch.pids.items() if name != CLIENT]
    return sum(readings) if readings and None not in readings else None


def watch_processes(node_pids: dict[str, int]) -> machine.ProcessWatch:
    """A started watch of the nodes (those this bench started) and of the bench itself."""
    watch = machine.ProcessWatch({**node_pids, CLIENT: os.getpid()})
    watch.start()
    return watch


def usage(watch: machine.ProcessWatch) -> dict:
    """`node_usage`: per node, cores kept busy and peak resident MB (empty when the
    nodes were already running: their processes are not this bench's); the client's cores."""
    rows = watch.report()
    return {"node_usage": [row for row in rows if row["name"] != CLIENT],
            "client_cpu_cores": next(row["cpu_cores"] for row in rows if row["name"] == CLIENT)}


async def run(args, directory: Path, cluster: LocalCluster | None, passphrase: str, insecure: bool = False) -> dict:
    if cluster is not None:
        await cluster.wait_ready()
    nodes = LocalCluster(directory, passphrase=passphrase, insecure=insecure)  # its signing clients: starts nothing
    node_pids = cluster.pids if cluster is not None else {}
    if args.rates:
        return await run_open_loop(args, directory, nodes, node_pids, passphrase)
    return await run_closed_loop(args, directory, nodes, node_pids, passphrase)


async def height(nodes: LocalCluster) -> int:
    async with nodes.client(0) as client:
        return (await client.status())["height"]


async def run_closed_loop(args, directory: Path, nodes: LocalCluster, node_pids: dict[str, int],
                          passphrase: str) -> dict:
    index = nodes.index
    institutions = index["institutions"]
    chain_id = nodes.chain_id
    height_before = await height(nodes)
    slots = max(len(entry["client_keys"]) for entry in institutions)
    keys = [(entry, entry["client_keys"][slot]) for slot in range(slots)
            for entry in institutions if slot < len(entry["client_keys"])]
    if args.workers > len(keys):
        raise SystemExit(f"--workers {args.workers} exceeds the {len(keys)} client keys of the consortium")
    signers = [read_key_file(directory / key, passphrase).signer() for _, key in keys[:args.workers]]
    recorder, timeline, cpu_marks = Recorder(), [], []
    watch = watch_processes(node_pids)
    start = time.monotonic()
    deadline = start + args.duration
    tasks = []
    for number, ((entry, _), signer) in enumerate(zip(keys, signers)):
        url = nodes.urls[number % len(institutions)]
        others = [e["id"] for e in institutions if e["id"] != entry["id"]]
        tasks.append(worker(number, url, signer, entry["id"], others, chain_id,
                            index["currency"], args.batch, deadline, start, recorder, nodes.ca))
    await asyncio.gather(progress(recorder, start, deadline, timeline, watch, cpu_marks), *tasks)
    duration = time.monotonic() - start
    figures = usage(watch)
    blocks = await height(nodes) - height_before
    return {
        "mode": "closed", "tps": round(recorder.committed / duration, 1), **latency_summary(recorder.latencies_ms),
        "nodes": len(institutions), "committed": recorder.committed, "failed_receipts": recorder.failed,
        "request_errors": recorder.errors, "duration_s": round(duration, 2), "workers": args.workers,
        "batch": args.batch, "blocks": blocks,
        "txs_per_block": round(recorder.committed / blocks, 1) if blocks else 0,
        **minute_rates(recorder.commits, duration), **figures,
        "minutes": by_minute(recorder.commits, cpu_marks, len(institutions)),
        "timeline": timeline, "samples": [(round(t, 3), round(l, 1)) for t, l in recorder.samples],
    }


async def run_open_loop(args, directory: Path, nodes: LocalCluster, node_pids: dict[str, int],
                        passphrase: str) -> dict:
    """Each offered rate in turn on this consortium, RATES_PAUSE_S apart; one
    rate's figures at the top level, several under `runs`."""
    runs = []
    async with AsyncExitStack() as stack:
        lanes = await open_lanes(stack, directory, nodes.index, nodes.urls, nodes.ca, passphrase, args.seed)
        for number, rate in enumerate(args.rates):
            if number:
                await asyncio.sleep(RATES_PAUSE_S)
            plan = Plan(rate, args.duration, args.seed, args.batch, args.linger_ms, args.in_flight_max)
            height_before = await height(nodes)
            watch = watch_processes(node_pids)
            figures = await offer(plan, lanes, tick=watch.sample)
            figures.update(usage(watch))
            blocks = await height(nodes) - height_before
            figures.update(blocks=blocks, txs_per_block=round(figures["committed"] / blocks, 1) if blocks else 0)
            runs.append(figures)
            print(f"bench: offered {rate:,.0f} tx/s: achieved {figures['achieved_tps']:,} tx/s, "
                  f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
                  f"dropped {figures['dropped_offered']:,}", file=sys.stderr)
    common = {"mode": "open", "nodes": len(nodes.institutions), "lanes": len(lanes)}
    return {**common, **runs[0]} if len(runs) == 1 else {**common, "runs": runs}


def run_cluster(args, directory: Path, passphrase: str, insecure: bool) -> dict:
    """One run of the load, starting (and stopping) the nodes unless they already run."""
    cluster = None if args.running else LocalCluster(directory, log_level="warning", passphrase=passphrase,
                                                     insecure=insecure)
    try:
        if cluster is not None:
            cluster.start_all()
        return asyncio.run(run(args, directory, cluster, passphrase, insecure))
    finally:
        if cluster is not None:
            cluster.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=8, help="concurrent clients, one key each")
    parser.add_argument("--batch", type=int, default=100, help="transactions per submission (open loop: at most)")
    rates = parser.add_mutually_exclusive_group()
    rates.add_argument("--rate", type=positive_rate, help="open loop: offer N tx/s on a Poisson schedule")
    rates.add_argument("--rates", type=rate_list, help="open loop: offer each of N1,N2,... tx/s in turn, "
                                                       "on one consortium")
    parser.add_argument("--seed", type=int, default=1, help="open loop: the seed of the arrival schedule")
    parser.add_argument("--linger-ms", type=float, default=LINGER_MS,
                        help="open loop: how long an arrival may wait for others to share its submission")
    parser.add_argument("--in-flight-max", type=int, default=IN_FLIGHT_MAX,
                        help="open loop: submissions open at once; arrivals beyond are dropped and counted")
    parser.add_argument("--dir", help="consortium folder, kept afterwards (default: a temporary one, removed "
                                      "at the end)")
    parser.add_argument("--running", action="store_true", help="the consortium's nodes already run")
    parser.add_argument("--base-port", type=int, default=7300)
    parser.add_argument("-o", "--out", help="write the JSON result here, and the SVG beside it "
                                            "(default: DIR/bench.json with --dir, else ./bench.json)")
    parser.add_argument("--no-compare", action="store_true", help="skip the second run without TLS")
    args = parser.parse_args()
    args.rates = [args.rate] if args.rate is not None else args.rates or []
    if args.batch < 1 or args.in_flight_max < 1 or not (math.isfinite(args.linger_ms) and args.linger_ms >= 0) \
            or not (math.isfinite(args.duration) and args.duration > 0):
        parser.error("--batch and --in-flight-max must be at least 1, --linger-ms at least 0, --duration above 0")
    out = Path(args.out) if args.out else Path(args.dir) / "bench.json" if args.dir else Path("bench.json")
    with work_folder(args.dir, "consort-bench-") as folder:
        result = measure(args, folder.path)
    out.write_text(json.dumps(result) + "\n")
    if "runs" in result:
        plot = write_load_plot(result, out.with_suffix(".svg"))
    elif result["mode"] == "open":
        title = (f"{result['nodes']} nodes, open loop: offered {result['offered_tps']:,g} tx/s, achieved "
                 f"{result['achieved_tps']:,} tx/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
        plot = write_bench_plot(result, out.with_suffix(".svg"), "latency of each submission's first arrival, "
                                                                 "arrival to committed receipt", title)
    else:
        plot = write_bench_plot(result, out.with_suffix(".svg"))
    print(f"bench: wrote {out} and {plot}", file=sys.stderr)
    print(json.dumps(summary(result)))
    return 0


def summary(result: dict) -> dict:
    """The result without its time series (they are in the file)."""
    series = ("timeline", "samples")
    brief = {k: v for k, v in result.items() if k not in series}
    if "runs" in brief:
        brief["runs"] = [{k: v for k, v in run.items() if k not in series} for run in brief["runs"]]
    return brief


def positive_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise argparse.ArgumentTypeError(f"a rate is a positive number of transactions a second, not {text!r}")
    return rate


def rate_list(text: str) -> list[float]:
    rates = [positive_rate(part.strip()) for part in text.split(",") if part.strip()]
    if not rates:
        raise argparse.ArgumentTypeError("--rates takes rates separated by commas, e.g. 500,1000,2000")
    return rates


def measure(args, directory: Path) -> dict:
    """The load on the consortium in `directory` (created there if absent), then, unless
    --no-compare or the consortium was given, on a fresh one started --insecure in a
    temporary folder that is removed afterwards."""
    given = (directory / "consortium.json").exists()
    if given:
        passphrase = PassphraseSource().read("passphrase of the consortium's client keys: ")
    else:
        if args.running:
            raise SystemExit(f"{directory} holds no consortium")
        passphrase, _ = throwaway_passphrase()
        create_consortium(directory, institutions=4, base_port=args.base_port, passphrase=passphrase,
                          kdf_cost=KDF_COST_LIGHT)
    bound = measure_verify_bound()
    if args.rates:
        load = f"offered {', '.join(f'{r:,.0f}' for r in args.rates)} tx/s (open loop, seed {args.seed})"
    else:
        load = f"{args.workers} workers x {args.batch} tx"
    print(f"bench: consortium in {directory}, {load}, {args.duration:.0f} s", file=sys.stderr)
    result = {**run_cluster(args, directory, passphrase, insecure=False), "verify_bound": bound}
    if args.no_compare or given or args.rates:
        return result
    with work_folder(None, "consort-bench-insecure-") as plain_folder:
        create_consortium(plain_folder.path, institutions=4, base_port=args.base_port, passphrase=passphrase,
                          kdf_cost=KDF_COST_LIGHT)
        print(f"bench: the same load on a fresh consortium started --insecure (no TLS), in {plain_folder.path}",
              file=sys.stderr)
        plain = run_cluster(args, plain_folder.path, passphrase, insecure=True)
    result["tls"] = {
        "tps_tls": result["tps"], "tps_insecure": plain["tps"],
        "p50_ms_tls": result["p50_ms"], "p50_ms_insecure": plain["p50_ms"],
        "p99_ms_tls": result["p99_ms"], "p99_ms_insecure": plain["p99_ms"],
        "tps_cost_percent": round(100 * (plain["tps"] - result["tps"]) / plain["tps"], 1) if plain["tps"] else None,
    }
    return result


def measure_verify_bound() -> dict:
    """One core's Ed25519 verification rate, measured before the load (before
    this bench starts any node), and the bound it sets for the validators."""
    rate = machine.ed25519_verifies_per_s()
    bound = machine.verify_bound(rate, machine.usable_cores(), VALIDATORS)
    print(f"bench: one core verifies {rate:,.0f} Ed25519 signatures a second; {bound['cores']} cores and "
          f"{VALIDATORS} validators that each verify each transaction: at most {bound['verify_bound_tps']:,} tx/s",
          file=sys.stderr)
    return bound


if __name__ == "__main__":
    sys.exit(main())
