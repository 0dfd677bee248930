"""The auditors' transaction query, GET /v1/audit/txs: auditors and
regulators only; pages followed by their cursor give exactly the
transactions a full scan of the blocks finds, whatever the page size, each
verified against certified headers (node.audit.txs), also across a
validator-set change; the answer stops where receipts are not certified
yet; bad parameters are 400."""

from __future__ import annotations

import pytest

from api_node import AUDITOR, REGULATOR, assert_refused
from consensus.validators import ValidatorSet
from contracts.tx import TxError, decode_tx
from node.api.audit_txs import PAGE_TXS_MAX, SCAN_ENTRIES_MAX, entry_json, headers_json, read_page
from node.audit.export import export_storage
from node.audit.txs import TxFilter, ValidatorEras, check_page
from node.audit.verify import verify_export
from node.devtools.chainbuilder import ChainBuilder, genesis_document
from node.runtime.ledger import TxQuery
from test_audit_validators import CHECKPOINT_INTERVAL, enact, past_the_switch

pytestmark = pytest.mark.integration

MEMBERS = ("bank-alpha", "bank-other", "bank-third")
TYPES = ("settlement.pay", "settlement.instruct")


async def committed(api, *txs) -> list[dict]:
    status, body = await api.submit(list(txs))
    assert status == 200 and all(r is not None for r in body["receipts"]), body
    return body["receipts"]


async def scenario(api) -> None:
    """Blocks of payments and instructions among the three members, then one
    more block so that every one of them has its receipts certified."""
    for round_number in range(4):
        txs = []
        for n, payer in enumerate(MEMBERS[: 2 + round_number % 2]):
            payee = MEMBERS[(n + 1) % len(MEMBERS)]
            tx_type = TYPES[(n + round_number) % 2]
            txs.append(api.tx(payer, tx_type, {"from": payer, "to": payee, "currency": "EUR", "amount": 1 + n}))
        await committed(api, *txs)
    await committed(api, api.tx("bank-third", "settlement.pay",
                                {"from": "bank-third", "to": "bank-alpha", "currency": "EUR", "amount": 1}))


def full_scan(api, institution=None, tx_type=None, first=1, last=None) -> list[tuple[int, int]]:
    """The positions of the matching transactions, read block by block (no index)."""
    node = api.node
    owners = {signer.public_key: iid for iid, signer in api.keys.items()}
    last = node.ledger.tip.height - 1 if last is None else last
    found = []
    for height in range(first, last + 1):
        for index, raw in enumerate(node.ledger.block(height).block.txs):
            try:
                tx = decode_tx(raw)
            except TxError:
                continue
            if institution in (None, owners.get(tx.sender)) and tx_type in (None, tx.type):
                found.append((height, index))
    return found


async def pages(api, as_=AUDITOR, **params) -> list[dict]:
    """Every page of the query, following `next`."""
    answers, after = [], None
    for _ in range(1000):
        query = {name: str(value) for name, value in {**params, "after": after}.items() if value is not None}
        response = await api.get("/v1/audit/txs", as_, query)
        assert response.status == 200, await response.text()
        answers.append(await response.json())
        after = answers[-1]["next"]
        if after is None:
            return answers
    raise AssertionError("the cursor does not move on")


def genesis_eras(node) -> ValidatorEras:
    genesis = node.genesis
    return ValidatorEras(genesis.chain_id, [(1, ValidatorSet(genesis.chain_id, genesis.validator_keys))],
                         node.ledger.tip.height)


async def test_auditors_and_regulators_query_others_are_refused(api):
    await scenario(api)
    for who in (AUDITOR, REGULATOR):
        response = await api.get("/v1/audit/txs", who, {"institution": "bank-other"})
        assert response.status == 200
        body = await response.json()
        assert [(t["height"], t["index"]) for t in body["txs"]] == full_scan(api, "bank-other")
        assert body["certified_height"] == api.node.ledger.tip.height - 1 and body["next"] is None
    for member in ("bank-other", "bank-alpha"):  # a member, and a validator that is a member
        await assert_refused(await api.get("/v1/audit/txs", member, {"institution": member}), 403, "forbidden")
    await assert_refused(await api.get("/v1/audit/txs", None), 401, "unauthenticated")


@pytest.mark.parametrize("limit", [1, 2, 3, PAGE_TXS_MAX])
async def test_pages_give_exactly_what_a_full_scan_finds_each_verified(api, limit):
    await scenario(api)
    certified = api.node.ledger.tip.height - 1
    eras = genesis_eras(api.node)
    for institution, tx_type, first, last in [
        ("bank-alpha", None, 1, certified), (None, "settlement.instruct", 1, certified),
        ("bank-other", "settlement.pay", 1, certified), (None, None, 2, 3), ("bank-third", None, 4, 4),
        ("bank-alpha", None, 2, 10**6),
    ]:
        answers = await pages(api, institution=institution, type=tx_type, from_height=first, to_height=last,
                              limit=limit)
        found, after = [], None
        asked = TxFilter(institution, tx_type, first, min(last, certified))
        for answer in answers:
            assert len(answer["txs"]) <= limit
            audited, after = check_page(answer, eras, asked, after)
            assert all(tx.verified for tx in audited), [tx.problem for tx in audited]
            found += [(tx.height, tx.index) for tx in audited]
        assert found == full_scan(api, institution, tx_type, first, min(last, certified))
        assert found, (institution, tx_type, first, last)


async def test_the_answer_stops_below_the_tip_whose_receipts_no_header_certifies_yet(api):
    await scenario(api)
    tip = api.node.ledger.tip.height
    body = await (await api.get("/v1/audit/txs", AUDITOR, {"from_height": str(tip)})).json()
    assert body["txs"] == [] and body["to_height"] == tip - 1 and body["next"] is None
    assert full_scan(api, first=tip, last=tip)  # the tip's block holds a transaction, not yet served


@pytest.mark.parametrize("query", [
    "from_height=abc", "to_height=1.5", "from_height=0", "from_height=5&to_height=3", "from_height=-1",
    "from_height=18446744073709551616", "limit=0", f"limit={PAGE_TXS_MAX + 1}", "limit=-1", "limit=",
    "type=settlement.nope", "type=", "institution=Bank_Alpha", "institution=", "institution=" + "a" * 33,
    "after=3", "after=3:x", "after=:1", "after=1:4294967296", "unknown=1", "institution=a&institution=b",
])
async def test_bad_parameters_are_400(api, query):
    response = await api.get(f"/v1/audit/txs?{query}", AUDITOR)
    body = await assert_refused(response, 400, "bad_parameter")
    assert body["error"]["message"]


def test_answers_verify_across_a_validator_set_change(tmp_path):
    """Headers after an added validator's boundary are certified by the new
    set, which the eras follow from the verified chain; against the genesis
    set alone they are not verified."""
    document = genesis_document(validators=4, members=5, standby=1)
    document["consensus"] = {**document["consensus"], "checkpoint_interval": CHECKPOINT_INTERVAL,
                             "window": 4 * CHECKPOINT_INTERVAL}
    builder = ChainBuilder(tmp_path / "chain", document)
    try:
        builder.build(2, 5)
        enact(builder, "add_validator", id="bank-4")
        effective = past_the_switch(builder, blocks_after=3)
        path = tmp_path / "chain.export"
        with open(path, "wb") as out:
            export_storage(builder.storage, out)
        eras = ValidatorEras(builder.genesis.chain_id)
        verify_export(builder.genesis, path, on_block=eras.record, progress=None)
        assert [first for first, _ in eras.eras] == [1, effective + 1] and eras.eras[1][1].n == 5

        certified = builder.ledger.tip.height - 1
        owners = {signer.public_key: iid for iid, signer in builder.signers.items()}
        expected = [(h, i) for h in range(1, certified + 1)
                    for i, raw in enumerate(builder.storage.block(h).block.txs)
                    if owners[decode_tx(raw).sender] == "bank-1"]
        assert any(h > effective for h, _ in expected)
        audited = served(builder, "bank-1", certified, eras)
        assert [(tx.height, tx.index) for tx in audited] == expected
        assert all(tx.verified for tx in audited), [tx.problem for tx in audited]
        genesis_only = ValidatorEras(eras.chain_id, eras.eras[:1], eras.height)
        for tx in served(builder, "bank-1", certified, genesis_only):  # header h + 1 is the new set's from effective on
            assert tx.verified == (tx.height < effective), (tx.height, effective, tx.problem)
            assert tx.verified or "names another validator set" in tx.problem
    finally:
        builder.close()


def served(builder: ChainBuilder, institution: str, last: int, eras: ValidatorEras) -> list:
    """Every transaction of `institution` through `last`, in pages of two as
    the API builds them, each checked against `eras`."""
    asked, after, audited = TxFilter(institution, None, 1, last), None, []
    while True:
        included, headers, cursor = read_page(
            builder.ledger, TxQuery(institution, None, 1, last, after, 2, SCAN_ENTRIES_MAX))
        page = {"txs": [entry_json(tx) for tx in included], "headers": headers_json(headers), "next": cursor}
        checked, after = check_page(page, eras, asked, after)
        audited += checked
        if after is None:
            return audited
