"""Child process of the crash test: appends signed blocks to its LevelDB as
fast as it can and prints each height once its write batch has returned."""

from __future__ import annotations

import sys
from pathlib import Path

from consensus.validators import ValidatorSet
from consensus.messages import Block, BlockHeader, Commit, CommitCertificate, tx_root, vote_bytes
from contracts.tx import sign_tx
from crypto.keys import read_key_file
from node.runtime.config import load_genesis
from node.runtime.ledger import Ledger
from node.runtime.passphrase import PassphraseSource
from node.runtime.storage import Storage

TXS_PER_BLOCK = 20


def main(directory: Path, blocks_max: int) -> None:
    genesis = load_genesis(directory / "genesis.json")
    passphrase = PassphraseSource().read()  # CONSORT_PASSPHRASE, from the test
    node_signer = read_key_file(directory / "node.key", passphrase).signer()
    client = read_key_file(directory / "client.key", passphrase).signer()
    ledger = Ledger(Storage(directory / "data", genesis.chain_id), genesis)
    validators = ValidatorSet(genesis.chain_id, genesis.validator_keys)
    for _ in range(blocks_max):
        tip = ledger.tip
        height = tip.height + 1
        txs = tuple(sign_tx(client, genesis.chain_id, height * 1000 + i, "settlement.pay",
                            {"from": "bank-a", "to": "bank-b", "currency": "EUR", "amount": 1 + i}).wire()
                    for i in range(TXS_PER_BLOCK))
        header = BlockHeader(genesis.chain_id, height, 0, 0, tip.block_hash, tip.timestamp_ms + 1,
                             tx_root(txs), len(txs), tip.state_root, tip.receipts_root,
                             validators.hash)
        digest = header.hash()
        signature = node_signer.sign("pbft", vote_bytes(validators.context, Commit.KIND, 0, height, digest))
        ledger.apply(Block(header, txs), CommitCertificate(0, height, digest, ((0, signature),)))
        print(height, flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
