"""The Great Expectations context: a file-backed GX project whose Data Docs go to ``data_docs``.

GX is imported only inside these functions (several seconds): importing the quality package
stays cheap until a batch is really validated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import warnings
from collections.abc import Iterator
from typing import Any

from subjectdb.config import Paths
from subjectdb.quality.results import ValidationError


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence GX's deprecation, future and user warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


class GX:
    """A file-backed GX context under ``validation/gx`` whose Data Docs go to ``data_docs``.

    File-backed so Data Docs keep the history of runs; suites are re-synchronised from
    ``expectations/`` (the version-controlled definitions) on every run.
    """

    def __init__(self, paths: Paths | None) -> None:
        """``paths=None``: an ephemeral context (worker processes), results only collected."""
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        import subjectdb.quality.expectations  # noqa: F401  (registers the custom expectations)

        # GX fingerprints every pandas batch (hash of all cells, a batch marker only) when it is
        # below HASH_THRESHOLD bytes: ~6 % of a raw-suite run. Our results carry their own
        # batch markers (extract, batch id, rows, landing folder), so it is turned off.
        pandas_execution_engine.HASH_THRESHOLD = 0  # type: ignore[attr-defined]

        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        self._defs: dict[str, Any] = {}
        self._stored: list[Any] = []
        self._stored_suites: list[Any] = []
        self._suites: dict[str, Any] = {}
        self._synced: dict[str, str] = {}
        self.collected: list[tuple[Any, str, str]] | None = None
        self.docs = paths.data_docs if paths is not None else None
        with quiet():
            if paths is None:
                self.context = gx.get_context(mode="ephemeral")
                self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
                self.source = self.context.data_sources.add_pandas("subjectdb_frames")
                self.collected = []
                return
            paths.validation.mkdir(parents=True, exist_ok=True)
            self.context = gx.get_context(mode="file", project_root_dir=str(paths.validation))
            self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self.context.variables.save()
            site = {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(paths.data_docs),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
            sites = self.context.get_site_names()
            for name in sites:
                if name != "subjectdb":
                    self.context.delete_data_docs_site(name)
            if "subjectdb" in sites:
                self.context.update_data_docs_site("subjectdb", site)
            else:
                self.context.add_data_docs_site("subjectdb", site)
            try:
                self.source = self.context.data_sources.get("subjectdb_frames")
            except (KeyError, ValueError, LookupError):
                self.source = self.context.data_sources.add_pandas("subjectdb_frames")

    def batch_definition(self, asset_name: str) -> Any:
        if asset_name not in self._defs:
            with quiet():
                try:
                    asset = self.source.get_asset(asset_name)
                except LookupError:
                    asset = self.source.add_dataframe_asset(asset_name)
                try:
                    bd = asset.get_batch_definition("frame")
                except (KeyError, ValueError, LookupError):
                    bd = asset.add_batch_definition_whole_dataframe("frame")
            self._defs[asset_name] = bd
        return self._defs[asset_name]

    def sync_suite(self, suite: Any) -> Any:
        with quiet():
            with contextlib.suppress(Exception):
                self.context.suites.delete(suite.name)
            return self.context.suites.add(suite)

    def suite(self, name: str, entries: list[dict[str, Any]], meta: dict[str, Any]) -> Any:
        """The GX suite of these definitions, stored in the context (for Data Docs).

        Built and stored once per distinct definition: a run validates the same suite on many
        batches, and building and storing it (a JSON file) each time is a fixed cost per batch.
        It is stored again only when another definition of the same name was stored since.
        """
        key = json.dumps([name, entries, meta], sort_keys=True, default=str)
        if key not in self._suites:
            self._suites[key] = gx_suite(name, entries, meta)
        if self._synced.get(name) != key:
            self._suites[key] = self.sync_suite(self._suites[key])
            self._synced[name] = key
        return self._suites[key]

    def store(self, result: Any, suite_name: str, batch_identifier: str, run_id: Any) -> None:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        if self.collected is not None:
            self.collected.append((result, suite_name, batch_identifier))
            return
        suite_id = ExpectationSuiteIdentifier(name=suite_name)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=batch_identifier
        )
        self._stored.append(key)
        if suite_id not in self._stored_suites:
            self._stored_suites.append(suite_id)
        with quiet():
            self.context.validation_results_store.store_validation_results(
                suite_validation_result=result,
                suite_validation_result_identifier=key,
                expectation_suite_identifier=suite_id,
            )

    def build_docs(self) -> None:
        """Render this run's results and suites (earlier pages stay) and the index of all."""
        with quiet():
            self.context.build_data_docs(
                site_names=["subjectdb"],
                resource_identifiers=[*self._stored_suites, *self._stored],  # type: ignore[list-item]
            )
        if self.docs is not None:
            # the pages' CDN assets replaced by vendored copies: Data Docs open offline
            from subjectdb.quality.offline_docs import make_offline

            make_offline(self.docs)


def run_identifier(run_name: str, run_time: dt.datetime) -> Any:
    """GX's identifier of a run (results of one run are grouped under it in Data Docs)."""
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_name, run_time=run_time)


def gx_suite(name: str, entries: list[dict[str, Any]], meta: dict[str, Any]) -> Any:
    """A GX suite of these definitions (``meta.mostly`` applied to row-level entries)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    import subjectdb.quality.expectations  # noqa: F401  (registers the custom expectations)

    mostly = meta.get("mostly")
    exps = []
    with quiet():
        for i, entry in enumerate(entries):
            kwargs = dict(entry.get("kwargs", {}))
            level = entry.get("meta", {}).get("level")
            if mostly is not None and level != "batch" and "mostly" not in kwargs:
                kwargs["mostly"] = mostly
            try:
                conf = ExpectationConfiguration(
                    type=entry["type"],
                    kwargs=kwargs,
                    meta={**entry.get("meta", {}), "entry": i},
                    severity=entry.get("severity", "critical"),
                )
                exps.append(conf.to_domain_obj())
            except Exception as exc:  # invalid definition: name the suite and entry
                raise ValidationError(
                    f"suite {name}: expectation #{i + 1} ({entry.get('type')}): {exc}"
                ) from exc
    return gx.ExpectationSuite(
        name=name, expectations=exps, meta={"notes": meta.get("description", "")}
    )
