"""One secure-sum session as this institution's node runs it.

Steps (each bounded by the runner's session timeout; the chain's deadline
height ends a session that is not done, by `mpc.abort`):

1. input: the institution's vector, from its local input file;
2. commit: Pedersen commitments to it go on chain (`mpc.commit`);
3. once every participant's commitments are on chain, the masked vector:
   - result for all (["*"]): sent to every other participant; each
     combines all of them and checks the total against the commitments;
   - result sealed to recipients: sealed to each recipient and sent to the
     coordinator (the first participant), which cannot open them;
4. attest (node.mpc.session): the coordinator gathers transcript hashes and
   node-key signatures over the result (the total, or the sealed bundle once
   each party found its own sealed messages in it) and puts it on chain.
"""

from __future__ import annotations

import logging

from contracts import mpc_state
from crypto import encoding
from crypto.mpc.pedersen import scalar_bytes
from crypto.mpc.secure_sum import SumParty
from crypto.mpc.sum_messages import MessageError, SumCommitments, SumMasked
from crypto.mpc.transcript import transcript_hash
from node.mpc.sealing import bundle_box, bundle_commitment, seal_masked, spec_of
from node.mpc.session import Session, SessionFailed, bytes_of

log = logging.getLogger("consort.mpc")


class SumSession(Session):
    def __init__(self, runner, record: dict) -> None:
        super().__init__(runner, record)
        self.spec = spec_of(record)
        self.entries: list[tuple[str, str, bytes]] = []  # the transcript: (direction, peer, message)

    # ------------------------------------------------------------ the steps

    async def run(self) -> None:
        inputs = await self.runner.inputs_of(self.id, self.spec.length)
        party = SumParty(self.spec, self.me, self.runner.identity.kx, self._kx_publics(), inputs)
        own = party.commitments()
        await self.runner.submit("mpc.commit", {"session": self.id, "commitment": list(own.points)})
        await self.committed.wait()
        on_chain = self.runner.commitments(self.record)
        for participant in self.others:
            party.receive_commitments(SumCommitments(self.spec.session_id, participant,
                                                     tuple(on_chain[participant]["commitment"])))
        masked = party.masked()
        if self.for_all:
            result = await self._exchange_masked(party, masked)
            outcome = {"totals": list(result.sums), "blindings": [scalar_bytes(b) for b in result.blindings]}
        else:
            outcome = await self._seal_to_recipients(masked)
        await self.attest(outcome, transcript_hash(self.spec.session_id, self.me, self.entries))

    def _kx_publics(self) -> dict[str, bytes]:
        return {p: self.record["keys"][p] for p in self.participants}

    async def _exchange_masked(self, party: SumParty, masked: SumMasked):
        encoded = masked.encode()
        for peer in self.others:
            self._send(peer, "masked", encoded)
        received = await self.inbox.wait_for("masked", self.others)
        messages = [masked]
        for peer in self.others:
            self.entries.append(("received", peer, received[peer]))
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

    async def _seal_to_recipients(self, masked: SumMasked) -> dict:
        """Our masked vector sealed to each recipient; the coordinator gathers
        everyone's and answers with the bundle (what the chain will carry)."""
        keys_ = self.record["keys"]
        sealed = {r: seal_masked(masked, keys_[r]) for r in mpc_state.recipients(self.record)}
        if self.me != self.coordinator:
            self._send(self.coordinator, "sealed", sealed)
            return {"sealed_mine": sealed}
        gathered = {self.me: sealed, **await self.inbox.wait_for("sealed", self.others)}
        for peer in self.others:
            self.entries.append(("received", peer, bytes_of(gathered[peer])))
        boxes = {}
        for recipient in mpc_state.recipients(self.record):
            try:
                boxes[recipient] = bundle_box({p: gathered[p][recipient] for p in self.participants})
            except (KeyError, TypeError):
                raise SessionFailed("a participant's sealed messages do not name every recipient") from None
        return {"sealed": boxes, "result_commitment": bundle_commitment(boxes)}

    def accept(self, result, outcome: dict) -> dict:
        """For all: the coordinator's total must be ours. Sealed: its bundle,
        once each recipient's box holds our own sealed message."""
        if self.for_all:
            return super().accept(result, outcome)
        mine = outcome["sealed_mine"]
        if not isinstance(result, dict) or not isinstance(result.get("sealed"), dict):
            raise SessionFailed("the coordinator sent no sealed bundle")
        for recipient, sealed in mine.items():
            try:
                box = encoding.decode(result["sealed"][recipient])
            except (KeyError, TypeError, encoding.DecodeError):
                raise SessionFailed(f"the bundle has no box for {recipient}") from None
            if not isinstance(box, dict) or box.get(self.me) != sealed or sorted(box) != self.participants:
                raise SessionFailed(f"{recipient}'s box does not hold our sealed message")
        if result.get("result_commitment") != bundle_commitment(result["sealed"]):
            raise SessionFailed("the bundle's commitment is not its digest")
        return {"sealed": result["sealed"], "result_commitment": result["result_commitment"]}

    def _send(self, peer: str, kind: str, payload) -> None:
        self.send(peer, kind, payload)
        self.entries.append(("sent", peer, bytes_of(payload)))
