"""Validating one logical batch as pandas chunks, and turning the summed results into outcomes.

GX validates a frame at a time; a batch (a landed batch, a gated table) is read as chunks of at
most ``CHUNK_ROWS`` rows so memory stays flat. :func:`validate_frames` validates every chunk and
sums each expectation's counts (:class:`Acc`); :func:`outcomes_and_store` turns the sums into
:class:`~subjectdb.quality.results.Outcome` s, masking personal examples, and stores one merged
GX result per batch for Data Docs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from subjectdb.contract import PERSONAL_COLUMNS, mask_example
from subjectdb.quality.context import GX, quiet
from subjectdb.quality.results import Outcome, jsonable
from subjectdb.quality.suites import domain_label

CHUNK_ROWS = 500_000
"""Upper bound of rows validated at once (memory stays flat whatever the batch size)."""
EXAMPLES = 5
"""Unexpected examples kept per expectation and batch."""


@dataclass
class Acc:
    """Sums one expectation's results over the chunks of a batch."""

    template: Any  # ExpectationValidationResult of the first chunk
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    examples: list[Any] = field(default_factory=list)
    exception: str = ""
    observed: Any = None
    success: bool = True

    def add(self, r: Any) -> None:
        res = r.result or {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            self.exception = str(r.exception_info.get("exception_message"))
            self.success = False
            return
        self.element_count += int(res.get("element_count") or 0)
        self.missing_count += int(res.get("missing_count") or 0)
        self.unexpected_count += int(res.get("unexpected_count") or 0)
        if len(self.examples) < EXAMPLES:
            for v in res.get("partial_unexpected_list") or []:
                if len(self.examples) < EXAMPLES:
                    self.examples.append(jsonable(v))
        if "observed_value" in res:
            self.observed = res["observed_value"]
        if "unexpected_count" not in res:
            self.success = self.success and bool(r.success)

    def final_success(self, mostly: float | None, min_rows: int = 0) -> bool:
        """Summed over chunks: fails when the unexpected share exceeds ``1 - mostly`` and at
        least ``min_rows`` rows are unexpected (both; ``min_rows = 0``: the share alone)."""
        if self.exception:
            return False
        if self.template.result is None or "unexpected_count" not in (self.template.result or {}):
            return self.success
        checked = self.element_count - self.missing_count
        if checked <= 0 or self.unexpected_count == 0:
            return True
        if self.unexpected_count < min_rows:
            return True
        return self.unexpected_count / checked <= 1.0 - (mostly if mostly is not None else 1.0)

    def to_result(self, mostly: float | None, min_rows: int = 0) -> Any:
        r = self.template
        r.success = self.final_success(mostly, min_rows)
        res = dict(r.result or {})
        for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            res.pop(key, None)
        if "unexpected_count" in res:
            checked = max(self.element_count - self.missing_count, 0)
            res.update(
                element_count=self.element_count,
                missing_count=self.missing_count,
                unexpected_count=self.unexpected_count,
                unexpected_percent=(100.0 * self.unexpected_count / checked) if checked else 0.0,
                partial_unexpected_list=self.examples,
            )
            res.pop("partial_unexpected_index_list", None)
            res.pop("partial_unexpected_counts", None)
        r.result = res
        return r


OnUnexpected = Callable[[pd.DataFrame, dict[str, Any], Any, list[int]], None]
"""``(frame, entry, result, index labels)``: called where a chunk has unexpected rows."""


def validate_frames(
    gxs: GX,
    asset: str,
    suite: Any,
    entries: list[dict[str, Any]],
    frames: Iterator[pd.DataFrame],
    params: dict[str, Any],
    on_unexpected: OnUnexpected | None = None,
) -> tuple[list[Acc], Any]:
    """Validate ``frames`` (chunks of one logical batch) with ``suite``; sum results per entry.

    ``on_unexpected(frame, entry, result, index_labels)`` is called for every chunk where an
    expectation found unexpected rows (the raw suites quarantine them).
    """
    from subjectdb.quality import expectations as custom

    bd = gxs.batch_definition(asset)
    if on_unexpected is not None:
        # COMPLETE for the unexpected rows' index labels (quarantine); not the pandas query
        # text GX would also build for every expectation
        result_format: dict[str, Any] = {
            "result_format": "COMPLETE",
            "partial_unexpected_count": EXAMPLES,
            "return_unexpected_index_query": False,
        }
    else:
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    accs: list[Acc] = []
    template: Any = None
    with quiet():
        for df in frames:
            res = bd.get_batch(batch_parameters={"dataframe": df}).validate(
                suite, expectation_parameters=params, result_format=result_format
            )
            by_entry = {int(r.expectation_config.meta["entry"]): r for r in res.results}
            if template is None:
                template = res
                accs = [Acc(template=by_entry[i]) for i in range(len(entries))]
            for i, entry in enumerate(entries):
                r = by_entry[i]
                accs[i].add(r)
                if on_unexpected is None:
                    continue
                idx = (r.result or {}).get("unexpected_index_list") or []
                if idx:
                    labels = [
                        int(v) if not isinstance(v, dict) else int(next(iter(v.values())))
                        for v in idx
                    ]
                    on_unexpected(df, entry, r, labels)
            del df, res
            custom.clear_cache()
    return accs, template


def systemic_note(
    entry: dict[str, Any],
    batch: str,
    checked: int,
    unexpected: int,
    mostly: float | None,
    min_rows: int,
) -> str:
    """What a steward does about a standard that fails a whole batch (a systemic failure).

    One bad row is quarantined and never stops a build; a batch fails a standard only when
    more than ``1 - mostly`` of its checked rows AND at least ``min_rows`` rows break it."""
    share = 100.0 * unexpected / checked if checked else 0.0
    limit = 100.0 * (1.0 - (mostly if mostly is not None else 1.0))
    column = domain_label(entry.get("kwargs", {})) or "the batch"
    return (
        f"systemic: {unexpected:,} of {checked:,} rows ({share:.1f} %) break this standard on "
        f"{column} (the limit is {limit:g} % and {min_rows} rows) — the source export of batch "
        f"{batch} is wrong as a whole, not a stray row. Ask the data owner to fix the export and "
        f"re-deliver the file (`subjectdb load` replaces the batch), or, if the standard itself "
        f"is wrong, correct it in expectations/; `subjectdb quarantine` lists the rows."
    )


def outcomes_and_store(
    gxs: GX,
    *,
    stage: str,
    suite_name: str,
    label: str,
    entries: list[dict[str, Any]],
    accs: list[Acc],
    template: Any,
    mostly_default: float | None,
    extra: list[tuple[dict[str, Any], Any, str]],
    min_rows: int = 0,
    markers: dict[str, Any],
    run_id: Any,
    now: dt.datetime,
    doc_id: str = "",
) -> list[Outcome]:
    """Turn summed chunk results into outcomes and store one merged GX result for Data Docs.

    ``extra``: (entry, GX result, note) of expectations validated once, not per chunk.
    """
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

    def outcome(
        checked: int, unexpected: int, examples: list[Any], note: str, entry: dict[str, Any], r: Any
    ) -> Outcome:
        return Outcome(
            stage=stage,
            suite=suite_name,
            batch=label,
            expectation=entry["type"],
            column=domain_label(entry.get("kwargs", {})),
            severity=entry.get("severity", "critical"),
            success=bool(r.success),
            element_count=checked,
            unexpected_count=unexpected,
            examples=examples,
            note=note,
        )

    outcomes: list[Outcome] = []
    stored = []
    for entry, acc in zip(entries, accs, strict=True):
        mostly = entry.get("kwargs", {}).get("mostly", mostly_default)
        if entry.get("kwargs", {}).get("column") in PERSONAL_COLUMNS:
            acc.examples = [mask_example(v) for v in acc.examples]
        r = acc.to_result(mostly, min_rows if mostly is not None and mostly < 1.0 else 0)
        stored.append(r)
        checked = acc.element_count - acc.missing_count
        note = acc.exception or entry.get("meta", {}).get("note", "")
        if not r.success and not acc.exception and stage == "raw_suite":
            note = systemic_note(entry, label, checked, acc.unexpected_count, mostly, min_rows)
        outcomes.append(outcome(checked, acc.unexpected_count, acc.examples, note, entry, r))
    for entry, r, note in extra:
        res = r.result or {}
        observed = res.get("observed_value")
        info = r.exception_info or {}
        err = str(info.get("exception_message")) if info.get("raised_exception") else ""
        outcomes.append(
            outcome(
                int(res.get("element_count") or 0),
                int(res.get("unexpected_count") or 0),
                [jsonable(observed)] if observed is not None else [],
                err or note,
                entry,
                r,
            )
        )
        stored.append(r)
    if stored:
        ok = sum(bool(r.success) for r in stored)
        stats = {
            "evaluated_expectations": len(stored),
            "successful_expectations": ok,
            "unsuccessful_expectations": len(stored) - ok,
            "success_percent": 100.0 * ok / len(stored),
        }
        meta = getattr(template, "meta", None) or {}
        merged = ExpectationSuiteValidationResult(
            success=all(r.success or r.expectation_config.severity != "critical" for r in stored),
            results=stored,
            suite_name=suite_name,
            statistics=stats,
            meta={
                "active_batch_definition": meta.get("active_batch_definition"),
                "batch_markers": markers,
                "run_id": run_id,
                "validation_time": now,
                "great_expectations_version": meta.get("great_expectations_version"),
            },
        )
        gxs.store(merged, suite_name, re.sub(r"[^0-9A-Za-z_.-]+", "_", doc_id or label), run_id)
    return outcomes
