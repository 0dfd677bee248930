"""Trust primitives shared by every other package.

Canonical encoding, domain-separated hashing, Ed25519 keys and signatures,
passphrase-encrypted key files, X.509 certificates of the consortium's CA
chain, Merkle trees with inclusion proofs. Pure functions over bytes (the key
files excepted, read and written whole): nothing here opens a socket, reads
a clock, the environment or a terminal, or keeps global mutable state beyond
caches.
It sits below everything else: it must not import consensus, contracts,
node or netsim.
"""
