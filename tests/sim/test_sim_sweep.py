"""Sweeps: a sweep's JSONL is the same bytes on a local process pool, on a
Dask cluster (a distributed.LocalCluster in this process) and with any
chunk size; its summary, verdict and plots read what the runs found; the
`consort sim sweep` command writes them all."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

import pytest

from netsim.network import Latency, SettingsError
from netsim.regions import DE3_NYC
from netsim.report import replay_command
from netsim.sweep import RECORD_KEYS, Sweep, dask_pool, jsonl, local_pool, run_sweep
from netsim.sweep_report import summarise, table, verdict, write_plots
from node.cli import main

SMALL = Sweep(nodes=(4, 5), scenarios=("none", "crash"), regions=(None, DE3_NYC), seeds=3, duration_s=4,
              drain_s=2, rate_tps=300, chunk_seeds=2)


def in_threads(sweep: Sweep, workers: int = 2) -> list[dict]:
    with ThreadPoolExecutor(workers) as executor:
        return run_sweep(sweep, executor, workers)


def test_a_sweep_writes_the_same_bytes_locally_and_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    with local_pool(2) as pool:
        local = jsonl(run_sweep(SMALL, pool.executor, pool.workers))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                                  silence_logs=40) as cluster:
        with dask_pool(cluster) as pool:
            assert pool.workers == 2 and pool.where.startswith("Dask at ")
            on_dask = jsonl(run_sweep(SMALL, pool.executor, pool.workers))
    assert on_dask == local
    records = [json.loads(line) for line in local.splitlines()]
    assert len(records) == SMALL.runs == 24
    assert [(r["cell"], r["seed"]) for r in records] == [(c, s) for c in range(8) for s in (1, 2, 3)]
    assert {r["regions"] for r in records} == {None, "de3-nyc"}
    assert all(r["requests_committed"] == r["requests_submitted"] > 0 and not r["violations"] for r in records)


def test_the_chunk_size_and_the_order_chunks_finish_in_do_not_change_the_records():
    one = in_threads(Sweep(nodes=(4,), scenarios=("equivocate",), seeds=5, duration_s=4, drain_s=2,
                           rate_tps=300, chunk_seeds=1), workers=3)
    five = in_threads(Sweep(nodes=(4,), scenarios=("equivocate",), seeds=5, duration_s=4, drain_s=2,
                            rate_tps=300, chunk_seeds=5), workers=1)
    assert jsonl(one) == jsonl(five)
    assert len({r["trace_hash"] for r in one}) == 5  # five different runs, not one run five times
    assert set(one[0]) == {"cell", *RECORD_KEYS}


def test_a_grid_that_cannot_run_is_refused_before_anything_runs():
    with pytest.raises(SettingsError, match="at least one value"):
        Sweep(nodes=(), scenarios=("none",))
    with pytest.raises(SettingsError, match="twice"):
        Sweep(nodes=(4, 4), scenarios=("none",))
    with pytest.raises(SettingsError, match="scenario 'nope'"):
        Sweep(nodes=(4,), scenarios=("nope",))
    with pytest.raises(SettingsError, match="more than a sweep takes"):
        Sweep(nodes=(4,), scenarios=("none",), seeds=10_000_000)
    with pytest.raises(SettingsError, match="must exceed the drain"):
        Sweep(nodes=(4,), scenarios=("none",), duration_s=3, drain_s=3)


def test_the_summary_counts_failed_runs_and_says_how_to_replay_them(tmp_path):
    records = in_threads(Sweep(nodes=(4, 7), scenarios=("none",), latencies=(Latency("constant", 3_000),),
                               seeds=2, duration_s=4, drain_s=2, rate_tps=300))
    assert verdict(records) == "PASS: every invariant held in all 4 runs"
    broken = dict(records[3], violations=["t=3.000s liveness: 5 requests not committed"])
    records[3] = broken
    summaries = summarise(records)
    assert [(s.nodes, s.runs, s.failed) for s in summaries] == [(4, 2, 0), (7, 2, 1)]
    text = table(summaries)
    assert text.splitlines()[0].split() == ["n", "scenario", "network", "runs", "failed", "tx/s", "med", "tx/s",
                                            "min", "p50", "ms", "p99", "ms", "p99", "max", "views", "max"]
    assert "constant 3 ms" in text
    said = verdict(records)
    assert said.startswith("FAIL: 1 of 4 runs broke an invariant")
    assert f"seed={broken['seed']} n=7 none: t=3.000s liveness" in said
    assert replay_command(broken) in said and "--drain-s 2" in said
    for plot in write_plots(summaries, tmp_path):
        ElementTree.parse(plot)  # well-formed SVG
    violations = (tmp_path / "violations.svg").read_text()
    assert "1 of 4" in violations and "n=7" in violations
    throughput = ElementTree.parse(tmp_path / "throughput.svg")
    ticks = [t.text for t in throughput.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "x-tick"]
    assert ticks == ["4", "5", "6", "7"]  # whole validators only


def test_consort_sim_sweep_writes_its_jsonl_summary_and_plots(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sim", "sweep", "--nodes", "4", "--scenarios", "none,silent", "--latency", "uniform:2:8,constant:3",
                 "--regions", "none,de3-nyc", "--seeds", "2", "--duration", "4", "--drain-s", "2", "--rate", "300",
                 "--workers", "1", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "sweep: 8 cells x 2 seeds = 16 runs on 1 local process" in printed
    assert "PASS: every invariant held in all 16 runs" in printed
    assert "uniform 2-8 ms + de3-nyc" in printed
    assert len((out / "sweep.jsonl").read_text().splitlines()) == 16
    assert (out / "summary.txt").read_text().endswith("PASS: every invariant held in all 16 runs\n")
    assert {p.name for p in out.iterdir()} == {"sweep.jsonl", "summary.txt", "throughput.svg", "latency.svg",
                                               "violations.svg"}


@pytest.mark.parametrize("argv, reason", [
    (["--nodes", "4,x"], "--nodes takes comma-separated whole numbers"),
    (["--scenarios", "none,nope"], "'nope' is not one of all"),
    (["--latency", "uniform:2:8:9"], "is not KIND:A_MS[:B_MS]"),
    (["--latency", "gaussian:2"], "is not KIND:A_MS[:B_MS]"),
    (["--regions", "atlantis.json"], "neither a built-in matrix (de3-nyc) nor a file"),
    (["--duration", "1"], "--duration 1 is too short"),
])
def test_a_wrong_sweep_command_line_says_why(tmp_path, capsys, argv, reason):
    assert main(["sim", "sweep", *argv, "-o", str(tmp_path / "out")]) == 2
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_dask_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("netsim.sweep.DASK_CONNECT_TIMEOUT_S", 2)
    code = main(["sim", "sweep", "--nodes", "4", "--scenarios", "none", "--seeds", "1", "--duration", "3",
                 "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path)])  # port 9: nothing listens
    assert code == 2
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in capsys.readouterr().err
