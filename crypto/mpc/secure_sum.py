"""Secure sum of integer vectors between n >= 3 parties, by pairwise masking,
with Pedersen commitments that let anyone check the result.

The protocol, for parties P_1 < ... < P_n (institution ids as strings), each
holding a vector x_i of `length` integers in [0, V] (or [-V, V] for a signed
session, for net positions), V the session's value maximum:

1. Commit. P_i draws fresh blindings r_i (one per element) and posts
   C_ij = commit(x_ij mod L, r_ij) for every element j (SumCommitments).
   Nothing masked is revealed before every party's commitments are in.
2. Mask. P_i derives a seed with each other party (X25519 between their
   registered MPC keys, bound to the session id: see masking) and sends
   y_i = x_i + sum_k (+/-) m_ik  mod M  and  z_i = r_i + sum_k (+/-) m'_ik  mod L
   (SumMasked), adding the pair's masks where it sorts first and
   subtracting them where it sorts second. M = 2^bits is the smallest power
   of two above n*V (above 2nV+1 when signed), so the true sum never wraps.
3. Combine. Whoever holds all n masked messages adds them: the masks cancel,
   leaving S = sum_i x_i (mod M, centred when signed) and R = sum_i r_i mod L
   (SumResult). Signed inputs are sound: every sum lies in [-nV, nV], and
   both M and L exceed 2nV + 1, so the centred residue mod M is the true
   sum and S mod L stands for one sum only.
4. Check. sum_i C_ij must equal commit(S_j mod L, R_j) for every j.
   Anyone holding the commitments and the result can run it.

Threat model.

- Semi-honest parties, who may collude. P_i's masked vectors are its inputs
  plus, for each other party P_k, a uniform mask known to P_i and P_k only.
  So a coalition learns nothing about an honest party's input beyond what
  the result tells it, unless ALL n-1 other parties are in the coalition.
  With two or more honest parties, the coalition learns only the sum of the
  honest parties' inputs (the result minus its own). With n = 2 the result
  itself reveals the other party's input: hence PARTIES_MIN = 3.
- The result leaks the sum, element by element; whoever knows n-1 inputs
  learns the last one from it. Whoever holds all n masked messages learns
  S and R: to seal the result to one recipient, send the masked messages to
  that recipient only (the parties then cannot check it themselves), and
  seal R with S: with R public, S*G = sum_i C_i - R*H, and the sum ranges
  over at most 2nV+1 values, which baby-step giant-step searches in about
  sqrt(2nV) group operations (about 2^32 for three parties and V = 2^62):
  feasible.
- Why each party's blinding is masked rather than revealed: with r_i known,
  x_i*G = C_i - r_i*H, and x_i in [0, V] falls to the same search in about
  sqrt(V) steps (2^31 for V = 2^62; at once for small figures). The masked
  blinding z_i is uniform mod L to anyone missing one of P_i's pair seeds,
  so C_i stays perfectly hiding; only R = sum_i r_i comes out, and it opens
  only sum_i C_i, that is the result.
- A malicious party can: contribute any value it likes (input substitution,
  as in any MPC; there are no range proofs, so even one outside [0, V] or
  one that makes the sum wrap mod M), but it is fixed when it commits, and
  the check guarantees the published sums are the sums of the committed
  values (each read as an integer in (-L/2, L/2)). Changing its input after
  committing, or tampering with its masked values or blindings, makes the
  check fail (passing it would open a commitment two ways, giving log_G H).
  Copying or shifting another party's commitment does not help: it cannot
  then send a masked vector that matches without knowing that input.
- The check detects cheating but cannot say who cheated: masked vectors
  are uniformly random, and no single party's contribution can be opened
  without revealing its input. Only malformed messages and invalid points
  are attributable (to the authenticated link they came on).
- A party that withholds its masked vector after receiving the others'
  learns what the result would have told it (their sum) and no more.
- A party that stops answering stalls the session: the session aborts and
  may be re-run without it under a FRESH session id. A session id must
  never be used twice: masks repeat with it, and two masked vectors under
  the same masks reveal the difference of the inputs.

The API is pure and step by step (a node drives it over its peer links;
tests drive it in memory): SumSpec fixes the public parameters, SumParty
holds one party's secrets and enforces the order of its steps
(`commitments()`, `receive_commitments(message)` for each other party's,
`masked()` once all are in, then `combine(all_masked)` and
`check(result)`), and `combine` and `check_result` are plain functions for
a recipient or an auditor who holds no input.

Must not: do I/O, read a clock, or draw randomness except the blindings
drawn in SumParty (its `rng` is for tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crypto.mpc import pedersen
from crypto.mpc.masking import PEERS_MAX, apply_masks, pair_seed
from crypto.mpc.pedersen import GROUP_ORDER, PointError, Rng
from crypto.mpc.sum_messages import (MODULUS_BITS_MAX, PARTY_ID_CHARS_MAX, SESSION_ID_BYTES_MAX,
                                     VECTOR_LENGTH_MAX, MessageError, SumCommitments, SumMasked,
                                     SumResult, centre)

__all__ = ["PARTIES_MIN", "PARTIES_MAX", "VALUE_MAX_LIMIT", "VECTOR_LENGTH_MAX", "MessageError", "StateError",
           "SumCommitments", "SumMasked", "SumResult", "SumSpec", "SumParty", "combine", "check_result"]

PARTIES_MIN = 3
PARTIES_MAX = 32
assert PARTIES_MAX - 1 <= PEERS_MAX
VALUE_MAX_LIMIT = 2**112  # a threshold check's masked input (crypto.mpc.threshold) is below 2^108


class StateError(RuntimeError):
    """A step taken out of order: our caller's bug, never a peer's."""


@dataclass(frozen=True, slots=True)
class SumSpec:
    """The public parameters every party and checker of one session agrees on."""

    session_id: bytes
    parties: tuple[str, ...]
    length: int
    value_max: int
    signed: bool = False

    def __post_init__(self) -> None:
        if type(self.session_id) is not bytes or not 0 < len(self.session_id) <= SESSION_ID_BYTES_MAX:
            raise ValueError(f"session id must be 1 to {SESSION_ID_BYTES_MAX} bytes")
        if not isinstance(self.parties, (tuple, list)):
            raise ValueError("parties must be a tuple or list of party ids")
        parties = tuple(self.parties)
        if not all(type(p) is str and 0 < len(p) <= PARTY_ID_CHARS_MAX for p in parties):
            raise ValueError(f"party ids must be strings of 1 to {PARTY_ID_CHARS_MAX} characters")
        if len(set(parties)) != len(parties) or not PARTIES_MIN <= len(parties) <= PARTIES_MAX:
            raise ValueError(f"a sum takes {PARTIES_MIN} to {PARTIES_MAX} distinct parties")
        object.__setattr__(self, "parties", tuple(sorted(parties)))
        if type(self.length) is not int or not 0 < self.length <= VECTOR_LENGTH_MAX:
            raise ValueError(f"vector length must be 1 to {VECTOR_LENGTH_MAX}")
        if type(self.value_max) is not int or not 0 < self.value_max <= VALUE_MAX_LIMIT:
            raise ValueError(f"value_max must be 1 to {VALUE_MAX_LIMIT}")
        if type(self.signed) is not bool:
            raise ValueError("signed must be a bool")
        assert self.modulus_bits <= MODULUS_BITS_MAX

    @property
    def modulus_bits(self) -> int:
        """M = 2^bits > n*V (> 2nV + 1 when signed): no sum of inputs wraps."""
        return (len(self.parties) * self.value_max).bit_length() + self.signed

    @property
    def value_min(self) -> int:
        return -self.value_max if self.signed else 0

    def in_range(self, value: object) -> bool:
        return type(value) is int and self.value_min <= value <= self.value_max


# --- anyone: combine the masked messages, check a result --------------------------

def _check_sender(spec: SumSpec, message: SumCommitments | SumMasked, what: str) -> None:
    if message.session_id != spec.session_id:
        raise MessageError(f"{what} from {message.sender!r} is for another session")
    if message.sender not in spec.parties:
        raise MessageError(f"{what} from {message.sender!r}, who is not a party")


def _by_party(spec: SumSpec, messages: Sequence, what: str) -> list:
    """The messages in party order: exactly one from each party, of this session."""
    found: dict[str, object] = {}
    for message in messages:
        _check_sender(spec, message, what)
        if message.sender in found:
            raise MessageError(f"two {what} messages from {message.sender!r}")
        found[message.sender] = message
    missing = [p for p in spec.parties if p not in found]
    if missing:
        raise MessageError(f"no {what} from {', '.join(missing)}")
    return [found[p] for p in spec.parties]


def _check_masked(spec: SumSpec, message: SumMasked) -> None:
    if message.modulus_bits != spec.modulus_bits or len(message.values) != spec.length:
        raise MessageError(f"masked vector from {message.sender!r} does not fit the session's "
                           f"modulus or length")


def _check_commitments(spec: SumSpec, message: SumCommitments) -> None:
    if len(message.points) != spec.length:
        raise MessageError(f"commitments from {message.sender!r}: {len(message.points)}, not {spec.length}")


def combine(spec: SumSpec, all_masked: Sequence[SumMasked]) -> SumResult:
    """The session's result from every party's masked message (one each)."""
    messages = _by_party(spec, all_masked, "masked")
    for message in messages:
        _check_masked(spec, message)
    bits = spec.modulus_bits
    mask = (1 << bits) - 1
    residues = [sum(column) & mask for column in zip(*(m.values for m in messages))]
    sums = tuple(centre(s, bits) for s in residues) if spec.signed else tuple(residues)
    blindings = tuple(sum(column) % GROUP_ORDER for column in zip(*(m.blindings for m in messages)))
    return SumResult(spec.session_id, bits, spec.signed, sums, blindings)


def check_result(spec: SumSpec, result: SumResult, all_commitments: Sequence[SumCommitments]) -> bool:
    """Whether every sum and combined blinding opens the sum of the parties'
    commitments to that element; invalid points make it False. A result or
    commitments that do not fit the session raise MessageError."""
    commitments = _by_party(spec, all_commitments, "commitments")
    for message in commitments:
        _check_commitments(spec, message)
        if not all(pedersen.is_valid_point(point) for point in message.points):
            return False
    return _opens(spec, result, commitments)


def _opens(spec: SumSpec, result: SumResult, commitments: Sequence[SumCommitments]) -> bool:
    """check_result over commitments already validated, in party order."""
    if (result.session_id != spec.session_id or result.modulus_bits != spec.modulus_bits
            or result.signed != spec.signed or len(result.sums) != spec.length):
        raise MessageError("the result does not fit the session")
    n = len(spec.parties)
    low, high = n * spec.value_min, n * spec.value_max
    if not all(low <= s <= high for s in result.sums):
        return False
    for points, s, r in zip(zip(*(m.points for m in commitments)), result.sums, result.blindings):
        total = points[0]
        for point in points[1:]:
            total = pedersen.add(total, point)
        if total != pedersen.commit(s % GROUP_ORDER, r):
            return False
    return True


# --- one party ------------------------------------------------------------------------

_START, _COMMITTED, _MASKED = "start", "committed", "masked"
_ALLOWED = {  # step -> the states it may be taken in
    "commitments": (_START, _COMMITTED, _MASKED),
    "receive_commitments": (_START, _COMMITTED, _MASKED),
    "masked": (_COMMITTED, _MASKED),
    "combine": (_MASKED,),
    "check": (_MASKED,),
}


class SumParty:
    """One party's side of a secure sum: its inputs, blindings and pair seeds.

    Steps: `commitments()` (post it; calling again returns the same
    message); `receive_commitments(message)` for each other party's, in any
    order, before or after our own (each validated on receipt; an identical
    copy is ignored); `masked()` once every party's commitments are in
    (calling again returns the same message); then `combine(all_masked)`
    and `check(result)`. A step out of order raises StateError; a bad
    message from a peer raises MessageError naming it.
    """

    def __init__(self, spec: SumSpec, me: str, kx_keypair: tuple[bytes, bytes],
                 peer_kx_publics: Mapping[str, bytes], inputs: Sequence[int], *, rng: Rng | None = None):
        if me not in spec.parties:
            raise ValueError(f"{me!r} is not a party of the session")
        inputs = tuple(inputs)
        if len(inputs) != spec.length or not all(spec.in_range(x) for x in inputs):
            raise ValueError(f"inputs must be {spec.length} integers in [{spec.value_min}, {spec.value_max}]")
        if me in peer_kx_publics and peer_kx_publics[me] != kx_keypair[0]:
            raise ValueError("the kx public key listed for me is not my key pair's")
        missing = [p for p in spec.parties if p != me and p not in peer_kx_publics]
        if missing:
            raise ValueError(f"no kx public key for {', '.join(missing)}")
        self.spec, self.me = spec, me
        self._seeds = {peer: pair_seed(spec.session_id, me, peer, kx_keypair, peer_kx_publics[peer])
                       for peer in spec.parties if peer != me}
        self._inputs = inputs
        self._blindings = tuple(pedersen.random_blindings(spec.length, rng))
        self._state = _START
        self._commitments: dict[str, SumCommitments] = {}
        self._own_masked: SumMasked | None = None

    def _enter(self, step: str) -> None:
        if self._state not in _ALLOWED[step]:
            raise StateError(f"{self.me}: {step} is not allowed in state {self._state}")

    def commitments(self) -> SumCommitments:
        """This party's commitments, one per element (computed once)."""
        self._enter("commitments")
        if self.me not in self._commitments:
            points = tuple(pedersen.commit(x % GROUP_ORDER, r) for x, r in zip(self._inputs, self._blindings))
            self._commitments[self.me] = SumCommitments(self.spec.session_id, self.me, points)
            self._state = _COMMITTED
        return self._commitments[self.me]

    def receive_commitments(self, message: SumCommitments) -> None:
        """Take another party's commitments (ours echoed back must be ours)."""
        self._enter("receive_commitments")
        _check_sender(self.spec, message, "commitments")
        known = self._commitments.get(message.sender)
        if known is not None:
            if known != message:
                raise MessageError(f"two different commitments from {message.sender!r}")
            return
        if message.sender == self.me:
            raise MessageError(f"commitments under {self.me!r}'s name before it made its own")
        _check_commitments(self.spec, message)
        try:
            pedersen.require_valid_points(message.points)
        except PointError as exc:
            raise MessageError(f"commitments from {message.sender!r}: {exc}") from None
        self._commitments[message.sender] = message

    def commitments_missing(self) -> list[str]:
        """The parties whose commitments have not come in, in order."""
        return [p for p in self.spec.parties if p not in self._commitments]

    def masked(self) -> SumMasked:
        """This party's masked message; only once every party's commitments are in."""
        self._enter("masked")
        missing = self.commitments_missing()
        if missing:
            raise StateError(f"{self.me}: masked before the commitments of {', '.join(missing)}")
        if self._own_masked is None:
            modulus = 1 << self.spec.modulus_bits
            values, blindings = apply_masks(self.me, self._seeds, [x % modulus for x in self._inputs],
                                            list(self._blindings), self.spec.modulus_bits)
            self._own_masked = SumMasked(self.spec.session_id, self.me, self.spec.modulus_bits,
                                         tuple(values), tuple(blindings))
            self._state = _MASKED
        return self._own_masked

    def combine(self, all_masked: Sequence[SumMasked]) -> SumResult:
        """The result from every party's masked message, this party's own among them."""
        self._enter("combine")
        if self._own_masked not in all_masked:
            raise MessageError(f"the masked messages do not include {self.me!r}'s own")
        return combine(self.spec, all_masked)

    def check(self, result: SumResult) -> bool:
        """Whether `result` opens the commitments this party received."""
        self._enter("check")
        return _opens(self.spec, result, [self._commitments[p] for p in self.spec.parties])
