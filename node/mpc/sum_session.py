"""One secure-sum session as this institution's node runs it.

Steps (each bounded by the runner's session timeout; the chain's deadline
height ends a session that is not done, by `mpc.abort`):

1. input: the institution's vector, from its local input file;
2. commit: Pedersen commitments to it go on chain (`mpc.commit`);
3. once every participant's commitments are on chain, the masked vector:
   - result for all (["*"]): sent to every other participant; each
     combines all of them and checks the total against the commitments;
   - result sealed to recipients: sealed to each recipient and sent to the
     coordinator (the first participant), which cannot open them
     (node.mpc.session.seal_and_bundle);
4. attest (node.mpc.session): the coordinator gathers transcript hashes and
   node-key signatures over the result (the total, or the sealed bundle once
   each party found its own sealed messages in it) and puts it on chain.

Steps 2 and 3's combining are shared with the threshold check
(node.mpc.threshold_session), whose secure sum goes to one participant.
"""

from __future__ import annotations

from crypto.mpc.pedersen import scalar_bytes
from crypto.mpc.secure_sum import SumParty, SumSpec
from crypto.mpc.sum_messages import MessageError, SumCommitments, SumMasked, SumResult
from node.mpc.sealing import spec_of
from node.mpc.session import Session, SessionFailed


class SumSession(Session):
    def __init__(self, runner, record: dict) -> None:
        super().__init__(runner, record)
        self.spec = self.sum_spec()

    def sum_spec(self) -> SumSpec:
        return spec_of(self.record)

    # ------------------------------------------------------------ the steps

    async def run(self) -> None:
        inputs = await self.runner.inputs_of(self.id, self.spec.length)
        party, masked = await self.commit_and_mask(inputs)
        if self.for_all:
            for peer in self.others:
                self.send_recorded(peer, "masked", masked.encode())
            result = await self.combine_masked(party, masked)
            outcome = {"totals": list(result.sums), "blindings": [scalar_bytes(b) for b in result.blindings]}
        else:
            outcome = await self.seal_and_bundle(masked.encode())
        await self.attest(outcome, self.transcript())

    async def commit_and_mask(self, inputs: list[int]) -> tuple[SumParty, SumMasked]:
        """Commit to `inputs` on chain; once every participant's commitments
        are there, our masked vector."""
        kx_publics = {p: self.record["keys"][p] for p in self.participants}
        try:
            party = SumParty(self.spec, self.me, self.runner.identity.kx, kx_publics, inputs)
        except ValueError as exc:
            raise SessionFailed(f"our input: {exc}") from None
        own = party.commitments()
        await self.runner.submit("mpc.commit", {"session": self.id, "commitment": list(own.points)})
        await self.committed.wait()
        on_chain = self.runner.commitments(self.record)
        for participant in self.others:
            party.receive_commitments(SumCommitments(self.spec.session_id, participant,
                                                     tuple(on_chain[participant]["commitment"])))
        return party, party.masked()

    async def combine_masked(self, party: SumParty, masked: SumMasked) -> SumResult:
        """Every other participant's masked vector with ours: the total, once
        it opens the commitments on chain."""
        received = await self.inbox.wait_for("masked", self.others)
        messages = [masked]
        for peer in self.others:
            self.note_received(peer, received[peer])
            try:
                message = SumMasked.decode(received[peer])
            except MessageError as exc:
                raise SessionFailed(f"{peer}'s masked vector: {exc}") from None
            if message.sender != peer:
                raise SessionFailed(f"{peer} sent a masked vector under {message.sender!r}'s name")
            messages.append(message)
        result = party.combine(messages)
        if not party.check(result):
            raise SessionFailed("the total does not open the commitments: a participant cheated or a "
                                "message was altered")
        return result

    def accept(self, result, outcome: dict) -> dict:
        """For all: the coordinator's total must be ours. Sealed: its bundle,
        once each recipient's box holds our own sealed message."""
        if self.for_all:
            return super().accept(result, outcome)
        return self.accept_bundle(result, outcome)
