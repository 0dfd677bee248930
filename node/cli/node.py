"""`consort node start`: run one node process from its config file. It logs
at info unless --log-level says otherwise, so its first line says which
chain it follows, its node key, where it listens, its height and peers
(node.runtime.server.startup_line)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from node.api.app import make_app
from node.api.operator import make_operator_app
from node.cli.shared import add_passphrase_options, passphrase_source
from node.mpc.runner import attach as mpc_attach
from node.runtime.config import load_config
from node.runtime.server import INSECURE_WARNING, run, serve


def cmd_node_start(args) -> int:
    config = dataclasses.replace(load_config(Path(args.config)), passphrase_source=passphrase_source(args),
                                 insecure=args.insecure)
    if args.insecure:
        print(f"consort: WARNING: {INSECURE_WARNING}", file=sys.stderr, flush=True)
    return run(serve(config, make_app, extensions=(mpc_attach,), make_operator_app=make_operator_app,
                     freeze_startup_heap=True))


def add_commands(commands) -> None:
    node = commands.add_parser("node", help="run a node").add_subparsers(dest="action", required=True)
    start = node.add_parser("start", help="start a node from its config file")
    start.add_argument("--config", required=True)
    add_passphrase_options(start)
    start.add_argument("--insecure", action="store_true",
                       help="plain HTTP, peer links without certificates: local experiments only, never by default")
    start.set_defaults(func=cmd_node_start, log_level_default="info")
