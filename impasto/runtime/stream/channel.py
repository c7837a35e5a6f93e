"""``FrameChannel``: a bounded, closable hand-off between two threads (torch-free).

Example:
    >>> ch = FrameChannel(capacity=1, drop_stale=True)   # a live camera: the newest frame wins
    >>> ch.put(frame_a); ch.put(frame_b)                 # frame_a is discarded, ch.dropped == 1
    >>> ch.get()                                         # frame_b
    >>> ch.close(); ch.get()                             # None: closed and drained

Convention:
    ``get`` returns ``None`` only when the channel is finished: closed by its producer
    and drained, or cancelled. Items are therefore never ``None``. Every item put is
    either returned by ``get`` or counted in ``dropped`` (replaced by a newer one,
    discarded by ``cancel``, or put after a cancel), so ``put == got + dropped``.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # waits wake up this often so Ctrl-C reaches the main thread promptly


class FrameChannel(Generic[T]):
    """A bounded FIFO between one producer thread and one consumer thread.

    Args:
        capacity: how many items it holds (at least 1).
        drop_stale: when full, ``put`` discards the oldest item instead of waiting
            (latency never grows); otherwise ``put`` blocks until there is room
            (back-pressure: nothing is lost).
    """

    def __init__(self, capacity: int = 1, *, drop_stale: bool = False) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: expected a positive integer, got {capacity}")
        self.capacity = capacity
        self.drop_stale = drop_stale
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._cancelled = False
        self.dropped = 0
        self.delivered = 0

    def put(self, item: T) -> bool:
        """Hand over ``item``; returns False if it was discarded because the channel was cancelled."""
        if item is None:
            raise ValueError("FrameChannel items cannot be None (None marks the end)")
        with self._cond:
            while not self.drop_stale and len(self._items) >= self.capacity and not self._cancelled:
                self._cond.wait(_POLL_S)
            if self._cancelled or self._closed:
                self.dropped += 1
                return False
            if len(self._items) >= self.capacity:  # drop_stale: the newest frame wins
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self) -> T | None:
        """The oldest item, waiting for one; ``None`` once closed and drained, or cancelled."""
        with self._cond:
            while not self._items and not (self._closed or self._cancelled):
                self._cond.wait(_POLL_S)
            if self._cancelled or not self._items:
                return None
            item = self._items.popleft()
            self.delivered += 1
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """The producer is done: the consumer still gets what is queued, then ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def cancel(self) -> None:
        """Abort: discard what is queued (counted as dropped) and wake both sides."""
        with self._cond:
            self.dropped += len(self._items)
            self._items.clear()
            self._cancelled = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
