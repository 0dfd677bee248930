"""Reading a Server-Sent Events stream, such as a node's GET /v1/events:
bytes in, events out, with no I/O, so it is tested on its own.

The event-stream format as the WHATWG HTML standard gives it, as far as a
client needs it: lines end in CRLF, LF or CR; `event:` names the event,
`data:` lines (joined by LF) are its data, `id:` sets the last event id
(which every later event carries until another), a line starting with ":"
is a comment (the node's keep-alive pings), a blank line dispatches the
event; an event without data is dropped, `retry:` and unknown fields are
ignored. One event may hold at most `event_bytes_max` bytes, so a node
that never ends a line cannot fill the client's memory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

EVENT_BYTES_MAX = 16 * 1024 * 1024
LINE_END = re.compile(rb"[\r\n]")


class EventStreamError(ValueError):
    """The stream is not one this client reads (an event above the size bound)."""


@dataclass(frozen=True, slots=True)
class ServerEvent:
    name: str       # "message" when the stream names none
    data: str
    id: str | None  # the last event id the stream had set when this event came

    def json(self) -> Any:
        return json.loads(self.data)


class EventStreamParser:
    def __init__(self, event_bytes_max: int = EVENT_BYTES_MAX) -> None:
        self.event_bytes_max = event_bytes_max
        self.buffer = bytearray()
        self.name: str | None = None
        self.data: list[str] = []
        self.data_bytes = 0
        self.last_id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        """The events that `chunk` completes, in order."""
        self.buffer += chunk
        events, start = [], 0
        while (found := LINE_END.search(self.buffer, start)) is not None:
            end = found.start()
            if self.buffer[end] == ord("\r"):
                if end + 1 == len(self.buffer):
                    break  # a CR at the end of a chunk: an LF may follow in the next
                step = 2 if self.buffer[end + 1] == ord("\n") else 1
            else:
                step = 1
            event = self._line(bytes(self.buffer[start:end]).decode("utf-8", errors="replace"))
            start = end + step
            if event is not None:
                events.append(event)
        del self.buffer[:start]
        if len(self.buffer) + self.data_bytes > self.event_bytes_max:
            raise EventStreamError(f"an event of more than {self.event_bytes_max} bytes")
        return events

    def _line(self, line: str) -> ServerEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.name = value
        elif field == "data":
            self.data.append(value)
            self.data_bytes += len(value) + 1
        elif field == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> ServerEvent | None:
        name, data = self.name, self.data
        self.name, self.data, self.data_bytes = None, [], 0
        if not data:
            return None
        return ServerEvent(name or "message", "\n".join(data), self.last_id)
