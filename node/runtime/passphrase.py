"""Where the passphrase of a node's (or a tool's) key files comes from.

In this order, the first that is given:

1. `--passphrase-fd N`: the first line read from file descriptor N (a pipe a
   parent process hands over, or `N< file`); the descriptor is closed after
   reading, unless it is standard input;
2. `--passphrase-file F`: the first line of F, which is refused if group or
   others may access it (`chmod 600 F` fixes that);
3. the environment variable CONSORT_PASSPHRASE;
4. a prompt on the terminal (getpass, nothing echoed), when standard input is
   one; a new key's passphrase is asked twice;

else a PassphraseError saying how to give one. A command-line option wins
over the environment, as one given on purpose. The passphrase is held in
memory only as long as it takes to open the key files; nothing here writes
it anywhere.

crypto/ reads no environment and no terminal: the node and the tools read
the passphrase here and pass it to `crypto.keys`.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from crypto.keys import KeyFileError, read_private_file

ENV_VAR = "CONSORT_PASSPHRASE"
PASSPHRASE_BYTES_MAX = 1024
HOW_TO_GIVE = f"set {ENV_VAR}, or pass --passphrase-fd N or --passphrase-file F"


class PassphraseError(ValueError):
    """No passphrase could be had, or what was given cannot be one."""


@dataclass(frozen=True, slots=True)
class PassphraseSource:
    """Where to read the passphrase: a file descriptor, a file, or (neither
    given) the environment, then the terminal. Holds no secret itself."""

    fd: int | None = None
    file: Path | None = None

    def __post_init__(self) -> None:
        if self.fd is not None and self.file is not None:
            raise PassphraseError("give the passphrase one way: --passphrase-fd or --passphrase-file, not both")

    def read(self, prompt: str = "passphrase: ", confirm: bool = False, environ: Mapping[str, str] | None = None,
             ask: Callable[[str], str] | None = None) -> str:
        """The passphrase. `confirm`: ask twice on a terminal (for new keys).
        `environ` and `ask` default to the process's environment and getpass
        on its terminal (when standard input is one)."""
        if self.fd is not None:
            return _checked(_first_line(_read_fd(self.fd)), f"file descriptor {self.fd}")
        if self.file is not None:
            try:
                raw = read_private_file(Path(self.file), PASSPHRASE_BYTES_MAX + 2, what="passphrase file")
            except KeyFileError as exc:
                raise PassphraseError(str(exc)) from None
            return _checked(_first_line(raw), str(self.file))
        environ = os.environ if environ is None else environ
        if environ.get(ENV_VAR):
            return _checked(environ[ENV_VAR].encode("utf-8", "surrogateescape"), ENV_VAR)
        if ask is None and sys.stdin is not None and sys.stdin.isatty():
            ask = getpass.getpass
        if ask is None:
            raise PassphraseError(f"no passphrase for the key files and no terminal to ask on: {HOW_TO_GIVE}")
        return _asked(ask, prompt, confirm)


def _asked(ask: Callable[[str], str], prompt: str, confirm: bool) -> str:
    try:
        passphrase = ask(prompt)
        if confirm and ask("again, to confirm: ") != passphrase:
            raise PassphraseError("the two passphrases differ")
    except EOFError:
        raise PassphraseError(f"no passphrase typed: {HOW_TO_GIVE}") from None
    return _checked(passphrase.encode("utf-8", "surrogateescape"), "the terminal")


def _read_fd(fd: int) -> bytes:
    """Up to the first newline (or end) from `fd`, at most PASSPHRASE_BYTES_MAX + 2 bytes."""
    chunks: list[bytes] = []
    try:
        while len(chunks) <= PASSPHRASE_BYTES_MAX + 1:
            byte = os.read(fd, 1)
            if not byte or byte == b"\n":
                break
            chunks.append(byte)
    except OSError as exc:
        raise PassphraseError(f"cannot read the passphrase from file descriptor {fd}: {exc.strerror}") from None
    finally:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass
    return b"".join(chunks)


def _first_line(raw: bytes) -> bytes:
    return raw.split(b"\n", 1)[0]


def _checked(raw: bytes, where: str) -> str:
    raw = raw[:-1] if raw.endswith(b"\r") else raw
    if not raw:
        raise PassphraseError(f"the passphrase from {where} is empty")
    if len(raw) > PASSPHRASE_BYTES_MAX:
        raise PassphraseError(f"the passphrase from {where} is longer than {PASSPHRASE_BYTES_MAX} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PassphraseError(f"the passphrase from {where} is not UTF-8") from None
