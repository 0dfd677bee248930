"""Start and stop local node processes (for the demo, the bench and tests),
and clients of them that sign their requests with an institution's client
key (`client`).

Every process started here is tracked and stopped by `close()`, also when
the caller fails; readiness is polled with a deadline, never a fixed sleep.
Each node gets the passphrase of its key files over a pipe
(`--passphrase-fd`), so it is in no file and no process's environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from crypto import keys
from crypto.keys import read_key_file
from node.client import ClientError, ConsortClient
from node.runtime.passphrase import ENV_VAR

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class LocalCluster:
    def __init__(self, directory: Path, log_level: str = "info", *, passphrase: str, insecure: bool = False) -> None:
        """`insecure`: start the nodes with --insecure (plain HTTP, no certificates: to measure what TLS costs)."""
        self.directory = Path(directory).resolve()
        self.index = json.loads((self.directory / "consortium.json").read_text())
        self.institutions = self.index["institutions"]
        self.log_level = log_level
        self.passphrase = passphrase
        self.insecure = insecure
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def urls(self) -> list[str]:
        if self.insecure:
            return [entry["url"].replace("https://", "http://", 1) for entry in self.institutions]
        return [entry["url"] for entry in self.institutions]

    @property
    def operator_urls(self) -> list[str | None]:
        """Each node's operator site (/metrics, /healthz, /readyz; plain HTTP), None
        for a node whose consortium.json entry names none (written before it existed)."""
        return [entry.get("operator_url") for entry in self.institutions]

    @property
    def ca(self) -> Path | None:
        """The consortium's root certificate: what clients of its nodes trust (None: --insecure)."""
        return None if self.insecure else self.directory / self.index["ca_cert"]

    @property
    def chain_id(self) -> bytes:
        return bytes.fromhex(self.index["chain_id"])

    @property
    def regulator(self) -> str | None:
        """The regulator's institution id, if the consortium has one (it sees every party's data)."""
        regulators = self.index.get("regulators", [])
        return regulators[0]["id"] if regulators else None

    def signer(self, institution: str) -> keys.Signer:
        """The first client key of `institution` (a node's or the regulator's)."""
        entries = [*self.institutions, *self.index.get("regulators", [])]
        entry = next(e for e in entries if e["id"] == institution)
        return read_key_file(self.directory / entry["client_keys"][0], self.passphrase).signer()

    def client(self, replica_id: int, institution: str | None = None, timeout_s: float = 60.0) -> ConsortClient:
        """A client of node `replica_id` that signs as `institution` (default: the node's own)."""
        who = self.institutions[replica_id]["id"] if institution is None else institution
        return ConsortClient(self.urls[replica_id], timeout_s=timeout_s, signer=self.signer(who),
                             chain_id=self.chain_id, ca=self.ca)

    def start(self, replica_id: int) -> None:
        entry = self.institutions[replica_id]
        assert replica_id not in self.processes or self.processes[replica_id].poll() is not None
        log_path = self.directory / entry["id"] / "node.log"
        env = {name: value for name, value in os.environ.items() if name != ENV_VAR}
        read_end, write_end = os.pipe()
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(self.passphrase.encode() + b"\n")  # far below a pipe's buffer
            with open(log_path, "ab") as log_file:
                self.processes[replica_id] = subprocess.Popen(
                    [sys.executable, "-m", "node.cli", "--log-level", self.log_level, "node", "start",
                     "--config", str(self.directory / entry["config"]), "--passphrase-fd", str(read_end),
                     *(["--insecure"] if self.insecure else [])],
                    stdout=log_file, stderr=subprocess.STDOUT, pass_fds=(read_end,),
                    env={**env, "PYTHONUNBUFFERED": "1"},
                )
        finally:
            os.close(read_end)

    def start_all(self) -> None:
        for replica_id in range(len(self.institutions)):
            self.start(replica_id)

    def kill(self, replica_id: int, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(replica_id, None)
        if process is not None:
            _signal_and_wait([process], sig)

    def close(self) -> None:
        """Stop every node: all are told at once, then waited for. Stopping
        them one by one would add up each node's wait for its peers' links
        to close."""
        processes, self.processes = list(self.processes.values()), {}
        _signal_and_wait(processes, signal.SIGTERM)

    @property
    def pids(self) -> dict[str, int]:
        """The process id of each node started here and still running, by institution id."""
        return {self.institutions[replica_id]["id"]: process.pid
                for replica_id, process in sorted(self.processes.items()) if process.poll() is None}

    def alive(self, replica_id: int) -> bool:
        process = self.processes.get(replica_id)
        return process is not None and process.poll() is None

    async def wait_ready(self, replica_ids: list[int] | None = None, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until each node answers and has its outbound peer links up."""
        replica_ids = list(range(len(self.institutions))) if replica_ids is None else replica_ids
        deadline = time.monotonic() + timeout_s
        for replica_id in replica_ids:
            async with self.client(replica_id, timeout_s=2.0) as client:
                while True:
                    if not self.alive(replica_id):
                        raise RuntimeError(f"node {replica_id} exited; see its node.log")
                    try:
                        status = await client.status()
                        wanted = {self.institutions[r]["id"] for r in replica_ids}
                        links = [p["outbound"] for name, p in status["peers"].items() if name in wanted]
                        if all(links):
                            break
                    except ClientError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"node {replica_id} not ready after {timeout_s} s")
                    await asyncio.sleep(0.05)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _signal_and_wait(processes: list[subprocess.Popen], sig: int) -> None:
    """Send `sig` to each running process of `processes`, then wait for them
    all, STOP_TIMEOUT_S in all; those still running then are killed."""
    running = [process for process in processes if process.poll() is None]
    for process in running:
        process.send_signal(sig)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
