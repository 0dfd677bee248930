"""The charts can be read: axis ticks on 1-2-5 steps that cover the data
(tiny, huge and zero-width ranges too), labels written exactly, and the
simulator's figure has tick labels and titles on both axes of both panels,
one time axis for both, and its faults drawn where they start and heal."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, strategies as st

from netsim.axes import log_ticks, nice_step, nice_ticks, tick_label
from netsim.plot import Fault, Panel, Series, time_figure, write_bars, write_grouped_bars, write_load_plot, xy_figure
from netsim.report import write_plot
from netsim.run import SimConfig, Simulation

SVG = "{http://www.w3.org/2000/svg}"


def mantissa_of(step: float) -> float:
    return round(step / 10 ** math.floor(math.log10(step) + 1e-9), 6)


@pytest.mark.parametrize("low, high", [
    (0, 1), (0, 12), (0, 20.3), (0, 1834.5), (0.1, 0.7), (-3, 17), (-1e-3, 1e-3),
    (0, 1e-9), (3.7e-7, 3.9e-7), (0, 7.3e12), (1e12, 1.0000001e12), (0, 1e300), (0, 7),
])
def test_ticks_are_nice_and_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    values = ticks.values
    assert values[0] <= low and values[-1] >= high
    assert 2 <= len(values) - 1 <= 8
    assert ticks.mantissa in (1, 2, 5)
    step = values[1] - values[0]
    assert mantissa_of(step) in (1, 2, 5)
    assert all(math.isclose(b - a, step, rel_tol=1e-9, abs_tol=1e-300) for a, b in zip(values, values[1:]))
    assert len(set(ticks.labels)) == len(values)


@pytest.mark.parametrize("low, high, labels", [
    (0, 12, ["0", "2", "4", "6", "8", "10", "12"]),          # 0..12 is not stretched to 15
    (0, 1, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
    (0, 0.3, ["0", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"]),
    (0, 1834.5, ["0", "500", "1,000", "1,500", "2,000"]),
    (0, 1e-9, ["0", "2e-10", "4e-10", "6e-10", "8e-10", "1e-9"]),
    (0, 7.3e12, ["0", "2e12", "4e12", "6e12", "8e12"]),
    (5, 5, ["2", "3", "4", "5", "6", "7", "8"]),             # zero width: widened around the value
    (0, 0, ["-0.5", "0", "0.5"]),
    (-3, 17, ["-5", "0", "5", "10", "15", "20"]),
])
def test_tick_labels(low, high, labels):
    assert nice_ticks(low, high).labels == labels


def test_labels_are_written_from_integers_not_floats():
    assert tick_label(3, -1) == "0.3"  # 3 * 0.1 would print 0.30000000000000004
    assert tick_label(-25, -1) == "-2.5"
    assert tick_label(12500, 0) == "12,500"
    assert tick_label(15, -10) == "1.5e-9" and tick_label(-200, 10) == "-2e12"


@pytest.mark.parametrize("low, high", [(1, 0), (0, math.inf), (math.nan, 1), (0, 1e301)])
def test_ranges_that_cannot_have_ticks_are_refused(low, high):
    with pytest.raises(ValueError):
        nice_ticks(low, high)


def test_a_step_needs_a_positive_span():
    assert nice_step(10, 5) == (2, 0) and nice_step(1000, 5) == (2, 2) and nice_step(0.7, 5) == (2, -1)
    for span in (0, -1, math.inf):
        with pytest.raises(ValueError):
            nice_step(span)


@given(st.floats(-1e12, 1e12), st.floats(0, 1e12))
def test_any_range_gets_covering_ticks(low, width):
    high = low + width
    ticks = nice_ticks(low, high)
    assert ticks.values[0] <= low and ticks.values[-1] >= high
    assert 2 <= ticks.last - ticks.first <= 8 and ticks.mantissa in (1, 2, 5)


# --------------------------------------------------------------- the figures

def panels_of(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f"{SVG}g[@class='panel']")


def texts(element: ET.Element, css: str) -> list[ET.Element]:
    return [t for t in element.iter(f"{SVG}text") if t.get("class") == css]


def lines(element: ET.Element, css: str) -> list[ET.Element]:
    return [line for line in element.iter(f"{SVG}line") if line.get("class") == css]


def x_position(panel: ET.Element, seconds: float) -> float:
    """Where `seconds` falls on the panel's x axis, read off its own tick labels."""
    ticks = [(float(t.text.replace(",", "")), float(t.get("x"))) for t in texts(panel, "x-tick")]
    (v0, x0), (v1, x1) = ticks[0], ticks[-1]
    return x0 + (seconds - v0) / (v1 - v0) * (x1 - x0)


@pytest.fixture(scope="module")
def partition_run() -> dict:
    config = SimConfig(nodes=4, faulty=1, seed=3, duration_s=9, scenario="partition", rate_tps=300,
                       liveness_bound_s=4)
    return Simulation(config).run()


def test_the_simulators_figure_can_be_read(partition_run, tmp_path):
    report = partition_run
    svg = write_plot(report, tmp_path / "run.svg").read_text()
    panels = panels_of(svg)
    assert len(panels) == 2
    for panel in panels:
        for axis in ("x-tick", "y-tick"):
            labels = [t.text for t in texts(panel, axis)]
            assert len(labels) >= 3 and labels[0] == "0"
            assert all(float(label.replace(",", "")) >= 0 for label in labels)
        assert [t.text for t in texts(panel, "x-title")] == ["simulated time (s)"]
    assert [t.text for p in panels for t in texts(p, "y-title")] == ["throughput (tx/s)", "latency (ms)"]
    top, bottom = ([(t.text, t.get("x")) for t in texts(p, "x-tick")] for p in panels)
    assert top == bottom  # one time axis
    assert float(top[-1][0]) >= report["duration_s"] and top[0][0] == "0"


def test_faults_are_marked_where_they_start_and_heal(partition_run, tmp_path):
    report = partition_run
    [(start_s, heal_s, label, end_label)] = report["faults"]
    assert label == "partition r0 | r1 r2 r3" and start_s == 1.0 and heal_s > start_s
    svg = write_plot(report, tmp_path / "run.svg").read_text()
    for panel in panels_of(svg):
        [start] = lines(panel, "fault-start")
        [heal] = lines(panel, "fault-end")
        [load_stops] = lines(panel, "event")
        assert float(start.get("x1")) == pytest.approx(x_position(panel, start_s), abs=0.2)
        assert float(heal.get("x1")) == pytest.approx(x_position(panel, heal_s), abs=0.2)
        assert float(load_stops.get("x1")) == pytest.approx(x_position(panel, report["load_end_s"]), abs=0.2)
    top = panels_of(svg)[0]
    assert [t.text for t in texts(top, "fault-start-label")] == [label]
    assert [t.text for t in texts(top, "fault-end-label")] == [end_label]


def test_the_same_run_draws_the_same_bytes(partition_run, tmp_path):
    first = write_plot(partition_run, tmp_path / "a.svg").read_bytes()
    assert first == write_plot(partition_run, tmp_path / "b.svg").read_bytes()


def test_crashes_and_byzantine_replicas_are_reported_as_faults():
    crash = Simulation(SimConfig(nodes=4, faulty=1, seed=2, duration_s=9, scenario="crash", rate_tps=300,
                                 liveness_bound_s=4)).run()
    assert len(crash["faults"]) >= 2
    for start_s, end_s, label, end_label in crash["faults"]:
        assert label == "r0 crashes" and end_label == "r0 restarts" and 1.0 <= start_s < end_s
    starts = [fault[0] for fault in crash["faults"]]
    assert starts == sorted(starts)
    byzantine = Simulation(SimConfig(nodes=4, faulty=1, seed=2, duration_s=7, scenario="equivocate",
                                     rate_tps=300)).run()
    assert byzantine["faults"] == [[0.0, None, "r0 equivocate", ""]]


def test_watching_a_run_does_not_change_it():
    config = SimConfig(nodes=4, faulty=1, seed=4, duration_s=7, scenario="lossy", rate_tps=300)
    seen: list[tuple[int, int]] = []
    watched = Simulation(config).run(lambda now_us, end_us: seen.append((now_us, end_us)))
    assert watched == Simulation(config).run()
    assert seen[-1] == (7_000_000, 7_000_000) and [n for n, _ in seen] == sorted(n for n, _ in seen)
    assert 10 <= len(seen) <= 80  # about every simulated 0.1 s
    assert watched["faults"] == [[0.0, config.heal_us / 1e6, "lossy links", "links heal"]]


def test_a_fault_that_never_heals_has_no_heal_line_and_labels_do_not_pile_up():
    faults = [Fault(0.5 + 0.01 * i, None, f"r{i} down") for i in range(10)]
    svg = time_figure("t", [Panel("p", "y", (Series([(0.0, 1.0), (10.0, 2.0)]),))], "time (s)", faults=faults)
    [panel] = panels_of(svg)
    assert len(lines(panel, "fault-start")) == 10 and lines(panel, "fault-end") == []
    assert 1 <= len(texts(panel, "fault-start-label")) <= 3  # ten labels on one spot: the first of each row


def test_bar_charts_have_a_value_axis(tmp_path):
    svg = write_bars("audit", [("a", 1234.0), ("b", 56.0)], "tx/s", tmp_path / "bars.svg",
                     axis_title="verified transactions per second").read_text()
    root = ET.fromstring(svg)
    assert [t.text for t in texts(root, "x-tick")] == ["0", "200", "400", "600", "800", "1,000", "1,200", "1,400"]
    assert [t.text for t in texts(root, "x-title")] == ["verified transactions per second"]
    grouped = write_grouped_bars([("sum", [("3 parties", [("phase", 12.0)])], "ms"),
                                  ("psi", [("1,000", [("phase", 2400.0)])], "ms")], tmp_path / "g.svg").read_text()
    ticks = texts(ET.fromstring(grouped), "x-tick")
    assert [t.text for t in ticks][-1] == "2,500" and "12" in [t.text for t in ticks]


def test_the_load_figure_plots_latency_and_achieved_rate_against_offered_load(tmp_path):
    runs = [{"offered_tps": rate, "achieved_tps": achieved, "p50_ms": p50, "p99_ms": p99}
            for rate, achieved, p50, p99 in [(2000, 1650.0, 900.0, 2400.0), (500, 498.0, 80.0, 150.0),
                                             (1000, 990.0, 120.0, 310.0)]]
    result = {"nodes": 4, "runs": runs, "verify_bound": {"verify_bound_tps": 9000}}
    svg = write_load_plot(result, tmp_path / "load.svg").read_text()
    title = [t.text for t in texts(ET.fromstring(svg), "figure-title")]
    assert title == ["4 nodes, open loop: latency and throughput against offered load (Ed25519 bound 9,000 tx/s)"]
    latency, throughput = panels_of(svg)
    for panel in (latency, throughput):
        assert [t.text for t in texts(panel, "x-title")] == ["offered load (tx/s)"]
        assert [t.text for t in texts(panel, "x-tick")] == ["0", "500", "1,000", "1,500", "2,000"]
    assert [t.text for t in texts(latency, "y-title")] == ["latency (ms)"]
    assert float(texts(latency, "y-tick")[-1].text.replace(",", "")) >= 2400
    # p50 and p99: a line and a dot per rate each; the offered line, and the achieved line and dots.
    assert len(latency.findall(f"{SVG}polyline")) == 2 and len(latency.findall(f"{SVG}circle")) == 6
    assert len(throughput.findall(f"{SVG}polyline")) == 2 and len(throughput.findall(f"{SVG}circle")) == 3
    p50_line = latency.findall(f"{SVG}polyline")[0]
    xs = [float(point.split(",")[0]) for point in p50_line.get("points").split()]
    assert xs == sorted(xs)  # joined in order of offered load, whatever the order of the runs
    assert xs[0] == pytest.approx(x_position(latency, 500), abs=0.2)


@pytest.mark.parametrize("low, high, labels", [
    (16, 512, ["10", "20", "50", "100", "200", "500", "1,000"]),  # under three decades: 2 and 5 too
    (0.05, 30, ["0.01", "0.1", "1", "10", "100"]),
    (1, 1000, ["1", "10", "100", "1,000"]),                     # exact powers are their own ends
    (3, 3, ["1", "2", "5", "10"]),                              # at least one decade
    (2e-7, 3e8, ["1e-7", "1e-6", "1e-5", "0.0001", "0.001", "0.01", "0.1", "1", "10", "100", "1,000",
                 "10,000", "100,000", "1e6", "1e7", "1e8", "1e9"]),
])
def test_log_ticks_are_powers_of_ten_that_cover_the_range(low, high, labels):
    ticks = log_ticks(low, high)
    assert ticks.values[0] <= low and ticks.values[-1] >= high
    assert ticks.labels == labels
    assert ticks.fraction(ticks.low) == 0 and ticks.fraction(ticks.high) == 1
    assert ticks.fraction(10.0 ** ((ticks.first + ticks.last) / 2)) == pytest.approx(0.5)


@pytest.mark.parametrize("low, high", [(0, 10), (-1, 10), (5, 1), (1, math.inf)])
def test_a_log_axis_needs_positive_values(low, high):
    with pytest.raises(ValueError):
        log_ticks(low, high)


def test_a_figure_on_log_axes_puts_each_decade_the_same_distance_apart():
    points = [(16.0, 0.02), (64.0, 0.17), (256.0, 5.7), (512.0, 21.0)]
    svg = xy_figure("speed", [Panel("", "seconds", (Series(points),))], "replicas", x_log=True, y_log=True)
    (panel,) = panels_of(svg)
    y_ticks = {t.text: float(t.get("y")) for t in texts(panel, "y-tick")}
    assert list(y_ticks) == ["0.01", "0.1", "1", "10", "100"]
    gaps = [a - b for a, b in zip(y_ticks.values(), list(y_ticks.values())[1:])]
    assert all(gap == pytest.approx(gaps[0], abs=0.11) for gap in gaps)
    x_ticks = {t.text: float(t.get("x")) for t in texts(panel, "x-tick")}
    assert x_ticks["100"] - x_ticks["10"] == pytest.approx(x_ticks["1,000"] - x_ticks["100"], abs=0.11)
    line = panel.findall(f"{SVG}polyline")[0]
    xs = [float(point.split(",")[0]) for point in line.get("points").split()]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.11)  # 16 -> 64 -> 256: equal steps


def test_a_range_narrower_than_float_spacing_is_widened():
    """Found by the property above: 1.0 .. 1.0 + 2e-16 cannot be cut in
    steps of 5e-17 (floats near 1.0 are 2.2e-16 apart)."""
    ticks = nice_ticks(1.0, 1.0 + 2e-16)
    assert 2 <= ticks.last - ticks.first <= 8 and ticks.values[0] <= 1.0 <= ticks.values[-1]
