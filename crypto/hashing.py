"""Domain-separated SHA-256.

Every hash names what it is a hash of, so a transaction can never be passed
off as a block header or a vote: `digest("tx", body)` and
`digest("block", body)` differ for equal bodies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

HASH_SIZE = 32
_PREFIX = b"consort/"


STARTS_MAX = 256  # domains whose hashed prefix `digest` keeps (the code names a few dozen)
_starts: dict = {}  # domain -> sha256 state after the prefix


def digest(domain: str, data: bytes) -> bytes:
    """SHA-256 of `data` under the domain tag `domain`. The hash state after
    a domain's prefix is kept and copied: a transaction's hash, a receipt's
    balances and the state tree's nodes are hashed per transaction."""
    start = _starts.get(domain)
    if start is None:
        start = hashlib.sha256(_PREFIX + domain.encode("ascii") + b"\x00")
        if len(_starts) < STARTS_MAX:
            _starts[domain] = start
    h = start.copy()
    h.update(data)
    return h.digest()


def digester(domain: str) -> Callable[[bytes], bytes]:
    """`lambda data: digest(domain, data)`, with the domain's prefix hashed
    once: for loops that hash millions of values under one domain."""
    start = hashlib.sha256(_PREFIX + domain.encode("ascii") + b"\x00")

    def digest_of(data: bytes) -> bytes:
        h = start.copy()
        h.update(data)
        return h.digest()
    return digest_of
