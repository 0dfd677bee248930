"""A sweep's records, summed up: one row per grid cell (runs, runs that
broke an invariant, throughput and latency across its seeds), a PASS/FAIL
verdict with the replay command of the first failures, and three SVG
figures (throughput and latency against n, one line per network; runs that
broke an invariant per cell).

It reads only the records (a sweep's JSONL), so a summary can be redrawn
from a file. Across a cell's seeds it reports medians and extremes of each
run's own figures; a run's latency percentiles are over its requests.
Medians are the lower middle value, so every figure is one a run produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from netsim.plot import PHASE_COLOURS, Panel, Series, write_grouped_bars, xy_figure
from netsim.report import replay_command

FAILURES_SHOWN = 5
PLOT_SCENARIOS_MAX = 8
BARS_MAX = 60


def latency_label(latency: list) -> str:
    kind, a_us, b_us = latency
    if kind == "constant":
        return f"constant {a_us / 1000:g} ms"
    if kind == "uniform":
        return f"uniform {a_us / 1000:g}-{b_us / 1000:g} ms"
    return f"lognormal {a_us / 1000:g} ms s{b_us / 1_000_000:g}"


def network_label(record: dict) -> str:
    """The cell's network: its latency model, and its region matrix if any."""
    regions = record.get("regions")
    return latency_label(record["latency"]) + (f" + {regions}" if regions else "")


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True, slots=True)
class CellSummary:
    nodes: int
    scenario: str
    network: str
    runs: int
    failed: int
    tps_median: float
    tps_min: float
    p50_ms_median: float
    p99_ms_median: float
    p99_ms_max: float
    view_changes_max: int


def summarise(records: list[dict]) -> list[CellSummary]:
    """One summary per cell, in the records' (the grid's) order."""
    cells: dict[int, list[dict]] = {}
    for r in records:
        cells.setdefault(r["cell"], []).append(r)
    summaries = []
    for runs in cells.values():
        first, tps = runs[0], [r["throughput_tps"] for r in runs]
        summaries.append(CellSummary(
            first["nodes"], first["scenario"], network_label(first), len(runs),
            sum(1 for r in runs if r["violations"]), _median(tps), min(tps),
            _median([r["latency_ms"]["p50"] for r in runs]), _median([r["latency_ms"]["p99"] for r in runs]),
            max(r["latency_ms"]["p99"] for r in runs), max(r["view_changes"] for r in runs)))
    return summaries


COLUMNS = (("n", "nodes", "{}"), ("scenario", "scenario", "{}"), ("network", "network", "{}"),
           ("runs", "runs", "{:,}"), ("failed", "failed", "{:,}"), ("tx/s med", "tps_median", "{:,.1f}"),
           ("tx/s min", "tps_min", "{:,.1f}"), ("p50 ms", "p50_ms_median", "{:,.1f}"),
           ("p99 ms", "p99_ms_median", "{:,.1f}"), ("p99 max", "p99_ms_max", "{:,.1f}"),
           ("views max", "view_changes_max", "{}"))
TEXT_COLUMNS = ("scenario", "network")


def table(summaries: list[CellSummary]) -> str:
    """The summaries as aligned text: text columns to the left, numbers to the right."""
    rows = [[heading for heading, _, _ in COLUMNS]]
    rows += [[form.format(getattr(s, field)) for _, field, form in COLUMNS] for s in summaries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for row in rows:
        cells = [text.ljust(width) if field in TEXT_COLUMNS else text.rjust(width)
                 for text, width, (_, field, _) in zip(row, widths, COLUMNS)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def verdict(records: list[dict]) -> str:
    """PASS when every invariant held in every run; else FAIL, the first
    failures and how to replay each."""
    failures = [r for r in records if r["violations"]]
    if not failures:
        return f"PASS: every invariant held in all {len(records):,} runs"
    lines = [f"FAIL: {len(failures):,} of {len(records):,} runs broke an invariant"]
    for r in failures[:FAILURES_SHOWN]:
        lines.append(f"  seed={r['seed']} n={r['nodes']} {r['scenario']}: {r['violations'][0]}")
        lines.append(f"    reproduce with: {replay_command(r)}")
    if len(failures) > FAILURES_SHOWN:
        lines.append(f"  ... and {len(failures) - FAILURES_SHOWN:,} more in the JSONL (\"violations\" not empty)")
    return "\n".join(lines)


def _against_n(summaries: list[CellSummary], title: str, figure: tuple[tuple[str, str, str], ...],
               y_title: str) -> str:
    """Per scenario a panel: x = n, a line per (network, figure field)."""
    networks = list(dict.fromkeys(s.network for s in summaries))
    scenarios = list(dict.fromkeys(s.scenario for s in summaries))
    shown = scenarios[:PLOT_SCENARIOS_MAX]
    colours = {network: PHASE_COLOURS[i % len(PHASE_COLOURS)] for i, network in enumerate(networks)}
    panels = []
    for scenario in shown:
        series = []
        for network in networks:
            cells = sorted((s for s in summaries if s.scenario == scenario and s.network == network),
                           key=lambda s: s.nodes)
            for field, dash, _ in figure:
                series.append(Series([(float(s.nodes), float(getattr(s, field))) for s in cells],
                                     colours[network], dash=dash))
        panels.append(Panel(f"scenario {scenario}", y_title, tuple(series)))
    legend = [(colours[network], dash, f"{network}{suffix}") for network in networks for _, dash, suffix in figure]
    if len(scenarios) > len(shown):
        title += f" (first {len(shown)} of {len(scenarios)} scenarios)"
    return xy_figure(title, panels, "validators (n)", legend, x_whole=True)


def write_plots(summaries: list[CellSummary], folder: Path) -> list[Path]:
    """throughput.svg, latency.svg and violations.svg in `folder`."""
    folder = Path(folder)
    runs = sum(s.runs for s in summaries)
    throughput = folder / "throughput.svg"
    throughput.write_text(_against_n(summaries, f"throughput against n, median over seeds ({runs:,} runs)",
                                     (("tps_median", "", ""),), "throughput (tx/s)"))
    latency = folder / "latency.svg"
    latency.write_text(_against_n(summaries, "latency against n, median over seeds of each run's p50 and p99",
                                  (("p50_ms_median", "", " p50"), ("p99_ms_median", "5 3", " p99")),
                                  "latency (ms)"))
    violations = write_grouped_bars([_violation_bars(summaries)], folder / "violations.svg",
                                    "runs that broke an invariant", decimals=0)
    return [throughput, latency, violations]


def _violation_bars(summaries: list[CellSummary]) -> tuple[str, list, str]:
    """A group per (scenario, network), a bar per n; past BARS_MAX cells,
    only the cells where some run failed."""
    runs, failed = sum(s.runs for s in summaries), sum(s.failed for s in summaries)
    shown = summaries if len(summaries) <= BARS_MAX else [s for s in summaries if s.failed][:BARS_MAX]
    groups: dict[str, list[tuple[str, float]]] = {}
    for s in shown:
        groups.setdefault(f"{s.scenario}, {s.network}", []).append((f"n={s.nodes}", float(s.failed)))
    title = (f"runs that broke an invariant, per cell: {failed:,} of {runs:,}" if failed
             else f"no invariant broken in {runs:,} runs")
    if len(shown) < len(summaries):
        title += f" ({len(shown)} of {len(summaries)} cells shown)"
    return title, list(groups.items()), "runs"
