"""Multi-party computation primitives, as pure functions and step-by-step
protocol objects: Pedersen commitments on the ed25519 group (`pedersen`),
the secure sum of integer vectors by pairwise masking (`secure_sum`, with
its pair seeds and mask streams in `masking` and its messages in
`sum_messages`), Diffie-Hellman private set intersection and its
cardinality (`psi`, messages in `psi_messages`), a threshold check that
reveals only whether a secure sum exceeds a limit (`threshold`), and the
transcript hash a participant attests to (`transcript`).

Nothing here sends or receives: a protocol object takes the messages its
caller received and returns the messages to send, so the node's MPC room
(node.mpc) drives it over peer links and a test drives it in memory. No
clock, no I/O, no global state; fresh secrets are drawn only by functions
that say so and take an `rng` for tests.

Arrows: this package imports crypto only (crypto.encoding, crypto.hashing)
and never consensus, contracts, node or netsim; it is imported by contracts
(the mpc contract checks commitments and attestations) and by node.mpc.
"""
