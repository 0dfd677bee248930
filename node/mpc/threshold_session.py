"""One threshold check as this institution's node runs it: is the sum of
the participants' inputs over the session's limit? Only the recipients
(the regulator, which runs no node) learn the answer; crypto.mpc.threshold
has the design and its threat model.

Roles, fixed by the sorted participants: the comparator P (the first, also
the coordinator), the evaluator E (the second), and the others.

1. input: the institution's one figure, from its local input file, at most
   the session's value_max; P adds its fresh offset rho to it;
2. commit: one Pedersen commitment on chain (`mpc.commit`);
3. once every commitment is on chain, the masked vector goes to E alone,
   which combines them into C = S + rho and checks C against the
   commitments (node.mpc.sum_session's steps);
4. E and P exchange their blinded PSI sets (ones(C), zeros(L + rho)), each
   blinds the other's again on the node's worker threads and seals it to
   every recipient; P bundles both (node.mpc.session.seal_and_bundle);
5. attest: every participant signs the bundle's commitment, E once its own
   sealed sets are in every box, the others once the boxes hold one sealed
   message from each of E and P; P puts it on chain.

No node learns the verdict, and no node writes C or rho anywhere; a peer's
PSI set of another size than w is refused.
"""

from __future__ import annotations

from crypto.mpc import threshold
from crypto.mpc.psi import PsiParty
from crypto.mpc.psi_messages import PsiMessageError, decode_message
from crypto.mpc.secure_sum import SumSpec
from node.mpc.session import SessionFailed
from node.mpc.sum_session import SumSession


class ThresholdSession(SumSession):
    def sum_spec(self) -> SumSpec:
        params = self.record["params"]
        self.limit, self.value_max = params["limit"], params["value_max"]
        self.bits = threshold.sum_bits(self.value_max, len(self.participants))
        self.comparator, self.evaluator = self.participants[:2]
        return threshold.sum_spec(self.id.encode(), self.participants, self.bits)

    async def run(self) -> None:
        (value,) = await self.runner.inputs_of(self.id, 1)
        if not 0 <= value <= self.value_max:
            raise SessionFailed("our input is not in [0, value_max]")
        offset, comparing = 0, None
        if self.me == self.comparator:
            offset = threshold.draw_offset(self.bits)
            comparing = threshold.comparator_party(self.id.encode(), self.limit, offset, self.bits)
            await self.off_loop(comparing.prepare)
        party, masked = await self.commit_and_mask([value + offset])
        if self.me == self.evaluator:
            total = (await self.combine_masked(party, masked)).sums[0]
            try:
                comparing = threshold.evaluator_party(self.id.encode(), total, self.bits)
            except threshold.ThresholdError:
                raise SessionFailed("the masked total is out of range: a participant's input was") from None
            await self.off_loop(comparing.prepare)
        else:
            self.send_recorded(self.evaluator, "masked", masked.encode())
        outcome = {} if comparing is None else await self._compare(comparing)
        await self.attest(outcome, self.transcript())

    async def _compare(self, party: PsiParty) -> dict:
        """Step 4: blinded sets exchanged between E and P, each one's
        double-blinding of the other's sealed to the recipients."""
        peer = self.evaluator if self.me == self.comparator else self.comparator
        self.send_recorded(peer, "blinded", party.first_message())
        payload = (await self.inbox.wait_for("blinded", [peer]))[peer]
        try:
            if not isinstance(payload, bytes):
                raise PsiMessageError("not bytes")
            points = decode_message(payload, check_group=False).points  # respond checks every point
        except PsiMessageError as exc:
            raise SessionFailed(f"{peer}'s blinded set: {exc}") from None
        if len(points) != threshold.width(self.bits):
            raise SessionFailed(f"{peer}'s blinded set is not of the session's width")
        self.note_received(peer, payload)
        step = await self.off_loop(party.respond, payload)
        return await self.seal_and_bundle(step.to_regulator)

    def accept(self, result, outcome: dict) -> dict:
        """The bundle, once it holds our sealed set (E) or one from each of E and P (the others)."""
        return self.accept_bundle(result, outcome)
