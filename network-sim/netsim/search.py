"""The random search for bugs: seed after seed, draw a validator count and
a fault schedule (netsim.faults), run the real replicas under it, and keep
the runs that break an invariant. Nobody says where to look.

Each seed is a whole experiment: it picks n from the sizes searched and
draws the schedule, so seed S of a search over 4..10 is the same run
whoever repeats it. A failure is shrunk (netsim.shrink) and saved as a
schedule file that `consort sim replay FILE` runs again.

The mutation check: with `mutation` set (consensus.mutations), every
replica is weakened the same way, and the search must find the agreement
violation that weakening allows; without one, it must find nothing.
Pure: runs simulations, writes no file (the CLI does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from netsim.faults import check, faulty_for_good, generate
from netsim.rng import Streams
from netsim.run import SimConfig, Simulation

SIZES = tuple(range(4, 11))
SAFETY_KINDS = ("agreement", "validity", "halt")


def size_for(seed: int, sizes: tuple[int, ...]) -> int:
    """The validator count seed `seed` runs with, one of `sizes`."""
    return Streams(seed)("size").choice(sizes)


def schedule_for(seed: int, sizes: tuple[int, ...] = SIZES, mutation: str | None = None) -> dict:
    return generate(seed, size_for(seed, sizes), mutation=mutation)


def run_schedule(schedule: dict, progress: Callable[[int, int], None] | None = None) -> dict:
    """The report of one run under a schedule (checked first: ScheduleError if it cannot run)."""
    check(schedule)
    config = SimConfig(nodes=schedule["nodes"], faulty=len(faulty_for_good(schedule["faults"])),
                       seed=schedule["seed"], duration_s=schedule["duration_s"], scenario="none",
                       rate_tps=schedule["rate_tps"], liveness_bound_s=schedule["liveness_bound_s"],
                       mutation=schedule["mutation"])
    return Simulation(config, faults=schedule["faults"]).run(progress)


@dataclass(frozen=True, slots=True)
class Outcome:
    seed: int
    schedule: dict
    report: dict

    @property
    def failure(self) -> dict | None:
        return self.report["first_violation"]


def wanted(mutation: str | None) -> tuple[str, ...]:
    """The violations a search is after: any, or with a mutation the agreement violation it allows."""
    return ("agreement",) if mutation is not None else (*SAFETY_KINDS, "liveness")


def search(seeds: Iterable[int], sizes: tuple[int, ...] = SIZES, mutation: str | None = None,
           stop_at_first: bool = True, seen: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """The failing outcomes among `seeds`, in seed order; with `stop_at_first`,
    up to the first that shows a wanted violation (`wanted`). `seen(outcome)`,
    when given, hears of every run, failing or not."""
    failures = []
    for seed in seeds:
        schedule = schedule_for(seed, sizes, mutation)
        outcome = Outcome(seed, schedule, run_schedule(schedule))
        if seen is not None:
            seen(outcome)
        if outcome.failure is not None:
            failures.append(outcome)
            if stop_at_first and outcome.failure["kind"] in wanted(mutation):
                break
    return failures


def describe(failure: dict) -> str:
    where = "" if failure["height"] is None else f" at height {failure['height']}"
    return f"{failure['kind']}{where}, t={failure['time_us'] / 1_000_000:.6f} s: {failure['text']}"


def parse_sizes(text: str) -> tuple[int, ...]:
    """"4..10" or "4,5,7" (or "7") as a tuple of validator counts."""
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split("..", 1))
            sizes = tuple(range(low, high + 1))
        else:
            sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"sizes must look like 4..10 or 4,5,7, not {text!r}") from None
    if not sizes or any(not 2 <= n <= 64 for n in sizes):
        raise ValueError(f"sizes must be between 2 and 64, not {text!r}")
    return sizes
