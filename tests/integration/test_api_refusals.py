"""Bad input to the client API gets a 4xx JSON error, never a 500, and a
refused request leaves at most one short log line below ERROR: each test
here is input that once answered 500 or flooded the log."""

from __future__ import annotations

import pytest

from api_node import assert_refused


@pytest.mark.parametrize("height", [str(2**64), str(2**64 - 1 + 10**30), "9" * 5000])
async def test_block_height_beyond_64_bits_is_refused(api, height):
    await assert_refused(await api.client.get(f"/v1/blocks/{height}"), 400, "bad_parameter")


@pytest.mark.parametrize("path", [
    "/v1/governance/proposals/{n}", "/v1/settlement/cycles/EUR/{n}", "/v1/blocks/{n}",
])
@pytest.mark.parametrize("number", ["²", "¹²", "٣", "１", "1_0", "+1", " 1", str(2**64)])
async def test_path_numbers_are_ascii_digits_within_64_bits(api, path, number):
    response = await api.client.get(path.format(n=number))
    await assert_refused(response, 400, "bad_parameter")


@pytest.mark.parametrize("number", ["²", "1_0", "１", "+5", str(2**64)])
async def test_query_numbers_are_ascii_digits(api, number):
    response = await api.client.get(f"/v1/tx/{'00' * 32}", params={"wait_ms": number})
    await assert_refused(response, 400, "bad_parameter")
