"""The auditor's check of a transaction-query answer (node.audit.txs), pure:
a chain executed in memory and certified by fixed validator keys, pages
built as GET /v1/audit/txs sends them, then tampered with. An untouched
page verifies; a wrong transaction, proof, receipt, claim or header, or a
header no quorum of the set in force certified, is reported as not
verified; a page that does not go forward is refused."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from consensus.messages import Block, BlockHeader, Commit, CommitCertificate, tx_root, vote_bytes
from consensus.validators import ValidatorSet
from contracts.executor import BlockContext, Executor
from contracts.genesis import client_key_key, genesis_state, parse_genesis
from contracts.state import DictState
from contracts.tx import decode_tx, sign_tx
from crypto import encoding, merkle, smt
from crypto.keys import KeyPair
from fixtures import genesis_document, key
from node.audit.txs import AnswerError, TxFilter, ValidatorEras, check_page

VALIDATORS = ("bank-a", "bank-b", "bank-c", "bank-d")
ROLES = {**{iid: ["member", "validator"] for iid in VALIDATORS}, "bank-e": ["member"]}
UNDECODABLE = b"\x92\xc4\x01x"


class PureChain:
    """Blocks executed on an in-memory state, certified by a quorum of the
    genesis validators; the sender's institution of each transaction."""

    def __init__(self) -> None:
        self.genesis = parse_genesis(genesis_document(
            ROLES, chain_name="audit-txs", balances={iid: {"EUR": 10**6} for iid in ROLES}))
        self.chain_id = self.genesis.chain_id
        self.validators = ValidatorSet(self.chain_id, self.genesis.validator_keys)
        self.node_signers = [key(f"{iid}/node").signer() for iid in VALIDATORS]
        self.state = DictState(genesis_state(self.genesis))
        built = smt.build(self.state.items)
        self.tree, self.state_root = dict(built.new_nodes), built.root
        self.prev_hash, self.receipts_root = self.chain_id, merkle.EMPTY_ROOT
        self.blocks: dict[int, tuple[Block, CommitCertificate, list[bytes]]] = {}
        self.senders: dict[tuple[int, int], str | None] = {}
        self.nonce = 0

    def pay(self, payer: str, payee: str, amount: int = 5):
        self.nonce += 1
        return sign_tx(key(f"{payer}/client").signer(), self.chain_id, self.nonce, "settlement.pay",
                       {"from": payer, "to": payee, "currency": "EUR", "amount": amount})

    def append(self, txs: list[tuple[bytes, str | None]]) -> None:
        """A block of (wire bytes, the institution that sent them)."""
        height = len(self.blocks) + 1
        raw = tuple(tx for tx, _ in txs)
        header = BlockHeader(self.chain_id, height, 0, 0, self.prev_hash, 1000 * height, tx_root(raw), len(raw),
                             self.state_root, self.receipts_root, self.validators.hash)
        certificate = certify(header, self.validators, self.node_signers[:self.validators.quorum])
        result = Executor().execute(self.state, BlockContext(self.chain_id, height, 1000 * height), list(raw))
        self.state.apply(result.writes)
        update = smt.update(self.tree, self.state_root, result.writes)
        self.tree.update(update.new_nodes)
        self.state_root, self.prev_hash, self.receipts_root = update.root, header.hash(), result.receipts_root
        self.blocks[height] = (Block(header, raw), certificate, list(result.receipt_leaves))
        for index, (_, sender) in enumerate(txs):
            self.senders[height, index] = sender


def certify(header: BlockHeader, validators: ValidatorSet, signers, view: int = 0) -> CommitCertificate:
    digest = header.hash()
    signed = vote_bytes(validators.context, Commit.KIND, view, header.height, digest)
    return CommitCertificate(view, header.height, digest, tuple((i, s.sign("pbft", signed))
                                                                for i, s in enumerate(signers)))


def header_json(header: BlockHeader, certificate: CommitCertificate) -> dict:
    return {"header": encoding.encode(header.to_wire()).hex(),
            "certificate": encoding.encode(certificate.to_wire()).hex()}


def page_of(chain: PureChain, positions, next_cursor: str | None = None, tx_type: str = "settlement.pay") -> dict:
    """An answer holding the transactions at `positions`, as the API builds it."""
    entries, headers = [], {}
    for height, index in positions:
        block, _, leaves = chain.blocks[height]
        raw = block.txs[index]
        sender = chain.senders[height, index]
        proof = None
        if raw != UNDECODABLE:
            proof = smt.prove(chain.tree, block.header.state_root, client_key_key(decode_tx(raw).sender))
        entries.append({
            "height": height, "index": index, "institution": sender, "type": None if raw == UNDECODABLE else tx_type,
            "tx": raw.hex(), "tx_proof": [h.hex() for h in merkle.inclusion_proof(list(block.txs), index)],
            "receipt": leaves[index].hex(), "receipt_proof": [h.hex() for h in merkle.inclusion_proof(leaves, index)],
            "sender_proof": None if proof is None else proof.to_wire().hex()})
        for h in (height, height + 1):
            headers[str(h)] = header_json(chain.blocks[h][0].header, chain.blocks[h][1])
    return {"txs": entries, "headers": headers, "next": next_cursor}


@pytest.fixture(scope="module")
def chain() -> PureChain:
    built = PureChain()
    built.append([(built.pay("bank-a", "bank-b").wire(), "bank-a"), (built.pay("bank-b", "bank-c").wire(), "bank-b"),
                  (built.pay("bank-a", "bank-e").wire(), "bank-a")])
    bad_signature = built.pay("bank-a", "bank-c")
    built.append([(built.pay("bank-e", "bank-a").wire(), "bank-e"), (UNDECODABLE, None),
                  (encoding.encode([bad_signature.body, bytes(64)]), None),
                  (built.pay("bank-a", "bank-d").wire(), "bank-a")])
    built.append([(built.pay("bank-c", "bank-a").wire(), "bank-c")])
    return built


def eras_of(chain: PureChain, height: int = 3) -> ValidatorEras:
    return ValidatorEras(chain.chain_id, [(1, chain.validators)], height)


ALL = TxFilter(None, None, 1, 2)
ALPHA = TxFilter("bank-a", "settlement.pay", 1, 2)


def checked(chain, page, asked=ALL, eras=None, after=None):
    return check_page(page, eras or eras_of(chain), asked, after)


def test_an_untouched_page_verifies_every_transaction(chain):
    audited, following = checked(chain, page_of(chain, [(1, 0), (1, 2), (2, 3)], "2:3"), ALPHA)
    assert [(tx.height, tx.index, tx.institution, tx.verified) for tx in audited] == [
        (1, 0, "bank-a", True), (1, 2, "bank-a", True), (2, 3, "bank-a", True)]
    assert following == (2, 3)
    assert audited[0].tx == chain.blocks[1][0].txs[0] and audited[0].block_hash == chain.blocks[1][0].header.hash()
    assert audited[2].receipt == chain.blocks[2][2][3]


def test_transactions_without_a_valid_sender_verify_as_no_institutions(chain):
    audited, following = checked(chain, page_of(chain, [(2, 1), (2, 2)]))
    assert [(tx.institution, tx.type, tx.problem) for tx in audited] == [
        (None, None, None), (None, "settlement.pay", None)]
    assert following is None


def tamper_tx_byte(page, chain):
    raw = bytearray(bytes.fromhex(page["txs"][0]["tx"]))
    raw[-3] ^= 1
    page["txs"][0]["tx"] = raw.hex()


def tamper_other_blocks_tx(page, chain):
    """Another block's genuine transaction with its own proof, claimed at this place."""
    other = page_of(chain, [(2, 0)])["txs"][0]
    page["txs"][0].update(tx=other["tx"], tx_proof=other["tx_proof"])


def tamper_tx_proof(page, chain):
    proof = page["txs"][0]["tx_proof"]
    proof[0] = bytes(32).hex()


def tamper_receipt(page, chain):
    """Another transaction's genuine receipt (and proof) of the same block."""
    other = page_of(chain, [(1, 1)])["txs"][0]
    page["txs"][0].update(receipt=other["receipt"], receipt_proof=other["receipt_proof"])


def tamper_receipt_byte(page, chain):
    raw = bytearray(bytes.fromhex(page["txs"][0]["receipt"]))
    raw[-1] ^= 1
    page["txs"][0]["receipt"] = raw.hex()


def tamper_institution(page, chain):
    page["txs"][0]["institution"] = "bank-b"


def tamper_type(page, chain):
    page["txs"][0]["type"] = "settlement.instruct"


def tamper_certificate_short(page, chain):
    block, certificate, _ = chain.blocks[1]
    short = dataclasses.replace(certificate, signatures=certificate.signatures[:2])
    page["headers"]["1"] = header_json(block.header, short)


def tamper_forged_header(page, chain):
    """A header with another transaction root, signed by keys outside the set in force."""
    block, _, _ = chain.blocks[1]
    forged = dataclasses.replace(block.header, tx_root=bytes(32))
    outsiders = [KeyPair.from_seed(bytes([i]) * 32).signer() for i in range(4)]
    page["headers"]["1"] = header_json(forged, certify(forged, chain.validators, outsiders[:3]))


def tamper_own_validator_set(page, chain):
    """A header naming a set of the forger's keys, certified by a quorum of them."""
    block, _, _ = chain.blocks[1]
    outsiders = [KeyPair.from_seed(bytes([i + 1]) * 32).signer() for i in range(4)]
    fake = ValidatorSet(chain.chain_id, tuple(s.public_key for s in outsiders))
    forged = dataclasses.replace(block.header, validator_set_hash=fake.hash)
    page["headers"]["1"] = header_json(forged, certify(forged, fake, outsiders[:3]))


def tamper_next_header_missing(page, chain):
    del page["headers"]["2"]


def tamper_next_header_uncertified(page, chain):
    block, certificate, _ = chain.blocks[2]
    page["headers"]["2"] = header_json(block.header, dataclasses.replace(certificate, signatures=()))


def tamper_next_header_of_another_height(page, chain):
    page["headers"]["2"] = page["headers"]["3"] = header_json(chain.blocks[3][0].header, chain.blocks[3][1])


@pytest.mark.parametrize("tamper, problem", [
    (tamper_tx_byte, "transaction is not proved"),
    (tamper_other_blocks_tx, "transaction is not proved"),
    (tamper_tx_proof, "transaction is not proved"),
    (tamper_receipt, "receipt is not proved"),
    (tamper_receipt_byte, "receipt is not proved"),
    (tamper_institution, "not the 'bank-a' asked"),
    (tamper_type, "not the 'settlement.pay' asked"),
    (tamper_certificate_short, "header 1 is not certified: 2 signatures, 3 needed"),
    (tamper_forged_header, "header 1 is not certified"),
    (tamper_own_validator_set, "names another validator set"),
    (tamper_next_header_missing, "no header for height 2"),
    (tamper_next_header_uncertified, "header 2 is not certified"),
    (tamper_next_header_of_another_height, "the header of height 2 says 3"),
])
def test_a_tampered_answer_is_not_verified(chain, tamper, problem):
    page = page_of(chain, [(1, 0), (1, 2)])
    tamper(page, chain)
    audited, _ = checked(chain, page, ALPHA)
    assert not audited[0].verified and problem in audited[0].problem, audited[0].problem
    if tamper not in (tamper_certificate_short, tamper_forged_header, tamper_own_validator_set,
                      tamper_next_header_missing, tamper_next_header_uncertified,
                      tamper_next_header_of_another_height):
        assert audited[1].verified  # the untouched transaction of the same block still verifies


@pytest.mark.parametrize("claimed", ["bank-b", "bank-e", None])
def test_a_wrong_institution_is_not_proved_when_nothing_was_asked_of_it(chain, claimed):
    page = page_of(chain, [(1, 0)])
    page["txs"][0]["institution"] = claimed
    audited, _ = checked(chain, page)
    assert not audited[0].verified and "sender's key is not proved" in audited[0].problem


def test_a_wrong_type_is_not_verified_when_nothing_was_asked_of_it(chain):
    page = page_of(chain, [(1, 0)], tx_type="settlement.instruct")
    audited, _ = checked(chain, page)
    assert "the node names type 'settlement.instruct'; the transaction is 'settlement.pay'" in audited[0].problem


def test_a_sender_is_claimed_for_a_transaction_that_has_none(chain):
    page = page_of(chain, [(2, 2)])
    page["txs"][0]["institution"] = "bank-a"  # its key is bank-a's, but its signature fails
    audited, _ = checked(chain, page)
    assert "no valid sender" in audited[0].problem


def test_a_transaction_outside_the_heights_asked_is_not_verified(chain):
    audited, _ = checked(chain, page_of(chain, [(2, 0)]), TxFilter(None, None, 1, 1))
    assert "outside the heights asked (1..1)" in audited[0].problem


def test_a_header_beyond_the_chain_verified_from_genesis_is_not_verified(chain):
    audited, _ = checked(chain, page_of(chain, [(2, 0)]), eras=eras_of(chain, height=2))
    assert "height 3 is beyond the chain verified from genesis (2)" in audited[0].problem


def test_pages_must_go_forward(chain):
    with pytest.raises(AnswerError, match="does not come after"):
        checked(chain, page_of(chain, [(1, 0)]), after=(1, 0))
    with pytest.raises(AnswerError, match="does not come after"):
        checked(chain, page_of(chain, [(1, 2), (1, 0)]))
    with pytest.raises(AnswerError, match="goes back"):
        checked(chain, page_of(chain, [(1, 2)], "1:1"))
    with pytest.raises(AnswerError, match="does not move on"):
        checked(chain, page_of(chain, [], "1:2"), after=(1, 2))
    assert checked(chain, page_of(chain, [], "1:9"), after=(1, 2)) == ([], (1, 9))


@pytest.mark.parametrize("breaks", [
    lambda page: page.update(txs="no list"),
    lambda page: page["txs"][0].update(tx="not hex"),
    lambda page: page["txs"][0].update(height=-1),
    lambda page: page["txs"][0].update(tx_proof=["00"] * 65),
    lambda page: page["headers"]["1"].update(header="c0"),
    lambda page: page["headers"].update(one={}),
    lambda page: page["txs"][0].update(sender_proof="00"),
    lambda page: page.update(next="12"),
])
def test_a_malformed_answer_is_refused(chain, breaks):
    page = copy.deepcopy(page_of(chain, [(1, 0)]))
    breaks(page)
    with pytest.raises(AnswerError):
        checked(chain, page)


def test_validator_eras_name_the_set_in_force_at_each_verified_height(chain):
    other = ValidatorSet(chain.chain_id, tuple(KeyPair.from_seed(bytes([9]) * 32).public_key for _ in range(1)))
    eras = ValidatorEras(chain.chain_id, [(1, chain.validators), (5, other)], height=7)
    assert [eras.at(h) for h in (0, 1, 4, 5, 7, 8)] == [None, chain.validators, chain.validators, other, other, None]
