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
rows returned, status, duration and client address, whether it succeeded or not. Errors are JSON
``{"error": {"code", "message"}}``: 401 no or unknown key, 403 not granted, 400 bad filter,
404 unknown resource, 413 over a limit, 422 malformed request, 429 rate limit, 503 no warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import threading
import time
from collections.abc import Callable
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
from subjectdb.serving.queries import DB
from subjectdb.sharing import resources as res
from subjectdb.sharing import verify as ver
from subjectdb.sharing.audit import AuditLog
from subjectdb.sharing.keys import ApiKey, KeyStore
from subjectdb.sharing.paths import SharingPaths
from subjectdb.standards import neutralise_formula

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


@dataclass
class RateLimiter:
    """A token bucket per client: ``rate`` requests a second, bursts up to ``burst``."""

    rate: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[client] = (tokens - 1, now)
            return 0.0


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
    reader: res.ReleaseReader = field(default_factory=res.ReleaseReader)
    _state: tuple[Any, ...] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _hmac: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        sp = SharingPaths(self.paths)
        self.keys = KeyStore(sp.keys)
        self.audit = AuditLog(sp.audit)
        self.warehouse = Warehouse(self.paths.warehouse, retries=8)
        self.limiter = RateLimiter(self.settings.rate_per_second, self.settings.burst)

    # -- catalogue and resources follow the served build and the latest release
    def _signature(self) -> tuple[Any, ...]:
        pointer = self.paths.opendata / "latest.json"
        latest = (
            pointer.stat().st_mtime_ns if pointer.is_file() else None,
            self.paths.releases.stat().st_mtime_ns if self.paths.releases.is_dir() else None,
        )
        build = self.warehouse.build_id if self.paths.warehouse.exists() else None
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
        return catalogue, index

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


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    return [{k: _jsonable(v) for k, v in r.items()} for r in out.to_dict(orient="records")]


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
    return JSONResponse({**meta, "rows": _records(frame)})


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


def create_app(sharing: Sharing) -> FastAPI:
    """The FastAPI application over ``sharing``'s data folder."""
    app = FastAPI(
        title="subjectdb sharing API (政务数据共享接口)",
        version="1.0.0",
        description=(__doc__ or "").split("\n\n", 1)[0],
    )
    app.state.sharing = sharing

    @app.middleware("http")
    async def audit_every_call(request: Request, call_next: Callable) -> Response:
        started = time.perf_counter()
        request.state.audit = {}
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - audited, then a JSON 500
            response = _error(500, "server_error", "internal error (audited)")
        record = getattr(request.state, "audit", {})
        sharing.audit.write(
            method=request.method,
            path=request.url.path,
            client_address=request.client.host if request.client else None,
            department=record.pop("department", None),
            key_id=record.pop("key_id", None),
            resource=record.pop("resource", None),
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            **record,
        )
        return response

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
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/catalogue", summary="The resource catalogue (政务信息资源目录)")
    def catalogue(request: Request, who: Client) -> dict[str, Any]:
        _note(request, resource="catalogue")
        catalogue, index = sharing.current()
        entries = []
        for entry in catalogue:
            d = entry.as_dict()
            d["granted"] = granted(entry, who)
            d["resources"] = sorted(r.name for r in index.values() if r.entry is entry)
            entries.append(d)
        _note(request, rows=len(entries))
        return {"source": catalogue.source, "entries": entries}

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
        try:
            if resource.source == "release":
                frame = sharing.reader.frame(resource)
                selection = res.select_frame(resource, frame, filters, size, offset)
            else:
                table = f"{DB}.{resource.location}"

                def run(sql: str, params: Any) -> pd.DataFrame:
                    return sharing.warehouse.df(
                        f"with src as (select * from {table}) {sql}", params
                    )

                selection = res.select_rows(resource, filters, size, offset, run)
        except res.ResourceError as exc:
            raise ApiError(400, "bad_filter", str(exc)) from exc
        _note(request, rows=len(selection.frame), total=selection.total)
        nxt = offset + len(selection.frame)
        meta = {
            "resource": name,
            "release_version": resource.release_version,
            "filters": filters,
            "total": selection.total,
            "offset": offset,
            "limit": size,
            "next_offset": nxt if nxt < selection.total else None,
        }
        response = _tabular(selection.frame, format, name, meta)
        response.headers["X-Total-Count"] = str(selection.total)
        return response

    @app.get("/v1/resources/{name}/dictionary", summary="Data dictionary of a resource")
    def dictionary(request: Request, name: str, who: Client) -> dict[str, Any]:
        resource = resource_for(request, name, who)
        _note(request, rows=len(resource.fields))
        return {**resource.describe(), "fields": list(resource.fields)}

    def verification(request: Request, kind: str, body: VerifyRequest, who: ApiKey) -> JSONResponse:
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
        on = body.date or dt.datetime.now(TZ).date()
        ids = [ver.normalise_identifier(i) for i in body.ids]
        hashes = ver.hash_identifiers(sharing.hmac_key(), ids, normalised=True)
        detail = cat.grants_detail(entry, who.department)
        answers = ver.verify(sharing.warehouse.df, DB, kind, hashes, on, detail)
        well_formed = ver.well_formed(kind, ids, normalised=True)
        for answer in answers:
            answer["well_formed"] = well_formed[answer["index"]]
        digest = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
        audit_ids = {"id_hashes": hashes} if len(hashes) <= 100 else {"batch_sha256": digest}
        _note(request, rows=len(answers), date=on.isoformat(), detail=detail, **audit_ids)
        # answered directly: FastAPI's generic encoder costs ~0.2 s on 10,000 answers
        return JSONResponse(
            {"kind": kind, "date": on.isoformat(), "detail": detail, "answers": answers}
        )

    @app.post("/v1/verify/resident-id", summary="Verify resident IDs (yes/no)")
    def verify_resident(
        request: Request, who: Client, body: Annotated[VerifyRequest, Body()]
    ) -> JSONResponse:
        return verification(request, "resident_id", body, who)

    @app.post("/v1/verify/credit-code", summary="Verify unified social credit codes (yes/no)")
    def verify_credit(
        request: Request, who: Client, body: Annotated[VerifyRequest, Body()]
    ) -> JSONResponse:
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
        where, params = "dept_name = ? and is_mismatch", [who.department]
        if month is not None:
            where += " and submitted_month = ?"
            params.append(month.replace(day=1))
        frame = sharing.warehouse.df(
            f"select case_id, item_code, submitted_month, check_code "
            f"from {DB}.intermediate.{model} where {where} order by submitted_month, case_id",
            params,
        )
        _note(request, rows=len(frame))
        meta = {"department": who.department, "cases": len(frame)}
        return _tabular(frame, format, "feedback", meta)

    return app


def serve(paths: Paths, host: str = "127.0.0.1", port: int = 8600) -> None:
    """Run the API on ``host:port`` with uvicorn until interrupted (``subjectdb api``)."""
    import uvicorn

    sharing = Sharing(paths)
    sharing.current()  # read catalogue and resources once before the first request
    app = create_app(sharing)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True)
