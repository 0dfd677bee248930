"""A secure sum whose total is for named recipients only (say, the
regulator): no participant may learn it, so no participant combines the
masked vectors. Each participant seals its own masked message to each
recipient's registered MPC key (`crypto_box_seal`: an ephemeral X25519 key
and an AEAD, so only the recipient opens it); the first participant (the
coordinator) only gathers the sealed messages, which it cannot read.

The box the chain carries for recipient R is the canonical encoding of
{participant: sealed masked message}; the result commitment every
participant signs is the digest ("mpc-sealed-bundle") of the canonical
encoding of {recipient: box}, so each participant can check its own sealed
messages are in what it signs. The recipient opens its box, combines the
masked messages (crypto.mpc.secure_sum.combine) and checks the total and
the combined blinding against every participant's commitments on chain:
a participant that changed its input after committing, or a tampered
message, fails that check.
"""

from __future__ import annotations

from nacl import bindings

from crypto import encoding, hashing
from crypto.mpc.secure_sum import SumSpec, check_result, combine
from crypto.mpc.sum_messages import MessageError, SumCommitments, SumMasked, SumResult

BUNDLE_DOMAIN = "mpc-sealed-bundle"


class SealError(ValueError):
    """A box that does not open, or does not hold what the session says."""


def spec_of(record: dict) -> SumSpec:
    """The secure-sum parameters of a session record."""
    params = record["params"]
    return SumSpec(record["id"].encode(), tuple(record["participants"]), params["length"], params["value_max"])


def seal_masked(masked: SumMasked, recipient_key: bytes) -> bytes:
    return bindings.crypto_box_seal(masked.encode(), recipient_key)


def bundle_box(sealed_by_participant: dict[str, bytes]) -> bytes:
    """One recipient's box: every participant's sealed message to it."""
    return encoding.encode(dict(sorted(sealed_by_participant.items())))


def bundle_commitment(boxes: dict[str, bytes]) -> bytes:
    """What the participants sign for a sealed sum: the digest of every recipient's box."""
    return hashing.digest(BUNDLE_DOMAIN, encoding.encode(dict(sorted(boxes.items()))))


def open_box(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes]) -> list[SumMasked]:
    """The masked messages in a recipient's box, one from each participant."""
    public, secret = kx_keypair
    try:
        sealed = encoding.decode(box)
    except encoding.DecodeError as exc:
        raise SealError(f"the box is not a bundle: {exc}") from None
    if not isinstance(sealed, dict) or sorted(sealed) != sorted(record["participants"]):
        raise SealError("the box does not hold one sealed message from each participant")
    messages = []
    for participant in record["participants"]:
        try:
            message = SumMasked.decode(bindings.crypto_box_seal_open(sealed[participant], public, secret))
        except Exception as exc:  # noqa: BLE001 - nacl raises its own CryptoError; a bad message MessageError
            raise SealError(f"{participant}'s sealed message does not open: {type(exc).__name__}") from None
        if message.sender != participant or message.session_id != record["id"].encode():
            raise SealError(f"{participant}'s sealed message is for another session or party")
        messages.append(message)
    return messages


def recipient_result_of_view(view: dict, recipient: str, kx_keypair: tuple[bytes, bytes]) -> SumResult:
    """`recipient_result` from a session as the API shows it to the
    recipient (GET /v1/mpc/sessions/{id}: byte strings in hex)."""
    commitments = {p: [bytes.fromhex(c) for c in points] for p, points in view["commitments"].items()}
    return recipient_result(view, bytes.fromhex(view["result"]["sealed"][recipient]), kx_keypair, commitments)


def recipient_result(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes],
                     commitments: dict[str, list[bytes]]) -> SumResult:
    """Open, combine and check: the totals for the recipient, or SealError
    when they do not open the participants' commitments on chain."""
    spec = spec_of(record)
    masked = open_box(record, box, kx_keypair)
    try:
        result = combine(spec, masked)
        committed = [SumCommitments(spec.session_id, p, tuple(commitments[p])) for p in spec.parties]
    except (MessageError, KeyError) as exc:
        raise SealError(f"the masked messages do not fit the session: {exc}") from None
    if not check_result(spec, result, committed):
        raise SealError("the total does not open the participants' commitments: a participant cheated "
                        "or a message was altered")
    return result
