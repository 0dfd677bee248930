"""A genesis's bulk state, without LevelDB: the genesis field, the file
format and its refusals, the merge with genesis_state, and the synthetic
asset records the bench loads (real records of the assets contract)."""

from __future__ import annotations

import hashlib

import pytest

from contracts import assets_state
from contracts.executor import BlockContext, Executor
from contracts.genesis import BulkState, GenesisError, genesis_state, parse_genesis
from contracts.genesis_bulk import (MAGIC, BulkStateError, encode_record, key_allowed, read_records,
                                    with_bulk_records)
from contracts.state import DictState
from contracts.tx import sign_tx
from crypto import encoding
from node.devtools import bulk_state
from node.devtools.chainbuilder import genesis_document, key


def file_of(records: list[tuple[bytes, bytes]]) -> bytes:
    return MAGIC + b"".join(encode_record(k, v) for k, v in records)


def declared(raw: bytes, keys: int) -> BulkState:
    return BulkState("genesis-state.bin", hashlib.sha256(raw).digest(), keys)


RECORDS = [(b"assets/asset/A%012d" % i, b"record %d" % i) for i in range(1, 40)] + [(b"seq/assets", b"\x27")]


def read_all(raw: bytes, declared_as: BulkState, chunk: int) -> list[tuple[bytes, bytes]]:
    return list(read_records((raw[i:i + chunk] for i in range(0, len(raw), chunk)), declared_as))


# --- the genesis field ------------------------------------------------------------------

def test_a_genesis_names_its_bulk_state_and_the_chain_id_depends_on_it():
    document = genesis_document()
    digest = hashlib.sha256(b"x").hexdigest()
    with_bulk = parse_genesis({**document, "bulk_state": {"file": "genesis-state.bin", "sha256": digest, "keys": 7}})
    assert with_bulk.bulk_state == BulkState("genesis-state.bin", bytes.fromhex(digest), 7)
    assert parse_genesis(document).bulk_state is None
    assert with_bulk.chain_id != parse_genesis(document).chain_id
    other = parse_genesis({**document, "bulk_state": {"file": "genesis-state.bin", "sha256": "00" * 32, "keys": 7}})
    assert other.chain_id != with_bulk.chain_id


@pytest.mark.parametrize("field, message", [
    ({"file": "../state.bin", "sha256": "00" * 32, "keys": 1}, "bulk_state.file"),
    ({"file": "sub/state.bin", "sha256": "00" * 32, "keys": 1}, "bulk_state.file"),
    ({"file": ".hidden", "sha256": "00" * 32, "keys": 1}, "bulk_state.file"),
    ({"file": "state.bin", "sha256": "00" * 31, "keys": 1}, "bulk_state.sha256"),
    ({"file": "state.bin", "sha256": "zz" * 32, "keys": 1}, "bulk_state.sha256"),
    ({"file": "state.bin", "sha256": "00" * 32, "keys": 0}, "bulk_state.keys"),
    ({"file": "state.bin", "sha256": "00" * 32, "keys": True}, "bulk_state.keys"),
    ({"file": "state.bin", "sha256": "00" * 32, "keys": 1, "root": "00"}, "exactly file, sha256 and keys"),
    ("state.bin", "exactly file, sha256 and keys"),
])
def test_a_malformed_bulk_state_field_is_refused_by_name(field, message):
    with pytest.raises(GenesisError, match=message):
        parse_genesis({**genesis_document(), "bulk_state": field})


# --- the file format ----------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_records_read_back_whatever_the_chunks(chunk):
    raw = file_of(RECORDS)
    assert read_all(raw, declared(raw, len(RECORDS)), chunk) == RECORDS


def test_only_the_assets_contracts_keys_may_be_bulk_records():
    assert key_allowed(b"assets/asset/A000000000001") and key_allowed(b"seq/assets")
    for refused in (b"acct/bank-0/EUR", b"gov/validators", b"key/" + bytes(32), b"inst/bank-0", b"", b"seq/gov"):
        assert not key_allowed(refused)
        with pytest.raises(BulkStateError, match="not under"):
            encode_record(refused, b"v")


def corrupted() -> dict[str, tuple[bytes, int, str]]:
    """name -> (file bytes, declared count, what the refusal says)."""
    good = file_of(RECORDS)
    forged_key = b"acct/bank-0/EUR"
    forged = MAGIC + b"".join(encode_record(k, v) for k, v in RECORDS[:3]) + \
        len(forged_key).to_bytes(2, "big") + (1).to_bytes(4, "big") + forged_key + b"\x01"
    swapped = file_of([RECORDS[1], RECORDS[0], *RECORDS[2:]])
    repeated = file_of([RECORDS[0], *RECORDS])
    return {
        "wrong first line": (b"consort-bulk-state/2\n" + good[len(MAGIC):], len(RECORDS), "first line"),
        "truncated": (good[:-3], len(RECORDS), "ends inside"),
        "empty": (b"", 1, "ends inside"),
        "out of order": (swapped, len(RECORDS), "out of order"),
        "repeated key": (repeated, len(RECORDS) + 1, "out of order, repeated"),
        "foreign key": (forged, 4, "not under"),
        "more than declared": (good, len(RECORDS) - 1, "more records than"),
        "fewer than declared": (good, len(RECORDS) + 1, "the genesis declares"),
        "oversized value": (MAGIC + b"\x00\x01\xff\xff\xff\xff", 1, "size limits"),
    }


@pytest.mark.parametrize("name", sorted(corrupted()))
def test_a_corrupt_file_is_refused(name):
    raw, count, message = corrupted()[name]
    with pytest.raises(BulkStateError, match=message):
        read_all(raw, declared(raw, count), 5)


def test_a_file_other_than_the_declared_one_is_refused_after_its_last_record():
    raw = file_of(RECORDS)
    altered = raw[:-1] + bytes([raw[-1] ^ 1])
    with pytest.raises(BulkStateError, match="SHA-256"):
        read_all(altered, declared(raw, len(RECORDS)), 1 << 20)


def test_the_bulk_records_join_genesis_state_in_key_order_and_never_replace_it():
    state = genesis_state(parse_genesis(genesis_document()))
    merged = list(with_bulk_records(state, RECORDS))
    assert merged == sorted({**state, **dict(RECORDS)}.items())
    clash = next(iter(state.items()))
    with pytest.raises(BulkStateError, match="both in the genesis and in its bulk state"):
        list(with_bulk_records(state, [clash]))


def test_a_written_file_is_what_its_genesis_declares_and_its_writer_keeps_key_order(tmp_path):
    written = bulk_state.write_bulk_file(tmp_path / "state.bin", RECORDS)
    raw = (tmp_path / "state.bin").read_bytes()
    assert (written.sha256, written.keys) == (hashlib.sha256(raw).digest(), len(RECORDS))
    assert read_all(raw, BulkState("state.bin", written.sha256, written.keys), 1 << 20) == RECORDS
    with pytest.raises(BulkStateError, match="records go in key order"):
        bulk_state.write_bulk_file(tmp_path / "unsorted.bin", [RECORDS[1], RECORDS[0]])


# --- the synthetic asset register -------------------------------------------------------------

def test_synthetic_assets_are_canonical_records_of_the_assets_contract():
    holders = ["bank-0", "bank-1", "bank-2", "bank-3"]
    records = list(bulk_state.synthetic_assets(50, holders, "EUR"))
    assert [k for k, _ in records] == sorted(k for k, _ in records) and all(key_allowed(k) for k, _ in records)
    view = DictState(dict(records))
    assert assets_state.asset_count(view) == 50
    assert assets_state.list_assets(view, 1, 100) == [f"A{n:012d}" for n in range(1, 51)]
    for key_bytes, value in records[:-1]:
        asset = encoding.decode(value)  # canonical, or this raises
        assert set(asset["holders"]) <= set(holders) and asset["units"] == sum(asset["holders"].values())
        assert asset["class"] in assets_state.ASSET_CLASSES and asset["history_count"] == 0
        assert 200 <= len(value) <= 400
    assert list(bulk_state.synthetic_assets(50, holders, "EUR")) == records  # the same every time


def test_a_synthetic_asset_moves_like_any_registered_one():
    genesis = parse_genesis(genesis_document())
    holders = [i.id for i in genesis.institutions]
    state = DictState(dict(with_bulk_records(genesis_state(genesis),
                                             bulk_state.synthetic_assets(20, holders, "EUR"))))
    asset = assets_state.get_asset(state, "A000000000007")
    holder, units = next(iter(asset["holders"].items()))
    to = next(h for h in holders if h != holder)
    tx = sign_tx(key(f"{holder}/client").signer(), genesis.chain_id, 1, "assets.transfer",
                 {"asset": "A000000000007", "to": to, "units": units})
    result = Executor().execute(state, BlockContext(genesis.chain_id, 1, 1000), [tx])
    assert [r.code for r in result.receipts] == ["ok"]
    state.apply(result.writes)
    assert assets_state.get_asset(state, "A000000000007")["holders"].get(to) == \
        asset["holders"].get(to, 0) + units
