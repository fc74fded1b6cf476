"""ImageChat server: REST for reads and changes, WebSocket for live events."""
