"""One PSI session as this institution's node runs it (crypto.mpc.psi: its
threat model, including what a probing party can still learn within
governance's per-pair rate limit):

- psi_cardinality, for all members: two banks learn how many elements (say,
  customer identifiers) their sets share, and the count goes on chain;
  neither learns which;
- psi_intersection, for its two parties only: each learns which of its own
  elements the other holds too, written to its node's local folder
  (`<session>.result.json`, mode 0600, next to its input); the chain gets
  the count sealed to each of the two, and the commitment they both sign;
- psi_cardinality sealed to recipients that are not parties (say, the
  regulator, or a third bank): the two banks learn only each other's set
  size. Cardinality-to-regulator: instead of sending its double-blinding
  of the other's set back, each seals it to every recipient; the
  coordinator bundles both (node.mpc.sealing), and the recipient counts.

1. input: the institution's set, `{"elements": ["...", ...]}` in its local
   input file (each element a string of at most 256 bytes in UTF-8, at
   most the session's set_size_max of them);
2. commit: a salted hash of the sorted set (the salt stays here), which is
   also this party's consent to the session on chain;
3. once both commitments are on chain: each sends its blinded set, blinds
   the other's and sends it back (or seals it to the recipients), and
   counts the common double-blinded values (the blinding, the costly part,
   runs on the node's worker threads, off the event loop);
4. attest (node.mpc.session): the coordinator proposes the count (sealed,
   for an intersection; the sealed bundle, for recipients); the other signs
   only the count it found itself (opening its own box, for an
   intersection), or the bundle once its own sealed sets are in it.

A peer's blinded set larger than the session's set_size_max is refused.
"""

from __future__ import annotations

import secrets

from nacl import bindings

from contracts import mpc_state
from crypto import encoding, hashing
from crypto.mpc.psi import PsiInputError, PsiParty
from crypto.mpc.psi_messages import PsiMessageError, Role, Variant, decode_message
from node.mpc.session import Session, SessionFailed

SET_COMMIT_DOMAIN = "mpc-psi-set"
SALT_BYTES = 32


def set_commitment(elements: list[bytes], salt: bytes) -> bytes:
    return hashing.digest(SET_COMMIT_DOMAIN, salt + encoding.encode(sorted(elements)))


class PsiSession(Session):
    def _variant(self) -> Variant:
        """What this session reveals to whom (its record, as the contract admitted it)."""
        recipients = mpc_state.recipients(self.record)
        if self.record["protocol"] == mpc_state.PSI_INTERSECTION and recipients == self.participants:
            return Variant.INTERSECTION
        if self.record["protocol"] == mpc_state.PSI_CARDINALITY and self.for_all:
            return Variant.CARDINALITY
        if self.record["protocol"] == mpc_state.PSI_CARDINALITY and not set(recipients) & set(self.participants):
            return Variant.CARDINALITY_TO_REGULATOR
        raise SessionFailed("this node runs a PSI cardinality for all members or sealed to non-parties, or an "
                            "intersection for its two parties")

    async def run(self) -> None:
        variant = self._variant()
        elements = await self.runner.elements_of(self.id, self.record["params"]["set_size_max"])
        role = Role.INITIATOR if self.me == self.coordinator else Role.RESPONDER
        try:
            party = PsiParty(self.id.encode(), role, elements, variant)
        except PsiInputError as exc:
            raise SessionFailed(f"our set: {exc}") from None
        await self.off_loop(party.prepare)
        commitment = set_commitment(elements, secrets.token_bytes(SALT_BYTES))
        await self.runner.submit("mpc.commit", {"session": self.id, "commitment": [commitment]})
        await self.committed.wait()
        peer = self.others[0]
        self.send(peer, "blinded", party.first_message())
        blinded = await self._from_peer("blinded", peer)
        step = await self.off_loop(party.respond, blinded)
        if variant == Variant.CARDINALITY_TO_REGULATOR:  # the count is for the recipients alone
            await self.attest(await self.seal_and_bundle(step.to_regulator), party.transcript_hash)
            return
        intersection = variant == Variant.INTERSECTION
        self.send(peer, "double", step.to_peer)
        doubled = await self._from_peer("double", peer)
        result = await self.off_loop(party.finish, doubled)  # a bad set fails the session
        self.count = result.count
        if not intersection:
            await self.attest({"count": result.count}, party.transcript_hash)
            return
        self.runner.write_result(self.id, {"count": result.count,
                                           "intersection": sorted(e.decode() for e in result.elements)})
        # only the coordinator seals; the other checks the coordinator's boxes against its own count (`accept`)
        outcome = self._sealed_count(result.count) if self.me == self.coordinator else {"count": result.count}
        await self.attest(outcome, party.transcript_hash)

    def _sealed_count(self, count: int) -> dict:
        """The count sealed to each of the two parties, and its commitment."""
        salt = secrets.token_bytes(SALT_BYTES)
        content = mpc_state.sealed_content({"count": count}, salt)
        boxes = {p: bindings.crypto_box_seal(content, self.record["keys"][p]) for p in self.participants}
        return {"sealed": boxes, "result_commitment": mpc_state.sealed_result_commitment({"count": count}, salt)}

    def accept(self, proposed, outcome: dict) -> dict:
        """A count for all, once it is ours; a count for recipients, once our
        sealed sets are in the bundle; an intersection's sealed count, once
        our own box opens to the count we found and matches the commitment."""
        if self.for_all:
            return super().accept(proposed, outcome)
        if self.record["protocol"] == mpc_state.PSI_CARDINALITY:
            return self.accept_bundle(proposed, outcome)
        public, secret = self.runner.identity.kx
        try:
            box = proposed["sealed"][self.me]
            opened = encoding.decode(bindings.crypto_box_seal_open(box, public, secret))
            commitment = proposed["result_commitment"]
        except Exception:  # noqa: BLE001 - nacl's CryptoError, a missing box, junk: all the coordinator's fault
            raise SessionFailed("the coordinator's sealed count does not open for us") from None
        salt = opened.get("salt") if isinstance(opened, dict) else None
        if not isinstance(salt, bytes) or len(salt) != SALT_BYTES or opened.get("result") != {"count": self.count} \
                or mpc_state.sealed_result_commitment(opened["result"], salt) != commitment \
                or sorted(proposed["sealed"]) != self.participants:
            raise SessionFailed("the coordinator's sealed count is not the count we found")
        return {"sealed": proposed["sealed"], "result_commitment": commitment}

    async def _from_peer(self, kind: str, peer: str) -> bytes:
        payload = (await self.inbox.wait_for(kind, [peer]))[peer]
        if not isinstance(payload, bytes):
            raise SessionFailed(f"{peer}'s {kind} set is not bytes")
        try:
            message = decode_message(payload, check_group=False)  # the protocol checks the points
        except PsiMessageError as exc:
            raise SessionFailed(f"{peer}'s {kind} set: {exc}") from None
        if len(message.points) > self.record["params"]["set_size_max"]:
            raise SessionFailed(f"{peer}'s set is larger than the session's set_size_max")
        return payload
