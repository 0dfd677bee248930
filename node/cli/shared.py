"""What the command groups share: the default node URL, the usage error,
JSON output, and the two things every command that talks to a node needs:
the chain id (from the genesis file, never from a node) and a client key,
with which `reader` signs every request.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from crypto.keys import KeyPair, read_key_file
from node.client import ConsortClient

DEFAULT_NODE = os.environ.get("CONSORT_NODE", "http://127.0.0.1:7100")
GENESIS_ENVIRONMENT = "CONSORT_GENESIS"


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


def print_json(document) -> None:
    print(json.dumps(document, indent=2))


def add_genesis_argument(parser, required_text: str = "") -> None:
    parser.add_argument("--genesis", help=f"the chain's genesis file (default: ${GENESIS_ENVIRONMENT}){required_text}")


def genesis_path(args) -> Path:
    """--genesis, else $CONSORT_GENESIS; UsageError when neither is given."""
    value = getattr(args, "genesis", None) or os.environ.get(GENESIS_ENVIRONMENT)
    if not value:
        raise UsageError(f"no genesis file: give --genesis FILE or set {GENESIS_ENVIRONMENT} "
                         "(requests and transactions are signed for the chain id of that file only)")
    return Path(value)


def chain_id(args) -> bytes:
    """The chain id of the genesis file the command line names."""
    from node.audit.verify import read_genesis  # the CLI may import the auditor; kept local: it is heavy

    return read_genesis(genesis_path(args)).chain_id


def load_key(path: str | Path) -> KeyPair:
    """A client key file (the one place the CLI reads keys)."""
    return read_key_file(Path(path))


def add_reader_arguments(parser) -> None:
    """--node, --key and --genesis: what a command that reads through a node takes."""
    parser.add_argument("--node", default=DEFAULT_NODE)
    parser.add_argument("--key", required=True, help="client key file: reads are signed with it")
    add_genesis_argument(parser)


def reader(args, key: str | None = None) -> ConsortClient:
    """A client of --node that signs with --key (or `key`) for the chain of --genesis."""
    return ConsortClient(args.node, signer=load_key(key or args.key).signer(), chain_id=chain_id(args))
