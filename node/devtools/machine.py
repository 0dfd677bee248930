"""What a benchmark reports about the machine and the processes it runs:
each process's CPU time and memory, read from Linux's /proc, and how many
Ed25519 signatures one core verifies a second, with the throughput bound
that rate sets for a consortium of validators on this machine.

CPU time is utime + stime of /proc/<pid>/stat (every thread of the
process: the node verifies signatures on worker threads); divided by the
wall time between two readings it is the number of cores the process kept
busy (1.0: one core all the time). Peak memory is the larger of VmHWM
(the kernel's high-water mark of the resident set over the process's
life) and the largest VmRSS seen by `ProcessWatch.sample`. A process
that has exited reads as None; so does every process where there is no
/proc (the bench runs on Linux).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from contracts.tx import sign_tx
from crypto.keys import KeyPair

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
STAT_UTIME_FIELD = 13     # 0-based fields of /proc/<pid>/stat, counting the pid as field 0
VERIFY_SECONDS = 1.0      # how long the verification rate is measured
VERIFY_CHUNK = 64         # verifications between two looks at the clock
BYTES_PER_MB = 1024 * 1024


def cpu_seconds(pid: int, proc: Path = PROC) -> float | None:
    """User + system CPU seconds the process has used so far (None: no such process)."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 1) is in parentheses and may hold spaces or ")": read after the last one.
    fields = text.rpartition(")")[2].split()
    first = 2  # fields[0] is field 2 (the state)
    utime, stime = int(fields[STAT_UTIME_FIELD - first]), int(fields[STAT_UTIME_FIELD + 1 - first])
    return (utime + stime) / CLOCK_TICKS_PER_S


def memory_bytes(pid: int, proc: Path = PROC) -> dict[str, int] | None:
    """{"rss": resident bytes now, "peak": the resident high-water mark} of
    the process (None: no such process; a field the kernel does not give is absent)."""
    try:
        lines = (proc / str(pid) / "status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    found = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            number, _, unit = value.strip().partition(" ")
            if unit == "kB" and number.isdigit():
                found["rss" if name == "VmRSS" else "peak"] = int(number) * 1024
    return found


@dataclass(slots=True)
class ProcessWatch:
    """CPU use and peak memory of named processes from `start()` on:
    `sample()` now and then (each second) to catch the resident set between
    readings, `report()` at the end."""

    pids: dict[str, int]
    clock: Callable[[], float] = time.monotonic
    proc: Path = PROC
    started_s: float = 0.0
    cpu_start_s: dict[str, float | None] = field(default_factory=dict)
    rss_max: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        self.started_s = self.clock()
        self.cpu_start_s = {name: cpu_seconds(pid, self.proc) for name, pid in self.pids.items()}
        self.rss_max = {}
        self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            memory = memory_bytes(pid, self.proc)
            if memory is not None and "rss" in memory:
                self.rss_max[name] = max(self.rss_max.get(name, 0), memory["rss"])

    def report(self) -> list[dict]:
        """Per process: its name, pid, cores kept busy since start() and peak resident MB (None: unknown)."""
        self.sample()
        wall_s = self.clock() - self.started_s
        rows = []
        for name, pid in self.pids.items():
            before, after = self.cpu_start_s.get(name), cpu_seconds(pid, self.proc)
            cores = round((after - before) / wall_s, 3) if before is not None and after is not None and wall_s > 0 \
                else None
            memory = memory_bytes(pid, self.proc) or {}
            peak = max(memory.get("peak", 0), self.rss_max.get(name, 0))
            rows.append({"name": name, "pid": pid, "cpu_cores": cores,
                         "peak_rss_mb": round(peak / BYTES_PER_MB, 1) if peak else None})
        return rows


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def ed25519_verifies_per_s(seconds: float = VERIFY_SECONDS, clock: Callable[[], float] = time.perf_counter) -> float:
    """Signature checks of one signed payment a second on this thread (one
    core), the way admission checks a transaction (Transaction.signature_valid)."""
    signer = KeyPair.from_seed(bytes(range(32))).signer()
    tx = sign_tx(signer, bytes(32), 1, "settlement.pay",
                 {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 12_345})
    count, start = 0, clock()
    while clock() - start < seconds:
        for _ in range(VERIFY_CHUNK):
            if not tx.signature_valid():
                raise AssertionError("a freshly signed transaction does not verify")
        count += VERIFY_CHUNK
    return count / (clock() - start)


def verify_bound(verifies_per_s_one_core: float, cores: int, validators: int) -> dict:
    """The throughput signature checks alone allow when `validators` share
    `cores`: each validator verifies each transaction once, so at most
    cores x rate / validators transactions a second (an upper bound: it
    counts no consensus messages, no execution, no HTTP and no client)."""
    if validators < 1 or cores < 1:
        raise ValueError(f"a bound needs at least one validator and one core, not {validators}, {cores}")
    return {"ed25519_verifies_per_s_one_core": round(verifies_per_s_one_core),
            "cores": cores, "validators": validators,
            "verify_bound_tps": round(cores * verifies_per_s_one_core / validators),
            "rule": "cores * verifies_per_s_one_core / validators: each validator verifies each transaction once"}
