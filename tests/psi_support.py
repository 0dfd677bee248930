"""Helpers shared by the PSI unit and property tests: run one session of
crypto.mpc.psi between two in-memory parties, capturing every message."""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.mpc.psi import PsiParty, PsiResult, Role, Variant, count_for_regulator


@dataclass
class SessionRun:
    initiator: PsiResult | None = None
    responder: PsiResult | None = None
    regulator: int | None = None
    messages: list[bytes] = field(default_factory=list)
    parties: tuple[PsiParty, PsiParty] | None = None


def run_session(variant: Variant, set_a, set_b, session_id: bytes = b"session-1", *,
                scalar_a: bytes | None = None, scalar_b: bytes | None = None) -> SessionRun:
    """Both parties' round 1, then round 2 (the initiator first), then the results."""
    a = PsiParty(session_id, Role.INITIATOR, set_a, variant, scalar=scalar_a)
    b = PsiParty(session_id, Role.RESPONDER, set_b, variant, scalar=scalar_b)
    run = SessionRun(parties=(a, b))
    first_a, first_b = a.first_message(), b.first_message()
    step_a, step_b = a.respond(first_b), b.respond(first_a)
    run.messages += [first_a, first_b]
    run.messages += [m for step in (step_a, step_b) for m in (step.to_peer, step.to_regulator) if m is not None]
    if variant == Variant.CARDINALITY_TO_REGULATOR:
        run.regulator = count_for_regulator(session_id, step_a.to_regulator, step_b.to_regulator).count
        return run
    if a.learns_result:
        run.initiator = a.finish(step_b.to_peer)
    if b.learns_result:
        run.responder = b.finish(step_a.to_peer)
    return run
