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
4. attest: each sends its transcript hash to the coordinator, which sends
   back what to sign (the result or the sealed bundle, and every
   transcript); each checks it (the same total it computed, or its own
   sealed messages in the bundle, and its own transcript) before signing
   with its node key; the coordinator puts the result with every
   signature on chain (`mpc.result`), where the contract checks them again.

A message from anyone but the participant a step expects, or that does not
fit the session, is refused (logged) and the step keeps waiting: it cannot
change what this node signs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from contracts import mpc_state
from crypto import encoding, keys
from crypto.mpc.pedersen import scalar_bytes
from crypto.mpc.secure_sum import SumParty
from crypto.mpc.sum_messages import MessageError, SumCommitments, SumMasked
from crypto.mpc.transcript import transcript_hash
from node.mpc.sealing import bundle_box, bundle_commitment, seal_masked, spec_of

log = logging.getLogger("consort.mpc")

INBOX_MAX = 64  # messages a session keeps (one step's worth from each of at most 16 participants, and more)


class SessionFailed(Exception):
    """The session cannot go on here (a refusal, a timeout, a full link)."""


@dataclass
class Inbox:
    """What the session's peers sent, by (kind, sender): the first of each only."""

    messages: dict[tuple[str, str], object] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, kind: str, sender: str, payload) -> bool:
        if (kind, sender) in self.messages or len(self.messages) >= INBOX_MAX:
            return False
        self.messages[(kind, sender)] = payload
        self.changed.set()
        return True

    async def wait_for(self, kind: str, senders: list[str]) -> dict[str, object]:
        while True:
            found = {s: self.messages[(kind, s)] for s in senders if (kind, s) in self.messages}
            if len(found) == len(senders):
                return found
            self.changed.clear()
            await self.changed.wait()


class SumSession:
    def __init__(self, runner, record: dict) -> None:
        self.runner = runner
        self.record = record
        self.id = record["id"]
        self.me = runner.identity.institution
        self.spec = spec_of(record)
        self.participants = list(record["participants"])
        self.others = [p for p in self.participants if p != self.me]
        self.coordinator = self.participants[0]
        self.for_all = record["result_to"] == [mpc_state.ALL]
        self.inbox = Inbox()
        self.committed = asyncio.Event()   # every participant's commitments are on chain
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
        transcript = transcript_hash(self.spec.session_id, self.me, self.entries)
        if self.me == self.coordinator:
            await self._coordinate(outcome, transcript)
        else:
            await self._attest(outcome, transcript)

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
            self.entries.append(("received", peer, _bytes_of(gathered[peer])))
        boxes = {}
        for recipient in mpc_state.recipients(self.record):
            try:
                boxes[recipient] = bundle_box({p: gathered[p][recipient] for p in self.participants})
            except (KeyError, TypeError):
                raise SessionFailed("a participant's sealed messages do not name every recipient") from None
        return {"sealed": boxes, "result_commitment": bundle_commitment(boxes)}

    async def _coordinate(self, outcome: dict, transcript: bytes) -> None:
        transcripts = {self.me: transcript, **await self.inbox.wait_for("transcript", self.others)}
        proposal = {"result": outcome, "transcripts": dict(sorted(transcripts.items()))}
        for peer in self.others:
            self._send(peer, "sign", proposal)
        signatures = {self.me: self._sign(outcome, proposal["transcripts"]),
                      **await self.inbox.wait_for("signature", self.others)}
        await self.runner.submit("mpc.result", {"session": self.id, **outcome,
                                                "transcripts": proposal["transcripts"],
                                                "signatures": dict(sorted(signatures.items()))})

    async def _attest(self, outcome: dict, transcript: bytes) -> None:
        self._send(self.coordinator, "transcript", transcript)
        proposal = (await self.inbox.wait_for("sign", [self.coordinator]))[self.coordinator]
        result, transcripts = _proposal_parts(proposal)
        if transcripts.get(self.me) != transcript or sorted(transcripts) != self.participants:
            raise SessionFailed("the coordinator's transcripts do not hold ours")
        if self.for_all and result != outcome:
            raise SessionFailed("the coordinator's total is not the one we computed")
        if not self.for_all:
            result = self._check_bundle(result, outcome["sealed_mine"])
        self._send(self.coordinator, "signature", self._sign(result, transcripts))

    def _check_bundle(self, result, mine: dict[str, bytes]) -> dict:
        """The coordinator's bundle, once each recipient's box holds our own sealed message."""
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

    def _sign(self, outcome: dict, transcripts: dict[str, bytes]) -> bytes:
        if "totals" in outcome:
            digest = mpc_state.clear_result_digest({"totals": outcome["totals"], "blindings": outcome["blindings"]})
        else:
            digest = outcome["result_commitment"]
        on_chain = self.runner.commitments(self.record)
        attested = mpc_state.attestation_bytes(self.runner.chain_id, self.id, digest,
                                               mpc_state.commitment_root(on_chain),
                                               mpc_state.transcript_root(transcripts))
        return self.runner.identity.node.sign(keys.MPC_ATTEST_DOMAIN, attested)

    def _send(self, peer: str, kind: str, payload) -> None:
        self.runner.send(peer, kind, self.id, payload)
        if kind in ("masked", "sealed"):
            self.entries.append(("sent", peer, _bytes_of(payload)))


def _bytes_of(payload) -> bytes:
    return payload if isinstance(payload, bytes) else encoding.encode(payload)


def _proposal_parts(proposal) -> tuple[object, dict]:
    if not isinstance(proposal, dict) or not isinstance(proposal.get("transcripts"), dict):
        raise SessionFailed("the coordinator's proposal is malformed")
    return proposal.get("result"), proposal["transcripts"]
