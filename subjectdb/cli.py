"""The ``subjectdb`` command line: a thin layer over the package's modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from subjectdb.config import Paths, get_paths

app = typer.Typer(
    help="subjectdb: subject database and open-data warehouse for Internet+ government services.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Working data folder (default ./data or $SUBJECTDB_DATA)."),
]


class UserError(Exception):
    """An error the user can act on: printed without a traceback, exit code 1."""


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _existing(data_dir: Path | None, *, warehouse: bool = False) -> Paths:
    """The data folder of a command that reads one: an error (creating nothing) when it, or
    its served warehouse when ``warehouse``, does not exist."""
    paths = get_paths(data_dir)
    if not paths.root.is_dir():
        _fail(
            f"no data folder at {paths.root}: check --data-dir / $SUBJECTDB_DATA, "
            "or run `subjectdb load` first"
        )
    if warehouse and not paths.warehouse.is_file():
        _fail(f"no warehouse at {paths.warehouse}: run `subjectdb build` first")
    return paths


@app.command()
def generate(
    out: Annotated[Path | None, typer.Option(help="Output folder (default DATA/raw).")] = None,
    province: Annotated[str, typer.Option(help="GB/T 2260 province code.")] = "330000",
    persons: Annotated[int, typer.Option(help="Persons in the population register.")] = 20_000,
    enterprises: Annotated[int, typer.Option(help="Enterprises in the register.")] = 2_000,
    cases: Annotated[int, typer.Option(help="Approval cases over the whole period.")] = 60_000,
    years: Annotated[str, typer.Option(help="Year range, e.g. 2024-2025.")] = "2024-2025",
    batches: Annotated[int, typer.Option(help="Extract batches over the period.")] = 6,
    format: Annotated[str, typer.Option("--format", help="csv | csv-gbk | parquet.")] = "csv",
    defect_rate: Annotated[
        float, typer.Option(help="Share of rows with an injected defect.")
    ] = 0.01,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 2026,
    data_dir: DataDir = None,
) -> None:
    """Generate realistic raw extracts (cases, persons, enterprises) with a defect manifest."""
    from subjectdb import synth as gen

    paths = get_paths(data_dir)
    target = out or paths.raw
    try:
        result = gen.generate(
            out=target,
            province=province,
            persons=persons,
            enterprises=enterprises,
            cases=cases,
            years=gen.parse_years(years),
            batches=batches,
            fmt=format,
            defect_rate=defect_rate,
            seed=seed,
            show_progress=True,
        )
    except gen.GenerateError as exc:
        _fail(str(exc))
    console.print(result.summary())


@app.command()
def load(
    paths_: Annotated[
        list[Path], typer.Argument(metavar="PATH...", help="Extract files or folders.")
    ],
    encoding: Annotated[
        str | None, typer.Option(help="Force an encoding (utf-8, gbk); detected by default.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Load extract files into the landing zone; unreadable rows go to quarantine."""
    from subjectdb import ingest as loader

    paths = get_paths(data_dir).ensure()
    try:
        reports = loader.load_paths(paths_, paths, encoding=encoding, show_progress=True)
    except loader.LoadError as exc:
        _fail(str(exc))
    loader.print_reports(reports, console)
    if any(r.rejected for r in reports):
        raise typer.Exit(1)


@app.command()
def quarantine(
    reason: Annotated[
        str | None, typer.Option(help="Show the rows quarantined for this reason.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many rows to show with --reason.")] = 20,
    data_dir: DataDir = None,
) -> None:
    """What was rejected and why: counts by stage, extract, batch and reason; rows with --reason."""
    from rich.table import Table

    from subjectdb.serving.queries import quarantine_counts, quarantine_rows

    paths = _existing(data_dir)
    frame = quarantine_rows(paths.root, reason, limit) if reason else quarantine_counts(paths.root)
    if frame.empty:
        console.print("no quarantined rows" + (f" with reason {reason}" if reason else ""))
        return
    table = Table(title=f"quarantine in {paths.quarantine}")
    for col in frame.columns:
        table.add_column(str(col), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


@app.command()
def build(
    data_dir: DataDir = None,
    full_refresh: Annotated[
        bool, typer.Option(help="Rebuild incremental models from scratch.")
    ] = False,
    keep_failed: Annotated[
        int | None,
        typer.Option(
            help="Failed build copies to keep for inspection "
            "(default $SUBJECTDB_KEEP_FAILED_BUILDS or 1)."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="duckdb (embedded, default) or spark (dbt-spark on $SUBJECTDB_SPARK_MASTER, "
            "default local[2]; tables exported into the served DuckDB file, docs/spark.md)."
        ),
    ] = "duckdb",
) -> None:
    """Raw suites → dbt build into a new file → gates → swap in the served warehouse.

    Says "up to date" and changes nothing when nothing is new since the served build."""
    from subjectdb.release.checks import RELEASE_GATES
    from subjectdb.warehouse import build as builder

    paths = get_paths(data_dir)
    try:
        result = builder.build(
            paths,
            full_refresh=full_refresh,
            show_progress=True,
            keep=keep_failed,
            extra_gates=RELEASE_GATES,
            engine=engine,
        )
    except builder.BuildError as exc:
        _fail(str(exc))
    except builder.BuildInterrupted as exc:
        _fail(f"build {exc}: dbt stopped, served warehouse unchanged", 128 + exc.signum)
    except KeyboardInterrupt:
        _fail("build interrupted: dbt stopped, served warehouse unchanged", 130)
    console.print(result.summary())
    if not result.ok:
        raise typer.Exit(1)


@app.command("rotate-key")
def rotate_key(data_dir: DataDir = None) -> None:
    """Re-key the warehouse with a new HMAC key (full rebuild; snapshot history re-keyed).

    The current key comes from $SUBJECTDB_HMAC_KEY (or data/secrets/hmac.key), the new one
    from $SUBJECTDB_HMAC_NEW_KEY: with the key in the environment run
    `SUBJECTDB_HMAC_KEY=<current> SUBJECTDB_HMAC_NEW_KEY=<new> subjectdb rotate-key`, then
    make $SUBJECTDB_HMAC_KEY the new key. With the local key file a new random key is drawn
    (unless $SUBJECTDB_HMAC_NEW_KEY is set) and stored once the new warehouse is served."""
    from subjectdb.release.checks import RELEASE_GATES
    from subjectdb.warehouse import build as builder
    from subjectdb.warehouse import rotate

    try:
        rotation = rotate.rotate_key(
            get_paths(data_dir), show_progress=True, extra_gates=RELEASE_GATES
        )
    except builder.BuildError as exc:
        _fail(str(exc))
    except builder.BuildInterrupted as exc:
        _fail(f"rotate-key {exc}: served warehouse and key unchanged", 128 + exc.signum)
    console.print(builder.Summary(rotation.summary()))
    if not rotation.ok:
        raise typer.Exit(1)


@app.command()
def clean(
    data_dir: DataDir = None,
    keep_failed: Annotated[int, typer.Option(help="Newest failed build copies to keep.")] = 0,
    logs: Annotated[bool, typer.Option("--logs", help="Remove build logs too.")] = False,
) -> None:
    """Remove build scratch: failed build copies, dbt folders, spill and temporary files.

    Never touches the served warehouse, landing, quarantine, secrets, validation or releases."""
    from subjectdb.warehouse import build as builder
    from subjectdb.warehouse import scratch

    try:
        report = scratch.clean(get_paths(data_dir), keep_copies=keep_failed, logs=logs)
    except builder.BuildError as exc:
        _fail(str(exc))
    console.print(builder.Summary(report.summary()))


@app.command()
def validate(data_dir: DataDir = None) -> None:
    """Run the raw-extract suites and the publication gates; write Data Docs."""
    from subjectdb import quality
    from subjectdb.release.checks import RELEASE_GATES

    paths = _existing(data_dir)
    report = quality.validate_all(paths, show_progress=True, extra_gates=RELEASE_GATES)
    console.print(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def publish(
    version: Annotated[
        str | None, typer.Option(help="Release version (default: date-based).")
    ] = None,
    threshold: Annotated[
        int, typer.Option(help="Minimum distinct applicants per cell (≥ 5).")
    ] = 10,
    data_dir: DataDir = None,
) -> None:
    """Publish a versioned, disclosure-controlled open-data release.

    Without ``--version``, a warehouse build already published at the same threshold is
    "up to date" (exit 0, nothing written); ``--version`` always publishes.
    """
    from subjectdb.release import PublishError, current_release
    from subjectdb.release import publish as publish_release

    paths = _existing(data_dir, warehouse=True)
    if version is None and (current := current_release(paths, threshold)) is not None:
        console.print(
            f"[green]up to date[/]: release {current.name} already publishes this build "
            f"(threshold {threshold}); pass --version to publish it again under a new version"
        )
        return
    try:
        release = publish_release(paths, version=version, threshold=threshold)
    except PublishError as exc:
        _fail(str(exc))
    console.print(f"[green]published[/] {release}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 8501,
    data_dir: DataDir = None,
) -> None:
    """Serve the planners' dashboard on localhost (read-only)."""
    paths = _existing(data_dir, warehouse=True)
    from subjectdb.serving.serve import run_streamlit, streamlit_command, streamlit_env

    console.print(f"dashboard on [bold]http://127.0.0.1:{port}[/]")
    raise typer.Exit(run_streamlit(streamlit_command(port), streamlit_env(paths)))


@app.command()
def bench(
    size: Annotated[str, typer.Option(help="smoke | 1m | 10m | 50m.")] = "10m",
    runs: Annotated[int, typer.Option(help="Complete runs; the report gives medians.")] = 3,
    no_readme: Annotated[bool, typer.Option("--no-readme", help="Leave README.md alone.")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Scratch folder (default benchmarks/work).")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated optional stage groups or stages, e.g. sharing (the sharing "
            "API load); default: every stage but the sharing API load."
        ),
    ] = None,
) -> None:
    """Time every stage at a size; write benchmarks/results/<size>.json and the README table."""
    from subjectdb import bench as benchmarks

    if size not in benchmarks.SIZES:
        _fail(f"unknown size {size!r}: choose one of {', '.join(benchmarks.SIZES)}")
    try:
        out = benchmarks.run_benchmark(
            size=size,
            runs=runs,
            data_dir=data_dir,
            stages=[s for s in only.split(",") if s] if only else None,
            update_readme=not no_readme,
            progress=lambda msg: console.print(f"[dim]{msg}[/]"),
        )
    except benchmarks.BenchmarkError as exc:
        _fail(str(exc))
    console.print(f"[green]results[/] {out}")


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 8501,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after publishing.")] = False,
    persons: Annotated[int, typer.Option(help="Persons in the sample's register.")] = 20_000,
    enterprises: Annotated[int, typer.Option(help="Enterprises in the sample.")] = 2_000,
    cases: Annotated[int, typer.Option(help="Approval cases in the sample.")] = 60_000,
    years: Annotated[str, typer.Option(help="The sample's years, e.g. 2024-2025.")] = "2024-2025",
    batches: Annotated[int, typer.Option(help="The sample's extract batches.")] = 6,
    defect_rate: Annotated[float, typer.Option(help="Share of defective rows.")] = 0.01,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same sample).")] = 2026,
    data_dir: DataDir = None,
) -> None:
    """generate → load → build (with validation) → publish → serve, on a fresh sample.

    Safe to repeat: the same options generate the same bytes, so a second demo loads nothing
    new ("already loaded"), its build and publish are "up to date", and it serves the
    warehouse and release of the first.
    """
    paths = get_paths(data_dir).ensure()
    generate(
        out=paths.raw,
        persons=persons,
        enterprises=enterprises,
        cases=cases,
        years=years,
        batches=batches,
        defect_rate=defect_rate,
        seed=seed,
        data_dir=data_dir,
    )
    load(paths_=[paths.raw], data_dir=data_dir)
    build(data_dir=data_dir)
    publish(data_dir=data_dir)
    validate(data_dir=data_dir)  # after publishing: the release's checks apply too
    if not no_serve:
        serve(port=port, data_dir=data_dir)


# --------------------------------------------------------------------------- sharing


@app.command()
def api(
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 8600,
    host: Annotated[str, typer.Option(help="Interface (localhost by default).")] = "127.0.0.1",
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each follows the swap by itself).")
    ] = 1,
    rate: Annotated[
        float, typer.Option(min=0.001, help="Requests a second per client (all workers).")
    ] = 20.0,
    burst: Annotated[int, typer.Option(min=1, help="Burst of requests per client.")] = 40,
    data_dir: DataDir = None,
) -> None:
    """Serve the read-only sharing API for other departments (OpenAPI at /docs)."""
    paths = _existing(data_dir, warehouse=True)
    from subjectdb.sharing.api import Settings
    from subjectdb.sharing.api import serve as serve_api

    console.print(
        f"sharing API on [bold]http://{host}:{port}[/] (OpenAPI: /docs), {workers} worker(s)"
    )
    settings = Settings(rate_per_second=rate, burst=burst)
    serve_api(paths, host=host, port=port, workers=workers, settings=settings)


api_key_app = typer.Typer(help="Department API keys of the sharing API (stored hashed).")
app.add_typer(api_key_app, name="api-key")


@api_key_app.command("create")
def api_key_create(
    department: Annotated[str, typer.Option(help="The department the key is for.")],
    purpose: Annotated[
        list[str] | None, typer.Option(help="A purpose the key is used for (repeatable).")
    ] = None,
    label: Annotated[str, typer.Option(help="A note kept with the key.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Create a key for a department and print it once (only its hash is kept)."""
    from subjectdb.sharing import KeyStore, SharingPaths
    from subjectdb.sharing.keys import KeyStoreError

    paths = get_paths(data_dir)
    try:
        key, record = KeyStore(SharingPaths(paths).keys).create(
            department, tuple(purpose or ()), label
        )
    except KeyStoreError as exc:
        _fail(str(exc))
    console.print(f"key id {record.key_id} for {record.department} (shown once, keep it safe):")
    typer.echo(key)


@api_key_app.command("list")
def api_key_list(data_dir: DataDir = None) -> None:
    """List the keys (id, department, purposes, created, revoked): never the keys."""
    from subjectdb.sharing import KeyStore, SharingPaths

    for k in KeyStore(SharingPaths(get_paths(data_dir)).keys).list():
        state = f"revoked {k.revoked}" if k.revoked else "active"
        typer.echo(f"{k.key_id}\t{k.department}\t{','.join(k.purposes)}\t{k.created}\t{state}")


@api_key_app.command("revoke")
def api_key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (as listed).")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: the API refuses it from the next request on."""
    from subjectdb.sharing import KeyStore, SharingPaths
    from subjectdb.sharing.keys import KeyStoreError

    try:
        KeyStore(SharingPaths(get_paths(data_dir)).keys).revoke(key_id)
    except KeyStoreError as exc:
        _fail(str(exc))
    console.print(f"revoked {key_id}")


@app.command()
def catalogue(
    format: Annotated[str, typer.Option("--format", help="table | json | csv.")] = "table",
    lang: Annotated[str, typer.Option(help="zh | en (titles and types).")] = "zh",
    out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
    data_dir: DataDir = None,
) -> None:
    """The resource catalogue (政务信息资源目录): print it or export it as JSON / CSV."""
    import csv
    import io
    import json

    from subjectdb import catalogue as cat
    from subjectdb.release import PublishError, find_manifest

    try:
        manifest = find_manifest(get_paths(data_dir))
    except PublishError:
        manifest = None
    try:
        entries = cat.load_catalogue(manifest)
        rows = cat.rows(entries, lang)
    except cat.CatalogueError as exc:
        _fail(str(exc))
    if format == "json":
        text = json.dumps([e.as_dict() for e in entries], ensure_ascii=False, indent=2) + "\n"
    elif format == "csv":
        from subjectdb.standards import neutralise_formula

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows({k: neutralise_formula(v) for k, v in r.items()} for r in rows)
        text = buf.getvalue()
    elif format == "table":
        from rich.table import Table

        table = Table(title=f"catalogue ({entries.source})")
        cols = ("identifier", "model", "kind", "title", "sharing_type", "opening_type")
        for col in cols:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*(r[c] for c in cols))
        Console().print(table)
        return
    else:
        _fail(f"unknown format {format!r}: table, json or csv")
    if out:
        out.write_text(text, encoding="utf-8")
        console.print(f"[green]wrote[/] {out} ({len(rows)} resources)")
    else:
        typer.echo(text, nl=False)


AUDIT_LOGS = ("api", "dashboard", "all")


@app.command()
def audit(
    log: Annotated[
        str, typer.Option("--log", help="api (sharing API) | dashboard | all (both, merged).")
    ] = "api",
    department: Annotated[str | None, typer.Option(help="Only this department.")] = None,
    resource: Annotated[str | None, typer.Option(help="Only this resource.")] = None,
    status: Annotated[int | None, typer.Option(help="Only this HTTP status.")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only refused or failed calls.")] = False,
    since: Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-12-01.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 50,
    json_out: Annotated[
        bool, typer.Option("--json", help="JSON lines instead of a table.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Query the access audit (数据访问审计), newest first: the sharing API's calls, the
    dashboard's views and downloads, or both."""
    import json

    from subjectdb import audit as audit_leaf
    from subjectdb.sharing import SharingPaths

    if log not in AUDIT_LOGS:
        _fail(f"unknown log {log!r}: use {', '.join(AUDIT_LOGS)}")
    paths = get_paths(data_dir)
    files = []
    if log in ("api", "all"):
        files.append(SharingPaths(paths).audit)
    if log in ("dashboard", "all"):
        files.append(paths.audit_log)
    try:
        found = audit_leaf.read_audit(files, since=since)
    except ValueError as exc:
        _fail(f"--since {since!r}: {exc}")
    records = []
    for r in reversed(found):
        status_ = r.get("status")
        if department is not None and department not in (r.get("department"), r.get("user")):
            continue
        if resource is not None and r.get("resource") != resource:
            continue
        if status is not None and status_ != status:
            continue
        failed = (isinstance(status_, int) and status_ >= 400) or (
            isinstance(status_, str) and status_ != "ok"
        )
        if errors and not failed:
            continue
        records.append(r)
        if len(records) >= limit:
            break
    if json_out:
        for r in records:
            typer.echo(json.dumps(r, ensure_ascii=False))
        return
    from rich.table import Table

    def cell(r: dict, *names: str) -> str:
        for n in names:
            if r.get(n) is not None:
                return str(r[n])
        return ""

    cols = {
        "time": ("time",),
        "log": ("source",),
        "who": ("department", "user"),
        "address": ("client_address", "address"),
        "what": ("path", "event"),
        "resource": ("resource", "page"),
        "status": ("status",),
        "rows": ("rows",),
        "pid": ("pid",),
    }
    names = ", ".join(str(f) for f in files)
    table = Table(title=f"audit {names} ({len(records)} shown)")
    for col in cols:
        table.add_column(col, overflow="fold")
    for r in records:
        table.add_row(*(cell(r, *fields) for fields in cols.values()))
    Console().print(table)


if __name__ == "__main__":  # pragma: no cover
    app()
