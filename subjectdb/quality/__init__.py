"""Stage 2 — quality: Great Expectations context, custom expectations, raw suites, gates."""
