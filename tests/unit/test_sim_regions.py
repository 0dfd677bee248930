"""Latency by region and bandwidth by node: a region matrix places nodes and
gives the propagation delay between them, a node's copies queue on its
uplink for size / bandwidth each, message sizes are the real encoding's,
and a matrix file that is wrong says what is wrong."""

from __future__ import annotations

import json

import pytest

from consensus.messages import Block, BlockHeader, Prepare, PrePrepare, encode_message
from netsim.network import Latency, LinkModel, Network
from netsim.regions import BUILT_IN, DE3_NYC, from_json, load_regions
from netsim.rng import Streams
from netsim.sizes import WIRE_OVERHEAD_BYTES, MessageSizes

TWO_CITIES = {"regions": ["here", "there"], "one_way_ms": [[1, 30], [20, 1]],
              "bandwidth_mbit": {"here": 8, "there": 0}}


def network(matrix, nodes: int = 4) -> Network:
    return Network(nodes, Streams(1), LinkModel(Latency("constant", 0)), topology=matrix)


def test_nodes_go_round_robin_over_the_regions_after_the_placement():
    assert [DE3_NYC.region_of(node) for node in range(9)] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert DE3_NYC.nodes_per_region(7) == {"frankfurt": 2, "munich": 2, "berlin": 2, "new-york": 1}
    placed = from_json({**TWO_CITIES, "placement": ["there", "there", "there"]}, "placed")
    assert [placed.region_of(node) for node in range(6)] == [1, 1, 1, 0, 1, 0]


def test_a_message_takes_the_matrix_delay_between_the_regions_of_its_ends():
    matrix = from_json({**TWO_CITIES, "bandwidth_mbit": 0}, "two")
    net = network(matrix)
    assert net.transmit(0, 2, 1_000, 5_000) == [5_000 + 1_000]     # both "here": the diagonal
    assert net.transmit(0, 1, 1_000, 5_000) == [5_000 + 30_000]    # here -> there
    assert net.transmit(1, 0, 1_000, 5_000) == [5_000 + 20_000]    # there -> here: one-way, not symmetric
    assert not net.needs_sizes
    frankfurt_to_new_york = network(DE3_NYC).transmit(0, 3, 0, 0)[0]
    assert frankfurt_to_new_york == 40_000  # 0 bytes take no time on the uplink


def test_the_latency_model_draws_on_top_of_the_propagation_delay():
    matrix = from_json({**TWO_CITIES, "bandwidth_mbit": 0}, "two")
    net = Network(2, Streams(3), LinkModel(Latency("uniform", 2_000, 8_000)), topology=matrix)
    delays = [net.transmit(0, 1, 0, 0)[0] for _ in range(200)]
    assert 32_000 <= min(delays) < max(delays) <= 38_000


def test_copies_queue_on_the_senders_uplink_for_size_over_bandwidth():
    matrix = from_json(TWO_CITIES, "two")  # "here" sends at 8 Mbit/s = 1,000,000 bytes/s; "there" unlimited
    net = network(matrix)
    assert net.needs_sizes
    assert [net.transmit(0, to, 10_000, 0)[0] for to in (2, 2, 1)] == [10_000 + 1_000, 20_000 + 1_000,
                                                                      30_000 + 30_000]
    assert net.transmit(0, 2, 10_000, 100_000) == [110_000 + 1_000]  # an idle uplink starts at once
    assert net.transmit(0, 2, 1, 200_000) == [200_001 + 1_000]  # a partial microsecond rounds up
    assert [net.transmit(1, 0, 10_000, 0)[0] for _ in range(2)] == [20_000, 20_000]  # unlimited: no queue


def test_a_message_size_is_its_real_encoding_plus_the_wire_overhead():
    sizes = MessageSizes()
    vote = Prepare(3, 7, b"d" * 32, 1, b"s" * 64)
    assert sizes.of(vote) == len(encode_message(vote)) + WIRE_OVERHEAD_BYTES
    def proposal(tx_count: int) -> PrePrepare:
        header = BlockHeader(b"c" * 32, 7, 3, 0, b"p" * 32, 1_000, b"t" * 32, tx_count, b"s" * 32, b"r" * 32,
                             b"v" * 32)
        return PrePrepare(3, 7, b"d" * 32, 0, b"s" * 64, Block(header, tuple(bytes([i]) * 64 for i in range(tx_count))))
    small, large = proposal(1), proposal(100)
    assert sizes.of(large) - sizes.of(small) >= 99 * 64
    assert sizes.of(large) == len(encode_message(large)) + WIRE_OVERHEAD_BYTES


@pytest.mark.parametrize("change, reason", [
    ({"one_way_ms": [[1, 30]]}, "2 rows of 2 delays"),
    ({"one_way_ms": [[1, 30], [20, -1]]}, "between 0 and 10000 ms"),
    ({"one_way_ms": [[1, "30"], [20, 1]]}, "one_way_ms[0][1] must be a number of milliseconds"),
    ({"one_way_ms": [[1, float("nan")], [20, 1]]}, "must be a number of milliseconds"),
    ({"regions": ["here", "here"]}, "region names must differ"),
    ({"regions": []}, "1 to 64 regions"),
    ({"bandwidth_mbit": {"here": 8}}, "'there' is missing"),
    ({"bandwidth_mbit": -5}, "bandwidth_mbit must be a number of Mbit/s"),
    ({"placement": ["elsewhere"]}, "placement must be a list of region names"),
    ({"latency": 3}, "unknown field 'latency'"),
])
def test_a_wrong_matrix_says_what_is_wrong(change, reason):
    with pytest.raises(ValueError) as raised:
        from_json({**TWO_CITIES, **change}, "m.json")
    assert reason in str(raised.value) and "'m.json'" in str(raised.value)


def test_a_matrix_is_built_in_by_name_or_read_from_a_file(tmp_path):
    assert load_regions("de3-nyc") is BUILT_IN["de3-nyc"] is DE3_NYC
    path = tmp_path / "two.json"
    path.write_text(json.dumps(TWO_CITIES))
    loaded = load_regions(str(path))
    assert loaded.name == str(path) and loaded.regions == ("here", "there")
    assert loaded.one_way_us == ((1_000, 30_000), (20_000, 1_000))
    assert loaded.bandwidth_bytes_per_s == (1_000_000, 0)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        load_regions(str(path))
    with pytest.raises(ValueError, match="neither a built-in matrix"):
        load_regions(str(tmp_path / "missing.json"))
