"""The demo site's own "backend": a page whose visitor is signed in through single sign-on, and
the threads its three pages open with (`imagechat serve --seed-demo`, as `scripts/dev demo` runs it).

A real site does the same on its server: it signs its signed-in user with its tenant's API
secret (`imagechat.security.sso.sign_sso`) and renders the result into the page as `data-sso`.
"""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

from imagechat import protocol
from imagechat.security.sso import sign_sso
from imagechat.services import services
from imagechat.storage.store import Author, Store, now_ms

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


# Each demo page's image (its urlId), with the threads a first visitor finds on it: (x, y), then
# the thread's comments as (author id, name, text).
SEED_THREADS: dict[str, list[tuple[tuple[float, float], list[tuple[str, str, str]]]]] = {
    "demo-dashboard-v1": [
        ((0.349, 0.266), [
            ("demo-ada", "Ada", "Should this trend compare with last month instead of last year?"),
            ("demo-bob", "Bob", "Finance asked for year over year. I'll add a tooltip that says so."),
        ]),
        ((0.583, 0.625), [
            ("demo-ada", "Ada", "The chart needs a y-axis label"),
            ("demo-bob", "Bob", "Good catch, I'll add 'Monthly active users'"),
        ]),
    ],
    "demo-support-v1": [
        ((0.585, 0.487), [
            ("demo-maya", "Maya (support)", "The customer gets this on every export since this morning. Ref 7f3a-91c2."),
            ("demo-jon", "Jon (engineering)", "E-4021 is the render timeout: the print service restarted at 13:58 "
                                              "and the queued exports hit 30 s. Fixed at 14:20."),
            ("demo-maya", "Maya (support)", "Confirmed with the customer: exports work again."),
        ]),
        ((0.56, 0.43), [
            ("demo-priya", "Priya (product)", "Could the dialog say first that nothing was lost? "
                                              "\"Couldn't export\" reads like the invoice is gone."),
            ("demo-maya", "Maya (support)", "+1, three tickets this week asked exactly that."),
        ]),
        ((0.66, 0.64), [
            ("demo-jon", "Jon (engineering)", "Try again should back off: forty customers retrying at once "
                                              "kept the service busy for ten minutes."),
        ]),
    ],
    "demo-class-v1": [
        ((0.366, 0.205), [
            ("demo-sam", "Sam", "Does the voltmeter change the current? It's connected across R1."),
            ("demo-okoye", "Ms. Okoye", "An ideal voltmeter has an infinite resistance and draws no current, so no: it only measures "
                                        "the voltage between the two ends of R1."),
        ]),
        ((0.54, 0.583), [
            ("demo-lea", "Lea", "Why do we take 2.0 V off for the LED?"),
            ("demo-okoye", "Ms. Okoye", "A lit LED keeps about 2.0 V across itself whatever the current, so this "
                                        "branch is not just R3: R3 only gets what is left."),
            ("demo-lea", "Lea", "Oh, so I can't simply use R2 ∥ R3. Thanks!"),
        ]),
        ((0.79, 0.797), [
            ("demo-tomas", "Tomás", "Is this right for question 4?"),
            ("demo-sam", "Sam", "No: 220 Ω is only R1. The current then goes through R2 or the LED branch, "
                                "so the total resistance is bigger and the current smaller."),
        ]),
    ],
}


async def seed(store: Store) -> None:
    """Opens each demo image nobody has commented on yet (seq 0) with its threads; an image
    that had changes, even if its threads were deleted since, is left as it is."""
    for url_id, threads in SEED_THREADS.items():
        seq, _epoch = await store.position(DEMO_TENANT, url_id)
        if seq:
            continue
        for (x, y), thread in threads:
            (author_id, name, text), *replies = thread
            created = await store.create_marker(DEMO_TENANT, url_id, Author(author_id, name), x, y, text, None)
            marker_id = json.loads(created.event)["marker"]["id"]
            for author_id, name, text in replies:
                await _next_millisecond()
                await store.add_comment(DEMO_TENANT, marker_id, Author(author_id, name), text, None)
            await _next_millisecond()


async def _next_millisecond() -> None:
    """Threads and comments are shown in the order of their times (then of their random ids): each
    seeded one gets a later millisecond than the one before."""
    start = now_ms()
    while now_ms() == start:
        await asyncio.sleep(0.001)
