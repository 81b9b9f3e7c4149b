"""dbt's ``target`` for sqlfluff's jinja templater: the default DuckDB target of profiles.yml
(models that differ per engine read ``target.type``)."""

type = "duckdb"
name = "duckdb"
schema = "main"
