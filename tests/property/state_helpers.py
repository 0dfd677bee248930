"""Helpers shared by the property tests (imported by name, not a conftest)."""

from __future__ import annotations

from contracts.state import DictState
from crypto import encoding


def accounts(state: DictState) -> dict[tuple[str, str], int]:
    """Every settlement balance in `state`, by (institution, currency)."""
    found = {}
    for key, value in state.items.items():
        if key.startswith(b"acct/"):
            iid, currency = key[len(b"acct/"):].decode().split("/")
            found[iid, currency] = encoding.decode(value)
    return found
