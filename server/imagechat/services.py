"""The services a running app shares, handed to handlers through Starlette's lifespan state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from starlette.requests import HTTPConnection

if TYPE_CHECKING:  # only types: the modules below reach their services through this one
    from imagechat.broker import Broker
    from imagechat.config import Settings
    from imagechat.live.hub import Hub
    from imagechat.security.guard import Guard
    from imagechat.security.tenants import Tenants
    from imagechat.security.tokens import TokenSigner
    from imagechat.storage.store import Store
    from imagechat.usage import Usage
    from imagechat.webhooks.delivery import Deliverer


@dataclass
class Services:
    settings: Settings
    store: Store
    tenants: Tenants
    tokens: TokenSigner
    guard: Guard
    broker: Broker
    hub: Hub
    usage: Usage
    webhooks: Deliverer


class State(TypedDict):
    """What the lifespan yields; each request and socket sees it as `connection.state`."""

    services: Services


def services(connection: HTTPConnection) -> Services:
    found: Services = connection.state.services
    return found
