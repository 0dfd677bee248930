"""What `consort sim run` and `consort sim sweep` share: the drain (the
last simulated seconds of a run carry no new requests, so the last ones can
commit before liveness is judged), checked in the command line's words, and
the help of the options both take."""

from __future__ import annotations

from netsim.regions import BUILT_IN
from node.cli.shared import UsageError

MBIT_BYTES_PER_S = 125_000
DRAIN_S_DEFAULT = 5
DURATION_HELP = ("simulated seconds: load for all but the last --drain-s of them, then a drain with no new "
                 "requests in which the last ones must commit")
DRAIN_HELP = (f"simulated seconds at the end that carry no load (default {DRAIN_S_DEFAULT}, or duration - 1 "
              "if shorter; at least 1): liveness is judged at their end")
REGIONS_HELP = (f"place the nodes in regions: a built-in matrix ({', '.join(BUILT_IN)}) or a JSON file of one-way "
                "delays between regions and per-node bandwidth (README, netsim/regions.py)")


def drain_s(duration_s: int, drain: int | None) -> int:
    """The drain for a run of `duration_s`, checked in the command line's words."""
    if drain is None:
        if duration_s < 2:
            raise UsageError(f"--duration {duration_s} is too short: a run is at least 1 simulated second of load, "
                             "then a drain of at least 1 s (--drain-s) with no new requests, in which the last "
                             "ones must commit; give --duration 2 or more")
        return min(DRAIN_S_DEFAULT, duration_s - 1)
    if drain < 1:
        raise UsageError(f"--drain-s {drain}: the drain must be at least 1 simulated second, or no request sent "
                         "near the end could commit before liveness is judged")
    if duration_s <= drain:
        raise UsageError(f"--duration {duration_s} leaves no time for load before the {drain} s drain "
                         f"(--drain-s): give a --duration greater than {drain}")
    return drain
