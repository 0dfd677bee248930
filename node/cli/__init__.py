"""The `consort` command line, one module per command group:

    consort init        keys, genesis and node configs for a local consortium   (init)
    consort keygen, ca init|sign, cert node|show
                        an institution's keys, the consortium's certificates    (keys)
    consort node start  run a node                                              (node)
    consort tx send|pay sign and submit transactions                            (tx)
    consort query ...   read contract state                                     (query)
    consort mpc ...     open MPC sessions, give an input, read a result         (mpc)
    consort chain ...   status and blocks                                       (chain)
    consort events      follow blocks and receipts as they commit               (events)
    consort export, consort audit verify|prove|history|txs                      (audit, audit_txs)
    consort sim run     the network simulator                                   (sim)

Conventions every command keeps (README, "Exit codes and conventions"):
exit status 0 when it did what was asked, 1 when it was refused or a check
failed, 2 when the command line is wrong; an error is one line on stderr
(`consort: error: ...`), never a traceback (an error no one named is one
line too; `--log-level debug` adds its traceback); `--log-level` and
`--log-format` go before or after the command (node.cli.logs); a command
that writes a file takes `-o/--out`; a command that reads takes `--json`.
The CLI may import every room of node/ and is the only part of node/ that
imports netsim; nothing imports the CLI.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
from collections.abc import Callable, Iterator

from contracts.genesis import GenesisError
from contracts.tx import TxError
from crypto.certs import CertificateError
from crypto.keys import KeyFileError
from crypto.smt import ProofFormatError
from node.audit.auditor import AuditFailure
from node.audit.export import ExportError
from node.cli import audit, chain, events, init, keys, logs, mpc, node, query, sim, tx
from node.cli.shared import EXIT_FAILED, EXIT_USAGE, CommandFailed, UsageError
from node.client import ClientError
from node.runtime.config import ConfigError
from node.runtime.passphrase import PassphraseError
from node.runtime.storage import StorageError

COMMAND_GROUPS = (init, keys, node, tx, chain, events, query, audit, mpc, sim)
ONE_LINE_ERRORS = (ClientError, ConfigError, GenesisError, KeyFileError, PassphraseError, CertificateError,
                   StorageError, TxError, CommandFailed, OSError, AuditFailure, ExportError, ProofFormatError)
EXIT_INTERRUPTED = 130

log = logging.getLogger("consort.cli")


def command_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below `parser` that runs a command (one with no commands
    of its own), depth first. argparse has no public way to walk its tree:
    this reads its `_actions` and `_SubParsersAction.choices`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # an alias names the same parser again
                has_commands = any(isinstance(a, argparse._SubParsersAction) for a in child._actions)
                if not has_commands:
                    yield child
                yield from command_parsers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consort", description="Consort permissioned ledger node")
    logs.add_logging_options(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    for command in command_parsers(parser):
        logs.add_logging_options(command, top_level=False)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _stdout_closed() -> bool:
    """Whether stdout's reader went away (`consort query accounts | head`):
    the write end of a pipe whose reader closed polls as an error. Then
    stdout is pointed at /dev/null, so what is still buffered is dropped
    instead of failing again when the interpreter exits."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))
        if closed:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return closed
    except (OSError, ValueError, AttributeError):  # no file descriptor behind stdout (a test's capture)
        return False


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one command; every exception becomes one line on stderr and an
    exit status: 2 for a usage error, 1 for anything else (with the
    traceback logged at debug, so it reaches a JSON log as one line)."""
    try:
        return func(args)
    except UsageError as exc:
        print(f"consort: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError as exc:
        if not _stdout_closed():
            print(f"consort: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except ONE_LINE_ERRORS as exc:
        log.debug("the traceback of the error below", exc_info=exc)
        print(f"consort: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one no one named: our bug, or a library's; still one line
        log.debug("the traceback of the error below", exc_info=exc)
        hint = "" if log.isEnabledFor(logging.DEBUG) else " (--log-level debug shows the traceback)"
        detail = f": {_one_line(exc)}" if _one_line(exc) else ""
        print(f"consort: error: unexpected {type(exc).__name__}{detail}{hint}", file=sys.stderr)
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(logs.chosen_level(args), getattr(args, "log_format", None))
    return run_command(args.func, args)
