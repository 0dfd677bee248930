"""Property tests of the mpc contract: executing the same blocks gives the
same writes and receipts, byte for byte (each block run twice on the same
state, and the whole chain run twice by fresh executors), and a clear sum
is accepted exactly when its totals are the sum of the committed inputs.

Hypothesis draws the participants (3 or 4), the vector length, the inputs
(0 and value_max included), the blinding factors (0 and L - 1 included,
never 0 with a value of 0: that commitment is the identity, refused),
an optional off-by-one in one total, and how the session's transactions
(open, commits in any order, the result) are cut into blocks.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from contracts import mpc_state
from contracts.executor import BlockContext, Executor
from contracts.genesis import genesis_state, parse_genesis
from contracts.mpc_checks import GROUP_ORDER
from contracts.state import DictState
from contracts.tx import sign_tx
from fixtures import key, split_blocks, wire
from mpc_ledger import SumInputs, commit_records, document, signatures, transcripts_of

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CANDIDATES = ["bank-a", "bank-b", "bank-c", "bank-d"]  # members with a node and an MPC key
VALUE_MAX = 1000
SESSION = "M000000000001"  # the first session of a fresh chain
GENESIS = parse_genesis(document())

SCALARS = st.one_of(st.sampled_from((0, 1, GROUP_ORDER - 1)), st.integers(0, GROUP_ORDER - 1))


@st.composite
def sessions(draw) -> tuple[list[str], SumInputs, list[int] | None]:
    parties = sorted(draw(st.lists(st.sampled_from(CANDIDATES), min_size=3, max_size=4, unique=True)))
    length = draw(st.integers(1, 4))
    values = {p: draw(st.lists(st.integers(0, VALUE_MAX), min_size=length, max_size=length)) for p in parties}
    blindings = {p: draw(st.lists(SCALARS, min_size=length, max_size=length)) for p in parties}
    for p in parties:  # v = r = 0 commits to the identity, which a commit refuses (test_mpc_contract)
        blindings[p] = [r if v or r else 1 for v, r in zip(values[p], blindings[p])]
    inputs = SumInputs(values, blindings)
    wrong = None
    if draw(st.booleans()):
        wrong = list(inputs.totals)
        index = draw(st.integers(0, length - 1))
        wrong[index] += 1 if wrong[index] < VALUE_MAX * len(parties) else -1
    return parties, inputs, wrong


def transactions(parties: list[str], inputs: SumInputs, totals: list[int], order: list[str]) -> list:
    signed = []

    def add(who: str, tx_type: str, args: dict) -> None:
        signed.append(sign_tx(key(f"{who}/client").signer(), GENESIS.chain_id, len(signed), tx_type, args))

    length = len(totals)
    add(parties[0], "mpc.open", {"protocol": "sum", "participants": parties, "deadline_height": 60,
                                 "params": {"length": length, "value_max": VALUE_MAX}, "result_to": ["*"]})
    for p in order:
        add(p, "mpc.commit", {"session": SESSION, "commitment": inputs.commitment(p)})
    clear = {"totals": totals, "blindings": inputs.blinding_sums}
    records = commit_records({p: inputs.commitment(p) for p in parties})
    transcripts = transcripts_of(parties)
    add(order[-1], "mpc.result", {
        "session": SESSION, **clear, "transcripts": transcripts,
        "signatures": signatures(GENESIS.chain_id, SESSION, mpc_state.clear_result_digest(clear), records,
                                 transcripts)})
    return signed


def execute(blocks: list[list], twice: bool) -> tuple[list[bytes], list[str]]:
    state, wires, codes = DictState(genesis_state(GENESIS)), [], []
    for height, block in enumerate(blocks, start=1):
        context = BlockContext(GENESIS.chain_id, height, 1000 * height)
        result = Executor().execute(state, context, block)
        if twice:
            assert wire(Executor().execute(state, context, block)) == wire(result), height
        state.apply(result.writes)
        wires.append(wire(result))
        codes += [r.code for r in result.receipts]
    return wires, codes


@SETTINGS
@given(sessions(), st.data())
def test_a_sum_session_executes_the_same_twice_and_accepts_only_the_true_total(drawn, data):
    parties, inputs, wrong = drawn
    order = data.draw(st.permutations(parties), label="commit order")
    txs = transactions(parties, inputs, wrong or inputs.totals, order)
    cuts = data.draw(st.lists(st.booleans(), min_size=len(txs), max_size=len(txs)), label="cuts")
    blocks = split_blocks(txs, cuts)
    wires, codes = execute(blocks, twice=True)
    assert execute(blocks, twice=False)[0] == wires
    assert codes[:-1] == ["ok"] * (len(txs) - 1)
    assert codes[-1] == ("result_mismatch" if wrong else "ok")
