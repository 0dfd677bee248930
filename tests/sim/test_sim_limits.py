"""The simulator holds runs to the real node's wire limits (netsim.limits):
its count of a message's values and bound on its bytes agree with the real
encoding, it calls a message over the limits exactly when the real decoder
refuses it, and a run that sent one is reported INVALID, in its summary,
its exit status and a sweep. Every summary gives the run's events a
second."""

from __future__ import annotations

import dataclasses

import pytest

from consensus.messages import (
    BLOCKS_PER_FETCH_MAX, PREPARES_MAX, TXS_PER_BLOCK_MAX, VIEW_CHANGES_MAX, Blocks, Forward, MessageError,
    NewView, PreparedCertificate, ViewChange, decode_message, encode_message,
)
from crypto.encoding import check_shape
from netsim import limits
from netsim.report import is_valid, summary
from netsim.run import SimConfig, Simulation
from netsim.sweep import record
from node.cli import main


def sent_messages(scenario: str, nodes: int, seed: int) -> list:
    """Every distinct message object one short run sends."""
    simulation = Simulation(SimConfig(nodes=nodes, faulty=1, seed=seed, duration_s=5, liveness_bound_s=3,
                                      scenario=scenario, rate_tps=600))
    sent: dict[int, object] = {}
    send = simulation.send

    def keep(src, dst, message):
        sent[id(message)] = message
        send(src, dst, message)

    simulation.send = keep
    assert simulation.run()["violations"] == []
    return list(sent.values())


@pytest.fixture(scope="module")
def messages() -> list:
    """Real messages of every kind: a view change after an equivocation (NEW-VIEW
    re-proposing a prepared block), and state transfer after a wipe."""
    return sent_messages("equivocate", 4, 2) + sent_messages("wipe", 4, 3)


def test_the_count_of_values_is_exact_and_the_size_bound_holds_for_every_kind(messages):
    kinds = {type(m).__name__ for m in messages}
    assert kinds >= {"PrePrepare", "Prepare", "Commit", "Checkpoint", "ViewChange", "NewView", "Status",
                     "FetchBlocks", "Blocks", "Forward"}, kinds
    assert any(isinstance(m, NewView) and m.pre_prepare is not None for m in messages)
    for message in messages:
        data = encode_message(message)
        elements, bytes_max = limits.shape(message)
        assert elements == check_shape(data, 32, 10**9), message.KIND
        assert len(data) <= bytes_max, message.KIND
        assert limits.problem(message) is None


def a_view_change_with_a_prepared_certificate(messages) -> ViewChange:
    return next(m for m in messages if isinstance(m, ViewChange) and m.prepared is not None)


def at_the_limits_and_one_beyond(messages) -> list[tuple[object, object]]:
    view_change = a_view_change_with_a_prepared_certificate(messages)
    new_view = next(m for m in messages if isinstance(m, NewView))
    prepared = view_change.prepared
    blocks = next(m for m in messages if isinstance(m, Blocks))

    def with_prepares(count: int) -> ViewChange:
        return dataclasses.replace(view_change, prepared=PreparedCertificate(prepared.pre_prepare,
                                                                             prepared.prepares[:1] * count))

    def with_view_changes(count: int) -> NewView:
        return dataclasses.replace(new_view, view_changes=new_view.view_changes[:1] * count)

    tiny_txs = (b"t",) * 16_000  # 64 blocks of these hold over MESSAGE_ELEMENTS_MAX values
    block = dataclasses.replace(blocks.entries[0][0], txs=tiny_txs)
    return [
        (with_prepares(PREPARES_MAX), with_prepares(PREPARES_MAX + 1)),
        (with_view_changes(VIEW_CHANGES_MAX), with_view_changes(VIEW_CHANGES_MAX + 1)),
        (Forward((b"x",) * TXS_PER_BLOCK_MAX), Forward((b"x",) * (TXS_PER_BLOCK_MAX + 1))),
        (Blocks(blocks.entries[:1] * BLOCKS_PER_FETCH_MAX), Blocks(blocks.entries[:1] * (BLOCKS_PER_FETCH_MAX + 1))),
        (Blocks(((block, blocks.entries[0][1]),) * 62), Blocks(((block, blocks.entries[0][1]),) * 63)),
        (Forward((b"y" * 1_600,) * TXS_PER_BLOCK_MAX), Forward((b"y" * 1_700,) * TXS_PER_BLOCK_MAX)),  # 32 MiB
    ]


def test_a_message_is_over_the_limits_exactly_when_the_real_decoder_refuses_it(messages):
    for fits, over in at_the_limits_and_one_beyond(messages):
        assert limits.problem(fits) is None, fits.KIND
        decode_message(encode_message(fits))
        assert limits.problem(over) is not None, over.KIND
        with pytest.raises(MessageError):
            decode_message(encode_message(over))


def test_a_new_view_above_383_validators_is_named_as_such(messages):
    new_view = next(m for m in messages if isinstance(m, NewView))
    at_384 = dataclasses.replace(new_view, view_changes=new_view.view_changes[:1] * 257)  # the quorum of 384
    assert "a real node refuses a NEW-VIEW above 383 validators" in limits.problem(at_384)


def test_a_run_that_sends_a_message_over_the_limits_is_invalid(monkeypatch, tmp_path, capsys):
    """With the limit on VIEW-CHANGEs a NEW-VIEW may hold lowered to 2, the
    NEW-VIEW of a quorum of 3 out of 4 is over it."""
    settings = dict(nodes=4, faulty=1, seed=2, duration_s=5, liveness_bound_s=3, scenario="equivocate", rate_tps=600)
    assert is_valid(Simulation(SimConfig(**settings)).run())
    monkeypatch.setattr(limits, "VIEW_CHANGES_MAX", 2)
    report = Simulation(SimConfig(**settings)).run()
    assert report["violations"] == [] and not is_valid(report)
    assert report["invalid_messages"] >= 1
    assert "sent a new-view of 3 view-changes (VIEW_CHANGES_MAX 2)" in report["invalid"][0]
    text = summary(report, 2.0)
    assert "OVER THE WIRE LIMITS:" in text
    assert text.splitlines()[-1].startswith(f"INVALID: {report['invalid_messages']} message")
    kept = record(0, report)
    assert kept["violations"] == [f"invalid run: {report['invalid'][0]}"]  # a sweep counts it failed
    argv = ["sim", "run", "--nodes", "4", "--seed", "2", "--duration", "5", "--drain-s", "3",
            "--scenario", "equivocate", "--rate", "600"]
    assert main(argv) == 1
    assert "reproduce with seed=2" in capsys.readouterr().out


def test_every_summary_gives_the_events_a_second():
    report = Simulation(SimConfig(nodes=4, faulty=0, duration_s=3, liveness_bound_s=2, rate_tps=300)).run()
    assert report["events"] > sum(report["messages"][k] for k in ("prepare", "commit"))
    line = next(line for line in summary(report, 0.5).splitlines() if line.startswith("  trace "))
    assert line.endswith(f"({report['duration_s'] / 0.5:.1f} simulated s per wall s, "
                         f"{report['events'] * 2:,} events/s of {report['events']:,})")
