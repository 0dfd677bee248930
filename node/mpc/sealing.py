"""Results for named recipients only (say, the regulator, which runs no
node): no participant may learn them, so no participant computes them.
Each sender seals its own message to each recipient's registered MPC key
(`crypto_box_seal`: an ephemeral X25519 key and an AEAD, so only the
recipient opens it); the coordinator (the first participant) only gathers
the sealed messages, which it cannot read, into one box per recipient
(contracts.mpc_state.bundle_box: the format's one writer), and every
participant signs the bundle's commitment (mpc_state.bundle_commitment)
once it found its own sealed messages in every box (`checked_bundle`).

What the senders seal (mpc_state.bundle_senders), and what the recipient
does with its box:
- a sum: every participant's masked vector; the recipient combines them
  (crypto.mpc.secure_sum.combine) and checks the total and the combined
  blinding against every participant's commitments on chain: a
  participant that changed its input after committing, or a tampered
  message, fails that check (`recipient_result`);
- a PSI count: each party's double-blinding of the other's blinded set
  (crypto.mpc.psi, cardinality-to-regulator); the recipient counts the
  common points (`recipient_count`);
- a threshold check: the comparator's and the evaluator's double-blinded
  sets (crypto.mpc.threshold); the count is the verdict
  (`recipient_verdict`), and a count no honest run gives is reported as a
  participant's cheating, not a crash.
For the last two the contract checks that the commitment is the boxes'
digest, so a recipient opens what every participant signed; it has no
commitments to check a count against.
"""

from __future__ import annotations

from nacl import bindings

from contracts import mpc_state
from crypto import encoding
from crypto.mpc.psi import count_for_regulator
from crypto.mpc.psi_messages import PsiMessageError
from crypto.mpc.secure_sum import SumSpec, check_result, combine
from crypto.mpc.sum_messages import MessageError, SumCommitments, SumMasked, SumResult
from crypto.mpc.threshold import ThresholdError, verdict_for_recipient


class SealError(ValueError):
    """A box that does not open, or does not hold what the session says."""


def spec_of(record: dict) -> SumSpec:
    """The secure-sum parameters of a sum session's record."""
    params = record["params"]
    return SumSpec(record["id"].encode(), tuple(record["participants"]), params["length"], params["value_max"])


# --- the senders and the coordinator -------------------------------------------------

def seal_to_recipients(record: dict, message: bytes) -> dict[str, bytes]:
    """`message` sealed to each of the session's recipients."""
    return {r: bindings.crypto_box_seal(message, record["keys"][r]) for r in mpc_state.recipients(record)}


def bundle(record: dict, gathered: dict[str, dict]) -> dict:
    """The mpc.result fields from every sender's sealed messages {sender: {recipient: sealed}}."""
    senders, boxes = mpc_state.bundle_senders(record), {}
    for recipient in mpc_state.recipients(record):
        try:
            sealed = {s: gathered[s][recipient] for s in senders}
        except (KeyError, TypeError):
            raise SealError("a sender's sealed messages do not name every recipient") from None
        if not all(isinstance(message, bytes) for message in sealed.values()):
            raise SealError("a sender's sealed message is not bytes")
        boxes[recipient] = mpc_state.bundle_box(sealed)
    return {"sealed": boxes, "result_commitment": mpc_state.bundle_commitment(boxes)}


def checked_bundle(record: dict, proposed, me: str, mine: dict[str, bytes] | None) -> dict:
    """The coordinator's bundle, once each recipient's box holds one sealed
    message from every sender, ours (`mine`, when we are a sender) among
    them, and its commitment is its digest; else SealError."""
    if not isinstance(proposed, dict) or not isinstance(proposed.get("sealed"), dict):
        raise SealError("the coordinator sent no sealed bundle")
    if sorted(proposed["sealed"]) != mpc_state.recipients(record):
        raise SealError("the bundle does not hold one box for each recipient")
    senders = sorted(mpc_state.bundle_senders(record))
    for recipient, box in proposed["sealed"].items():
        try:
            content = encoding.decode(box)
        except (TypeError, encoding.DecodeError):
            raise SealError(f"{recipient}'s box is not a bundle") from None
        if not isinstance(content, dict) or sorted(content) != senders:
            raise SealError(f"{recipient}'s box does not hold one sealed message from each sender")
        if mine is not None and content[me] != mine[recipient]:
            raise SealError(f"{recipient}'s box does not hold our sealed message")
    if proposed.get("result_commitment") != mpc_state.bundle_commitment(proposed["sealed"]):
        raise SealError("the bundle's commitment is not its digest")
    return {"sealed": proposed["sealed"], "result_commitment": proposed["result_commitment"]}


# --- the recipient -----------------------------------------------------------------------

def open_bundle(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes]) -> dict[str, bytes]:
    """The messages in a recipient's box, opened, by sender."""
    public, secret = kx_keypair
    try:
        sealed = encoding.decode(box)
    except encoding.DecodeError as exc:
        raise SealError(f"the box is not a bundle: {exc}") from None
    senders = mpc_state.bundle_senders(record)
    if not isinstance(sealed, dict) or sorted(sealed) != sorted(senders):
        raise SealError("the box does not hold one sealed message from each sender")
    opened = {}
    for sender in senders:
        try:
            opened[sender] = bindings.crypto_box_seal_open(sealed[sender], public, secret)
        except Exception as exc:  # noqa: BLE001 - nacl raises its own CryptoError, or TypeError for junk
            raise SealError(f"{sender}'s sealed message does not open: {type(exc).__name__}") from None
    return opened


def open_box(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes]) -> list[SumMasked]:
    """A sum's masked messages in a recipient's box, one from each participant."""
    messages = []
    for participant, content in open_bundle(record, box, kx_keypair).items():
        try:
            message = SumMasked.decode(content)
        except MessageError as exc:
            raise SealError(f"{participant}'s sealed message: {exc}") from None
        if message.sender != participant or message.session_id != record["id"].encode():
            raise SealError(f"{participant}'s sealed message is for another session or party")
        messages.append(message)
    return messages


def recipient_result(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes],
                     commitments: dict[str, list[bytes]]) -> SumResult:
    """A sum's totals for the recipient: opened, combined and checked, or
    SealError when they do not open the participants' commitments on chain."""
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


def recipient_count(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes]) -> int:
    """A PSI count sealed to the recipient: the common points of the two
    parties' double-blinded sets (the first participant is the initiator)."""
    opened = open_bundle(record, box, kx_keypair)
    initiator, responder = record["participants"]
    try:
        return count_for_regulator(record["id"].encode(), opened[initiator], opened[responder]).count
    except PsiMessageError as exc:
        raise SealError(f"a double-blinded set: {exc}") from None


def recipient_verdict(record: dict, box: bytes, kx_keypair: tuple[bytes, bytes]) -> bool:
    """A threshold check's verdict for the recipient: whether the sum is over the limit."""
    opened = open_bundle(record, box, kx_keypair)
    comparator, evaluator = record["participants"][:2]
    try:
        return verdict_for_recipient(record["id"].encode(), opened[evaluator], opened[comparator])
    except (PsiMessageError, ThresholdError) as exc:
        raise SealError(f"no verdict: {exc}") from None


# --- from the API's view (GET /v1/mpc/sessions/{id}: byte strings in hex) ---------------------

def _box_of_view(view: dict, recipient: str) -> bytes:
    try:
        return bytes.fromhex(view["result"]["sealed"][recipient])
    except (KeyError, TypeError, ValueError):
        raise SealError(f"the session shows no box for {recipient}") from None


def recipient_result_of_view(view: dict, recipient: str, kx_keypair: tuple[bytes, bytes]) -> SumResult:
    """`recipient_result` from a sum session as the API shows it to the recipient."""
    commitments = {p: [bytes.fromhex(c) for c in points] for p, points in view["commitments"].items()}
    return recipient_result(view, _box_of_view(view, recipient), kx_keypair, commitments)


def recipient_count_of_view(view: dict, recipient: str, kx_keypair: tuple[bytes, bytes]) -> int:
    """`recipient_count` from a PSI count session as the API shows it to the recipient."""
    return recipient_count(view, _box_of_view(view, recipient), kx_keypair)


def recipient_verdict_of_view(view: dict, recipient: str, kx_keypair: tuple[bytes, bytes]) -> bool:
    """`recipient_verdict` from a threshold session as the API shows it to the recipient."""
    return recipient_verdict(view, _box_of_view(view, recipient), kx_keypair)
