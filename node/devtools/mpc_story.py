"""The demo's MPC scenes: three banks compute a borrower's total exposure
across them; the total is sealed to the central bank, which opens it and
checks it against the banks' commitments. No bank sees another's figure or
the total; the chain holds the commitments, the sealed total and every
bank's node signature, never an input. Then the central bank asks only
whether that exposure is over its large-exposure limit, and learns yes or
no (a threshold check: no one learns the total); then two banks count the
customers one holds that are on the other's fraud list.

Each bank gives its figure to its own node through its local input folder,
as `consort mpc input` does; the central bank reads the result as
`consort mpc result` does.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from crypto.keys import read_key_file
from node.devtools import story
from node.devtools.consortium import MPC_KEY
from node.mpc.runner import kx_from_key_file, write_local
from node.mpc.sealing import recipient_result_of_view, recipient_verdict_of_view

BANKS = ("bank-alpha", "bank-bravo", "bank-charlie")
EXPOSURES = {"bank-alpha": 12_500_000_00, "bank-bravo": 7_250_000_00, "bank-charlie": 30_000_000_00}
VALUE_MAX = 10**12
LARGE_EXPOSURE_LIMIT = 40_000_000_00  # the central bank's limit for one borrower, minor units
DEADLINE_BLOCKS = 200
SESSION_TIMEOUT_S = 60.0


def give_input(directory: Path, institution: str, session_id: str, document: dict) -> None:
    """What `consort mpc input` does: the input, in the bank's own node's input folder, mode 0600."""
    write_local(directory / institution / "mpc-inputs", f"{session_id}.json", document)


async def closed(party, session_id: str, say) -> dict | None:
    """The session's record once it is done (as `party` sees it), or None (said why)."""
    started, record = time.monotonic(), None
    async with party.client() as client:
        while time.monotonic() - started < SESSION_TIMEOUT_S:
            record = (await client.get(f"/v1/mpc/sessions/{session_id}"))["session"]
            if record["status"] != "open":
                break
            await asyncio.sleep(0.1)
    if record is None or record["status"] != "done":
        say(f"    session {session_id} did not finish: {record and record['status']}")
        return None
    return record


async def exposure(directory: Path, index: dict, say, passphrase: str) -> bool:
    """Run the scene; whether the central bank's total is the true one."""
    parties = story.parties(directory, index, passphrase)
    alpha, regulator = parties["bank-alpha"], parties["central-bank"]
    height = await story.height(alpha)
    opened = await alpha.send("mpc.open", {
        "protocol": "sum", "participants": list(BANKS), "params": {"length": 1, "value_max": VALUE_MAX},
        "deadline_height": height + DEADLINE_BLOCKS, "result_to": ["central-bank"]})
    session_id = opened["output"]["session"]
    say(f"    session {session_id}: exposure to one borrower at {', '.join(BANKS)}, total sealed to central-bank")
    for bank in BANKS:
        give_input(directory, bank, session_id, {"values": [EXPOSURES[bank]]})
        say(f"    {bank:<14} gives its figure to its own node only")
    started = time.monotonic()
    record = await closed(regulator, session_id, say)
    if record is None:
        return False
    say(f"    done in {time.monotonic() - started:.1f} s: commitments, sealed total and "
        f"{len(record['attestation']['signatures'])} node signatures on chain")
    async with alpha.client() as client:
        seen = (await client.get(f"/v1/mpc/sessions/{session_id}"))["session"]["result"]
    say(f"    {'bank-alpha reads the result':<34} -> sealed to {', '.join(seen['sealed_to'])}; "
        f"boxes for it: {len(seen['sealed'])}")
    kx = kx_from_key_file(read_key_file(directory / "central-bank" / MPC_KEY, passphrase))
    total = recipient_result_of_view(record, "central-bank", kx).sums[0]
    right = total == sum(EXPOSURES.values())
    say(f"    {'central-bank opens the total':<34} -> {total / 100:,.2f} EUR, "
        f"{'checked against the commitments' if right else 'WRONG'}")
    return right


async def over_limit(directory: Path, index: dict, say, passphrase: str) -> bool:
    """The central bank asks whether the borrower's total exposure at the
    three banks is over its large-exposure limit; whether its answer is right."""
    parties = story.parties(directory, index, passphrase)
    regulator = parties["central-bank"]
    opened = await regulator.send("mpc.open", {
        "protocol": "threshold", "participants": list(BANKS),
        "params": {"limit": LARGE_EXPOSURE_LIMIT, "value_max": VALUE_MAX},
        "deadline_height": await story.height(regulator) + DEADLINE_BLOCKS, "result_to": ["central-bank"]})
    session_id = opened["output"]["session"]
    say(f"    session {session_id}: is the borrower's total exposure over the large-exposure limit of "
        f"{LARGE_EXPOSURE_LIMIT / 100:,.2f} EUR?")
    for bank in BANKS:
        give_input(directory, bank, session_id, {"values": [EXPOSURES[bank]]})
    started = time.monotonic()
    record = await closed(regulator, session_id, say)
    if record is None:
        return False
    kx = kx_from_key_file(read_key_file(directory / "central-bank" / MPC_KEY, passphrase))
    over = recipient_verdict_of_view(record, "central-bank", kx)
    right = over == (sum(EXPOSURES.values()) > LARGE_EXPOSURE_LIMIT)
    say(f"    done in {time.monotonic() - started:.1f} s: {BANKS[0]} masks its figure, {BANKS[1]} compares, the "
        f"answer is sealed to central-bank")
    say(f"    {'the central bank learns':<34} -> {'yes' if over else 'no'}, and not the total; no bank learns "
        f"the answer ({'right' if right else 'WRONG'})")
    return right


CUSTOMERS = [f"IBAN-DE{n:08d}" for n in range(0, 400)]          # bank-alpha's customers
FRAUD_LIST = [f"IBAN-DE{n:08d}" for n in range(390, 420)]         # bank-delta's fraud list: 10 of them in common


async def fraud_list(directory: Path, index: dict, say, passphrase: str) -> bool:
    """Two banks learn how many of one's customers are on the other's fraud
    list (PSI cardinality), and nothing else; the count goes on chain."""
    parties = story.parties(directory, index, passphrase)
    alpha = parties["bank-alpha"]
    height = await story.height(alpha)
    opened = await alpha.send("mpc.open", {
        "protocol": "psi_cardinality", "participants": ["bank-alpha", "bank-delta"],
        "params": {"set_size_max": 1000}, "deadline_height": height + DEADLINE_BLOCKS, "result_to": ["*"]})
    session_id = opened["output"]["session"]
    say(f"    session {session_id}: bank-alpha's {len(CUSTOMERS)} customers against bank-delta's fraud list "
        f"of {len(FRAUD_LIST)}")
    for bank, elements in (("bank-alpha", CUSTOMERS), ("bank-delta", FRAUD_LIST)):
        give_input(directory, bank, session_id, {"elements": elements})
    started = time.monotonic()
    record = await closed(alpha, session_id, say)
    if record is None:
        return False
    count = record["result"]["clear"]["count"]
    right = count == len(set(CUSTOMERS) & set(FRAUD_LIST))
    say(f"    done in {time.monotonic() - started:.1f} s: {count} customers in common, on chain with both "
        f"banks' signatures; neither learns which ({'right' if right else 'WRONG'})")
    return right
