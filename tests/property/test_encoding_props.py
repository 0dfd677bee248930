"""Property tests for crypto.encoding: one value, one byte form.

`decode` must be the exact inverse of `encode` on canonical bytes and must
refuse every other byte string with DecodeError (never another exception).
"""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from crypto.encoding import (
    DEPTH_MAX, FLAT_CHECK_ITEMS_MIN, INT_MAX, INT_MIN, DecodeError, EncodingError, check_shape, decode, encode,
    list_header, list_length,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=INT_MIN, max_value=INT_MAX),
    st.text(max_size=40),
    st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(st.text(max_size=8), children, max_size=6),
    ),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def same(a, b) -> bool:
    """Equality that also tells True from 1 and b"a" from "a"."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return sorted(a) == sorted(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def decodes_or_refuses(data: bytes) -> None:
    """The junk contract: a value whose encoding is `data`, or DecodeError."""
    try:
        value = decode(data)
    except DecodeError:
        return
    assert encode(value) == data


# --- round trip -------------------------------------------------------------

@SETTINGS
@given(values)
def test_round_trip_preserves_value_and_types(value):
    assume(depth(value) <= DEPTH_MAX)
    data = encode(value)
    back = decode(data)
    assert same(back, value)
    assert encode(back) == data


@SETTINGS
@given(st.dictionaries(st.text(max_size=8), scalars, min_size=2, max_size=8), st.randoms(use_true_random=False))
def test_map_encoding_is_independent_of_insertion_order(mapping, rng):
    items = list(mapping.items())
    rng.shuffle(items)
    assert encode(dict(items)) == encode(mapping)


@SETTINGS
@given(values)
def test_encode_is_deterministic_and_equal_to_sorted_msgpack(value):
    assume(depth(value) <= DEPTH_MAX)

    def sort_maps(v):
        if isinstance(v, list):
            return [sort_maps(x) for x in v]
        if isinstance(v, dict):
            return {k: sort_maps(v[k]) for k in sorted(v)}
        return v

    assert encode(value) == msgpack.packb(sort_maps(value), use_bin_type=True)


def test_bytes_and_str_stay_apart():
    assert encode(b"a") != encode("a")
    assert same(decode(encode(b"a")), b"a")
    assert same(decode(encode("a")), "a")
    assert same(decode(encode(True)), True)
    assert same(decode(encode(1)), 1)


def test_integer_range_edges():
    for n in (INT_MIN, -1, 0, 1, 127, 128, 255, 256, 2**32, INT_MAX):
        assert same(decode(encode(n)), n)
    for n in (INT_MIN - 1, INT_MAX + 1):
        with pytest.raises(EncodingError):
            encode(n)


@pytest.mark.parametrize("value", [1.5, {1: "int key"}, {b"k": 1}, {None: 1}, {"a": 0.0}, [set()], bytearray(b"x")])
def test_values_without_canonical_form_are_refused(value):
    with pytest.raises(EncodingError):
        encode(value)


def test_lone_surrogate_is_an_encoding_error():
    # JSON can carry "\ud800"; it has no UTF-8 form and must fail like any
    # other unencodable value, not with a UnicodeEncodeError.
    with pytest.raises(EncodingError):
        encode({"a": "\ud800"})


@SETTINGS
@given(st.text(st.characters(categories=("Cs", "Ll")), max_size=6))
def test_text_encodes_and_round_trips_or_is_an_encoding_error(text):
    try:
        data = encode(text)
    except EncodingError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        return
    assert same(decode(data), text)


def test_nesting_limit():
    deep_ok = []
    for _ in range(DEPTH_MAX):
        deep_ok = [deep_ok]
    assert decode(encode(deep_ok)) == deep_ok
    too_deep = [deep_ok]
    with pytest.raises(EncodingError):
        encode(too_deep)
    with pytest.raises(DecodeError):
        decode(msgpack.packb(too_deep))


# --- long lists: checked by their items' types at once -------------------------

long_lists = st.lists(st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=4), scalars,
                                                                                          max_size=3)),
                      min_size=FLAT_CHECK_ITEMS_MIN, max_size=3 * FLAT_CHECK_ITEMS_MIN)
unencodable = st.one_of(st.floats(allow_nan=False), st.integers(max_value=INT_MIN - 1),
                        st.integers(min_value=INT_MAX + 1), st.just(bytearray(b"x")), st.just(set()))


@SETTINGS
@given(long_lists, st.booleans())
def test_a_long_list_encodes_as_msgpack_does_with_sorted_maps(items, as_tuple):
    value = tuple(items) if as_tuple else items
    reference = [{k: item[k] for k in sorted(item)} if isinstance(item, dict) else item for item in items]
    assert encode(value) == msgpack.packb(reference, use_bin_type=True)
    assert same(decode(encode(value)), reference)


@SETTINGS
@given(st.lists(scalars, min_size=FLAT_CHECK_ITEMS_MIN, max_size=3 * FLAT_CHECK_ITEMS_MIN), unencodable,
       st.integers(min_value=0))
def test_one_unencodable_item_anywhere_in_a_long_list_is_refused(items, bad, position):
    items.insert(position % (len(items) + 1), bad)
    with pytest.raises(EncodingError):
        encode(items)
    with pytest.raises(EncodingError):
        encode([[items]])


def test_nesting_limit_counts_the_items_of_a_long_flat_list():
    flat = [1, b"x", "y", None, True] * FLAT_CHECK_ITEMS_MIN
    deep_ok = flat
    for _ in range(DEPTH_MAX - 1):
        deep_ok = [deep_ok]
    assert decode(encode(deep_ok)) == deep_ok
    with pytest.raises(EncodingError):
        encode([deep_ok])


# --- non-canonical bytes are refused ----------------------------------------

NON_CANONICAL = {
    "unsorted map": b"\x82\xa1b\x01\xa1a\x02",
    "duplicate key": b"\x82\xa1a\x01\xa1a\x02",
    "duplicate key same value": b"\x82\xa1a\x01\xa1a\x01",
    "uint 1 as uint8": b"\xcc\x01",
    "uint 1 as uint16": b"\xcd\x00\x01",
    "uint 1 as uint32": b"\xce\x00\x00\x00\x01",
    "uint 1 as uint64": b"\xcf" + (1).to_bytes(8, "big"),
    "uint 1 as int8": b"\xd0\x01",
    "int -1 as int16": b"\xd1\xff\xff",
    "int -200 as int32": b"\xd2" + (-200).to_bytes(4, "big", signed=True),
    "uint 300 as uint32": b"\xce" + (300).to_bytes(4, "big"),
    "uint 200 as int16": b"\xd1\x00\xc8",
    "float64": b"\xcb" + struct.pack(">d", 1.0),
    "float32": b"\xca" + struct.pack(">f", 1.0),
    "float in map": b"\x81\xa1a\xcb" + struct.pack(">d", 0.5),
    "fixext1": b"\xd4\x01\x00",
    "ext8": b"\xc7\x02\x05ab",
    "timestamp ext": b"\xd6\xff\x00\x00\x00\x00",
    "str8 for short str": b"\xd9\x01a",
    "str16 for short str": b"\xda\x00\x01a",
    "bin16 for short bin": b"\xc5\x00\x01a",
    "array16 for one item": b"\xdc\x00\x01\x01",
    "map16 for one pair": b"\xde\x00\x01\xa1a\x01",
    "bytes map key": b"\x81\xc4\x01a\x01",
    "int map key": b"\x81\x01\x02",
    "nil map key": b"\x81\xc0\x01",
    "array map key": b"\x81\x91\x01\x02",
    "invalid utf-8 str": b"\xa2\xed\xa0",
    "reserved byte": b"\xc1",
    "trailing byte": encode({"a": 1}) + b"\x00",
    "two values": encode(1) + encode(2),
    "truncated": encode({"a": "bcd"})[:-1],
    "empty": b"",
    "array claims more than present": b"\xdd\xff\xff\xff\xff",
}


@pytest.mark.parametrize("data", NON_CANONICAL.values(), ids=NON_CANONICAL.keys())
def test_hand_made_non_canonical_bytes_are_refused(data):
    with pytest.raises(DecodeError):
        decode(data)


def test_msgpack_really_accepts_the_hand_made_bytes():
    # Guard against the table above testing nothing: plain msgpack reads
    # these, so only the canonical check can be what refuses them.
    for name in ("unsorted map", "duplicate key", "uint 1 as uint16", "float64", "fixext1", "str8 for short str",
                 "bin16 for short bin", "array16 for one item", "map16 for one pair"):
        msgpack.unpackb(NON_CANONICAL[name], raw=False, strict_map_key=False)


@SETTINGS
@given(st.dictionaries(st.text(max_size=6), scalars, min_size=2, max_size=6))
def test_any_unsorted_map_is_refused(mapping):
    ordered = sorted(mapping.items())
    data = msgpack.packb(dict(reversed(ordered)), use_bin_type=True)
    with pytest.raises(DecodeError):
        decode(data)


def _wide_int(n: int) -> bytes:
    """`n` in the widest msgpack integer form (canonical only by accident)."""
    return b"\xcf" + n.to_bytes(8, "big") if n >= 0 else b"\xd3" + n.to_bytes(8, "big", signed=True)


@SETTINGS
@given(st.integers(min_value=INT_MIN, max_value=INT_MAX))
def test_integers_in_wide_form_are_refused_unless_that_is_minimal(n):
    data = _wide_int(n)
    if data == encode(n):
        assert decode(data) == n
    else:
        with pytest.raises(DecodeError):
            decode(data)


@SETTINGS
@given(st.floats(), st.floats(width=32))
def test_no_float_is_accepted(x, x32):
    with pytest.raises(DecodeError):
        decode(msgpack.packb(x))
    with pytest.raises(DecodeError):
        decode(msgpack.packb({"k": [x32]}, use_single_float=True))


@SETTINGS
@given(st.integers(min_value=-128, max_value=127), st.binary(max_size=20))
def test_no_ext_type_is_accepted(code, payload):
    # Built by hand: msgpack.ExtType refuses the reserved negative codes, but
    # a peer can still send them (-1 is msgpack's timestamp).
    data = b"\xc7" + bytes([len(payload)]) + code.to_bytes(1, "big", signed=True) + payload
    with pytest.raises(DecodeError):
        decode(data)
    with pytest.raises(DecodeError):
        decode(b"\x91" + data)


@SETTINGS
@given(values, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_are_refused(value, tail):
    assume(depth(value) <= DEPTH_MAX)
    with pytest.raises(DecodeError):
        decode(encode(value) + tail)


# --- junk ---------------------------------------------------------------------

@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200))
def test_junk_decodes_canonically_or_raises_decode_error(data):
    decodes_or_refuses(data)


@SETTINGS
@given(values, st.data())
def test_mutated_encodings_decode_canonically_or_raise_decode_error(value, data):
    assume(depth(value) <= DEPTH_MAX)
    raw = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        position = data.draw(st.integers(0, len(raw)))
        if op == "insert":
            raw.insert(position, data.draw(st.integers(0, 255)))
        elif raw and position < len(raw):
            if op == "flip":
                raw[position] ^= 1 << data.draw(st.integers(0, 7))
            else:
                del raw[position]
    decodes_or_refuses(bytes(raw))


@pytest.mark.parametrize("junk", [None, "text", 12, [b"\x00"]])
def test_non_bytes_input_is_a_decode_error(junk):
    with pytest.raises(DecodeError):
        decode(junk)


# --- size limit ---------------------------------------------------------------

@SETTINGS
@given(values)
def test_size_limit_is_inclusive(value):
    assume(depth(value) <= DEPTH_MAX)
    data = encode(value)
    assert same(decode(data, size_max=len(data)), value)
    with pytest.raises(DecodeError):
        decode(data, size_max=len(data) - 1)


def test_default_size_limit_applies():
    from crypto.encoding import SIZE_MAX_DEFAULT

    big = encode(b"x" * SIZE_MAX_DEFAULT)
    assert len(big) > SIZE_MAX_DEFAULT
    with pytest.raises(DecodeError):
        decode(big)
    assert decode(big, size_max=len(big)) == b"x" * SIZE_MAX_DEFAULT


# --- depth and element limits, checked before any object is built ------------

def elements(value) -> int:
    """Every value counts: containers, items, map keys."""
    if isinstance(value, list):
        return 1 + sum(elements(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(1 + elements(v) for v in value.values())
    return 1


def deepest(value, at: int = 0) -> int:
    """The depth of the deepest value, the outermost at depth 0."""
    children = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
    return max([at, *(deepest(v, at + 1) for v in children)])


@SETTINGS
@given(values)
def test_limits_are_inclusive_and_refuse_one_below(value):
    assume(depth(value) <= DEPTH_MAX)
    data = encode(value)
    count, deepest_at = elements(value), deepest(value)
    assert same(decode(data, depth_max=deepest_at, elements_max=count), value)
    with pytest.raises(DecodeError, match="elements"):
        decode(data, elements_max=count - 1)
    if deepest_at:
        with pytest.raises(DecodeError, match="deeper"):
            decode(data, depth_max=deepest_at - 1)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 4), st.integers(0, 50))
def test_junk_with_limits_decodes_or_raises_decode_error(data, depth_max, elements_max):
    try:
        value = decode(data, depth_max=depth_max, elements_max=elements_max)
    except DecodeError:
        return
    assert deepest(value) <= depth_max and elements(value) <= elements_max
    assert encode(value) == data


@SETTINGS
@given(values, st.integers(0, 6))
def test_a_short_input_is_refused_for_depth_as_the_header_walk_refuses_it(value, depth_max):
    # at most elements_max bytes: built first and its depth checked on the value, not on its headers
    assume(depth(value) <= DEPTH_MAX)
    data = encode(value)
    try:
        check_shape(data, depth_max, len(data))
        walked = True
    except DecodeError:
        walked = False
    try:
        built = same(decode(data, depth_max=depth_max, elements_max=len(data)), value)
    except DecodeError as exc:
        assert f"nesting deeper than {depth_max}" in str(exc)
        built = False
    assert built == walked == (deepest(value) <= depth_max)


def test_an_element_heavy_input_is_refused_before_any_object_is_built(monkeypatch):
    # 16 KB of empty lists in one list: 16k Python lists if it were unpacked.
    heavy = b"\xdc" + (16_000).to_bytes(2, "big") + b"\x90" * 16_000
    deep = b"\x91" * 16_000 + b"\xc0"
    unpacked = []
    monkeypatch.setattr(msgpack, "unpackb", lambda *a, **k: unpacked.append(a) or [])
    with pytest.raises(DecodeError, match="more than 64 elements"):
        decode(heavy, elements_max=64)
    with pytest.raises(DecodeError, match="deeper than 8"):
        decode(deep, depth_max=8, elements_max=64)
    assert unpacked == []


@SETTINGS
@given(st.lists(values, max_size=20))
def test_a_list_is_its_header_then_its_items(items):
    assume(all(depth(v) < DEPTH_MAX for v in items))
    assert encode(items) == list_header(len(items)) + b"".join(encode(v) for v in items)


@pytest.mark.parametrize("length", [0, 15, 16, 2**16 - 1, 2**16])
def test_list_headers_at_the_size_edges(length):
    assert encode([None] * length) == list_header(length) + b"\xc0" * length


@SETTINGS
@given(st.integers(0, 2**32 - 1) | st.sampled_from([0, 15, 16, 2**16 - 1, 2**16]),
       st.binary(max_size=3))
def test_list_length_reads_the_header(length, tail):
    assert list_length(list_header(length) + tail) == length


@pytest.mark.parametrize("data", [b"", b"\xc0", b"\x80", b"\xdc\x00", b"\xdd\x00\x00\x01", b"\xa1a"])
def test_list_length_of_what_is_not_a_list_header(data):
    assert list_length(data) is None


def test_a_thread_keeps_its_packer_for_small_values_and_drops_it_after_a_large_one():
    from crypto import encoding as canonical

    encode([1, "a"])
    kept = canonical._packers.packer
    assert kept is not None and encode({"b": 2}) and canonical._packers.packer is kept
    large = [b"x" * 1000] * (canonical.PACKER_BYTES_KEPT_MAX // 1000 + 1)
    assert encode(large) == msgpack.packb(large, use_bin_type=True)
    assert canonical._packers.packer is None  # its grown buffer goes with it
    assert encode([1, 2]) == b"\x92\x01\x02" and canonical._packers.packer is not None
