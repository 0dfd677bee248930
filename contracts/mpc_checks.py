"""The mpc contract's check of a clear secure-sum result, over the Pedersen
commitments of crypto.mpc.pedersen (C = v*G + r*H on the ed25519 group, H
from a fixed domain string; see there for the zero scalars): whether, element
by element, the sum of every participant's commitments opens to the
published total and combined blinding factor. Pure: no I/O, no clock, no
randomness.
"""

from __future__ import annotations

from crypto.mpc import pedersen

GROUP_ORDER = pedersen.GROUP_ORDER  # L
BASE = pedersen.G
H = pedersen.H
IDENTITY = pedersen.IDENTITY


def is_point(data: bytes) -> bool:
    """A canonical point of the prime-order subgroup, not of small order
    (so not the identity): what a commitment must be."""
    return pedersen.is_valid_point(data)


def commit(value: int, blinding: int) -> bytes:
    """The commitment value*G + blinding*H (both taken mod L)."""
    return pedersen.commit(value % GROUP_ORDER, blinding % GROUP_ORDER)


def _sum_opens(commitment_vectors: list[list[bytes]], totals: list[int], blindings: list[int]) -> bool:
    """Whether, element by element, the sum of every party's commitment
    opens to (totals[i] mod L, blindings[i] mod L)."""
    if any(len(vector) != len(totals) for vector in commitment_vectors) or len(blindings) != len(totals):
        return False
    return all(pedersen.verify_sum([vector[i] for vector in commitment_vectors], total % GROUP_ORDER,
                                   blinding % GROUP_ORDER)
               for i, (total, blinding) in enumerate(zip(totals, blindings)))
