"""The node's event loop: uvloop's when the `fast` extra installed it, the
standard one when it is missing or CONSORT_EVENT_LOOP=asyncio says so; the
node runs the same on either."""

from __future__ import annotations

import asyncio
import sys

import pytest

from node.runtime import server
from node.runtime.server import EVENT_LOOP_ENV, event_loop_factory


async def loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_without_uvloop_the_node_runs_on_asyncio(monkeypatch):
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert event_loop_factory() is None
    assert server.run(loop_module()).startswith("asyncio.")


@pytest.mark.parametrize("value", ["asyncio", " ASYNCIO "])
def test_the_environment_keeps_the_standard_loop(monkeypatch, value):
    monkeypatch.setenv(EVENT_LOOP_ENV, value)
    assert event_loop_factory() is None


def test_with_uvloop_installed_the_node_runs_on_it(monkeypatch):
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert event_loop_factory() is uvloop.new_event_loop
    assert server.run(loop_module()).startswith("uvloop")
