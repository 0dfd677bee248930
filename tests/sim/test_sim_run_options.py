"""`consort sim run` as a researcher meets it: a duration too short for load
and drain says why, the drain is a parameter the summary and report state,
the summary ends with PASS or FAIL, and runs placed in regions (with real
message sizes on limited uplinks) are slower the way the matrix says and
replay to the same trace."""

from __future__ import annotations

import json
import shlex

import pytest

from netsim.regions import DE3_NYC, from_json
from netsim.report import replay_command, summary
from netsim.run import SimConfig, Simulation
from node.cli import main


@pytest.mark.parametrize("argv, reason", [
    (["--duration", "1"], "--duration 1 is too short: a run is at least 1 simulated second of load, then a drain"),
    (["--duration", "0"], "--duration 0 is too short"),
    (["--duration", "5", "--drain-s", "0"], "--drain-s 0: the drain must be at least 1 simulated second"),
    (["--duration", "3", "--drain-s", "3"], "--duration 3 leaves no time for load before the 3 s drain"),
    (["--regions", "nowhere"], "regions 'nowhere' is neither a built-in matrix (de3-nyc) nor a file"),
])
def test_settings_that_cannot_run_say_why(capsys, argv, reason):
    assert main(["sim", "run", *argv]) == 2
    error = capsys.readouterr().err
    assert reason in error and error.count("\n") == 1


def test_the_help_says_the_last_seconds_carry_no_load(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["sim", "run", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "load for all but the last --drain-s of them, then a drain with no new requests" in text
    assert "--drain-s DRAIN_S simulated seconds at the end that carry no load (default 5" in text


def test_the_drain_is_a_parameter_and_the_summary_says_it_and_passes(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["sim", "run", "--duration", "6", "--drain-s", "2", "--rate", "300", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    report = json.loads(out.read_text())
    assert report["drain_s"] == 2 and report["load_end_s"] == 4.0
    assert "  load for 4 s, then a 2 s drain with no new requests (throughput is per second of load)" in printed
    assert printed[-2] == "PASS: every invariant held (agreement, validity, liveness)"  # then the files written
    assert main(["sim", "run", "--duration", "3", "--rate", "300"]) == 0  # no --drain-s: duration - 1 when short
    assert "load for 1 s, then a 2 s drain" in capsys.readouterr().out


def test_a_summary_with_a_violation_ends_with_fail():
    report = Simulation(SimConfig(nodes=4, faulty=0, duration_s=3, liveness_bound_s=2, rate_tps=300)).run()
    assert summary(report, 1.0).endswith("\nPASS: every invariant held (agreement, validity, liveness)")
    broken = dict(report, violations=["t=1.000s agreement: a", "t=2.000s agreement: b"])
    lines = summary(broken, 1.0).splitlines()
    assert lines[-4:] == ["  VIOLATIONS:", "    t=1.000s agreement: a", "    t=2.000s agreement: b",
                          "FAIL: 2 invariant violations"]


def run(regions=None, **settings) -> dict:
    config = SimConfig(nodes=4, faulty=0, seed=2, duration_s=5, liveness_bound_s=2, rate_tps=400,
                       regions=regions, **settings)
    return Simulation(config).run()


def test_nodes_in_regions_commit_later_by_the_distances_between_them():
    flat, placed = run(), run(DE3_NYC)
    for report in (flat, placed):
        assert report["violations"] == [] and report["requests_committed"] == report["requests_submitted"]
    assert placed["regions"] == "de3-nyc" and flat["regions"] is None
    # A quorum of 3 of 4 needs two German cities and one more: each phase crosses a few ms of
    # Germany at least, on top of the same 2-8 ms draws.
    assert placed["latency_ms"]["p50"] > flat["latency_ms"]["p50"] + 10


def test_a_narrow_uplink_slows_the_proposals_down_by_their_real_size():
    wide = from_json({"regions": ["dc"], "one_way_ms": [[1]], "bandwidth_mbit": 1000}, "wide")
    narrow = from_json({"regions": ["dc"], "one_way_ms": [[1]], "bandwidth_mbit": 8}, "narrow")
    fast, slow = run(wide, tx_bytes=512), run(narrow, tx_bytes=512)
    assert fast["violations"] == [] and slow["violations"] == []
    # 8 Mbit/s is 1,000 bytes a millisecond: a forwarded batch of 20 requests of 512 bytes takes
    # over 10 ms to leave a backup, and a block of them as long for each backup on the primary's uplink.
    assert slow["latency_ms"]["p50"] > fast["latency_ms"]["p50"] + 40


def test_a_run_in_regions_replays_from_its_command(tmp_path, capsys):
    matrix = tmp_path / "two cities.json"  # a space, so the replay command must quote the path
    matrix.write_text(json.dumps({"regions": ["a", "b"], "one_way_ms": [[1, 30], [30, 1]], "bandwidth_mbit": 100}))
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert main(["sim", "run", "--nodes", "5", "--scenario", "crash", "--seed", "4", "--duration", "6",
                 "--drain-s", "3", "--regions", str(matrix), "-o", str(first)]) == 0
    report = json.loads(first.read_text())
    assert report["regions"] == str(matrix)
    argv = shlex.split(replay_command(report))
    assert argv[:3] == ["consort", "sim", "run"] and "--drain-s" in argv and str(matrix) in argv
    assert main([*argv[1:], "-o", str(second)]) == 0
    capsys.readouterr()
    assert json.loads(second.read_text())["trace_hash"] == report["trace_hash"]
