"""The MPC links between participants' nodes: the runtime's peer links on
their own endpoint (MPC_PEER_PATH), so the same mutual TLS, handshake and
membership checks admit a peer, with one bounded queue per peer that never
drops (a message that does not fit fails its session: a lost share cannot
be made up by a later one) and never delays a consensus vote.

A message is canonical msgpack [kind, session id, payload]; the link
authenticates its sender's node key, which the membership maps to an
institution. Received messages go to the runner's handler; one that is
malformed, or too big, is logged and dropped (it can only fail the
sender's own session).
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable

from crypto import encoding
from node.runtime.inbound import InboundPeers

log = logging.getLogger("consort.mpc")

MPC_MESSAGE_BYTES_MAX = 4 * 1024 * 1024  # a masked vector of 10,000 elements: ~450 KB; a blinded set of 100,000: 3.2 MB
MPC_QUEUE_MAX = 256                   # messages waiting for one peer
KINDS = ("masked", "sealed", "blinded", "double", "transcript", "sign", "signature")

Handler = Callable[[bytes, str, str, object], Awaitable[None]]


def encode_mpc(kind: str, session_id: str, payload) -> bytes:
    message = encoding.encode([kind, session_id, payload])
    if len(message) > MPC_MESSAGE_BYTES_MAX:
        raise ValueError(f"an MPC message of {len(message)} bytes exceeds {MPC_MESSAGE_BYTES_MAX}")
    return message


def decode_mpc(raw: bytes) -> tuple[str, str, object]:
    """(kind, session id, payload), or ValueError."""
    if len(raw) > MPC_MESSAGE_BYTES_MAX:
        raise ValueError("message too large")
    value = encoding.decode(raw)
    if not isinstance(value, list) or len(value) != 3 or value[0] not in KINDS or not isinstance(value[1], str):
        raise ValueError("not an MPC message")
    return value[0], value[1], value[2]


class MpcInbound(InboundPeers):
    """Inbound MPC links: each message goes to `handler(peer_key, kind, session, payload)`."""

    handler: Handler | None = None

    async def on_message(self, peer_key: bytes, raw: bytes) -> None:
        try:
            kind, session_id, payload = decode_mpc(raw)
        except (ValueError, encoding.DecodeError) as exc:
            log.warning("bad MPC message from %s: %s", peer_key.hex()[:8], exc)
            return
        if self.handler is not None:
            await self.handler(peer_key, kind, session_id, payload)
