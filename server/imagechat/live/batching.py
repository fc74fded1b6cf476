"""How one image's live events become frames: each alone and at once while the image is not busy,
batched while it is.

An image is busy when three of its events came within one window (more than two per window, 40
a second with the default 50 ms). Then an event that follows the last frame within `window`
seconds waits, and those waiting go out together as one `batch` frame when the window ends or
`max_events` are waiting, whichever comes first: a burst costs each viewer one frame per window
instead of one per event. An image that is not busy gets no added delay: batching there would
save next to nothing (about one event per window) and cost each event up to a window of latency.
A window of 0 sends every event alone."""

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
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._clock = clock or self._loop.time  # tests pass their own, to play a rate without waiting

    def add(self, event: Envelope) -> None:
        now = self._clock()
        busy = now - self._arrivals[0] < self._window  # counting this event: BUSY_EVENTS in a window
        self._arrivals.append(now)
        del self._arrivals[0]
        if not self._waiting and (not busy or now - self._last_emit >= self._window):
            self._send([event], now)
            return
        self._waiting.append(event)
        if len(self._waiting) >= self._max:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(max(0.0, self._last_emit + self._window - now), self.flush)

    def flush(self) -> None:
        self.cancel()
        events, self._waiting = self._waiting, []
        if events:
            self._send(events, self._clock())

    def cancel(self) -> None:
        """Stop the window's timer (the image has no viewer left)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(self, events: list[Envelope], now: float) -> None:
        self._last_emit = now
        self._emit(Frame.of(events))
