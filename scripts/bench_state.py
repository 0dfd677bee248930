"""Measure the authenticated state tree (crypto.smt): build, block updates, proofs.

For each tree size (10k and 1M keys by default) the tree is bulk-built into a
dict node store, then blocks of B random changes (80% updates of existing
keys, 10% inserts, 10% deletes) are applied one update per block. Each block
is applied twice over the same store: once timed, once with
`crypto.hashing.digest` wrapped to count every hash by domain (the counting
run is not timed). Proofs are made for present and absent keys and verified.
Progress goes to stderr; a table and a final JSON line go to stdout.

    .venv/bin/python scripts/bench_state.py [--sizes 10000 1000000] [--block 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto import hashing, smt  # noqa: E402

VALUE_SIZE = 32


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class HashCounter:
    """Wraps crypto.hashing.digest (which crypto.smt_proof calls) to count hashes by domain."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._original = hashing.digest

    def __enter__(self) -> "HashCounter":
        def counting(domain: str, data: bytes) -> bytes:
            self.counts[domain] += 1
            return self._original(domain, data)
        hashing.digest = counting
        return self

    def __exit__(self, *exc) -> None:
        hashing.digest = self._original


def key_of(index: int) -> bytes:
    return b"acct/%010d" % index


def build_tree(size: int, rng: random.Random
               ) -> tuple[dict[bytes, bytes], bytes, dict[bytes, bytes], tuple[float, float]]:
    log(f"[{size:,}] generating {size:,} keys ...")
    state = {key_of(i): rng.randbytes(VALUE_SIZE) for i in range(size)}
    log(f"[{size:,}] bulk build (hash every key, sort by path, build bottom-up) ...")
    start, start_cpu = time.perf_counter(), time.process_time()
    result = smt.build(state)
    build_s, build_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    store = dict(result.new_nodes)
    log(f"[{size:,}] built in {build_s:.1f} s ({build_cpu_s:.1f} s CPU): {len(store):,} nodes, "
        f"root {result.root.hex()[:16]}…")
    return state, result.root, store, (build_s, build_cpu_s)


def incremental_check(state: dict[bytes, bytes], root: bytes, block: int) -> float:
    """Build the same tree by updates of `block` keys; the root must match the bulk build."""
    store: dict[bytes, bytes] = {}
    current, items = smt.EMPTY_ROOT, list(state.items())
    start = time.perf_counter()
    for offset in range(0, len(items), block):
        result = smt.update(store, current, items[offset:offset + block])
        store.update(result.new_nodes)
        current = result.root
    elapsed = time.perf_counter() - start
    assert current == root, "incremental and bulk builds disagree"
    return elapsed


def random_block(state: dict[bytes, bytes], next_index: list[int], size: int, rng: random.Random
                 ) -> list[tuple[bytes, bytes | None]]:
    existing = rng.sample(sorted(state) if len(state) < 50_000 else list(state), size - size // 10)
    deletes, updates = existing[: size // 10], existing[size // 10:]
    inserts = [key_of(next_index[0] + i) for i in range(size // 10)]
    next_index[0] += len(inserts)
    changes = [(k, None) for k in deletes] + [(k, rng.randbytes(VALUE_SIZE)) for k in updates + inserts]
    rng.shuffle(changes)
    return changes


def measure_blocks(state, root, store, block, blocks, rng) -> tuple[bytes, dict]:
    per_key_us, per_key_cpu_us, hashes, nodes_written, bytes_written, obsolete = [], [], Counter(), 0, 0, 0
    next_index = [len(state) + 1_000_000_000]
    for number in range(blocks):
        changes = random_block(state, next_index, block, rng)
        start, start_cpu = time.perf_counter(), time.process_time()
        result = smt.update(store, root, changes)
        per_key_us.append((time.perf_counter() - start) * 1e6 / block)
        per_key_cpu_us.append((time.process_time() - start_cpu) * 1e6 / block)
        with HashCounter() as counter:
            assert smt.update(store, root, changes) == result
        hashes.update(counter.counts)
        nodes_written += len(result.new_nodes)
        bytes_written += sum(len(h) + len(raw) for h, raw in result.new_nodes)
        obsolete += len(result.obsolete)
        store.update(result.new_nodes)
        root = result.root
        for key, value in changes:
            if value is None:
                del state[key]
            else:
                state[key] = value
        log(f"  block {number + 1}/{blocks}: {per_key_us[-1]:.1f} µs/key ({per_key_cpu_us[-1]:.1f} CPU), "
            f"{sum(counter.counts.values()) / block:.2f} hashes/key")
    changed = block * blocks
    return root, {
        "update_us_per_key": round(statistics.median(per_key_us), 1),
        "update_cpu_us_per_key": round(statistics.median(per_key_cpu_us), 1),
        "hashes_per_key": round(sum(hashes.values()) / changed, 2),
        "hashes_per_key_by_kind": {d.removeprefix("smt-"): round(c / changed, 2) for d, c in sorted(hashes.items())},
        "nodes_written_per_key": round(nodes_written / changed, 2),
        "bytes_written_per_key": round(bytes_written / changed, 1),
        "obsolete_per_key": round(obsolete / changed, 2),
    }


def measure_proofs(state, root, store, count, rng) -> dict:
    present = rng.sample(list(state), count)
    absent = [b"absent/%d" % i for i in range(count)]
    sizes, siblings, prove_us, decode_us, verify_us = [], [], [], [], []
    for key in present + absent:
        start = time.perf_counter()
        proof = smt.prove(store, root, key)
        prove_us.append((time.perf_counter() - start) * 1e6)
        wire = proof.to_wire()
        start = time.perf_counter()
        received = smt.Proof.from_wire(wire)
        decode_us.append((time.perf_counter() - start) * 1e6)
        start = time.perf_counter()
        ok = smt.verify(root, key, state.get(key), received)
        verify_us.append((time.perf_counter() - start) * 1e6)
        assert ok, f"proof for {key!r} does not verify"
        sizes.append(len(wire))
        siblings.append(len(proof.siblings))
    return {
        "proof_bytes_mean": round(statistics.mean(sizes), 1),
        "proof_bytes_max": max(sizes),
        "proof_siblings_mean": round(statistics.mean(siblings), 2),
        "proof_siblings_max": max(siblings),
        "prove_us": round(statistics.median(prove_us), 1),
        "from_wire_us": round(statistics.median(decode_us), 1),
        "verify_us": round(statistics.median(verify_us), 1),
    }


def run_size(size: int, args, rng: random.Random) -> dict:
    state, root, store, (build_s, build_cpu_s) = build_tree(size, rng)
    figures = {"keys": size, "log2_keys": round(math.log2(size), 2), "build_s": round(build_s, 2),
               "build_cpu_s": round(build_cpu_s, 2), "nodes": len(store)}
    if size <= args.incremental_max:
        log(f"[{size:,}] incremental build in blocks of {args.block} (checks the bulk root) ...")
        figures["incremental_build_s"] = round(incremental_check(state, root, args.block), 2)
    log(f"[{size:,}] {args.blocks} blocks of {args.block} changes ...")
    root, block_figures = measure_blocks(state, root, store, args.block, args.blocks, rng)
    figures.update(block_figures)
    if size <= args.incremental_max:
        assert root == smt.root_of(state), "block updates and a fresh build disagree"
    log(f"[{size:,}] {2 * args.proofs} proofs ...")
    figures.update(measure_proofs(state, root, store, args.proofs, rng))
    return figures


COLUMNS = [("keys", "keys"), ("build_s", "build s"), ("build_cpu_s", "build CPU s"), ("incremental_build_s", "incr s"),
           ("update_us_per_key", "µs/key"), ("update_cpu_us_per_key", "CPU µs/key"), ("hashes_per_key", "hash/key"),
           ("nodes_written_per_key", "nodes/key"), ("bytes_written_per_key", "B written/key"),
           ("proof_siblings_mean", "siblings"), ("proof_bytes_mean", "proof B"), ("proof_bytes_max", "proof B max"),
           ("prove_us", "prove µs"), ("from_wire_us", "from_wire µs"), ("verify_us", "verify µs")]


def print_table(rows: list[dict], block: int) -> None:
    print(f"state tree, blocks of {block} changes (80% update, 10% insert, 10% delete), dict node store;"
          " µs are wall clock medians over blocks, CPU µs the process's CPU time")
    widths = [max(len(title), 8) for _, title in COLUMNS]
    print("  ".join(f"{title:>{width}}" for (_, title), width in zip(COLUMNS, widths)))
    for row in rows:
        print("  ".join(f"{row.get(name, '-'):>{width}}" for (name, _), width in zip(COLUMNS, widths)))
    for row in rows:
        kinds = ", ".join(f"{kind} {count}" for kind, count in row["hashes_per_key_by_kind"].items())
        print(f"hashes per changed key at {row['keys']:,} keys: {kinds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--block", type=int, default=1000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--proofs", type=int, default=500, help="present keys proved (and as many absent)")
    parser.add_argument("--incremental-max", type=int, default=100_000,
                        help="also build trees up to this size by block updates and compare roots")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = [run_size(size, args, rng) for size in args.sizes]
    print_table(rows, args.block)
    print(json.dumps({"bench": "state_tree", "block": args.block, "seed": args.seed, "results": rows}))


if __name__ == "__main__":
    main()
