"""REST calls to the ImageChat server."""

import json

from imagechat_widget import protocol
from imagechat_widget.browser import encode_component, js_options
from imagechat_widget.compat import window


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Api:
    def __init__(self, base_url, tenant, identity):
        self._root = "%sapi/v1/tenants/%s" % (base_url, encode_component(tenant))
        self.live_url = self._root.replace("http", "ws", 1) + "/live"
        self._identity = identity

    async def sign_in(self):
        """A session token for the identity's current name (or sign-on payload)."""
        self._identity.signed_in(await self._call("POST", "/sessions", self._identity.sign_in_body()))

    def snapshot_url(self, url_id):
        return self._root + "/snapshot?urlId=" + encode_component(url_id)

    async def snapshot(self, url_id, early=None):
        """`early`: embed.js's own request for it, made while the runtime loaded (the promise of
        its response), taken instead of asking again."""
        return await self._call("GET", "/snapshot?urlId=" + encode_component(url_id), early=early)

    async def comments(self, marker_id, after, limit):
        """A page of a thread's comments, oldest first: {markerId, seq, comments, next}."""
        query = "?limit=%d" % limit
        if after is not None:
            query += "&after=" + encode_component(after)
        return await self._call("GET", "/markers/%s/comments%s" % (marker_id, query))

    async def create_marker(self, body):
        return await self._call("POST", "/markers", body)

    async def delete_marker(self, marker_id, broadcast_id):
        return await self._call("DELETE", "/markers/%s?broadcastId=%s" % (marker_id, broadcast_id))

    async def resolve_marker(self, marker_id, body):
        """body: {resolved: true (resolve) or false (reopen), broadcastId}."""
        return await self._call("PUT", "/markers/%s/resolved" % marker_id, body)

    async def add_comment(self, marker_id, body):
        return await self._call("POST", "/markers/%s/comments" % marker_id, body)

    async def edit_comment(self, comment_id, body):
        return await self._call("PATCH", "/comments/" + comment_id, body)

    async def delete_comment(self, comment_id, broadcast_id):
        return await self._call("DELETE", "/comments/%s?broadcastId=%s" % (comment_id, broadcast_id))

    async def write(self, call):
        """Run a write (create, edit, delete) with a valid session: sign in first if needed, and once more if the
        server no longer takes the token (expired, or the server's key changed)."""
        if self._identity.needs_sign_in():
            await self.sign_in()
        try:
            return await call()
        except ApiError as error:
            if error.status != 401 or error.code in protocol.SSO_ERRORS:
                raise
        self._identity.signed_out()
        await self.sign_in()
        return await call()

    async def _call(self, method, path, body=None, early=None):
        headers = {}
        if self._identity.token():
            headers["Authorization"] = "Bearer " + self._identity.token()
        options = {"method": method, "headers": headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
            options["body"] = json.dumps(body)
        try:
            response = await (early or window.fetch(self._root + path, js_options(options)))
            text = str(await response.text())
        except Exception:
            raise ApiError(0, "network", "Could not reach the server. Check your connection and try again.")
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        if not response.ok:
            raise ApiError(
                int(response.status),
                data.get("error", "http_%d" % response.status),
                data.get("message", "The server answered %d." % response.status),
            )
        return data
