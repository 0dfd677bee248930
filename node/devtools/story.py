"""A supply-chain-finance story told through a running consortium, step by
step, each step a signed transaction whose receipt is checked. Used by the
demo and by the integration test.

A supplier's bank (alpha) registers a receivable its client is owed by a
buyer, splits it, pledges the main holding to bravo, which finances it;
alpha sells the split part to charlie delivery-versus-payment; the banks'
mutual obligations settle through a netting cycle; bravo releases the
pledge once repaid; at maturity alpha redeems the receivable, paying every
holder its face value.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from contracts.tx import sign_tx
from crypto import hashing
from crypto.keys import read_key_file
from node.client import ConsortClient

FACE_VALUE = 100_00          # minor units per unit of the receivable
UNITS = 1000
SPLIT_UNITS = 400
FINANCED = 50_000_00
DVP_PRICE = 39_000_00


class StoryError(Exception):
    """A step's receipt was not what the story expects."""


@dataclass
class Party:
    institution: str
    url: str
    signer: object
    chain_id: bytes
    ca: Path | None = None  # the consortium's root certificate
    nonce: int = field(default_factory=lambda: time.time_ns() // 1000 * 1000)

    def client(self) -> ConsortClient:
        """A client of this party's node that signs its requests with the party's key."""
        return ConsortClient(self.url, signer=self.signer, chain_id=self.chain_id, ca=self.ca)

    async def send(self, tx_type: str, args: dict, expect: str = "ok") -> dict:
        self.nonce += 1
        tx = sign_tx(self.signer, self.chain_id, self.nonce, tx_type, args)
        async with self.client() as client:
            result = await client.submit([tx], wait=True, timeout_ms=30_000)
        receipt = result["receipts"][0]
        if receipt is None or receipt["code"] != expect:
            raise StoryError(f"{self.institution} {tx_type}: expected {expect}, got {receipt}")
        return receipt


def parties(directory: Path, index: dict, passphrase: str) -> dict[str, Party]:
    """Each institution (and regulator) signing with its first client key."""
    chain_id = bytes.fromhex(index["chain_id"])
    ca = directory / index["ca_cert"]
    found = {}
    for entry in index["institutions"]:
        key = read_key_file(directory / entry["client_keys"][0], passphrase)
        found[entry["id"]] = Party(entry["id"], entry["url"], key.signer(), chain_id, ca)
    for entry in index.get("regulators", []):
        key = read_key_file(directory / entry["client_keys"][0], passphrase)
        found[entry["id"]] = Party(entry["id"], index["institutions"][0]["url"], key.signer(), chain_id, ca)
    return found


async def height(party: Party) -> int:
    async with party.client() as client:
        return (await client.status())["height"]


async def tell(directory: Path, index: dict, say: Callable[[str], None], passphrase: str) -> dict:
    """Run the story (the key files open with `passphrase`); return the asset ids and final figures."""
    p = parties(directory, index, passphrase)
    alpha, bravo, charlie, delta = (p[e["id"]] for e in index["institutions"][:4])
    ccy = index["currency"]
    maturity = await height(alpha) + 14
    documents = hashing.digest("documents", b"invoice 2026-1121: 1000 units of goods delivered")
    r = await alpha.send("assets.register", {
        "class": "receivable", "holders": {alpha.institution: UNITS}, "currency": ccy,
        "face_value": FACE_VALUE, "maturity_height": maturity, "documents_hash": documents})
    receivable = r["output"]["asset"]
    say(f"    {alpha.institution} registers receivable {receivable}: {UNITS} units x {FACE_VALUE / 100:.2f} {ccy}, "
        f"matures at block {maturity}")
    r = await alpha.send("assets.split", {"asset": receivable, "parts": [SPLIT_UNITS]})
    part = r["output"]["parts"][0]
    say(f"    splits {SPLIT_UNITS} units off as part {part}")
    await alpha.send("assets.pledge", {"asset": receivable, "pledgee": bravo.institution,
                                       "secured_amount": FINANCED, "currency": ccy, "due_height": maturity + 100})
    say(f"    pledges the remaining {UNITS - SPLIT_UNITS} units to {bravo.institution} "
        f"for {FINANCED / 100:,.2f} {ccy}")
    await alpha.send("assets.transfer", {"asset": receivable, "to": charlie.institution, "units": 10},
                     expect="asset_pledged")
    say(f"    a transfer of the pledged units without {bravo.institution}'s consent is refused: asset_pledged")
    await bravo.send("settlement.pay", {"from": bravo.institution, "to": alpha.institution, "currency": ccy,
                                        "amount": FINANCED, "reference": f"financing {receivable}"})
    say(f"    {bravo.institution} finances it: pays {FINANCED / 100:,.2f} {ccy} to {alpha.institution}")
    expiry = await height(alpha) + 50
    r = await alpha.send("assets.offer", {"asset": part, "units": SPLIT_UNITS, "buyer": charlie.institution,
                                          "price": DVP_PRICE, "currency": ccy, "expiry_height": expiry})
    offer = r["output"]["offer"]
    r = await charlie.send("settlement.dvp", {"offer": offer})
    say(f"    {charlie.institution} buys part {part} delivery-versus-payment: {SPLIT_UNITS} units "
        f"against {DVP_PRICE / 100:,.2f} {ccy} in one transaction")
    regulator = next((p[e["id"]] for e in index.get("regulators", [])), None)
    if regulator is not None:
        await regulator.send("assets.freeze", {"asset": part, "reason": "inquiry"})
        await charlie.send("assets.transfer", {"asset": part, "to": delta.institution, "units": 1},
                           expect="asset_frozen")
        await regulator.send("assets.unfreeze", {"asset": part})
        say(f"    {regulator.institution} freezes {part}: a transfer is refused (asset_frozen); then unfreezes it")
    repayment = FINANCED + 250_00
    await alpha.send("settlement.instruct", {"from": alpha.institution, "to": bravo.institution, "currency": ccy,
                                             "amount": repayment, "reference": f"repay {receivable}"})
    await bravo.send("settlement.instruct", {"from": bravo.institution, "to": charlie.institution, "currency": ccy,
                                             "amount": 20_000_00})
    await charlie.send("settlement.instruct", {"from": charlie.institution, "to": alpha.institution,
                                               "currency": ccy, "amount": 15_000_00})
    await delta.send("settlement.instruct", {"from": delta.institution, "to": alpha.institution, "currency": ccy,
                                             "amount": 5_000_00})
    r = await delta.send("settlement.close_cycle", {"currency": ccy})
    cycle = r["output"]
    say(f"    netting cycle {cycle['cycle']}: {len(cycle['settled'])} instructions, gross "
        f"{cycle['gross_total'] / 100:,.2f} settled by net {cycle['net_total'] / 100:,.2f} {ccy}")
    await bravo.send("assets.release", {"asset": receivable, "holder": alpha.institution})
    say(f"    {bravo.institution}, repaid, releases the pledge")
    while await height(alpha) < maturity:
        await alpha.send("settlement.pay", {"from": alpha.institution, "to": delta.institution,
                                            "currency": ccy, "amount": 1, "reference": "waiting for maturity"})
    payouts = {}
    for asset in (receivable, part):
        r = await alpha.send("assets.redeem", {"asset": asset})
        payouts[asset] = r["output"]["payouts"]
    say(f"    at block {maturity} {alpha.institution} redeems both: pays {charlie.institution} "
        f"{SPLIT_UNITS * FACE_VALUE / 100:,.2f} {ccy}; the units retire")
    return {"receivable": receivable, "part": part, "offer": offer, "cycle": cycle, "payouts": payouts}


def run(directory: Path, index: dict, passphrase: str, say: Callable[[str], None] = print) -> dict:
    return asyncio.run(tell(directory, index, say, passphrase))
