"""Reading bytes: encoding detection, the source stream (hashed, GBK transcoded to UTF-8 on the
fly, framed by :class:`~subjectdb.ingest.framing.Framer`) and the physical line numbers of CSV
rows (header = line 1)."""

from __future__ import annotations

import codecs
import hashlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from subjectdb.ingest.framing import Framer, count_breaks
from subjectdb.ingest.report import FileRejected, LoadError

_CHUNK = 1 << 20


_SAMPLE_BYTES = 4 << 20


_ASCII_BYTES = bytes(range(0x80))
_ENCODING_ALIASES = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "gbk": "gbk",
    "gb2312": "gbk",
    "cp936": "gbk",
    "gb18030": "gb18030",
}


def normalise_encoding(encoding: str) -> str:
    key = encoding.strip().lower().replace("_", "-")
    if key not in _ENCODING_ALIASES:
        raise LoadError(
            f"unsupported --encoding {encoding!r}: use one of utf-8, utf-8-sig, gbk, gb18030"
        )
    return _ENCODING_ALIASES[key]


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` or ``gbk``, judged on the first megabytes of the file.

    Valid UTF-8 is very unlikely by chance in GBK text with Chinese characters, so a sample
    that decodes as UTF-8 (or nearly: a few corrupt bytes are row defects) is UTF-8.
    """
    with path.open("rb") as f:
        head = f.read(_SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected("UTF-16 text is not supported: export the extract as UTF-8 or GBK")
    try:  # the common case, checked in C: the sample is valid UTF-8 (or plain ASCII)
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < _SAMPLE_BYTES)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    non_ascii = len(head) - len(head.translate(None, _ASCII_BYTES))
    text = head.decode("utf-8", errors="replace")
    utf8_errors = text.count("\ufffd") - head.decode("utf-8", errors="ignore").count("\ufffd")
    if utf8_errors <= max(2, non_ascii // 1000):
        return "utf-8"
    gbk_text = head.decode("gb18030", errors="replace")
    gbk_errors = gbk_text.count("\ufffd")
    return "gbk" if gbk_errors < utf8_errors else "utf-8"


class SourceStream(io.RawIOBase):
    """The file's bytes as UTF-8, hashed and counted on the way, framed for the CSV parser.

    GBK/GB18030 input is transcoded chunk by chunk; bytes that do not decode are kept as they
    are (``surrogateescape``), so they reach the reader as invalid UTF-8 and their values are
    quarantined as ``undecodable_text`` instead of failing the whole file. With ``fields``
    (the header's number of fields) the text goes through a :class:`Framer`, which counts the
    physical lines and takes out the lines that would make the parser lose rows.
    """

    def __init__(
        self,
        path: Path,
        encoding: str,
        on_bytes: Callable[[int], None] | None = None,
        fields: int | None = None,
    ) -> None:
        super().__init__()
        self._file = path.open("rb", buffering=0)
        self.sha256 = hashlib.sha256()
        self._on_bytes = on_bytes
        self._decoder = (
            codecs.getincrementaldecoder("gb18030")(errors="surrogateescape")
            if encoding in ("gbk", "gb18030")
            else None
        )
        self.framer = Framer(fields) if fields else None
        self._pending = bytearray()
        self._eof = False
        self._lock = threading.Lock()  # reads must stay in file order (hash, transcoding)

    def readable(self) -> bool:
        return True

    def _raw(self, size: int) -> bytes:
        data = self._file.read(size)
        while data is not None and 0 < len(data) < size:  # a short read is not the end
            more = self._file.read(size - len(data))
            if not more:
                break
            data += more
        data = data or b""
        if data:
            self.sha256.update(data)
            if self._on_bytes is not None:
                self._on_bytes(len(data))
        return data

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            return self._read(size)

    def _read(self, size: int) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        if self._decoder is None and self.framer is None:
            return self._raw(min(size, 1 << 30))
        while len(self._pending) < size and not self._eof:
            raw = self._raw(_CHUNK)
            self._eof = not raw
            if self._decoder is not None:
                text = self._decoder.decode(raw, final=not raw)
                raw = text.encode("utf-8", errors="surrogateescape")
            if self.framer is not None:
                raw = self.framer.feed(raw, final=self._eof)
            self._pending += raw
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass
class InvalidRow:
    record: int  # record ordinal from pyarrow (header = 1)
    newlines: int  # line breaks embedded in the row's text (LF, CRLF or bare CR)
    text: str
    actual: int
    expected: int


class RowNumberer:
    """Physical line numbers of CSV rows, header = line 1, in one streaming pass.

    pyarrow numbers records (a quoted newline does not start a new record) and skips invalid
    rows from its batches, reporting them to a handler with their record number. The physical
    line of a record is its record number plus the newlines embedded in all earlier records,
    so every good row's and every invalid row's first line follows from the newline counts.
    """

    def __init__(self) -> None:
        self.pending: list[InvalidRow] = []
        self.good = 0  # good rows numbered so far
        self.good_newlines = 0  # newlines embedded in them
        self.resolved = 0  # invalid rows numbered so far
        self.resolved_newlines = 0

    def handler(self, row: Any) -> str:
        if row.number is None:  # pragma: no cover - only with a multi-threaded reader
            raise RuntimeError("pyarrow did not report the invalid row's number")
        text = row.text or ""
        breaks = count_breaks(text)
        self.pending.append(
            InvalidRow(row.number, breaks, text, row.actual_columns, row.expected_columns)
        )
        return "skip"

    def number(self, newlines: np.ndarray) -> tuple[np.ndarray, list[tuple[int, InvalidRow]]]:
        """Lines of the next ``len(newlines)`` good rows, and the invalid rows now numbered."""
        m = len(newlines)
        k = self.good + np.arange(m, dtype=np.int64)
        cum = np.concatenate(([0], np.cumsum(newlines, dtype=np.int64)))
        good_before = self.good_newlines + cum[:-1]
        p = len(self.pending)
        if p:
            records = np.fromiter((r.record for r in self.pending), np.int64, p)
            inv_nl = np.fromiter((r.newlines for r in self.pending), np.int64, p)
            c = records - 2 - (self.resolved + np.arange(p, dtype=np.int64))
            inv_cum = np.concatenate(([0], np.cumsum(inv_nl)))
            nb = np.searchsorted(c, k, side="right")
            lines = k + 2 + self.resolved + nb + good_before + self.resolved_newlines + inv_cum[nb]
            done = int(np.searchsorted(c, self.good + m, side="right"))
            numbered: list[tuple[int, InvalidRow]] = []
            for i in range(done):
                before = int(c[i]) - self.good  # good rows of this batch before it
                line = (
                    int(records[i])
                    + self.resolved_newlines
                    + int(inv_cum[i])
                    + self.good_newlines
                    + int(cum[before])
                )
                numbered.append((line, self.pending[i]))
            self.resolved += done
            self.resolved_newlines += int(inv_cum[done])
            del self.pending[:done]
        else:
            lines = k + 2 + self.resolved + good_before + self.resolved_newlines
            numbered = []
        self.good += m
        self.good_newlines += int(cum[-1])
        return lines, numbered

    def finish(self) -> list[tuple[int, InvalidRow]]:
        _, numbered = self.number(np.zeros(0, dtype=np.int64))
        return numbered

    @property
    def lines(self) -> int:
        """Physical lines the header and the rows numbered so far account for."""
        return 1 + self.good + self.good_newlines + self.resolved + self.resolved_newlines
