"""The node's event loop: asyncio's by default; uvloop's when
CONSORT_EVENT_LOOP=uvloop asks for it and the `fast` extra installed it,
else asyncio's again (with a warning); the node runs the same on either."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from node.runtime import server
from node.runtime.server import EVENT_LOOP_ENV, event_loop_factory


async def loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.parametrize("value", [None, "", "asyncio", "something else"])
def test_by_default_the_node_runs_on_asyncio(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    else:
        monkeypatch.setenv(EVENT_LOOP_ENV, value)
    assert event_loop_factory() is None
    assert server.run(loop_module()).startswith("asyncio.")


def test_uvloop_asked_for_but_missing_falls_back_to_asyncio_and_says_so(monkeypatch, caplog):
    monkeypatch.setenv(EVENT_LOOP_ENV, "uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with caplog.at_level(logging.WARNING, logger="consort.server"):
        assert event_loop_factory() is None
    assert "uvloop is not installed" in caplog.text
    assert server.run(loop_module()).startswith("asyncio.")


@pytest.mark.parametrize("value", ["uvloop", " UVLOOP "])
def test_uvloop_asked_for_and_installed_runs_the_node(monkeypatch, value):
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.setenv(EVENT_LOOP_ENV, value)
    assert event_loop_factory() is uvloop.new_event_loop
    assert server.run(loop_module()).startswith("uvloop")
