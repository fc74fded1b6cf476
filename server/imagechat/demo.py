"""The demo site's own "backend": a page whose visitor is signed in through single sign-on.

A real site does the same on its server: it signs its signed-in user with its tenant's API
secret (`imagechat.security.sso.sign_sso`) and renders the result into the page as `data-sso`.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

from imagechat import protocol
from imagechat.security.sso import sign_sso
from imagechat.services import services

DEMO_TENANT = "demo"
TEMPLATE = Path(__file__).parent / "templates" / "demo_sso.html"
# The demo site's pretend accounts.
USERS = {
    "dana": {"name": "Dana (moderator)", "roles": (protocol.MODERATOR,)},
    "erin": {"name": "Erin", "roles": ()},
}


async def signed_on_page(request: Request) -> HTMLResponse:
    login = request.query_params.get("as", "dana")
    user = USERS.get(login)
    if user is None:
        return HTMLResponse(f"no demo user {html.escape(login)!r}: try ?as=dana or ?as=erin", status_code=404)
    tenant = await services(request).tenants.require(DEMO_TENANT)
    sso = sign_sso(tenant.secret, f"demo-{login}", user["name"], roles=user["roles"])
    template = TEMPLATE.read_text()
    page = template.replace("{{SSO}}", html.escape(sso)).replace("{{NAME}}", html.escape(user["name"]))
    return HTMLResponse(page)
