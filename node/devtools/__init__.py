"""Tools for tests, the demo and benchmarks: the local consortium writer
(`consortium`), the process launcher (`cluster`), the offline chain builder
(`chainbuilder`), the supply-chain-finance and MPC stories (`story`,
`mpc_story`), the progress display of long commands (`progress`, for the
CLI and the scripts), the scripts' work folder (`workfolder`), and the
bench's open-loop load (`loadgen`: its pure arithmetic; `openloop`: the
load itself) and its readings of the machine (`machine`: CPU and memory
of processes, the Ed25519 verification rate).

May import the runtime, the client and the audit; never imported by the
runtime, the API or the auditor.
"""
