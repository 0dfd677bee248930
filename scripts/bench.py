"""Drive a 4-node consortium with concurrent signed payments for a fixed time.

Each worker owns one client key, signs batches of payments and submits them
to one node with wait=commit, so every latency is measured from submit to
committed receipt. Progress shows each second; the last line is one
JSON object (tps, p50_ms, p99_ms, nodes, committed, duration_s, ...). An SVG
plot of throughput and latency over time is written next to the JSON.

The nodes run with TLS (HTTPS and mutual-TLS peer links), as they do by
default. Unless --no-compare (or the consortium was given), a second fresh
consortium of the same shape then runs --insecure (plain HTTP, no peer
certificates) for the same time, so both runs start from an empty chain;
the JSON's `tls` holds both throughputs and latencies and what TLS costs.

The consortia live in temporary folders removed at the end (a run leaves
nothing in the temporary directory) unless --dir names one to keep; the
JSON goes to --out, else DIR/bench.json with --dir, else ./bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

from contracts.tx import sign_tx
from crypto.keys import KDF_COST_LIGHT, read_key_file
from netsim.plot import write_bench_plot
from node.client import ClientError, ConsortClient
from node.devtools.cluster import LocalCluster
from node.devtools.consortium import create_consortium, throwaway_passphrase
from node.devtools.progress import Progress
from node.devtools.workfolder import work_folder
from node.runtime.passphrase import PassphraseSource


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Recorder:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.samples: list[tuple[float, float]] = []  # (seconds since start, latency ms)
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
            for receipt in result["receipts"]:
                if receipt is None:
                    continue
                recorder.committed += 1
                recorder.failed += 0 if receipt["ok"] else 1
                recorder.latencies_ms.append(latency_ms)
            recorder.samples.append((time.monotonic() - start, latency_ms))


async def progress(recorder: Recorder, start: float, deadline: float, timeline: list) -> None:
    last = 0
    with Progress("bench", total=round(deadline - start, 1), unit="s", show_rate=False) as bar:
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - start
            rate = recorder.committed - last
            last = recorder.committed
            timeline.append((round(elapsed, 2), rate))
            bar.update(elapsed, note=f"committed {recorder.committed:,}, last second {rate:,} tx/s")


async def run(args, directory: Path, cluster: LocalCluster | None, passphrase: str, insecure: bool = False) -> dict:
    index = json.loads((directory / "consortium.json").read_text())
    institutions = index["institutions"]
    chain_id = bytes.fromhex(index["chain_id"])
    if cluster is not None:
        await cluster.wait_ready()
    nodes = LocalCluster(directory, passphrase=passphrase, insecure=insecure)  # its signing clients: starts nothing
    async with nodes.client(0) as client:
        height_before = (await client.status())["height"]
    keys = [(entry, key) for key_slot in range(max(len(e["client_keys"]) for e in institutions))
            for entry in institutions if key_slot < len(entry["client_keys"]) for key in [entry["client_keys"][key_slot]]]
    if args.workers > len(keys):
        raise SystemExit(f"--workers {args.workers} exceeds the {len(keys)} client keys of the consortium")
    signers = [read_key_file(directory / key, passphrase).signer() for _, key in keys[:args.workers]]
    recorder, timeline = Recorder(), []
    start = time.monotonic()
    deadline = start + args.duration
    tasks = []
    for number, ((entry, _), signer) in enumerate(zip(keys, signers)):
        url = nodes.urls[number % len(institutions)]
        others = [e["id"] for e in institutions if e["id"] != entry["id"]]
        tasks.append(worker(number, url, signer, entry["id"], others, chain_id,
                            index["currency"], args.batch, deadline, start, recorder, nodes.ca))
    await asyncio.gather(progress(recorder, start, deadline, timeline), *tasks)
    duration = time.monotonic() - start
    async with nodes.client(0) as client:
        height_after = (await client.status())["height"]
    blocks = height_after - height_before
    return {
        "tps": round(recorder.committed / duration, 1),
        "p50_ms": round(percentile(recorder.latencies_ms, 0.50), 1),
        "p99_ms": round(percentile(recorder.latencies_ms, 0.99), 1),
        "max_ms": round(max(recorder.latencies_ms, default=0.0), 1),
        "nodes": len(institutions), "committed": recorder.committed, "failed_receipts": recorder.failed,
        "request_errors": recorder.errors, "duration_s": round(duration, 2), "workers": args.workers,
        "batch": args.batch, "blocks": blocks,
        "txs_per_block": round(recorder.committed / blocks, 1) if blocks else 0,
        "timeline": timeline, "samples": [(round(t, 3), round(l, 1)) for t, l in recorder.samples],
    }


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
    parser.add_argument("--batch", type=int, default=100, help="transactions per submission")
    parser.add_argument("--dir", help="consortium folder, kept afterwards (default: a temporary one, removed "
                                      "at the end)")
    parser.add_argument("--running", action="store_true", help="the consortium's nodes already run")
    parser.add_argument("--base-port", type=int, default=7300)
    parser.add_argument("-o", "--out", help="write the JSON result here, and the SVG beside it "
                                            "(default: DIR/bench.json with --dir, else ./bench.json)")
    parser.add_argument("--no-compare", action="store_true", help="skip the second run without TLS")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(args.dir) / "bench.json" if args.dir else Path("bench.json")
    with work_folder(args.dir, "consort-bench-") as folder:
        result = measure(args, folder.path)
    out.write_text(json.dumps(result) + "\n")
    plot = write_bench_plot(result, out.with_suffix(".svg"))
    print(f"bench: wrote {out} and {plot}", file=sys.stderr)
    summary = {k: v for k, v in result.items() if k not in ("timeline", "samples")}
    print(json.dumps(summary))
    return 0


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
    print(f"bench: consortium in {directory}, {args.workers} workers x {args.batch} tx, "
          f"{args.duration:.0f} s", file=sys.stderr)
    result = run_cluster(args, directory, passphrase, insecure=False)
    if args.no_compare or given:
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


if __name__ == "__main__":
    sys.exit(main())
