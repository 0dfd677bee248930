"""Pedersen commitments on the ed25519 group, as the mpc contract checks them.

C = v*G + r*H, with G the group's base point and H a second generator that
nobody knows a logarithm of: `crypto_core_ed25519_from_uniform` of the first
32 bytes of SHA-512(b"consort/mpc/pedersen-h/v1"). Scalars are taken modulo
the group order L. libsodium's `noclamp` scalar multiplication refuses a
zero scalar (and any result that is the identity), so a term whose scalar
is 0 mod L is the identity point here, added as such: v = 0 or r = 0 is
committed and opened soundly, never refused or skipped. Only both at once
give the identity itself, which `is_point` refuses as a commitment: it
hides nothing, and an honest blinding factor is never 0.

Meant to be replaced by crypto/mpc/pedersen.py (same H, same encoding):
keep it this small. Pure: no I/O, no clock, no randomness (the caller
draws the blinding factor).
"""

from __future__ import annotations

import hashlib

from nacl import bindings

GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493  # L
POINT_SIZE = 32
SCALAR_SIZE = 32
H_DOMAIN = b"consort/mpc/pedersen-h/v1"
IDENTITY = b"\x01" + bytes(31)
BASE = bindings.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(SCALAR_SIZE, "little"))
H = bindings.crypto_core_ed25519_from_uniform(hashlib.sha512(H_DOMAIN).digest()[:32])


def is_point(data: bytes) -> bool:
    """A canonical point of the prime-order subgroup, not of small order
    (so not the identity): what a commitment must be."""
    return len(data) == POINT_SIZE and bindings.crypto_core_ed25519_is_valid_point(data)


def _times(scalar: int, point: bytes) -> bytes:
    reduced = scalar % GROUP_ORDER
    if reduced == 0:
        return IDENTITY
    if point == BASE:
        return bindings.crypto_scalarmult_ed25519_base_noclamp(reduced.to_bytes(SCALAR_SIZE, "little"))
    return bindings.crypto_scalarmult_ed25519_noclamp(reduced.to_bytes(SCALAR_SIZE, "little"), point)


def commit(value: int, blinding: int) -> bytes:
    """The commitment value*G + blinding*H (both taken mod L)."""
    return bindings.crypto_core_ed25519_add(_times(value, BASE), _times(blinding, H))


def _sum_opens(commitment_vectors: list[list[bytes]], totals: list[int], blindings: list[int]) -> bool:
    """Whether, element by element, the sum of every party's commitment
    opens to (totals[i], blindings[i]). Every vector, `totals` and
    `blindings` have one length; every commitment is a valid point."""
    if any(len(vector) != len(totals) for vector in commitment_vectors) or len(blindings) != len(totals):
        return False
    for i, (total, blinding) in enumerate(zip(totals, blindings)):
        summed = IDENTITY
        for vector in commitment_vectors:
            summed = bindings.crypto_core_ed25519_add(summed, vector[i])
        if summed != commit(total, blinding):
            return False
    return True
