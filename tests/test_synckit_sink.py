"""Spaced checkpoints: rows go through at once, states only every so often, and the last one always."""

from __future__ import annotations

from synckit.sink import MemorySink, SpacedCheckpoints


def test_a_checkpoint_waits_for_its_time_and_the_latest_state_is_written():
    now = [0.0]
    inner = MemorySink()
    spaced = SpacedCheckpoints(inner, 10, clock=lambda: now[0])
    state = {"page": 1}
    spaced.upsert("t", {"id": 1})
    spaced.checkpoint(state)
    state["page"] = 2  # the deferred copy is the state as it was when it was given
    assert inner.checkpoints == 0 and spaced.pending == {"page": 1}
    now[0] = 11
    spaced.checkpoint({"page": 3})
    assert inner.checkpoints == 1 and inner.state == {"page": 3} and spaced.pending is None
    spaced.checkpoint({"page": 4})
    spaced.force()
    assert inner.checkpoints == 2 and inner.state == {"page": 4}
    spaced.force()  # nothing pending: nothing written
    assert inner.checkpoints == 2


def test_a_row_limit_writes_the_checkpoint_early():
    inner = MemorySink()
    spaced = SpacedCheckpoints(inner, 3600, clock=lambda: 0.0, rows=3)
    for i in range(2):
        spaced.upsert("t", {"id": i})
    spaced.checkpoint({"n": 2})
    assert inner.checkpoints == 0
    spaced.delete("t", {"id": 0})
    spaced.checkpoint({"n": 3})
    assert inner.checkpoints == 1 and inner.state == {"n": 3} and spaced.rows == 0


def test_zero_seconds_writes_every_checkpoint():
    inner = MemorySink()
    spaced = SpacedCheckpoints(inner, 0)
    for n in range(3):
        spaced.checkpoint({"n": n})
    assert inner.checkpoints == 3


def test_deliver_uses_a_given_sink_and_writes_the_last_checkpoint_of_a_failed_sync(monkeypatch):
    import pytest

    from synckit import sink as sink_module

    given = MemorySink()
    sink_module.deliver(lambda out: out.checkpoint({"n": 1}), given)
    assert given.checkpoints == 1  # a test's sink is used as it is: every checkpoint goes through

    inner = MemorySink()
    monkeypatch.setattr(sink_module, "production", lambda: SpacedCheckpoints(inner, 3600, clock=lambda: 0.0))

    def failing(out):
        out.checkpoint({"page": 7})
        raise RuntimeError("table failed")

    with pytest.raises(RuntimeError):
        sink_module.deliver(failing, None)
    assert inner.checkpoints == 1 and inner.state == {"page": 7}
