"""State views: read-only access to committed state and write overlays.

An `Overlay` records writes on top of a parent view. Each transaction runs
in its own overlay that is merged into the block's overlay only when it
succeeds, so a failed transaction changes nothing. Keys and values are bytes.
"""

from __future__ import annotations

from typing import Protocol

_DELETED = None


class StateView(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class DictState:
    """A view over a plain dict, for tests and tools."""

    def __init__(self, items: dict[bytes, bytes] | None = None) -> None:
        self.items = dict(items or {})

    def get(self, key: bytes) -> bytes | None:
        return self.items.get(key)

    def apply(self, writes) -> None:
        """Apply a block's write set (None deletes)."""
        for key, value in writes:
            if value is None:
                self.items.pop(key, None)
            else:
                self.items[key] = value


class Overlay:
    def __init__(self, parent: StateView) -> None:
        self.parent = parent
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.parent.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        assert isinstance(key, bytes) and isinstance(value, bytes)
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = _DELETED

    def merge_into(self, target: "Overlay") -> None:
        target.writes.update(self.writes)

    def sorted_writes(self) -> list[tuple[bytes, bytes | None]]:
        return sorted(self.writes.items())
