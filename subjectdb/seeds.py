"""Shared leaf: the one reader of the reference seeds (``seeds/*.csv``).

Seeds are small CSV files kept in the repository (documented in ``seeds/_seeds.yml``). Every
module that needs reference data outside dbt (the generator, the custom expectations, the
gates, the release) reads it here, so a missing seed or column gives the same clear error.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from subjectdb.config import SEEDS_DIR

TRUE_VALUES = frozenset({"true", "1", "yes", "t", "y"})


class SeedError(RuntimeError):
    """A reference seed is missing or lacks a column its reader needs."""


def seed_path(name: str, seeds_dir: Path = SEEDS_DIR) -> Path:
    """``seeds_dir/<name>.csv`` (``name`` with or without the ``.csv`` suffix)."""
    return seeds_dir / (name if name.endswith(".csv") else f"{name}.csv")


def read_seed(
    name: str, seeds_dir: Path = SEEDS_DIR, columns: Iterable[str] = ()
) -> list[dict[str, str]]:
    """The rows of one seed as text dicts; ``columns`` must all be in its header."""
    return list(_read(seed_path(name, seeds_dir), tuple(columns)))


@lru_cache(maxsize=64)
def _read(path: Path, columns: tuple[str, ...]) -> tuple[dict[str, str], ...]:
    if not path.exists():
        raise SeedError(f"reference seed {path} is missing: run `python -m subjectdb.reference`")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise SeedError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        return tuple(dict(row) for row in reader)


def truthy(value: str | None) -> bool:
    """A seed's boolean cell (``true``/``false``, ``1``/``0`` …) as a bool."""
    return (value or "").strip().lower() in TRUE_VALUES
