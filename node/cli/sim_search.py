"""`consort sim search` and `consort sim replay`: the simulator looking for
bugs by itself. The search draws a validator count and a fault schedule per
seed (netsim.search, netsim.faults), shrinks the first failure
(netsim.shrink) and saves it as a schedule file; replay runs such a file.
Only the printing, the files and the exit status are here.

Exit status of a search: without --mutation, 0 when no seed broke an
invariant and 1 when one did; with --mutation, whose weakened replica must
be caught, 0 when the search found the agreement violation and 1 when it
missed it. Replay exits 1 when its run shows a violation, like `sim run`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from consensus.mutations import MUTATIONS
from netsim.faults import check, dumps
from netsim.report import summary
from netsim.search import Outcome, describe, parse_sizes, run_schedule, search, wanted
from netsim.shrink import shrink
from node.cli.shared import CommandFailed, UsageError, add_json_option, add_out_option
from node.devtools.progress import Progress

SEEDS_MAX = 1_000_000


def cmd_sim_search(args) -> int:
    try:
        sizes = parse_sizes(args.n)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 1 <= args.seeds <= SEEDS_MAX or args.first_seed < 0:
        raise UsageError(f"--seeds must be between 1 and {SEEDS_MAX}, --first-seed not negative")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = []
    with Progress("searching", total=len(seeds), unit="seeds") as progress:
        failures = search(seeds, sizes, args.mutation, stop_at_first=not args.keep_going,
                          seen=lambda outcome: (runs.append(outcome.seed), progress.update(len(runs))))
    result = {"mutation": args.mutation, "sizes": list(sizes), "first_seed": args.first_seed,
              "seeds_run": len(runs), "failing_seeds": [o.seed for o in failures]}
    for outcome in failures:
        _say(args, f"seed {outcome.seed} (n={outcome.schedule['nodes']}, {len(outcome.schedule['faults'])} faults): "
                   f"{describe(outcome.failure)}")
    first = next((o for o in failures if o.failure["kind"] in wanted(args.mutation)), None)
    if first is None:
        _say(args, f"{len(runs)} seeds (n in {args.n}): " + (
            "no invariant broken" if args.mutation is None else
            f"the search missed mutation {args.mutation}: no agreement violation"))
    else:
        result["seeds_needed"] = first.seed - args.first_seed + 1
        _say(args, f"{len(failures)} of {len(runs)} seeds fail; the first wanted, seed {first.seed}, "
                   f"after {result['seeds_needed']} seeds")
        result["saved"] = _shrink_and_save(args, first)
    if args.json:
        print(json.dumps(result, indent=2))
    if args.mutation is None:
        return 1 if failures else 0
    return 0 if first is not None else 1


def _shrink_and_save(args, outcome: Outcome) -> dict:
    before = outcome.schedule
    if args.no_shrink:
        schedule, report, runs = before, outcome.report, 0
    else:
        shrunk = shrink(before, outcome.report)
        schedule, report, runs = shrunk.schedule, shrunk.report, shrunk.runs
        _say(args, f"shrunk in {runs} runs: {len(before['faults'])} faults, {before['duration_s']} s -> "
                   f"{len(schedule['faults'])} faults, {schedule['duration_s']} s: {describe(report['first_violation'])}")
    path = Path(args.out or f"sim-failure-seed{outcome.seed}.json")
    command = f"consort sim replay {path}"
    document = {**schedule, "failure": report["first_violation"], "replay": command}
    path.write_text(dumps(document))
    _say(args, f"wrote {path}; reproduce with: {command}")
    return {"file": str(path), "faults_before": len(before["faults"]), "faults_after": len(schedule["faults"]),
            "duration_s_before": before["duration_s"], "duration_s_after": schedule["duration_s"],
            "shrink_runs": runs, "failure": report["first_violation"]}


def cmd_sim_replay(args) -> int:
    try:
        schedule = check(json.loads(Path(args.file).read_text()))
    except (OSError, ValueError) as exc:  # ScheduleError and JSON errors are ValueErrors
        raise CommandFailed(f"cannot replay {args.file}: {exc}") from None
    started = time.perf_counter()
    report = run_schedule(schedule)
    print(summary(report, time.perf_counter() - started))
    failure, recorded = report["first_violation"], schedule.get("failure")
    if failure is not None:
        print(f"first violation: {describe(failure)}")
    if recorded is not None:
        same = failure == recorded
        print("same violation at the same simulated time as recorded" if same else
              f"differs from the recorded failure: {describe(recorded)}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return 1 if failure is not None else 0


def _say(args, line: str) -> None:
    """Notes go to stdout, or to stderr beside --json's document."""
    print(line, file=sys.stderr if args.json else sys.stdout)


def add_search_commands(sim) -> None:
    """`sim search` and `sim replay`, under the `sim` group's subcommands."""
    find = sim.add_parser("search", help="random fault schedules until an invariant breaks; shrink and save it")
    find.add_argument("--seeds", type=int, default=200, help="how many seeds to try")
    find.add_argument("--first-seed", type=int, default=1)
    find.add_argument("--n", default="4..10", help="validator counts, 4..10 or 4,7 (each seed draws one)")
    find.add_argument("--mutation", choices=MUTATIONS, help="weaken every replica (test only); the search must "
                                                          "find the agreement violation")
    find.add_argument("--keep-going", action="store_true", help="run every seed, list every failing one")
    find.add_argument("--no-shrink", action="store_true", help="save the failing schedule as drawn")
    add_out_option(find, "save the (shrunk) failing schedule here (default sim-failure-seedS.json)")
    add_json_option(find)
    find.set_defaults(func=cmd_sim_search)
    replay = sim.add_parser("replay", help="run a saved schedule again (from sim search)")
    replay.add_argument("file", help="a schedule file written by sim search")
    add_out_option(replay, "write the run's JSON report here")
    replay.set_defaults(func=cmd_sim_replay)

