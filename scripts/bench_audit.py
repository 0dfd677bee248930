"""How fast an auditor verifies a chain: blocks/s and tx/s, with and without
re-executing every block, with signatures checked by worker processes.

Builds a certified chain of --txs signed payments offline
(node.devtools.chainbuilder: real executor, real ledger in LevelDB, real
Ed25519 signatures and certificates; transactions signed by worker
processes ahead of the ledger; memory stays bounded, a million is fine),
exports it, then times `verify_export` over the file: without
re-execution, then with it (and with --serial, re-execution with no
workers too, the audit as it was before they existed). Progress on stderr;
a table, then one JSON line on stdout; bench_audit.json and an SVG bar
chart go to --out.

The JSON gives, per run, wall seconds, tx/s, and the CPU seconds of this
process and of its workers, with the cores this process may use and the
load average before and after: on a machine shared with other work the
wall figures depend on the load, the CPU ones much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from netsim.plot import write_bars
from node.audit.export import export_storage
from node.audit.signatures import cores, default_workers
from node.audit.verify import verify_export
from node.devtools.chainbuilder import ChainBuilder, build_payments
from node.devtools.progress import Progress


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds so far of this process and of its children that have ended (the workers, once shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def build(directory: Path, txs: int, per_block: int, workers: int) -> tuple[ChainBuilder, Path, dict]:
    builder = ChainBuilder(directory)
    started, (cpu_started, children_started) = time.perf_counter(), cpu_seconds()
    with Progress("building", total=(txs + per_block - 1) // per_block, unit="blocks") as progress:
        build_payments(builder, txs, per_block, workers,
                       lambda done, total: progress.update(done, note=f"{min(txs, done * per_block):,} transactions"))
    path = directory / "chain.export"
    with open(path, "wb") as out, Progress("exporting", unit="blocks") as progress:
        export_storage(builder.storage, out, progress.update)
    wall = time.perf_counter() - started
    cpu, children = cpu_seconds()
    figures = {"seconds": round(wall, 1), "txs_per_s": round(txs / wall), "workers": workers,
               "cpu_s": round(cpu - cpu_started, 1), "workers_cpu_s": round(children - children_started, 1)}
    return builder, path, figures


def timed_verify(builder: ChainBuilder, path: Path, reexecute: bool, workers: int, blocks: int) -> dict:
    load_before = load_average()
    started, (cpu_started, children_started) = time.perf_counter(), cpu_seconds()
    label = f"verifying{' with re-execution' if reexecute else ''}{'' if workers else ', no workers'}"
    with Progress(label, total=blocks, unit="blocks") as progress:
        auditor = verify_export(builder.genesis, path, reexecute=reexecute, workers=workers, progress=None,
                                on_block=lambda a, *_: progress.update(a.height, note=f"{a.report.txs:,} transactions"))
    wall = time.perf_counter() - started
    cpu, children = cpu_seconds()
    assert not reexecute or auditor.report.state_root == builder.ledger.tip.state_root
    report = auditor.report
    return {"reexecute": reexecute, "workers": workers, "blocks": report.blocks, "txs": report.txs,
            "wall_s": round(wall, 2), "cpu_s": round(cpu - cpu_started, 2),
            "workers_cpu_s": round(children - children_started, 2),
            "blocks_per_s": round(report.blocks / wall, 1), "txs_per_s": round(report.txs / wall),
            "load_average_before": load_before, "load_average_after": load_average()}


def run_label(result: dict) -> str:
    kind = "re-executed" if result["reexecute"] else "verified"
    return f"{kind}, {result['workers']} workers" if result["workers"] else f"{kind}, no workers"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=100_000)
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="processes that sign (building) and check signatures (verifying); default one per core")
    parser.add_argument("--serial", action="store_true", help="also time re-execution with no workers")
    parser.add_argument("--out", help="folder for bench_audit.json and .svg (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="consort-bench-audit-") as folder:
        out = Path(args.out) if args.out else Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        print(f"bench_audit: building a chain of {args.txs:,} transactions, {args.workers} workers signing",
              file=sys.stderr, flush=True)
        builder, path, built = build(Path(folder), args.txs, args.per_block, args.workers)
        blocks = builder.ledger.tip.height
        runs = [(False, args.workers), (True, args.workers)] + ([(True, 0)] if args.serial else [])
        results = [timed_verify(builder, path, reexecute, workers, blocks) for reexecute, workers in runs]
        builder.close()
        for r in results:
            print(f"{run_label(r):28s} {r['blocks']:6d} blocks  {r['txs']:8d} txs  {r['wall_s']:7.2f} s  "
                  f"{r['blocks_per_s']:8.1f} blocks/s  {r['txs_per_s']:8d} tx/s  "
                  f"(cpu {r['cpu_s']:.0f} s here + {r['workers_cpu_s']:.0f} s workers)")
        summary = {"txs": args.txs, "per_block": args.per_block, "blocks": blocks,
                   "export_bytes": path.stat().st_size, "cores": cores(), "workers": args.workers,
                   "build_s": built["seconds"], "build": built, "results": results}
        (out / "bench_audit.json").write_text(json.dumps(summary, indent=1) + "\n")
        plot = write_bars(f"audit verify, {args.txs:,} transactions, {cores()} cores",
                          [(run_label(r), r["txs_per_s"]) for r in results], "tx/s", out / "bench_audit.svg",
                          axis_title="transactions verified per second (tx/s)")
        print(f"bench_audit: wrote {out / 'bench_audit.json'} and {plot}", file=sys.stderr, flush=True)
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
