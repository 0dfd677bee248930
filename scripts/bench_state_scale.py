"""Payment throughput with a large state: the closed-loop payment bench
(scripts/bench.py) on a 4-node consortium with a small state, then on one
whose genesis holds --keys synthetic asset records, and the ratio of the two
(the target: at least 0.70).

The large state is a genesis bulk state (node.devtools.bulk_state): a file
of asset records as the assets contract registers them (about 260 bytes
each), named and hashed in the genesis, loaded into the first node's data
folder offline (streamed: LevelDB in key order, the state tree in one pass
over spilled leaves) and given to the other nodes as copies whose table
files are hard links. Writing the file and loading the folder each run in a
child process of their own, so their time and peak memory are theirs alone.
Then `scripts/bench.py --dir ... --no-compare` runs on each consortium in
turn (--rounds times, alternating small and large; the ratio is of the
medians), and the script reports both throughputs, their ratio, each
node's peak RSS and CPU, the nodes' CPU per committed transaction (and its
ratio, large over small: on a shared machine the steadier sign of what the
state size costs), and each node's LevelDB size after the runs.

The machine may be shared: run it when it is quiet, and read one round's
figures as a sample, not a law. Progress goes to stderr; the last line on
stdout is the JSON, which also goes to --out (default
./bench_state_scale.json) with an SVG bar chart beside it. The consortia
live in a temporary folder removed at the end unless --dir names one.

    .venv/bin/python scripts/bench_state_scale.py [--keys 10000000] [--duration 20] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.genesis import genesis_state, parse_genesis  # noqa: E402
from crypto.keys import KDF_COST_LIGHT  # noqa: E402
from netsim.plot import write_grouped_bars  # noqa: E402
from node.devtools import bulk_state  # noqa: E402
from node.devtools.consortium import create_consortium, institution_ids, throwaway_passphrase  # noqa: E402
from node.devtools.workfolder import work_folder  # noqa: E402
from node.runtime.passphrase import ENV_VAR  # noqa: E402

TARGET_RATIO = 0.70
INSTITUTIONS = 4
CURRENCY = "EUR"
BENCH_TIMEOUT_EXTRA_S = 300  # a bench run may take this much longer than its --duration (start, stop, its own checks)


def log(message: str) -> None:
    print(f"bench_state_scale: {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- run in child processes (spawned: each starts with an empty memory) -----------------

def write_file_child(path: str, keys: int) -> dict:
    started = time.perf_counter()
    records = bulk_state.synthetic_assets(keys, institution_ids(INSTITUTIONS), CURRENCY)
    written = bulk_state.write_bulk_file(Path(path), records)
    return {"sha256": written.sha256.hex(), "keys": written.keys,
            "write_file_s": round(time.perf_counter() - started, 1),
            "file_mb": round(Path(path).stat().st_size / 2**20, 1), "write_file_peak_rss_mb": peak_rss_mb()}


def load_child(directory: str) -> dict:
    started = time.perf_counter()
    loaded = bulk_state.initialize_consortium(Path(directory))
    return {"load_s": round(time.perf_counter() - started, 1), "records_s": loaded.records_s,
            "tree_s": loaded.tree_s, "compact_s": loaded.compact_s, "records": loaded.records,
            "inner_nodes": loaded.inner_nodes, "state_root": loaded.tip.state_root.hex(),
            "load_peak_rss_mb": peak_rss_mb()}


def in_child(function, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


# --- the two consortia --------------------------------------------------------------------

def small_consortium(directory: Path, passphrase: str, base_port: int) -> dict:
    create_consortium(directory, institutions=INSTITUTIONS, base_port=base_port, currency=CURRENCY,
                      passphrase=passphrase, kdf_cost=KDF_COST_LIGHT)
    genesis = parse_genesis(json.loads((directory / "genesis.json").read_text()))
    return {"state_keys": len(genesis_state(genesis))}


def large_consortium(directory: Path, work: Path, passphrase: str, base_port: int, keys: int) -> dict:
    file_path = work / bulk_state.BULK_FILE_NAME
    log(f"writing {keys:,} synthetic asset records to {file_path} ...")
    written = in_child(write_file_child, str(file_path), keys)
    log(f"  {written['file_mb']:,} MiB in {written['write_file_s']} s "
        f"(peak RSS {written['write_file_peak_rss_mb']} MB)")
    bulk = bulk_state.BulkFile(file_path, bytes.fromhex(written["sha256"]), written["keys"])
    create_consortium(directory, institutions=INSTITUTIONS, base_port=base_port, currency=CURRENCY,
                      passphrase=passphrase, kdf_cost=KDF_COST_LIGHT, bulk=bulk)
    file_path.unlink()  # the consortium holds it (a hard link, or a copy)
    log("loading the genesis state into the nodes' data folders ...")
    loaded = in_child(load_child, str(directory))
    log(f"  {loaded['records']:,} records and {loaded['inner_nodes']:,} inner tree nodes in {loaded['load_s']} s "
        f"(records {loaded['records_s']} s, tree {loaded['tree_s']} s, compaction {loaded['compact_s']} s; "
        f"peak RSS {loaded['load_peak_rss_mb']} MB)")
    return {"state_keys": loaded["records"], **written, **loaded}


def leveldb_sizes(directory: Path) -> dict:
    """Per node, the bytes its data folder holds; on disk, each file counted once (copies share tables)."""
    per_node, seen, on_disk = {}, set(), 0
    for folder in bulk_state.node_data_folders(directory):
        size = 0
        for item in folder.iterdir():
            stat = item.stat()
            size += stat.st_size
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                on_disk += stat.st_size
        per_node[folder.parent.name] = round(size / 2**20, 1)
    return {"leveldb_mb": per_node, "leveldb_on_disk_mb": round(on_disk / 2**20, 1)}


def bench(directory: Path, passphrase: str, args, label: str, round_number: int) -> dict:
    out = directory / f"bench-{label}-{round_number}.json"
    command = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--dir", str(directory), "--no-compare",
               "--duration", str(args.duration), "--out", str(out)]
    command += [*(["--workers", str(args.workers)] if args.workers else []),
                *(["--batch", str(args.batch)] if args.batch else [])]
    env = {**os.environ, ENV_VAR: passphrase, "PYTHONPATH": str(ROOT)}
    log(f"bench on the {label} state: {' '.join(command[1:])}")
    subprocess.run(command, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                   timeout=args.duration + BENCH_TIMEOUT_EXTRA_S)
    result = json.loads(out.read_text())
    log(f"  {label}: {result['tps']:,} tx/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"{node_cpu_ms_per_tx(result)} ms of node CPU per transaction")
    return result


def node_cpu_ms_per_tx(run: dict) -> float | None:
    """The CPU all nodes spent per committed transaction: less noisy than
    tx/s on a shared machine, where the nodes get what the others leave."""
    if not run["committed"]:
        return None
    cpu_s = sum(row["cpu_cores"] for row in run["node_usage"]) * run["duration_s"]
    return round(1000 * cpu_s / run["committed"], 3)


def summary(runs: list[dict]) -> dict:
    """The runs on one state: throughput and latency of each, median tx/s,
    and the nodes' memory and CPU (peak RSS: the largest over the runs)."""
    tps = [run["tps"] for run in runs]
    peak_rss = {}
    for run in runs:
        for row in run["node_usage"]:
            peak_rss[row["name"]] = max(peak_rss.get(row["name"], 0.0), row["peak_rss_mb"])
    return {"tps": tps, "tps_median": statistics.median(tps), "p50_ms": [run["p50_ms"] for run in runs],
            "p99_ms": [run["p99_ms"] for run in runs], "blocks": [run["blocks"] for run in runs],
            "node_cpu_ms_per_tx": [node_cpu_ms_per_tx(run) for run in runs],
            "node_cpu_cores": [[row["cpu_cores"] for row in run["node_usage"]] for run in runs],
            "client_cpu_cores": [run["client_cpu_cores"] for run in runs],
            "node_usage": [{"name": name, "peak_rss_mb": mb} for name, mb in peak_rss.items()]}


def plot(result: dict, path: Path) -> Path:
    small, large = result["small"], result["large"]
    states = ((f"small state, {small['state_keys']:,} keys", small),
              (f"large state, {large['state_keys']:,} keys", large))
    groups_tps = [(name, [("payments per second (median)", part["tps_median"])]) for name, part in states]
    groups_cpu = [(name, [(f"round {n}", 1000 * ms) for n, ms in enumerate(part["node_cpu_ms_per_tx"], start=1)
                          if ms is not None]) for name, part in states]
    groups_rss = [(name, [(row["name"], row["peak_rss_mb"]) for row in part["node_usage"]]) for name, part in states]
    groups_db = [(name, list(part["leveldb_mb"].items())) for name, part in states]
    return write_grouped_bars([
        (f"payment throughput, closed loop, 4 validators: ratio {result['ratio']:.2f} (target {TARGET_RATIO})",
         groups_tps, "tx/s"),
        ("CPU of all four nodes per committed payment", groups_cpu, "µs"),
        ("peak resident memory per node", groups_rss, "MB"),
        ("LevelDB data folder per node (tables shared by hard links)", groups_db, "MiB"),
    ], path, axis_title=None)


def measure(args, work: Path) -> dict:
    passphrase, _ = throwaway_passphrase()
    small_dir, large_dir = work / "small", work / "large"
    small = small_consortium(small_dir, passphrase, args.base_port)
    large = large_consortium(large_dir, work, passphrase, args.base_port + 10, args.keys)
    small_runs, large_runs = [], []
    for round_number in range(1, args.rounds + 1):
        small_runs.append(bench(small_dir, passphrase, args, "small", round_number))
        large_runs.append(bench(large_dir, passphrase, args, "large", round_number))
    small.update(summary(small_runs), **leveldb_sizes(small_dir))
    large.update(summary(large_runs), **leveldb_sizes(large_dir))
    ratio = large["tps_median"] / small["tps_median"] if small["tps_median"] else 0.0
    cpu_small, cpu_large = (statistics.median(x for x in part["node_cpu_ms_per_tx"] if x is not None)
                            for part in (small, large))
    return {"bench": "state_scale", "keys": args.keys, "duration_s": args.duration, "rounds": args.rounds,
            "small": small, "large": large, "ratio": round(ratio, 3), "target": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO, "node_cpu_per_tx_ratio": round(cpu_large / cpu_small, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000_000, help="synthetic asset records in the large state")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per bench run")
    parser.add_argument("--rounds", type=int, default=1, help="bench runs on each state, alternating")
    parser.add_argument("--workers", type=int, help="bench.py's --workers (default: its own)")
    parser.add_argument("--batch", type=int, help="bench.py's --batch (default: its own)")
    parser.add_argument("--base-port", type=int, default=7300, help="the small consortium's; the large one's is +10")
    parser.add_argument("--dir", help="work folder, kept afterwards (default: a temporary one, removed at the end)")
    parser.add_argument("-o", "--out", default="bench_state_scale.json", help="the JSON; the SVG goes beside it")
    args = parser.parse_args()
    if args.keys < 1 or args.rounds < 1 or args.duration <= 0:
        parser.error("--keys and --rounds must be at least 1, --duration above 0")
    with work_folder(args.dir, "consort-bench-state-") as folder:
        folder.path.mkdir(parents=True, exist_ok=True)
        result = measure(args, folder.path)
    out = Path(args.out)
    out.write_text(json.dumps(result, indent=1) + "\n")
    svg = plot(result, out.with_suffix(".svg"))
    log(f"small state {result['small']['tps_median']:,} tx/s, {args.keys:,} keys {result['large']['tps_median']:,} "
        f"tx/s: ratio {result['ratio']} (target {TARGET_RATIO}: {'met' if result['meets_target'] else 'NOT met'}); "
        f"wrote {out} and {svg}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
