"""The REST API, as the tests use it: one small client bound to a server process, so that signing in
and each change is written once. Every call returns the `httpx.Response`; `ok` asserts success and
gives the JSON body."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ServerProcess


def ok(response: httpx.Response) -> Any:
    """The JSON body of a successful answer (200 or 201)."""
    assert response.status_code in (200, 201), response.text
    return response.json()


class Rest:
    """Calls on one tenant of one server, as a signed-in user (`name`) unless other headers are
    given; with `name=None`, anonymous calls from the server's own origin. Extra keyword arguments
    go into the JSON body (changes) or the query (deletes)."""

    def __init__(self, server: ServerProcess, name: str | None = "Alice", tenant: str = "demo",
                 timeout: float = 10) -> None:
        self.server = server
        self.tenant = tenant
        self.prefix = f"/api/v1/tenants/{tenant}"
        self.client = httpx.Client(base_url=f"{server.url}/api/v1/tenants/{tenant}", timeout=timeout)
        self.headers = {"Origin": server.url} if name is None else self.sign_in(name)

    def sign_in(self, name: str = "Ada", **body: str) -> dict[str, str]:
        """Headers of another signed-in user (session token and the server's own Origin)."""
        return self.server.sign_in(name, self.tenant, **body)

    def token(self, headers: dict[str, str] | None = None) -> str:
        """The session token in `headers` (by default this client's user's)."""
        return self._as(headers)["Authorization"].removeprefix("Bearer ")

    def _as(self, headers: dict[str, str] | None) -> dict[str, str]:
        return self.headers if headers is None else headers

    def create_marker(self, url_id: str, text: str = "first", headers: dict[str, str] | None = None,
                      x: float = 0.5, y: float = 0.5, **extra: Any) -> httpx.Response:
        body = {"urlId": url_id, "x": x, "y": y, "text": text, **extra}
        return self.client.post("/markers", json=body, headers=self._as(headers))

    def reply(self, marker_id: str, text: str, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
        body = {"text": text, **extra}
        return self.client.post(f"/markers/{marker_id}/comments", json=body, headers=self._as(headers))

    def edit(self, comment_id: str, text: str, headers: dict[str, str] | None = None, **extra: Any) -> httpx.Response:
        return self.client.patch(f"/comments/{comment_id}", json={"text": text, **extra}, headers=self._as(headers))

    def delete_comment(self, comment_id: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
        return self.client.delete(f"/comments/{comment_id}", params=params, headers=self._as(headers))

    def delete_marker(self, marker_id: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
        return self.client.delete(f"/markers/{marker_id}", params=params, headers=self._as(headers))

    def snapshot(self, url_id: str, **params: Any) -> httpx.Response:
        return self.client.get("/snapshot", params={"urlId": url_id, **params})

    def thread(self, marker_id: str, **params: Any) -> httpx.Response:
        return self.client.get(f"/markers/{marker_id}/comments", params=params)

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Any request, with `path` taken from the server's root (not the tenant's), e.g.
        `raw("GET", "/demo/")` or `raw("POST", f"{rest.prefix}/markers", content=...)`; no headers
        are added."""
        return self.client.request(method, f"{self.server.url}{path}", **kwargs)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Rest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
