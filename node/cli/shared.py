"""What the command groups share: the default node URL, the two errors a
command raises (a command line that is wrong, exit 2; a command that was
understood but refused or failed, exit 1), JSON output and the --json and
-o/--out options every command spells the same way, the options that say
where a key passphrase comes from, and the two things every command that
talks to a node needs: the chain id (from the genesis file, never from a
node) and a client key, with which `reader` signs every request.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from crypto.keys import KDF_COST_LIGHT, KDF_COST_STRONG, KeyPair, read_key_file, read_public_key
from node.client import ConsortClient
from node.runtime.passphrase import ENV_VAR, PassphraseSource

DEFAULT_NODE = os.environ.get("CONSORT_NODE", "https://127.0.0.1:7100")
GENESIS_ENVIRONMENT = "CONSORT_GENESIS"
CA_ENVIRONMENT = "CONSORT_CA"
KDF_COSTS = {"strong": KDF_COST_STRONG, "light": KDF_COST_LIGHT}


EXIT_OK = 0
EXIT_FAILED = 1   # refused by a node, a file or a check: the command line itself was fine
EXIT_USAGE = 2    # the command line is wrong (argparse's own errors exit 2 too)


class UsageError(Exception):
    """A command line that cannot be carried out as written (exit 2)."""


class CommandFailed(Exception):
    """A command understood as written that was refused or whose check failed (exit 1)."""


def print_json(document) -> None:
    print(json.dumps(document, indent=2))


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """--json: one JSON document on stdout for scripts (what a read command
    prints by default when it prints JSON already; text otherwise)."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout, for scripts")


def add_out_option(parser: argparse.ArgumentParser, help_text: str, required: bool = False) -> None:
    """-o/--out FILE: where a command writes its file."""
    parser.add_argument("-o", "--out", required=required, metavar="FILE", help=help_text)


def add_passphrase_options(parser: argparse.ArgumentParser) -> None:
    """--passphrase-fd N | --passphrase-file F (else the environment, then the terminal)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--passphrase-fd", type=int, metavar="N",
                       help=f"read the key passphrase's first line from file descriptor N (else {ENV_VAR}, "
                            "else the terminal)")
    group.add_argument("--passphrase-file", type=Path, metavar="F",
                       help="read the key passphrase from the first line of F (mode 600)")


def add_new_key_options(parser: argparse.ArgumentParser) -> None:
    """--kdf-cost and the passphrase options, for commands that make key files."""
    parser.add_argument("--kdf-cost", choices=sorted(KDF_COSTS), default="strong",
                        help="scrypt cost of the new key files: strong (default, ~0.3 s and 128 MiB per key) or "
                             "light (throwaway keys only: fast to make, and as fast to guess)")
    add_passphrase_options(parser)


def passphrase_source(args) -> PassphraseSource:
    return PassphraseSource(fd=getattr(args, "passphrase_fd", None), file=getattr(args, "passphrase_file", None))


def open_key(path: str | Path, args) -> KeyPair:
    """The key in `path` (the one place the CLI reads keys): the file is
    checked (mode, format) before its passphrase is asked."""
    path = Path(path)
    read_public_key(path)
    return read_key_file(path, passphrase_source(args).read(f"passphrase of {path}: "))


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


def add_ca_argument(parser) -> None:
    parser.add_argument("--ca", help=f"the consortium's root CA certificate, the only one trusted for an https "
                                     f"node (default: ${CA_ENVIRONMENT}, else the system's roots)")


def ca_path(args) -> Path | None:
    """--ca, else $CONSORT_CA, else None (the system's roots)."""
    value = getattr(args, "ca", None) or os.environ.get(CA_ENVIRONMENT)
    return Path(value) if value else None


def add_reader_arguments(parser) -> None:
    """--node, --key, the passphrase options, --genesis and --ca: what a
    command that reads through a node takes."""
    parser.add_argument("--node", default=DEFAULT_NODE)
    parser.add_argument("--key", required=True, help="client key file: reads are signed with it")
    add_passphrase_options(parser)
    add_genesis_argument(parser)
    add_ca_argument(parser)
    add_json_option(parser)


def reader(args, key: str | None = None) -> ConsortClient:
    """A client of --node that signs with --key (or `key`) for the chain of --genesis."""
    return ConsortClient(args.node, signer=open_key(key or args.key, args).signer(), chain_id=chain_id(args),
                         ca=ca_path(args))
