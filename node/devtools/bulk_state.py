"""A large state before block 1, without running it through consensus: a
bulk state file (contracts.genesis_bulk) that the genesis names and hashes,
and each node's data folder loaded from it offline.

Why the genesis and not the first blocks: ten million registrations built
into blocks by the chain builder would be ten million signed transactions
to execute, store and, for an auditor with --reexecute, execute again
before the load even starts. In the genesis they are one file whose
SHA-256 is in the chain id, so every node gets the same state root from it
and an auditor the same root from the genesis file and the bulk file alone.

`synthetic_assets` makes the records: asset records as the assets contract
registers them (`new_asset`, canonical encoding; classes, issuers, holders,
face values and maturities varied by number; about 260 bytes each), with
the contract's id counter. `write_bulk_file` writes them, `declare` puts
the file into a genesis document, and `initialize_data_folder` loads the
whole genesis state (genesis_state and the bulk records) into an empty data
folder as the ledger would write it at height 0.

The load streams, in bounded memory: the records go to LevelDB in key order
in batches, each with its leaf of the state tree, while each leaf's path and
hash (64 bytes) goes to one of 256 spill files by the first byte of its
path; since paths are SHA-256 outputs the files are even (n / 256 leaves
each, 40,000 at ten million), so sorting them one at a time and feeding
them in turn to crypto.smt.build_sorted gives the tree in path order with
only one spill file in memory (the process peaked at 313 MB for ten million
records, most of it LevelDB's). LevelDB is then compacted in full: a load
this fast leaves its levels far over their sizes (at a million records, 13
files in level 0 and 300 MB in level 2, whose target is 100 MB), and every
node would spend its first minutes under load compacting (at a million
records, applying a block took 2.5 times the CPU while LevelDB caught up;
after the compaction, the same as with a small state). The folder is built
under `<name>.partial` and renamed into place once its tip is written: a
load that fails leaves no data folder behind. `copy_data_folder` gives the
other nodes the same folder (LevelDB's table files are never modified once
written, so they are hard-linked; the disk holds the tables once).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from consensus.config import ChainTip
from contracts.assets_state import ASSET_CLASSES, ID_DIGITS, PRICED_CLASSES, asset_key, new_asset
from contracts.genesis import Genesis, genesis_state, parse_genesis
from contracts.genesis_bulk import MAGIC, BulkStateError, encode_record, with_bulk_records
from contracts.store import key as state_key
from crypto import encoding, hashing, merkle, smt
from node.audit.verify import bulk_records
from node.runtime.storage import LEVELDB_CURRENT, Storage, StorageError

BULK_FILE_NAME = "genesis-state.bin"  # beside genesis.json
BATCH_RECORDS = 20_000                # records (or tree nodes) per LevelDB write batch
SPILL_FILES = 256                     # by the first byte of a leaf's path
SPILL_BUFFER_BYTES = 1 << 16          # per spill file while writing: 16 MiB in all
LEAF_BYTES = 2 * smt.HASH_SIZE        # path and leaf hash
TABLE_SUFFIXES = (".ldb", ".sst")     # LevelDB's immutable table files


@dataclass(frozen=True, slots=True)
class BulkFile:
    path: Path
    sha256: bytes
    keys: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded data folder: its tip, the records written (genesis_state's
    and the bulk's), the tree's inner nodes, and the seconds each pass took
    (records and leaves, inner nodes, LevelDB's compaction)."""

    tip: ChainTip
    records: int
    inner_nodes: int
    records_s: float
    tree_s: float
    compact_s: float


# --- the records --------------------------------------------------------------------

def synthetic_asset(number: int, holders: list[str], currency: str) -> dict:
    """Asset number `number` (1, 2, ...) as `assets.register` would record it
    at height 0: its class, issuer, holders (one to three of `holders`) and
    terms follow from the number, so every run makes the same records."""
    asset_class = ASSET_CLASSES[number % len(ASSET_CLASSES)]
    priced = asset_class in PRICED_CLASSES
    issuer = holders[number % len(holders)]
    units = {holders[(number + k) % len(holders)]: 1 + (number * (k + 7)) % 9_973 for k in range(1 + number % 3)}
    terms = {"class": asset_class, "issuer": issuer, "currency": currency if priced else None,
             "face_value": 100 * (1 + number % 99_991) if priced else None,
             "maturity_height": 1_000_000 + number % 5_000_000 if priced else None,
             "documents_hash": hashing.digest("bulk-asset-documents", number.to_bytes(8, "big"))}
    return new_asset(f"A{number:0{ID_DIGITS}d}", terms, units, None, 0)


def synthetic_assets(count: int, holders: list[str], currency: str) -> Iterator[tuple[bytes, bytes]]:
    """`count` asset records and the assets counter (`seq/assets` = count, so
    the next registration gets the next id), in key order."""
    for number in range(1, count + 1):
        yield asset_key(f"A{number:0{ID_DIGITS}d}"), encoding.encode(synthetic_asset(number, holders, currency))
    yield state_key("seq", "assets"), encoding.encode(count)


def write_bulk_file(path: Path, records: Iterable[tuple[bytes, bytes]]) -> BulkFile:
    """Write `records` (in strictly ascending key order) as a bulk state
    file; its hash and count. BulkStateError if a key is out of order."""
    digest, count, previous = hashlib.sha256(MAGIC), 0, b""
    with open(path, "wb") as out:
        out.write(MAGIC)
        for key, value in records:
            if key <= previous:
                raise BulkStateError(f"key {key[:64]!r} comes after {previous[:64]!r}: records go in key order")
            previous = key
            record = encode_record(key, value)
            out.write(record)
            digest.update(record)
            count += 1
    return BulkFile(Path(path), digest.digest(), count)


def link_or_copy(source: Path, target: Path) -> None:
    """`target` as a hard link to `source` (no second copy of a file of
    gigabytes), or a copy when they are on different file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def declare(document: dict, bulk: BulkFile, file_name: str = BULK_FILE_NAME) -> dict:
    """`document` with a bulk_state naming `bulk` as `file_name` (the file
    must sit under that name beside the genesis file)."""
    return {**document, "bulk_state": {"file": file_name, "sha256": bulk.sha256.hex(), "keys": bulk.keys}}


# --- loading a data folder ------------------------------------------------------------

def _require_fresh(data_dir: Path, chain_id: bytes) -> None:
    """`data_dir` may be absent, empty, or a LevelDB that holds no chain yet
    (a node refused to start on it); anything else is refused."""
    if not data_dir.exists() or not any(data_dir.iterdir()):
        return
    if not (data_dir / LEVELDB_CURRENT).is_file():
        raise StorageError(f"{data_dir} is not empty and holds no LevelDB: not overwritten")
    storage = Storage(data_dir, chain_id, create=False)  # StorageError: another chain's
    try:
        if storage.tip() is not None:
            raise StorageError(f"{data_dir} already holds a chain: not overwritten")
    finally:
        storage.close()


def _write_records(storage: Storage, records: Iterable[tuple[bytes, bytes]], spill: Path,
                   progress: Callable[[int], None] | None) -> int:
    """Each record and its leaf into `storage`; each leaf's path and hash to its spill file."""
    files = [open(spill / f"{n:02x}", "wb", buffering=SPILL_BUFFER_BYTES) for n in range(SPILL_FILES)]
    count, state, nodes = 0, [], []
    try:
        for key, value in records:
            path, leaf_hash, raw = smt.leaf_node(key, value)
            files[path[0]].write(path + leaf_hash)
            state.append((key, value))
            nodes.append((leaf_hash, raw))
            count += 1
            if len(state) >= BATCH_RECORDS:
                storage.put_genesis_part(state, nodes)
                state, nodes = [], []
                if progress is not None:
                    progress(count)
        storage.put_genesis_part(state, nodes)
    finally:
        for handle in files:
            handle.close()
    return count


def _sorted_leaves(spill: Path) -> Iterator[tuple[bytes, bytes]]:
    """Every spilled leaf in path order: one spill file in memory at a time."""
    for n in range(SPILL_FILES):
        data = (spill / f"{n:02x}").read_bytes()
        for leaf in sorted(data[i:i + LEAF_BYTES] for i in range(0, len(data), LEAF_BYTES)):
            yield leaf[:smt.HASH_SIZE], leaf[smt.HASH_SIZE:]


def _write_tree(storage: Storage, spill: Path) -> tuple[bytes, int]:
    """The inner nodes of the tree over the spilled leaves into `storage`; the root and their number."""
    pending: list[tuple[bytes, bytes]] = []
    written = 0

    def emit(node_hash: bytes, raw: bytes) -> None:
        nonlocal written
        pending.append((node_hash, raw))
        written += 1
        if len(pending) >= BATCH_RECORDS:
            storage.put_genesis_part((), pending)
            pending.clear()
    root = smt.build_sorted(_sorted_leaves(spill), emit)
    storage.put_genesis_part((), pending)
    return root, written


def initialize_data_folder(data_dir: Path, genesis: Genesis, bulk: Iterable[tuple[bytes, bytes]],
                           progress: Callable[[int], None] | None = None) -> Loaded:
    """Load the genesis state, `genesis_state(genesis)` and the `bulk` records
    (node.audit.verify.bulk_records: checked against the genesis as they are
    read), with its state tree, into the fresh data folder `data_dir`, as
    the ledger would at height 0. `progress` hears the records written so
    far. Nothing is left at `data_dir` if it fails."""
    data_dir = Path(data_dir)
    _require_fresh(data_dir, genesis.chain_id)
    staging = data_dir.with_name(data_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix="consort-bulk-spill-", dir=data_dir.parent) as spill:
            storage = Storage(staging, genesis.chain_id)
            try:
                started = time.perf_counter()
                records = _write_records(storage, with_bulk_records(genesis_state(genesis), bulk), Path(spill),
                                         progress)
                records_s, started = time.perf_counter() - started, time.perf_counter()
                root, inner_nodes = _write_tree(storage, Path(spill))
                tip = ChainTip(0, genesis.chain_id, root, merkle.EMPTY_ROOT, genesis.genesis_time_ms)
                storage.initialize({}, (), tip, genesis.validator_keys)
                tree_s, started = time.perf_counter() - started, time.perf_counter()
                storage.compact()  # levels in shape: no node starts with a backlog of compactions
                compact_s = time.perf_counter() - started
            finally:
                storage.close()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(data_dir, ignore_errors=True)  # absent, empty, or a LevelDB with no chain (_require_fresh)
    staging.rename(data_dir)
    return Loaded(tip, records, inner_nodes, round(records_s, 2), round(tree_s, 2), round(compact_s, 2))


def copy_data_folder(source: Path, target: Path) -> None:
    """`target` (absent or empty) holding what the data folder `source` holds
    (no node may have it open): table files hard-linked (copied across file
    systems), the rest copied."""
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise StorageError(f"{target} is not empty: not overwritten")
    for item in sorted(source.iterdir()):
        if item.suffix in TABLE_SUFFIXES:
            link_or_copy(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)


def node_data_folders(directory: Path) -> list[Path]:
    """Each node's data folder of the consortium in `directory` (node.devtools.consortium), in replica order."""
    index = json.loads((Path(directory) / "consortium.json").read_text())
    folders = []
    for entry in index["institutions"]:
        config_path = Path(directory) / entry["config"]
        folders.append(config_path.parent / json.loads(config_path.read_text())["data_dir"])
    return folders


def initialize_consortium(directory: Path, progress: Callable[[int], None] | None = None) -> Loaded:
    """Load the genesis state of the consortium in `directory`, bulk state
    included, into its first node's data folder, and give the others copies."""
    genesis_path = Path(directory) / "genesis.json"
    genesis = parse_genesis(json.loads(genesis_path.read_text()))
    first, *others = node_data_folders(directory)
    loaded = initialize_data_folder(first, genesis, bulk_records(genesis_path, genesis), progress)
    for folder in others:
        copy_data_folder(first, folder)
    return loaded
