"""How one image's live events become frames.

Events that arrive in the same turn of the event loop go out together, at the end of that turn:
a group commit publishes its changes in one go, a read from Redis may bring several. That costs no
latency (no timer: the frame leaves before the loop waits for anything), and the busier the
server, the more each frame carries, since more arrives while the loop is busy. A lone event goes
out alone, as itself.

With a window (`--batch-window-seconds` > 0) a busy image also trades latency for fewer frames: an
image is busy when three of its events came within one window (more than two per window); then an
event that follows the last frame within the window waits for the window's end. An image that is
not busy is never held. At most `max_events` go in one frame."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from imagechat.broker import Envelope
from imagechat.protocol import batch_frame
from imagechat.security.connections import text_frame


class Frame:
    """A frame as every viewer of an image gets it: encoded and measured once for all of them, with
    the events it carries, so that a viewer that held it can drop what a replay already sent
    without parsing it. A control frame (heartbeat, resync) carries no event.

    `wire` is the whole WebSocket frame, built on first use (`SharedText`): the same bytes for
    every socket that takes it without compression."""

    __slots__ = ("text", "data", "size", "events", "_wire")

    def __init__(self, text: str, events: tuple[Envelope, ...] = ()) -> None:
        self.text = text
        self.data = text.encode()
        self.size = len(self.data)
        self.events = events
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(self.data)
        return self._wire

    @classmethod
    def of(cls, events: Sequence[Envelope]) -> Frame:
        text = events[0].payload if len(events) == 1 else batch_frame([event.payload for event in events])
        return cls(text, tuple(events))

    def after(self, seq: int) -> Frame | None:
        """This frame without its events up to `seq`; None when none is left."""
        if not self.events or self.events[0].seq > seq:
            return self
        rest = [event for event in self.events if event.seq > seq]
        return Frame.of(rest) if rest else None


class Batcher:
    # Busy: this many events within one window. Two would call a steady rate of one per window
    # (20 a second) busy whenever two events jitter together; three needs twice that rate.
    BUSY_EVENTS = 3

    def __init__(self, window_seconds: float, max_events: int, emit: Callable[[Frame], None],
                 clock: Callable[[], float] | None = None) -> None:
        self._window = window_seconds
        self._max = max(1, max_events)
        self._emit = emit
        self._waiting: list[Envelope] = []
        self._last_emit = float("-inf")
        # When the last BUSY_EVENTS - 1 events came, oldest first.
        self._arrivals = [float("-inf")] * (self.BUSY_EVENTS - 1)
        self._flush: asyncio.Handle | None = None  # the flush to come: at the end of this turn, or of the window
        self._loop = asyncio.get_running_loop()
        self._clock = clock or self._loop.time  # tests pass their own, to play a rate without waiting

    def add(self, event: Envelope) -> None:
        now = self._clock()
        busy = now - self._arrivals[0] < self._window  # counting this event: BUSY_EVENTS in a window
        self._arrivals.append(now)
        del self._arrivals[0]
        self._waiting.append(event)
        if len(self._waiting) >= self._max:
            self.flush()
        elif self._flush is None:
            hold = self._last_emit + self._window - now if busy else 0.0
            self._flush = self._loop.call_later(hold, self.flush) if hold > 0 else self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self.cancel()
        events, self._waiting = self._waiting, []
        if events:
            self._last_emit = self._clock()
            self._emit(Frame.of(events))

    def cancel(self) -> None:
        """Forget the flush to come (the image has no viewer left)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
