"""Stage 5 — serving: read-only queries over the served warehouse, boundaries, the server."""
