"""Stage 3 — warehouse: plan the dbt build, run dbt into a new file, swap it in atomically."""
