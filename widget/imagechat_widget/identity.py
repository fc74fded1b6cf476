"""Who the user is to the server: a session token per tenant, kept in localStorage.

Anonymous users pick a display name and get a token for it (the server makes their author id
and keeps it when they change their name). On a site with single sign-on the page carries the
site's signed payload (`data-sso`) and the name and roles come from it instead.
"""

import json

from imagechat_widget import protocol
from imagechat_widget.browser import store, stored
from imagechat_widget.compat import now_ms

NAME_KEY = "imagechat.name"
SESSION_KEY = "imagechat.session."  # + tenant id


class Identity:
    def __init__(self, tenant, sso=None):
        self._key = SESSION_KEY + tenant
        self.sso = sso
        self.session = None
        self.listeners = []  # called after each sign-in (each widget of the tenant tells its socket)
        saved = stored(self._key)
        if saved and not sso:
            try:
                self.session = json.loads(saved)
            except ValueError:
                self.session = None
            if self.session and self.session.get("expiresAt", 0) * 1000 < now_ms():
                self.session = None
        self.name = self.session["author"]["name"] if self.session else (stored(NAME_KEY) or "")

    @property
    def author_id(self):
        return self.session["author"]["id"] if self.session else None

    @property
    def can_moderate(self):
        return bool(self.session) and protocol.can_moderate(self.session.get("roles", ()))

    def set_name(self, name):
        self.name = name
        store(NAME_KEY, name)

    def as_author(self):
        return {"id": self.author_id or "", "name": self.name}

    def token(self):
        return self.session["token"] if self.session else None

    def needs_sign_in(self):
        return self.session is None or (not self.sso and self.session["author"]["name"] != self.name)

    def sign_in_body(self):
        return {"sso": self.sso} if self.sso else {"name": self.name}

    def signed_in(self, session):
        self.session = session
        self.name = session["author"]["name"]
        if not self.sso:
            store(self._key, json.dumps(session))
        for listener in list(self.listeners):
            listener()

    def signed_out(self):
        self.session = None
        if not self.sso:
            store(self._key, "")
