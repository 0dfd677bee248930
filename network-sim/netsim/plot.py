"""Tiny dependency-free SVG charts for benchmark and simulator reports."""

from __future__ import annotations

from pathlib import Path

WIDTH, HEIGHT, MARGIN = 720, 260, 64


def _polyline(points: list[tuple[float, float]], x_max: float, y_max: float, top: float,
              colour: str, dots: bool = False) -> str:
    if not points:
        return ""
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN
    coords = [(MARGIN + x / (x_max or 1) * inner_w, top + HEIGHT - MARGIN - y / (y_max or 1) * inner_h)
              for x, y in points]
    if dots:
        return "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="{colour}"/>' for x, y in coords)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'


def _panel(title: str, points: list, top: float, colour: str, unit: str, dots: bool = False) -> str:
    x_max = max((x for x, _ in points), default=1.0)
    y_max = max((y for _, y in points), default=1.0) * 1.1 or 1.0
    axes = (f'<line x1="{MARGIN}" y1="{top + HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{top + HEIGHT - MARGIN}" stroke="#444"/>'
            f'<line x1="{MARGIN}" y1="{top + MARGIN}" x2="{MARGIN}" y2="{top + HEIGHT - MARGIN}" stroke="#444"/>')
    labels = (f'<text x="{MARGIN}" y="{top + MARGIN - 12}" font-size="14" font-family="sans-serif">{title}</text>'
              f'<text x="{MARGIN - 4}" y="{top + MARGIN + 4}" font-size="10" text-anchor="end" font-family="sans-serif">{y_max:.0f} {unit}</text>'
              f'<text x="{MARGIN - 4}" y="{top + HEIGHT - MARGIN}" font-size="10" text-anchor="end" font-family="sans-serif">0</text>'
              f'<text x="{WIDTH - MARGIN}" y="{top + HEIGHT - MARGIN + 16}" font-size="10" text-anchor="end" font-family="sans-serif">{x_max:.1f} s</text>')
    return axes + labels + _polyline(points, x_max, y_max, top, colour, dots)


def write_bench_plot(result: dict, path: Path, latency_title: str = "submit-to-commit latency per batch") -> Path:
    """Committed tx/s per second and per-submission latency over time."""
    throughput = [(float(t), float(rate)) for t, rate in result.get("timeline", [])]
    latency = [(float(t), float(ms)) for t, ms in result.get("samples", [])]
    title = (f"{result['nodes']} nodes: {result['tps']} tx/s, p50 {result['p50_ms']} ms, "
             f"p99 {result['p99_ms']} ms")
    body = (_panel(f"committed tx/s — {title}", throughput, 0, "#1f77b4", "tx/s")
            + _panel(latency_title, latency, HEIGHT, "#d62728", "ms", dots=True))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{2 * HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {2 * HEIGHT}"><rect width="100%" height="100%" fill="white"/>{body}</svg>\n')
    Path(path).write_text(svg)
    return Path(path)


def write_bars(title: str, bars: list[tuple[str, float]], unit: str, path: Path) -> Path:
    """A horizontal bar chart: one bar per (label, value)."""
    height = 60 + 34 * len(bars)
    peak = max((v for _, v in bars), default=1.0) or 1.0
    left, right = 260, WIDTH - 90
    parts = [f'<text x="16" y="28" font-size="15" font-family="sans-serif">{title}</text>']
    for i, (label, value) in enumerate(bars):
        y = 50 + 34 * i
        width = (right - left) * value / peak
        parts.append(f'<text x="{left - 8}" y="{y + 16}" font-size="12" text-anchor="end" '
                     f'font-family="sans-serif">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{width:.1f}" height="22" fill="#1f77b4"/>')
        parts.append(f'<text x="{left + width + 6:.1f}" y="{y + 16}" font-size="12" '
                     f'font-family="sans-serif">{value:,.0f} {unit}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}"><rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n')
    Path(path).write_text(svg)
    return Path(path)


def write_timeline_plot(title: str, timeline: list[tuple[float, float]], marks: list[tuple[float, float, str]],
                        unit: str, path: Path) -> Path:
    """One panel of `timeline` (seconds, value) with shaded spans (start s,
    end s, colour) for events, such as a node being down."""
    points = list(timeline) or [(1.0, 0.0)]
    x_max = max(t for t, _ in points) or 1.0
    inner_w = WIDTH - 2 * MARGIN
    spans = "".join(
        f'<rect x="{MARGIN + min(start, x_max) / x_max * inner_w:.1f}" y="{MARGIN}" '
        f'width="{max(1.0, (min(end, x_max) - min(start, x_max)) / x_max * inner_w):.1f}" '
        f'height="{HEIGHT - 2 * MARGIN}" fill="{colour}" fill-opacity="0.25"/>' for start, end, colour in marks)
    body = spans + _panel(title, points, 0, "#1f77b4", unit)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}"><rect width="100%" height="100%" fill="white"/>{body}</svg>\n')
    Path(path).write_text(svg)
    return Path(path)


PHASE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
Group = tuple[str, list[tuple[str, float]]]  # (configuration, [(phase, value)])


def _grouped_panel(title: str, groups: list[Group], unit: str, top: float) -> tuple[str, float]:
    """One panel of horizontal bars, a heading per group and a bar per phase
    (the same colour for the same phase in every group); (svg, height)."""
    phases = list(dict.fromkeys(phase for _, bars in groups for phase, _ in bars))
    peak = max((v for _, bars in groups for _, v in bars), default=1.0) or 1.0
    left, right, row = 260, WIDTH - 110, 20
    parts = [f'<text x="16" y="{top + 26}" font-size="15" font-family="sans-serif">{title}</text>']
    y = top + 40
    for label, bars in groups:
        parts.append(f'<text x="16" y="{y + 14}" font-size="12" font-weight="bold" '
                     f'font-family="sans-serif">{label}</text>')
        y += row
        for phase, value in bars:
            width = (right - left) * value / peak
            colour = PHASE_COLOURS[phases.index(phase) % len(PHASE_COLOURS)]
            parts.append(f'<text x="{left - 8}" y="{y + 13}" font-size="11" text-anchor="end" '
                         f'font-family="sans-serif">{phase}</text>')
            parts.append(f'<rect x="{left}" y="{y + 2}" width="{max(width, 0.5):.1f}" height="{row - 6}" '
                         f'fill="{colour}"/>')
            parts.append(f'<text x="{left + width + 6:.1f}" y="{y + 13}" font-size="11" '
                         f'font-family="sans-serif">{value:,.1f} {unit}</text>')
            y += row
        y += 6
    return "".join(parts), y - top + 10


def write_grouped_bars(panels: list[tuple[str, list[Group], str]], path: Path) -> Path:
    """Panels stacked top to bottom, each (title, groups, unit) with its own
    scale: so milliseconds and seconds can share one file."""
    parts, height = [], 0.0
    for title, groups, unit in panels:
        svg, panel_height = _grouped_panel(title, groups, unit, height)
        parts.append(svg)
        height += panel_height
    height = int(height) + 10
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}"><rect width="100%" height="100%" fill="white"/>{"".join(parts)}</svg>\n')
    Path(path).write_text(svg)
    return Path(path)
