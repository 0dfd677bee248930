"""Typed access to the state: canonical values under `/`-joined keys, the
institution registry and governance parameters. Every contract reads and
writes through these, so values always have one encoding."""

from __future__ import annotations

from typing import Any

from contracts.genesis import institution_key
from contracts.schema import ContractError, bounded
from crypto import encoding


def key(*parts: str | int) -> bytes:
    return "/".join(str(p) for p in parts).encode()


def get(state, state_key: bytes) -> Any | None:
    raw = state.get(state_key)
    return None if raw is None else encoding.decode_trusted(raw)


def put(state, state_key: bytes, value: Any) -> None:
    state.put(state_key, encoding.encode(value))


def institution(state, institution_id: str) -> dict | None:
    return get(state, institution_key(institution_id))


def require_institution(state, institution_id: str) -> dict:
    record = institution(state, institution_id)
    if record is None:
        raise ContractError("unknown_institution", institution_id)
    return record


def param(state, name: str, default: int) -> int:
    value = get(state, key("gov", "param", name))
    return default if value is None else value


def next_id(state, counter: str) -> int:
    """A deterministic sequence number (per counter name) for new records;
    `overflow` once the counter would pass AMOUNT_MAX."""
    counter_key = key("seq", counter)
    value = bounded((get(state, counter_key) or 0) + 1, f"counter {counter}")
    put(state, counter_key, value)
    return value
