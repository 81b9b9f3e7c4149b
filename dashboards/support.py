"""Dashboard helpers that do not need Streamlit: safe CSV, labels, definitions, audit log."""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

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
) -> pd.DataFrame:
    """The table a chart shows: labelled dimensions, measures, suppressed cells as "<10".

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
        col = vals.astype(object).where(~suppressed, mark) if suppressed.any() else vals
        out[t(f"m.{m}", lang)] = col
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- definitions


METRICS_DOC = PROJECT_DIR / "docs" / "metrics.md"
MODELS_DIR = PROJECT_DIR / "models"


@lru_cache(maxsize=8)
def _build_id(warehouse: str, file_id: tuple[int, int, int]) -> str | None:
    """The served build's id, read once per warehouse file (a build swaps in a new file)."""
    return served_build_id(Path(warehouse))


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


def definition(
    model: str, column: str | None = None, data_root: Path | None = None
) -> tuple[str | None, str]:
    """The documented definition of a model (and column) and where it came from.

    One source: the dbt manifest of the served build of the data folder ``data_root``
    (default: the dashboard's, :func:`subjectdb.config.get_paths`), found by the release's
    rule (:func:`served_docs`), else the model's section of ``docs/metrics.md``, else the
    model's own header comment.
    """
    docs = served_docs(get_paths(data_root))
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


# --------------------------------------------------------------------------- audit log

_audit_lock = threading.Lock()


def _jsonable(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def audit(
    log_path: Path,
    *,
    session: str,
    event: str,
    page: str,
    filters: Mapping[str, Any],
    rows: int | None = None,
    detail: str | None = None,
) -> None:
    """Append one access event to the audit log (JSON Lines; 数据访问审计)."""
    record = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "session": session,
        "event": event,
        "page": page,
        "filters": _jsonable(dict(filters)),
    }
    if rows is not None:
        record["rows"] = int(rows)
    if detail:
        record["detail"] = detail
    line = json.dumps(record, ensure_ascii=False) + "\n"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _audit_lock, log_path.open("a", encoding="utf-8") as fh:
        fh.write(line)
