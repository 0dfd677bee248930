"""Latency by region: a matrix of one-way delays between named regions, each
node placed in a region, and each node's uplink bandwidth (by its region).

A RegionMatrix is a netsim.network.Topology: the delay between two nodes
is the matrix entry for their regions (a fixed propagation delay, on top of
which the run's latency model still draws its variable part), and a node's
copies of a message queue on its uplink, each taking size / bandwidth to
serialise. The receiving side's bandwidth is not modelled.

Nodes are placed by address: the matrix's `placement` names the region of
the first addresses, and any address beyond it (a larger n, or the joining
node of a reconfiguration) goes round-robin over the regions in order. So
with no placement, n = 7 over four regions puts 2, 2, 2 and 1 nodes there.

A matrix is built in (BUILT_IN, by name) or read from a JSON file:

    {"regions": ["frankfurt", "munich", "berlin", "new-york"],
     "one_way_ms": [[0.25, 3.5, 5, 40], [3.5, 0.25, 5, 45], [5, 5, 0.25, 45], [40, 45, 45, 0.25]],
     "bandwidth_mbit": {"frankfurt": 1000, "munich": 1000, "berlin": 1000, "new-york": 200},
     "placement": ["frankfurt", "new-york"]}

`one_way_ms[i][j]` is the delay from region i to region j (it may differ
from j to i); the diagonal is the delay between two nodes of one region.
`bandwidth_mbit` is one number for every node or a number per region
(0: unlimited); `placement` is optional. Pure: reading the file is the
only I/O, in `load_regions`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from netsim.network import SettingsError

REGIONS_MAX = 64
ONE_WAY_MS_MAX = 10_000
BANDWIDTH_MBIT_MAX = 1_000_000
PLACEMENT_MAX = 10_000
FILE_BYTES_MAX = 1 << 20
BYTES_PER_S_PER_MBIT = 125_000
US_PER_MS = 1000


@dataclass(frozen=True, slots=True)
class RegionMatrix:
    name: str
    regions: tuple[str, ...]
    one_way_us: tuple[tuple[int, ...], ...]
    bandwidth_bytes_per_s: tuple[int, ...]  # per region; 0 means unlimited
    placement: tuple[int, ...] = ()  # region index of the first addresses

    def __post_init__(self) -> None:
        _check_names(self.regions, self.name)
        count = len(self.regions)
        problems = (
            (len(self.one_way_us) != count or any(len(row) != count for row in self.one_way_us),
             f"one_way_ms must be {count} rows of {count} delays, one per region"),
            (any(not 0 <= d <= ONE_WAY_MS_MAX * US_PER_MS for row in self.one_way_us for d in row),
             f"one-way delays must be between 0 and {ONE_WAY_MS_MAX} ms"),
            (len(self.bandwidth_bytes_per_s) != count or
             any(not 0 <= b <= BANDWIDTH_MBIT_MAX * BYTES_PER_S_PER_MBIT for b in self.bandwidth_bytes_per_s),
             f"bandwidth must be between 0 and {BANDWIDTH_MBIT_MAX} Mbit/s for each region"),
            (len(self.placement) > PLACEMENT_MAX or any(not 0 <= r < count for r in self.placement),
             f"placement must name at most {PLACEMENT_MAX} nodes' regions"),
        )
        for failed, what in problems:
            if failed:
                raise SettingsError(f"region matrix {self.name!r}: {what}")

    def region_of(self, node: int) -> int:
        if node < len(self.placement):
            return self.placement[node]
        return (node - len(self.placement)) % len(self.regions)

    def propagation_us(self, src: int, dst: int) -> int:
        return self.one_way_us[self.region_of(src)][self.region_of(dst)]

    def uplink_bytes_per_s(self, node: int) -> int:
        return self.bandwidth_bytes_per_s[self.region_of(node)]

    def nodes_per_region(self, nodes: int) -> dict[str, int]:
        counts = {region: 0 for region in self.regions}
        for node in range(nodes):
            counts[self.regions[self.region_of(node)]] += 1
        return counts


def _check_names(regions, name: str) -> None:
    if not isinstance(regions, (list, tuple)) or not all(isinstance(r, str) and r for r in regions):
        raise SettingsError(f"region matrix {name!r}: regions must be a list of names")
    if not 1 <= len(regions) <= REGIONS_MAX:
        raise SettingsError(f"region matrix {name!r}: a region matrix needs 1 to {REGIONS_MAX} regions")
    if len(set(regions)) != len(regions):
        raise SettingsError(f"region matrix {name!r}: region names must differ")


def _ms_to_us(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise SettingsError(f"{what} must be a number of milliseconds, not {value!r}")
    if not 0 <= value <= ONE_WAY_MS_MAX:
        raise SettingsError(f"{what} must be between 0 and {ONE_WAY_MS_MAX} ms, not {value!r}")
    return round(value * US_PER_MS)


def _mbit_to_bytes_per_s(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= BANDWIDTH_MBIT_MAX:
        raise SettingsError(f"{what} must be a number of Mbit/s between 0 and {BANDWIDTH_MBIT_MAX}, not {value!r}")
    return round(value * BYTES_PER_S_PER_MBIT)


def from_json(data, name: str) -> RegionMatrix:
    """A matrix from its JSON form (the module docstring); SettingsError saying what is wrong."""
    if not isinstance(data, dict):
        raise SettingsError(f"region matrix {name!r} must be a JSON object")
    unknown = sorted(set(data) - {"regions", "one_way_ms", "bandwidth_mbit", "placement", "comment"})
    if unknown:
        raise SettingsError(f"region matrix {name!r}: unknown field {unknown[0]!r}")
    regions = data.get("regions")
    _check_names(regions, name)
    rows = data.get("one_way_ms")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise SettingsError(f"region matrix {name!r}: one_way_ms must be a list of rows")
    one_way = tuple(tuple(_ms_to_us(d, f"region matrix {name!r}: one_way_ms[{i}][{j}]") for j, d in enumerate(row))
                    for i, row in enumerate(rows))
    bandwidth = data.get("bandwidth_mbit", 0)
    if isinstance(bandwidth, dict):
        missing = [r for r in regions if r not in bandwidth] + [r for r in bandwidth if r not in regions]
        if missing:
            raise SettingsError(f"region matrix {name!r}: bandwidth_mbit must give each region, once "
                                f"({missing[0]!r} is missing or not a region)")
        per_region = tuple(_mbit_to_bytes_per_s(bandwidth[r], f"region matrix {name!r}: bandwidth_mbit[{r!r}]")
                           for r in regions)
    else:
        per_region = (_mbit_to_bytes_per_s(bandwidth, f"region matrix {name!r}: bandwidth_mbit"),) * len(regions)
    placement = data.get("placement", [])
    if not isinstance(placement, list) or not all(p in regions for p in placement):
        raise SettingsError(f"region matrix {name!r}: placement must be a list of region names")
    return RegionMatrix(name, tuple(regions), one_way, per_region,
                        tuple(regions.index(p) for p in placement))


# Three cities of one country and one overseas. Illustrative figures, not
# measurements: roughly half the round trips seen between data centres
# there, 0.25 ms inside a city, 1 Gbit/s uplinks.
DE3_NYC = from_json({
    "regions": ["frankfurt", "munich", "berlin", "new-york"],
    "one_way_ms": [[0.25, 3.5, 5, 40],
                   [3.5, 0.25, 5, 45],
                   [5, 5, 0.25, 45],
                   [40, 45, 45, 0.25]],
    "bandwidth_mbit": 1000,
}, "de3-nyc")
BUILT_IN = {DE3_NYC.name: DE3_NYC}


def load_regions(spec: str) -> RegionMatrix:
    """A built-in matrix by name, else a JSON file by path (its name is the path as given)."""
    if spec in BUILT_IN:
        return BUILT_IN[spec]
    path = Path(spec)
    if not path.is_file():
        raise SettingsError(f"regions {spec!r} is neither a built-in matrix ({', '.join(BUILT_IN)}) nor a file")
    if path.stat().st_size > FILE_BYTES_MAX:
        raise SettingsError(f"region file {spec} is larger than {FILE_BYTES_MAX} bytes")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"region file {spec} is not JSON: {exc}") from None
    return from_json(data, spec)
