"""What the command groups share: the default node URL, the usage error,
JSON output, and the options that say where a key passphrase comes from."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from crypto.keys import KDF_COST_LIGHT, KDF_COST_STRONG, KeyPair, read_key_file, read_public_key
from node.runtime.passphrase import ENV_VAR, PassphraseSource

DEFAULT_NODE = os.environ.get("CONSORT_NODE", "http://127.0.0.1:7100")
KDF_COSTS = {"strong": KDF_COST_STRONG, "light": KDF_COST_LIGHT}


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


def print_json(document) -> None:
    print(json.dumps(document, indent=2))


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
    return PassphraseSource(fd=args.passphrase_fd, file=args.passphrase_file)


def open_key(path: Path, args) -> KeyPair:
    """The key in `path`: the file is checked (mode, format) before its passphrase is asked."""
    read_public_key(path)
    return read_key_file(path, passphrase_source(args).read(f"passphrase of {path}: "))
