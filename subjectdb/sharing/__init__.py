"""Stage 6 — sharing: the resource catalogue, department API keys, the access audit, the
read-only sharing API (FastAPI) and identifier verification against the hashed registers."""

from subjectdb.sharing.audit import AuditLog, query_audit
from subjectdb.sharing.keys import ApiKey, KeyStore
from subjectdb.sharing.paths import SharingPaths

__all__ = ["ApiKey", "AuditLog", "KeyStore", "SharingPaths", "query_audit"]
