"""SVG charts for the simulator's and the benchmarks' reports: time series
in panels that share one time axis, with ticks, units and the faults marked
where they start and heal, the same panels against offered load (latency
and throughput of the bench's open loop), lines over a value axis with a
legend (a sweep's figures against n), and horizontal bar charts on a value
axis.

Drawn by hand rather than with matplotlib, on purpose. The simulator
promises the same file for the same seed, and this code writes the same
bytes for the same figures on any machine (matplotlib's SVG carries
generated ids and metadata and changes with its version and fonts); tests
can read the result as XML; and the project, its tests and a fresh
checkout need no plotting library (matplotlib and its numpy would triple
the install for a handful of line charts). What is given up is polish
(text widths are estimated, there is no legend box); the charts are meant
to be read, not published.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Sequence

from netsim.axes import LogTicks, Ticks, log_ticks, nice_ticks

WIDTH = 760
PANEL_HEIGHT = 270
LEFT, RIGHT = 84, 28           # plot area inside a panel: margins in px
PLOT_TOP, PLOT_BOTTOM = 54, 52  # room above for the panel title and fault labels, below for the x axis
TITLE_HEIGHT = 34
LABEL_ROWS = (30, 43)          # baselines of fault labels, from the panel's top
CHAR_WIDTH_PER_PX = 0.58       # a sans-serif character's width, per px of font size (an estimate)
FONT = 'font-family="sans-serif"'
HALO = ' stroke="white" stroke-width="3" paint-order="stroke"'  # keeps a label readable over the lines
FAULT_COLOUR, HEAL_COLOUR, EVENT_COLOUR = "#d62728", "#2ca02c", "#7f7f7f"
PHASE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


@dataclass(frozen=True, slots=True)
class Series:
    points: list[tuple[float, float]]
    colour: str = "#1f77b4"
    dots: bool = False
    dash: str = ""  # an SVG stroke-dasharray for a line ("4 3"); solid when empty


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    y_title: str
    series: tuple[Series, ...]


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault on the time axis: a solid line where it starts, a dashed one
    where it heals (none when `end_s` is None: it lasts to the end)."""

    start_s: float
    end_s: float | None
    label: str
    end_label: str = ""
    colour: str = FAULT_COLOUR


@dataclass(frozen=True, slots=True)
class Event:
    """Something that is not a fault but explains the curves (the load stopping)."""

    at_s: float
    label: str


@dataclass(frozen=True, slots=True)
class Frame:
    """A panel's plot area in px and the values its axes span (either axis
    linear or logarithmic, as its ticks are)."""

    left: float
    top: float
    width: float
    height: float
    x: Ticks | LogTicks
    y: Ticks | LogTicks

    def px(self, x: float) -> float:
        return self.left + self.x.fraction(x) * self.width

    def py(self, y: float) -> float:
        return self.top + self.height - self.y.fraction(y) * self.height

    @property
    def bottom(self) -> float:
        return self.top + self.height


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "start", css: str = "",
          extra: str = "") -> str:
    css_attribute = f' class="{css}"' if css else ""
    return (f'<text{css_attribute} x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT}'
            f'{extra}>{escape(text)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, css: str = "", extra: str = "") -> str:
    css_attribute = f' class="{css}"' if css else ""
    return (f'<line{css_attribute} x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}"{extra}/>')


def text_width(text: str, size: int) -> float:
    return len(text) * size * CHAR_WIDTH_PER_PX


def _x_axis(frame: Frame, title: str) -> list[str]:
    parts = []
    for value, label in zip(frame.x.values, frame.x.labels):
        x = frame.px(value)
        parts.append(_line(x, frame.top, x, frame.bottom, "#e6e6e6"))
        parts.append(_line(x, frame.bottom, x, frame.bottom + 5, "#444"))
        parts.append(_text(x, frame.bottom + 17, label, 10, "middle", "x-tick"))
    parts.append(_line(frame.left, frame.bottom, frame.left + frame.width, frame.bottom, "#444"))
    parts.append(_text(frame.left + frame.width / 2, frame.bottom + 36, title, 11, "middle", "x-title"))
    return parts


def _y_axis(frame: Frame, title: str) -> list[str]:
    parts = []
    for value, label in zip(frame.y.values, frame.y.labels):
        y = frame.py(value)
        parts.append(_line(frame.left, y, frame.left + frame.width, y, "#e6e6e6"))
        parts.append(_line(frame.left - 5, y, frame.left, y, "#444"))
        parts.append(_text(frame.left - 8, y + 3.5, label, 10, "end", "y-tick"))
    parts.append(_line(frame.left, frame.top, frame.left, frame.bottom, "#444"))
    middle = frame.top + frame.height / 2
    parts.append(_text(frame.left - 62, middle, title, 11, "middle", "y-title",
                       f' transform="rotate(-90 {frame.left - 62:.1f} {middle:.1f})"'))
    return parts


def _series(frame: Frame, series: Series) -> str:
    coords = [(frame.px(x), frame.py(y)) for x, y in series.points]
    if not coords:
        return ""
    if series.dots:
        return "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.6" fill="{series.colour}"/>' for x, y in coords)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    return f'<polyline fill="none" stroke="{series.colour}" stroke-width="1.8"{dash} points="{path}"/>'


class LabelRows:
    """Places short labels in a few rows above a panel, each where it does not
    overlap the one before it in that row; a label with no room is left out
    (its line is still drawn)."""

    def __init__(self, panel_top: float, right_edge: float, size: int = 10) -> None:
        self.baselines = [panel_top + row for row in LABEL_ROWS]
        self.ends = [float("-inf")] * len(LABEL_ROWS)
        self.right_edge, self.size = right_edge, size

    def place(self, x: float, text: str, css: str) -> str:
        width = text_width(text, self.size)
        start, anchor = (x + 3, "start") if x + 3 + width <= self.right_edge else (x - 3 - width, "end")
        for row, baseline in enumerate(self.baselines):
            if start >= self.ends[row] + 6:
                self.ends[row] = start + width
                return _text(x + 3 if anchor == "start" else x - 3, baseline, text, self.size, anchor, css, HALO)
        return ""


def _markers(frame: Frame, faults: list[Fault], events: list[Event], labels: LabelRows | None) -> tuple[str, str]:
    """(shading, drawn under the data; lines and labels, drawn over it)."""
    shading, lines = [], []
    line_top = frame.top if labels is None else labels.baselines[0] - 10
    marks: list[tuple[float, int, str, str, str, str]] = []  # (x value, order, css, colour, dash, label)
    for number, fault in enumerate(faults):
        end = frame.x.high if fault.end_s is None else fault.end_s
        x1, x2 = frame.px(fault.start_s), frame.px(end)
        shading.append(f'<rect x="{x1:.1f}" y="{frame.top:.1f}" width="{max(1.0, x2 - x1):.1f}" '
                       f'height="{frame.height:.1f}" fill="{fault.colour}" fill-opacity="0.10"/>')
        marks.append((fault.start_s, 2 * number, "fault-start", fault.colour, "", fault.label))
        if fault.end_s is not None:
            marks.append((fault.end_s, 2 * number + 1, "fault-end", HEAL_COLOUR, "4 3", fault.end_label))
    marks += [(event.at_s, 2 * len(faults) + i, "event", EVENT_COLOUR, "2 3", event.label)
              for i, event in enumerate(events)]
    for at, _, css, colour, dash, label in sorted(marks):
        x = frame.px(at)
        lines.append(_line(x, line_top, x, frame.bottom, colour, css,
                           ' stroke-width="1.2"' + (f' stroke-dasharray="{dash}"' if dash else "")))
        if labels is not None and label:
            lines.append(labels.place(x, label, css + "-label"))
    return "".join(shading), "".join(lines)


def staircase(points: list[tuple[float, float]], start_s: float = 0.0) -> list[tuple[float, float]]:
    """Points (end of an interval, value over it) as a step line: each value
    held flat from the previous point (or `start_s`) to its own."""
    steps, previous = [], start_s
    for x, y in points:
        steps += [(previous, y), (x, y)]
        previous = x
    return steps


def time_figure(title: str, panels: Sequence[Panel], x_title: str, x_end_s: float | None = None,
                faults: Sequence[Fault] = (), events: Sequence[Event] = ()) -> str:
    """Panels stacked on one time axis: every panel gets the same x ticks
    (0 through the last point, fault or `x_end_s`, rounded up to a tick).
    The axis may hold any non-negative quantity named by `x_title` (the
    offered load of `write_load_plot`)."""
    xs = [x for panel in panels for series in panel.series for x, _ in series.points]
    xs += [x for fault in faults for x in (fault.start_s, fault.end_s) if x is not None]
    xs += [event.at_s for event in events] + ([x_end_s] if x_end_s is not None else [])
    x_ticks = nice_ticks(min(0.0, *xs) if xs else 0.0, max(xs, default=1.0) or 1.0)
    height = TITLE_HEIGHT + PANEL_HEIGHT * len(panels)
    parts = [_text(16, 22, title, 14, css="figure-title", extra=' font-weight="bold"')]
    for number, panel in enumerate(panels):
        top = TITLE_HEIGHT + PANEL_HEIGHT * number
        ys = [y for series in panel.series for _, y in series.points]
        y_ticks = nice_ticks(min(0.0, *ys) if ys else 0.0, max(ys, default=1.0) or 1.0)
        frame = Frame(LEFT, top + PLOT_TOP, WIDTH - LEFT - RIGHT, PANEL_HEIGHT - PLOT_TOP - PLOT_BOTTOM,
                      x_ticks, y_ticks)
        labels = LabelRows(top, WIDTH - 4) if number == 0 else None
        shading, marks = _markers(frame, list(faults), list(events), labels)
        parts.append(f'<g class="panel">{_text(LEFT, top + 14, panel.title, 12, css="panel-title")}'
                     f'{shading}{"".join(_x_axis(frame, x_title))}{"".join(_y_axis(frame, panel.y_title))}'
                     f'{"".join(_series(frame, s) for s in panel.series)}{marks}</g>')
    return _svg(height, "".join(parts))


LEGEND_ROW, LEGEND_SWATCH = 16, 22


def _legend(entries: Sequence[tuple[str, str, str]], top: float) -> tuple[str, float]:
    """(colour, dash, label) entries in rows across the figure: (svg, height)."""
    parts, x, y = [], 16.0, top + LEGEND_ROW / 2
    for colour, dash, label in entries:
        width = LEGEND_SWATCH + 6 + text_width(label, 11) + 18
        if x + width > WIDTH - 8 and x > 16:
            x, y = 16.0, y + LEGEND_ROW
        extra = ' stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "")
        parts.append(_line(x, y, x + LEGEND_SWATCH, y, colour, "legend-swatch", extra))
        parts.append(_text(x + LEGEND_SWATCH + 6, y + 4, label, 11, css="legend-label"))
        x += width
    height = (y - top + LEGEND_ROW / 2) if entries else 0.0
    return "".join(parts), height


def xy_figure(title: str, panels: Sequence[Panel], x_title: str,
              legend: Sequence[tuple[str, str, str]] = (), x_whole: bool = False,
              x_log: bool = False, y_log: bool = False) -> str:
    """Panels stacked top to bottom on one value x axis (the data's range,
    not from 0; with `x_whole`, ticks on whole numbers only), y from 0; each
    series drawn as a line with a dot at each point; one legend of
    (colour, dash, label) under the title. With `x_log` or `y_log` that axis
    is logarithmic (powers of ten around the data, which must be positive)."""
    xs = [x for panel in panels for series in panel.series for x, _ in series.points]
    x_ticks: Ticks | LogTicks = nice_ticks(min(xs, default=0.0), max(xs, default=1.0))
    if x_log:
        x_ticks = log_ticks(min(xs, default=1.0), max(xs, default=10.0))
    elif x_whole and x_ticks.exponent < 0:  # steps below 1: a tick on every whole number instead
        low, high = math.floor(min(xs, default=0.0)), math.ceil(max(xs, default=1.0))
        x_ticks = Ticks(low - 1, high + 1, 1, 0) if low == high else Ticks(low, high, 1, 0)
    legend_svg, legend_height = _legend(legend, TITLE_HEIGHT)
    top = TITLE_HEIGHT + legend_height
    parts = [_text(16, 22, title, 14, css="figure-title", extra=' font-weight="bold"'), legend_svg]
    for number, panel in enumerate(panels):
        panel_top = top + PANEL_HEIGHT * number
        ys = [y for series in panel.series for _, y in series.points]
        y_ticks = (log_ticks(min(ys, default=1.0), max(ys, default=10.0)) if y_log else
                   nice_ticks(min(0.0, *ys) if ys else 0.0, max(ys, default=1.0) or 1.0))
        frame = Frame(LEFT, panel_top + PLOT_TOP - 20, WIDTH - LEFT - RIGHT,
                      PANEL_HEIGHT - PLOT_TOP + 20 - PLOT_BOTTOM, x_ticks, y_ticks)
        drawn = [_series(frame, s) + _series(frame, Series(s.points, s.colour, dots=True)) for s in panel.series]
        parts.append(f'<g class="panel">{_text(LEFT, panel_top + 14, panel.title, 12, css="panel-title")}'
                     f'{"".join(_x_axis(frame, x_title))}{"".join(_y_axis(frame, panel.y_title))}'
                     f'{"".join(drawn)}</g>')
    return _svg(top + PANEL_HEIGHT * len(panels), "".join(parts))


def _svg(height: float, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}"><rect width="100%" height="100%" fill="white"/>{body}</svg>\n')


def write_bench_plot(result: dict, path: Path,
                     latency_title: str = "latency per batch, submit to committed receipt",
                     title: str | None = None) -> Path:
    """Committed tx/s over time (each value over the interval that ends at its
    point) above per-submission latency, on one time axis."""
    throughput = staircase([(float(t), float(rate)) for t, rate in result.get("timeline", [])])
    latency = [(float(t), float(ms)) for t, ms in result.get("samples", [])]
    title = title or (f"{result['nodes']} nodes: {result['tps']:,} tx/s, p50 {result['p50_ms']} ms, "
                      f"p99 {result['p99_ms']} ms")
    panels = [Panel("committed transactions per second", "throughput (tx/s)", (Series(throughput, "#1f77b4"),)),
              Panel(latency_title, "latency (ms)", (Series(latency, "#d62728", dots=True),))]
    Path(path).write_text(time_figure(title, panels, "time since the load started (s)"))
    return Path(path)


LOAD_COLOURS = {"p50": "#1f77b4", "p99": "#d62728", "achieved": "#1f77b4", "offered": "#7f7f7f"}


def _line_with_dots(points: list[tuple[float, float]], colour: str) -> tuple[Series, Series]:
    return Series(points, colour), Series(points, colour, dots=True)


def write_load_plot(result: dict, path: Path) -> Path:
    """The bench's open loop at several offered rates (`result["runs"]`):
    p50 and p99 latency against offered load above the achieved rate
    against it (with the offered rate itself as the line it would follow
    if every arrival committed), one point per rate."""
    runs = sorted(result["runs"], key=lambda run: run["offered_tps"])
    offered = [float(run["offered_tps"]) for run in runs]

    def curve(key: str) -> list[tuple[float, float]]:
        return [(x, float(run[key])) for x, run in zip(offered, runs)]

    bound = result.get("verify_bound", {}).get("verify_bound_tps")
    title = (f"{result['nodes']} nodes, open loop: latency and throughput against offered load"
             + (f" (Ed25519 bound {bound:,} tx/s)" if bound else ""))
    panels = [
        Panel("latency, arrival to committed receipt: p50 (blue), p99 (red)", "latency (ms)",
              (*_line_with_dots(curve("p50_ms"), LOAD_COLOURS["p50"]),
               *_line_with_dots(curve("p99_ms"), LOAD_COLOURS["p99"]))),
        Panel("committed tx/s: achieved (blue), offered (grey)", "throughput (tx/s)",
              (Series([(x, x) for x in offered], LOAD_COLOURS["offered"]),
               *_line_with_dots(curve("achieved_tps"), LOAD_COLOURS["achieved"]))),
    ]
    Path(path).write_text(time_figure(title, panels, "offered load (tx/s)"))
    return Path(path)


def write_timeline_plot(title: str, timeline: list[tuple[float, float]], faults: Sequence[Fault], y_title: str,
                        path: Path, x_title: str = "time since the load started (s)") -> Path:
    """One panel of `timeline` (end of each interval in s, value over it) with the faults marked."""
    series = Series(staircase([(float(t), float(v)) for t, v in timeline]))
    Path(path).write_text(time_figure(title, [Panel("", y_title, (series,))], x_title, faults=faults))
    return Path(path)


# ------------------------------------------------------------------------- bars

Group = tuple[str, list[tuple[str, float]]]  # (configuration, [(phase, value)])
BARS_LEFT, BARS_RIGHT, BAR_ROW, AXIS_HEIGHT = 260, WIDTH - 110, 20, 46


@dataclass(slots=True)
class BarPanel:
    """Horizontal bars on one value axis from 0; rows are added top to bottom."""

    axis: Ticks
    unit: str
    decimals: int = 1
    parts: list[str] = field(default_factory=list)
    y: float = 0.0

    def scale(self, value: float) -> float:
        return (BARS_RIGHT - BARS_LEFT) * max(0.0, value) / self.axis.high

    def heading(self, text: str) -> None:
        self.parts.append(_text(16, self.y + 14, text, 12, extra=' font-weight="bold"'))
        self.y += BAR_ROW

    def bar(self, label: str, value: float, colour: str, row: float = BAR_ROW) -> None:
        width = self.scale(value)
        self.parts.append(_text(BARS_LEFT - 8, self.y + row / 2 + 4, label, 11, "end"))
        self.parts.append(f'<rect x="{BARS_LEFT}" y="{self.y + 2:.1f}" width="{max(width, 0.5):.1f}" '
                          f'height="{row - 6}" fill="{colour}"/>')
        self.parts.append(_text(BARS_LEFT + width + 6, self.y + row / 2 + 4,
                                f"{value:,.{self.decimals}f} {self.unit}", 11))
        self.y += row

    def axis_svg(self, title: str, grid_top: float) -> str:
        """The value axis under the bars, with light grid lines up to `grid_top`."""
        parts = []
        bottom = self.y + 4
        for value, label in zip(self.axis.values, self.axis.labels):
            x = BARS_LEFT + self.scale(value)
            parts.append(_line(x, grid_top, x, bottom, "#e6e6e6"))
            parts.append(_line(x, bottom, x, bottom + 5, "#444"))
            parts.append(_text(x, bottom + 17, label, 10, "middle", "x-tick"))
        parts.append(_line(BARS_LEFT, bottom, BARS_RIGHT, bottom, "#444"))
        parts.append(_text((BARS_LEFT + BARS_RIGHT) / 2, bottom + 34, title, 11, "middle", "x-title"))
        self.y = bottom + AXIS_HEIGHT - 4
        return "".join(parts)


def _bar_axis(values: list[float]) -> Ticks:
    return nice_ticks(0.0, max(values, default=1.0) or 1.0)


def write_bars(title: str, bars: list[tuple[str, float]], unit: str, path: Path, axis_title: str | None = None) -> Path:
    """One bar per (label, value) on a value axis titled `axis_title` (default: the unit)."""
    panel = BarPanel(_bar_axis([v for _, v in bars]), unit, decimals=0, y=44)
    panel.parts.append(_text(16, 26, title, 14, css="figure-title", extra=' font-weight="bold"'))
    grid_top = panel.y
    for label, value in bars:
        panel.bar(label, value, "#1f77b4", row=30)
    axis = panel.axis_svg(axis_title or unit, grid_top)
    Path(path).write_text(_svg(panel.y, axis + "".join(panel.parts)))
    return Path(path)


def _grouped_panel(title: str, groups: list[Group], unit: str, top: float, axis_title: str,
                   decimals: int = 1) -> tuple[str, float]:
    """One panel of horizontal bars, a heading per group and a bar per phase
    (the same colour for the same phase in every group); (svg, height)."""
    phases = list(dict.fromkeys(phase for _, bars in groups for phase, _ in bars))
    panel = BarPanel(_bar_axis([v for _, bars in groups for _, v in bars]), unit, decimals, y=top + 40)
    panel.parts.append(_text(16, top + 26, title, 14, css="panel-title"))
    grid_top = panel.y
    for label, bars in groups:
        panel.heading(label)
        for phase, value in bars:
            panel.bar(phase, value, PHASE_COLOURS[phases.index(phase) % len(PHASE_COLOURS)])
        panel.y += 6
    axis = panel.axis_svg(axis_title, grid_top)
    return axis + "".join(panel.parts), panel.y - top


def write_grouped_bars(panels: list[tuple[str, list[Group], str]], path: Path, axis_title: str | None = None,
                       decimals: int = 1) -> Path:
    """Panels stacked top to bottom, each (title, groups, unit) on its own
    value axis: so milliseconds and seconds can share one file."""
    parts, height = [], 0.0
    for title, groups, unit in panels:
        svg, panel_height = _grouped_panel(title, groups, unit, height, axis_title or unit, decimals)
        parts.append(svg)
        height += panel_height
    Path(path).write_text(_svg(height + 10, "".join(parts)))
    return Path(path)
