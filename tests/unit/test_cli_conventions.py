"""The command line's conventions, checked on its parser and its error
mapping without starting anything: --log-level and --log-format before or
after the command, info by default for `node start` only, JSON log lines,
-o/--out and --json spelled the same everywhere, exit status 2 for a
command line that is wrong, 1 for a refusal or a failure, and one line on
stderr for every error, an unexpected one included."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import pytest

from node.cli import build_parser, command_parsers, logs, run_command
from node.cli.shared import EXIT_FAILED, EXIT_USAGE, CommandFailed, UsageError
from node.client import ClientError
from node.runtime.storage import StorageError

START = ["node", "start", "--config", "node.json"]
READING = ["--key", "client.key"]
# every command that reads and prints what it read: each takes --json
READ_COMMANDS = [
    ["chain", "status", *READING], ["chain", "block", "3", *READING],
    ["query", "accounts", *READING], ["query", "asset", "A000000000001", *READING],
    ["audit", "verify", "--genesis", "g.json", "--file", "chain.export"],
    ["audit", "prove", "acct/bank-alpha/EUR", "--genesis", "g.json", "--node", "https://n", *READING],
    ["audit", "history", "A000000000001", "--genesis", "g.json", "--file", "chain.export"],
    ["audit", "txs", "--from", "1", "--to", "2", *READING],
    ["mpc", "status", "M000000000001", *READING], ["mpc", "result", "M000000000001", *READING],
    ["cert", "show", "node.crt"], ["events", "--to-height", "3", *READING],
    ["export", "--data", "data", "--genesis", "g.json", "-o", "chain.export"],
]


@pytest.fixture
def parser(monkeypatch):
    for name in ("CONSORT_GENESIS", "CONSORT_CA"):  # read when the parser is built
        monkeypatch.delenv(name, raising=False)
    return build_parser()


# --- logging options -------------------------------------------------------------

@pytest.mark.parametrize("argv, level, log_format", [
    (START, "info", None),
    (["--log-level", "debug", *START], "debug", None),
    ([*START, "--log-level", "debug"], "debug", None),
    (["--log-level", "error", *START, "--log-level", "warning"], "warning", None),
    ([*START, "--log-format", "json"], "info", "json"),
    (["--log-format", "json", "--log-level", "error", *START], "error", "json"),
    (["chain", "status", *READING], "warning", None),
    (["chain", "status", *READING, "--log-level", "info", "--log-format", "text"], "info", "text"),
])
def test_log_options_go_before_or_after_the_command(parser, argv, level, log_format):
    args = parser.parse_args(argv)
    assert logs.chosen_level(args) == level
    assert getattr(args, "log_format", None) == log_format


def test_every_command_takes_the_log_options(parser):
    commands = list(command_parsers(parser))
    assert {c.prog for c in commands} >= {
        "consort init", "consort keygen", "consort ca init", "consort ca sign", "consort cert node",
        "consort cert show", "consort node start", "consort tx pay", "consort tx send", "consort chain status",
        "consort chain block", "consort query", "consort export", "consort audit verify", "consort audit prove",
        "consort audit history", "consort audit txs", "consort mpc open", "consort mpc rerun", "consort mpc input",
        "consort mpc status", "consort mpc result", "consort sim run"}
    for command in commands:
        options = {s for action in command._actions for s in action.option_strings}
        assert {"--log-level", "--log-format"} <= options, command.prog


def test_a_level_that_does_not_exist_is_a_usage_error(parser, capsys):
    with pytest.raises(SystemExit) as exited:
        parser.parse_args([*START, "--log-level", "verbose"])
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'verbose'" in capsys.readouterr().err


def record(message: str, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("consort.server", logging.WARNING, __file__, 1, message, (), exc_info)


def test_a_json_log_line_is_one_object_with_the_fields_a_shipper_reads():
    line = logs.JsonLineFormatter().format(record('two\nlines with "quotes" and ünïcode'))
    assert "\n" not in line
    parsed = json.loads(line)
    assert set(parsed) == {"time", "level", "logger", "message"}
    assert parsed["level"] == "warning" and parsed["logger"] == "consort.server"
    assert parsed["message"] == 'two\nlines with "quotes" and ünïcode'
    assert parsed["time"].endswith("Z") and len(parsed["time"]) == len("2026-01-01T00:00:00.000Z")


def test_a_json_log_line_carries_the_exception_text():
    try:
        raise ValueError("bad thing")
    except ValueError:
        line = logs.JsonLineFormatter().format(record("failed", sys.exc_info()))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed"
    assert "Traceback" in parsed["exception"] and "ValueError: bad thing" in parsed["exception"]


# --- files and JSON ------------------------------------------------------------------

def test_every_command_that_writes_a_file_takes_o_and_out(parser):
    writing = [c for c in command_parsers(parser)
               if any("--out" in a.option_strings for a in c._actions)]
    assert {c.prog for c in writing} >= {"consort export", "consort ca sign", "consort sim run"}
    for command in writing:
        out = next(a for a in command._actions if "--out" in a.option_strings)
        assert out.option_strings == ["-o", "--out"], command.prog


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_every_read_command_takes_json(parser, argv):
    assert parser.parse_args([*argv, "--json"]).json is True
    assert parser.parse_args(argv).json is False


# --- exit status and one-line errors --------------------------------------------------

def raising(exc: BaseException):
    def command(args) -> int:
        raise exc
    return command


@pytest.fixture
def quiet_logging():
    """The root logger as main() sets it up (warning, text), restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    yield lambda level: logs.configure(level, "text", sys.stderr)
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])


@pytest.mark.parametrize("exc, status, shown", [
    (UsageError("give --node URL"), EXIT_USAGE, "consort: error: give --node URL"),
    (CommandFailed("session M1 is open: no result"), EXIT_FAILED, "consort: error: session M1 is open: no result"),
    (StorageError("the data folder d is in use by a running node"), EXIT_FAILED,
     "consort: error: the data folder d is in use by a running node"),
    (ClientError(403, "forbidden", "refused"), EXIT_FAILED, "consort: error: refused (forbidden, HTTP 403)"),
    (FileNotFoundError(2, "No such file or directory", "x.json"), EXIT_FAILED,
     "consort: error: [Errno 2] No such file or directory: 'x.json'"),
    (ValueError("a\nmessage on\n two lines"), EXIT_FAILED,
     "consort: error: unexpected ValueError: a message on two lines (--log-level debug shows the traceback)"),
    (KeyError("k"), EXIT_FAILED, "consort: error: unexpected KeyError: 'k' (--log-level debug shows the traceback)"),
    (RuntimeError(), EXIT_FAILED, "consort: error: unexpected RuntimeError (--log-level debug shows the traceback)"),
])
def test_every_error_is_one_line_and_an_exit_status(capsys, quiet_logging, exc, status, shown):
    quiet_logging("warning")
    assert run_command(raising(exc), argparse.Namespace()) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [shown]


def test_under_debug_the_traceback_follows_an_unexpected_error(capsys, quiet_logging):
    quiet_logging("debug")
    assert run_command(raising(ZeroDivisionError("division by zero")), argparse.Namespace()) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: division by zero" in err
    assert err.splitlines()[-1] == "consort: error: unexpected ZeroDivisionError: division by zero"


def test_an_interrupt_exits_130(quiet_logging):
    quiet_logging("warning")
    assert run_command(raising(KeyboardInterrupt()), argparse.Namespace()) == 130


def run(parser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    return run_command(args.func, args)


def test_audit_prove_without_a_node_is_a_usage_error(parser, capsys, quiet_logging):
    quiet_logging("warning")
    assert run(parser, ["audit", "prove", "acct/bank-alpha/EUR", "--genesis", "genesis.json"]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "consort: error: audit prove asks a node for the proof: give --node URL and --key KEYFILE"]


def test_export_of_a_data_folder_without_a_genesis_is_a_usage_error(parser, capsys, quiet_logging, tmp_path):
    quiet_logging("warning")
    assert run(parser, ["export", "--data", str(tmp_path), "-o", str(tmp_path / "chain.export")]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("consort: error: give --genesis FILE")
    assert list(tmp_path.iterdir()) == []


def test_reading_from_a_node_without_a_key_is_a_usage_error(parser, capsys, quiet_logging):
    quiet_logging("warning")
    assert run(parser, ["audit", "history", "A000000000001", "--genesis", "g.json", "--node", "https://n"]) \
        == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "consort: error: --node needs --key KEYFILE: a client key of an auditor, regulator or validator"]


def test_a_missing_required_option_exits_2_from_argparse(parser, capsys):
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["chain", "status"])
    assert exited.value.code == EXIT_USAGE
    assert "the following arguments are required: --key" in capsys.readouterr().err
