"""The secure sum's messages: frozen dataclasses checked in their
constructors, each with one canonical byte form (crypto.encoding) and a
decoder that refuses anything else.

    SumCommitments  one Pedersen commitment per vector element, posted
                    before anything masked is revealed
    SumMasked       the masked values (mod 2^modulus_bits) and the masked
                    blindings (mod L)
    SumResult       the sums and the combined blindings, checked against
                    the sum of every party's commitments

On the wire each is a map with a "kind"; vectors travel as one byte string
of fixed-width elements: points of 32 bytes, values of ceil(bits/8) bytes
big-endian, blindings as 32-byte little-endian scalars below L. Everything
has a limit (vector length, id and session sizes, modulus bits, message
bytes), and the decoder checks the msgpack headers against the map's size
before building anything. A decoded SumCommitments has points of the right
size; whether they are valid group elements is checked by the protocol
(secure_sum) before it reveals anything, and by the result check.

Must not: know about sessions' state, draw randomness, or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crypto import encoding
from crypto.mpc.masking import value_width
from crypto.mpc.pedersen import GROUP_ORDER, POINT_SIZE, SCALAR_SIZE

VECTOR_LENGTH_MAX = 10_000
SESSION_ID_BYTES_MAX = 64
PARTY_ID_CHARS_MAX = 64
MODULUS_BITS_MAX = 128  # above 32 parties' signed sums of values up to VALUE_MAX_LIMIT (2^112)
MESSAGE_BYTES_MAX = VECTOR_LENGTH_MAX * (value_width(MODULUS_BITS_MAX) + SCALAR_SIZE) + 1024


class MessageError(ValueError):
    """A message that is malformed or does not fit the session: the sender's fault."""


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise MessageError(problem)


def _check_header(session_id: Any, sender: Any) -> None:
    _require(type(session_id) is bytes and 0 < len(session_id) <= SESSION_ID_BYTES_MAX,
             f"session id must be 1 to {SESSION_ID_BYTES_MAX} bytes")
    _require(type(sender) is str and 0 < len(sender) <= PARTY_ID_CHARS_MAX,
             f"sender must be a party id of 1 to {PARTY_ID_CHARS_MAX} characters")


def _check_vector(items: Any, what: str) -> None:
    _require(type(items) is tuple and 0 < len(items) <= VECTOR_LENGTH_MAX,
             f"{what} must be a tuple of 1 to {VECTOR_LENGTH_MAX} elements")


def _check_ints(items: tuple, low: int, high: int, what: str) -> None:
    """Every item an int (not a bool) in [low, high)."""
    _require(set(map(type, items)) <= {int} and (not items or low <= min(items) and max(items) < high),
             f"{what} must be integers in [{low}, {high})")


def _check_below(items: tuple, bound: int, what: str) -> None:
    _check_ints(items, 0, bound, what)


def _check_bits(modulus_bits: Any) -> None:
    _require(type(modulus_bits) is int and 2 <= modulus_bits <= MODULUS_BITS_MAX,
             f"modulus bits must be an int from 2 to {MODULUS_BITS_MAX}")


def _pack(items: tuple[int, ...], width: int, order: str) -> bytes:
    return b"".join(x.to_bytes(width, order) for x in items)  # type: ignore[arg-type]


def _unpack(blob: Any, width: int, order: str, what: str) -> tuple[int, ...]:
    _require(type(blob) is bytes and len(blob) % width == 0, f"{what} must be bytes in {width}-byte elements")
    _require(len(blob) // width <= VECTOR_LENGTH_MAX, f"{what}: more than {VECTOR_LENGTH_MAX} elements")
    return tuple(int.from_bytes(blob[i:i + width], order) for i in range(0, len(blob), width))  # type: ignore


def _decode_map(data: bytes, kind: str, keys: frozenset[str]) -> dict[str, Any]:
    try:
        value = encoding.decode(data, MESSAGE_BYTES_MAX, depth_max=1, elements_max=2 * len(keys) + 1)
    except encoding.DecodeError as exc:
        raise MessageError(f"{kind}: {exc}") from None
    _require(type(value) is dict and set(value) == keys, f"{kind}: expected a map of {sorted(keys)}")
    _require(value["kind"] == kind, f"expected a {kind} message, got {value['kind']!r}")
    return value


@dataclass(frozen=True, slots=True)
class SumCommitments:
    """One party's commitments, one per element of its input vector."""

    session_id: bytes
    sender: str
    points: tuple[bytes, ...]

    KIND = "mpc-sum/commitments"
    _KEYS = frozenset({"kind", "session", "sender", "points"})

    def __post_init__(self) -> None:
        _check_header(self.session_id, self.sender)
        _check_vector(self.points, "points")
        _require(all(type(p) is bytes and len(p) == POINT_SIZE for p in self.points), "points must be 32 bytes")

    def encode(self) -> bytes:
        return encoding.encode({"kind": self.KIND, "session": self.session_id, "sender": self.sender,
                                "points": b"".join(self.points)})

    @classmethod
    def decode(cls, data: bytes) -> SumCommitments:
        value = _decode_map(data, cls.KIND, cls._KEYS)
        blob = value["points"]
        _require(type(blob) is bytes and len(blob) % POINT_SIZE == 0, "points must be 32-byte elements")
        _require(len(blob) // POINT_SIZE <= VECTOR_LENGTH_MAX, f"points: more than {VECTOR_LENGTH_MAX} elements")
        points = tuple(blob[i:i + POINT_SIZE] for i in range(0, len(blob), POINT_SIZE))
        return cls(value["session"], value["sender"], points)


@dataclass(frozen=True, slots=True)
class SumMasked:
    """One party's masked values (mod 2^modulus_bits) and masked blindings (mod L)."""

    session_id: bytes
    sender: str
    modulus_bits: int
    values: tuple[int, ...]
    blindings: tuple[int, ...]

    KIND = "mpc-sum/masked"
    _KEYS = frozenset({"kind", "session", "sender", "modulus_bits", "values", "blindings"})

    def __post_init__(self) -> None:
        _check_header(self.session_id, self.sender)
        _check_bits(self.modulus_bits)
        _check_vector(self.values, "values")
        _require(len(self.blindings) == len(self.values), "one blinding per value")
        _check_below(self.values, 1 << self.modulus_bits, "masked value")
        _check_below(self.blindings, GROUP_ORDER, "masked blinding")

    def encode(self) -> bytes:
        return encoding.encode({"kind": self.KIND, "session": self.session_id, "sender": self.sender,
                                "modulus_bits": self.modulus_bits,
                                "values": _pack(self.values, value_width(self.modulus_bits), "big"),
                                "blindings": _pack(self.blindings, SCALAR_SIZE, "little")})

    @classmethod
    def decode(cls, data: bytes) -> SumMasked:
        value = _decode_map(data, cls.KIND, cls._KEYS)
        _check_bits(value["modulus_bits"])
        values = _unpack(value["values"], value_width(value["modulus_bits"]), "big", "values")
        blindings = _unpack(value["blindings"], SCALAR_SIZE, "little", "blindings")
        return cls(value["session"], value["sender"], value["modulus_bits"], values, blindings)


@dataclass(frozen=True, slots=True)
class SumResult:
    """The sums (signed when the session is) and the combined blindings mod L."""

    session_id: bytes
    modulus_bits: int
    signed: bool
    sums: tuple[int, ...]
    blindings: tuple[int, ...]

    KIND = "mpc-sum/result"
    _KEYS = frozenset({"kind", "session", "modulus_bits", "signed", "sums", "blindings"})

    def __post_init__(self) -> None:
        _require(type(self.session_id) is bytes and 0 < len(self.session_id) <= SESSION_ID_BYTES_MAX,
                 f"session id must be 1 to {SESSION_ID_BYTES_MAX} bytes")
        _check_bits(self.modulus_bits)
        _require(type(self.signed) is bool, "signed must be a bool")
        _check_vector(self.sums, "sums")
        _require(len(self.blindings) == len(self.sums), "one blinding per sum")
        low, high = self.sum_range()
        _check_ints(self.sums, low, high, "sums")
        _check_below(self.blindings, GROUP_ORDER, "combined blinding")

    def sum_range(self) -> tuple[int, int]:
        """[low, high): what a sum modulo 2^modulus_bits stands for."""
        modulus = 1 << self.modulus_bits
        return (-(modulus >> 1), modulus >> 1) if self.signed else (0, modulus)

    def encode(self) -> bytes:
        mask = (1 << self.modulus_bits) - 1
        return encoding.encode({"kind": self.KIND, "session": self.session_id,
                                "modulus_bits": self.modulus_bits, "signed": self.signed,
                                "sums": _pack(tuple(s & mask for s in self.sums),
                                              value_width(self.modulus_bits), "big"),
                                "blindings": _pack(self.blindings, SCALAR_SIZE, "little")})

    @classmethod
    def decode(cls, data: bytes) -> SumResult:
        value = _decode_map(data, cls.KIND, cls._KEYS)
        bits, signed = value["modulus_bits"], value["signed"]
        _check_bits(bits)
        _require(type(signed) is bool, "signed must be a bool")
        residues = _unpack(value["sums"], value_width(bits), "big", "sums")
        _check_below(residues, 1 << bits, "sum")
        sums = tuple(centre(s, bits) for s in residues) if signed else residues
        blindings = _unpack(value["blindings"], SCALAR_SIZE, "little", "blindings")
        return cls(value["session"], bits, signed, sums, blindings)


def centre(residue: int, modulus_bits: int) -> int:
    """The signed integer in [-2^(bits-1), 2^(bits-1)) congruent to `residue`."""
    half = 1 << (modulus_bits - 1)
    return residue - (half << 1) if residue >= half else residue
