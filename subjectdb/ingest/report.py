"""What a load tells its caller: the two errors (a bad load, a rejected file), one report
per file, and the table ``subjectdb load`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table


class LoadError(Exception):
    """A user error that stops the whole load (a path does not exist, a bad option, …)."""


class FileRejected(Exception):
    """A file that cannot be read as a whole: rejected, nothing of it lands."""


@dataclass
class FileReport:
    """What happened to one file. When loaded, ``rows_read == rows_landed + rows_quarantined``
    and, for a CSV file, its physical ``lines`` are the header's line plus the lines of the
    rows read (``lines_accounted``): no line was skipped or swallowed."""

    file: Path
    extract: str | None = None
    batch_id: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    lines: int | None = None
    lines_accounted: int | None = None
    rejected: bool = False
    reason: str | None = None
    already_loaded: bool = False
    sha256: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return (
            self.rows_read == self.rows_landed + self.rows_quarantined
            and self.lines == self.lines_accounted
        )

    @property
    def status(self) -> str:
        if self.rejected:
            return "rejected"
        if self.already_loaded:
            return "already loaded"
        return "loaded" if self.balanced else "UNBALANCED"


def print_reports(reports: Sequence[FileReport], console: Console) -> None:
    """A table of the files loaded: rows read = landed + quarantined, and each file's status."""
    table = Table(
        title="subjectdb load",
        caption="reconciled: rows read = landed + quarantined, and the CSV lines = the header's "
        "line + the lines of the rows read",
    )
    table.add_column("file", overflow="fold")
    table.add_column("encoding", min_width=8)
    for name in ("lines", "read", "landed", "quarantined"):
        table.add_column(name, justify="right", min_width=len(name))
    table.add_column("reconciled", justify="center", min_width=10)
    table.add_column("status", no_wrap=True)
    styles = {
        "loaded": "green",
        "already loaded": "cyan",
        "rejected": "bold red",
        "UNBALANCED": "bold red",
    }
    for r in reports:
        reconciled = "[green]yes[/]" if r.balanced else "[bold red]NO[/]"
        if r.rejected:
            reconciled = "–"
        table.add_row(
            r.file.name,
            r.encoding or "?",
            "–" if r.lines is None else f"{r.lines:,}",
            f"{r.rows_read:,}",
            f"{r.rows_landed:,}",
            f"{r.rows_quarantined:,}",
            reconciled,
            f"[{styles.get(r.status, 'white')}]{r.status}[/]",
        )
    console.print(table)
    for r in reports:
        if r.rejected:
            console.print(f"[bold red]rejected:[/] {r.reason}")
        elif r.already_loaded:
            console.print(f"[cyan]skipped[/] {r.file.name}: {r.reason}")
        elif r.quarantine_reasons:
            parts = ", ".join(f"{k} {v:,}" for k, v in sorted(r.quarantine_reasons.items()))
            console.print(f"[yellow]quarantined[/] {r.file.name}: {parts}")
        for note in r.notes:
            console.print(f"[cyan]note[/] {r.file.name}: {note}")
