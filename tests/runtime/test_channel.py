"""``FrameChannel``: newest-frame-wins dropping, back-pressure, close and cancel."""

from __future__ import annotations

import threading
import time

import pytest

from impasto.runtime.stream.channel import FrameChannel


def test_drop_stale_keeps_the_newest_and_counts_the_rest():
    ch = FrameChannel(1, drop_stale=True)
    for i in range(5):
        assert ch.put(i) is True
    assert len(ch) == 1 and ch.dropped == 4
    assert ch.get() == 4
    ch.close()
    assert ch.get() is None
    assert ch.delivered == 1


def test_blocking_channel_delivers_everything_in_order():
    ch = FrameChannel(2)
    got = []

    def consume():
        while (item := ch.get()) is not None:
            got.append(item)
            time.sleep(0.001)  # slower than the producer: put must wait, not drop

    t = threading.Thread(target=consume)
    t.start()
    for i in range(50):
        ch.put(i)
    ch.close()
    t.join(5)
    assert not t.is_alive()
    assert got == list(range(50)) and ch.dropped == 0


def test_close_drains_what_is_queued_first():
    ch = FrameChannel(3)
    ch.put("a")
    ch.put("b")
    ch.close()
    assert [ch.get(), ch.get(), ch.get()] == ["a", "b", None]
    assert ch.put("late") is False and ch.dropped == 1


def test_cancel_wakes_a_blocked_producer_and_counts_discarded_items():
    ch = FrameChannel(1)
    ch.put("queued")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("put", ch.put("blocked")))
    t.start()
    time.sleep(0.05)
    assert t.is_alive()  # full and blocking
    ch.cancel()
    t.join(2)
    assert result["put"] is False
    assert ch.get() is None and ch.dropped == 2


def test_none_items_and_bad_capacity_are_rejected():
    with pytest.raises(ValueError):
        FrameChannel(1).put(None)
    with pytest.raises(ValueError):
        FrameChannel(0)
