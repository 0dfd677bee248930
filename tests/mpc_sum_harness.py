"""Runs a secure sum (crypto.mpc.secure_sum) between parties in memory: every
message is encoded, carried over a fake link to every other party and
decoded there, and every byte sent is kept, so tests can look at the wire.

Keys and blindings come from fixed seeds, so every run is reproducible.
Not a pytest conftest: unit and property tests import it by name.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from crypto.mpc import masking
from crypto.mpc.secure_sum import SumCommitments, SumMasked, SumParty, SumResult, SumSpec, check_result


def seeded_rng(label: bytes) -> Callable[[int], bytes]:
    """A deterministic stand-in for the OS CSPRNG: successive calls give
    successive, unrelated byte strings."""
    counter = itertools.count()
    return lambda n: hashlib.shake_256(label + next(counter).to_bytes(8, "big")).digest(n)


def kx_keys(ids) -> dict[str, tuple[bytes, bytes]]:
    return {i: masking.kx_keypair(hashlib.sha256(b"kx/" + i.encode()).digest()) for i in ids}


def make_parties(spec: SumSpec, inputs: dict[str, list[int]], label: bytes = b"") -> dict[str, SumParty]:
    keys = kx_keys(spec.parties)
    publics = {i: pair[0] for i, pair in keys.items()}
    return {i: SumParty(spec, i, keys[i], publics, inputs[i], rng=seeded_rng(label + i.encode()))
            for i in spec.parties}


Tamper = Callable[[SumMasked], SumMasked]


@dataclass
class Run:
    spec: SumSpec
    commitments: list[SumCommitments] = field(default_factory=list)
    masked: list[SumMasked] = field(default_factory=list)
    results: dict[str, SumResult] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)
    wire: list[bytes] = field(default_factory=list)  # every message as sent, the result too

    @property
    def result(self) -> SumResult:
        first, *others = self.results.values()
        assert all(r == first for r in others), "parties combined different results"
        return first

    def auditor_check(self) -> bool:
        """check_result from the public messages alone, as an auditor would."""
        return check_result(self.spec, self.result, self.commitments)


def run_sum(parties: dict[str, SumParty], tamper: dict[str, Tamper] | None = None,
            commitments_from: dict[str, SumParty] | None = None) -> Run:
    """Drive every party through every step. `tamper[sender]` rewrites what
    that sender's masked message says on the wire; `commitments_from[sender]`
    is the party object whose commitments are posted in the sender's name
    (a party that changes its input after committing)."""
    spec = next(iter(parties.values())).spec
    run = Run(spec)
    for sender, party in parties.items():
        poster = (commitments_from or {}).get(sender, party)
        data = poster.commitments().encode()
        if poster is not party:
            party.commitments()
        run.wire.append(data)
        run.commitments.append(SumCommitments.decode(data))
        for receiver in parties.values():
            if receiver is not party:
                receiver.receive_commitments(SumCommitments.decode(data))
    for sender, party in parties.items():
        message = party.masked()
        if tamper and sender in tamper:
            message = tamper[sender](message)
        data = message.encode()
        run.wire.append(data)
        run.masked.append(SumMasked.decode(data))
    for name, party in parties.items():
        if tamper and name in tamper:
            continue  # the tamperer's own view differs; the others' is what counts
        own = party.masked()
        received = [own if m.sender == name else m for m in run.masked]
        result = SumResult.decode(party.combine(received).encode())
        run.results[name] = result
        run.checks[name] = party.check(result)
    run.wire.append(run.result.encode())
    return run
