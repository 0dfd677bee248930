"""Governance end to end: signed transactions through the executor, one
block at a time, over a six-institution consortium (three validators, a
validator-capable member outside the set, a regulator and an auditor).
After every block the test records the validator set the block result
says is in force next, as the node does, so validator changes are seen
taking effect at boundaries and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conftest_crypto import Chain, pay
from contracts import governance
from contracts.executor import Executor, Receipt
from contracts.registry import contract_switch_key
from contracts.genesis import (
    CURRENCIES_KEY, INSTITUTIONS_KEY, PARAMETER_DEFAULTS, account_key, client_key_key, genesis_state,
    institution_keys_key, parse_genesis,
)
from contracts.state import DictState
from contracts.tx import sign_tx
from crypto import encoding
from fixtures import genesis_document, key

CHECKPOINT_INTERVAL = 4
TTL_BLOCKS = 10
VALIDATORS = ["bank-a", "bank-b", "bank-c"]

# id -> roles; an institution with the validator role has a node key
CONSORTIUM = {
    "bank-a": ["validator", "member"],
    "bank-b": ["validator", "member"],
    "bank-c": ["validator", "member"],
    "bank-d": ["validator", "member"],  # could validate, is not in the set
    "reg": ["regulator"],
    "aud": ["auditor"],
}


# node endpoints in the genesis: bank-d's node has a key but no endpoint yet
ENDPOINTS = {"bank-a": "node-a.consort.example:7000", "bank-b": "10.0.0.2:7000", "bank-c": "[2001:db8::c]:7000"}


def document(institutions: dict = CONSORTIUM, parameters: dict | None = None) -> dict:
    """Members open with 100 EUR; the validators are those of VALIDATORS present."""
    return genesis_document(institutions, chain_name="gov",
                            validators=[v for v in VALIDATORS if v in institutions],
                            balances={iid: {"EUR": 100} for iid, roles in institutions.items() if "member" in roles},
                            node_endpoints={iid: e for iid, e in ENDPOINTS.items() if iid in institutions},
                            consensus={"checkpoint_interval": CHECKPOINT_INTERVAL},
                            parameters={"proposal_ttl_blocks": TTL_BLOCKS, **(parameters or {})})


@dataclass
class Consortium:
    """A chain plus per-key nonces; every send is one block."""

    chain: Chain
    nonces: dict[bytes, int] = field(default_factory=dict)
    activations: list[tuple[int, tuple[bytes, ...]]] = field(default_factory=list)

    @classmethod
    def fresh(cls, institutions: dict = CONSORTIUM, parameters: dict | None = None) -> "Consortium":
        genesis = parse_genesis(document(institutions, parameters))
        return cls(Chain(genesis, DictState(genesis_state(genesis)), Executor()))

    @property
    def state(self) -> DictState:
        return self.chain.state

    @property
    def height(self) -> int:
        return self.chain.height

    def tx(self, who: str, tx_type: str, args: dict, signer_label: str | None = None):
        signer = key(signer_label or f"{who}/client").signer()
        nonce = self.nonces.get(signer.public_key, 0)
        self.nonces[signer.public_key] = nonce + 1
        return sign_tx(signer, self.chain.chain_id, nonce, tx_type, args)

    def block(self, txs: list) -> list[Receipt]:
        """Execute one block; the executor activates a pending validator set at
        its boundary block, which the result says and is recorded here."""
        before = governance.validators(self.state)
        result = self.chain.apply(txs)
        after = governance.validators(self.state)
        if result.validators is not None:
            self.activations.append((self.height, result.validators))
        assert (result.validators is not None) == (after != before)
        assert result.validators is None or result.validators == tuple(k for _, k in after)
        return list(result.receipts)

    def send(self, who: str, tx_type: str, args: dict, signer_label: str | None = None) -> Receipt:
        return self.block([self.tx(who, tx_type, args, signer_label)])[0]

    def propose(self, who: str, action: str, **args) -> Receipt:
        return self.send(who, "governance.propose", {"action": action, "args": args})

    def vote(self, who: str, proposal_id: int, yes: bool = True) -> Receipt:
        return self.send(who, "governance.vote", {"proposal": proposal_id, "yes": yes})

    def idle(self, blocks: int) -> None:
        for _ in range(blocks):
            self.block([])

    def enact(self, action: str, voters=("bank-a", "bank-b", "bank-c"), **args) -> Receipt:
        """Propose, then vote yes until it passes; the last vote's receipt."""
        proposed = self.propose(voters[0], action, **args)
        assert proposed.ok, proposed
        for voter in voters:
            receipt = self.vote(voter, proposed.output["proposal"])
            assert receipt.ok, receipt
            if receipt.output["status"] != "open":
                return receipt
        raise AssertionError(f"{action} did not close after {voters}")

    def get(self, state_key: bytes):
        raw = self.state.get(state_key)
        return None if raw is None else encoding.decode(raw)

    def roles(self, iid: str) -> list[str]:
        return self.get(b"inst/" + iid.encode())["roles"]


@pytest.fixture
def gov() -> Consortium:
    return Consortium.fresh()


def codes(receipts) -> list[str]:
    return [r.code for r in receipts]


# --- genesis: the registry records governance reads --------------------------

def test_genesis_writes_the_registry_governance_reads(gov):
    assert gov.get(INSTITUTIONS_KEY) == sorted(CONSORTIUM)
    assert gov.get(CURRENCIES_KEY) == ["EUR", "USD"]
    assert gov.get(institution_keys_key("bank-a")) == {"client_keys": [key("bank-a/client").public_key],
                                                       "node_key": key("bank-a/node").public_key,
                                                       "node_endpoint": "node-a.consort.example:7000"}
    assert gov.get(institution_keys_key("bank-c"))["node_endpoint"] == "[2001:db8::c]:7000"
    assert gov.get(institution_keys_key("bank-d"))["node_endpoint"] is None  # a node key, no endpoint given
    assert gov.get(institution_keys_key("aud")) == {"client_keys": [key("aud/client").public_key],
                                                    "node_key": None, "node_endpoint": None}
    assert governance.parameters(gov.state)["checkpoint_interval"] == CHECKPOINT_INTERVAL
    assert governance.parameters(gov.state, ["governance_threshold_bps"]) == {"governance_threshold_bps": 6666}
    assert governance.members(gov.state) == ["bank-a", "bank-b", "bank-c", "bank-d"]
    assert governance.validators(gov.state) == [[v, key(f"{v}/node").public_key] for v in VALIDATORS]
    assert governance.pending_validators(gov.state) is None


# --- proposing and voting ------------------------------------------------------

def test_propose_gives_sequential_ids_and_does_not_vote(gov):
    first = gov.propose("bank-a", "set_parameter", name="netting_queue_max", value=5)
    second = gov.propose("bank-d", "mint", institution="bank-d", currency="EUR", amount=5)
    assert first.output == {"proposal": 1, "expires_height": 1 + TTL_BLOCKS}
    assert second.output == {"proposal": 2, "expires_height": 2 + TTL_BLOCKS}
    record = governance.proposal(gov.state, 1)
    assert (record["proposer"], record["status"], record["yes"], record["no"]) == ("bank-a", "open", [], [])
    assert record["args"] == {"name": "netting_queue_max", "value": 5}
    assert [r["id"] for r in governance.open_proposals(gov.state)] == [1, 2]
    assert governance.proposal(gov.state, 3) is None


def test_four_members_need_three_yes_votes(gov):
    pid = gov.propose("bank-a", "set_parameter", name="netting_queue_max", value=5).output["proposal"]
    assert gov.vote("bank-a", pid).output == {"proposal": pid, "status": "open", "yes": 1, "no": 0,
                                              "members": 4, "threshold_bps": 6666}
    assert gov.vote("bank-b", pid).output["status"] == "open"
    assert governance.parameters(gov.state, ["netting_queue_max"]) == {"netting_queue_max": 10_000}
    passed = gov.vote("bank-d", pid)
    assert passed.output == {"proposal": pid, "status": "passed", "result": {"name": "netting_queue_max", "value": 5},
                             "yes": 3, "no": 0, "members": 4, "threshold_bps": 6666}
    assert governance.parameters(gov.state, ["netting_queue_max"]) == {"netting_queue_max": 5}
    record = governance.proposal(gov.state, pid)
    assert (record["status"], record["closed_height"], record["yes"]) == ("passed", gov.height,
                                                                          ["bank-a", "bank-b", "bank-d"])
    assert governance.open_proposals(gov.state) == []
    assert gov.vote("bank-c", pid).code == "proposal_closed"


def test_three_members_pass_with_two_yes_votes():
    three = {iid: spec for iid, spec in CONSORTIUM.items() if iid != "bank-d"}
    gov = Consortium.fresh(three)
    pid = gov.propose("bank-c", "set_parameter", name="netting_queue_max", value=7).output["proposal"]
    assert gov.vote("bank-c", pid).output["status"] == "open"
    assert gov.vote("bank-b", pid).output == {"proposal": pid, "status": "passed", "yes": 2, "no": 0, "members": 3,
                                              "threshold_bps": 6666,
                                              "result": {"name": "netting_queue_max", "value": 7}}


@pytest.mark.parametrize("members", range(1, 13))
def test_threshold_is_exactly_two_thirds(members):
    institutions = {f"bank-{i:02d}": ["member"] for i in range(members)}
    institutions["bank-00"] = ["validator", "member"]
    genesis = parse_genesis({**document(), "institutions": document(institutions)["institutions"],
                             "validators": ["bank-00"]})
    state = DictState(genesis_state(genesis))
    voters = sorted(institutions)
    for yes in range(members + 1):
        counts = governance.tally(state, {"yes": voters[:yes], "no": []})
        assert counts["passes"] == (3 * yes >= 2 * members), (yes, members)
        no = members - yes
        counts = governance.tally(state, {"yes": [], "no": voters[:no]})
        assert counts["can_pass"] == (3 * yes >= 2 * members), (yes, members)


def test_a_proposal_that_cannot_pass_is_rejected(gov):
    pid = gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["proposal"]
    assert gov.vote("bank-a", pid, yes=False).output["status"] == "open"  # 3 of 4 could still say yes
    assert gov.vote("bank-b", pid, yes=False).output == {"proposal": pid, "status": "rejected", "yes": 0, "no": 2,
                                                         "members": 4, "threshold_bps": 6666}
    assert governance.proposal(gov.state, pid)["status"] == "rejected"
    assert gov.vote("bank-c", pid).code == "proposal_closed"
    assert gov.chain.balance("bank-a") == 100


def test_one_vote_per_institution(gov):
    pid = gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["proposal"]
    assert gov.vote("bank-b", pid).ok
    assert gov.vote("bank-b", pid).code == "already_voted"
    assert gov.vote("bank-b", pid, yes=False).code == "already_voted"
    # twice in one block, each tx with its own nonce
    receipts = gov.block([gov.tx("bank-c", "governance.vote", {"proposal": pid, "yes": False}),
                          gov.tx("bank-c", "governance.vote", {"proposal": pid, "yes": True})])
    assert codes(receipts) == ["ok", "already_voted"]
    assert governance.proposal(gov.state, pid)["yes"] == ["bank-b"]
    assert governance.proposal(gov.state, pid)["no"] == ["bank-c"]


def test_votes_after_expiry_are_refused_and_the_proposal_closes(gov):
    pid = gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["proposal"]
    expires = governance.proposal(gov.state, pid)["expires_height"]
    gov.idle(expires - gov.height - 2)
    assert gov.vote("bank-a", pid).ok  # at expires - 1: the last height that takes votes
    assert gov.height == expires - 1
    assert [p["id"] for p in governance.open_proposals(gov.state, gov.height + 1)] == []
    assert gov.vote("bank-b", pid).code == "proposal_expired"
    assert governance.proposal(gov.state, pid)["status"] == "open"  # a failed vote writes nothing
    assert gov.propose("bank-b", "mint", institution="bank-b", currency="EUR", amount=1).ok
    record = governance.proposal(gov.state, pid)
    assert (record["status"], record["closed_height"]) == ("expired", gov.height)
    assert [p["id"] for p in governance.open_proposals(gov.state)] == [pid + 1]
    assert gov.vote("bank-c", pid).code == "proposal_closed"
    assert gov.chain.balance("bank-a") == 100


def test_auditor_and_regulator_may_not_propose_or_vote(gov):
    pid = gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["proposal"]
    for who in ("aud", "reg"):
        assert gov.propose(who, "mint", institution="bank-a", currency="EUR", amount=9).code == "not_permitted"
        assert gov.vote(who, pid).code == "not_permitted"
    assert governance.proposal(gov.state, pid)["yes"] == []


@pytest.mark.parametrize("tx_args, code", [
    ({"proposal": 99, "yes": True}, "unknown_proposal"),
    ({"proposal": 0, "yes": True}, "bad_args"),
    ({"proposal": 1, "yes": 1}, "bad_args"),
    ({"proposal": 1}, "bad_args"),
])
def test_vote_refusals(gov, tx_args, code):
    assert gov.send("bank-a", "governance.vote", tx_args).code == code


@pytest.mark.parametrize("action, args, code", [
    ("dissolve", {}, "unknown_action"),
    ("mint", {"institution": "bank-a", "currency": "EUR"}, "bad_args"),
    ("mint", {"institution": "bank-a", "currency": "EUR", "amount": 0}, "bad_args"),
    ("mint", {"institution": "bank-a", "currency": "EUR", "amount": 1, "memo": "x"}, "bad_args"),
    ("mint", {"institution": "bank-a", "currency": "GBP", "amount": 1}, "unknown_account"),
    ("mint", {"institution": "reg", "currency": "EUR", "amount": 1}, "unknown_account"),
    ("mint", {"institution": "bank-q", "currency": "EUR", "amount": 1}, "unknown_institution"),
    ("add_institution", {"id": "bank-b", "name": "B", "roles": ["member"], "client_keys": []}, "institution_exists"),
    ("add_institution", {"id": "Bank E", "name": "E", "roles": ["member"], "client_keys": []}, "bad_args"),
    ("add_institution", {"id": "bank-e\n", "name": "E", "roles": ["member"], "client_keys": []}, "bad_args"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["owner"], "client_keys": []}, "bad_args"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member", "member"], "client_keys": []}, "bad_args"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": [], "client_keys": []}, "bad_args"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [b"\x01" * 31]}, "bad_args"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"],
                         "client_keys": [key("bank-a/client").public_key]}, "key_in_use"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [],
                         "node_key": key("bank-a/node").public_key}, "key_in_use"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"],
                         "client_keys": [key("e").public_key, key("e").public_key]}, "bad_args"),
    ("remove_institution", {"id": "bank-a"}, "still_validator"),
    ("remove_institution", {"id": "bank-q"}, "unknown_institution"),
    ("set_roles", {"id": "bank-a", "roles": ["member"]}, "still_validator"),
    ("set_roles", {"id": "bank-q", "roles": ["member"]}, "unknown_institution"),
    ("add_client_key", {"id": "bank-d", "key": key("bank-a/client").public_key}, "key_in_use"),
    ("add_client_key", {"id": "bank-d", "key": key("bank-c/node").public_key}, "key_in_use"),
    ("remove_client_key", {"id": "bank-d", "key": key("bank-a/client").public_key}, "unknown_key"),
    ("set_node_key", {"id": "bank-d", "node_key": key("bank-a/node").public_key}, "key_in_use"),
    ("set_node_key", {"id": "bank-d", "node_key": key("bank-d/node2").public_key, "node_endpoint": "d:0"}, "bad_args"),
    ("set_node_endpoint", {"id": "aud", "node_endpoint": "aud.example:7000"}, "no_node_key"),
    ("set_node_endpoint", {"id": "bank-q", "node_endpoint": "q.example:7000"}, "unknown_institution"),
    ("set_node_endpoint", {"id": "bank-d"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": "node-d.example"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": "node-d.example:65536"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": "2001:db8::d:7000"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": "[2001:db8::d%eth0]:7000"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": "10.0.0.300:7000"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": "a" * 256 + ":7000"}, "bad_args"),
    ("set_node_endpoint", {"id": "bank-d", "node_endpoint": 7000}, "bad_args"),
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [],
                         "node_endpoint": "e.example:7000"}, "bad_args"),  # an endpoint needs a node key
    ("add_institution", {"id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [],
                         "node_key": key("bank-e/node").public_key, "node_endpoint": "e.example:0"}, "bad_args"),
    ("add_validator", {"id": "bank-a"}, "already_validator"),
    ("add_validator", {"id": "reg"}, "not_validator_capable"),
    ("remove_validator", {"id": "bank-d"}, "not_validator"),
    ("disable_contract", {"contract": "governance"}, "contract_protected"),
    ("enable_contract", {"contract": "governance"}, "contract_protected"),
    ("disable_contract", {"contract": "casino"}, "unknown_contract"),
    ("set_parameter", {"name": "checkpoint_interval", "value": 8}, "parameter_protected"),
    ("set_parameter", {"name": "block_reward", "value": 8}, "unknown_parameter"),
    ("set_parameter", {"name": "governance_threshold_bps", "value": 5000}, "bad_args"),
    ("set_parameter", {"name": "governance_threshold_bps", "value": 10_001}, "bad_args"),
    ("set_parameter", {"name": "proposal_ttl_blocks", "value": 0}, "bad_args"),
    ("set_parameter", {"name": "proposal_ttl_blocks", "value": -1}, "bad_args"),
])
def test_a_proposal_that_would_be_refused_is_refused_when_proposed(gov, action, args, code):
    receipt = gov.propose("bank-a", action, **args)
    assert receipt.code == code, receipt
    assert governance.open_proposals(gov.state) == []
    assert gov.get(b"seq/proposal") is None


def test_propose_args_schema(gov):
    assert gov.send("bank-a", "governance.propose", {"args": {}}).code == "bad_args"
    assert gov.send("bank-a", "governance.propose", {"action": "mint", "args": [1]}).code == "bad_args"
    assert gov.send("bank-a", "governance.propose", {"action": "remove_validator"}).code == "bad_args"


def test_open_proposals_are_capped_per_institution_and_in_total():
    gov = Consortium.fresh(parameters={"open_proposals_per_institution_max": 2, "open_proposals_max": 3})
    mint = {"institution": "bank-a", "currency": "EUR", "amount": 1}
    assert codes(gov.propose("bank-a", "mint", **mint) for _ in range(3)) == ["ok", "ok", "too_many_proposals"]
    assert codes(gov.propose("bank-b", "mint", **mint) for _ in range(2)) == ["ok", "too_many_proposals"]
    gov.idle(TTL_BLOCKS)  # all three expire and are closed by the next proposal
    assert gov.propose("bank-b", "mint", **mint).ok
    assert [p["id"] for p in governance.open_proposals(gov.state)] == [4]


def test_a_passing_vote_whose_action_fails_closes_the_proposal_and_writes_nothing(gov):
    new = {"id": "bank-e", "name": "E", "roles": ["member"], "client_keys": [key("bank-e/client").public_key]}
    first = gov.propose("bank-a", "add_institution", **new).output["proposal"]
    second = gov.propose("bank-b", "add_institution", **{**new, "client_keys": []}).output["proposal"]
    for voter in ("bank-a", "bank-b", "bank-c"):
        assert gov.vote(voter, first).ok
    assert governance.proposal(gov.state, first)["status"] == "passed"
    gov.vote("bank-a", second)
    gov.vote("bank-b", second)
    gov.vote("bank-c", second)
    before = dict(gov.state.items)
    failed = gov.vote("bank-d", second)  # five members now: the fourth yes passes it
    assert failed.ok
    assert failed.output == {"proposal": second, "status": "failed", "error": "institution_exists",
                             "detail": "bank-e", "yes": 4, "no": 0, "members": 5, "threshold_bps": 6666}
    changed = {k for k in set(before) | set(gov.state.items) if before.get(k) != gov.state.items.get(k)}
    assert changed == {b"gov/proposal/2", b"gov/proposals/open", b"nonce/" + key("bank-d/client").public_key}
    assert governance.proposal(gov.state, second)["error"] == "institution_exists"


# --- actions, end to end ----------------------------------------------------------

def test_add_institution_opens_accounts_and_its_key_can_send(gov):
    assert gov.send("bank-e", "governance.vote", {"proposal": 1, "yes": True}).code == "unknown_sender"
    new_key = key("bank-e/client").public_key
    passed = gov.enact("add_institution", id="bank-e", name="Bank E", roles=["member"], client_keys=[new_key])
    assert passed.output["result"] == {"institution": "bank-e", "roles": ["member"], "accounts": ["EUR", "USD"]}
    assert gov.get(b"inst/bank-e") == {"name": "Bank E", "roles": ["member"]}
    assert gov.get(client_key_key(new_key)) == "bank-e"
    assert (gov.chain.balance("bank-e"), gov.chain.balance("bank-e", "USD")) == (0, 0)
    assert governance.members(gov.state) == ["bank-a", "bank-b", "bank-c", "bank-d", "bank-e"]
    assert gov.send("bank-a", "settlement.pay", pay("bank-a", "bank-e", 30)).ok
    assert gov.send("bank-e", "settlement.pay", pay("bank-e", "bank-b", 10)).ok
    assert (gov.chain.balance("bank-e"), gov.chain.balance("bank-b")) == (20, 110)
    # a fifth member raises the bar: three yes votes no longer pass
    pid = gov.propose("bank-e", "mint", institution="bank-e", currency="EUR", amount=5).output["proposal"]
    assert [gov.vote(v, pid).output["status"] for v in ("bank-a", "bank-b", "bank-e", "bank-c")] == \
        ["open", "open", "open", "passed"]
    assert gov.chain.balance("bank-e") == 25


def test_add_an_auditor_without_accounts(gov):
    passed = gov.enact("add_institution", id="aud-2", name="Auditor 2", roles=["auditor"], client_keys=[])
    assert passed.output["result"]["accounts"] == []
    assert gov.chain.balance("aud-2") is None
    assert governance.members(gov.state) == ["bank-a", "bank-b", "bank-c", "bank-d"]


def test_removed_institution_cannot_send_and_keeps_its_accounts(gov):
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 10)).ok
    passed = gov.enact("remove_institution", id="bank-d")
    assert passed.output["result"] == {"institution": "bank-d", "client_keys_dropped": 1}
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 10)).code == "unknown_sender"
    assert gov.send("bank-d", "governance.vote", {"proposal": 1, "yes": True}).code == "unknown_sender"
    assert gov.roles("bank-d") == [] and gov.chain.balance("bank-d") == 90
    assert gov.get(institution_keys_key("bank-d")) == {"client_keys": [], "node_key": None, "node_endpoint": None}
    assert governance.members(gov.state) == ["bank-a", "bank-b", "bank-c"]
    assert gov.propose("bank-a", "remove_institution", id="bank-d").code == "institution_removed"
    assert gov.propose("bank-a", "add_institution", id="bank-d", name="D", roles=["member"],
                       client_keys=[]).code == "institution_exists"
    # its old keys are free again; re-admission is set_roles plus add_client_key
    assert gov.enact("set_roles", voters=("bank-a", "bank-b"), id="bank-d", roles=["member"]).output["status"] == \
        "passed"
    assert gov.enact("add_client_key", id="bank-d", key=key("bank-d/client").public_key).ok
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 10)).ok


def test_set_roles_changes_membership_and_permissions(gov):
    assert gov.enact("set_roles", id="reg", roles=["regulator", "member"]).output["result"] == \
        {"institution": "reg", "roles": ["member", "regulator"], "accounts": ["EUR", "USD"]}
    assert gov.chain.balance("reg") == 0
    assert governance.members(gov.state) == ["bank-a", "bank-b", "bank-c", "bank-d", "reg"]
    assert gov.propose("reg", "mint", institution="reg", currency="EUR", amount=1).ok
    gov.enact("set_roles", voters=("bank-a", "bank-b", "bank-c", "reg"), id="bank-d", roles=["auditor"])
    assert gov.propose("bank-d", "mint", institution="reg", currency="EUR", amount=1).code == "not_permitted"
    assert gov.chain.balance("bank-d") == 100  # accounts stay


def test_votes_of_institutions_that_left_do_not_count(gov):
    pid = gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["proposal"]
    gov.vote("bank-d", pid)
    gov.vote("bank-a", pid)
    gov.enact("set_roles", id="bank-d", roles=["auditor"])  # three members left
    # bank-d's yes no longer counts: one yes, one no of three is still open
    assert gov.vote("bank-c", pid, yes=False).output == {"proposal": pid, "status": "open", "yes": 1, "no": 1,
                                                         "members": 3, "threshold_bps": 6666}
    assert gov.vote("bank-b", pid).output["status"] == "passed"
    assert governance.proposal(gov.state, pid)["yes"] == ["bank-a", "bank-b", "bank-d"]
    assert gov.chain.balance("bank-a") == 109


def test_client_keys_are_added_and_removed(gov):
    spare = key("bank-d/spare")
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 1), signer_label="bank-d/spare").code == \
        "unknown_sender"
    assert gov.enact("add_client_key", id="bank-d", key=spare.public_key).output["result"] == \
        {"institution": "bank-d", "client_keys": 2}
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 1), signer_label="bank-d/spare").ok
    assert gov.propose("bank-a", "add_client_key", id="bank-c", key=spare.public_key).code == "key_in_use"
    assert gov.enact("remove_client_key", id="bank-d", key=key("bank-d/client").public_key).ok
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 1)).code == "unknown_sender"
    assert gov.send("bank-d", "settlement.pay", pay("bank-d", "bank-a", 1), signer_label="bank-d/spare").ok
    assert gov.get(institution_keys_key("bank-d"))["client_keys"] == [spare.public_key]


def test_a_disabled_contract_refuses_until_enabled(gov):
    assert gov.enact("disable_contract", contract="settlement").output["result"] == \
        {"contract": "settlement", "enabled": False}
    assert gov.get(contract_switch_key("settlement")) is False
    assert gov.send("bank-a", "settlement.pay", pay("bank-a", "bank-b", 1)).code == "contract_disabled"
    assert gov.enact("enable_contract", contract="settlement").ok
    assert gov.send("bank-a", "settlement.pay", pay("bank-a", "bank-b", 1)).ok
    assert gov.chain.balance("bank-b") == 101


def test_set_parameter_changes_the_threshold(gov):
    gov.enact("set_parameter", name="governance_threshold_bps", value=10_000)
    pid = gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["proposal"]
    assert [gov.vote(v, pid).output["status"] for v in ("bank-a", "bank-b", "bank-c", "bank-d")] == \
        ["open", "open", "open", "passed"]
    gov.enact("set_parameter", voters=("bank-a", "bank-b", "bank-c", "bank-d"), name="proposal_ttl_blocks", value=3)
    assert gov.propose("bank-a", "mint", institution="bank-a", currency="EUR", amount=9).output["expires_height"] == \
        gov.height + 3


def test_mint_is_central_bank_money(gov):
    supply = gov.get(b"settlement/supply/EUR")
    passed = gov.enact("mint", institution="bank-d", currency="EUR", amount=1000)
    assert passed.output["result"] == {"institution": "bank-d", "currency": "EUR", "amount": 1000,
                                       "supply": supply + 1000}
    assert gov.chain.balance("bank-d") == 1100
    assert gov.get(b"settlement/supply/EUR") == supply + 1000


# --- the validator set --------------------------------------------------------------

def node(iid: str, label: str = "node") -> list:
    return [iid, key(f"{iid}/{label}").public_key]


def test_adding_a_validator_takes_effect_at_the_next_boundary(gov):
    current = [node(v) for v in VALIDATORS]
    gov.idle(CHECKPOINT_INTERVAL)  # propose, then three votes: the passing one lands on a boundary
    passed = gov.enact("add_validator", id="bank-d")
    assert gov.height == 2 * CHECKPOINT_INTERVAL
    effective = 3 * CHECKPOINT_INTERVAL  # strictly above the current height
    assert passed.output["result"] == {"validators": [*VALIDATORS, "bank-d"], "effective_height": effective,
                                       "validator_set": [*current, node("bank-d")]}
    assert governance.pending_validators(gov.state) == {"set": [*current, node("bank-d")],
                                                        "effective_height": effective}
    assert governance.validator_set_at(gov.state, effective) == current
    assert governance.validator_set_at(gov.state, effective + 1) == [*current, node("bank-d")]
    while gov.height < effective - 1:
        gov.idle(1)
        assert governance.validators(gov.state) == current
    assert gov.activations == []
    gov.idle(1)
    assert gov.height == effective
    assert governance.validators(gov.state) == [*current, node("bank-d")]
    assert governance.pending_validators(gov.state) is None
    [(height, validators)] = gov.activations
    assert height == effective
    assert validators == tuple(k for _, k in [*current, node("bank-d")])
    assert governance.activate_pending_validators(gov.state, effective + 1) is None
    assert gov.propose("bank-a", "add_validator", id="bank-d").code == "already_validator"


def test_activation_is_pure_and_waits_for_the_effective_height(gov):
    gov.enact("remove_validator", id="bank-c")
    pending = governance.pending_validators(gov.state)
    snapshot = dict(gov.state.items)
    assert governance.activate_pending_validators(gov.state, pending["effective_height"] - 1) is None
    activation = governance.activate_pending_validators(gov.state, pending["effective_height"])
    assert activation.writes == ((b"gov/validators", encoding.encode(pending["set"])),
                                 (b"gov/validators_pending", None))
    assert activation.validators == tuple(k for _, k in pending["set"])
    assert gov.state.items == snapshot


def test_removing_a_validator_then_the_institution(gov):
    gov.enact("remove_validator", id="bank-c")
    effective = governance.pending_validators(gov.state)["effective_height"]
    assert gov.propose("bank-a", "remove_institution", id="bank-c").code == "still_validator"
    gov.idle(effective - gov.height)
    assert governance.validators(gov.state) == [node("bank-a"), node("bank-b")]
    gov.enact("set_roles", id="bank-c", roles=["member"])
    assert gov.enact("remove_institution", id="bank-c").output["status"] == "passed"
    assert gov.send("bank-c", "settlement.pay", pay("bank-c", "bank-a", 1)).code == "unknown_sender"


def test_changes_before_a_boundary_accumulate(gov):
    gov.enact("remove_validator", id="bank-a")
    gov.enact("add_validator", id="bank-d")
    gov.enact("remove_validator", id="bank-b")
    pending = governance.pending_validators(gov.state)
    assert pending["set"] == [node("bank-c"), node("bank-d")]
    assert gov.propose("bank-c", "remove_validator", id="bank-a").code == "not_validator"
    assert governance.validators(gov.state) == [node(v) for v in VALIDATORS]
    gov.idle(pending["effective_height"] - gov.height)
    assert governance.validators(gov.state) == [node("bank-c"), node("bank-d")]


def test_the_last_validator_cannot_be_removed():
    gov = Consortium.fresh({iid: spec for iid, spec in CONSORTIUM.items() if iid not in ("bank-b", "bank-c")})
    assert gov.propose("bank-a", "remove_validator", id="bank-a").code == "last_validator"


def test_rotating_a_validator_node_key_waits_for_the_boundary(gov):
    passed = gov.enact("set_node_key", id="bank-b", node_key=key("bank-b/node2").public_key)
    effective = passed.output["result"]["effective_height"]
    assert passed.output["result"]["validators"] == VALIDATORS
    assert gov.get(institution_keys_key("bank-b"))["node_key"] == key("bank-b/node2").public_key
    assert governance.validators(gov.state)[1] == node("bank-b")
    gov.idle(effective - gov.height)
    assert governance.validators(gov.state) == [node("bank-a"), node("bank-b", "node2"), node("bank-c")]
    # a member outside the set just gets its key
    assert gov.enact("set_node_key", id="bank-d", node_key=key("bank-d/node2").public_key).output["result"] == \
        {"institution": "bank-d"}
    assert governance.pending_validators(gov.state) is None


def test_a_new_institution_with_a_node_key_can_become_a_validator(gov):
    gov.enact("add_institution", id="bank-e", name="E", roles=["validator", "member"],
              client_keys=[key("bank-e/client").public_key], node_key=key("bank-e/node").public_key)
    assert gov.enact("add_validator", voters=("bank-a", "bank-b", "bank-c", "bank-d"), id="bank-e").ok
    gov.idle(governance.pending_validators(gov.state)["effective_height"] - gov.height)
    assert governance.validators(gov.state)[-1] == node("bank-e")


def test_parameter_defaults_include_governance_limits():
    assert PARAMETER_DEFAULTS["governance_threshold_bps"] == 6666
    assert {"open_proposals_max", "open_proposals_per_institution_max"} <= set(PARAMETER_DEFAULTS)
    assert account_key("bank-a", "EUR") == b"acct/bank-a/EUR"


@pytest.mark.parametrize("idle", range(CHECKPOINT_INTERVAL + 1))
def test_effective_height_is_the_next_boundary_strictly_above(gov, idle):
    gov.idle(idle)
    passed = gov.enact("remove_validator", id="bank-c")
    assert gov.height == idle + 4
    assert passed.output["result"]["effective_height"] == (gov.height // CHECKPOINT_INTERVAL + 1) * CHECKPOINT_INTERVAL
    assert gov.height < passed.output["result"]["effective_height"] <= gov.height + CHECKPOINT_INTERVAL
    assert passed.output["result"]["effective_height"] % CHECKPOINT_INTERVAL == 0


# --- node endpoints and the node directory ----------------------------------------------

def directory(gov) -> list[tuple]:
    return [tuple(entry) for entry in governance.node_directory(gov.state)]


def entry(iid: str, label: str = "node", endpoint: str | None = None) -> tuple:
    return (iid, key(f"{iid}/{label}").public_key, endpoint if endpoint is not None else ENDPOINTS.get(iid))


def test_the_directory_at_genesis_lists_every_node_key_with_its_endpoint(gov):
    assert directory(gov) == [entry("bank-a"), entry("bank-b"), entry("bank-c"), entry("bank-d")]
    assert entry("bank-d")[2] is None  # a node key without an endpoint is listed: the node may still connect
    assert [e.institution for e in governance.node_directory(gov.state)] == ["bank-a", "bank-b", "bank-c", "bank-d"]
    assert governance.node_directory(gov.state)[0].endpoint == ENDPOINTS["bank-a"]


def test_set_node_endpoint_moves_a_node_at_once(gov):
    passed = gov.enact("set_node_endpoint", id="bank-d", node_endpoint="node-d.consort.example:7100")
    assert passed.output["result"] == {"institution": "bank-d", "node_endpoint": "node-d.consort.example:7100"}
    assert gov.get(institution_keys_key("bank-d")) == {"client_keys": [key("bank-d/client").public_key],
                                                       "node_key": key("bank-d/node").public_key,
                                                       "node_endpoint": "node-d.consort.example:7100"}
    # a validator's node moves in the same block: an address is not a consensus key
    gov.enact("set_node_endpoint", id="bank-b", node_endpoint="[2001:db8::b]:7000")
    assert governance.pending_validators(gov.state) is None and gov.activations == []
    assert directory(gov) == [entry("bank-a"), entry("bank-b", endpoint="[2001:db8::b]:7000"), entry("bank-c"),
                              entry("bank-d", endpoint="node-d.consort.example:7100")]


def test_a_new_institution_joins_the_directory_with_its_node(gov):
    new_node = key("bank-e/node").public_key
    gov.enact("add_institution", id="bank-e", name="E", roles=["validator", "member"],
              client_keys=[key("bank-e/client").public_key], node_key=new_node, node_endpoint="10.1.2.3:7000")
    assert gov.get(institution_keys_key("bank-e")) == {"client_keys": [key("bank-e/client").public_key],
                                                       "node_key": new_node, "node_endpoint": "10.1.2.3:7000"}
    assert directory(gov)[-1] == ("bank-e", new_node, "10.1.2.3:7000")
    # without a node, an institution has neither key nor endpoint, and is not listed
    gov.enact("add_institution", voters=("bank-a", "bank-b", "bank-c", "bank-d"), id="bank-f", name="F",
              roles=["member"], client_keys=[])
    assert gov.get(institution_keys_key("bank-f")) == {"client_keys": [], "node_key": None, "node_endpoint": None}
    assert "bank-f" not in [e.institution for e in governance.node_directory(gov.state)]


def test_removing_an_institution_drops_its_node_from_the_directory(gov):
    gov.enact("set_node_endpoint", id="bank-d", node_endpoint="node-d.consort.example:7100")
    gov.enact("remove_institution", id="bank-d")
    assert gov.get(institution_keys_key("bank-d")) == {"client_keys": [], "node_key": None, "node_endpoint": None}
    assert directory(gov) == [entry("bank-a"), entry("bank-b"), entry("bank-c")]
    assert gov.propose("bank-a", "set_node_endpoint", id="bank-d", node_endpoint="d.example:7000").code == \
        "institution_removed"


def test_a_rotating_validator_is_listed_under_both_keys_until_its_boundary(gov):
    """The old key orders blocks until the checkpoint boundary, the new one
    from then on: both are listed in between, under the new endpoint."""
    moved = "node-b2.consort.example:7000"
    passed = gov.enact("set_node_key", id="bank-b", node_key=key("bank-b/node2").public_key, node_endpoint=moved)
    effective = passed.output["result"]["effective_height"]
    assert passed.output["result"]["node_endpoint"] == moved
    assert gov.get(institution_keys_key("bank-b"))["node_endpoint"] == moved
    both_keys = sorted([entry("bank-b", endpoint=moved), entry("bank-b", "node2", moved)])  # by key
    assert directory(gov) == [entry("bank-a"), *both_keys, entry("bank-c"), entry("bank-d")]
    gov.idle(effective - gov.height)
    assert governance.validators(gov.state)[1] == node("bank-b", "node2")
    assert directory(gov) == [entry("bank-a"), entry("bank-b", "node2", moved), entry("bank-c"), entry("bank-d")]


def test_a_key_rotation_without_an_endpoint_keeps_the_node_where_it_is(gov):
    passed = gov.enact("set_node_key", id="bank-d", node_key=key("bank-d/node2").public_key)
    assert passed.output["result"] == {"institution": "bank-d"}
    gov.enact("set_node_endpoint", id="bank-d", node_endpoint="node-d.consort.example:7100")
    gov.enact("set_node_key", id="bank-c", node_key=key("bank-c/node2").public_key)
    assert gov.get(institution_keys_key("bank-c"))["node_endpoint"] == ENDPOINTS["bank-c"]
    gov.idle(governance.pending_validators(gov.state)["effective_height"] - gov.height)
    assert directory(gov) == [entry("bank-a"), entry("bank-b"), entry("bank-c", "node2"),
                              entry("bank-d", "node2", "node-d.consort.example:7100")]


def test_two_rotations_before_a_boundary_list_the_key_in_force_and_the_last(gov):
    gov.enact("set_node_key", id="bank-a", node_key=key("bank-a/node2").public_key)
    gov.enact("set_node_key", id="bank-a", node_key=key("bank-a/node3").public_key)
    listed = {e.node_key for e in governance.node_directory(gov.state) if e.institution == "bank-a"}
    assert listed == {key("bank-a/node").public_key, key("bank-a/node3").public_key}
    assert governance.pending_validators(gov.state)["set"][0] == node("bank-a", "node3")


def test_a_key_still_in_force_cannot_be_claimed_by_another_institution(gov):
    """Until its boundary, a rotated validator's old key orders blocks: no
    one else may take it, so the directory never lists one key twice."""
    old = key("bank-b/node").public_key
    gov.enact("set_node_key", id="bank-b", node_key=key("bank-b/node2").public_key)
    assert gov.propose("bank-a", "set_node_key", id="bank-d", node_key=old).code == "key_in_use"
    assert gov.propose("bank-a", "add_client_key", id="bank-d", key=old).code == "key_in_use"
    gov.idle(governance.pending_validators(gov.state)["effective_height"] - gov.height)
    assert gov.propose("bank-a", "set_node_key", id="bank-d", node_key=old).ok  # retired now: free again
    keys = [e.node_key for e in governance.node_directory(gov.state)]
    assert len(keys) == len(set(keys))
