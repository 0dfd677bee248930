"""Pedersen commitments on the prime-order ed25519 group (libsodium via PyNaCl).

    commit(v, r) = v*G + r*H

G is the ed25519 base point; H is `crypto_core_ed25519_from_uniform` of the
first 32 bytes of SHA-512(H_DOMAIN), a point whose discrete logarithm to
base G nobody knows (Elligator 2 maps a hash output to the curve; knowing
log_G H would mean solving a discrete logarithm). Values and blindings are
integers modulo the group order L; callers map their own ranges into [0, L)
(a signed value x as x mod L) and check those ranges themselves.

Properties: perfectly hiding (for a uniform r, v*G + r*H is a uniform group
element whatever v is) and computationally binding (two openings of one
commitment give log_G H). Homomorphic: commit(v1, r1) + commit(v2, r2) =
commit(v1 + v2, r1 + r2), with both sums mod L; the group operation is
written additively here, "the product of commitments" elsewhere.

The zero scalar: libsodium refuses a scalar multiplication whose scalar is
zero or whose result is the identity, and refuses the identity as an
input point. Here 0*P is the identity (0x01 followed by 31 zero bytes),
which `crypto_core_ed25519_add` accepts; so commit(0, r) = r*H. To keep the
cost of a commitment independent of the value, a zero scalar still costs
one (discarded) scalar multiplication.

A point from someone else is accepted only if
`crypto_core_ed25519_is_valid_point` says it is canonical, on the curve, in
the prime-order subgroup and not of small order (the identity included).

Must not: draw randomness except in `random_blinding(s)` (which take an
`rng` for tests), do I/O, or import anything beyond crypto.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable

import nacl.bindings as sodium

GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493  # L
POINT_SIZE = 32
SCALAR_SIZE = 32
H_DOMAIN = b"consort/mpc/pedersen/H/v1"
IDENTITY = b"\x01" + bytes(31)
_WIDE_BYTES = 64  # a blinding is 512 random bits reduced mod L: bias below 2^-259

Rng = Callable[[int], bytes]


class PointError(ValueError):
    """A byte string that is not a valid commitment (the sender's fault)."""


def scalar_bytes(k: int) -> bytes:
    """The 32-byte little-endian form of a scalar in [0, L)."""
    return k.to_bytes(SCALAR_SIZE, "little")


def _require_scalar(k: int, what: str) -> None:
    if type(k) is not int or not 0 <= k < GROUP_ORDER:
        raise ValueError(f"{what} must be an int in [0, L), got {k!r}")


def _mul_base(k: int) -> bytes:
    """k*G for k in [0, L); the identity for 0, at the cost of a nonzero k."""
    point = sodium.crypto_scalarmult_ed25519_base_noclamp(scalar_bytes(k or 1))
    return point if k else IDENTITY


def _mul(k: int, point: bytes) -> bytes:
    """k*point for k in [0, L) and a valid point; the identity for 0."""
    product = sodium.crypto_scalarmult_ed25519_noclamp(scalar_bytes(k or 1), point)
    return product if k else IDENTITY


def _derive_h() -> bytes:
    point = sodium.crypto_core_ed25519_from_uniform(hashlib.sha512(H_DOMAIN).digest()[:32])
    assert sodium.crypto_core_ed25519_is_valid_point(point), "H must be a valid point"
    return point


G = _mul_base(1)
H = _derive_h()


def is_valid_point(point: bytes) -> bool:
    """Whether `point` is a canonical point of the prime-order subgroup,
    not of small order (the identity is refused)."""
    return (type(point) is bytes and len(point) == POINT_SIZE
            and bool(sodium.crypto_core_ed25519_is_valid_point(point)))


def require_valid_points(points: Iterable[bytes]) -> None:
    """Raise PointError unless every point is valid (see is_valid_point)."""
    for index, point in enumerate(points):
        if not is_valid_point(point):
            raise PointError(f"commitment {index} is not a valid ed25519 point")


def random_blinding(rng: Rng | None = None) -> int:
    """A fresh uniform blinding in [1, L). `rng(n)` returns n random bytes
    (default: the operating system's CSPRNG); pass one only in tests."""
    return random_blindings(1, rng)[0]


def random_blindings(count: int, rng: Rng | None = None) -> list[int]:
    """`count` fresh uniform blindings in [1, L), from one call of `rng`.
    Each is 64 random bytes reduced mod L (statistical distance from uniform
    below L / 2^512 < 2^-259); a zero is redrawn."""
    draw = rng or secrets.token_bytes
    blindings: list[int] = []
    while len(blindings) < count:
        missing = count - len(blindings)
        data = draw(_WIDE_BYTES * missing)
        if len(data) != _WIDE_BYTES * missing:
            raise ValueError("rng returned the wrong number of bytes")
        for start in range(0, len(data), _WIDE_BYTES):
            r = int.from_bytes(data[start:start + _WIDE_BYTES], "little") % GROUP_ORDER
            if r:
                blindings.append(r)
    return blindings


def commit(value: int, blinding: int) -> bytes:
    """value*G + blinding*H, both in [0, L): a 32-byte point."""
    _require_scalar(value, "value")
    _require_scalar(blinding, "blinding")
    return sodium.crypto_core_ed25519_add(_mul_base(value), _mul(blinding, H))


def add(left: bytes, right: bytes) -> bytes:
    """The commitment to the sums of the two openings (mod L). The inputs are
    trusted points (validate points from others first): the result may be
    the identity."""
    return sodium.crypto_core_ed25519_add(left, right)


def sum_commitments(commitments: Iterable[bytes]) -> bytes:
    """The sum of the given commitments, each checked valid first
    (PointError otherwise); the identity for none."""
    points = list(commitments)
    require_valid_points(points)
    total = IDENTITY
    for point in points:
        total = sodium.crypto_core_ed25519_add(total, point)
    return total


def verify_opening(commitment: bytes, value: int, blinding: int) -> bool:
    """Whether `commitment` (someone else's: validated) opens to
    (value, blinding), both in [0, L)."""
    _require_scalar(value, "value")
    _require_scalar(blinding, "blinding")
    return is_valid_point(commitment) and commit(value, blinding) == commitment


def verify_sum(commitments: Iterable[bytes], value_total: int, blinding_total: int) -> bool:
    """Whether the sum of the commitments (each validated) opens to
    (value_total, blinding_total): the sums of the values and of the
    blindings mod L, reduced by the caller into [0, L)."""
    _require_scalar(value_total, "value_total")
    _require_scalar(blinding_total, "blinding_total")
    try:
        total = sum_commitments(commitments)
    except PointError:
        return False
    return total == commit(value_total, blinding_total)
