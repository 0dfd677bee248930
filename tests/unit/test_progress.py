"""Progress of long commands: plain, few lines when stderr is not a
terminal; a bar redrawn in place, a few times a second at most, on one; and
the export's declared height that gives `audit verify` its total."""

from __future__ import annotations

import io

import pytest

from crypto import encoding
from node.audit.export import MAGIC, declared_height, frame
from node.devtools.progress import LINE_INTERVAL_S, TTY_REDRAWS_PER_S, Progress, amount


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def a_real_terminal_type(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")


def run(stream, total, steps: int, seconds: float, unit: str = "blocks", **options) -> FakeClock:
    """`steps` even updates spread over `seconds` of fake time, then close."""
    clock = FakeClock()
    with Progress("exporting", total=total, unit=unit, stream=stream, clock=clock, **options) as progress:
        for done in range(1, steps + 1):
            clock.now += seconds / steps
            progress.update(done, note=f"step {done}")
    return clock


def test_off_a_terminal_a_quick_command_writes_one_closing_line():
    stream = io.StringIO()
    run(stream, 50, 50, 1.5)
    assert stream.getvalue() == "exporting: done, 50/50 blocks in 0:01, 33.3 blocks/s; step 50\n"


def test_off_a_terminal_a_long_command_writes_few_plain_lines():
    stream = io.StringIO()
    run(stream, 100_000, 100_000, 300.0)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    # one line per 10 % or per LINE_INTERVAL_S, whichever comes first, and the closing line
    assert 10 <= len(lines) <= 10 + 300 / LINE_INTERVAL_S + 1
    assert lines[0].startswith("exporting: ") and "blocks (" in lines[0] and "left" in lines[0]
    assert lines[-1].startswith("exporting: done, 100,000/100,000 blocks in 5:00, 333 blocks/s")


def test_off_a_terminal_an_unknown_total_gets_a_count_every_interval():
    stream = io.StringIO()
    run(stream, None, 60, 60.0, unit="bytes")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 60 / LINE_INTERVAL_S + 1
    assert lines[0] == "exporting: 10 bytes, 0:10, 1 bytes/s; step 10"
    assert "%" not in stream.getvalue() and "[" not in stream.getvalue()


def test_a_failed_command_leaves_no_closing_line_off_a_terminal():
    stream = io.StringIO()
    with pytest.raises(RuntimeError):
        with Progress("verifying", total=10, stream=stream, clock=FakeClock()) as progress:
            progress.update(3)
            raise RuntimeError("the export is of another chain")
    assert stream.getvalue() == ""


def test_on_a_terminal_the_bar_is_redrawn_in_place_a_few_times_a_second():
    stream = FakeTerminal()
    run(stream, 10_000, 10_000, 2.0, width=70)
    output = stream.getvalue()
    redraws = output.split("\r")[1:]
    assert len(redraws) <= 2 * TTY_REDRAWS_PER_S + 2  # the first, at most 5 a second, and the last
    assert output.endswith("\n") and output.count("\n") == 1
    final = redraws[-1].rstrip("\n").replace("\x1b[K", "")
    assert final.startswith("exporting [") and "] 100% 10,000/10,000 blocks 0:02" in final
    assert all(len(r.rstrip("\n").replace("\x1b[K", "")) <= 69 for r in redraws)
    assert "#" * 5 in final and "." not in final.split("]")[0]


def test_on_a_terminal_a_failure_ends_the_bar_line_so_the_error_starts_its_own():
    stream = FakeTerminal()
    with pytest.raises(KeyboardInterrupt):
        with Progress("simulating", total=20.0, stream=stream, clock=FakeClock(), width=60) as progress:
            progress.update(2.5)
            raise KeyboardInterrupt
    assert stream.getvalue().startswith("\rsimulating [") and stream.getvalue().endswith("\n")


def test_a_dumb_terminal_gets_lines(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    stream = FakeTerminal()
    run(stream, 5, 5, 0.5)
    assert stream.getvalue().startswith("exporting: done, 5/5 blocks")


def test_amounts_read_as_people_read_them():
    assert amount(12500, "blocks") == "12,500 blocks"
    assert amount(3 * 1024 * 1024 + 300_000, "bytes") == "3.3 MiB"
    assert amount(512, "bytes") == "512 bytes"
    assert amount(7.53, "simulated s") == "7.5 simulated s"


def write_export(path, records: list, cut: int = 0) -> None:
    data = MAGIC + b"".join(frame(record) for record in records)
    path.write_bytes(data[: len(data) - cut])


@pytest.mark.parametrize("height", [0, 1, 127, 128, 65_535, 2**40])
def test_an_exports_declared_height_is_read_from_its_tail(tmp_path, height):
    block = ["block", encoding.encode(["x" * 40]), b"c" * 30, [b"r" * 20]]
    write_export(tmp_path / "chain.export", [["chain", b"i" * 32], block, ["end", height]])
    assert declared_height(tmp_path / "chain.export") == height


def test_an_export_without_its_end_declares_nothing(tmp_path):
    write_export(tmp_path / "cut.export", [["chain", b"i" * 32], ["end", 12]], cut=1)
    write_export(tmp_path / "open.export", [["chain", b"i" * 32]])
    write_export(tmp_path / "negative.export", [["chain", b"i" * 32], ["end", -3]])
    for name in ("cut", "open", "negative", "missing"):
        assert declared_height(tmp_path / f"{name}.export") is None
