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

Errors print one line (`consort: error: ...`) and exit 1; no tracebacks.
The CLI may import every room of node/ and is the only part of node/ that
imports netsim; nothing imports the CLI.
"""

from __future__ import annotations

import argparse
import logging
import sys

from contracts.genesis import GenesisError
from contracts.tx import TxError
from crypto.certs import CertificateError
from crypto.keys import KeyFileError
from crypto.smt import ProofFormatError
from node.audit.auditor import AuditFailure
from node.audit.export import ExportError
from node.cli import audit, chain, events, init, keys, mpc, node, query, sim, tx
from node.cli.audit import AuditCommandError
from node.cli.shared import UsageError
from node.client import ClientError
from node.runtime.config import ConfigError
from node.runtime.passphrase import PassphraseError
from node.runtime.storage import StorageError

COMMAND_GROUPS = (init, keys, node, tx, chain, events, query, audit, mpc, sim)
ONE_LINE_ERRORS = (ClientError, ConfigError, GenesisError, KeyFileError, PassphraseError, CertificateError,
                   StorageError, TxError, UsageError, FileExistsError, OSError, AuditCommandError, AuditFailure,
                   ExportError, ProofFormatError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consort", description="Consort permissioned ledger node")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.func(args)
    except ONE_LINE_ERRORS as exc:
        print(f"consort: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
