"""Build a certified chain offline, without running consensus: for tests,
tamper experiments and audit benchmarks. Blocks are proposed and signed by
validator keys this module holds, executed by the real executor and stored
by the real ledger, so the result is indistinguishable from a live chain."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from consensus.config import validator_set_hash
from consensus.messages import Block, BlockHeader, Commit, CommitCertificate, tx_root, vote_bytes
from contracts.genesis import Genesis, parse_genesis
from contracts.tx import sign_tx
from crypto.keys import KeyPair
from node.runtime.ledger import Ledger
from node.runtime.storage import Storage


def key(label: str) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(b"chainbuilder/" + label.encode()).digest())


def genesis_document(validators: int = 4, members: int = 4) -> dict:
    ids = [f"bank-{i}" for i in range(max(validators, members))]
    institutions = []
    for i, iid in enumerate(ids):
        entry = {"id": iid, "roles": ["member"] + (["validator"] if i < validators else []),
                 "client_keys": [key(f"{iid}/client").public_key.hex()], "balances": {"EUR": 10**15}}
        if i < validators:
            entry["node_key"] = key(f"{iid}/node").public_key.hex()
        institutions.append(entry)
    return {"chain_name": "builder", "currencies": ["EUR"], "institutions": institutions,
            "validators": ids[:validators], "consensus": {"batch_size_max": 20_000}}


@dataclass
class ChainBuilder:
    directory: Path
    document: dict = field(default_factory=genesis_document)

    def __post_init__(self) -> None:
        self.genesis: Genesis = parse_genesis(self.document)
        self.storage = Storage(Path(self.directory) / "data", self.genesis.chain_id)
        self.ledger = Ledger(self.storage, self.genesis)
        self.members = [i.id for i in self.genesis.institutions if "member" in i.roles]
        self.signers = {iid: key(f"{iid}/client").signer() for iid in self.members}
        self.nonces = {iid: 0 for iid in self.members}

    def payments(self, count: int, start: int = 0) -> list:
        txs = []
        for n in range(start, start + count):
            payer = self.members[n % len(self.members)]
            payee = self.members[(n + 1) % len(self.members)]
            self.nonces[payer] += 1
            txs.append(sign_tx(self.signers[payer], self.genesis.chain_id, self.nonces[payer], "settlement.pay",
                               {"from": payer, "to": payee, "currency": "EUR", "amount": 1 + n % 997}))
        return txs

    def append(self, txs: list, signers: int | None = None) -> Block:
        """Propose, certify (with `signers` validators, default 2f+1) and apply one block."""
        tip = self.ledger.tip
        validators = self.ledger.validator_keys()
        raw = tuple(tx.wire() for tx in txs)
        header = BlockHeader(self.genesis.chain_id, tip.height + 1, 0, 0, tip.block_hash, tip.timestamp_ms + 1000,
                             tx_root(raw), len(raw), tip.state_root, tip.receipts_root,
                             validator_set_hash(validators))
        digest = header.hash()
        quorum = 2 * ((len(validators) - 1) // 3) + 1 if signers is None else signers
        by_key = {key(f"{v}/node").public_key: key(f"{v}/node").signer() for v in self.genesis.validators}
        signatures = tuple((i, by_key[validators[i]].sign("pbft", vote_bytes(Commit.KIND, 0, header.height, digest)))
                           for i in range(quorum))
        block = Block(header, raw)
        self.ledger.apply(block, CommitCertificate(0, header.height, digest, signatures), txs)
        return block

    def build(self, blocks: int, txs_per_block: int) -> None:
        for b in range(blocks):
            self.append(self.payments(txs_per_block, b * txs_per_block))

    def close(self) -> None:
        self.storage.close()
