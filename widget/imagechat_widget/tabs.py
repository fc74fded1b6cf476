"""Other tabs of this browser on the same image, over a BroadcastChannel: a change made in one tab
shows in the others at once, before (or without) the server's event. Each tab still keeps its own
WebSocket: a tab may be frozen or closed at any time."""

import json

from imagechat_widget.browser import listen
from imagechat_widget.compat import window


class SiblingTabs:
    def __init__(self, tenant, url_id, on_message):
        self._channel = None
        if not hasattr(window, "BroadcastChannel"):
            return  # an old browser: the server's events still arrive
        self._channel = window.BroadcastChannel.new("imagechat:%s:%s" % (tenant, url_id))
        listen(self._channel, "message", lambda event: on_message(json.loads(str(event.data))))

    def post(self, message):
        if self._channel is not None:
            self._channel.postMessage(json.dumps(message))

    def close(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None
