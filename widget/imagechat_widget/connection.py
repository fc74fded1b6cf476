"""The live connection of one widget, as one explicit state machine:

    connecting --subscribed--> connected --socket lost / silent--> reconnecting --> connected ...
                                    \\--browser offline--> offline --browser online--> reconnecting
    any state --closed as refused (origin not allowed, no such tenant)--> refused, for good

- Each open sends the subscription (built fresh, so that it carries the last seq applied) and
  counts as `connected` only once the server acknowledges it.
- A lost socket is retried after exponential backoff with full jitter, and at once when the
  browser comes back `online`, the page becomes visible, or it is restored from the bfcache.
- The server sends a heartbeat every `heartbeat` seconds; hearing nothing for two of them means
  the socket died without a close (mobile sleep, a NAT dropping it): it is replaced.
- A refusal that no retry can change (this site may not use the tenant, or there is no such
  tenant) ends every retry.
"""

import asyncio
import json

from imagechat_widget import protocol
from imagechat_widget.backoff import reconnect_delay
from imagechat_widget.browser import listen
from imagechat_widget.compat import WebSocket, document, now_ms, spawn, window

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
OFFLINE = "offline"
REFUSED = "refused"

DEFAULT_HEARTBEAT_SECONDS = 15


class Connection:
    def __init__(self, url, subscription, on_frame, on_state):
        self._url = url
        self._subscription = subscription  # () -> the subscribe frame, encoded
        self._on_frame = on_frame
        self._on_state = on_state
        self.state = None
        self.refusal = None  # the error code of a permanent refusal
        self._socket = None
        self._attempt = 0
        self._retry = None
        self._heard_at = 0
        self._heartbeat_ms = DEFAULT_HEARTBEAT_SECONDS * 1000
        self._paused = None  # frames held back by `pause()` (a test and debugging hook)
        self.close_code = None  # of the last socket the server closed
        self._stopped = False

    def start(self):
        listen(window, "online", lambda _e: self.reconnect_now())
        listen(window, "offline", lambda _e: self._go_offline())
        listen(window, "pageshow", lambda e: self.reconnect_now() if e.persisted else None)
        listen(document, "visibilitychange",
               lambda _e: self.reconnect_now() if str(document.visibilityState) == "visible" else None)
        spawn(self._watch_heartbeat())
        if window.navigator.onLine:
            self._open(CONNECTING)
        else:
            self._set_state(OFFLINE)

    def send(self, frame):
        """An encoded frame (`protocol`'s builders make them)."""
        if self._socket is not None and self.state == CONNECTED:
            self._socket.send(frame)

    def restart(self):
        """Drop this socket and subscribe afresh (e.g. after the server refused a resume)."""
        if self._stopped:
            return
        self._drop_socket()
        self._open(RECONNECTING)

    def stop(self):
        """For good: the widget left the page."""
        self._stopped = True
        self._drop_socket()
        self._cancel_retry()

    def refuse(self, code):
        """The server refuses this page for good (its origin, or the tenant): stop retrying."""
        if self.state != REFUSED:
            self.stop()
            self.refusal = code
            self._set_state(REFUSED)

    def reconnect_now(self):
        if self.state in (RECONNECTING, OFFLINE) and window.navigator.onLine and not self._stopped:
            self._attempt = 0
            self._drop_socket()
            self._open(RECONNECTING)

    def pause(self):
        if self._paused is None:
            self._paused = []

    def resume(self, lose=0):
        """Deliver the frames held back by `pause()`, losing the first `lose` events on the way
        (as an at-most-once broker may): the widget must notice the gap and resume."""
        frames, self._paused = self._paused or [], None
        for frame in frames:
            if lose > 0 and "seq" in frame and frame.get("type") != protocol.SUBSCRIBED:
                lose -= 1
                continue
            self._on_frame(frame)

    # -- internals -----------------------------------------------------------------------------

    def _set_state(self, state):
        if state != self.state:
            self.state = state
            self._on_state(state)

    def _open(self, state):
        self._set_state(state)
        self._cancel_retry()
        socket = WebSocket(url=self._url)
        self._socket = socket
        self._heard_at = now_ms()

        def on_open(_event):
            if socket is self._socket:
                socket.send(self._subscription())

        def on_message(event):
            if socket is not self._socket:
                return
            self._heard_at = now_ms()
            frame = json.loads(str(event.data))
            kind = frame.get("type")
            if kind == protocol.HEARTBEAT:
                return
            if kind == protocol.SUBSCRIBED:
                self._attempt = 0
                self._heartbeat_ms = frame.get("heartbeat", DEFAULT_HEARTBEAT_SECONDS) * 1000
                self._set_state(CONNECTED)
            if self._paused is not None:
                self._paused.append(frame)
            else:
                self._on_frame(frame)

        def on_close(event):
            if socket is self._socket:
                self._socket = None
                self.close_code = int(event.code)
                if self.close_code in protocol.REFUSED_BY_CLOSE_CODE:
                    self.refuse(protocol.REFUSED_BY_CLOSE_CODE[self.close_code])
                else:
                    self._schedule_reconnect()

        socket.onopen = on_open
        socket.onmessage = on_message
        socket.onclose = on_close

    def _drop_socket(self):
        socket, self._socket = self._socket, None
        if socket is not None:
            try:
                socket.close()
            except Exception:
                pass

    def _go_offline(self):
        if self._stopped:
            return
        self._drop_socket()
        self._cancel_retry()
        self._set_state(OFFLINE)

    def _schedule_reconnect(self):
        if self._stopped:
            return
        if not window.navigator.onLine:
            self._go_offline()
            return
        self._set_state(RECONNECTING)
        delay = reconnect_delay(self._attempt)
        self._attempt += 1
        self._cancel_retry()
        self._retry = spawn(self._reconnect_after(delay))

    def _cancel_retry(self):
        if self._retry is not None and not self._retry.done():
            self._retry.cancel()
        self._retry = None

    async def _reconnect_after(self, delay):
        await asyncio.sleep(delay)
        self._retry = None
        self._open(RECONNECTING)

    async def _watch_heartbeat(self):
        while not self._stopped:
            await asyncio.sleep(1)
            silent_ms = now_ms() - self._heard_at
            if self._socket is not None and silent_ms > 2 * self._heartbeat_ms + 1000:
                # Dead without a close: forget it (its late events are ignored) and retry.
                self._drop_socket()
                self._schedule_reconnect()
