"""Stage 6 — benchmarks: every pipeline stage timed in its own process."""
