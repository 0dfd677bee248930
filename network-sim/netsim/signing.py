"""Cheap deterministic stand-ins for Ed25519 in simulation: a signature is a
keyed SHA-256 the simulator's verifier can check, so forged or altered
messages still fail verification exactly as they would on the real node."""

from __future__ import annotations

import hashlib


class FakeKeys:
    def __init__(self, n: int, seed: int) -> None:
        self.secrets = [hashlib.sha256(f"netsim-key/{seed}/{i}".encode()).digest() for i in range(n)]
        self.public_keys = tuple(hashlib.sha256(b"public" + s).digest() for s in self.secrets)
        self._by_public = dict(zip(self.public_keys, self.secrets))

    def share(self, address: int, holder: int) -> None:
        """Address `address` holds `holder`'s key from now on (Twins: two nodes, one key)."""
        self._by_public.pop(self.public_keys[address])
        self.secrets[address] = self.secrets[holder]
        keys = list(self.public_keys)
        keys[address] = keys[holder]
        self.public_keys = tuple(keys)

    def signer(self, replica_id: int) -> "FakeSigner":
        return FakeSigner(self.public_keys[replica_id], self.secrets[replica_id])

    def verify(self, public_key: bytes, domain: str, data: bytes, signature: bytes) -> bool:
        secret = self._by_public.get(public_key)
        return secret is not None and signature == _mac(secret, domain, data)


class FakeSigner:
    __slots__ = ("public_key", "_secret")

    def __init__(self, public_key: bytes, secret: bytes) -> None:
        self.public_key = public_key
        self._secret = secret

    def sign(self, domain: str, data: bytes) -> bytes:
        return _mac(self._secret, domain, data)


def _mac(secret: bytes, domain: str, data: bytes) -> bytes:
    first = hashlib.sha256(secret + domain.encode() + b"\x00" + data).digest()
    return first + hashlib.sha256(first).digest()
