"""The dbt-duckdb plugin ``profiles.yml`` loads: the keyed-hash functions on dbt's connection.

dbt-duckdb calls :meth:`Plugin.configure_connection` once on the connection it opens; its
cursors (one per dbt thread) share the functions. See :mod:`subjectdb.warehouse.keyed_hash`.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from subjectdb.warehouse.keyed_hash import register_hmac_functions


class Plugin(BasePlugin):
    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_hmac_functions(conn)
