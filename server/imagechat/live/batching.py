"""How one image's live events become frames: alone when it is quiet, batched when it is busy.

The first event after a quiet spell goes out at once (no added delay when activity is low);
events that follow within `window` seconds of the last frame wait and go out together as one
`batch` frame, when the window ends or `max_events` are waiting, whichever comes first. A window
of 0 sends every event alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from imagechat.broker import Envelope
from imagechat.protocol import batch_frame


class Frame:
    """A frame as every viewer of an image gets it: encoded and measured once for all of them, with
    the events it carries, so that a viewer that held it can drop what a replay already sent
    without parsing it. A control frame (heartbeat, resync) carries no event."""

    __slots__ = ("text", "size", "events")

    def __init__(self, text: str, events: tuple[Envelope, ...] = ()) -> None:
        self.text = text
        self.size = len(text.encode())
        self.events = events

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
    def __init__(self, window_seconds: float, max_events: int, emit: Callable[[Frame], None]) -> None:
        self._window = window_seconds
        self._max = max(1, max_events)
        self._emit = emit
        self._waiting: list[Envelope] = []
        self._last_emit = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def add(self, event: Envelope) -> None:
        now = self._loop.time()
        if not self._waiting and now - self._last_emit >= self._window:
            self._send([event], now)
            return
        self._waiting.append(event)
        if len(self._waiting) >= self._max:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_at(self._last_emit + self._window, self.flush)

    def flush(self) -> None:
        self.cancel()
        events, self._waiting = self._waiting, []
        if events:
            self._send(events, self._loop.time())

    def cancel(self) -> None:
        """Stop the window's timer (the image has no viewer left)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _send(self, events: list[Envelope], now: float) -> None:
        self._last_emit = now
        self._emit(Frame.of(events))
