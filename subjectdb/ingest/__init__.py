"""Stage 1 — ingest: read raw extracts, standardise, quarantine what cannot be read, reconcile."""
