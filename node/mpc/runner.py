"""The MPC runner: after each block it looks for sessions that name this
institution as a participant, runs each (node.mpc.sum_session,
psi_session, threshold_session: SESSION_KINDS) as a task of its own,
tells them when every commitment is on chain, and sends `mpc.abort` for a
session still open past its deadline height.

Its node's config names what it needs in an "mpc" section:

    "mpc": {"key": "mpc.key", "client_key": "mpc-client.key", "inputs": "mpc-inputs",
            "capture": "mpc-sent.capture"}

- `key`: a key file (encrypted like every key, same passphrase as the node
  key) whose seed derives the institution's X25519 key pair
  (crypto_kx_seed_keypair of a domain-separated digest of the seed): its
  public half is the `mpc_key` registered in genesis or by governance;
- `client_key`: a client key of the institution, which signs the node's
  mpc.commit, mpc.result and mpc.abort transactions;
- `inputs`: a local folder where the institution puts its input to a
  session, `<session id>.json` = {"values": [...]} (a sum; a threshold
  check's one figure) or {"elements": [...]} (a PSI set), mode 0600
  (`consort mpc input` writes it); it is read by this node only;
- `capture` (optional): a file where the node appends every MPC message it
  sends (node.mpc.channel.OutboundCapture), for the institution's review.

The node's metrics count how each of its sessions ends here: `done` (our
part finished), `failed_here` (our part failed or timed out), `aborted`
(the chain says the session was aborted; one that failed here usually
ends so too, and then counts under both).

Bounded: at most SESSIONS_MAX sessions at once (one beyond is left to
abort at its deadline), each at most SESSION_TIMEOUT_S; at most EARLY_MAX
messages kept for sessions this node has not seen opened yet.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from contracts import mpc_state
from contracts.tx import sign_tx
from crypto import hashing, keys
from crypto.mpc.masking import kx_keypair
from crypto.mpc.sum_messages import MessageError
from node.mpc.channel import MPC_QUEUE_MAX, MpcInbound, OutboundCapture, encode_mpc
from node.mpc.psi_session import PsiSession
from node.mpc.session import Session, SessionFailed
from node.mpc.sum_session import SumSession
from node.mpc.threshold_session import ThresholdSession
from node.runtime.admission import Busy, Rejected
from node.runtime.peers import MPC_PEER_PATH, PeerLinks

log = logging.getLogger("consort.mpc")

SESSIONS_MAX = 16
SESSION_TIMEOUT_S = 300.0
EARLY_MAX = 256
INPUT_POLL_S = 0.2
INPUT_FILE_BYTES_MAX = 1024 * 1024
KX_SEED_DOMAIN = "mpc-kx-seed"
INPUTS_DEFAULT = "mpc-inputs"
SESSION_KINDS = {"sum": SumSession, "psi_cardinality": PsiSession, "psi_intersection": PsiSession,
                 "threshold": ThresholdSession}


@dataclass(frozen=True)
class MpcIdentity:
    institution: str
    kx: tuple[bytes, bytes]   # X25519 (public, secret)
    client: keys.Signer       # signs the node's mpc transactions
    node: keys.Signer         # the node key: signs attestations
    inputs: Path
    capture: OutboundCapture | None = None


def kx_from_key_file(key_pair: keys.KeyPair) -> tuple[bytes, bytes]:
    """The X25519 pair an MPC key file stands for."""
    return kx_keypair(hashing.digest(KX_SEED_DOMAIN, key_pair.seed))


class MpcRunner:
    def __init__(self, node, identity: MpcIdentity, links: PeerLinks) -> None:
        self.node = node
        self.identity = identity
        self.links = links
        self.chain_id = node.genesis.chain_id
        self.sessions: dict[str, Session] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.watching: dict[str, int] = {}   # sessions of ours still open on chain: their deadline height
        self.aborts_sent: set[str] = set()
        self.early: deque = deque(maxlen=EARLY_MAX)
        self.seen = 0                         # sessions looked at, by number
        self.failures = 0
        self._nonce = time.time_ns() // 1000
        self._follow_task: asyncio.Task | None = None
        self._dirty = False
        self._directory: tuple = ()

    # ------------------------------------------------------------ the chain

    def on_block(self, height: int) -> None:
        """A block was applied (called on the consensus task): look again, soon."""
        self._dirty = True
        if self._follow_task is None or self._follow_task.done():
            self._follow_task = asyncio.create_task(self._follow(), name="mpc-follow")

    async def _follow(self) -> None:
        while self._dirty:
            self._dirty = False
            if self.node.membership.entries != self._directory:
                self._directory = self.node.membership.entries
                await self.links.set_peers(self.node.membership.peer_urls())
            self._start_new_sessions()
            await self._check_sessions()

    def _start_new_sessions(self) -> None:
        state = self.node.ledger.view
        count = mpc_state.session_count(state)
        while self.seen < count:
            self.seen += 1
            record = mpc_state.session(state, mpc_state.session_id_of(self.seen))
            if record is None or self.identity.institution not in record["participants"] \
                    or record["status"] != mpc_state.OPEN:
                continue
            self.watching[record["id"]] = record["deadline_height"]
            if record["protocol"] not in SESSION_KINDS:
                log.warning("session %s: this node does not run %s; it aborts at its deadline", record["id"],
                            record["protocol"])
            elif len(self.tasks) >= SESSIONS_MAX:
                log.warning("session %s: %d sessions already run here; it aborts at its deadline", record["id"],
                            SESSIONS_MAX)
            else:
                self._start(record)

    def _start(self, record: dict) -> None:
        session = SESSION_KINDS[record["protocol"]](self, record)
        self.sessions[record["id"]] = session
        for peer_key, kind, session_id, payload in [m for m in self.early if m[2] == record["id"]]:
            self._deliver(session, peer_key, kind, payload)
        self.tasks[record["id"]] = asyncio.create_task(self._run(session), name=f"mpc-{record['id']}")
        log.info("session %s: %s among %s started", record["id"], record["protocol"],
                 ", ".join(record["participants"]))

    async def _run(self, session: Session) -> None:
        try:
            async with asyncio.timeout(SESSION_TIMEOUT_S):
                await session.run()
            log.info("session %s: our part is done", session.id)
            self.node.metrics.mpc_session_ended("done")
        except (SessionFailed, MessageError, ValueError, KeyError, asyncio.QueueFull, TimeoutError) as exc:
            self.failures += 1
            self.node.metrics.mpc_session_ended("failed_here")
            log.warning("session %s failed here: %s", session.id, exc or type(exc).__name__)
        finally:
            self.tasks.pop(session.id, None)

    async def _check_sessions(self) -> None:
        state, height = self.node.ledger.view, self.node.ledger.tip.height
        for session_id, deadline in list(self.watching.items()):
            record = mpc_state.session(state, session_id)
            if record["status"] != mpc_state.OPEN:
                if record["status"] == mpc_state.ABORTED:
                    self.node.metrics.mpc_session_ended("aborted")
                self._forget(session_id)
                continue
            session = self.sessions.get(session_id)
            if session is not None and len(record["commits"]) == len(record["participants"]):
                session.record = record  # now with every participant's commit
                session.committed.set()
            if height > deadline and session_id not in self.aborts_sent:
                self.aborts_sent.add(session_id)
                await self._try_submit("mpc.abort", {"session": session_id})

    def _forget(self, session_id: str) -> None:
        self.watching.pop(session_id, None)
        self.sessions.pop(session_id, None)
        self.aborts_sent.discard(session_id)
        task = self.tasks.pop(session_id, None)
        if task is not None:
            task.cancel()

    def commitments(self, record: dict) -> dict[str, dict]:
        return mpc_state.commitments(self.node.ledger.view, record)

    # ------------------------------------------------------------ transactions

    async def submit(self, tx_type: str, args: dict) -> None:
        """Sign with the institution's MPC client key and admit it at this node."""
        self._nonce = max(self._nonce + 1, time.time_ns() // 1000)
        tx = sign_tx(self.identity.client, self.chain_id, self._nonce, tx_type, args)
        try:
            await self.node.submit([tx])
        except (Rejected, Busy) as exc:
            raise SessionFailed(f"{tx_type} refused: {exc}") from None

    async def _try_submit(self, tx_type: str, args: dict) -> None:
        try:
            await self.submit(tx_type, args)
        except SessionFailed as exc:
            log.warning("%s", exc)

    # ------------------------------------------------------------ messages

    def send(self, institution: str, kind: str, session_id: str, payload) -> None:
        """Queue a message for `institution`'s node (SessionFailed if it cannot be)."""
        keys_ = [e.node_key for e in self.node.membership.entries if e.institution == institution]
        message = encode_mpc(kind, session_id, payload)
        for node_key in keys_:
            try:
                self.links.send(node_key, message)
                if self.identity.capture is not None:
                    self.identity.capture.append(message)
                return
            except (KeyError, asyncio.QueueFull):
                continue
        raise SessionFailed(f"no room on the MPC link to {institution}")

    async def on_message(self, peer_key: bytes, kind: str, session_id: str, payload) -> None:
        session = self.sessions.get(session_id)
        if session is None:
            self.early.append((peer_key, kind, session_id, payload))  # the oldest goes when full
            return
        self._deliver(session, peer_key, kind, payload)

    def _deliver(self, session: Session, peer_key: bytes, kind: str, payload) -> None:
        sender = self.node.membership.institution_of(peer_key)
        if sender is None or sender not in session.participants or not session.inbox.put(kind, sender, payload):
            log.warning("session %s: refused a %s message from %s", session.id, kind, sender or peer_key.hex()[:8])

    # ------------------------------------------------------------ inputs

    async def _input(self, session_id: str, name: str) -> tuple[Path, object]:
        """The `name` field of the institution's input file for the session, once the file is there."""
        path = self.identity.inputs / f"{session_id}.json"
        while not path.exists():
            await asyncio.sleep(INPUT_POLL_S)
        raw = path.read_bytes()[:INPUT_FILE_BYTES_MAX + 1]
        try:
            found = json.loads(raw)[name]
        except (ValueError, KeyError, TypeError):
            raise SessionFailed(f"{path} is not {{\"{name}\": [...]}}") from None
        if len(raw) > INPUT_FILE_BYTES_MAX or not isinstance(found, list):
            raise SessionFailed(f"{path}: {name} must be a list, in at most {INPUT_FILE_BYTES_MAX} bytes")
        return path, found

    async def inputs_of(self, session_id: str, length: int) -> list[int]:
        """A sum's input: `length` integers."""
        path, values = await self._input(session_id, "values")
        if len(values) != length or not all(type(v) is int for v in values):
            raise SessionFailed(f"{path} must hold {length} integers")
        return values

    async def elements_of(self, session_id: str, size_max: int) -> list[bytes]:
        """A PSI's input: at most `size_max` distinct strings (UTF-8, the elements)."""
        path, elements = await self._input(session_id, "elements")
        if len(elements) > size_max or not all(isinstance(e, str) for e in elements):
            raise SessionFailed(f"{path} must hold at most {size_max} strings")
        return [e.encode() for e in elements]

    def write_result(self, session_id: str, document: dict) -> Path:
        """What this institution alone learnt from a session (a PSI
        intersection): `<session>.result.json` in its local folder, mode 0600."""
        return write_local(self.identity.inputs, f"{session_id}.result.json", document)

    async def close(self) -> None:
        for task in [*self.tasks.values(), *([self._follow_task] if self._follow_task else [])]:
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await self.links.close()


def write_local(folder: Path, name: str, document: dict) -> Path:
    """`document` as JSON in `folder` (made 0700 if absent) under `name`,
    mode 0600, written whole (through a temporary name): an institution's
    input to a session (`<session>.json`), or what it alone learnt."""
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)
    os.replace(temporary, folder / name)
    return folder / name


def inputs_folder(config_path: Path, section: dict) -> Path:
    """The local folder of a node's MPC inputs (and of what it alone learns)."""
    return (Path(config_path).parent / section.get("inputs", INPUTS_DEFAULT)).resolve()


def mpc_section(config_path: Path) -> dict | None:
    """The "mpc" section of a node config, or None."""
    section = json.loads(Path(config_path).read_text()).get("mpc")
    if section is None:
        return None
    if not isinstance(section, dict) or not all(isinstance(section.get(k), str) for k in ("key", "client_key")) \
            or not all(isinstance(section.get(k, ""), str) for k in ("inputs", "capture")):
        raise ValueError(f"{config_path}: 'mpc' must name 'key' and 'client_key' files (and may name 'inputs' "
                         f"and 'capture')")
    return section


async def attach(node, app):
    """The server extension: MPC links on their own endpoint and the runner
    following the chain, if the node's config has an "mpc" section."""
    section = mpc_section(node.config.path)
    if section is None:
        async def nothing() -> None:
            return None
        return nothing
    base = node.config.path.parent
    identity = MpcIdentity(
        institution=node.config.institution,
        kx=kx_from_key_file(node.open_key_file(base / section["key"])),
        client=node.open_key_file(base / section["client_key"]).signer(),
        node=node.inbound.signer,
        inputs=inputs_folder(node.config.path, section),
        capture=OutboundCapture(base / section["capture"]) if section.get("capture") else None)
    identity.inputs.mkdir(mode=0o700, parents=True, exist_ok=True)
    limits = dataclasses.replace(node.config.limits, peer_queue_max=MPC_QUEUE_MAX)
    links = PeerLinks(node.genesis.chain_id, node.inbound.signer, node.membership.peer_urls(), limits,
                      node.tls.client if node.tls else None, path=MPC_PEER_PATH, lossless=True)
    inbound = MpcInbound(node.genesis.chain_id, node.inbound.signer, limits, node.inbound.checks,
                         asyncio.Queue(1), tls_required=node.tls is not None)
    runner = MpcRunner(node, identity, links)
    inbound.handler = runner.on_message
    app.router.add_get(MPC_PEER_PATH, inbound.handle)
    node.block_listeners.append(runner.on_block)
    await links.start()
    runner.on_block(node.ledger.tip.height)  # sessions opened while it was down
    return runner.close
