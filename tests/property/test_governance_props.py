"""Property tests for governance through the executor: a proposal never
passes with fewer yes votes than two thirds of the members of the moment,
passes as soon as it has them, never executes twice, and two executors
produce byte-identical blocks.

Hypothesis draws a sequence of proposals (mint to bank-a, or move bank-e in
or out of the membership, which shifts the threshold under open proposals),
votes (any signer, any proposal id, yes or no), and idle stretches that let
proposals expire, split into blocks. A small model, written with its own
threshold rule (3 * yes >= 2 * members), predicts every receipt; the
executor must agree with it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings, strategies as st

from contracts import governance
from contracts.genesis import parse_genesis
from contracts.state import DictState
from contracts.tx import sign_tx
from crypto import encoding
from fixtures import genesis_document, key, run, wire

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIXED_MEMBERS = ("bank-a", "bank-b", "bank-c", "bank-d")
SWING = "bank-e"  # a regulator at genesis; proposals move it in and out of the membership
AUDITOR = "aud"
SIGNERS = (*FIXED_MEMBERS, SWING, AUDITOR)
TTL_BLOCKS = 4
OPENING_EUR = 100
ROLES = {"bank-a": ["validator", "member"], "bank-b": ["validator", "member"], "bank-c": ["validator", "member"],
         "bank-d": ["member"], SWING: ["regulator"], AUDITOR: ["auditor"]}
KEYS = {iid: key(f"{iid}/client") for iid in SIGNERS}
GENESIS_DOCUMENT = genesis_document(
    ROLES, chain_name="gov-props", currencies=["EUR"],
    balances={iid: {"EUR": OPENING_EUR} for iid in FIXED_MEMBERS},
    parameters={"proposal_ttl_blocks": TTL_BLOCKS, "open_proposals_max": 1024,
                "open_proposals_per_institution_max": 1024})


# --- the plan --------------------------------------------------------------------

@dataclass(frozen=True)
class Propose:
    who: str
    mint: int | None  # amount to mint to bank-a, or None: set bank-e's roles
    swing_member: bool = False


@dataclass(frozen=True)
class Vote:
    who: str
    proposal: int  # in a drawn plan: how many proposals back from the latest one
    yes: bool


@dataclass(frozen=True)
class Idle:
    blocks: int


signers = st.sampled_from((*FIXED_MEMBERS, *FIXED_MEMBERS, SWING, AUDITOR))  # mostly members
back = st.one_of(st.just(0), st.just(0), st.integers(0, 2), st.integers(-1, 5))
votes = st.builds(Vote, signers, back, st.one_of(st.just(True), st.booleans()))
# Rounds: a proposal, a few votes (aimed mostly at it), sometimes a pause.
rounds = st.tuples(st.builds(Propose, signers, st.one_of(st.integers(1, 50), st.none()), st.booleans()),
                   st.lists(votes, max_size=7),
                   st.one_of(st.just([]), st.just([]), st.builds(lambda n: [Idle(n)], st.integers(1, TTL_BLOCKS + 1))))
steps = st.lists(rounds, min_size=1, max_size=8).map(
    lambda drawn: [step for proposal, aimed, pause in drawn for step in (proposal, *aimed, *pause)])


def resolve(plan: list) -> list:
    """Votes aimed at proposals counted back from the latest propose step
    (which may itself have been refused, or be in the future: -1)."""
    proposed = 0
    out = []
    for step in plan:
        if isinstance(step, Propose):
            proposed += 1
        elif isinstance(step, Vote):
            step = Vote(step.who, max(1, proposed - step.proposal), step.yes)
        out.append(step)
    return out


def to_blocks(plan: list, cuts: list[bool]) -> list[list]:
    """Steps -> blocks of steps; an Idle is that many empty blocks."""
    blocks: list[list] = [[]]
    for step, cut in zip(plan, cuts):
        if isinstance(step, Idle):
            blocks.extend([] for _ in range(step.blocks))
            blocks.append([])
        else:
            blocks[-1].append(step)
            if cut:
                blocks.append([])
    return blocks


def signed(blocks: list[list], chain_id: bytes) -> list[list]:
    nonces = {iid: 0 for iid in SIGNERS}
    out = []
    for block in blocks:
        txs = []
        for step in block:
            if isinstance(step, Propose):
                tx_type, args = "governance.propose", _proposal_args(step)
            else:
                tx_type, args = "governance.vote", {"proposal": step.proposal, "yes": step.yes}
            txs.append(sign_tx(KEYS[step.who].signer(), chain_id, nonces[step.who], tx_type, args))
            nonces[step.who] += 1
        out.append(txs)
    return out


def _proposal_args(step: Propose) -> dict:
    if step.mint is not None:
        return {"action": "mint", "args": {"institution": "bank-a", "currency": "EUR", "amount": step.mint}}
    return {"action": "set_roles", "args": {"id": SWING, "roles": ["member"] if step.swing_member else ["regulator"]}}


# --- the model ---------------------------------------------------------------------

@dataclass
class ModelProposal:
    mint: int | None
    swing_member: bool
    expires_height: int
    status: str = "open"
    yes: set[str] = field(default_factory=set)
    no: set[str] = field(default_factory=set)


@dataclass
class Model:
    swing_is_member: bool = False
    minted: int = 0
    proposals: dict[int, ModelProposal] = field(default_factory=dict)

    def members(self) -> set[str]:
        return set(FIXED_MEMBERS) | ({SWING} if self.swing_is_member else set())

    def expire(self, height: int) -> None:
        for p in self.proposals.values():
            if p.status == "open" and height >= p.expires_height:
                p.status = "expired"

    def apply(self, step, height: int) -> tuple[str, str | None]:
        """(receipt code, proposal status after the tx or None)."""
        if step.who not in self.members():
            return "not_permitted", None
        if isinstance(step, Propose):
            self.expire(height)
            pid = len(self.proposals) + 1
            self.proposals[pid] = ModelProposal(step.mint, step.swing_member, height + TTL_BLOCKS)
            return "ok", "open"
        p = self.proposals.get(step.proposal)
        if p is None:
            return "unknown_proposal", None
        if p.status != "open":
            return "proposal_closed", None
        if height >= p.expires_height:
            return "proposal_expired", None
        if step.who in p.yes | p.no:
            return "already_voted", None
        (p.yes if step.yes else p.no).add(step.who)
        self.expire(height)
        members = self.members()
        yes, no = len(p.yes & members), len(p.no & members)
        if 3 * yes >= 2 * len(members):
            p.status = "passed"
            if p.mint is not None:
                self.minted += p.mint
            else:
                self.swing_is_member = p.swing_member
        elif 3 * (len(members) - no) < 2 * len(members):
            p.status = "rejected"
        return "ok", p.status


# --- running -----------------------------------------------------------------------


def balance(state: DictState, state_key: bytes) -> int:
    return encoding.decode(state.get(state_key))


@SETTINGS
@given(steps, st.data())
def test_governance_matches_the_model_and_executes_each_action_once(plan, data):
    genesis = parse_genesis(GENESIS_DOCUMENT)
    cuts = data.draw(st.lists(st.booleans(), min_size=len(plan), max_size=len(plan)), label="cuts")
    step_blocks = to_blocks(resolve(plan), cuts)
    tx_blocks = signed(step_blocks, genesis.chain_id)
    results, state = run(genesis, tx_blocks)

    model = Model()
    passes: list[int] = []
    for height, (steps_in_block, result) in enumerate(zip(step_blocks, results), start=1):
        for step, receipt in zip(steps_in_block, result.receipts, strict=True):
            code, status = model.apply(step, height)
            assert receipt.code == code, (step, receipt)
            event(f"receipt: {code}" + (f"/{status}" if status else ""))
            if receipt.ok and isinstance(step, Vote):
                assert receipt.output["status"] == status, (step, receipt)
                members = receipt.output["members"]
                assert members == len(model.members()) or status == "passed"  # a pass may move bank-e
                if status == "passed":
                    passes.append(step.proposal)
                    assert 3 * receipt.output["yes"] >= 2 * members
                elif status == "open":
                    assert 3 * receipt.output["yes"] < 2 * members

    event(f"bank-e a member at the end: {model.swing_is_member}")
    assert len(passes) == len(set(passes)), "a proposal passed twice"
    assert balance(state, b"acct/bank-a/EUR") == OPENING_EUR + model.minted
    assert balance(state, b"settlement/supply/EUR") == len(FIXED_MEMBERS) * OPENING_EUR + model.minted
    assert (SWING in governance.members(state)) == model.swing_is_member
    for pid, expected in model.proposals.items():
        record = governance.proposal(state, pid)
        assert record["status"] == expected.status, (pid, record)
        assert set(record["yes"]) == expected.yes and set(record["no"]) == expected.no
    open_ids = [pid for pid, p in sorted(model.proposals.items()) if p.status == "open"]
    assert [r["id"] for r in governance.open_proposals(state)] == open_ids

    # Another executor over another copy of genesis: byte-identical blocks and state.
    results_b, state_b = run(genesis, tx_blocks)
    assert [wire(r) for r in results_b] == [wire(r) for r in results]
    assert state_b.items == state.items
