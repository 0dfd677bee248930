"""How many bytes a consensus message takes on the wire, for the bandwidth
model: the real encoding (consensus.messages.encode_message, as the node
sends it) plus a fixed estimate for what surrounds it.

WIRE_OVERHEAD_BYTES is an estimate, not a measurement: the node's 4-byte
length prefix plus about 60 bytes for the websocket, TLS record and TCP/IP
headers. The node packs many messages into one frame under load, so these
headers are shared there and the estimate errs on the heavy side.

Encoding costs a few microseconds per message (a block of 100 requests
about 10); a broadcast hands the same message object to every peer, so
the last one's size is kept and reused.
"""

from __future__ import annotations

from consensus.messages import encode_message

LENGTH_PREFIX_BYTES = 4
WIRE_OVERHEAD_BYTES = LENGTH_PREFIX_BYTES + 60


class MessageSizes:
    """`of(message)`: its size in bytes on the wire; remembers one message."""

    __slots__ = ("_last", "_last_bytes")

    def __init__(self) -> None:
        self._last: object = None
        self._last_bytes = 0

    def of(self, message) -> int:
        if message is not self._last:
            self._last, self._last_bytes = message, len(encode_message(message)) + WIRE_OVERHEAD_BYTES
        return self._last_bytes
