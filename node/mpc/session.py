"""What every MPC session run here shares: its inbox of peers' messages, the
attestation round, and sending.

The attestation round, after a protocol has its outcome (what goes on chain
as the result) and this party's transcript hash: each participant sends its
transcript hash to the coordinator (the first participant, sorted); the
coordinator sends back what to sign (the result and every transcript
hash); each checks it (the result it computed itself, or for a sealed
bundle its own sealed messages in every box, and its own transcript hash)
and signs the attestation (contracts.mpc_state.attestation_bytes) with its node
key; the coordinator puts the result with every signature on chain
(`mpc.result`), where the contract checks every signature again.

A result sealed to recipients (`seal_and_bundle`, node.mpc.sealing): each
sender seals its message to every recipient and sends it to the
coordinator, which bundles them; `accept_bundle` is the senders' (and the
other participants') check of the bundle before they sign it.

A message from anyone but the participant a step expects, or one that does
not fit the session, is refused and the step keeps waiting: it cannot
change what this node signs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from contracts import mpc_state
from crypto import encoding, keys
from crypto.mpc.psi_messages import PsiMessageError
from crypto.mpc.transcript import RECEIVED, SENT, transcript_hash
from node.mpc import sealing

INBOX_MAX = 64  # messages a session keeps: each kind once from each of at most 16 participants, and more


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


class Session:
    """A session of one protocol; subclasses write `run`."""

    def __init__(self, runner, record: dict) -> None:
        self.runner = runner
        self.record = record
        self.id = record["id"]
        self.me = runner.identity.institution
        self.participants = list(record["participants"])
        self.others = [p for p in self.participants if p != self.me]
        self.coordinator = self.participants[0]
        self.for_all = record["result_to"] == [mpc_state.ALL]
        self.inbox = Inbox()
        self.committed = asyncio.Event()   # every participant's commitment is on chain
        self.entries: list[tuple[str, str, bytes]] = []  # the transcript: (direction, peer, message)

    async def run(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ sealed to recipients

    async def seal_and_bundle(self, message: bytes) -> dict:
        """Our `message` sealed to each recipient. A sender other than the
        coordinator sends its sealed messages there and keeps them, to find
        them in the bundle (`accept_bundle`); the coordinator gathers every
        sender's and returns the bundle (what the chain will carry)."""
        sealed = sealing.seal_to_recipients(self.record, message)
        if self.me != self.coordinator:
            self.send_recorded(self.coordinator, "sealed", sealed)
            return {"sealed_mine": sealed}
        others = [s for s in mpc_state.bundle_senders(self.record) if s != self.me]
        gathered = {self.me: sealed, **await self.inbox.wait_for("sealed", others)}
        for peer in others:
            self.note_received(peer, gathered[peer])
        try:
            return sealing.bundle(self.record, gathered)
        except sealing.SealError as exc:
            raise SessionFailed(str(exc)) from None

    def accept_bundle(self, proposed, outcome: dict) -> dict:
        """The coordinator's bundle, once every box holds our own sealed
        message (when we sent one) and its commitment is its digest."""
        try:
            return sealing.checked_bundle(self.record, proposed, self.me, outcome.get("sealed_mine"))
        except sealing.SealError as exc:
            raise SessionFailed(str(exc)) from None

    # ------------------------------------------------------------ the attestation

    async def attest(self, outcome: dict, transcript: bytes) -> None:
        """The attestation round for `outcome` (the mpc.result fields of the result)."""
        if self.me == self.coordinator:
            await self._coordinate(outcome, transcript)
        else:
            await self._sign_for_coordinator(outcome, transcript)

    async def _coordinate(self, outcome: dict, transcript: bytes) -> None:
        transcripts = {self.me: transcript, **await self.inbox.wait_for("transcript", self.others)}
        proposal = {"result": outcome, "transcripts": dict(sorted(transcripts.items()))}
        for peer in self.others:
            self.send(peer, "sign", proposal)
        signatures = {self.me: self.sign(outcome, proposal["transcripts"]),
                      **await self.inbox.wait_for("signature", self.others)}
        await self.runner.submit("mpc.result", {"session": self.id, **outcome,
                                                "transcripts": proposal["transcripts"],
                                                "signatures": dict(sorted(signatures.items()))})

    async def _sign_for_coordinator(self, outcome: dict, transcript: bytes) -> None:
        self.send(self.coordinator, "transcript", transcript)
        proposal = (await self.inbox.wait_for("sign", [self.coordinator]))[self.coordinator]
        if not isinstance(proposal, dict) or not isinstance(proposal.get("transcripts"), dict):
            raise SessionFailed("the coordinator's proposal is malformed")
        transcripts = proposal["transcripts"]
        if transcripts.get(self.me) != transcript or sorted(transcripts) != self.participants:
            raise SessionFailed("the coordinator's transcripts do not hold ours")
        result = self.accept(proposal.get("result"), outcome)
        self.send(self.coordinator, "signature", self.sign(result, transcripts))

    def accept(self, proposed, outcome: dict) -> dict:
        """The coordinator's result, once it is what this party found (else SessionFailed)."""
        if proposed != outcome:
            raise SessionFailed("the coordinator's result is not the one we computed")
        return outcome

    def sign(self, outcome: dict, transcripts: dict[str, bytes]) -> bytes:
        if "result_commitment" in outcome:
            digest = outcome["result_commitment"]
        else:
            digest = mpc_state.clear_result_digest(outcome)
        on_chain = self.runner.commitments(self.record)
        attested = mpc_state.attestation_bytes(self.runner.chain_id, self.id, digest,
                                               mpc_state.commitment_root(on_chain),
                                               mpc_state.transcript_root(transcripts))
        return self.runner.identity.node.sign(keys.MPC_ATTEST_DOMAIN, attested)

    def send(self, peer: str, kind: str, payload) -> None:
        self.runner.send(peer, kind, self.id, payload)

    def send_recorded(self, peer: str, kind: str, payload) -> None:
        """Send, and add the message to this party's transcript."""
        self.send(peer, kind, payload)
        self.entries.append((SENT, peer, bytes_of(payload)))

    def note_received(self, peer: str, payload) -> None:
        self.entries.append((RECEIVED, peer, bytes_of(payload)))

    def transcript(self) -> bytes:
        """The transcript hash of the messages sent and noted received so far."""
        return transcript_hash(self.id.encode(), self.me, self.entries)

    async def off_loop(self, work, *args):
        """`work(*args)` on the node's worker threads (the costly PSI steps);
        a peer's bad PSI message fails the session."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.runner.node.workers, work, *args)
        except PsiMessageError as exc:
            raise SessionFailed(f"a message from a peer: {exc}") from None


def bytes_of(payload) -> bytes:
    return payload if isinstance(payload, bytes) else encoding.encode(payload)
