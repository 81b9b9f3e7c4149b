"""Stage 4 — release: open-data specs, disclosure control, package files, releases."""
