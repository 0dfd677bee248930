"""The shared test helpers themselves: wait_until returns as soon as its
condition holds and fails, naming what it waited for, once its deadline
has passed; the genesis builder gives node keys and the validator set
from the roles."""

from __future__ import annotations

import asyncio

import pytest

from contracts.genesis import parse_genesis
from fixtures import genesis_document, key, wait_until


def test_wait_until_returns_the_first_true_value_of_a_plain_or_async_predicate():
    calls = []

    def plain():
        calls.append(None)
        return len(calls) >= 3 and "ready"

    async def awaited():
        return plain()

    assert asyncio.run(wait_until(plain, 5.0, "three calls", interval_s=0)) == "ready"
    assert len(calls) == 3
    assert asyncio.run(wait_until(awaited, 5.0, "one more call")) == "ready"
    assert len(calls) == 4


def test_wait_until_fails_after_its_deadline_naming_what_and_the_last_value():
    async def never():
        await asyncio.sleep(0)
        return []

    loop_time = []

    async def timed():
        loop_time.append(asyncio.get_running_loop().time())
        try:
            await wait_until(never, 0.1, lambda: "a block that never comes", interval_s=0.01)
        finally:
            loop_time.append(asyncio.get_running_loop().time())

    with pytest.raises(AssertionError, match=r"after 0\.1 s waiting for a block that never comes; last saw \[\]"):
        asyncio.run(timed())
    assert loop_time[1] - loop_time[0] >= 0.1
    with pytest.raises(AssertionError, match=r"waiting for nothing$"):
        asyncio.run(wait_until(lambda: False, 0, "nothing"))


def test_genesis_document_keys_and_validators_follow_the_roles():
    document = genesis_document({"bank-a": ["validator", "member"], "bank-b": ["member"],
                                 "bank-c": ["validator", "member"]},
                                chain_name="fixtures", client_keys={"bank-b": ["bank-b/0", "bank-b/1"]})
    genesis = parse_genesis(document)
    assert genesis.validators == ("bank-a", "bank-c")
    assert genesis.validator_keys == (key("bank-a/node").public_key, key("bank-c/node").public_key)
    assert genesis.institution("bank-b").node_key is None
    assert genesis.institution("bank-b").client_keys == (key("bank-b/0").public_key, key("bank-b/1").public_key)
    assert genesis.institution("bank-a").client_keys == (key("bank-a/client").public_key,)
    assert genesis.institution("bank-a").name == "BANK-A"
    explicit = parse_genesis(genesis_document({"bank-a": ["validator", "member"], "bank-c": ["validator"]},
                                              chain_name="fixtures", validators=["bank-c"]))
    assert explicit.validators == ("bank-c",)
