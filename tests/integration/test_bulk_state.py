"""Loading a bulk genesis state into LevelDB (node.devtools.bulk_state), on
small sizes: the root and the state are those the normal path builds, every
node gets the same, a failed load leaves nothing, the node refuses a bulk
genesis it has not been loaded with, and a chain built on a bulk state
passes `consort audit verify`, with and without re-execution."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.assets_state import get_asset
from contracts.genesis import genesis_state, parse_genesis
from contracts.genesis_bulk import BulkStateError
from crypto import smt
from node.audit.auditor import AuditFailure
from node.audit.export import export_storage
from node.audit.verify import bulk_records, verify_export
from node.devtools import bulk_state
from node.devtools.chainbuilder import ChainBuilder, genesis_document
from node.runtime.ledger import Ledger, StorageView, TreeReader
from node.runtime.storage import Storage, StorageError

ROOT = Path(__file__).resolve().parents[2]
ASSETS = 300


def bulk_genesis(folder: Path, assets: int = ASSETS) -> tuple[dict, Path]:
    """A chain builder genesis whose bulk state holds `assets` synthetic
    assets, written with its bulk file into `folder`; (document, genesis path)."""
    folder.mkdir(parents=True, exist_ok=True)
    document = genesis_document()
    holders = [i["id"] for i in document["institutions"]]
    bulk = bulk_state.write_bulk_file(folder / bulk_state.BULK_FILE_NAME,
                                      bulk_state.synthetic_assets(assets, holders, "EUR"))
    document = bulk_state.declare(document, bulk)
    path = folder / "genesis.json"
    path.write_text(json.dumps(document))
    return document, path


def load(folder: Path, genesis_path: Path) -> bulk_state.Loaded:
    genesis = parse_genesis(json.loads(genesis_path.read_text()))
    return bulk_state.initialize_data_folder(folder, genesis, bulk_records(genesis_path, genesis))


def stored(folder: Path, chain_id: bytes) -> tuple:
    storage = Storage(folder, chain_id, create=False)
    try:
        tree = {bytes(k): v for k, v in storage.db.iterator(prefix=b"n:")}
        return storage.tip(), dict(storage.state_items()), tree, storage.validator_sets(4)
    finally:
        storage.close()


def test_the_loaded_state_and_root_are_those_of_the_normal_path(tmp_path):
    document, genesis_path = bulk_genesis(tmp_path)
    genesis = parse_genesis(document)
    loaded = load(tmp_path / "data", genesis_path)
    everything = {**genesis_state(genesis), **dict(bulk_records(genesis_path, genesis))}
    expected = smt.build(everything)
    assert loaded.tip.state_root == expected.root and loaded.tip.height == 0
    assert loaded.records == len(everything) == len(genesis_state(genesis)) + ASSETS + 1
    tip, state, tree, sets = stored(tmp_path / "data", genesis.chain_id)
    assert tip == loaded.tip and state == everything
    assert tree == {b"n:" + h: raw for h, raw in expected.new_nodes}
    assert sets == [(1, genesis.validator_keys)]
    storage = Storage(tmp_path / "data", genesis.chain_id, create=False)
    try:  # the ledger opens it as its own and proves a bulk record against the root
        ledger = Ledger(storage, genesis)
        assert ledger.tip == loaded.tip
        assert get_asset(StorageView(storage), "A000000000123")["id"] == "A000000000123"
        asset_key = b"assets/asset/A000000000123"
        proof = smt.prove(TreeReader(storage), tip.state_root, asset_key)
        assert smt.verify(tip.state_root, asset_key, everything[asset_key], proof)
    finally:
        storage.close()


def test_every_node_gets_the_same_state_loaded_or_copied(tmp_path):
    document, genesis_path = bulk_genesis(tmp_path)
    chain_id = parse_genesis(document).chain_id
    first, second = load(tmp_path / "node-0", genesis_path), load(tmp_path / "node-1", genesis_path)
    bulk_state.copy_data_folder(tmp_path / "node-0", tmp_path / "node-2")
    contents = [stored(tmp_path / f"node-{n}", chain_id) for n in range(3)]
    assert first.tip == second.tip
    assert contents[0] == contents[1] == contents[2]


def test_a_failed_load_leaves_no_data_folder_and_a_loaded_one_is_never_overwritten(tmp_path):
    document, genesis_path = bulk_genesis(tmp_path)
    bulk_path = tmp_path / bulk_state.BULK_FILE_NAME
    good = bulk_path.read_bytes()
    bulk_path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # the last record's last byte
    with pytest.raises(BulkStateError, match="SHA-256"):
        load(tmp_path / "data", genesis_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [bulk_state.BULK_FILE_NAME, "genesis.json"]
    bulk_path.write_bytes(good)
    loaded = load(tmp_path / "data", genesis_path)
    with pytest.raises(StorageError, match="already holds a chain"):
        load(tmp_path / "data", genesis_path)
    assert stored(tmp_path / "data", parse_genesis(document).chain_id)[0] == loaded.tip


def test_a_node_refuses_a_bulk_genesis_its_folder_was_not_loaded_with(tmp_path):
    document, genesis_path = bulk_genesis(tmp_path)
    genesis = parse_genesis(document)
    storage = Storage(tmp_path / "data", genesis.chain_id)
    try:
        with pytest.raises(StorageError, match="load them into this data folder first"):
            Ledger(storage, genesis)
    finally:
        storage.close()
    assert load(tmp_path / "data", genesis_path).tip.height == 0  # the folder the refusal left is reusable


@pytest.fixture(scope="module")
def bulk_chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bulk-chain")
    document, genesis_path = bulk_genesis(folder)
    genesis = parse_genesis(document)
    builder = ChainBuilder(folder, document, bulk=bulk_records(genesis_path, genesis))
    asset = get_asset(StorageView(builder.storage), "A000000000042")
    holder, units = next(iter(asset["holders"].items()))
    to = next(m for m in builder.members if m != holder)
    builder.append(builder.payments(5) + [builder.tx(holder, "assets.transfer",
                                                    {"asset": "A000000000042", "to": to, "units": units})])
    builder.build(3, 6)
    moved = get_asset(StorageView(builder.storage), "A000000000042")
    assert moved["holders"].get(to) == asset["holders"].get(to, 0) + units  # a bulk record, changed by a block
    export = folder / "chain.export"
    with open(export, "wb") as out:
        export_storage(builder.storage, out)
    yield builder, genesis_path, export
    builder.close()


def test_a_chain_on_a_bulk_state_verifies_with_and_without_re_execution(bulk_chain):
    builder, genesis_path, export = bulk_chain
    genesis = builder.genesis
    assert verify_export(genesis, export, progress=None).report.blocks == 4
    auditor = verify_export(genesis, export, reexecute=True, progress=None, bulk=bulk_records(genesis_path, genesis))
    assert auditor.report.state_root == builder.ledger.tip.state_root
    with pytest.raises(AuditFailure, match="re-execution needs that file"):
        verify_export(genesis, export, reexecute=True, progress=None)


def test_re_execution_from_another_bulk_state_fails_at_the_first_block(bulk_chain, tmp_path):
    builder, genesis_path, export = bulk_chain
    genesis = builder.genesis
    other = list(bulk_records(genesis_path, genesis))
    other[5] = (other[5][0], other[5][1] + b"\x00")
    with pytest.raises(AuditFailure, match="height 1: state root"):
        verify_export(genesis, export, reexecute=True, progress=None, bulk=iter(other))


def consort(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_consort_audit_verify_reads_the_bulk_file_beside_the_genesis(bulk_chain, tmp_path):
    builder, genesis_path, export = bulk_chain
    plain = consort("audit", "verify", "--file", str(export), "--genesis", str(genesis_path), "--json")
    again = consort("audit", "verify", "--reexecute", "--file", str(export), "--genesis", str(genesis_path), "--json")
    assert plain.returncode == 0, plain.stderr
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["state_root"] == builder.ledger.tip.state_root.hex()
    elsewhere = tmp_path / "genesis.json"  # the bulk file is not beside this copy
    elsewhere.write_text(genesis_path.read_text())
    missing = consort("audit", "verify", "--reexecute", "--file", str(export), "--genesis", str(elsewhere))
    assert missing.returncode == 1 and bulk_state.BULK_FILE_NAME in missing.stderr
    assert consort("audit", "verify", "--file", str(export), "--genesis", str(elsewhere)).returncode == 0

