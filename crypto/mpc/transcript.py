"""The transcript hash of one party's side of an MPC session.

A transcript is a SHA-256 chain over the messages a party sent and received,
in the order it sent and received them:

    head_0     = digest("mpc/transcript/start", encode([protocol, session_id, party]))
    head_{i+1} = digest("mpc/transcript/step",
                        head_i || encode([direction, counterpart, SHA-256(message)]))

with `direction` "sent" or "received" and `counterpart` the other end's name
(a role such as "responder" or "regulator", or an institution id: the
protocol decides). Each party attests to its own head; two parties' heads
differ (the directions differ), and a root over all parties' heads is the
contract's business. The chain binds the protocol, the session, the party,
every message byte and their order; it says nothing about messages it was
never shown.

Pure: immutable values, no I/O, no clock. Imports crypto only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from crypto.encoding import encode
from crypto.hashing import digest

SENT = "sent"
RECEIVED = "received"
NAME_LENGTH_MAX = 64


@dataclass(frozen=True, slots=True)
class Transcript:
    """One party's transcript so far: the chain's head and how many messages it covers."""

    head: bytes
    message_count: int = 0

    @classmethod
    def start(cls, protocol: str, session_id: bytes, party: str) -> Transcript:
        _check_name(protocol, "protocol")
        _check_name(party, "party")
        if not isinstance(session_id, bytes) or not session_id:
            raise ValueError("session id must be non-empty bytes")
        return cls(digest("mpc/transcript/start", encode([protocol, session_id, party])))

    def sent(self, counterpart: str, message: bytes) -> Transcript:
        """The transcript after sending `message` to `counterpart`."""
        return self._step(SENT, counterpart, message)

    def received(self, counterpart: str, message: bytes) -> Transcript:
        """The transcript after receiving `message` from `counterpart`."""
        return self._step(RECEIVED, counterpart, message)

    def _step(self, direction: str, counterpart: str, message: bytes) -> Transcript:
        _check_name(counterpart, "counterpart")
        if not isinstance(message, (bytes, bytearray)):
            raise TypeError("a message is bytes")
        entry = encode([direction, counterpart, hashlib.sha256(message).digest()])
        return Transcript(digest("mpc/transcript/step", self.head + entry), self.message_count + 1)


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= NAME_LENGTH_MAX:
        raise ValueError(f"{what} must be a name of 1..{NAME_LENGTH_MAX} characters")
