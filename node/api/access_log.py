"""The access log: one JSON line per request the access layer refuses (401,
403, 429, 503) and per read of another party's data (an auditor's or a
regulator's, or a validator's read of the chain itself), for operators to
ship. Written to the file the node config names (`"access_log"`,
relative to the config), else to the `consort.access` logger at INFO.

A line: {"time": ISO 8601 UTC, "institution": id or null, "roles": [...],
"key": the first 16 hex digits of the client key or null, "method",
"path" (as requested, with the query), "status", "code" (a refusal's error
code, else null), "whose": institution ids whose data the answer carries,
"*" for every party's}.

Must not decide who may read what (node.api.access does).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

LOGGER = "consort.access"
KEY_PREFIX_DIGITS = 16

log = logging.getLogger(LOGGER)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def access_entry(method: str, path: str, status: int, institution: str | None = None, roles=(),
                 key: bytes | None = None, code: str | None = None, whose=()) -> dict:
    return {"time": utc_now(), "institution": institution, "roles": list(roles),
            "key": None if key is None else key.hex()[:KEY_PREFIX_DIGITS], "method": method, "path": path,
            "status": status, "code": code, "whose": list(whose)}


def reads_another_party(institution: str | None, whose) -> bool:
    """Whether an answer carrying `whose` data is another party's to `institution`."""
    return bool(whose) and set(whose) != {institution}


class AccessLog:
    """Appends JSON lines to `path` (line-buffered, so each line is written
    when it is complete), or logs them to `consort.access` when there is none."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.handle = None if path is None else open(path, "a", encoding="utf-8", buffering=1)

    def write(self, entry: dict) -> None:
        line = json.dumps(entry, separators=(",", ":"))
        if self.handle is None:
            log.info("%s", line)
            return
        try:
            self.handle.write(line + "\n")
        except OSError as exc:  # a full disk must not fail the request; say so where operators look
            log.error("cannot write the access log %s (%s): %s", self.path, exc, line)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
