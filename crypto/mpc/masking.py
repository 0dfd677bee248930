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
gives, in one call per stream, one lane per element:

- the value mask: lanes of `value_lane_bytes(bits)` bytes, big-endian, of
  which the low `bits` bits are the mask modulo M = 2^bits. M is a power of
  two, so the low bits of uniform bytes are exactly uniform: no bias.
- the blinding mask: lanes of 49 bytes, big-endian, of which the low 384
  bits, reduced modulo the group order L, are the mask: 384 bits for a
  253-bit modulus (RFC 9380's length for 128-bit security) leave a
  statistical distance from uniform below L / 2^384 < 2^-131 per element.

`apply_masks` works on whole vectors at once: a stream read as one big
integer is a vector of lanes, so adding or subtracting a whole stream is
one big-integer operation, and the per-element work (packing the inputs,
reducing the results) does not grow with the number of parties. Each lane
keeps at least 8 bits of headroom above its mask so that no carry crosses
into the next lane; a subtraction adds C - mask instead, where C is a
multiple of the modulus at least as large as any mask (2^bits per value
lane, L * 2^132 per blinding lane), so no lane ever borrows.

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
# A lane adds up its own value and, per peer, a mask below 2^(bits+1): with
# fewer than 2^6 peers the total stays below 2^(bits+7), inside the headroom.
LANE_HEADROOM_BITS = 8
PEERS_MAX = 2 ** (LANE_HEADROOM_BITS - 2) - 1
BLINDING_MASK_BITS = 384
BLINDING_LANE_BYTES = (BLINDING_MASK_BITS + LANE_HEADROOM_BITS) // 8
_BLINDING_COVER = GROUP_ORDER << (BLINDING_MASK_BITS - 252)  # a multiple of L in [2^384, 2^385)
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
    """Bytes per value on the wire."""
    return (modulus_bits + 7) // 8


def value_lane_bytes(modulus_bits: int) -> int:
    """Bytes per value lane in the mask stream: the value's bits plus headroom."""
    return (modulus_bits + LANE_HEADROOM_BITS + 7) // 8


def _in_every_lane(value: int, lane_bytes: int, length: int) -> int:
    """The integer whose `length` lanes each hold `value`."""
    return int.from_bytes(value.to_bytes(lane_bytes, "big") * length, "big")


def _stream(domain: bytes, seed: bytes, length: int, lane_bytes: int, parameters: list[int]) -> int:
    shake = hashlib.shake_256(domain + encode([length, *parameters]) + seed)
    return int.from_bytes(shake.digest(lane_bytes * length), "big")


def _pack(items: list[int], lane_bytes: int) -> int:
    return int.from_bytes(b"".join(x.to_bytes(lane_bytes, "big") for x in items), "big")


def _unpack(packed: int, lane_bytes: int, length: int) -> list[int]:
    data = packed.to_bytes(lane_bytes * length, "big")
    return [int.from_bytes(data[i:i + lane_bytes], "big") for i in range(0, lane_bytes * length, lane_bytes)]


def _value_stream(seed: bytes, length: int, modulus_bits: int) -> int:
    lanes = _stream(_VALUE_DOMAIN, seed, length, value_lane_bytes(modulus_bits), [modulus_bits])
    return lanes & _in_every_lane((1 << modulus_bits) - 1, value_lane_bytes(modulus_bits), length)


def _blinding_stream(seed: bytes, length: int) -> int:
    lanes = _stream(_BLINDING_DOMAIN, seed, length, BLINDING_LANE_BYTES, [])
    return lanes & _in_every_lane((1 << BLINDING_MASK_BITS) - 1, BLINDING_LANE_BYTES, length)


def value_mask(seed: bytes, length: int, modulus_bits: int) -> list[int]:
    """The pair's `length` value masks, each uniform in [0, 2^modulus_bits)."""
    return _unpack(_value_stream(seed, length, modulus_bits), value_lane_bytes(modulus_bits), length)


def blinding_mask(seed: bytes, length: int) -> list[int]:
    """The pair's `length` blinding masks, each uniform in [0, L) up to 2^-131."""
    return [m % GROUP_ORDER for m in _unpack(_blinding_stream(seed, length), BLINDING_LANE_BYTES, length)]


def apply_masks(me: str, seeds: dict[str, bytes], values: list[int], blindings: list[int],
                modulus_bits: int) -> tuple[list[int], list[int]]:
    """`values` (in [0, 2^modulus_bits)) and `blindings` (in [0, L)) with every
    pair's masks added where `me` sorts first and subtracted where it sorts
    second, reduced mod 2^modulus_bits and mod L; `seeds` maps each peer to
    the pair seed."""
    if len(seeds) > PEERS_MAX:
        raise ValueError(f"at most {PEERS_MAX} peers fit the lanes' headroom")
    length = len(values)
    if len(blindings) != length:
        raise ValueError("one blinding per value")
    if length and (min(values) < 0 or max(values) >> modulus_bits or min(blindings) < 0
                   or max(blindings) >= GROUP_ORDER):
        raise ValueError("values must be below 2^modulus_bits and blindings below L")
    value_lane = value_lane_bytes(modulus_bits)
    value_cover = _in_every_lane(1 << modulus_bits, value_lane, length)  # >= any mask, 0 mod 2^bits
    blinding_cover = _in_every_lane(_BLINDING_COVER, BLINDING_LANE_BYTES, length)  # >= any mask, 0 mod L
    value_total, blinding_total = _pack(values, value_lane), _pack(blindings, BLINDING_LANE_BYTES)
    for peer in sorted(seeds):
        value_stream = _value_stream(seeds[peer], length, modulus_bits)
        blinding_stream = _blinding_stream(seeds[peer], length)
        if me < peer:
            value_total += value_stream
            blinding_total += blinding_stream
        else:
            value_total += value_cover - value_stream
            blinding_total += blinding_cover - blinding_stream
    value_total &= _in_every_lane((1 << modulus_bits) - 1, value_lane, length)
    return (_unpack(value_total, value_lane, length),
            [m % GROUP_ORDER for m in _unpack(blinding_total, BLINDING_LANE_BYTES, length)])
