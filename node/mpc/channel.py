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
import os
from pathlib import Path
from typing import Awaitable, Callable

from crypto import encoding
from node.runtime.inbound import InboundPeers

log = logging.getLogger("consort.mpc")

MPC_MESSAGE_BYTES_MAX = 4 * 1024 * 1024  # a masked vector of 10,000 elements: ~450 KB; a blinded set of 100,000: 3.2 MB
MPC_QUEUE_MAX = 256                   # messages waiting for one peer
CAPTURE_BYTES_MAX = 256 * 1024 * 1024  # an outbound capture file stops growing here
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


class OutboundCapture:
    """Every MPC message this node sends, appended to a file (the "capture"
    of its config's "mpc" section), for the institution's own review: its
    compliance team can check that no input of its ever left its node in
    clear. It holds nothing the institution's node did not already know:
    its own outbound messages, as they travel inside the TLS link. Each
    record is a 4-byte big-endian length and the message (canonical msgpack
    [kind, session id, payload]). The file is created 0600 and stops
    growing at CAPTURE_BYTES_MAX (logged once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.written = self.path.stat().st_size if self.path.exists() else 0
        self.full = False

    def append(self, message: bytes) -> None:
        if self.written + 4 + len(message) > CAPTURE_BYTES_MAX:
            if not self.full:
                log.warning("MPC capture %s reached %d bytes; no more is captured", self.path, CAPTURE_BYTES_MAX)
            self.full = True
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as handle:
            handle.write(len(message).to_bytes(4, "big") + message)
        self.written += 4 + len(message)


def read_capture(path: Path) -> list[tuple[str, str, object]]:
    """The messages of a capture file, decoded: (kind, session id, payload)."""
    data, messages, at = Path(path).read_bytes(), [], 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        messages.append(decode_mpc(data[at + 4:at + 4 + size]))
        at += 4 + size
    return messages
