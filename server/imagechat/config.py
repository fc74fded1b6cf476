"""Settings of one server process, from command-line flags or environment variables
(IMAGECHAT_<FLAG NAME>, e.g. IMAGECHAT_DATABASE_URL for --database-url)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from imagechat import limits, static


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///imagechat.db"
    broker_url: str = "memory://"
    host: str = "127.0.0.1"
    port: int = 8000
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    # Signs session tokens; by default a random key kept in the database, shared by all nodes.
    secret_key: str = ""
    # The server sends a heartbeat this often; a client that hears nothing for two of them reconnects.
    heartbeat_seconds: float = 15.0
    # A WebSocket that has not subscribed this long after connecting is closed (code 4408).
    subscribe_timeout_seconds: float = 5.0
    # A client that missed more events than this reloads the snapshot instead of replaying them.
    replay_limit: int = 1000
    # Events of one image that arrive in one turn of the event loop go out as one `batch` frame
    # (see live/batching.py); with a window, a busy image's events also wait up to this long to
    # share a frame (0: never held). At most this many events per batch.
    batch_window_seconds: float = 0.0
    batch_max_events: int = 50
    # permessage-deflate on live WebSockets. Off: it costs a compression per frame and per viewer
    # (the frame can no longer be built once for all of them) and a compressor's memory per
    # socket, for events of a few hundred bytes; see the README's "What a viewer costs".
    ws_deflate: bool = False
    # A log line per HTTP request (uvicorn's access log). Off: it cost about a sixth of the CPU of
    # a change (benchmarks/write_path.py --profile); a reverse proxy usually logs requests anyway.
    access_log: bool = False
    # Usage counts are added to the database this often (and at shutdown).
    usage_flush_seconds: float = 5.0
    max_markers_per_image: int = limits.MAX_MARKERS_PER_IMAGE
    # Rate limits: changes (and sign-ins) by one user of a tenant, and API requests from one IP address.
    user_changes_per_minute: float = 30
    ip_requests_per_minute: float = 300
    max_connections_per_ip: int = 50
    # TCP connections: request headers must arrive within this; an idle keep-alive connection is
    # closed after this; open HTTP + WebSocket connections per address (0: no cap, behind a proxy).
    header_timeout_seconds: float = 10
    keep_alive_seconds: float = 5
    max_http_connections_per_ip: int = 200
    # Host names this server answers to (comma-separated; `*`: any). Default: its --host and localhost.
    allowed_hosts: str = ""
    # At start, give the demo pages' images their first threads, if nobody has commented on them yet.
    seed_demo: bool = False
    # Webhooks (webhooks/delivery.py): each POST's timeout; a failed event is retried after this
    # base, doubling (jittered, at most an hour apart), for this long, then given up.
    webhook_timeout_seconds: float = 10.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_for_seconds: float = 86400.0
    # What browsers load: inside the installed package, else the checkout's (see static.py).
    public_dir: Path = static.PUBLIC_DIR
    widget_dir: Path = static.WIDGET_DIR

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Environment variables first; explicit overrides (CLI flags) win."""
        values: dict[str, object] = {}
        for option in dataclasses.fields(cls):
            raw = os.environ.get(f"IMAGECHAT_{option.name.upper()}")
            if raw:
                values[option.name] = parse_bool(raw) if isinstance(option.default, bool) else type(option.default)(raw)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]


def parse_bool(raw: str) -> bool:
    """An on/off environment variable: 1/true/yes/on or 0/false/no/off (bool("0") would be True)."""
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not an on/off value: {raw!r}")
