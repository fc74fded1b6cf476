"""The widget's DOM events on the host page's <img>, for the site's own scripts (README, "JavaScript
API"). They bubble, and say only what the server confirmed:
- `imagechat:ready` {urlId, threads, comments}: once, when the image's conversation is first loaded;
- `imagechat:count` {threads, comments}: after that, whenever either number changes;
- `imagechat:change` {type, change, markerId, seq, fromMe}: each change the server confirmed, in seq
  order, the user's own included (`fromMe`: made in this browser, this tab or another).
"""

from imagechat_widget.compat import to_js, window
from imagechat_widget.state import comment_count


class HostEvents:
    def __init__(self, img, url_id):
        self._img = img
        self._url_id = url_id
        self._counts = None  # None until `ready`

    def confirmed(self, state):
        """The confirmed conversation may have changed (or loaded): `ready`, then `count`."""
        if state.seq is None:
            return
        markers = state.confirmed.values()
        counts = (len(markers), sum(comment_count(marker) for marker in markers))
        if self._counts is None:
            self._dispatch("ready", {"urlId": self._url_id, "threads": counts[0], "comments": counts[1]})
        elif counts != self._counts:
            self._dispatch("count", {"threads": counts[0], "comments": counts[1]})
        self._counts = counts

    def applied(self, event, from_me):
        """A server event, applied in seq order."""
        marker = event.get("marker")
        self._dispatch("change", {
            "type": event["type"],
            "change": event.get("change"),
            "markerId": marker["id"] if marker else event["markerId"],
            "seq": event["seq"],
            "fromMe": from_me,
        })

    def _dispatch(self, name, detail):
        options = to_js({"bubbles": True, "detail": detail})
        self._img.dispatchEvent(window.CustomEvent.new("imagechat:" + name, options))

