"""Every transaction type described from the registry itself: its argument
schema (type, bounds, required), the roles that may send it and the
contracts it needs, every governance action's arguments, and the receipt
codes each contract's modules can give. One source for two readers:
`consort tx send TYPE --help` (`type_help`) and docs/transactions.md
(`markdown`, written by scripts/gen_docs.py; tests/unit/test_txdoc.py fails
when the committed page differs, so the page cannot drift).

The receipt codes are read from the contracts' source (every
`ContractError("code", ...)` and `Receipt(..., "code")` with a literal
code), grouped by the contract whose modules raise them (CODE_MODULES).
"""

from __future__ import annotations

import ast
import inspect
from functools import partial
from pathlib import Path

import contracts
from contracts.interface import TxType
from contracts.registry import GOVERNANCE_ACTIONS, TX_TYPES
from contracts.schema import AMOUNT_MAX, Field

KIND_NAMES = {bool: "bool", int: "int", str: "str", bytes: "bytes", list: "list", dict: "map"}
NAMED_NUMBERS = {AMOUNT_MAX: "2^62", AMOUNT_MAX - 1: "2^62 - 1", 2**64 - 1: "2^64 - 1"}
# Which contracts/ modules give which contract's receipt codes; "every type" is the executor's own.
CODE_MODULES = {
    "every type": ("executor", "schema", "store"),
    "settlement": ("settlement", "money", "netting"),
    "assets": ("assets", "assets_dvp", "assets_ops", "assets_pledge", "assets_state"),
    "governance": ("governance", "registry"),
    "mpc": ("mpc", "mpc_checks", "mpc_state"),
}
CONTRACT_MODULES = {"settlement": "settlement", "assets": "assets", "governance": "governance", "mpc": "mpc"}


def number(value: int) -> str:
    return NAMED_NUMBERS.get(value, str(value))


def describe(field: Field) -> str:
    """One field's type and bounds in words, elements and keys included."""
    kind = KIND_NAMES[field.kind]
    if field.kind is bool:
        return kind
    if field.kind is int:
        return f"int in [{number(field.minimum)}, {number(field.maximum)}]"
    unit = {str: "characters", bytes: "bytes", list: "items", dict: "entries"}[field.kind]
    if field.minimum == field.length_max:
        text = f"{kind} of exactly {field.length_max} {unit}"
    else:
        text = f"{kind} of {field.minimum} to {field.length_max} {unit}"
    if field.keys is not None:
        text += f"; keys: {describe(field.keys)}"
    if field.items is not None:
        text += f"; {'values' if field.kind is dict else 'each'}: {describe(field.items)}"
    return text


def check_summary(tx_type: TxType | object) -> str | None:
    """Where a type's (or action's) own stateless check beyond its fields is, if it has one."""
    check = getattr(tx_type, "check", None)
    if check is None:
        return None
    function = check.func if isinstance(check, partial) else check
    return f"`{function.__module__}.{function.__name__}`"


def fields_rows(fields: tuple[Field, ...]) -> list[tuple[str, str, str]]:
    return [(f.name, describe(f), "yes" if f.required else "no") for f in fields]


def type_help(name: str) -> str:
    """What `consort tx send NAME --help` prints after the usage."""
    tx_type = TX_TYPES.get(name)
    if tx_type is None:
        return f"unknown transaction type {name!r}; the types are:\n  " + "\n  ".join(TX_TYPES)
    lines = [f"{name}: sent by {', '.join(tx_type.roles)}"]
    if tx_type.requires:
        lines.append(f"needs the contracts {', '.join(tx_type.requires)} switched on")
    lines.append("arguments (--arg name=value, or --args JSON; bytes as hex:<digits>):")
    width = max((len(f.name) for f in tx_type.fields), default=0)
    for field_name, text, required in fields_rows(tx_type.fields):
        lines.append(f"  {field_name:<{width}}  {text}{'' if required == 'yes' else ' (optional)'}")
    summary = check_summary(tx_type)
    if summary:
        lines.append(f"further checks that need no state: {summary.strip('`')}")
    if name == "governance.propose":
        lines.append("actions: " + ", ".join(GOVERNANCE_ACTIONS) + " (docs/transactions.md gives their args)")
    return "\n".join(lines)


# --- receipt codes, from the contracts' source ----------------------------------------

def codes_in(source: str) -> set[str]:
    """The codes of ContractError("code", ...) and Receipt(hash, "code", ...) in
    `source`, written as a literal or as a module-level constant (OK = "ok")."""
    tree = ast.parse(source)
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        position = {"ContractError": 0, "Receipt": 1}.get(node.func.id)
        if position is None or len(node.args) <= position:
            continue
        argument = node.args[position]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            found.add(argument.value)
        elif isinstance(argument, ast.Name) and argument.id in constants:
            found.add(constants[argument.id])
    return found


def module_codes() -> dict[str, set[str]]:
    """Every contracts/ module that gives a literal receipt code, with its codes."""
    folder = Path(contracts.__file__).parent
    found = {path.stem: codes_in(path.read_text()) for path in sorted(folder.glob("*.py"))}
    return {name: codes for name, codes in found.items() if codes}


def receipt_codes() -> dict[str, list[str]]:
    by_module = module_codes()
    return {contract: sorted(set().union(*(by_module.get(m, set()) for m in modules)))
            for contract, modules in CODE_MODULES.items()}


# --- the page ------------------------------------------------------------------------------

def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def contract_summary(contract: str) -> str:
    module = __import__(f"contracts.{CONTRACT_MODULES[contract]}", fromlist=["_"])
    doc = inspect.getdoc(module) or ""
    return " ".join(doc.split("\n\n")[0].split())


def type_section(name: str, tx_type: TxType) -> list[str]:
    lines = [f"### `{name}`", "", f"Roles: {', '.join(tx_type.roles)}."]
    if tx_type.requires:
        lines[-1] += f" Needs switched on: {', '.join(tx_type.requires)}."
    summary = check_summary(tx_type)
    if summary:
        lines.append(f"Further checks that need no state: {summary}.")
    lines.append("")
    if tx_type.fields:
        lines += table(("argument", "type and bounds", "required"), fields_rows(tx_type.fields))
    else:
        lines.append("No arguments.")
    return lines + [""]


def governance_section() -> list[str]:
    lines = ["## Governance actions", "",
             "`governance.propose` with `action` one of these and `args` as listed; the vote that reaches "
             "the threshold runs it.", ""]
    for name, action in GOVERNANCE_ACTIONS.items():
        lines += [f"### `{name}`", ""]
        summary = check_summary(action)
        if summary:
            lines += [f"Further checks that need no state: {summary}.", ""]
        lines += table(("argument", "type and bounds", "required"), fields_rows(action.fields)) + [""]
    return lines


def markdown() -> str:
    """docs/transactions.md."""
    lines = [
        "# Transaction types",
        "",
        "Generated from `contracts/registry.py` by `python scripts/gen_docs.py`; do not edit by hand "
        "(`tests/unit/test_txdoc.py` fails when this page differs from the registry).",
        "",
        "A transaction's `args` is a map with exactly the arguments below (an unknown or missing required "
        "one is refused with `bad_args`, at the API and, should it reach a block, in its receipt). Types: "
        "`int` is an integer (never a float or a bool), `bytes` a byte string (msgpack `bin`; in JSON "
        "`{\"$bytes\": \"<hex>\"}`), `map` a map with string keys; lengths count characters, bytes, items "
        "or entries. Roles are those of the sender's institution. docs/wire-format.md says how a "
        "transaction is encoded and signed.",
        "",
    ]
    contracts_names = sorted({name.split(".", 1)[0] for name in TX_TYPES})
    for contract in contracts_names:
        lines += [f"## {contract}", "", contract_summary(contract), ""]
        lines += table(("type", "roles"), [(f"`{n}`", ", ".join(t.roles)) for n, t in TX_TYPES.items()
                                           if n.startswith(contract + ".")]) + [""]
        for name, tx_type in TX_TYPES.items():
            if name.startswith(contract + "."):
                lines += type_section(name, tx_type)
    lines += governance_section()
    lines += ["## Receipt codes", "",
              "A failed transaction's receipt carries one of these codes (`ok` on success) and changes nothing "
              "but the sender's nonce window. Read from the contracts' source.", ""]
    lines += table(("given by", "codes"), [(contract, ", ".join(f"`{c}`" for c in codes))
                                          for contract, codes in receipt_codes().items()])
    return "\n".join(lines) + "\n"
