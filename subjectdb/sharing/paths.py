"""Where the sharing stage keeps its state under the data folder (``data/sharing/``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from subjectdb.config import Paths


@dataclass(frozen=True)
class SharingPaths:
    """The sharing stage's files: API keys (hashed), the API audit log, rate-limit buckets,
    feedback lists."""

    paths: Paths

    @property
    def root(self) -> Path:
        return self.paths.root / "sharing"

    @property
    def keys(self) -> Path:
        return self.root / "keys.json"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def ratelimit(self) -> Path:
        """Rate-limit buckets, one small file per client (:mod:`subjectdb.sharing.limits`)."""
        return self.root / "ratelimit"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"
