"""Pairwise masks for the secure sum: one shared seed per pair of parties per
session, expanded with SHAKE-256 into a value mask and a blinding mask.

Seeds. Each institution registers an X25519 key pair for MPC (libsodium's
`crypto_kx`). For the pair (a, b) with a < b (institution ids compared as
strings), a is the kx "client" and b the "server": the client's transmit key
equals the server's receive key, a 32-byte secret only the two can compute.
The pair seed is

    digest("mpc/sum/pair-seed", encode([session_id, a, b, shared_key]))

so every session (and every pair) gets unrelated masks from the same
long-lived keys.

Masks. From a pair seed, SHAKE-256 under a domain and the vector length
gives, in one call per stream:

- the value mask: `length` integers of `width` = ceil(bits/8) bytes each,
  big-endian, taken modulo M = 2^bits. M is a power of two, so the low
  `bits` bits of uniform bytes are exactly uniform modulo M: no bias. The
  raw integers are returned unreduced: a sum of them reduced once mod M is
  the same as reducing each.
- the blinding mask: `length` integers of 64 bytes each, little-endian,
  reduced modulo the group order L: 512 bits for a 253-bit modulus leaves a
  statistical distance from uniform below L / 2^512 < 2^-259 per element.

The party that sorts first in a pair adds the pair's masks, the other
subtracts them, so over all parties every mask cancels.

Must not: draw randomness except in `kx_keypair` (which takes a seed for
tests), keep state, or do I/O.
"""

from __future__ import annotations

import hashlib

import nacl.bindings as sodium
import nacl.exceptions

from crypto.encoding import encode
from crypto.hashing import digest
from crypto.mpc.pedersen import GROUP_ORDER

KX_PUBLIC_KEY_SIZE = 32
KX_SECRET_KEY_SIZE = 32
KX_SEED_SIZE = 32
PAIR_SEED_SIZE = 32
BLINDING_MASK_BYTES = 64
_VALUE_DOMAIN = b"consort/mpc/sum/value-mask\x00"
_BLINDING_DOMAIN = b"consort/mpc/sum/blinding-mask\x00"


class KeyAgreementError(ValueError):
    """A key agreement that failed: a malformed or low-order public key."""


def kx_keypair(seed: bytes | None = None) -> tuple[bytes, bytes]:
    """A fresh X25519 (public, secret) key pair for MPC; from `seed` (32
    bytes) only in tests and key derivation."""
    if seed is None:
        return sodium.crypto_kx_keypair()
    if type(seed) is not bytes or len(seed) != KX_SEED_SIZE:
        raise ValueError(f"a kx seed is {KX_SEED_SIZE} bytes")
    return sodium.crypto_kx_seed_keypair(seed)


def _check_key(key: bytes, size: int, what: str) -> None:
    if type(key) is not bytes or len(key) != size:
        raise KeyAgreementError(f"{what} must be {size} bytes")


def pair_seed(session_id: bytes, me: str, peer: str, my_keypair: tuple[bytes, bytes],
              peer_public: bytes) -> bytes:
    """The seed `me` shares with `peer` in the session (both compute it)."""
    if me == peer:
        raise ValueError("a party has no pair seed with itself")
    public, secret = my_keypair
    _check_key(public, KX_PUBLIC_KEY_SIZE, "my kx public key")
    _check_key(secret, KX_SECRET_KEY_SIZE, "my kx secret key")
    _check_key(peer_public, KX_PUBLIC_KEY_SIZE, f"{peer}'s kx public key")
    try:
        if me < peer:
            _, shared = sodium.crypto_kx_client_session_keys(public, secret, peer_public)
        else:
            shared, _ = sodium.crypto_kx_server_session_keys(public, secret, peer_public)
    except nacl.exceptions.CryptoError:
        raise KeyAgreementError(f"key agreement with {peer} failed: a low-order public key") from None
    first, second = sorted((me, peer))
    return digest("mpc/sum/pair-seed", encode([session_id, first, second, shared]))


def value_width(modulus_bits: int) -> int:
    """Bytes per value, on the wire and in the mask stream."""
    return (modulus_bits + 7) // 8


def value_mask(seed: bytes, length: int, modulus_bits: int) -> list[int]:
    """`length` raw value-mask integers; each is uniform modulo 2^modulus_bits."""
    width = value_width(modulus_bits)
    stream = hashlib.shake_256(_VALUE_DOMAIN + encode([length, modulus_bits]) + seed)
    data = stream.digest(width * length)
    return [int.from_bytes(data[i:i + width], "big") for i in range(0, width * length, width)]


def blinding_mask(seed: bytes, length: int) -> list[int]:
    """`length` raw blinding-mask integers (512 bits each), to reduce mod L."""
    stream = hashlib.shake_256(_BLINDING_DOMAIN + encode([length]) + seed)
    data = stream.digest(BLINDING_MASK_BYTES * length)
    return [int.from_bytes(data[i:i + BLINDING_MASK_BYTES], "little")
            for i in range(0, BLINDING_MASK_BYTES * length, BLINDING_MASK_BYTES)]


def apply_masks(me: str, seeds: dict[str, bytes], values: list[int], blindings: list[int],
                modulus_bits: int) -> tuple[list[int], list[int]]:
    """`values` mod 2^modulus_bits and `blindings` mod L with every pair's masks
    added (where `me` sorts first) or subtracted (where it sorts second);
    `seeds` maps each peer to the pair seed."""
    length = len(values)
    value_total, blinding_total = list(values), list(blindings)
    for peer in sorted(seeds):
        value_stream = value_mask(seeds[peer], length, modulus_bits)
        blinding_stream = blinding_mask(seeds[peer], length)
        if me < peer:
            value_total = [a + m for a, m in zip(value_total, value_stream)]
            blinding_total = [a + m for a, m in zip(blinding_total, blinding_stream)]
        else:
            value_total = [a - m for a, m in zip(value_total, value_stream)]
            blinding_total = [a - m for a, m in zip(blinding_total, blinding_stream)]
    value_modulus_mask = (1 << modulus_bits) - 1
    return ([a & value_modulus_mask for a in value_total], [a % GROUP_ORDER for a in blinding_total])
