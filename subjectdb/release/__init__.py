"""Stage 4 — release: open-data specs, disclosure control, package files, releases.

The public surface of the stage. Modules, in the order a release is made:

- :mod:`~subjectdb.release.specs` — the published tables and columns (``TABLES``, ``WITHHELD``);
- :mod:`~subjectdb.release.manifest` — the served build's dbt manifest and its column docs;
- :mod:`~subjectdb.release.reads` — the warehouse reads, aggregated in SQL;
- :mod:`~subjectdb.release.disclosure` — the suppression rules (also used by the dashboard);
- :mod:`~subjectdb.release.tables` — disclosure control over all published tables at once;
- :mod:`~subjectdb.release.package` — the release files and their metadata;
- :mod:`~subjectdb.release.changelog` — the changes since the previous release;
- :mod:`~subjectdb.release.releases` — ``publish``, ``current_release``, ``list_releases``,
  ``latest_release``.
"""

from subjectdb.release import disclosure
from subjectdb.release.manifest import ModelDocs, find_manifest, served_build_id
from subjectdb.release.releases import current_release, latest_release, list_releases, publish
from subjectdb.release.specs import (
    ROUNDING,
    TABLE_BY_NAME,
    TABLES,
    WITHHELD,
    FieldSpec,
    PublishError,
    TableSpec,
)

__all__ = [
    "ROUNDING",
    "TABLES",
    "TABLE_BY_NAME",
    "WITHHELD",
    "current_release",
    "FieldSpec",
    "ModelDocs",
    "PublishError",
    "TableSpec",
    "disclosure",
    "find_manifest",
    "latest_release",
    "list_releases",
    "publish",
    "served_build_id",
]
