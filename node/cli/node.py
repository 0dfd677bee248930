"""`consort node start`: run one node process from its config file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node.api.app import make_app
from node.runtime.config import load_config
from node.runtime.server import serve


def cmd_node_start(args) -> int:
    return asyncio.run(serve(load_config(Path(args.config)), make_app))


def add_commands(commands) -> None:
    node = commands.add_parser("node", help="run a node").add_subparsers(dest="action", required=True)
    start = node.add_parser("start", help="start a node from its config file")
    start.add_argument("--config", required=True)
    start.set_defaults(func=cmd_node_start)
