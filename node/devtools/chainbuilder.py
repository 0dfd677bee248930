"""Build a certified chain offline, without running consensus: for tests,
tamper experiments and audit benchmarks. Blocks are proposed and signed by
validator keys this module holds, executed by the real executor and stored
by the real ledger, so the result is indistinguishable from a live chain.

`build_payments` builds a long chain (a million payments for the audit
benchmark) in bounded memory: blocks go to LevelDB as they are made, and
worker processes sign the next blocks' transactions while this one
executes and stores the current block (Ed25519 signatures are
deterministic: the chain is the same, byte for byte, with any number of
workers)."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from consensus.validators import ValidatorSet
from consensus.messages import Block, BlockHeader, Commit, CommitCertificate, tx_root, vote_bytes
from contracts.genesis import Genesis, parse_genesis
from contracts.tx import Transaction, sign_tx
from crypto.keys import KeyPair
from node.audit.signatures import worker_pool
from node.devtools.bulk_state import initialize_data_folder
from node.runtime.ledger import Ledger
from node.runtime.storage import Storage


BLOCKS_SIGNED_AHEAD_MAX = 8  # blocks whose transactions the workers sign before the ledger takes them

TxSpec = tuple[str, int, str, dict]  # (institution, nonce, type, args): a transaction to sign


def key(label: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(b"chainbuilder/" + label.encode()).digest())


def client_signer(institution: str):
    """The client key the builder signs `institution`'s transactions with."""
    return key(f"{institution}/client").signer()


def sign_specs(chain_id: bytes, specs: list[TxSpec]) -> list[Transaction]:
    """A worker's task (and the builder's own way): sign each spec with its institution's client key."""
    signers = {iid: client_signer(iid) for iid in sorted({spec[0] for spec in specs})}
    return [sign_tx(signers[iid], chain_id, nonce, tx_type, args) for iid, nonce, tx_type, args in specs]


def genesis_document(validators: int = 4, members: int = 4, standby: int = 0) -> dict:
    """`validators` institutions validate from genesis; `standby` more hold
    the validator role and a node key, ready for governance to add them."""
    ids = [f"bank-{i}" for i in range(max(validators + standby, members))]
    institutions = []
    for i, iid in enumerate(ids):
        capable = i < validators + standby
        entry = {"id": iid, "roles": ["member"] + (["validator"] if capable else []),
                 "client_keys": [key(f"{iid}/client").public_key.hex()], "balances": {"EUR": 10**15}}
        if capable:
            entry["node_key"] = key(f"{iid}/node").public_key.hex()
        institutions.append(entry)
    return {"chain_name": "builder", "currencies": ["EUR"], "institutions": institutions,
            "validators": ids[:validators], "consensus": {"batch_size_max": 20_000}}


@dataclass
class ChainBuilder:
    """`bulk`: the records of the bulk state file the genesis names, if it
    names one (node.audit.verify.bulk_records), loaded before block 1."""

    directory: Path
    document: dict = field(default_factory=genesis_document)
    bulk: Iterable[tuple[bytes, bytes]] | None = None

    def __post_init__(self) -> None:
        self.genesis: Genesis = parse_genesis(self.document)
        if self.bulk is not None:
            initialize_data_folder(Path(self.directory) / "data", self.genesis, self.bulk)
        self.storage = Storage(Path(self.directory) / "data", self.genesis.chain_id)
        self.ledger = Ledger(self.storage, self.genesis)
        self.members = [i.id for i in self.genesis.institutions if "member" in i.roles]
        self.signers = {iid: client_signer(iid) for iid in self.members}
        self.nonces = {iid: 0 for iid in self.members}
        self.node_signers = {}
        for institution in self.genesis.institutions:
            self.add_node_key(f"{institution.id}/node")

    def add_node_key(self, label: str) -> bytes:
        """Hold the node key derived from `label` (for a rotation); its public key."""
        signer = key(label).signer()
        self.node_signers[signer.public_key] = signer
        return signer.public_key

    def tx(self, institution: str, tx_type: str, args: dict):
        """A transaction signed by `institution`'s client key with its next nonce."""
        self.nonces[institution] += 1
        return sign_tx(self.signers[institution], self.genesis.chain_id, self.nonces[institution], tx_type, args)

    def payment_specs(self, count: int, start: int = 0) -> list[TxSpec]:
        """Payments number start..start+count-1, round the members, each with
        its payer's next nonce (taken now), to be signed."""
        specs = []
        for n in range(start, start + count):
            payer = self.members[n % len(self.members)]
            payee = self.members[(n + 1) % len(self.members)]
            self.nonces[payer] += 1
            specs.append((payer, self.nonces[payer], "settlement.pay",
                          {"from": payer, "to": payee, "currency": "EUR", "amount": 1 + n % 997}))
        return specs

    def payments(self, count: int, start: int = 0) -> list:
        return sign_specs(self.genesis.chain_id, self.payment_specs(count, start))

    def append(self, txs: list, signers: int | None = None, certified_by: tuple[bytes, ...] | None = None) -> Block:
        """Propose, certify (with the first `signers` validators, default a
        quorum) and apply one block. `certified_by` signs with another set's
        keys than the one in force (to forge). A Transaction is applied as
        verified (as a node applies what admission verified), bytes as bytes
        (the executor decodes and checks them)."""
        tip = self.ledger.tip
        validators = ValidatorSet(self.genesis.chain_id, self.ledger.validator_keys())
        signing = validators.keys if certified_by is None else certified_by
        raw = tuple(bytes(tx) if isinstance(tx, bytes) else tx.wire() for tx in txs)
        header = BlockHeader(self.genesis.chain_id, tip.height + 1, 0, 0, tip.block_hash, tip.timestamp_ms + 1000,
                             tx_root(raw), len(raw), tip.state_root, tip.receipts_root,
                             validators.hash)
        digest = header.hash()
        count = validators.quorum if signers is None else signers
        signatures = tuple((i, self.node_signers[signing[i]].sign(
            "pbft", vote_bytes(validators.context, Commit.KIND, 0, header.height, digest))) for i in range(count))
        block = Block(header, raw)
        self.ledger.apply(block, CommitCertificate(0, header.height, digest, signatures), txs)
        return block

    def build(self, blocks: int, txs_per_block: int) -> None:
        for b in range(blocks):
            self.append(self.payments(txs_per_block, b * txs_per_block))

    def close(self) -> None:
        self.storage.close()


def build_payments(builder: ChainBuilder, txs: int, per_block: int, workers: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> None:
    """Append blocks of `per_block` payments (the last one shorter), `txs` in
    all, with `workers` processes signing ahead of the ledger (0: signed
    here); `progress(blocks done, blocks in all)` after each block."""
    blocks = (txs + per_block - 1) // per_block
    sizes = [min(per_block, txs - b * per_block) for b in range(blocks)]
    if workers <= 0:
        for b, size in enumerate(sizes):
            builder.append(builder.payments(size, b * per_block))
            if progress is not None:
                progress(b + 1, blocks)
        return
    with worker_pool(workers) as pool:
        signing: deque[Future] = deque()
        for b, size in enumerate(sizes):
            specs = builder.payment_specs(size, b * per_block)
            signing.append(pool.submit(sign_specs, builder.genesis.chain_id, specs))
            if len(signing) > BLOCKS_SIGNED_AHEAD_MAX:
                _append_signed(builder, signing.popleft(), b + 1 - len(signing), blocks, progress)
        while signing:
            _append_signed(builder, signing.popleft(), blocks - len(signing), blocks, progress)


def _append_signed(builder: ChainBuilder, signed: Future, done: int, blocks: int, progress) -> None:
    builder.append(signed.result())
    if progress is not None:
        progress(done, blocks)
