"""The wire format of private set intersection (crypto.mpc.psi): the two
messages, their canonical encoding and their checks.

A message is a canonical msgpack map (crypto.encoding) of exactly
    kind     "psi/blinded" (round 1) or "psi/double" (round 2)
    session  the session id, 1..SESSION_ID_BYTES_MAX bytes
    variant  the variant's name; sender: "initiator" or "responder"
    points   the points, 32 bytes each, joined into one byte string
of at most PSI_MESSAGE_BYTES_MAX bytes, holding at most PSI_SET_MAX points.
A round-1 list is sorted and distinct; a round-2 list is sorted and distinct
too, except in the intersection variant where it keeps the order of the
recipient's round-1 list (and is distinct). Anything else, a point outside
the prime-order group included, is refused with PsiMessageError: the
sender's fault. One set has one encoding, so transcripts are reproducible.

Pure: no I/O, no clock, no randomness. Imports crypto only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import nacl.bindings as sodium

from crypto.encoding import DecodeError, decode, encode

POINT_BYTES = 32
PSI_SET_MAX = 100_000
SESSION_ID_BYTES_MAX = 64
PSI_MESSAGE_BYTES_MAX = POINT_BYTES * PSI_SET_MAX + 1024


class PsiMessageError(ValueError):
    """A received message is malformed or invalid: the sender's fault."""


class Role(StrEnum):
    """Who opened the session (initiator) and who was asked (responder)."""

    INITIATOR = "initiator"
    RESPONDER = "responder"


class Variant(StrEnum):
    """What is revealed, and to whom (crypto.mpc.psi says how)."""

    CARDINALITY = "cardinality"
    INTERSECTION = "intersection"
    CARDINALITY_TO_REGULATOR = "cardinality-to-regulator"
    CARDINALITY_TO_INITIATOR = "cardinality-to-initiator"


def check_points(points: Iterable[bytes]) -> None:
    """Refuse a point that is not canonical, of small order or outside the prime-order group."""
    is_valid = sodium.crypto_core_ed25519_is_valid_point
    for index, point in enumerate(points):
        if not is_valid(point):
            raise PsiMessageError(f"point {index} is not an element of the prime-order group")


# --- messages -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BlindedSet:
    """Round 1: the sender's own elements, hashed and blinded, sorted."""

    session_id: bytes
    variant: Variant
    sender: Role
    points: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_message_fields(self, sorted_required=True)

    def encode(self) -> bytes:
        return _encode_message("psi/blinded", self)


@dataclass(frozen=True, slots=True)
class DoubleBlindedSet:
    """Round 2: the recipient's blinded set blinded again by the sender;
    sorted, except in intersection where it keeps the recipient's order."""

    session_id: bytes
    variant: Variant
    sender: Role
    points: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_message_fields(self, sorted_required=self.variant != Variant.INTERSECTION)

    def encode(self) -> bytes:
        return _encode_message("psi/double", self)


_KINDS = {"psi/blinded": BlindedSet, "psi/double": DoubleBlindedSet}
_FIELDS = {"kind", "points", "sender", "session", "variant"}


def _check_message_fields(message: BlindedSet | DoubleBlindedSet, sorted_required: bool) -> None:
    check_session_id(message.session_id, PsiMessageError)
    if not isinstance(message.variant, Variant) or not isinstance(message.sender, Role):
        raise PsiMessageError("unknown variant or sender role")
    points = message.points
    if not isinstance(points, tuple) or len(points) > PSI_SET_MAX:
        raise PsiMessageError(f"a set holds at most {PSI_SET_MAX} points")
    if not all(isinstance(p, bytes) and len(p) == POINT_BYTES for p in points):
        raise PsiMessageError(f"a point is {POINT_BYTES} bytes")
    if sorted_required:
        if not all(a < b for a, b in zip(points, points[1:])):
            raise PsiMessageError("points must be sorted and distinct")
    elif len(set(points)) != len(points):
        raise PsiMessageError("duplicate points")


def _encode_message(kind: str, message: BlindedSet | DoubleBlindedSet) -> bytes:
    return encode({"kind": kind, "points": b"".join(message.points), "sender": str(message.sender),
                   "session": message.session_id, "variant": str(message.variant)})


def decode_message(data: bytes, *, check_group: bool = True) -> BlindedSet | DoubleBlindedSet:
    """The message `data` encodes, or PsiMessageError. With `check_group`, every
    point must pass is_valid_point; without, the caller checks them (blind_all does)."""
    try:
        fields = decode(data, PSI_MESSAGE_BYTES_MAX, depth_max=1, elements_max=2 * len(_FIELDS) + 1)
    except DecodeError as exc:
        raise PsiMessageError(f"not a PSI message: {exc}") from None
    if not isinstance(fields, dict) or set(fields) != _FIELDS:
        raise PsiMessageError(f"a PSI message is a map of exactly {sorted(_FIELDS)}")
    kind, blob = fields["kind"], fields["points"]
    if kind not in _KINDS or not isinstance(blob, bytes) or len(blob) % POINT_BYTES:
        raise PsiMessageError("unknown message kind, or points not a whole number of 32-byte points")
    try:
        variant, sender = Variant(fields["variant"]), Role(fields["sender"])
    except (ValueError, TypeError):
        raise PsiMessageError("unknown variant or sender role") from None
    points = tuple(blob[i:i + POINT_BYTES] for i in range(0, len(blob), POINT_BYTES))
    message = _KINDS[kind](fields["session"], variant, sender, points)
    if check_group:
        check_points(points)
    return message


def check_session_id(session_id: bytes, error: type[ValueError]) -> None:
    """Refuse a session id that is not 1..SESSION_ID_BYTES_MAX bytes, raising `error`."""
    if not isinstance(session_id, bytes) or not 0 < len(session_id) <= SESSION_ID_BYTES_MAX:
        raise error(f"a session id is 1..{SESSION_ID_BYTES_MAX} bytes")
