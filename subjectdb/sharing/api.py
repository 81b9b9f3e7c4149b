"""The read-only sharing API for other departments (FastAPI; served by ``subjectdb api``).

Endpoints (all under ``/v1``, all but ``/health`` need a department key in ``X-API-Key`` or
``Authorization: Bearer``):

- ``GET /v1/catalogue`` — the resource catalogue, with what this client is granted;
- ``GET /v1/resources`` — the resources this client may read;
- ``GET /v1/resources/{name}`` — rows of a resource, filtered on its dimensions
  (``?region_code=330102,330106&year=2025``), paged (``limit``, ``offset``), as JSON, CSV
  (formula-safe) or Parquet (``format``);
- ``GET /v1/resources/{name}/dictionary`` — its fields, types, descriptions and standards;
- ``POST /v1/verify/resident-id`` and ``/v1/verify/credit-code`` — yes/no verification of up to
  10,000 identifiers against the hashed registers (:mod:`subjectdb.sharing.verify`);
- ``GET /v1/feedback`` — the client department's own cases that failed a register check (case
  ids and checks only), as JSON or CSV.

Every request is audited (:mod:`subjectdb.sharing.audit`) with its client, resource, filters,
rows returned, status, duration, client address and worker pid, whether it succeeded or not,
on disk before the answer leaves (:class:`AuditEveryCall`). Errors are JSON
``{"error": {"code", "message"}}``: 401 no or unknown key, 403 not granted, 400 bad filter,
404 unknown resource, 413 over a limit, 422 malformed request, 429 rate limit, 503 no warehouse
or registers not loaded yet. ``subjectdb api --workers N`` runs N worker processes
(:func:`worker_app`), sharing rate limits (:mod:`subjectdb.sharing.limits`) and the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from subjectdb import catalogue as cat
from subjectdb.config import Paths, hmac_key
from subjectdb.serving import Warehouse, WarehouseUnavailable
from subjectdb.serving.queries import DB, feedback_cases
from subjectdb.sharing import resources as res
from subjectdb.sharing import verify as ver
from subjectdb.sharing.audit import AuditLog
from subjectdb.sharing.keys import ApiKey, KeyStore
from subjectdb.sharing.limits import RateLimiter
from subjectdb.sharing.paths import SharingPaths
from subjectdb.sharing.registers import RegisterCache, file_id
from subjectdb.standards import neutralise_formula

LOG = logging.getLogger(__name__)
TZ = ZoneInfo("Asia/Shanghai")
FORMATS = ("json", "csv", "parquet")
RESERVED = {"format", "limit", "offset"}


@dataclass(frozen=True)
class Settings:
    """Limits of the API (per call and per client)."""

    max_rows: int = 10_000
    default_rows: int = 1_000
    max_batch: int = ver.MAX_BATCH
    rate_per_second: float = 20.0
    burst: int = 40


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class VerifyRequest(BaseModel):
    """Identifiers the department already holds, and the date the answers are for."""

    ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        ..., min_length=1, description="Resident IDs or credit codes (at most 10,000)."
    )
    date: dt.date | None = Field(
        None, description="Reference date (default: today, Asia/Shanghai)."
    )


@dataclass
class Sharing:
    """The API's state: keys, audit, warehouse, catalogue and resources (reloaded on change)."""

    paths: Paths
    settings: Settings = field(default_factory=Settings)
    catalogue_override: cat.Catalogue | None = None
    keys: KeyStore = field(init=False)
    audit: AuditLog = field(init=False)
    warehouse: Warehouse = field(init=False)
    limiter: RateLimiter = field(init=False)
    registers: RegisterCache = field(init=False)
    reader: res.ReleaseReader = field(default_factory=res.ReleaseReader)
    _state: tuple[Any, ...] | None = field(default=None, init=False)
    _catalogues: dict[tuple[Any, ...], bytes] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _hmac: str | None = field(default=None, init=False)
    _watcher: threading.Thread | None = field(default=None, init=False)
    _stopped: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        sp = SharingPaths(self.paths)
        self.keys = KeyStore(sp.keys)
        self.audit = AuditLog(sp.audit)
        self.warehouse = Warehouse(self.paths.warehouse, retries=8)
        self.limiter = RateLimiter(sp.ratelimit, self.settings.rate_per_second, self.settings.burst)
        self.registers = RegisterCache(self.paths.warehouse)

    def start(self, poll: float = 1.0) -> None:
        """Before the first request: registers loaded, catalogue, resources and release tables
        read; then a watcher thread that, every ``poll`` seconds, reloads whatever a swap or a
        new release changed, so that no request pays for a reload (the old state answers until
        the new one is in place)."""
        self._refresh()
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, args=(poll,), daemon=True)
            self._watcher.start()

    def _refresh(self) -> None:
        try:
            self.registers.refresh()
        except Exception:  # noqa: BLE001 - a file mid-swap: the next round retries
            LOG.warning("cannot load the registers of %s yet", self.paths.warehouse)
        try:
            _, index = self.current()
            for resource in index.values():
                if resource.source == "release":
                    self.reader.table(resource)
        except (WarehouseUnavailable, OSError) as exc:
            LOG.warning("cannot read the catalogue and resources yet: %s", exc)

    def _watch(self, poll: float) -> None:
        while not self._stopped.wait(poll):
            self._refresh()

    def stop(self) -> None:
        self._stopped.set()

    # -- catalogue and resources follow the served build and the latest release
    def _signature(self) -> tuple[Any, ...]:
        """What the catalogue and resources depend on: the latest release and the served file
        (a few stat calls per request: no warehouse query)."""
        pointer = self.paths.opendata / "latest.json"
        latest = (
            pointer.stat().st_mtime_ns if pointer.is_file() else None,
            self.paths.releases.stat().st_mtime_ns if self.paths.releases.is_dir() else None,
        )
        try:
            build: str | None = file_id(self.paths.warehouse)
        except FileNotFoundError:
            build = None
        return (latest, build)

    def current(self) -> tuple[cat.Catalogue, dict[str, res.Resource]]:
        """The catalogue and resource index of the served build and latest release.

        Reloaded when either changes; one request reloads while the others wait for it.
        """
        sig = self._signature()
        with self._lock:
            if self._state is not None and self._state[0] == sig:
                return self._state[1], self._state[2]
        with self._load_lock:
            with self._lock:
                if self._state is not None and self._state[0] == sig:
                    return self._state[1], self._state[2]
            catalogue = self.catalogue_override or self._load_catalogue()
            found = res.release_resources(self.paths, catalogue)
            found += res.dimension_resources(self._dimension_columns(catalogue), catalogue)
            index = {r.name: r for r in found}
            with self._lock:
                self._state = (sig, catalogue, index)
                self._catalogues = {}
        return catalogue, index

    def catalogue_body(self, who: ApiKey) -> bytes:
        """The ``/v1/catalogue`` answer for ``who`` as JSON, made once per catalogue state and
        grant (department, purposes)."""
        catalogue, index = self.current()
        with self._lock:
            sig = self._state[0] if self._state is not None else None
            key = (sig, who.department, who.purposes)
            body = self._catalogues.get(key)
        if body is not None:
            return body
        entries = []
        by_entry: dict[int, list[str]] = {}
        for r in index.values():
            by_entry.setdefault(id(r.entry), []).append(r.name)
        for entry in catalogue:
            d = entry.as_dict()
            d["granted"] = cat.grant(entry, who.department, who.purposes)
            d["resources"] = sorted(by_entry.get(id(entry), []))
            entries.append(d)
        body = res.json_bytes({"source": catalogue.source, "entries": entries})
        with self._lock:
            if len(self._catalogues) > 1000:
                self._catalogues = {}
            self._catalogues[key] = body
        return body

    def _load_catalogue(self) -> cat.Catalogue:
        from subjectdb.release import PublishError, find_manifest

        try:
            manifest = find_manifest(self.paths, self._build_id())
        except PublishError:
            manifest = None
        return cat.load_catalogue(manifest)

    def _build_id(self) -> str | None:
        if not self.paths.warehouse.exists() or not self.warehouse.has_table("main", "build_info"):
            return None
        df = self.warehouse.df(f"select build_id from {DB}.main.build_info order by built_at desc")
        return str(df["build_id"].iloc[0]) if len(df) else None

    def _dimension_columns(self, catalogue: cat.Catalogue) -> dict[str, list[tuple[str, str]]]:
        models = [e.model for e in catalogue if e.kind == "dimension"]
        if not models or not self.paths.warehouse.exists():
            return {}
        df = self.warehouse.df(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_catalog = ? and table_schema = 'marts' and list_contains(?, table_name) "
            "order by table_name, ordinal_position",
            [DB, models],
        )
        out: dict[str, list[tuple[str, str]]] = {}
        for row in df.itertuples(index=False):
            out.setdefault(row.table_name, []).append((row.column_name, row.data_type))
        return out

    def hmac_key(self) -> str:
        if self._hmac is None:
            self._hmac = hmac_key(self.paths)
        return self._hmac


# --------------------------------------------------------------------------- helpers


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _note(request: Request, **fields: Any) -> None:
    request.state.audit = {**getattr(request.state, "audit", {}), **fields}


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def csv_bytes(frame: pd.DataFrame) -> bytes:
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(neutralise_formula)
    return safe.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _tabular(frame: pd.DataFrame, fmt: str, name: str, meta: dict[str, Any]) -> Response:
    if fmt == "csv":
        return Response(
            csv_bytes(frame),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "parquet":
        return Response(
            _parquet(frame),
            media_type="application/vnd.apache.parquet",
            headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
        )
    return JSONResponse({**meta, "rows": res.records(frame)})


def client(request: Request) -> ApiKey:
    """The authenticated, rate-limited department key of a request (a FastAPI dependency)."""
    sharing: Sharing = request.app.state.sharing
    key = _presented_key(request)
    record = sharing.keys.authenticate(key) if key else None
    if record is None:
        # unauthenticated calls share one bucket per client address (no key guessing at speed)
        address = request.client.host if request.client else "?"
        wait = sharing.limiter.take(f"address:{address}")
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                f"too many unauthenticated requests from {address}; retry in {wait:.2f} s",
                {"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        if not key:
            raise ApiError(401, "unauthenticated", "send a department API key in X-API-Key")
        raise ApiError(401, "unauthenticated", "unknown, revoked or malformed API key")
    _note(request, department=record.department, key_id=record.key_id)
    wait = sharing.limiter.take(record.key_id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {sharing.settings.rate_per_second:g} requests/s exceeded; "
            f"retry in {wait:.2f} s",
            {"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return record


Client = Annotated[ApiKey, Depends(client)]


# --------------------------------------------------------------------------- application


class AuditEveryCall:
    """ASGI middleware: every HTTP request is audited once, answered or not, and its record
    is on disk before the last byte of the answer leaves.

    The handlers note what the record needs in ``request.state.audit`` (:func:`_note`); the
    response start is held until the final body message, the record is submitted to the
    log's group commit and awaited without blocking the event loop (concurrent requests wait
    together and share one ``fsync``: :class:`subjectdb.audit.GroupCommit`), then the answer
    goes out. An exception no handler answered becomes an audited JSON 500. A plain ASGI
    middleware rather than ``@app.middleware``: no extra task and stream per request.
    """

    def __init__(self, app: Any, sharing: Sharing) -> None:
        self.app, self.sharing = app, sharing

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault("state", {})["audit"] = {}
        held: list[dict] = []
        status: list[int] = []

        async def audit() -> None:
            record = dict(scope["state"].get("audit") or {})
            client = scope.get("client")
            await asyncio.wrap_future(
                self.sharing.audit.submit(
                    method=scope["method"],
                    path=scope["path"],
                    client_address=client[0] if client else None,
                    department=record.pop("department", None),
                    key_id=record.pop("key_id", None),
                    resource=record.pop("resource", None),
                    status=status[0] if status else 500,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    **record,
                )
            )

        async def send_audited(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                held.append(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await audit()
            while held:
                await send(held.pop(0))
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            if held or not status:  # nothing sent yet: answer (and audit) a JSON 500
                held.clear()
                status.clear()
                scope["state"].setdefault("audit", {})["error"] = "server_error"
                error = _error(500, "server_error", "internal error (audited)")
                await error(scope, receive, send_audited)
            else:
                raise


def create_app(sharing: Sharing) -> FastAPI:
    """The FastAPI application over ``sharing``'s data folder (:meth:`Sharing.start` runs
    before the first request is served)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(sharing.start)
        yield
        sharing.stop()

    app = FastAPI(
        title="subjectdb sharing API (政务数据共享接口)",
        version="1.0.0",
        description=(__doc__ or "").split("\n\n", 1)[0],
        lifespan=lifespan,
    )
    app.state.sharing = sharing

    app.add_middleware(AuditEveryCall, sharing=sharing)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        _note(request, error=exc.code)
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        _note(request, error="malformed_request")
        return _error(422, "malformed_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        _note(request, error=code)
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(WarehouseUnavailable)
    async def unavailable(request: Request, exc: WarehouseUnavailable) -> JSONResponse:
        _note(request, error="unavailable")
        return _error(503, "unavailable", "the served warehouse cannot be read right now")

    def granted(entry: cat.Entry, who: ApiKey) -> bool:
        return cat.grant(entry, who.department, who.purposes)

    def resource_for(request: Request, name: str, who: ApiKey) -> res.Resource:
        _note(request, resource=name)
        _, index = sharing.current()
        resource = index.get(name)
        if resource is None:
            raise ApiError(404, "unknown_resource", f"no resource named {name!r}")
        if not granted(resource.entry, who):
            raise ApiError(
                403,
                "not_granted",
                f"{name} ({resource.entry.identifier}) is {resource.entry.sharing_type}: not "
                f"granted to {who.department}",
            )
        return resource

    @app.get("/health", summary="Liveness (no key needed)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "worker": os.getpid()}

    @app.get("/v1/catalogue", summary="The resource catalogue (政务信息资源目录)")
    def catalogue(request: Request, who: Client) -> Response:
        _note(request, resource="catalogue")
        body = sharing.catalogue_body(who)
        _note(request, rows=len(sharing.current()[0].entries))
        return Response(body, media_type="application/json")

    @app.get("/v1/resources", summary="Resources this client may read")
    def resources(request: Request, who: Client) -> dict[str, Any]:
        _note(request, resource="resources")
        _, index = sharing.current()
        out = [r.describe() for r in index.values() if granted(r.entry, who)]
        _note(request, rows=len(out))
        return {"resources": sorted(out, key=lambda r: r["name"])}

    @app.get("/v1/resources/{name}", summary="Rows of a resource (filters, paging)")
    def rows(
        request: Request,
        name: str,
        who: Client,
        format: Annotated[str, Query(pattern="^(json|csv|parquet)$")] = "json",
        limit: Annotated[int | None, Query(ge=1)] = None,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        resource = resource_for(request, name, who)
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key in RESERVED:
                continue
            values = [v.strip() for v in value.split(",") if v.strip()]
            if not values:
                raise ApiError(400, "bad_filter", f"filter {key!r} has no value")
            filters.setdefault(key, []).extend(values)
        _note(request, filters=filters, format=format, limit=limit, offset=offset)
        size = sharing.settings.default_rows if limit is None else limit
        if size > sharing.settings.max_rows:
            raise ApiError(
                413,
                "limit_exceeded",
                f"limit {size} exceeds the maximum of {sharing.settings.max_rows} rows per "
                "call: page with offset",
            )
        table: res.ReleaseTable | None = None
        page: Any = None  # row positions in the release table
        frame: pd.DataFrame | None = None
        try:
            if resource.source == "release":
                table = sharing.reader.table(resource)
                page, total = res.select_frame(resource, table, filters, size, offset)
                returned = len(page)
                if format != "json":
                    frame = table.frame.iloc[page].reset_index(drop=True)
            else:
                location = f"{DB}.{resource.location}"

                def run(sql: str, params: Any) -> pd.DataFrame:
                    return sharing.warehouse.df(
                        f"with src as (select * from {location}) {sql}", params
                    )

                selection = res.select_rows(resource, filters, size, offset, run)
                frame, total, returned = selection.frame, selection.total, len(selection.frame)
        except res.ResourceError as exc:
            raise ApiError(400, "bad_filter", str(exc)) from exc
        _note(request, rows=returned, total=total)
        nxt = offset + returned
        meta = {
            "resource": name,
            "release_version": resource.release_version,
            "filters": filters,
            "total": total,
            "offset": offset,
            "limit": size,
            "next_offset": nxt if nxt < total else None,
        }
        headers = {"X-Total-Count": str(total)}
        if table is not None and format == "json":
            body = table.page_json(page, meta)
            return Response(body, media_type="application/json", headers=headers)
        assert frame is not None
        response = _tabular(frame, format, name, meta)
        response.headers.update(headers)
        return response

    @app.get("/v1/resources/{name}/dictionary", summary="Data dictionary of a resource")
    def dictionary(request: Request, name: str, who: Client) -> dict[str, Any]:
        resource = resource_for(request, name, who)
        _note(request, rows=len(resource.fields))
        return {**resource.describe(), "fields": list(resource.fields)}

    def verification(request: Request, kind: str, body: VerifyRequest, who: ApiKey) -> Response:
        model = (
            "int_verification__person_versions"
            if kind == "resident_id"
            else ("int_enterprises__versions")
        )
        _note(request, resource=model, ids=len(body.ids))
        catalogue, _ = sharing.current()
        entry = catalogue.entries.get(model)
        if entry is None:
            raise ApiError(404, "unknown_resource", f"the catalogue has no entry for {model}")
        if not granted(entry, who):
            raise ApiError(
                403, "not_granted", f"{entry.identifier} is not granted to {who.department}"
            )
        if len(body.ids) > sharing.settings.max_batch:
            raise ApiError(
                413,
                "batch_too_large",
                f"{len(body.ids)} identifiers: at most {sharing.settings.max_batch} per call",
            )
        registers = sharing.registers.get()
        if registers is None:
            raise ApiError(503, "unavailable", "the registers are not loaded yet; retry shortly")
        on = body.date or dt.datetime.now(TZ).date()
        ids = [ver.normalise_identifier(i) for i in body.ids]
        digests = ver.digest_identifiers(sharing.hmac_key(), ids, normalised=True)
        detail = cat.grants_detail(entry, who.department)
        answers = ver.verify(registers, kind, digests, on, detail)
        well_formed = ver.well_formed(kind, ids, normalised=True)
        for answer, ok in zip(answers, well_formed, strict=True):
            answer["well_formed"] = ok
        hashes = [d.hex() for d in digests]
        if len(hashes) <= 100:
            audit_ids: dict[str, Any] = {"id_hashes": hashes}
        else:
            audit_ids = {"batch_sha256": hashlib.sha256("\n".join(hashes).encode()).hexdigest()}
        _note(
            request,
            rows=len(answers),
            date=on.isoformat(),
            detail=detail,
            build_id=registers.build_id,
            **audit_ids,
        )
        content = {
            "kind": kind,
            "date": on.isoformat(),
            "detail": detail,
            "build_id": registers.build_id,
            "answers": answers,
        }
        # rendered here: FastAPI's generic encoder costs ~0.2 s on 10,000 answers
        return Response(res.json_bytes(content), media_type="application/json")

    @app.post("/v1/verify/resident-id", summary="Verify resident IDs (yes/no)")
    def verify_resident(
        request: Request, who: Client, body: Annotated[VerifyRequest, Body()]
    ) -> Response:
        return verification(request, "resident_id", body, who)

    @app.post("/v1/verify/credit-code", summary="Verify unified social credit codes (yes/no)")
    def verify_credit(
        request: Request, who: Client, body: Annotated[VerifyRequest, Body()]
    ) -> Response:
        return verification(request, "credit_code", body, who)

    @app.get("/v1/feedback", summary="This department's cases that failed a register check")
    def feedback(
        request: Request,
        who: Client,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
        month: Annotated[dt.date | None, Query(description="First day of a month")] = None,
    ) -> Response:
        model = "int_verification__case_checks"
        _note(request, resource=model, filters={"month": month.isoformat() if month else None})
        catalogue, _ = sharing.current()
        entry = catalogue.entries.get(model)
        if entry is None or not granted(entry, who):
            raise ApiError(403, "not_granted", f"feedback is not granted to {who.department}")
        first = month.replace(day=1) if month is not None else None
        frame = feedback_cases(sharing.warehouse, who.department, first, first)
        _note(request, rows=len(frame))
        meta = {"department": who.department, "cases": len(frame)}
        return _tabular(frame, format, "feedback", meta)

    return app


ENV_RATE = "SUBJECTDB_API_RATE"
ENV_BURST = "SUBJECTDB_API_BURST"


def _settings_from_env() -> Settings:
    base = Settings()
    return Settings(
        rate_per_second=float(os.environ.get(ENV_RATE, base.rate_per_second)),
        burst=int(os.environ.get(ENV_BURST, base.burst)),
    )


def worker_app() -> FastAPI:
    """The application of one ``subjectdb api --workers N`` worker process (a uvicorn factory):
    the data folder from ``$SUBJECTDB_DATA``, the limits from ``$SUBJECTDB_API_RATE`` /
    ``$SUBJECTDB_API_BURST``. Every worker reads its own catalogue, release tables and registers
    and follows the swap by itself; rate limits and the audit log are shared through files."""
    from subjectdb.config import get_paths

    return create_app(Sharing(get_paths(), settings=_settings_from_env()))


def serve(
    paths: Paths,
    host: str = "127.0.0.1",
    port: int = 8600,
    workers: int = 1,
    settings: Settings | None = None,
    log_level: str = "info",
) -> None:
    """Run the API on ``host:port`` with uvicorn until interrupted (``subjectdb api``).

    ``workers`` > 1 runs that many processes on the one port (uvicorn's supervisor), each an
    application of :func:`worker_app`.
    """
    import uvicorn

    settings = settings or Settings()
    if workers <= 1:
        app = create_app(Sharing(paths, settings=settings))
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    os.environ["SUBJECTDB_DATA"] = str(paths.root)
    os.environ[ENV_RATE] = str(settings.rate_per_second)
    os.environ[ENV_BURST] = str(settings.burst)
    uvicorn.run(
        "subjectdb.sharing.api:worker_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )
