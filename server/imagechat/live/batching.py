"""Batching of one image's live events under heavy activity.

The first event after a quiet spell goes out at once (no added delay when activity is low);
events that follow within `window` seconds of the last frame wait and go out together as one
`batch` frame, when the window ends or `max_events` are waiting, whichever comes first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def batch_frame(frames: list[str]) -> str:
    """One frame holding already-encoded events, in order (no re-encoding)."""
    return '{"type":"batch","events":[' + ",".join(frames) + "]}"


class Batcher:
    def __init__(self, window_seconds: float, max_events: int, emit: Callable[[str], None]) -> None:
        self._window = window_seconds
        self._max = max(1, max_events)
        self._emit = emit
        self._waiting: list[str] = []
        self._last_emit = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def add(self, frame: str) -> None:
        now = self._loop.time()
        if not self._waiting and now - self._last_emit >= self._window:
            self._send(frame, now)
            return
        self._waiting.append(frame)
        if len(self._waiting) >= self._max:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_at(self._last_emit + self._window, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        frames, self._waiting = self._waiting, []
        if frames:
            self._send(frames[0] if len(frames) == 1 else batch_frame(frames), self._loop.time())

    def _send(self, frame: str, now: float) -> None:
        self._last_emit = now
        self._emit(frame)
