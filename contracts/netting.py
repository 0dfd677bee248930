"""Multilateral netting arithmetic: pure functions over instruction lists.

Given the queued payment instructions of one currency (in queue order) and
each institution's net debit limit, compute net positions, check whether
they can settle, and apply the gridlock rule that removes instructions
until they can. Nothing here reads or writes state, moves money or knows
about transactions: `contracts.settlement` loads the queue and limits and
moves the money through `contracts.money`.

Sign convention: a net position is what an institution receives minus what
it pays, so a net debtor has a negative position and its net debit is the
magnitude of that position.

Gridlock rule (deterministic): while some institution's net debit exceeds
its limit, find, among the instructions whose payer is such an institution,
the one latest in queue order and remove it; recompute and repeat. Removing
an instruction only ever lowers its payer's net debit, and an institution
that pays nothing is never a net debtor, so the loop ends after at most one
removal per instruction, with a feasible (possibly empty) set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Instruction:
    """One queued payment: `amount` minor units from `payer` to `payee`."""

    id: int
    payer: str
    payee: str
    amount: int

    def __post_init__(self) -> None:
        assert self.amount > 0, "an instruction moves a positive amount"
        assert self.payer != self.payee, "an instruction moves money between two institutions"


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of one netting run: which instructions settle (queue order),
    which the gridlock rule removed (queue order) and the settled net positions
    (every participant of a settled instruction, zero included, sorted by id)."""

    settled: tuple[Instruction, ...]
    removed: tuple[Instruction, ...]
    positions: dict[str, int]


def net_positions(instructions: list[Instruction] | tuple[Instruction, ...]) -> dict[str, int]:
    """Receipts minus payments per participant, keys sorted; the values sum to zero."""
    positions: dict[str, int] = {}
    for instruction in instructions:
        positions[instruction.payer] = positions.get(instruction.payer, 0) - instruction.amount
        positions[instruction.payee] = positions.get(instruction.payee, 0) + instruction.amount
    assert sum(positions.values()) == 0
    return dict(sorted(positions.items()))


def net_debit(position: int) -> int:
    return -position if position < 0 else 0


def violators(positions: dict[str, int], limits: dict[str, int]) -> list[str]:
    """Institutions (sorted) whose net debit exceeds their limit; a missing
    limit counts as 0 (may not be a net debtor)."""
    return [iid for iid in sorted(positions) if net_debit(positions[iid]) > limits.get(iid, 0)]


def feasible(positions: dict[str, int], limits: dict[str, int]) -> bool:
    return not violators(positions, limits)


def resolve(instructions: list[Instruction], limits: dict[str, int]) -> Resolution:
    """Apply the gridlock rule to `instructions` (in queue order) under
    `limits` (institution -> largest net debit it may settle, >= 0)."""
    assert all(limit >= 0 for limit in limits.values())
    ids = [instruction.id for instruction in instructions]
    assert len(set(ids)) == len(ids), "instruction ids are unique"
    positions = net_positions(instructions)
    outgoing: dict[str, list[int]] = {}  # payer -> indices of its remaining instructions, ascending
    for index, instruction in enumerate(instructions):
        outgoing.setdefault(instruction.payer, []).append(index)
    removed: set[int] = set()
    for _ in range(len(instructions) + 1):
        breaching = violators(positions, limits)
        if not breaching:
            break
        index = max(outgoing[iid][-1] for iid in breaching)  # a net debtor pays something
        instruction = instructions[index]
        outgoing[instruction.payer].pop()
        removed.add(index)
        positions[instruction.payer] += instruction.amount
        positions[instruction.payee] -= instruction.amount
    else:
        raise AssertionError("gridlock removal did not terminate")
    settled = tuple(i for n, i in enumerate(instructions) if n not in removed)
    dropped = tuple(i for n, i in enumerate(instructions) if n in removed)
    return Resolution(settled, dropped, net_positions(settled))


def apply_gross(balances: dict[str, int], instructions: list[Instruction] | tuple[Instruction, ...]) -> dict[str, int]:
    """Balances after applying `instructions` one by one (no overdraft check):
    the reference that a netting result must equal."""
    result = dict(balances)
    for instruction in instructions:
        result[instruction.payer] = result.get(instruction.payer, 0) - instruction.amount
        result[instruction.payee] = result.get(instruction.payee, 0) + instruction.amount
    return dict(sorted(result.items()))
