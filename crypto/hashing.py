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


def digest(domain: str, data: bytes) -> bytes:
    """SHA-256 of `data` under the domain tag `domain`."""
    h = hashlib.sha256(_PREFIX)
    h.update(domain.encode("ascii"))
    h.update(b"\x00")
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
