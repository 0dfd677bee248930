"""Private set intersection (and its cardinality) by Diffie-Hellman blinding
on the prime-order subgroup of edwards25519 (libsodium through PyNaCl).

    H(x)        a hash of element x into the group, per session
    H(x)^a      x blinded by party A's secret scalar a (written
                multiplicatively; in code, a scalar multiplication)
    H(x)^(ab)   x blinded by both: equal for equal x, whoever blinded first

Each party draws a fresh secret scalar per session, blinds its own hashed
elements, sends them sorted, blinds the other party's blinded set in turn
and sends that back (or to the regulator). Equal double-blinded values mean
equal elements; nothing else about an element can be read from its blinded
forms without a scalar.

Hash to the group. For element x in session s (s at most 64 bytes, x of
1..PSI_ELEMENT_BYTES_MAX bytes):
    h = SHA-512(HASH_DOMAIN || len(s) || s || x)
    H(x) = from_uniform(h[0:32]) + from_uniform(h[32:64])
`crypto_core_ed25519_from_uniform` is the Elligator 2 map to Curve25519,
carried to edwards25519 and multiplied by the cofactor 8. The curve has
8*L points with L prime, so 8*P lies in the subgroup of order L for every
point P, and so does the sum of two such points: H(x) is in the prime-order
group (the tests check L*H(x) = identity with an independent pure-Python
curve). One Elligator image of one hash is not a uniform group element (the
map reaches about half the curve); the sum of the images of two independent
hash halves is the construction RFC 9380 uses for a random oracle to the
group (hash_to_curve, not encode_to_curve), which is what the security
argument below assumes. It costs one extra map and one addition per element
(about 40 us), not RFC 9380's byte format. The session id in the hash makes
the same element hash to unrelated points in two sessions, so blinded values
cannot be linked across sessions even apart from the fresh scalars.

Scalars are 64 random bytes reduced mod L, never zero, so blinding is a
permutation of the group and distinct elements stay distinct.

Message flow: two rounds; both parties act alike and can work at once (each
node blinds its own set on its own core while the other does the same):
  round 1  each party sends BlindedSet: its H(x)^k, sorted
  round 2  each party blinds the other's set with its own k and sends
           DoubleBlindedSet, by variant:
    cardinality               to the peer, sorted: both learn |A∩B|
    intersection              to the peer, in the order of the peer's round-1
                              message: each learns which of its own elements
                              are in A∩B (both learn the intersection)
    cardinality-to-regulator  to the regulator, sorted: the regulator learns
                              |A∩B| (`count_for_regulator`); the parties learn
                              only each other's set size (the nodes seal it
                              to the recipients; crypto.mpc.threshold uses it)
    cardinality-to-initiator  only the responder sends, sorted: the initiator
                              learns |A∩B|, the responder nothing
A party compares the peer's double-blinding of its own set with its own
double-blinding of the peer's set. In cardinality the list it receives is
sorted by value, so its order is a function of the set of values alone and
says nothing about which of its elements a value belongs to: it learns how
many values are common, not which. In intersection it keeps the order of
its own round-1 list and so maps each value back to its element.

Sorting as the shuffle: a blinded set is sent sorted by the bytes of its
points. The order is then a function of the set of values, never of the
sender's input order (which may be alphabetical, or by account opening);
and since H is a random oracle and the scalar is secret, those values are
(under DDH) indistinguishable from independent uniform points, so an
element's position is as good as uniformly random. Sorted lists are also
one canonical encoding per set (refused otherwise), so transcripts are
reproducible. Each party's transcript hash (crypto.mpc.transcript) names
its counterparts by role: "initiator", "responder", "regulator".

Received points: a blinded set is checked by the scalar multiplication
itself (libsodium's `crypto_scalarmult_ed25519_noclamp` refuses a point
that is not canonical, of small order or outside the prime-order group:
exactly what `crypto_core_ed25519_is_valid_point` refuses; tested); a
double-blinded set, only compared, is checked with is_valid_point. Any
refused point, a duplicate, an unsorted list, a wrong session, variant or
sender, or bytes that are not the canonical encoding raise PsiMessageError.
The wire format is in crypto.mpc.psi_messages.

Threat model. Two parties (and, in one variant, the regulator), each
possibly curious. Security is for semi-honest parties, under DDH in the
prime-order group with SHA-512 as a random oracle: a party's view (the
other's blinded set, the double-blinded values it is sent) can be simulated
from its own input and its output, so it learns the output and the other's
set size, nothing more. The messages travel over authenticated, encrypted
peer links (node.mpc); this module does not encrypt.

A malicious party can do more; nothing here stops it:
- Use another set than the one it declares: nothing on chain binds a set
  (a commitment to a set could not be checked against the blinded values
  without zero-knowledge proofs). The result is only as honest as the
  inputs, and it can always learn the intersection of the peer's set with
  any set it picks of up to PSI_SET_MAX elements (less if governance caps a
  session's declared size and the node refuses a peer's round-1 message of
  another size; the size is visible to the other party before round 2).
- Probe: one real element padded with random ones turns the count into the
  answer to "is this element in your set?". A minimum set size does not
  stop this. So a session needs both parties' consent on chain and
  governance rate-limits sessions per pair (the mpc contract). Within those
  limits, a prober learns, per session, the membership in the other's set
  of every element it chooses to test, up to the session's size cap; over
  k sessions, k times that. Identifiers from a small space (account numbers
  of one bank, national ids) can be enumerated at that rate; governance
  must set the cap and the rate with that in mind.
- Break the count-only promise: in cardinality, a party that blinds each of
  its elements with a different scalar can unblind the sorted list it gets
  back element by element and learn exactly which of its elements matched.
  Against a malicious party, cardinality reveals to that party as much as
  intersection. Only cardinality-to-regulator keeps the intersection from a
  malicious party (neither party is ever sent a double-blinding of its own
  set); there the regulator learns the count and both sizes, and a
  regulator that colludes with a party hands it the values it needs to do
  the same unblinding.
- Abort unfairly: whoever receives its round-2 message first can compute
  its result and withhold its own round-2 message; or send garbage, making
  the other's result wrong (too small). The other party cannot tell a wrong
  count from a right one. The attestation on chain (both signatures over
  the result and transcripts) records that both parties agreed, not that
  either was honest.
Results leak by design: the count (or the intersection, and so the
complement: which of my elements the peer does not hold) and both set
sizes (pad with random elements up to a fixed size if a size is
sensitive). A count of 0 or of the full set says a lot.

Cost: per element and party, one hash to the group (~60 us), two scalar
multiplications (~70 us each) and one point check (~35 us), plus encoding
and sorting: 10,000 elements per side take about 2.9 s from start to both
results with the two parties in parallel on one core each, of which round 1
(`prepare`: 1.3-1.6 s) needs nothing from the peer and can run as soon as
the session is open on chain. The functions are batch functions
(`hash_all`, `blind_all`) so a node can hand batches to worker processes.

Must not: do I/O, read a clock, or draw randomness except in
`random_scalar` (and in PsiParty when no scalar is given). Imports crypto only.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions

from crypto.mpc.psi_messages import (PSI_MESSAGE_BYTES_MAX, PSI_SET_MAX, POINT_BYTES, SESSION_ID_BYTES_MAX,
                                     BlindedSet, DoubleBlindedSet, PsiMessageError, Role, Variant,
                                     check_points, check_session_id, decode_message)
from crypto.mpc.transcript import RECEIVED, SENT, transcript_start, transcript_step

__all__ = [
    "PSI_ELEMENT_BYTES_MAX", "PSI_MESSAGE_BYTES_MAX", "PSI_SET_MAX", "POINT_BYTES", "SESSION_ID_BYTES_MAX",
    "BlindedSet", "DoubleBlindedSet", "PsiInputError", "PsiMessageError", "PsiParty", "PsiResult",
    "PsiStateError", "PsiTally", "Role", "Step", "Variant", "blind_all", "check_points", "check_scalar",
    "count_for_regulator", "decode_message", "hash_all", "hash_to_group", "random_scalar",
]

GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493  # L
SCALAR_BYTES = 32
PSI_ELEMENT_BYTES_MAX = 256
HASH_DOMAIN = b"consort/mpc/psi/hash-to-group/v1\x00"
REGULATOR = "regulator"
_ZERO_SCALAR = bytes(SCALAR_BYTES)

Rng = Callable[[int], bytes]


class PsiInputError(ValueError):
    """Our own input is out of bounds: the caller's fault."""


class PsiStateError(RuntimeError):
    """A step was called out of order, or one this party does not have: our bug."""


@dataclass(frozen=True, slots=True)
class _Plan:
    send_to: str | None  # where this role's round-2 message goes: "peer", REGULATOR or nowhere
    learns: bool  # whether this role finishes with a result


_PEER = "peer"
_PLANS = {
    (Variant.CARDINALITY, Role.INITIATOR): _Plan(_PEER, True),
    (Variant.CARDINALITY, Role.RESPONDER): _Plan(_PEER, True),
    (Variant.INTERSECTION, Role.INITIATOR): _Plan(_PEER, True),
    (Variant.INTERSECTION, Role.RESPONDER): _Plan(_PEER, True),
    (Variant.CARDINALITY_TO_REGULATOR, Role.INITIATOR): _Plan(REGULATOR, False),
    (Variant.CARDINALITY_TO_REGULATOR, Role.RESPONDER): _Plan(REGULATOR, False),
    (Variant.CARDINALITY_TO_INITIATOR, Role.INITIATOR): _Plan(None, True),
    (Variant.CARDINALITY_TO_INITIATOR, Role.RESPONDER): _Plan(_PEER, False),
}


# --- the group ------------------------------------------------------------------

def hash_to_group(session_id: bytes, element: bytes) -> bytes:
    """H(element) for this session: a point of the prime-order group."""
    return hash_all(session_id, [element])[0]


def hash_all(session_id: bytes, elements: Iterable[bytes]) -> list[bytes]:
    """H(x) for every x, in order (the elements are checked first)."""
    check_session_id(session_id, PsiInputError)
    prefix = HASH_DOMAIN + bytes([len(session_id)]) + session_id
    from_uniform, add = sodium.crypto_core_ed25519_from_uniform, sodium.crypto_core_ed25519_add
    sha512 = hashlib.sha512
    points = []
    for element in elements:
        _check_element(element)
        h = sha512(prefix + element).digest()
        points.append(add(from_uniform(h[:32]), from_uniform(h[32:])))
    return points


def random_scalar(rng: Rng = secrets.token_bytes) -> bytes:
    """A fresh secret scalar: 64 random bytes reduced mod L (bias below 2^-259), never zero."""
    while True:
        scalar = sodium.crypto_core_ed25519_scalar_reduce(rng(64))
        if scalar != _ZERO_SCALAR:
            return scalar


def check_scalar(scalar: bytes) -> None:
    """Refuse anything but the 32-byte little-endian form of a scalar in [1, L)."""
    if not isinstance(scalar, bytes) or len(scalar) != SCALAR_BYTES:
        raise PsiInputError(f"a scalar is {SCALAR_BYTES} bytes")
    if not 0 < int.from_bytes(scalar, "little") < GROUP_ORDER:
        raise PsiInputError("a scalar must lie in [1, L)")


def blind_all(points: Sequence[bytes], scalar: bytes) -> list[bytes]:
    """point^scalar for every point, in order. A point outside the prime-order
    group (non-canonical, small order, off the subgroup) raises PsiMessageError."""
    check_scalar(scalar)
    multiply = sodium.crypto_scalarmult_ed25519_noclamp
    blinded = []
    for index, point in enumerate(points):
        try:
            blinded.append(multiply(scalar, point))
        except (nacl.exceptions.RuntimeError, nacl.exceptions.TypeError):
            raise PsiMessageError(f"point {index} is not an element of the prime-order group") from None
    return blinded


# --- a party, step by step ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Step:
    """What to send after a step: to the other party, to the regulator, or nothing."""

    to_peer: bytes | None = None
    to_regulator: bytes | None = None


@dataclass(frozen=True, slots=True)
class PsiResult:
    """The count, and in intersection this party's own elements in A∩B."""

    count: int
    elements: frozenset[bytes] | None = None


@dataclass(frozen=True, slots=True)
class PsiTally:
    """What the regulator learns in cardinality-to-regulator, and its transcript hash."""

    count: int
    transcript_hash: bytes


class PsiParty:
    """One party of one session. Call, in order: `first_message()` (send it
    to the peer), `respond(peer's BlindedSet)` (send what the Step holds),
    and, if this role learns a result, `finish(peer's DoubleBlindedSet)`.
    `prepare()` does the costly part of the first step ahead of time."""

    def __init__(self, session_id: bytes, role: Role, elements: Iterable[bytes], variant: Variant,
                 *, scalar: bytes | None = None) -> None:
        check_session_id(session_id, PsiInputError)
        self.session_id, self.role, self.variant = session_id, Role(role), Variant(variant)
        self._plan = _PLANS[(self.variant, self.role)]
        self._elements = _checked_set(elements)
        self._scalar = random_scalar() if scalar is None else scalar
        check_scalar(self._scalar)
        self._peer_role = Role.RESPONDER if self.role == Role.INITIATOR else Role.INITIATOR
        self._transcript_head = transcript_start(session_id, str(self.role))
        self._phase = "new"
        self._own_blinded: tuple[bytes, ...] = ()
        self._element_of: dict[bytes, bytes] = {}
        self._peer_doubled: frozenset[bytes] = frozenset()
        self.result: PsiResult | None = None

    @property
    def transcript_hash(self) -> bytes:
        return self._transcript_head

    @property
    def learns_result(self) -> bool:
        return self._plan.learns

    def prepare(self) -> None:
        """Hash and blind this party's own set (idempotent)."""
        if self._element_of or not self._elements:
            return
        blinded = blind_all(hash_all(self.session_id, self._elements), self._scalar)
        element_of = dict(zip(blinded, self._elements))
        if len(element_of) != len(self._elements):  # a hash collision: probability about n^2 / 2^252
            raise PsiInputError("two elements blind to one point")
        self._element_of = element_of
        self._own_blinded = tuple(sorted(element_of))

    def first_message(self) -> bytes:
        """Round 1: this party's BlindedSet, for the peer."""
        self._expect("new", "first_message")
        self.prepare()
        data = BlindedSet(self.session_id, self.variant, self.role, self._own_blinded).encode()
        self._record(SENT, str(self._peer_role), data)
        self._phase = "offered"
        return data

    def respond(self, message: bytes) -> Step:
        """Round 2: blind the peer's BlindedSet again; say where the result goes."""
        self._expect("offered", "respond")
        received = self._from_peer(message, BlindedSet, check_group=False)
        doubled = blind_all(received.points, self._scalar)  # which refuses any point outside the group
        self._record(RECEIVED, str(self._peer_role), message)
        self._peer_doubled = frozenset(doubled)
        self._phase = "responded" if self._plan.learns else "done"
        if self._plan.send_to is None:
            return Step()
        ordered = tuple(doubled) if self.variant == Variant.INTERSECTION else tuple(sorted(doubled))
        data = DoubleBlindedSet(self.session_id, self.variant, self.role, ordered).encode()
        if self._plan.send_to == REGULATOR:
            self._record(SENT, REGULATOR, data)
            return Step(to_regulator=data)
        self._record(SENT, str(self._peer_role), data)
        return Step(to_peer=data)

    def finish(self, message: bytes) -> PsiResult:
        """The peer's double-blinding of this party's set -> the result."""
        if not self._plan.learns:
            raise PsiStateError(f"the {self.role} learns nothing in {self.variant}")
        self._expect("responded", "finish")
        received = self._from_peer(message, DoubleBlindedSet, check_group=True)
        if len(received.points) != len(self._own_blinded):
            raise PsiMessageError(f"expected {len(self._own_blinded)} points, got {len(received.points)}")
        self._record(RECEIVED, str(self._peer_role), message)
        if self.variant == Variant.INTERSECTION:
            mine = frozenset(self._element_of[own] for own, double in zip(self._own_blinded, received.points)
                             if double in self._peer_doubled)
            self.result = PsiResult(len(mine), mine)
        else:
            self.result = PsiResult(sum(1 for double in received.points if double in self._peer_doubled))
        self._phase = "finished"
        return self.result

    def _record(self, direction: str, counterpart: str, message: bytes) -> None:
        self._transcript_head = transcript_step(self._transcript_head, direction, counterpart, message)

    def _expect(self, phase: str, step: str) -> None:
        if self._phase != phase:
            raise PsiStateError(f"{step} called in phase {self._phase}")

    def _from_peer(self, data: bytes, kind: type, check_group: bool) -> BlindedSet | DoubleBlindedSet:
        message = decode_message(data, check_group=check_group)
        _check_routing(message, kind, self.session_id, self.variant, self._peer_role)
        return message


def count_for_regulator(session_id: bytes, from_initiator: bytes, from_responder: bytes) -> PsiTally:
    """The regulator's side of cardinality-to-regulator: |A∩B| from the two
    parties' DoubleBlindedSets (each blinded the other's set)."""
    check_session_id(session_id, PsiInputError)
    variant = Variant.CARDINALITY_TO_REGULATOR
    head = transcript_start(session_id, REGULATOR)
    sets = []
    for sender, data in ((Role.INITIATOR, from_initiator), (Role.RESPONDER, from_responder)):
        message = decode_message(data)
        _check_routing(message, DoubleBlindedSet, session_id, variant, sender)
        head = transcript_step(head, RECEIVED, str(sender), data)
        sets.append(frozenset(message.points))
    return PsiTally(len(sets[0] & sets[1]), head)


# --- checks ---------------------------------------------------------------------

def _check_routing(message: BlindedSet | DoubleBlindedSet, kind: type, session_id: bytes, variant: Variant,
                   sender: Role) -> None:
    if type(message) is not kind:
        raise PsiMessageError(f"expected {kind.__name__}, got {type(message).__name__}")
    if message.session_id != session_id or message.variant != variant or message.sender != sender:
        raise PsiMessageError(f"message for another session, variant or sender (from {message.sender})")


def _check_element(element: bytes) -> None:
    if not isinstance(element, bytes) or not 0 < len(element) <= PSI_ELEMENT_BYTES_MAX:
        raise PsiInputError(f"an element is 1..{PSI_ELEMENT_BYTES_MAX} bytes")


def _checked_set(elements: Iterable[bytes]) -> tuple[bytes, ...]:
    items = tuple(elements)
    if len(items) > PSI_SET_MAX:
        raise PsiInputError(f"a set holds at most {PSI_SET_MAX} elements")
    for element in items:
        _check_element(element)
    if len(set(items)) != len(items):
        raise PsiInputError("duplicate elements")
    return items
