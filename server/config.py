"""Settings of one server process, from command-line flags or environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The repository checkout holds `public/` and `widget/` beside `server/`.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///imagechat.db"
    broker_url: str = "memory://"
    host: str = "127.0.0.1"
    port: int = 8000
    # The server sends a heartbeat this often; a client that hears nothing for two of them reconnects.
    heartbeat_seconds: float = 15.0
    # A client that missed more events than this reloads the snapshot instead of replaying them.
    replay_limit: int = 1000
    public_dir: Path = PROJECT_ROOT / "public"
    widget_dir: Path = PROJECT_ROOT / "widget"

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Environment variables IMAGECHAT_<NAME>; explicit overrides (CLI flags) win."""
        values: dict[str, object] = {}
        fields = (
            ("database_url", str), ("broker_url", str), ("host", str), ("port", int),
            ("heartbeat_seconds", float), ("replay_limit", int),
        )
        for name, kind in fields:
            raw = os.environ.get(f"IMAGECHAT_{name.upper()}")
            if raw:
                values[name] = kind(raw)
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]
