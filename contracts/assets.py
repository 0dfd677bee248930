"""Asset-rights registry (to be filled in)."""

from __future__ import annotations

TX_TYPES: dict = {}
