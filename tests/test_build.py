"""The build: dbt into a new file, gates, atomic swap; incremental state; no personal data.

dbt builds cost tens of seconds each, so this module runs few of them: the session's
``built`` folder (a build from scratch over every batch), plus one chain on a private copy:
build without the last cases batch → incremental build with it → a failing build.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import copy_data

from subjectdb.config import Paths, hmac_key
from subjectdb.files import sha256_file
from subjectdb.warehouse.build import (
    BUILD_INFO_JSON,
    DAILY_EXCLUDES,
    build,
    current_fingerprints,
    key_fingerprint,
    plan_dbt_build,
    stored_build_info,
    stored_key_fingerprint,
)
from subjectdb.warehouse.keyed_hash import hmac_pads
from subjectdb.warehouse.standby import standby_path, take_standby

FACT_KEY = "case_id"
PERIOD_KEYED = {
    "int_demand__case_cells",
    "subj_applicant_demand",
    "subj_service_demand",
    "subj_service_performance",
    "subj_processing_time",
    "subj_enterprise_demand",
    "subj_digital_divide",
    "dash_applicant_demand",
    "dash_service_performance",
}
"""The models replaced by month or year (macros/incremental/replaced_keys.sql)."""


def _landing(paths: Paths, extract: str) -> str:
    return (
        f"read_parquet('{paths.landing}/{extract}/*/*.parquet', "
        "hive_partitioning = false, union_by_name = true)"
    )


def _rows(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_build_serves_a_documented_warehouse(built: Paths) -> None:
    info = json.loads((built.root / BUILD_INFO_JSON).read_text())
    rows = _rows(built.warehouse, "select build_id from main.build_info")
    assert rows == [(info["build_id"],)]
    # the key check value that lets later builds stay incremental (same key) or restage
    assert stored_key_fingerprint(built.warehouse) == key_fingerprint(built)
    schemas = {
        r[0]
        for r in _rows(
            built.warehouse,
            "select distinct schema_name from duckdb_schemas() "
            "where database_name = current_database()",
        )
    }
    assert {"reference", "staging", "intermediate", "marts", "snapshots"} <= schemas
    # one fact row per distinct case that survived the raw suites
    landed, facts = _rows(
        built.warehouse,
        "select (select count(distinct case_id) from staging.stg_approval__cases), "
        "(select count(*) from marts.fct_service_cases)",
    )[0]
    assert facts == landed > 0
    # no failed build files left behind by a successful build
    assert not list(built.build_dir.glob("warehouse.*.duckdb"))


def test_fact_follows_the_latest_state_rule(built: Paths) -> None:
    """fct_service_cases holds, per case, the staging row with the latest updated_at."""
    mismatches = _rows(
        built.warehouse,
        """
        with ranked as (
            select case_id, status_code, updated_at, _batch_id,
                row_number() over (
                    partition by case_id
                    order by updated_at desc, _batch_id desc, _source_row desc
                ) as rn
            from staging.stg_approval__cases
        )
        select count(*)
        from ranked join marts.fct_service_cases as f using (case_id)
        where ranked.rn = 1
            and (ranked.status_code <> f.status_code or ranked.updated_at <> f.updated_at
                 or ranked._batch_id <> f._batch_id)
        """,
    )
    assert mismatches == [(0,)]


def test_keyed_hash_equals_python_hmac(built: Paths) -> None:
    key = hmac_key(built).encode()
    rows = _rows(
        built.warehouse,
        f"""
        select distinct upper(trim(l.applicant_id)), f.applicant_key
        from {_landing(built, "cases")} as l
        join marts.fct_service_cases as f
            on f.case_id = trim(l.case_id) and f._batch_id = l._batch_id
            and f.updated_at = l.updated_at
        using sample 200 rows (reservoir, 11)
        """,
    )
    assert len(rows) > 50
    for raw_id, applicant_key in rows:
        assert applicant_key == hmac.new(key, raw_id.encode(), hashlib.sha256).hexdigest()


def test_no_raw_id_name_or_phone_anywhere_in_the_warehouse(built: Paths) -> None:
    """Every text value of every table and view is checked against the landed IDs, names and
    phones; view definitions must not carry the HMAC pads."""
    ipad, opad = hmac_pads(hmac_key(built))
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        con.execute(
            f"""
            create temp table secrets as
            select distinct value from (
                select upper(trim(applicant_id)) as value from {_landing(built, "cases")}
                union all select applicant_name from {_landing(built, "cases")}
                union all select applicant_phone from {_landing(built, "cases")}
                union all select upper(trim(person_id)) from {_landing(built, "persons")}
                union all select name from {_landing(built, "persons")}
                union all select phone from {_landing(built, "persons")}
                union all select upper(trim(credit_code)) from {_landing(built, "enterprises")}
                union all select name from {_landing(built, "enterprises")}
            ) where value is not null and length(value) >= 2
            """
        )
        n_secrets = con.execute("select count(*) from temp.secrets").fetchone()[0]  # type: ignore[index]
        assert n_secrets > 1000
        columns = con.execute(
            """
            select schema_name, table_name, column_name, data_type
            from duckdb_columns()
            where database_name = current_database() and not internal
            """
        ).fetchall()
        forbidden_names = {
            "applicant_id",
            "applicant_name",
            "applicant_phone",
            "person_id",
            "name",
            "phone",
            "credit_code",
        }
        assert not [c for c in columns if c[2] in forbidden_names]
        leaks = []
        for schema, table, column, data_type in columns:
            if data_type != "VARCHAR":
                continue
            hit = con.execute(
                f'select count(*) from "{schema}"."{table}" as t '
                f'join temp.secrets as s on upper(trim(t."{column}")) = upper(s.value)'
            ).fetchone()[0]  # type: ignore[index]
            if hit:
                leaks.append(f"{schema}.{table}.{column}: {hit}")
        assert not leaks
        views = con.execute(
            "select sql from duckdb_views() where database_name = current_database() "
            "and not internal"
        ).fetchall()
        assert not [v for v in views if ipad in v[0] or opad in v[0]]


@pytest.fixture(scope="module")
def incremental_chain(loaded: Paths, tmp_path_factory: pytest.TempPathFactory):
    """Build without the last cases batch, then with it (incremental)."""
    paths = copy_data(loaded, tmp_path_factory.mktemp("incremental") / "data")
    batches = sorted((paths.landing / "cases").glob("batch=*"))
    assert len(batches) >= 2
    held_back = batches[-1]
    parked = paths.root.parent / held_back.name
    shutil.move(held_back, parked)
    first = build(paths)
    assert first.ok, first.summary()
    before = _rows(
        paths.warehouse, "select case_id, status_code, updated_at from marts.fct_service_cases"
    )
    shutil.move(parked, held_back)
    second = build(paths)
    assert second.ok, second.summary()
    return paths, held_back.name.removeprefix("batch="), dict((r[0], r[1:]) for r in before), second


def test_incremental_build_updates_earlier_cases(incremental_chain) -> None:
    paths, last_batch, before, second = incremental_chain
    after = {
        r[0]: r[1:]
        for r in _rows(
            paths.warehouse,
            "select case_id, status_code, updated_at, _batch_id from marts.fct_service_cases",
        )
    }
    updated = [
        c
        for c, (status, updated_at, batch) in after.items()
        if c in before and before[c] != (status, updated_at) and batch == last_batch
    ]
    new = [c for c in after if c not in before]
    assert updated, "the last batch should move some earlier cases to a later state"
    assert new
    assert set(before) <= set(after)
    assert "started from a copy of warehouse.duckdb" in second.summary()
    # the first build left a standby copy of what it served: the second renamed it, copied nothing
    assert "renamed the standby copy" in second.summary()
    assert standby_path(paths).is_file()  # and left a new one of the warehouse it served
    assert not second.full_refresh  # same key: staging appended the held-back batch only


def test_incremental_build_equals_a_build_from_scratch(incremental_chain, built: Paths) -> None:
    paths, *_ = incremental_chain
    cols = (
        "case_id, applicant_key, status_code, region_code, channel_code, working_days, "
        "age_group_code, industry_section, updated_at, _batch_id"
    )
    with duckdb.connect() as con:
        con.execute(f"attach '{paths.warehouse}' as inc (read_only)")
        con.execute(f"attach '{built.warehouse}' as full_build (read_only)")
        diff = con.execute(
            f"""
            select count(*) from (
                (select {cols} from inc.marts.fct_service_cases
                 except all select {cols} from full_build.marts.fct_service_cases)
                union all
                (select {cols} from full_build.marts.fct_service_cases
                 except all select {cols} from inc.marts.fct_service_cases)
            )
            """
        ).fetchone()[0]  # type: ignore[index]
        assert diff == 0
        history = con.execute("select count(*) from inc.main.build_info").fetchone()[0]  # type: ignore[index]
        assert history == 2


def test_daily_build_touches_only_the_changed_cases(incremental_chain, built: Paths) -> None:
    """The second build took the daily path and rewrote only what the held-back batch changed;
    int_cases__changed_months (the subject tables' contract) lists exactly its months."""
    paths, last_batch, before, second = incremental_chain
    projects = _rows(
        paths.warehouse, "select project_fingerprint from main.build_info order by built_at"
    )
    if projects[0] == projects[-1]:  # no dbt file was edited between the two builds
        assert "daily path" in second.summary()
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        run = con.execute(
            "select max_by(_changed_invocation_id, _loaded_at) from intermediate.int_cases__latest"
        ).fetchone()[0]  # type: ignore[index]
        changed = dict(
            con.execute(
                "select case_id, _batch_id from marts.fct_service_cases "
                "where _changed_invocation_id = ?",
                [run],
            ).fetchall()
        )
        months = con.execute(
            "select submitted_month, is_full_rebuild from intermediate.int_cases__changed_months"
        ).fetchall()
        expected = {
            r[0]
            for r in con.execute(
                """
                select cast(date_trunc('month', submitted_at) as date)
                from intermediate.int_cases__latest where _changed_invocation_id = $1
                union
                select _superseded_submitted_month from intermediate.int_cases__latest
                where _changed_invocation_id = $1 and _superseded_submitted_month is not null
                """,
                [run],
            ).fetchall()
        }
        all_months = con.execute(
            "select count(distinct submitted_month) from marts.fct_service_cases"
        ).fetchone()[0]  # type: ignore[index]
        logged = con.execute("select model, key_value from main.dbt_replaced_keys").fetchall()
    # only the batch's cases were rewritten (no register batch was held back)
    assert changed and set(changed.values()) == {last_batch}
    # the period-keyed models logged the periods they replaced (their data tests read those)
    assert {m for m, key in logged if key is None} == PERIOD_KEYED
    cell_months = {key for m, key in logged if m == "int_demand__case_cells" and key}
    assert cell_months and cell_months <= {str(m) for m, _ in months}
    assert len(changed) < len(before)
    assert {m for m, _ in months} == expected
    assert not any(full for _, full in months)
    assert len(months) < all_months
    # the first build of a chain was a full build of the case chain: every month listed
    first = _rows(
        built.warehouse,
        "select count(*), bool_and(is_full_rebuild) from intermediate.int_cases__changed_months",
    )[0]
    whole = _rows(
        built.warehouse, "select count(distinct submitted_month) from marts.fct_service_cases"
    )[0][0]
    assert first == (whole, True)


def test_incremental_intermediates_equal_a_build_from_scratch(
    incremental_chain, built: Paths
) -> None:
    """Every incremental table of the chain holds what a build from scratch holds."""
    paths, *_ = incremental_chain
    tables = [
        "intermediate.int_cases__latest",
        "intermediate.int_cases__processing_time",
        "intermediate.int_cases__enterprise_placement",
        "intermediate.int_enterprises__versions",
        "intermediate.int_persons__midyear_residents",
    ]
    stamps = {"_changed_invocation_id", "_superseded_submitted_month"}
    with duckdb.connect() as con:
        con.execute(f"attach '{paths.warehouse}' as inc (read_only)")
        con.execute(f"attach '{built.warehouse}' as full_build (read_only)")
        for table in tables:
            names = [r[0] for r in con.execute(f"describe full_build.{table}").fetchall()]
            cols = ", ".join(f'"{n}"' for n in names if n not in stamps)
            diff = con.execute(
                f"""
                select count(*) from (
                    (select {cols} from inc.{table} except all
                     select {cols} from full_build.{table})
                    union all
                    (select {cols} from full_build.{table} except all
                     select {cols} from inc.{table})
                )
                """
            ).fetchone()[0]  # type: ignore[index]
            assert diff == 0, table


def test_build_plan_follows_the_stored_fingerprints(tmp_path: Path, built: Paths) -> None:
    """Same key, seeds and project: the daily path; other seeds, key or model code: a full
    refresh."""
    stored = stored_build_info(built.warehouse)
    current = current_fingerprints(built)
    assert stored["key_fingerprint"] == current["key_fingerprint"]
    assert stored["seeds_fingerprint"] == current["seeds_fingerprint"]
    assert len(stored["project_fingerprint"] or "") == 64
    # (the project files may have been edited since the session's build: plan against the
    # stored project fingerprint)
    now = {**current, "project_fingerprint": str(stored["project_fingerprint"])}
    daily = plan_dbt_build(built.warehouse, False, now)
    assert not daily.full_refresh and daily.args[-len(DAILY_EXCLUDES) :] == list(DAILY_EXCLUDES)
    for name in ("seeds_fingerprint", "key_fingerprint", "project_fingerprint"):
        plan = plan_dbt_build(built.warehouse, False, {**now, name: "other"})
        assert plan.full_refresh and "--full-refresh" in plan.args, name
    asked = plan_dbt_build(built.warehouse, True, now)
    assert asked.full_refresh and "--exclude" not in asked.args
    empty = plan_dbt_build(None, False, now)
    assert not empty.full_refresh and "--exclude" not in empty.args
    assert (
        "copy of warehouse.duckdb"
        in plan_dbt_build(built.warehouse, False, now, built.root / "warehouse.duckdb").reason
    )
    # a warehouse from before the fingerprints existed: unknown seeds, so a full refresh
    legacy = tmp_path / "legacy.duckdb"
    with duckdb.connect(str(legacy)) as con:
        con.execute("create table main.build_info (build_id varchar, built_at timestamp)")
        con.execute("insert into main.build_info values ('old', now())")
    assert plan_dbt_build(legacy, False, now).full_refresh


def test_failing_build_leaves_the_served_warehouse_unchanged(incremental_chain) -> None:
    """A whole batch dated beyond the official calendar (a systemic failure: every row, more
    than the 50-row floor) fails the build; nothing is served. One such row would only be
    quarantined (tests/test_contract_rules.py)."""
    paths, *_ = incremental_chain
    served = paths.warehouse.stat()
    served_bytes = hashlib.sha256(paths.warehouse.read_bytes()).hexdigest()
    info_before = (paths.root / BUILD_INFO_JSON).read_text()
    with duckdb.connect() as con:
        last_year = con.execute(
            "select max(extract(year from cast(calendar_date as date))) "
            f"from read_csv('{Path(__file__).parent.parent / 'seeds' / 'ref_calendar.csv'}')"
        ).fetchone()[0]  # type: ignore[index]
        batch = f"{last_year + 1}0131"
        # move each case to the first days of January of the year after the calendar
        shift = f"(date '{last_year + 1}-01-02' - cast(submitted_at as date)) * interval 1 day"
        target = paths.landing / "cases" / f"batch={batch}"
        target.mkdir(parents=True)
        con.execute(
            f"""
            copy (
                select * replace (
                    case_id || '-beyond' as case_id,
                    submitted_at + {shift} as submitted_at,
                    accepted_at + {shift} as accepted_at,
                    completed_at + {shift} as completed_at,
                    updated_at + {shift} as updated_at,
                    '{batch}' as _batch_id,
                    'cases_{batch}.csv' as _source_file
                )
                from {_landing(paths, "cases")}
                where completed_at is not null
                    and completed_at - submitted_at < interval 20 day
                limit 60
            ) to '{target / "part-0.parquet"}' (format parquet)
            """
        )
    result = build(paths, fail_fast=True)  # stop dbt at the first failing node
    assert not result.ok
    assert result.failed_steps, result.summary()
    assert paths.warehouse.stat().st_ino == served.st_ino
    assert paths.warehouse.stat().st_mtime_ns == served.st_mtime_ns
    assert hashlib.sha256(paths.warehouse.read_bytes()).hexdigest() == served_bytes
    assert (paths.root / BUILD_INFO_JSON).read_text() == info_before
    assert "served warehouse unchanged" in result.summary()
    # a failed dbt build started from the standby; a standby of the still-served file is left
    if result.dbt is not None:
        assert "renamed the standby copy" in result.summary()
    assert take_standby(paths, paths.build_dir / "check.duckdb").taken
    assert sha256_file(paths.build_dir / "check.duckdb") == served_bytes
    (paths.build_dir / "check.duckdb").unlink()
    if result.failed_steps[0].name == "dbt build":
        # fail-fast reports the first failing test on the processing times: in_calendar on
        # the dates, or not_null_columns (working_days has no calendar index to count from)
        summary = result.summary()
        assert "in_calendar" in summary or "not_null_columns_int_cases__processing_time" in summary
        assert result.new_file.exists()  # kept for inspection
    shutil.rmtree(target)
