"""Threshold check: is an aggregate S = x_1 + ... + x_n over a limit L (for
example a borrower's total exposure at n banks against the large-exposure
limit)? Only the recipients (the regulator) learn the answer, yes or no,
and the regulator runs no node: it takes no part while the check runs and
reads its sealed answer from the chain afterwards.

Roles. The participants are n >= 3 banks, sorted by id. The comparator P is
participants[0] (it also coordinates the attestation); the evaluator E is
participants[1]; the others only give their inputs. L is public to the
participants (a large-exposure limit is a figure the regulator sets). Each
bank's input is at most V, the session's value_max, so with
b = sum_bits(V, n) = (V * n).bit_length() every sum S < 2^b, and L < 2^b
(else the answer is always no, and the session is refused when opened).
With kappa = STATISTICAL_SECURITY_BITS and w = b + kappa + 1:

1. P draws rho uniformly from [0, 2^(b+kappa)) (`draw_offset`).
2. The n banks run the secure sum (crypto.mpc.secure_sum, `sum_spec`) with
   P's input x_P + rho; each bank's Pedersen commitment goes on chain; the
   masked vectors go to E only. E combines them into C = S + rho and checks
   C against the sum of every commitment, as any sum's combiner does. The
   sum's value maximum is 2^w - 1 (`masked_value_max`), so P's input fits
   and no C wraps (the sum has no range proofs, so the larger bound gives
   the other banks nothing they did not have).
3. E and P compare C with T = L + rho by PSI, with Lin and Tzeng's
   reduction of "greater than" to set intersection. For w-bit x and y:
       ones(x)  = { (w - j, x >> j)       : bit j of x is 1 }
       zeros(y) = { (w - j, (y >> j) | 1) : bit j of y is 0 }
   x > y if and only if ones(x) and zeros(y) share an element, and they share
   at most one: at the highest bit j where x and y differ, x has 1, y has 0
   and the bits above agree, so (x >> j) = (y >> j) | 1; at a lower j the
   prefixes differ at that highest bit; at a higher j the bits agree, so
   they are not 1 and 0. E holds ones(C) (`evaluator_set`), P holds
   zeros(T) (`comparator_set`), each padded with dummies (which match
   nothing) to exactly w elements. They run PSI cardinality-to-regulator
   (crypto.mpc.psi) with E as initiator: each sends its blinded set to the
   other, blinds the other's set again, and seals that double-blinded set
   to each recipient instead of sending it back. The recipient opens both
   and counts the common points (`verdict_for_recipient`):
   |ones(C) ∩ zeros(T)| = [C > T] = [S + rho > L + rho] = [S > L] (no
   wrap-around: integers). A count outside {0, 1} is no honest run's.

"At or over the limit" is the same check against L - 1.

Threat model. Semi-honest parties unless said otherwise. What each learns:
- the recipient R: the verdict, and w. Its box holds two sets of w points,
  pseudorandom apart from their one common point or none (DDH, as in psi).
  It sends nothing, so it cannot probe.
- the evaluator E: C = S + rho. For any two sums S, S' < 2^b the
  distributions of C are within |S - S'| / 2^(b+kappa) < 2^-kappa of each
  other in statistical distance: C hides S statistically (2^-40), not
  perfectly. P's blinded set is pseudorandom; E never sees a
  double-blinding of its own set (P seals it to R), so no verdict.
- the comparator P: rho and E's blinded set, pseudorandom and always of w
  points; no verdict, for the same reason.
- the other banks: what the secure sum shows a party that does not
  combine, which is nothing (commitments hide perfectly).
Collusions:
- E with P: S = C - rho exactly, and so the sum of the other banks' inputs
  (with n = 3, the third bank's input). The roles are known when the
  session opens; banks that must not be paired should not be the first two.
- E with R: C and the verdict, still not S (rho stays with P). P with R:
  rho and the verdict, not S (C stays with E).
- R with other banks, or banks without E and P: nothing beyond their own
  inputs and the verdict.
A malicious party can do more:
- P sets the verdict (any T it likes), and so does E (any set it likes),
  undetectably; either can also send sets that make the count 2 or more,
  which the recipient reports as cheating. Any bank moves S by changing its
  input, as in every sum; once committed, a changed input or masked vector
  fails E's check.
- E or P colluding with R can pick its set to test prefixes of the other's
  value instead of the honest encoding. Knowing C (or rho), such a pair
  knows where T (or C) lies to within 2^b, so a session tells it how many
  top bits of S agree with a guess: about log2(w) bits of S per session
  instead of one.
- the attestation on chain records who took part and signed the sealed
  boxes, not that the verdict is right.
The verdict itself leaks one bit per session: checks of the same exposures
against different limits binary-search S (about b sessions). The mpc
contract counts a threshold session as a PSI session of its pair (P, E)
under governance's per-pair rate limit, and under the opener's limit of
sessions open at once; what remains is that many bits of S per window
(more for the malicious pairs above), and every bank gives its input anew
for each session, seeing its limit.

Candidates considered and not chosen:
- The regulator as the online PSI initiator holding C (this module's first
  design): the regulator runs no node, and as initiator it could pick its
  set and probe T; here it only receives.
- Multiplicative masking: the banks share r > 0 and s with 1 <= s < r, and
  the recipient learns V = r(S - L) - s, positive exactly when S > L. But V
  reveals S - L up to the factor r: with r uniform on [1, R], |S - L| is
  about |V|/r, and P(r < R / 2^k) = 2^-k, so the recipient learns
  log2|S - L| to within a few bits with high probability. Not hiding; and
  any bank colluding with the recipient reveals S exactly.
- MPyC in a subprocess (Shamir secret sharing, comparison by masked bit
  decomposition): sound for an honest majority with the same kind of
  statistical leakage, but it needs mpyc and gmpy2, its own TCP transport
  relayed over our links, a process per session and its own transcripts.
- Generic two-party computation (garbled circuits, DGK comparison over
  Paillier): standard and sound, but several hundred lines of new
  cryptography in pure Python with no library we already trust.

Must not: do I/O, read a clock, or draw randomness except in `draw_offset`
(which takes an `rng` for tests) and in the PSI parties' scalars. Imports
crypto only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from crypto.hashing import digest
from crypto.mpc.psi import PsiParty, Role, Variant, count_for_regulator
from crypto.mpc.secure_sum import SumSpec

STATISTICAL_SECURITY_BITS = 40
SUM_BITS_MAX = 512
_REAL, _DUMMY = b"\x00", b"\x01"
_EVALUATOR_SIDE, _COMPARATOR_SIDE = b"E", b"C"

Rng = Callable[[int], bytes]


class ThresholdError(ValueError):
    """A value out of its range (our caller's fault), or a count that no
    honest run produces (a participant's fault)."""


def sum_bits(value_max: int, parties: int) -> int:
    """b: every sum of `parties` inputs in [0, value_max] is below 2^b."""
    if type(value_max) is not int or type(parties) is not int or value_max < 1 or parties < 1:
        raise ThresholdError("value_max and parties must be positive integers")
    return (value_max * parties).bit_length()


def width(bits: int) -> int:
    """w: the bit length of C and T, and the size of each PSI set."""
    if type(bits) is not int or not 0 < bits <= SUM_BITS_MAX:
        raise ThresholdError(f"sum_bits must lie in 1..{SUM_BITS_MAX}")
    return bits + STATISTICAL_SECURITY_BITS + 1


def masked_value_max(bits: int) -> int:
    """The secure sum's value maximum: P's x_P + rho is below 2^w."""
    return 2 ** width(bits) - 1


def sum_spec(session_id: bytes, parties: Sequence[str], bits: int) -> SumSpec:
    """Step 2's secure sum: one element, every C below its modulus."""
    return SumSpec(session_id, tuple(parties), 1, masked_value_max(bits))


def draw_offset(bits: int, rng: Rng = secrets.token_bytes) -> int:
    """The comparator's rho, uniform in [0, 2^(sum_bits + kappa))."""
    offset_bits = width(bits) - 1
    size = (offset_bits + 7) // 8
    return int.from_bytes(rng(size), "big") >> (8 * size - offset_bits)


def ones_encoding(x: int, bit_count: int) -> set[bytes]:
    """ones(x): the prefixes of x that end in a 1 bit, one per such bit."""
    _check_value(x, bit_count, "x")
    return {_prefix(bit_count - j, x >> j, bit_count) for j in range(bit_count) if x >> j & 1}


def zeros_encoding(y: int, bit_count: int) -> set[bytes]:
    """zeros(y): for each 0 bit of y, the prefix above it followed by a 1."""
    _check_value(y, bit_count, "y")
    return {_prefix(bit_count - j, y >> j | 1, bit_count) for j in range(bit_count) if not y >> j & 1}


def evaluator_set(masked_total: int, bits: int) -> list[bytes]:
    """ones(C) padded with the evaluator's dummies to exactly w elements."""
    w = width(bits)
    return _padded(ones_encoding(masked_total, w), w, _EVALUATOR_SIDE)


def comparator_set(limit: int, offset: int, bits: int) -> list[bytes]:
    """zeros(L + rho) padded with the comparator's dummies to exactly w elements."""
    w = width(bits)
    _check_value(limit, bits, "limit")
    _check_value(offset, w - 1, "offset")
    return _padded(zeros_encoding(limit + offset, w), w, _COMPARATOR_SIDE)


def psi_session_id(session_id: bytes) -> bytes:
    """The PSI session of a threshold session: its own id, so its messages
    are never taken for those of a plain PSI session with the same id."""
    return digest("mpc/threshold/psi", session_id)


def evaluator_party(session_id: bytes, masked_total: int, bits: int, *, scalar: bytes | None = None) -> PsiParty:
    """E's side of step 3: the PSI initiator; its double-blinding goes to the recipients."""
    return PsiParty(psi_session_id(session_id), Role.INITIATOR, evaluator_set(masked_total, bits),
                    Variant.CARDINALITY_TO_REGULATOR, scalar=scalar)


def comparator_party(session_id: bytes, limit: int, offset: int, bits: int, *,
                     scalar: bytes | None = None) -> PsiParty:
    """P's side of step 3: the PSI responder; its double-blinding goes to the recipients."""
    return PsiParty(psi_session_id(session_id), Role.RESPONDER, comparator_set(limit, offset, bits),
                    Variant.CARDINALITY_TO_REGULATOR, scalar=scalar)


def verdict_for_recipient(session_id: bytes, from_evaluator: bytes, from_comparator: bytes) -> bool:
    """S > L, from E's and P's DoubleBlindedSet messages (each the other's set
    blinded again). A malformed message raises PsiMessageError; a count
    other than 0 or 1, ThresholdError: either way a participant cheated."""
    count = count_for_regulator(psi_session_id(session_id), from_evaluator, from_comparator).count
    if count not in (0, 1):
        raise ThresholdError(f"{count} common prefixes: a participant's set is not its encoding "
                             "(a participant cheated)")
    return count == 1


def _prefix(length: int, value: int, bit_count: int) -> bytes:
    return _REAL + length.to_bytes(2, "big") + value.to_bytes((bit_count + 7) // 8, "big")


def _padded(elements: set[bytes], w: int, side: bytes) -> list[bytes]:
    dummies = [_DUMMY + side + i.to_bytes(2, "big") for i in range(w - len(elements))]
    return sorted(elements) + dummies


def _check_value(value: int, bit_count: int, what: str) -> None:
    if type(value) is not int or not 0 <= value < 2**bit_count:
        raise ThresholdError(f"{what} must be an integer in [0, 2^{bit_count})")
