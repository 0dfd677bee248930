"""MPC keys (the genesis's `mpc_key` and governance's `set_mpc_key`), the
Pedersen construction the mpc contract checks sums with, and the limits
that keep a session's largest transactions within one transaction's size."""

from __future__ import annotations

import hashlib

import pytest
from nacl import bindings

from contracts import mpc, mpc_state
from contracts.genesis import GenesisError, genesis_state, mpc_key_key, parse_genesis
from contracts.mpc_checks import BASE, GROUP_ORDER, H, IDENTITY, _sum_opens, commit, is_point
from contracts.mpc_state import ALL
from contracts.schema import AMOUNT_MAX
from contracts.tx import TX_SIZE_MAX, decode_tx, sign_tx
from crypto import encoding
from crypto.mpc import threshold
from crypto.mpc.psi_messages import SESSION_ID_BYTES_MAX, DoubleBlindedSet, Role, Variant
from fixtures import key
from mpc_ledger import Ledger, document, mpc_public

A, B, C, F = "bank-a", "bank-b", "bank-c", "bank-f"


# --- the genesis ----------------------------------------------------------------------

def test_genesis_writes_mpc_keys_beside_the_institutions_keys():
    genesis = parse_genesis(document())
    state = genesis_state(genesis)
    assert genesis.institution(A).mpc_key == mpc_public(A)
    assert encoding.decode(state[mpc_key_key(A)]) == mpc_public(A)
    assert mpc_key_key(F) not in state and genesis.institution(F).mpc_key is None
    ledger = Ledger.fresh()
    assert mpc_state.mpc_key(ledger.state, "reg") == mpc_public("reg")
    assert mpc_state.mpc_key(ledger.state, F) is None


def test_an_mpc_key_is_part_of_the_chain_id():
    doc = document()
    other = document()
    other["institutions"][0]["mpc_key"] = mpc_public("another").hex()
    assert parse_genesis(doc).chain_id != parse_genesis(other).chain_id


@pytest.mark.parametrize("value, message", [
    ("zz" * 32, "bank-a.mpc_key: not a hex string"),
    ("00" * 31, "bank-a.mpc_key: an X25519 public key is 32 bytes"),
    (7, "bank-a.mpc_key: not a hex string"),
])
def test_a_malformed_genesis_mpc_key_is_refused(value, message):
    doc = document()
    doc["institutions"][0]["mpc_key"] = value
    with pytest.raises(GenesisError, match=message):
        parse_genesis(doc)


def test_two_institutions_may_not_share_an_mpc_key():
    doc = document()
    doc["institutions"][1]["mpc_key"] = doc["institutions"][0]["mpc_key"]
    with pytest.raises(GenesisError, match="an mpc_key is listed twice"):
        parse_genesis(doc)


# --- governance -------------------------------------------------------------------------

def test_governance_registers_replaces_and_clears_an_mpc_key():
    ledger = Ledger.fresh()
    output = ledger.enact("set_mpc_key", id=F, mpc_key=mpc_public(F))
    assert output["status"] == "passed" and output["result"] == {"institution": F, "mpc_key": mpc_public(F)}
    assert mpc_state.mpc_key(ledger.state, F) == mpc_public(F)
    session = ledger.open(A, "sum", [A, B, F], {"length": 1, "value_max": 5})
    assert ledger.session(session)["keys"][F] == mpc_public(F)
    ledger.enact("set_mpc_key", id=F, mpc_key=mpc_public("f-rotated"))
    assert ledger.session(session)["keys"][F] == mpc_public(F)  # a running session keeps its keys
    assert ledger.enact("set_mpc_key", id=F)["result"] == {"institution": F, "mpc_key": None}
    assert mpc_state.mpc_key(ledger.state, F) is None


@pytest.mark.parametrize("args, code", [
    ({"id": F, "mpc_key": mpc_public(A)}, "key_in_use"),
    ({"id": "bank-z", "mpc_key": mpc_public("z")}, "unknown_institution"),
    ({"id": F, "mpc_key": bytes(31)}, "bad_args"),
])
def test_set_mpc_key_refusals(args, code):
    ledger = Ledger.fresh()
    receipt = ledger.send(A, "governance.propose", {"action": "set_mpc_key", "args": args})
    assert receipt.code == code, receipt


def test_setting_the_same_key_again_is_no_conflict():
    ledger = Ledger.fresh()
    assert ledger.enact("set_mpc_key", id=A, mpc_key=mpc_public(A))["status"] == "passed"


def test_removing_an_institution_clears_its_mpc_key():
    ledger = Ledger.fresh()
    ledger.enact("remove_institution", id="bank-e")
    assert mpc_state.mpc_key(ledger.state, "bank-e") is None
    receipt = ledger.send(A, "governance.propose", {"action": "set_mpc_key",
                                                    "args": {"id": "bank-e", "mpc_key": mpc_public("e2")}})
    assert receipt.code == "institution_removed"


# --- the Pedersen construction ----------------------------------------------------------------

def test_the_generators_are_the_published_ones():
    assert BASE == bytes.fromhex("58" + "66" * 31)
    assert H == bindings.crypto_core_ed25519_from_uniform(hashlib.sha512(b"consort/mpc/pedersen/H/v1").digest()[:32])
    assert is_point(BASE) and is_point(H) and H != BASE and not is_point(IDENTITY)


def test_commitments_add_up_and_zero_scalars_are_handled():
    assert commit(0, 0) == IDENTITY
    assert commit(0, 9) == bindings.crypto_scalarmult_ed25519_noclamp((9).to_bytes(32, "little"), H)
    assert commit(9, 0) == bindings.crypto_scalarmult_ed25519_base_noclamp((9).to_bytes(32, "little"))
    assert commit(GROUP_ORDER + 4, 3) == commit(4, 3)
    # sums whose blinding (and value) add up to 0 mod L: the identity, opened by (10, 0) and (0, 0)
    assert _sum_opens([[commit(4, 3), commit(0, 1)], [commit(6, GROUP_ORDER - 3), commit(0, GROUP_ORDER - 1)]],
                      [10, 0], [0, 0])
    assert not _sum_opens([[commit(4, 3)], [commit(6, 5)]], [10, 0], [8, 0])  # lengths differ
    assert not _sum_opens([[commit(4, 3)], [commit(6, 5)]], [11], [8])


# --- sizes -------------------------------------------------------------------------------------

def wire_size(tx_type: str, args: dict) -> int:
    tx = sign_tx(key("bank-a/client").signer(), bytes(32), 0, tx_type, args)
    wire = tx.wire()
    assert decode_tx(wire).args == args
    return len(wire)


def test_the_largest_commit_and_results_fit_a_transaction():
    parties = [f"{'p' * 28}-{n:03d}" for n in range(mpc.MPC_PARTIES_MAX)]  # 32-character ids
    session = "M" + "9" * 12
    points = [commit(n + 1, n + 2) for n in range(mpc.VECTOR_LENGTH_MAX)]
    assert wire_size("mpc.commit", {"session": session, "commitment": points,
                                    "public": bytes(mpc.PUBLIC_BYTES_MAX)}) <= TX_SIZE_MAX
    attestation = {"transcripts": {p: bytes(32) for p in parties}, "signatures": {p: bytes(64) for p in parties}}
    totals = [AMOUNT_MAX] * mpc.VECTOR_LENGTH_MAX
    blindings = [(GROUP_ORDER - 1).to_bytes(32, "little")] * mpc.VECTOR_LENGTH_MAX
    assert wire_size("mpc.result", {"session": session, "totals": totals, "blindings": blindings,
                                    **attestation}) <= TX_SIZE_MAX
    content = mpc_state.sealed_content({"totals": totals, "blindings": blindings}, bytes(32))
    assert len(content) + mpc.SEAL_OVERHEAD <= mpc.SEALED_BYTES_MAX
    assert wire_size("mpc.result", {"session": session, "sealed": {parties[0]: bytes(mpc.SEALED_BYTES_MAX)},
                                    "result_commitment": bytes(32), **attestation}) <= TX_SIZE_MAX


def test_open_accepts_the_bounds_exactly():
    ledger = Ledger.fresh()
    value_max = AMOUNT_MAX // 3
    ledger.open(A, "sum", [A, B, C], {"length": mpc.VECTOR_LENGTH_MAX, "value_max": value_max}, [ALL],
                deadline_blocks=mpc.MPC_DEADLINE_BLOCKS_MAX - 1)
    ledger.open(A, "psi_cardinality", [A, B], {"set_size_max": mpc.PSI_SET_MAX})


def test_the_largest_sealed_psi_results_fit_a_transaction():
    """For every number of recipients, the largest set mpc.open lets a sealed
    PSI count or threshold check have: two double-blinded sets of that many
    points (the longest session id, 32-character ids), each sealed, bundled
    per recipient, fit PSI_BOX_OVERHEAD's bound, one box, and one mpc.result
    signed by sixteen participants."""
    parties = [f"{'p' * 28}-{n:03d}" for n in range(mpc.MPC_PARTIES_MAX)]
    attestation = {"transcripts": {p: bytes(32) for p in parties}, "signatures": {p: bytes(64) for p in parties}}
    recipient_key = bindings.crypto_box_keypair()[0]
    for count in range(1, mpc.MPC_RECIPIENTS_MAX + 1):
        size = max(n for n in range(mpc.PSI_SEALED_SET_MAX + 1) if mpc.sealed_psi_bytes(n, count)
                   <= mpc.SEALED_BYTES_MAX)
        assert mpc.sealed_psi_bytes(size + 1, count) > mpc.SEALED_BYTES_MAX
        points = tuple(n.to_bytes(32, "big") for n in range(1, size + 1))
        sealed = {parties[i]: bindings.crypto_box_seal(DoubleBlindedSet(
            b"s" * SESSION_ID_BYTES_MAX, Variant.CARDINALITY_TO_REGULATOR, role, points).encode(), recipient_key)
            for i, role in enumerate((Role.INITIATOR, Role.RESPONDER))}
        boxes = {f"{'r' * 28}-{n:03d}": mpc_state.bundle_box(sealed) for n in range(count)}
        assert all(len(box) <= mpc.SEALED_BYTES_MAX for box in boxes.values())
        assert len(encoding.encode(boxes)) <= mpc.sealed_psi_bytes(size, count)
        assert wire_size("mpc.result", {"session": "M" + "9" * 12, "sealed": boxes,
                                        "result_commitment": mpc_state.bundle_commitment(boxes),
                                        **attestation}) <= TX_SIZE_MAX, count
    assert threshold.width(threshold.sum_bits(AMOUNT_MAX, mpc.MPC_PARTIES_MAX)) <= mpc.PSI_SEALED_SET_MAX
