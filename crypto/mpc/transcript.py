"""The transcript hash of one participant's side of an MPC session.

Each participant folds the messages it sent and received, in the order it
sent or received them, into a SHA-256 chain:

    head_0     = digest("mpc/transcript/start", encode([session_id, me]))
    head_{k+1} = digest("mpc/transcript/step",
                        head_k || encode([direction, peer, SHA-256(message)]))

with direction "sent" or "received" and `peer` the other end's institution
id. The final head goes into the session's attestation, so a participant
signs for exactly what it saw; two participants' heads differ (each sees
its own side), so the attestation carries each head and a root over them.
Cost: two SHA-256 calls per message, over the message once.

Must not: keep state between calls, read a clock, or do I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from crypto.encoding import encode
from crypto.hashing import digest

SENT = "sent"
RECEIVED = "received"
DIRECTIONS = (SENT, RECEIVED)


def transcript_start(session_id: bytes, me: str) -> bytes:
    """The head of an empty transcript of `me` in the session."""
    if type(session_id) is not bytes or type(me) is not str:
        raise TypeError("session_id must be bytes and me a str")
    return digest("mpc/transcript/start", encode([session_id, me]))


def transcript_step(head: bytes, direction: str, peer: str, message: bytes) -> bytes:
    """The head after one more message sent to or received from `peer`."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if type(head) is not bytes or len(head) != 32 or type(peer) is not str:
        raise TypeError("head must be 32 bytes and peer a str")
    entry = encode([direction, peer, hashlib.sha256(message).digest()])
    return digest("mpc/transcript/step", head + entry)


def transcript_hash(session_id: bytes, me: str, entries: Iterable[tuple[str, str, bytes]]) -> bytes:
    """The head after the (direction, peer, message bytes) entries, in order."""
    head = transcript_start(session_id, me)
    for direction, peer, message in entries:
        head = transcript_step(head, direction, peer, message)
    return head
