"""The package layout: stages import only earlier stages or shared leaves, and no module grows
past the size the house keeps (one concern per module)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from subjectdb.config import PROJECT_DIR

LEAVES = {
    "subjectdb.config",
    "subjectdb.contract",
    "subjectdb.i18n",
    "subjectdb.files",
    "subjectdb.seeds",
    "subjectdb.standards",
    "subjectdb.metrics",
    "subjectdb.catalogue",
    "subjectdb.audit",
    "subjectdb.reference",
}
"""Shared leaves: rank 0, importable from anywhere; they import only other leaves."""
STAGES = [
    "subjectdb.synth",
    "subjectdb.ingest",
    "subjectdb.quality",
    "subjectdb.warehouse",
    "subjectdb.release",
    "subjectdb.serving",
    "subjectdb.sharing",
    "dashboards",
    "subjectdb.bench",
    "subjectdb.cli",
]
"""The pipeline stages in order; each may import the ones before it."""
MAX_LINES = 900


def _modules() -> list[tuple[str, Path]]:
    out = []
    for root in ("subjectdb", "dashboards"):
        for path in sorted((PROJECT_DIR / root).rglob("*.py")):
            rel = path.relative_to(PROJECT_DIR).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.append((".".join(parts), path))
    return out


def _rank(module: str) -> float:
    if module in LEAVES or module == "subjectdb":
        return 0
    for i, stage in enumerate(STAGES, start=1):
        if module == stage or module.startswith(stage + "."):
            return i
    raise AssertionError(f"{module} belongs to no stage and is no declared leaf")


def _imports(path: Path) -> set[str]:
    """Every subjectdb/dashboards module ``path`` imports, at any level of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from subjectdb import ingest` imports the stage subjectdb.ingest
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] in ("subjectdb", "dashboards")}


def _known(module: str) -> bool:
    return module in LEAVES or any(module == s or module.startswith(s + ".") for s in STAGES)


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_to_earlier_stages_or_leaves(module: str, path: Path) -> None:
    here = _rank(module)
    for target in sorted(_imports(path)):
        if not _known(target):  # `from subjectdb import name` where name is not a module
            continue
        there = _rank(target)
        assert there <= here, f"{module} (stage {here}) imports later stage {target} ({there})"
        if here == 0:
            assert target in LEAVES or target == "subjectdb", f"leaf {module} imports {target}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda v: str(v))
def test_modules_stay_small(module: str, path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (> {MAX_LINES}): split it by concern"


def test_every_stage_has_a_documented_public_surface() -> None:
    for stage in STAGES:
        if stage in ("subjectdb.cli",):
            continue
        init = PROJECT_DIR / Path(*stage.split(".")) / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{init} says nothing of its stage's one job"
