"""The bench's readings of the machine (node.devtools.machine): CPU seconds
and memory of a process from /proc, read here on the test process itself
and on a made-up /proc; CPU use as cores over a watched interval; the
Ed25519 verification rate's arithmetic and the bound it sets."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

import pytest

from node.devtools.machine import (CLOCK_TICKS_PER_S, VERIFY_CHUNK, ProcessWatch, cpu_seconds,
                                   ed25519_verifies_per_s, memory_bytes, usable_cores, verify_bound)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
MB = 1024 * 1024


def burn_cpu(until_s: float) -> None:
    """Work until this process has used `until_s` CPU seconds (bounded: the counter moves while we work)."""
    total = 0
    for step in range(200_000_000):
        total += step * step
        if step % 100_000 == 0 and cpu_seconds(os.getpid()) >= until_s:
            return
    raise AssertionError(f"the CPU counter never reached {until_s} s")


def test_cpu_seconds_of_this_process_agree_with_the_kernels_other_account():
    before = cpu_seconds(os.getpid())
    burn_cpu(before + 0.05)
    now = cpu_seconds(os.getpid())
    times = os.times()
    assert now >= before + 0.05
    # os.times reads the same utime and stime through another call; a few clock ticks apart at most.
    assert abs(now - (times.user + times.system)) <= 5 / CLOCK_TICKS_PER_S


def test_memory_of_this_process_sees_a_large_allocation_and_the_high_water_mark():
    before = memory_bytes(os.getpid())
    assert before is not None and 0 < before["rss"] <= before["peak"]
    block = bytearray(64 * MB)
    for offset in range(0, len(block), 4096):  # touch every page so it is resident
        block[offset] = 1
    during = memory_bytes(os.getpid())
    assert during["rss"] >= before["rss"] + 48 * MB
    assert during["peak"] >= during["rss"]
    # VmHWM and getrusage's ru_maxrss (kB on Linux) are the same high-water mark.
    assert abs(during["peak"] - resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) <= 8 * MB
    del block


def test_a_process_that_is_not_there_reads_as_none(tmp_path):
    assert cpu_seconds(12345, tmp_path) is None
    assert memory_bytes(12345, tmp_path) is None


def fake_process(proc: Path, pid: int, utime: int, stime: int, rss_kb: int, peak_kb: int) -> None:
    folder = proc / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    # A command name with a space and a ")" in it: fields are read after the last ")".
    fields = ["S", "1", "1", "1", "0", "-1", "4194560", "100", "0", "0", "0", str(utime), str(stime)] + ["0"] * 39
    (folder / "stat").write_text(f"{pid} (python3 x) y) {' '.join(fields)}\n")
    (folder / "status").write_text(f"Name:\tpython3\nVmPeak:\t  999999 kB\nVmHWM:\t {peak_kb} kB\n"
                                   f"VmRSS:\t {rss_kb} kB\nThreads:\t5\n")


def test_stat_and_status_are_read_field_by_field(tmp_path):
    fake_process(tmp_path, 77, utime=250, stime=50, rss_kb=2048, peak_kb=4096)
    assert cpu_seconds(77, tmp_path) == 300 / CLOCK_TICKS_PER_S
    assert memory_bytes(77, tmp_path) == {"rss": 2048 * 1024, "peak": 4096 * 1024}


def test_a_watch_reports_cores_kept_busy_and_the_larger_of_the_peaks(tmp_path):
    ticks = CLOCK_TICKS_PER_S
    fake_process(tmp_path, 10, utime=0, stime=0, rss_kb=1024, peak_kb=1024)
    fake_process(tmp_path, 20, utime=ticks, stime=0, rss_kb=1024, peak_kb=1024)
    now = [100.0]
    watch = ProcessWatch({"bank-a": 10, "bank-b": 20, "gone": 30}, clock=lambda: now[0], proc=tmp_path)
    watch.start()
    fake_process(tmp_path, 10, utime=0, stime=0, rss_kb=300 * 1024, peak_kb=1024)  # VmHWM missed the spike
    watch.sample()
    now[0] = 110.0
    fake_process(tmp_path, 10, utime=3 * ticks, stime=2 * ticks, rss_kb=1024, peak_kb=1024)   # 5 s of 10
    fake_process(tmp_path, 20, utime=ticks, stime=0, rss_kb=1024, peak_kb=200 * 1024)       # idle
    assert watch.report() == [
        {"name": "bank-a", "pid": 10, "cpu_cores": 0.5, "peak_rss_mb": 300.0},
        {"name": "bank-b", "pid": 20, "cpu_cores": 0.0, "peak_rss_mb": 200.0},
        {"name": "gone", "pid": 30, "cpu_cores": None, "peak_rss_mb": None},
    ]


def test_the_verification_rate_is_checks_over_elapsed_time():
    calls = iter(i / 100 for i in range(1000))  # a clock that moves 10 ms at each look
    rate = ed25519_verifies_per_s(seconds=0.05, clock=lambda: next(calls))
    # Looks at 0.01 .. 0.04 each verify a chunk; 0.05 stops; the last look (0.06) is the elapsed time.
    assert rate == pytest.approx(4 * VERIFY_CHUNK / 0.06)


def test_the_bound_is_cores_times_rate_over_validators():
    bound = verify_bound(20_000.4, cores=2, validators=4)
    assert bound["verify_bound_tps"] == 10_000 and bound["ed25519_verifies_per_s_one_core"] == 20_000
    assert (bound["cores"], bound["validators"]) == (2, 4) and "validators" in bound["rule"]
    with pytest.raises(ValueError):
        verify_bound(20_000, cores=0, validators=4)
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
