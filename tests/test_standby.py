"""The standby copy: a build renames it into place only when it is a copy of exactly the
served file; any doubt removes it and the build copies (subjectdb.warehouse.standby).

No dbt here: a private folder holding a copy of the session build's warehouse. The build path
itself (the daily build renames the standby, a failed build leaves a new one) is checked on
tests/test_build.py's chain.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from subjectdb.config import Paths
from subjectdb.files import sha256_file
from subjectdb.warehouse.scratch import clean, sweep
from subjectdb.warehouse.standby import (
    make_standby,
    record_path,
    served_build_id,
    standby_path,
    take_standby,
)


@pytest.fixture
def served(built: Paths, tmp_path: Path) -> Paths:
    paths = Paths(tmp_path / "data").ensure()
    shutil.copyfile(built.warehouse, paths.warehouse)
    return paths


def test_standby_is_renamed_into_place_when_it_copies_the_served_file(served: Paths) -> None:
    made = make_standby(served)
    assert made == standby_path(served) and record_path(served).is_file()
    assert sha256_file(made) == sha256_file(served.warehouse)
    assert served_build_id(served.warehouse)  # the record names the served build
    inode = made.stat().st_ino
    target = served.build_dir / "warehouse.building.duckdb"
    taken = take_standby(served, target)
    assert taken.taken, taken.reason
    assert target.stat().st_ino == inode  # renamed, not copied
    assert sha256_file(target) == sha256_file(served.warehouse)
    assert not made.exists() and not record_path(served).exists()
    # used once: a second build finds no standby
    again = take_standby(served, target)
    assert not again.taken and again.reason == "no standby copy"


def _replace_served(paths: Paths) -> None:
    """What a build (or re-key) does: a new file renamed over the served one."""
    tmp = paths.root / "new.duckdb"
    shutil.copyfile(paths.warehouse, tmp)
    os.replace(tmp, paths.warehouse)


def _write_to_served(paths: Paths) -> None:
    with duckdb.connect(str(paths.warehouse)) as con:
        con.execute("create table main.written_in_place as select 1 as x")
        con.execute("checkpoint")


def _touch_standby(paths: Paths) -> None:
    with standby_path(paths).open("ab") as fh:
        fh.write(b"\0")


def _drop_record(paths: Paths) -> None:
    record_path(paths).unlink()


def _garble_record(paths: Paths) -> None:
    record_path(paths).write_text("{not json")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_replace_served, "the served warehouse changed"),
        (_write_to_served, "the served warehouse changed"),
        (_touch_standby, "the standby copy was modified"),
        (_drop_record, "without a readable record"),
        (_garble_record, "without a readable record"),
    ],
)
def test_any_doubt_discards_the_standby(served: Paths, change, why: str) -> None:
    make_standby(served)
    change(served)
    target = served.build_dir / "warehouse.building.duckdb"
    taken = take_standby(served, target)
    assert not taken.taken and why in taken.reason
    assert not target.exists()  # the build copies the served file instead
    assert not standby_path(served).exists() and not record_path(served).exists()


def test_clean_removes_the_standby_and_the_sweep_its_unfinished_copy(served: Paths) -> None:
    make_standby(served)
    unfinished = served.build_dir / ".standby.duckdb.0123456789abcdef0123456789abcdef.tmp"
    unfinished.write_bytes(b"cut short")
    notes = sweep(served, keep_copies=1)
    assert not unfinished.exists() and any("standby copy" in n for n in notes)
    assert standby_path(served).exists()  # a finished standby survives the sweep
    report = clean(served)
    assert standby_path(served) in report.removed
    assert not standby_path(served).exists() and not record_path(served).exists()
    assert served.warehouse.is_file()
