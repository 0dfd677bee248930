"""Which contracts exist and how they are switched: the one list the
executor reads.

Every built-in contract's transaction types (settlement, assets, mpc,
governance), the end-of-block hooks (validator-set activation, named here
so the executor does not know governance), the governance actions that
switch a contract on or off (here because only the registry knows which
contracts exist), and the actions other contracts add to governance
(mpc's set_mpc_key). Governance cannot be switched off. Contracts import
the interface, never this module.
"""

from __future__ import annotations

from typing import Any

from contracts import assets, governance, mpc, settlement
from contracts.interface import EndOfBlockHook, TxType
from contracts.schema import ContractError, Field
from crypto import encoding

ALWAYS_ON = ("governance",)
DISABLED = encoding.encode(False)


def contract_switch_key(contract: str) -> bytes:
    """State key of a contract's switch: absent or true is on, false is off."""
    return b"gov/contract/" + contract.encode()


def contract_enabled(state, contract: str) -> bool:
    return contract in ALWAYS_ON or state.get(contract_switch_key(contract)) != DISABLED


def _switch(enabled: bool):
    def run(state, args: dict[str, Any], height: int) -> dict:
        name = args["contract"]
        if name not in CONTRACTS:
            raise ContractError("unknown_contract", name)
        if name in ALWAYS_ON:
            raise ContractError("contract_protected", f"{name} cannot be switched")
        state.put(contract_switch_key(name), encoding.encode(enabled))
        return {"contract": name, "enabled": enabled}
    return run


CONTRACT_FIELD = Field("contract", str, minimum=1, length_max=32)
SWITCH_ACTIONS = {
    "enable_contract": governance.Action(_switch(True), (CONTRACT_FIELD,)),
    "disable_contract": governance.Action(_switch(False), (CONTRACT_FIELD,)),
}
GOVERNANCE_ACTIONS = dict(sorted({**governance.ACTIONS, **SWITCH_ACTIONS, **mpc.GOVERNANCE_ACTIONS}.items()))

TX_TYPES: dict[str, TxType] = dict(sorted({
    **settlement.TX_TYPES, **assets.TX_TYPES, **mpc.TX_TYPES, **governance.tx_types(GOVERNANCE_ACTIONS),
}.items()))
CONTRACTS = tuple(sorted({name.split(".", 1)[0] for name in TX_TYPES}))
END_OF_BLOCK_HOOKS: tuple[EndOfBlockHook, ...] = (governance.activate_pending_validators,)
