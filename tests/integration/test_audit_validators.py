"""The auditor follows validator-set changes that governance makes: with
re-execution from the executor's block result, without it from the
governance receipt and the headers. A key rotated out by governance can no
longer certify a block, in either mode."""

from __future__ import annotations


import pytest

from contracts import governance
from node.audit.auditor import AuditFailure
from node.audit.export import export_storage
from node.audit.verify import verify_export
from node.devtools.chainbuilder import ChainBuilder, genesis_document

CHECKPOINT_INTERVAL = 4
VOTERS = ("bank-0", "bank-1", "bank-2", "bank-3")  # four of the five members: two thirds


def enact(builder: ChainBuilder, action: str, **args) -> None:
    """Propose and pass `action`, one block per transaction."""
    builder.append([builder.tx(VOTERS[0], "governance.propose", {"action": action, "args": args})])
    proposal = governance.open_proposal_ids(builder.ledger.view)[-1]
    for voter in VOTERS:
        builder.append([builder.tx(voter, "governance.vote", {"proposal": proposal, "yes": True})])
    assert governance.pending_validators(builder.ledger.view) is not None


def past_the_switch(builder: ChainBuilder, blocks_after: int = 2) -> int:
    """Append payment blocks until `blocks_after` blocks follow the activation; the activation height."""
    effective = governance.pending_validators(builder.ledger.view)["effective_height"]
    while builder.ledger.tip.height < effective + blocks_after:
        builder.append(builder.payments(2, builder.ledger.tip.height * 2))
    return effective


def audited(tmp_path, builder: ChainBuilder, reexecute: bool, workers: int):
    """The audit, with `workers` processes checking signatures ahead (which
    check a certificate under the set in force when they read its block)."""
    path = tmp_path / f"chain-{reexecute}.export"
    with open(path, "wb") as out:
        export_storage(builder.storage, out)
    return verify_export(builder.genesis, path, reexecute=reexecute, progress=None, workers=workers)


@pytest.fixture
def builder(tmp_path):
    document = genesis_document(validators=4, members=5, standby=1)
    document["consensus"] = {**document["consensus"], "checkpoint_interval": CHECKPOINT_INTERVAL,
                             "window": 4 * CHECKPOINT_INTERVAL}
    built = ChainBuilder(tmp_path / "chain", document)
    yield built
    built.close()


MODES = [(False, 0), (True, 0), (False, 2), (True, 2)]  # (re-execute, workers)


@pytest.mark.parametrize("reexecute, workers", MODES)
def test_an_added_validator_is_followed(tmp_path, builder, reexecute, workers):
    enact(builder, "add_validator", id="bank-4")
    past_the_switch(builder)
    auditor = audited(tmp_path, builder, reexecute, workers)
    assert auditor.report.validator_changes == 1
    assert auditor.validators.keys == builder.ledger.validator_keys() and auditor.validators.n == 5


@pytest.mark.parametrize("reexecute, workers", MODES)
def test_a_rotated_out_key_cannot_certify_after_the_switch(tmp_path, builder, reexecute, workers):
    old_key = builder.ledger.validator_keys()[0]
    new_key = builder.add_node_key("bank-0/node-rotated")
    enact(builder, "set_node_key", id="bank-0", node_key=new_key)
    effective = past_the_switch(builder, blocks_after=1)
    assert builder.ledger.validator_keys()[0] == new_key
    assert audited(tmp_path, builder, reexecute, workers).report.validator_changes == 1
    old_set = (old_key, *builder.ledger.validator_keys()[1:])
    builder.append(builder.payments(2, 10_000), certified_by=old_set)  # signed with the retired key
    with pytest.raises(AuditFailure) as caught:
        audited(tmp_path, builder, reexecute, workers)
    assert caught.value.height == effective + 2 and "bad signature from replica 0" in caught.value.what
