"""The live connection of one widget, as an explicit state machine:

    connecting -> connected -> reconnecting -> connected ...
                                   \\-> offline (the browser says it has no network)

On every open it sends the subscription and reports `connected` once the server acknowledges it;
the widget then resyncs. A dropped socket is retried after a backoff with full jitter.
"""

import asyncio
import json

from pyscript import WebSocket, window

from imagechat_widget.backoff import reconnect_delay

CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
OFFLINE = "offline"


class Connection:
    def __init__(self, url, subscription, on_frame, on_state):
        self._url = url
        self._subscription = subscription
        self._on_frame = on_frame
        self._on_state = on_state
        self.state = None
        self._socket = None
        self._attempt = 0
        self._retry = None

    def start(self):
        self._open(CONNECTING)

    def _set_state(self, state):
        if state != self.state:
            self.state = state
            self._on_state(state)

    def _open(self, state):
        self._set_state(state)
        socket = WebSocket(url=self._url)
        self._socket = socket

        def on_open(_event):
            socket.send(json.dumps(self._subscription))

        def on_message(event):
            if socket is not self._socket:
                return
            frame = json.loads(str(event.data))
            if frame.get("type") == "subscribed":
                self._attempt = 0
                self._set_state(CONNECTED)
            self._on_frame(frame)

        def on_close(_event):
            if socket is self._socket:
                self._socket = None
                self._schedule_reconnect()

        socket.onopen = on_open
        socket.onmessage = on_message
        socket.onclose = on_close

    def _schedule_reconnect(self):
        self._set_state(RECONNECTING if window.navigator.onLine else OFFLINE)
        delay = reconnect_delay(self._attempt)
        self._attempt += 1
        self._retry = asyncio.ensure_future(self._reconnect_after(delay))

    async def _reconnect_after(self, delay):
        await asyncio.sleep(delay)
        self._open(self.state)
