"""REST endpoints under /api/v1: reads and changes."""
