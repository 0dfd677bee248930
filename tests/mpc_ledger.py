"""An MPC consortium for contract tests: a chain run through the real
executor one block at a time, institutions with and without nodes and MPC
keys, and what the participants' nodes would bring to the chain, built for
real: Pedersen commitments (contracts.mpc_checks), Ed25519 signatures of
the node keys (crypto.keys) and boxes sealed to X25519 keys (PyNaCl).

Not a pytest conftest: unit and property tests import it by name (tests/
is on sys.path, see tests/conftest.py). Keys come from fixed seeds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from nacl.public import PrivateKey, SealedBox

from contracts import mpc_state
from contracts.executor import BlockContext, Executor, Receipt
from contracts.genesis import genesis_state, parse_genesis
from contracts.mpc_checks import GROUP_ORDER, commit
from contracts.state import DictState
from contracts.tx import Transaction, sign_tx
from crypto import keys
from fixtures import genesis_document, key

ROLES = {
    "bank-a": ["validator", "member"],
    "bank-b": ["validator", "member"],
    "bank-c": ["validator", "member"],
    "bank-d": ["member"],      # a node and an MPC key, not a validator
    "bank-e": ["member"],      # an MPC key but no node
    "bank-f": ["member"],      # a node but no MPC key
    "reg": ["regulator"],      # an MPC key: results may be sealed to it
    "aud": ["auditor"],
}
MEMBERS = ("bank-a", "bank-b", "bank-c", "bank-d", "bank-e", "bank-f")
NODES = ("bank-a", "bank-b", "bank-c", "bank-d", "bank-f")
MPC_KEYED = ("bank-a", "bank-b", "bank-c", "bank-d", "bank-e", "reg")
DEADLINE_BLOCKS = 20


def mpc_private(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"consort-test-mpc/" + label.encode()).digest())


def mpc_public(label: str) -> bytes:
    return bytes(mpc_private(label).public_key)


def document(parameters: dict | None = None) -> dict:
    doc = genesis_document(ROLES, chain_name="mpc", validators=["bank-a", "bank-b", "bank-c"],
                           parameters=parameters)
    for entry in doc["institutions"]:
        if entry["id"] in NODES:
            entry["node_key"] = key(f"{entry['id']}/node").public_key.hex()
        if entry["id"] in MPC_KEYED:
            entry["mpc_key"] = mpc_public(entry["id"]).hex()
    return doc


@dataclass
class Ledger:
    """A chain plus per-key nonces; `send` is one transaction in one block."""

    chain_id: bytes
    state: DictState
    height: int = 0
    nonces: dict[bytes, int] = field(default_factory=dict)

    @classmethod
    def fresh(cls, parameters: dict | None = None, doc: dict | None = None) -> "Ledger":
        genesis = parse_genesis(doc if doc is not None else document(parameters))
        return cls(genesis.chain_id, DictState(genesis_state(genesis)))

    def tx(self, who: str, tx_type: str, args: dict) -> Transaction:
        signer = key(f"{who}/client").signer()
        nonce = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = nonce + 1
        return sign_tx(signer, self.chain_id, nonce, tx_type, args)

    def block(self, txs: list[Transaction]) -> list[Receipt]:
        self.height += 1
        result = Executor().execute(self.state, BlockContext(self.chain_id, self.height, 1000 * self.height), txs)
        self.state.apply(result.writes)
        return list(result.receipts)

    def send(self, who: str, tx_type: str, args: dict) -> Receipt:
        return self.block([self.tx(who, tx_type, args)])[0]

    def ok(self, who: str, tx_type: str, args: dict) -> dict:
        receipt = self.send(who, tx_type, args)
        assert receipt.ok, (tx_type, receipt.code, receipt.detail)
        return receipt.output or {}

    def refused(self, code: str, who: str, tx_type: str, args: dict) -> str:
        """Send; expect the refusal `code` and no write but the sender's nonce. The detail."""
        before = {k: v for k, v in self.state.items.items() if not k.startswith(b"nonce/")}
        receipt = self.send(who, tx_type, args)
        assert (receipt.code, receipt.ok) == (code, False), (receipt.code, receipt.detail)
        assert {k: v for k, v in self.state.items.items() if not k.startswith(b"nonce/")} == before
        return receipt.detail

    def idle(self, blocks: int) -> None:
        for _ in range(blocks):
            self.block([])

    def enact(self, action: str, **args) -> dict:
        """Propose, and every member votes yes in the next block; the proposal's output."""
        proposal = self.ok("bank-a", "governance.propose", {"action": action, "args": args})["proposal"]
        receipts = self.block([self.tx(m, "governance.vote", {"proposal": proposal, "yes": True}) for m in MEMBERS])
        closing = [r.output for r in receipts if r.ok and r.output["status"] != "open"]
        assert closing, receipts
        return closing[0]

    def open(self, who: str, protocol: str, participants: list[str], params: dict,
             result_to: list[str] = (mpc_state.ALL,), deadline_blocks: int = DEADLINE_BLOCKS) -> str:
        return self.ok(who, "mpc.open", {"protocol": protocol, "participants": list(participants), "params": params,
                                         "deadline_height": self.height + 1 + deadline_blocks,
                                         "result_to": list(result_to)})["session"]

    def session(self, session_id: str) -> dict:
        return mpc_state.session(self.state, session_id)


# --- what the participants' nodes bring -------------------------------------------------

def scalar(label: str) -> int:
    return int.from_bytes(hashlib.sha512(label.encode()).digest(), "little") % GROUP_ORDER


def scalar_bytes(value: int) -> bytes:
    return (value % GROUP_ORDER).to_bytes(32, "little")


@dataclass
class SumInputs:
    """Each participant's input vector and blinding factors, and what follows from them."""

    values: dict[str, list[int]]
    blindings: dict[str, list[int]]

    def commitment(self, participant: str) -> list[bytes]:
        return [commit(v, r) for v, r in zip(self.values[participant], self.blindings[participant])]

    @property
    def totals(self) -> list[int]:
        return [sum(column) for column in zip(*(self.values[p] for p in sorted(self.values)))]

    @property
    def blinding_sums(self) -> list[bytes]:
        return [scalar_bytes(sum(column)) for column in zip(*(self.blindings[p] for p in sorted(self.blindings)))]

    @property
    def clear(self) -> dict:
        return {"totals": self.totals, "blindings": self.blinding_sums}


def sum_inputs(values: dict[str, list[int]], seed: str = "s") -> SumInputs:
    return SumInputs(values, {p: [scalar(f"{seed}/{p}/{i}") for i in range(len(v))] for p, v in values.items()})


def commit_records(commitments: dict[str, list[bytes]], public: dict[str, bytes] | None = None) -> dict[str, dict]:
    """What the contract keeps of each participant's commit, as far as the roots go."""
    return {p: {"commitment": c, "public": (public or {}).get(p)} for p, c in commitments.items()}


def transcripts_of(participants, tag: str = "t") -> dict[str, bytes]:
    return {p: hashlib.sha256(f"{tag}/{p}".encode()).digest() for p in participants}


def signatures(chain_id: bytes, session_id: str, result_digest: bytes, commitments: dict[str, dict],
               transcripts: dict[str, bytes], signer_labels: dict[str, str] | None = None) -> dict[str, bytes]:
    """Every participant's node signature over the attestation (or by the key labelled in `signer_labels`)."""
    attested = mpc_state.attestation_bytes(chain_id, session_id, result_digest, mpc_state.commitment_root(commitments),
                                           mpc_state.transcript_root(transcripts))
    labels = {p: f"{p}/node" for p in transcripts} | (signer_labels or {})
    return {p: key(labels[p]).signer().sign(keys.MPC_ATTEST_DOMAIN, attested) for p in sorted(transcripts)}


def seal(recipient: str, content: bytes) -> bytes:
    return SealedBox(mpc_private(recipient).public_key).encrypt(content)


def unseal(recipient: str, box: bytes) -> bytes:
    return SealedBox(mpc_private(recipient)).decrypt(box)
