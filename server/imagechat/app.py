"""The Starlette application: REST, WebSocket, the widget's files and the public site."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.schemas import SchemaGenerator
from starlette.staticfiles import StaticFiles

from imagechat import demo, protocol
from imagechat.api import routes as api
from imagechat.api.errors import storage_error_handler
from imagechat.broker import Broker
from imagechat.config import Settings
from imagechat.errors import ApiError, api_error_handler
from imagechat.live.endpoint import live_endpoint
from imagechat.live.hub import Hub
from imagechat.security.cors import CorsMiddleware
from imagechat.security.guard import Guard
from imagechat.security.headers import SecurityHeadersMiddleware
from imagechat.security.hosts import HostMiddleware, allowed_hosts
from imagechat.security.tenants import Tenants
from imagechat.security.tokens import TokenSigner, signing_key
from imagechat.serving import BrowserFiles
from imagechat.services import Services, State, services
from imagechat.storage.database import create_engine
from imagechat.storage.errors import StorageError
from imagechat.storage.store import Store
from imagechat.usage import Usage
from imagechat.webhooks.delivery import Deliverer

schemas = SchemaGenerator(
    {"openapi": "3.0.0", "info": {"title": "ImageChat API", "version": "1"}}
)


async def openapi_schema(request: Request) -> JSONResponse:
    return JSONResponse(schemas.get_schema(routes=request.app.routes))


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def metrics(_request: Request) -> Response:
    """Prometheus metrics of this node (keep it private: it names tenants)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def home(_request: Request) -> Response:
    return RedirectResponse("/demo/")


async def preflight(request: Request, tenant_id: str) -> str:
    """A CORS preflight is the guard's decision, like every other request."""
    return await services(request).guard.preflight(request, tenant_id)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": exc.detail}, status_code=exc.status_code)
    return Response(exc.detail, status_code=exc.status_code, media_type="text/plain")


async def server_error(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "internal", "message": "internal server error"}, status_code=500)


def create_app(settings: Settings) -> Starlette:
    engine = create_engine(settings.database_url)
    tenants = Tenants(engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[State]:
        broker = Broker(settings.broker_url)
        await broker.connect()
        hub = Hub(broker, settings.heartbeat_seconds, settings.batch_window_seconds, settings.batch_max_events)
        tokens = TokenSigner(await signing_key(engine, settings.secret_key))
        usage = Usage(engine, settings.usage_flush_seconds)
        usage.start()
        store = Store(engine, settings.max_markers_per_image)
        webhooks = Deliverer(engine, settings)
        webhooks.start()
        if settings.seed_demo:
            await demo.seed(store)
        services = Services(
            settings=settings, store=store, tenants=tenants,
            tokens=tokens, guard=Guard(tenants, tokens, settings), broker=broker, hub=hub, usage=usage,
            webhooks=webhooks,
        )
        try:
            yield {"services": services}
        finally:
            await hub.close()
            await webhooks.stop()
            await usage.stop()
            await broker.disconnect()
            await store.close()
            await engine.dispose()

    public = settings.public_dir
    # What a page loads to run the widget (serving.py): only these files of public/ (which also
    # holds the npm manifests and the whole of node_modules) and widget/; the wire protocol's one
    # definition, the server's protocol.py, is served as the widget's `imagechat_widget/protocol.py`.
    browser_files = BrowserFiles(public, settings.widget_dir, Path(protocol.__file__))
    routes = [
        Route("/", home),
        Route("/healthz", health),
        # One mount for the API, so that its unknown paths and methods answer 404/405 in JSON
        # instead of falling through to the static files.
        Mount("/api", routes=[
            Mount("/v1", routes=[
                Route("/openapi.json", openapi_schema, include_in_schema=False),
                *api.routes,
                WebSocketRoute(f"{api.PREFIX}/live", live_endpoint),
            ]),
        ]),
        Route("/demo/sso", demo.signed_on_page),
        Route("/metrics", metrics, include_in_schema=False),
        Route("/embed.js", browser_files),
        Route("/widget.css", browser_files),
        Mount("/widget", browser_files),
        Mount("/vendor", browser_files),
        Mount("/demo", StaticFiles(directory=public / "demo", html=True), name="demo"),
        Mount("/dashboard", StaticFiles(directory=public / "dashboard", html=True), name="dashboard"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error_handler, StorageError: storage_error_handler, HTTPException: http_error,
            500: server_error,
        },
        middleware=[
            Middleware(HostMiddleware, hosts=allowed_hosts(settings.allowed_hosts, settings.host)),
            Middleware(SecurityHeadersMiddleware),
            Middleware(CorsMiddleware, preflight=preflight),
        ],
    )
