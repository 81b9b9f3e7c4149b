"""Dashboard helpers that do not need Streamlit: safe CSV, text shown as text, labels,
definitions, who is asking, and the access audit log."""

from __future__ import annotations

import binascii
import csv
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from subjectdb import audit as audit_log
from subjectdb import metrics
from subjectdb.config import PROJECT_DIR, Paths, get_paths
from subjectdb.i18n import t
from subjectdb.release import ModelDocs, PublishError, find_manifest, served_build_id
from subjectdb.standards import neutralise_formula

# --------------------------------------------------------------------------- safe CSV


def safe_csv(df: pd.DataFrame) -> bytes:
    """CSV (UTF-8 with BOM, for spreadsheets) in which no text cell can start a formula.

    Text cells starting with ``= + - @``, tab or CR get a leading apostrophe; numeric columns
    are written untouched (a negative number stays a number).
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if not (
            pd.api.types.is_numeric_dtype(s)
            or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_datetime64_any_dtype(s)
        ):
            out[col] = s.map(neutralise_formula)
    out.columns = [neutralise_formula(str(c)) for c in out.columns]
    # every text cell quoted: embedded CR/LF stay inside their cell
    return out.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8-sig")


# --------------------------------------------------------------------------- text as text

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
MAX_ECHO = 80
"""User-supplied text is echoed (warnings, the audit log) cut to this many characters."""


def clean_text(value: object, limit: int = MAX_ECHO) -> str:
    """``value`` as one line of visible text: control, line-separator and bidirectional
    characters shown as ``\\xNN`` / ``\\uNNNN`` escapes, cut at ``limit`` characters."""

    def escape(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    text = _CONTROL.sub(escape, str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_md(value: object, limit: int = MAX_ECHO) -> str:
    """Markdown that shows ``value`` as literal text: an inline code span.

    Nothing inside a code span is Markdown or HTML — no link, image, emphasis, HTML tag,
    directive or formula — and the fence is one backtick longer than any run of backticks in
    the text, which cannot end it early; control characters (a line break would end the
    paragraph, and the span with it) are shown as escapes (:func:`clean_text`).
    """
    text = clean_text(value, limit)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"


# --------------------------------------------------------------------------- labels


class Labels:
    """Code → display name in the chosen language, from the warehouse reference tables."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], lang: str) -> None:
        self.lang = lang
        col = "name_en" if lang == "en" else "name_zh"
        self._maps: dict[str, dict[str, str]] = {}
        for dim, df in tables.items():
            if df is None or df.empty:
                self._maps[dim] = {}
                continue
            names = dict(zip(df["code"].astype(str), df[col].astype(str), strict=True))
            if dim == "size_class" and "name_zh" in df:  # cases may carry the raw Chinese value
                names.update(zip(df["name_zh"].astype(str), df[col].astype(str), strict=True))
            self._maps[dim] = names
        for key in ("county", "prefecture", "province"):
            self._maps[key] = self._maps.get("region", {})
        self._maps["sex"] = {
            "male": t("d.male", lang),
            "female": t("d.female", lang),
            "男": t("d.male", lang),
            "女": t("d.female", lang),
        }
        self._maps["significance"] = {
            k: t(f"sig.{k}", lang) for k in ("low", "high", "none", "unknown")
        }

    def name(self, dim: str, code: Any) -> str:
        if code is None or (isinstance(code, float) and pd.isna(code)):
            return "—"
        return self._maps.get(dim, {}).get(str(code), str(code))

    def options(self, dim: str) -> dict[str, str]:
        return dict(self._maps.get(dim, {}))


def display_frame(
    df: pd.DataFrame,
    labels: Labels,
    dims: Sequence[str],
    measures: Sequence[str],
    lang: str,
    masks: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """The table a chart downloads: labelled dimensions, measures, suppressed cells as "<10"
    (``masks``: per measure, its suppressed rows; default the row's ``suppressed`` flag).

    Dimension codes are kept beside their names (``<dim>_code``) so a download can be joined
    back to other tables.
    """
    out = pd.DataFrame(index=df.index)
    for d in dims:
        if d in ("month",):
            out[t("d.month", lang)] = pd.to_datetime(df[d]).dt.strftime("%Y-%m")
            continue
        if d in ("year", "days_vs_promise", "band", "month_of_year", "series"):
            out[t(f"d.{d}" if d != "days_vs_promise" else "m.days_vs_promise", lang)] = df[d]
            continue
        out[f"{d}_code"] = df[d].astype("string")
        out[t(f"d.{d}", lang)] = [labels.name(d, v) for v in df[d]]
    suppressed = df["suppressed"] if "suppressed" in df else pd.Series(False, index=df.index)
    mark = t("c.suppressed_value", lang)
    for m in measures:
        if m not in df:
            continue
        vals = df[m]
        hide = (masks or {}).get(m, suppressed).reindex(df.index, fill_value=False).astype(bool)
        col = vals.astype(object).where(~hide, mark) if hide.any() else vals
        out[t(f"m.{m}", lang)] = col
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- tables to read

SHARE_MEASURES = frozenset({"growth", "elderly_online_share", "share"})
"""Measures that are fractions 0–1 although they are not metrics of :mod:`subjectdb.metrics`."""
RATIO_MEASURES = frozenset({"ratio_ci_low", "ratio_ci_high"})
RATE_MEASURES = frozenset({"age_standardised_rate"})
DAYS_MEASURES = frozenset({"median_working_days", "p90_working_days"})


def measure_kind(name: str) -> str:
    """How a measure is formatted: ``share`` (per cent), ``rate``, ``ratio``, ``days`` or
    ``count`` — a metric's own kind, else the kind of the documented measure."""
    metric = metrics.metrics().get(name)
    if metric is not None:
        return metric.kind
    for kind, names in (
        ("share", SHARE_MEASURES),
        ("ratio", RATIO_MEASURES),
        ("rate", RATE_MEASURES),
        ("days", DAYS_MEASURES),
    ):
        if name in names:
            return kind
    return "count"


def format_number(value: Any, kind: str) -> str:
    """A number for display: shares in per cent, rates and ratios with two decimals, days with
    one, counts with thousands separators; missing as "—"."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "—"
    v = float(value)
    if kind == "share":
        return f"{v:.1%}"
    if kind in ("rate", "ratio"):
        return f"{v:,.2f}"
    if kind == "days":
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
    return f"{v:,.0f}"


def table_view(
    df: pd.DataFrame,
    labels: Labels,
    dims: Sequence[str],
    measures: Sequence[str],
    lang: str,
    masks: Mapping[str, pd.Series] | None = None,
) -> Styler:
    """The table a planner reads: names (not codes) under headers in ``lang``, measures kept
    as numbers (so every column sorts both ways) and formatted by kind (per cent, rate,
    count); a suppressed cell shows the marker "<10", a missing one "—".

    ``masks``: per measure, the rows whose cell is suppressed (default: the row's
    ``suppressed`` flag).
    """
    out = pd.DataFrame(index=df.index)
    for d in dims:
        if d == "month":
            out[t("d.month", lang)] = pd.to_datetime(df[d]).dt.strftime("%Y-%m")
        elif d in ("year", "band", "month_of_year"):
            out[t(f"d.{d}", lang)] = df[d].astype("string")
        elif d == "days_vs_promise":
            out[t("m.days_vs_promise", lang)] = df[d]
        elif d == "series":
            out[t("d.series", lang)] = df[d]
        else:
            out[t(f"d.{d}", lang)] = [labels.name(d, v) for v in df[d]]
    row_mask = (
        df["suppressed"].astype(bool) if "suppressed" in df else pd.Series(False, index=df.index)
    )
    mark = t("c.suppressed_value", lang)
    styler_args: list[tuple[str, str, pd.Series]] = []
    for m in measures:
        if m not in df:
            continue
        col = t(f"m.{m}", lang)
        out[col] = pd.to_numeric(df[m], errors="coerce").astype("float64")
        mask = (masks or {}).get(m, row_mask)
        styler_args.append((col, measure_kind(m), mask.reindex(df.index, fill_value=False)))
    out = out.reset_index(drop=True)
    # Streamlit draws a missing number as "None" whatever the Styler says: a suppressed or
    # missing cell holds -inf (sorted first ascending, last descending) and shows its marker
    for col, _kind, _mask in styler_args:
        out[col] = out[col].fillna(float("-inf"))
    styler = out.style
    for col, kind, mask in styler_args:
        hidden = mask.to_numpy(dtype=bool)
        shown_rows = out.index[~hidden]
        hidden_rows = out.index[hidden]

        def fmt(v: Any, k: str = kind) -> str:
            return "—" if v == float("-inf") else format_number(v, k)

        if len(shown_rows):
            styler = styler.format(fmt, subset=pd.IndexSlice[shown_rows, [col]])
        if len(hidden_rows):
            styler = styler.format(lambda _v, m=mark: m, subset=pd.IndexSlice[hidden_rows, [col]])
    return styler


# --------------------------------------------------------------------------- definitions


METRICS_DOC = PROJECT_DIR / "docs" / "metrics.md"
MODELS_DIR = PROJECT_DIR / "models"


@lru_cache(maxsize=8)
def _build_id(warehouse: str, file_id: tuple[int, int, int]) -> str | None:
    """The served build's id, read once per warehouse file (a build swaps in a new file)."""
    return served_build_id(Path(warehouse))


def served_build(paths: Paths) -> str | None:
    """The served build's id (from the warehouse's build record), read once per file."""
    try:
        st = paths.warehouse.stat()
    except OSError:
        return None
    return _build_id(str(paths.warehouse), (st.st_ino, st.st_size, st.st_mtime_ns))


@lru_cache(maxsize=4)
def _model_docs(path: str, mtime_ns: int) -> ModelDocs | None:
    try:
        return ModelDocs.load(Path(path))
    except PublishError:  # unreadable manifest: the next source of definitions
        return None


def served_docs(paths: Paths) -> ModelDocs | None:
    """The dbt docs of the served build: the release's manifest rule (``find_manifest``)."""
    try:
        st = paths.warehouse.stat()
        build_id = _build_id(str(paths.warehouse), (st.st_ino, st.st_size, st.st_mtime_ns))
    except OSError:
        build_id = None
    try:
        manifest = find_manifest(paths, build_id)
        return _model_docs(str(manifest), manifest.stat().st_mtime_ns)
    except (PublishError, OSError):
        return None


def _metrics_doc_section(model: str, column: str | None) -> str | None:
    if not METRICS_DOC.exists():
        return None
    text = METRICS_DOC.read_text(encoding="utf-8")
    # sections start with a heading; take the first one naming the column or model
    sections = re.split(r"(?m)^#+\s", text)
    for needle in [n for n in (column, model) if n]:
        for sec in sections:
            head = sec.splitlines()[0] if sec else ""
            if needle in head:
                body = "\n".join(sec.splitlines()[1:]).strip()
                if body:
                    return body
    return None


def _model_header(model: str) -> str | None:
    """The leading comment block of the model's SQL file (its own documentation): the house
    header ``{#- … -#}``, or leading ``--`` lines."""
    for path in MODELS_DIR.rglob(f"{model}.sql"):
        text = path.read_text(encoding="utf-8").lstrip()
        if text.startswith("{#"):
            end = text.find("#}")
            body = text[2:end] if end > 0 else ""
            header = " ".join(line.strip() for line in body.strip("-").splitlines()).strip()
            if header:
                return header
            continue
        lines = []
        for line in text.splitlines():
            if line.startswith("--"):
                lines.append(line[2:].strip())
            elif lines or line.strip():
                break
        if lines:
            return " ".join(lines)
    return None


@lru_cache(maxsize=4)
def _meta_definitions(path: str, mtime_ns: int) -> dict[tuple[str, str], dict[str, str]]:
    """The zh/en definitions kept in the models' YAML ``meta`` (``meta.definition: {zh, en}``,
    or ``definition_zh`` / ``definition_en``), by (model, column) — column "" for the model."""
    import json

    out: dict[tuple[str, str], dict[str, str]] = {}
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out

    def read(meta: Any) -> dict[str, str]:
        if not isinstance(meta, dict):
            return {}
        found: dict[str, str] = {}
        d = meta.get("definition")
        if isinstance(d, dict):
            found.update({k: str(v) for k, v in d.items() if k in ("zh", "en") and v})
        for lang in ("zh", "en"):
            if meta.get(f"definition_{lang}"):
                found[lang] = str(meta[f"definition_{lang}"])
        return found

    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        name = node.get("name", "")
        meta = {**(node.get("config") or {}).get("meta", {}), **(node.get("meta") or {})}
        if found := read(meta):
            out[(name, "")] = found
        for col_name, col in (node.get("columns") or {}).items():
            cmeta = {**(col.get("config") or {}).get("meta", {}), **(col.get("meta") or {})}
            if found := read(cmeta):
                out[(name, col_name.lower())] = found
    return out


@lru_cache(maxsize=1)
def _catalogue() -> Any:
    """The resource catalogue (zh/en titles and descriptions of the subject tables)."""
    from subjectdb.catalogue import load_catalogue

    return load_catalogue()


def model_title(model: str, lang: str) -> str:
    """A model's title in ``lang`` (the resource catalogue's), else a generic name."""
    entry = _catalogue().entries.get(model)
    if entry is not None:
        return str(entry.title_en if lang == "en" else entry.title_zh)
    return t("c.model_untitled", lang)


def meta_definition(model: str, column: str | None, lang: str, paths: Paths) -> str | None:
    """The definition of ``model`` (and ``column``) in ``lang`` from the served build's dbt
    YAML ``meta`` (model and column joined), or None."""
    try:
        st = paths.warehouse.stat()
        build_id = _build_id(str(paths.warehouse), (st.st_ino, st.st_size, st.st_mtime_ns))
    except OSError:
        build_id = None
    try:
        manifest = find_manifest(paths, build_id)
        defs = _meta_definitions(str(manifest), manifest.stat().st_mtime_ns)
    except (PublishError, OSError):
        return None
    parts = [defs.get((model, ""), {}).get(lang)]
    if column:
        parts.append(defs.get((model, column.lower()), {}).get(lang))
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return text or None


def definition(
    model: str,
    column: str | None = None,
    data_root: Path | None = None,
    lang: str | None = None,
) -> tuple[str | None, str]:
    """The documented definition of a model (and column) and where it came from.

    One source: the dbt manifest of the served build of the data folder ``data_root``
    (default: the dashboard's, :func:`subjectdb.config.get_paths`), found by the release's
    rule (:func:`served_docs`), else the model's section of ``docs/metrics.md``, else the
    model's own header comment.
    """
    paths = get_paths(data_root)
    if lang is not None:
        text = meta_definition(model, column, lang, paths)
        if text:
            return text, "dbt meta"
        entry = _catalogue().entries.get(model)
        described = entry and (entry.description_en if lang == "en" else entry.description_zh)
        if described:
            return str(described), "catalogue"
        if lang != "en":
            # the English docs are not shown in Chinese mode: one language at a time
            return None, ""
    docs = served_docs(paths)
    if docs is not None and model in docs.models:
        col = docs.columns.get((model, column.lower()), {}) if column else {}
        parts = [docs.models[model], col.get("description") or ""]
        text = "\n\n".join(p.strip() for p in parts if p and p.strip())
        if text:
            return text, "dbt manifest"
    doc = _metrics_doc_section(model, column)
    if doc:
        return doc, "docs/metrics.md"
    header = _model_header(model)
    if header:
        return header, f"models/…/{model}.sql"
    return None, ""


# --------------------------------------------------------------------------- who is asking

USER_HEADERS_ENV = "SUBJECTDB_USER_HEADERS"
"""Comma-separated request headers an authenticating reverse proxy sets to the signed-in user
(first one present wins); empty: trust none."""
DEFAULT_USER_HEADERS = ("X-Forwarded-User", "X-Remote-User")
FORWARDED_FOR = ("X-Forwarded-For", "X-Real-IP")
XSRF_COOKIE = "_streamlit_xsrf"
"""Streamlit's anti-forgery cookie: one random token per browser session (kept by the server
across page loads), from which :func:`browser_session` derives the audit's session id."""


def trusted_user_headers() -> tuple[str, ...]:
    """The user headers to trust: ``$SUBJECTDB_USER_HEADERS``, else the defaults."""
    raw = os.environ.get(USER_HEADERS_ENV)
    if raw is None:
        return DEFAULT_USER_HEADERS
    return tuple(h.strip() for h in raw.split(",") if h.strip())


def identify(
    headers: Mapping[str, str],
    address: str | None,
    user_info: Mapping[str, Any] | None = None,
    trusted: Sequence[str] | None = None,
) -> dict[str, str]:
    """Who made a request, for the audit log: ``user``, ``user_source``, ``address`` and, when
    a proxy reported one, ``forwarded_for``.

    The user is the first trusted proxy header present (``header:<name>``), else Streamlit's
    signed-in user (``st.user``: email, else name), else the client address (``address``:
    the connection's peer, ``localhost`` when Streamlit reports none).
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    peer = clean_text(address, 64) if address else "localhost"
    out = {"address": peer}
    forwarded = next((lower[h.lower()] for h in FORWARDED_FOR if lower.get(h.lower())), None)
    if forwarded:
        out["forwarded_for"] = clean_text(forwarded, 200)
    for name in trusted_user_headers() if trusted is None else trusted:
        value = lower.get(name.lower(), "").strip()
        if value:
            return {"user": clean_text(value), "user_source": f"header:{name}", **out}
    if user_info:
        value = user_info.get("email") or user_info.get("name") or user_info.get("sub")
        if value:
            return {"user": clean_text(value), "user_source": "st.user", **out}
    return {"user": peer, "user_source": "address", **out}


def _xsrf_token(cookie: str) -> bytes | None:
    """The token of a Streamlit (Tornado-format) XSRF cookie: ``2|mask|masked|time`` holds
    ``token XOR mask`` under a mask that changes on every page load; version 1 is the token
    in hex."""
    value = cookie.strip("\"'")
    try:
        if value.startswith("2|"):
            _v, mask_hex, masked_hex, _time = value.split("|")
            mask = binascii.a2b_hex(mask_hex)
            masked = binascii.a2b_hex(masked_hex)
            if len(mask) != 4 or not masked:
                return None
            return bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        return binascii.a2b_hex(value) or None
    except (ValueError, binascii.Error):
        return None


def browser_session(cookies: Mapping[str, str], fallback: str) -> str:
    """A session id that stays the same across page loads of one browser session.

    Derived (SHA-256, not reversible) from the token of Streamlit's XSRF cookie, a browser-
    session cookie the server keeps across page loads; ``fallback`` (one Streamlit session)
    when there is none (XSRF protection off, or no browser).
    """
    token = _xsrf_token(str(cookies.get(XSRF_COOKIE, "") or ""))
    if not token:
        return fallback
    return hashlib.sha256(b"subjectdb-dashboard-session\0" + token).hexdigest()[:32]


# --------------------------------------------------------------------------- audit log


def audit(
    log_path: Path,
    *,
    session: str,
    event: str,
    page: str,
    filters: Mapping[str, Any],
    rows: int | None = None,
    detail: str | None = None,
    who: Mapping[str, str] | None = None,
    status: str = "ok",
    what: str | None = None,
    rejected: Sequence[str] = (),
) -> dict[str, Any]:
    """Append one access event to the dashboard's audit log (数据访问审计; record format in
    docs/dashboard.md) through :func:`subjectdb.audit.append`; returns the record."""
    record: dict[str, Any] = {
        "source": "dashboard",
        "event": event,
        "status": status,
        **dict(who or {"user": "unknown", "user_source": "none"}),
        "session": session,
        "page": page,
        "what": what or detail or page,
        "filters": dict(filters),
    }
    if rows is not None:
        record["rows"] = int(rows)
    if detail:
        record["detail"] = detail
    if rejected:
        record["rejected"] = [clean_text(v, 200) for v in rejected]
    return audit_log.append(log_path, record)
