"""Sweeps: many seeded runs over a grid of settings (validators n, fault
scenario, latency model, region matrix), on a local process pool or on a
Dask distributed cluster, by one code path.

The grid's cells times its seeds are cut into chunks of a few seeds of one
cell. A chunk is a pure function of its parameters (`run_chunk`: a SimConfig
template and its seeds in, one record per run out), so it does not matter
which worker runs it, in which process, in which order, or whether it ran
twice. The records are sorted by (cell, seed) at the end, and each is
written as one JSON line with sorted keys: a sweep's JSONL is the same
bytes on one laptop or on a cluster, with any chunk size.

Both pools are concurrent.futures executors (Dask's through
Client.get_executor()); at most IN_FLIGHT_PER_WORKER chunks per worker are
handed out at a time, so a sweep of RUNS_MAX runs does not queue as many
futures. Dask is optional (`pip install 'consort[cluster]'`) and
imported only when a scheduler is given; every worker must have the same
consort installed, as the chunks name netsim's functions, not ship them.

It must not import node/ (the CLI shows progress through the callback).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, product
from typing import Callable, Iterator

from netsim.network import Latency, SettingsError
from netsim.regions import RegionMatrix
from netsim.run import SimConfig, Simulation, faulty_default

RUNS_MAX = 200_000  # the records are held in memory to be sorted: about 0.7 kB each
CHUNK_SEEDS_DEFAULT = 8
IN_FLIGHT_PER_WORKER = 4
WORKERS_MAX = 1024
DASK_CONNECT_TIMEOUT_S = 30
RECORD_KEYS = ("seed", "nodes", "faulty", "scenario", "latency", "regions", "bandwidth_bytes_per_s", "duration_s",
               "drain_s", "rate_tps", "requests_submitted", "requests_committed", "throughput_tps",
               "blocks_committed", "latency_ms", "longest_stall_s", "view_changes", "messages", "violations",
               "trace_hash")


@dataclass(frozen=True, slots=True)
class Cell:
    """One point of the grid."""

    index: int
    nodes: int
    scenario: str
    latency: Latency
    regions: RegionMatrix | None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Some seeds of one cell: `config` with each seed in turn."""

    cell: int
    config: SimConfig
    seeds: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Sweep:
    nodes: tuple[int, ...]
    scenarios: tuple[str, ...]
    latencies: tuple[Latency, ...] = (Latency("uniform", 2_000, 8_000),)
    regions: tuple[RegionMatrix | None, ...] = (None,)
    seeds: int = 10
    first_seed: int = 1
    duration_s: int = 10
    drain_s: int = 5
    rate_tps: int = 500
    bandwidth_bytes_per_s: int = 0
    chunk_seeds: int = CHUNK_SEEDS_DEFAULT

    def __post_init__(self) -> None:
        axes = (self.nodes, self.scenarios, self.latencies, self.regions)
        if not all(axes):
            raise SettingsError("every axis of the grid needs at least one value")
        if any(len(set(axis)) != len(axis) for axis in axes):
            raise SettingsError("a value appears twice on one axis of the grid")
        if self.seeds < 1 or self.chunk_seeds < 1 or self.first_seed < 0:
            raise SettingsError("seeds and seeds per chunk must be at least 1, the first seed not negative")
        if self.runs > RUNS_MAX:
            raise SettingsError(f"{self.runs:,} runs is more than a sweep takes ({RUNS_MAX:,}): split it")
        for cell in self.cells():  # each cell's settings are checked before anything runs
            self.config(cell, self.first_seed)

    @property
    def runs(self) -> int:
        return len(self.nodes) * len(self.scenarios) * len(self.latencies) * len(self.regions) * self.seeds

    def cells(self) -> list[Cell]:
        grid = product(self.nodes, self.scenarios, self.latencies, self.regions)
        return [Cell(index, *point) for index, point in enumerate(grid)]

    def config(self, cell: Cell, seed: int) -> SimConfig:
        return SimConfig(nodes=cell.nodes, faulty=faulty_default(cell.nodes, cell.scenario), seed=seed,
                         duration_s=self.duration_s, scenario=cell.scenario, rate_tps=self.rate_tps,
                         latency=cell.latency, bandwidth_bytes_per_s=self.bandwidth_bytes_per_s,
                         liveness_bound_s=self.drain_s, regions=cell.regions)

    def chunks(self) -> list[Chunk]:
        seeds = range(self.first_seed, self.first_seed + self.seeds)
        return [Chunk(cell.index, self.config(cell, self.first_seed), tuple(seeds[start:start + self.chunk_seeds]))
                for cell in self.cells() for start in range(0, self.seeds, self.chunk_seeds)]


def record(cell: int, report: dict) -> dict:
    """What a sweep keeps of one run's report (not its timeline or samples). A
    run that sent a message over the real node's wire limits (netsim.limits)
    counts as failed: its first such message is listed among its violations."""
    kept = {"cell": cell, **{key: report[key] for key in RECORD_KEYS}}
    if report["invalid"]:
        kept["violations"] = [*report["violations"], f"invalid run: {report['invalid'][0]}"]
    return kept


def run_chunk(chunk: Chunk) -> list[dict]:
    """The records of a chunk's runs: a pure function of the chunk."""
    return [record(chunk.cell, Simulation(dataclasses.replace(chunk.config, seed=seed)).run())
            for seed in chunk.seeds]


def run_sweep(sweep: Sweep, executor: Executor, workers: int,
              progress: Callable[[int, int, int], None] | None = None) -> list[dict]:
    """Every run of the sweep on `executor`, records sorted by (cell, seed).
    `progress(runs_done, runs, runs_failed)` after each chunk; it may only look."""
    chunks = iter(sweep.chunks())
    in_flight_max = IN_FLIGHT_PER_WORKER * max(1, workers)
    pending: set = set()
    records: list[dict] = []
    failed = 0
    try:
        while True:
            pending |= {executor.submit(run_chunk, chunk) for chunk in islice(chunks, in_flight_max - len(pending))}
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results = future.result()
                records += results
                failed += sum(1 for r in results if r["violations"])
            if progress is not None:
                progress(len(records), sweep.runs, failed)
    finally:
        for future in pending:
            future.cancel()
    return sorted(records, key=lambda r: (r["cell"], r["seed"]))


def jsonl(records: list[dict]) -> str:
    """One record per line, keys sorted, no spaces: the same records give the same bytes."""
    return "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in records)


@dataclass(frozen=True, slots=True)
class Pool:
    executor: Executor
    workers: int
    where: str


@contextmanager
def local_pool(workers: int) -> Iterator[Pool]:
    """`workers` local processes (spawned: a fresh interpreter each, nothing inherited by fork)."""
    if not 1 <= workers <= WORKERS_MAX:
        raise SettingsError(f"workers must be between 1 and {WORKERS_MAX}")
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as executor:
        try:
            yield Pool(executor, workers, f"{workers} local process{'es' if workers > 1 else ''}")
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise


@contextmanager
def dask_pool(scheduler) -> Iterator[Pool]:
    """The workers of a Dask cluster: `scheduler` is its address
    (tcp://host:8786) or a cluster object (distributed.LocalCluster)."""
    try:
        from distributed import Client
    except ImportError:
        raise SettingsError("a Dask scheduler needs dask and distributed: pip install 'consort[cluster]'") from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, ValueError) as exc:  # refused, timed out, or not an address
        raise SettingsError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    with client:
        threads = sum(client.nthreads().values())
        executor = client.get_executor()
        try:
            yield Pool(executor, threads, f"Dask at {client.scheduler.address} ({threads} worker threads)")
        finally:
            executor.shutdown(wait=False)
