"""Shrinking a failing schedule to a small one that fails the same way:
delta debugging (Zeller's ddmin) over its fault records, then the shortest
run (whole simulated seconds) that still fails.

"The same way" is the same kind of first violation (agreement, validity,
halt or liveness); the run's seed, size, rate and mutation stay. A candidate
that is no valid schedule (removing a twin renumbers the twins after it)
counts as not failing. The result is 1-minimal: removing any one remaining
fault loses the failure. Every candidate is a full deterministic run, at
most `runs_max` of them. Pure: runs simulations, writes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

from netsim.faults import ScheduleError
from netsim.search import run_schedule

RUNS_MAX = 400
DURATION_S_MIN = 2


@dataclass(frozen=True, slots=True)
class Shrunk:
    schedule: dict
    report: dict
    runs: int


class _Budget(Exception):
    """The shrinker used up its runs: it stops with the smallest failing schedule so far."""


class _Shrinker:
    def __init__(self, kind: str, run: Callable[[dict], dict], runs_max: int) -> None:
        self.kind = kind
        self.run = run
        self.runs_max = runs_max
        self.runs = 0
        self.smallest: tuple[dict, dict] | None = None

    def fails(self, schedule: dict) -> bool:
        if self.runs >= self.runs_max:
            raise _Budget
        self.runs += 1
        try:
            report = self.run(schedule)
        except ScheduleError:
            return False
        failure = report["first_violation"]
        if failure is None or failure["kind"] != self.kind:
            return False
        self.smallest = (schedule, report)
        return True

    def ddmin(self, schedule: dict) -> dict:
        """The smallest list of faults ddmin reaches that still fails."""
        faults = schedule["faults"]
        granularity = 2
        while len(faults) >= 2:
            chunks = _split(faults, granularity)
            reduced = False
            for index, chunk in enumerate(chunks):  # a chunk alone, then all but a chunk
                rest = [record for other, part in enumerate(chunks) if other != index for record in part]
                for candidate, next_granularity in ((chunk, 2), (rest, max(granularity - 1, 2))):
                    if len(candidate) < len(faults) and self.fails({**schedule, "faults": candidate}):
                        faults, granularity, reduced = candidate, next_granularity, True
                        break
                if reduced:
                    break
            if not reduced:
                if granularity >= len(faults):
                    break
                granularity = min(len(faults), 2 * granularity)
        if len(faults) == 1 and self.fails({**schedule, "faults": []}):
            faults = []
        return {**schedule, "faults": faults}

    def shorten(self, schedule: dict) -> dict:
        """The shortest duration (binary search over whole seconds) that still
        fails. The load stops when it did as long as the run outlasts that by
        a second, so a run cut short is the same run up to its new end."""
        low, high = DURATION_S_MIN, schedule["duration_s"]
        load_s = schedule["duration_s"] - schedule["liveness_bound_s"]
        best = schedule
        while low < high:
            middle = (low + high) // 2
            bound = middle - load_s if middle > load_s else 1
            candidate = {**schedule, "duration_s": middle, "liveness_bound_s": bound}
            if self.fails(candidate):
                best, high = candidate, middle
            else:
                low = middle + 1
        return best


def _split(items: list, parts: int) -> list[list]:
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return [chunk for chunk in chunks if chunk]


def shrink(schedule: dict, report: dict, run: Callable[[dict], dict] = run_schedule,
           runs_max: int = RUNS_MAX) -> Shrunk:
    """A schedule no larger than `schedule` (whose run gave `report`, with a
    violation) that fails the same way, with its report and the runs it took."""
    failure = report["first_violation"]
    assert failure is not None, "only a failing schedule shrinks"
    shrinker = _Shrinker(failure["kind"], run, runs_max)
    current = copy.deepcopy(schedule)
    try:
        current = shrinker.ddmin(current)
        current = shrinker.shorten(current)
    except _Budget:
        pass
    if shrinker.smallest is None:  # nothing smaller failed
        return Shrunk(copy.deepcopy(schedule), report, shrinker.runs)
    smallest, smallest_report = shrinker.smallest
    return Shrunk(smallest, smallest_report, shrinker.runs)
