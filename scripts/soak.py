"""Run scripts/bench's load on a local consortium and watch the nodes: each
node's resident memory (sampled from /proc every few seconds, and its peak,
VmHWM, at the end), throughput in the first and last windows of the run,
the CPU time the four nodes used per committed transaction (a figure a
busy machine disturbs less than throughput), and optionally a py-spy
profile of one node while the load runs.

    scripts/soak [--duration 120] [--window 30] [--profile-s 20] [--uvloop]

The consortium lives in a temporary folder removed at the end (or --dir,
kept). The load is scripts/bench.py itself, run against the started nodes
(`--running`), so the figures are the bench's. The last line is one JSON
object; with --profile-s, py-spy's samples (collapsed stacks) go to
<out>-profile.raw and a flat table of the node's busiest functions to
<out>-profile.txt. Linux only (/proc); py-spy must be installed for
--profile-s. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crypto.keys import KDF_COST_LIGHT  # noqa: E402
from node.devtools.cluster import LocalCluster  # noqa: E402
from node.devtools.consortium import create_consortium, throwaway_passphrase  # noqa: E402
from node.devtools.workfolder import work_folder  # noqa: E402
from node.runtime.passphrase import ENV_VAR  # noqa: E402
from node.runtime.server import EVENT_LOOP_ENV  # noqa: E402

SAMPLE_S = 5.0


def cpu_s(pid: int) -> float:
    """User and system CPU seconds a process has used (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in KiB; empty once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


class Sampler(threading.Thread):
    """Samples the nodes' RSS every SAMPLE_S seconds until stopped."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.samples: list[tuple[float, list[int]]] = []  # (seconds since start, RSS MiB per node)
        self.stopped = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.stopped.wait(SAMPLE_S):
            rss = [memory_kib(pid).get("VmRSS", 0) // 1024 for pid in self.pids]
            self.samples.append((round(time.monotonic() - start, 1), rss))


def window_tps(timeline: list, seconds: float, last: bool) -> float:
    """Mean committed tx/s over the first (or last) `seconds` of the bench's per-second timeline."""
    if not timeline:
        return 0.0
    end = timeline[-1][0]
    chosen = [rate for at, rate in timeline if (at > end - seconds if last else at <= seconds)]
    return round(sum(chosen) / len(chosen), 1) if chosen else 0.0


def profile(pid: int, seconds: int, raw: Path) -> subprocess.Popen:
    """py-spy record of `pid` for `seconds`, in the background, into `raw`
    (collapsed stacks, which `flat_profile` summarizes)."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--duration", str(seconds),
         "--rate", "100", "--nonblocking", "--function",
         "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def flat_profile(raw: Path, rows: int = 30) -> list[tuple[str, float, float]]:
    """(function, self share %, total share %) of the busiest functions in collapsed stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    if not samples:
        return []
    ranked = sorted(own, key=own.get, reverse=True)[:rows]
    return [(name, round(100 * own[name] / samples, 1), round(100 * total[name] / samples, 1)) for name in ranked]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0, help="seconds of the first and last windows")
    parser.add_argument("--profile-s", type=int, default=0, help="py-spy this long on node 0, mid-run")
    parser.add_argument("--uvloop", action="store_true",
                        help="the nodes run on uvloop's event loop (CONSORT_EVENT_LOOP=uvloop; the `fast` extra)")
    parser.add_argument("--base-port", type=int, default=7500)
    parser.add_argument("--dir", help="consortium folder, kept afterwards (default: a temporary one)")
    parser.add_argument("-o", "--out", default="soak.json")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    passphrase, _ = throwaway_passphrase()
    with work_folder(args.dir, "consort-soak-") as folder:
        create_consortium(folder.path, institutions=4, base_port=args.base_port, passphrase=passphrase,
                          kdf_cost=KDF_COST_LIGHT)
        result = soak(args, folder.path, passphrase, out)
    out.write_text(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("timeline", "rss_samples", "profile")}))
    return 0


def soak(args, directory: Path, passphrase: str, out: Path) -> dict:
    os.environ[EVENT_LOOP_ENV] = "uvloop" if args.uvloop else "asyncio"  # the nodes inherit it
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cluster = LocalCluster(directory, log_level="warning", passphrase=passphrase)
    try:
        cluster.start_all()
        asyncio.run(cluster.wait_ready())
        pids = [cluster.processes[r].pid for r in range(len(cluster.institutions))]
        sampler = Sampler(pids)
        sampler.start()
        cpu_before = [cpu_s(pid) for pid in pids]
        bench_out = out.with_name(out.stem + "-bench.json")
        bench = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "bench.py"), "--dir", str(directory), "--running",
             "--no-compare", "--duration", str(args.duration), "--workers", str(args.workers),
             "--batch", str(args.batch), "--out", str(bench_out)],
            env={**os.environ, ENV_VAR: passphrase}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spy = None
        if args.profile_s:
            time.sleep(max(0.0, (args.duration - args.profile_s) / 2))
            spy = profile(pids[0], args.profile_s, out.with_name(out.stem + "-profile.raw"))
        bench.wait()
        if spy is not None:
            spy.wait()
        sampler.stopped.set()
        sampler.join()
        peaks = [memory_kib(pid).get("VmHWM", 0) // 1024 for pid in pids]
        cpu_used = sum(cpu_s(pid) for pid in pids) - sum(cpu_before)
    finally:
        cluster.close()
    result = json.loads(bench_out.read_text())
    timeline = result["timeline"]
    summary = {
        "tps": result["tps"], "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
        "committed": result["committed"], "blocks": result["blocks"], "txs_per_block": result["txs_per_block"],
        "failed_receipts": result["failed_receipts"], "request_errors": result["request_errors"],
        f"tps_first_{args.window:.0f}s": window_tps(timeline, args.window, last=False),
        f"tps_last_{args.window:.0f}s": window_tps(timeline, args.window, last=True),
        "peak_rss_mib": peaks, "uvloop": args.uvloop,
        "node_cpu_us_per_tx": round(1e6 * cpu_used / result["committed"], 1) if result["committed"] else None,
        "timeline": timeline, "rss_samples": sampler.samples,
    }
    if spy is not None:
        raw = out.with_name(out.stem + "-profile.raw")
        table = flat_profile(raw) if raw.exists() else []
        summary["profile"] = table
        lines = [f"{own:5.1f}% self {whole:5.1f}% total  {name}" for name, own, whole in table]
        out.with_name(out.stem + "-profile.txt").write_text("\n".join(lines) + "\n")
    return summary


if __name__ == "__main__":
    sys.exit(main())
