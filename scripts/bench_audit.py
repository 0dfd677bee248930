"""How fast an auditor verifies a chain: blocks/s and tx/s, with and without
re-executing every block, on one core.

Builds a certified chain of --txs signed payments offline (node.devtools.chainbuilder:
real executor, real ledger, real Ed25519 certificates), exports it, then
times `verify_export` over the file. Progress on stderr; a table, then one
JSON line on stdout; JSON and an SVG bar chart are written to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from netsim.plot import write_bars
from node.audit.verify import verify_export
from node.devtools.chainbuilder import ChainBuilder
from node.audit.export import export_storage


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def build(directory: Path, txs: int, per_block: int) -> tuple[ChainBuilder, Path, float]:
    builder = ChainBuilder(directory)
    started = time.perf_counter()
    blocks = (txs + per_block - 1) // per_block
    for b in range(blocks):
        builder.append(builder.payments(min(per_block, txs - b * per_block), b * per_block))
        if (b + 1) % 20 == 0 or b + 1 == blocks:
            progress(f"  built {b + 1}/{blocks} blocks ({(b + 1) * per_block} txs)")
    path = directory / "chain.export"
    with open(path, "wb") as out:
        export_storage(builder.storage, out)
    return builder, path, time.perf_counter() - started


def timed_verify(builder: ChainBuilder, path: Path, reexecute: bool) -> dict:
    started, cpu_started = time.perf_counter(), time.process_time()
    auditor = verify_export(builder.genesis, path, reexecute=reexecute,
                            progress=lambda h, t: progress(f"  verified {h} blocks, {t} txs"))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert not reexecute or auditor.report.state_root == builder.ledger.tip.state_root
    report = auditor.report
    return {"reexecute": reexecute, "blocks": report.blocks, "txs": report.txs, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "blocks_per_s": round(report.blocks / wall, 1),
            "txs_per_s": round(report.txs / wall), "txs_per_cpu_s": round(report.txs / cpu)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=100_000)
    parser.add_argument("--per-block", type=int, default=1000)
    parser.add_argument("--out", help="folder for bench_audit.json and .svg (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="consort-bench-audit-") as folder:
        out = Path(args.out) if args.out else Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        progress(f"bench_audit: building a chain of {args.txs} transactions")
        builder, path, build_s = build(Path(folder), args.txs, args.per_block)
        size = path.stat().st_size
        results = []
        for reexecute in (False, True):
            progress(f"bench_audit: verifying {'with' if reexecute else 'without'} re-execution")
            results.append(timed_verify(builder, path, reexecute))
        builder.close()
        for r in results:
            print(f"{'re-executed' if r['reexecute'] else 'verified   '}  {r['blocks']:6d} blocks  {r['txs']:8d} txs  "
                  f"{r['wall_s']:7.2f} s  {r['blocks_per_s']:8.1f} blocks/s  {r['txs_per_s']:8d} tx/s")
        summary = {"txs": args.txs, "per_block": args.per_block, "export_bytes": size,
                   "build_s": round(build_s, 1), "results": results}
        (out / "bench_audit.json").write_text(json.dumps(summary, indent=1) + "\n")
        plot = write_bars(f"audit verify, {args.txs} transactions, one core",
                          [("headers + certificates + roots", results[0]["txs_per_s"]),
                           ("with re-execution", results[1]["txs_per_s"])], "tx/s", out / "bench_audit.svg",
                          axis_title="transactions verified per second (tx/s)")
        progress(f"bench_audit: wrote {out / 'bench_audit.json'} and {plot}")
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
