"""Framing a CSV byte stream before pyarrow parses it: physical lines are counted, and the
lines that would make the parser lose rows are taken out — each replaced by an empty line and
recorded with its reason — so that every other line is still read as a row of its own.

pyarrow's reader (like any CSV parser) follows quotes: a ``"`` that opens a field and is never
closed swallows the rest of the file into one record, and a record longer than two read
blocks stops the whole file. The framer applies pyarrow's quoting rules to the bytes first (a
quote opens a field only at the field's start, ``""`` inside quotes is a quote, any other
quote is a literal character) and takes out:

- ``quote_error``: the first line of a record whose quoted value runs past a line end, unless
  the value closes properly (its closing quote followed by a delimiter or a line break) and
  the record has the header's number of fields within :data:`MAX_RECORD_LINES` lines; a
  quote still open at the end of the file is one too. Reading resumes at the next line,
  outside quotes. (So a legitimate quoted line break that is also cut short costs two
  quarantined rows instead of one: never a row hidden inside another's value.)
- ``line_too_long``: a line longer than :data:`MAX_LINE_BYTES` (its first characters are kept).

Line breaks are ``\\n``, ``\\r\\n`` and a bare ``\\r`` (classic Mac), as pyarrow reads them.
Most extracts hold no quote at all: their bytes pass with a few C-speed scans (``in``,
``count``, ``rfind``); only buffers holding a quote are analysed, with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_LINE_BYTES = 1 << 20
"""Longest line read (1 MiB; no row of the contract comes near it). pyarrow stops at a record
longer than two of its read blocks, so a longer line is taken out before it gets there."""

MAX_RECORD_LINES = 64
"""Most physical lines one record may span (quoted line breaks); more is a quoting error."""

PREVIEW_CHARS = 200
"""Characters of an over-long line kept as its quarantine ``original``."""

_WINDOW_LINES = 4096  # lines analysed at once in a buffer holding quotes (> MAX_RECORD_LINES)
_LF, _CR, _QUOTE, _COMMA = 10, 13, 34, 44


def count_breaks(text: bytes | str) -> int:
    """Line breaks in ``text``: LF, CRLF and a bare CR count once each."""
    if isinstance(text, str):
        cr = text.count("\r")
        return text.count("\n") + cr - (text.count("\r\n") if cr else 0)
    cr = text.count(b"\r")
    return text.count(b"\n") + cr - (text.count(b"\r\n") if cr else 0)


def preview(raw: bytes) -> str:
    """The first characters of a line for the quarantine, with its length when cut."""
    text = raw[: PREVIEW_CHARS * 4].decode("utf-8", errors="backslashreplace")
    if len(raw) > PREVIEW_CHARS * 4 or len(text) > PREVIEW_CHARS:
        return f"{text[:PREVIEW_CHARS]}… ({len(raw):,} bytes)"
    return text


@dataclass
class Framer:
    """Frames one CSV stream: ``feed`` its bytes in order, get back the bytes to parse.

    ``fields`` is the header's number of fields. ``replaced`` maps the physical line number of
    each line taken out to (reason, original); ``lines`` counts the physical lines fed so far
    (all of them once the last piece was fed with ``final=True``).
    """

    fields: int
    max_line: int = MAX_LINE_BYTES
    max_record_lines: int = MAX_RECORD_LINES
    lines: int = 0
    replaced: dict[int, tuple[str, str]] = field(default_factory=dict)
    nul: bool = False  # a NUL byte was seen (its row is quarantined after parsing)
    quotes: bool = False  # a quote was seen (values may hold line breaks)
    _carry: bytes = b""  # the start of a record not yet emitted (always at a line start)
    _cr: bool = False  # the last byte emitted was a CR (with no carry: a LF may follow)
    _skipping: bytes | None = None  # the first bytes of an over-long line being skipped
    _skipped: int = 0  # its length so far

    @property
    def line(self) -> int:
        """Physical line number of the next line to emit."""
        return self.lines + 1

    def feed(self, data: bytes, final: bool = False) -> bytes:
        out: list[bytes] = []
        for start in range(0, len(data), self.max_line):
            self._piece(data[start : start + self.max_line], out)
        if final:
            self._finish(out)
        return b"".join(out)

    # ---------------------------------------------------------------------------------------
    def _piece(self, piece: bytes, out: list[bytes]) -> None:
        if not self.nul and b"\x00" in piece:
            self.nul = True
        if self._cr and piece[:1] == b"\n" and not self._carry and self._skipping is None:
            self._emit(out, b"\n", 0)  # the LF of a CRLF split between two pieces
            piece = piece[1:]
        if self._skipping is not None:
            piece = self._skip(piece, out)
        if not piece:
            return
        buf = self._carry + piece if self._carry else piece
        self._carry = b""
        if b'"' in buf:
            self.quotes = True
            self._quoted(buf, out, final=False)
        else:
            self._plain(buf, out, final=False)

    def _finish(self, out: list[bytes]) -> None:
        if self._skipping is not None:  # an over-long last line without a line break
            self._end_skip(b"\n", out)
            return
        buf, self._carry = self._carry, b""
        if buf:
            (self._quoted if b'"' in buf else self._plain)(buf, out, final=True)

    def _emit(self, out: list[bytes], text: bytes, breaks: int) -> None:
        if text:
            out.append(text)
            self._cr = text.endswith(b"\r")
        self.lines += breaks

    # ---------------------------------------------------------------------------------------
    def _plain(self, buf: bytes, out: list[bytes], final: bool) -> None:
        """A buffer without quotes: every line is a record; only line lengths need a look.

        Pieces are at most ``max_line`` bytes and the carry is shorter than that, so only the
        first line (carry + the piece's start) and the last, unfinished one can be too long.
        """
        first = _first_break(buf)
        if first > self.max_line or (first < 0 and len(buf) > self.max_line):
            self._too_long(buf, first, out, final)
            return
        if final:
            tail = 0 if buf.endswith((b"\n", b"\r")) else 1
            self._emit(out, buf, count_breaks(buf) + tail)
            return
        last = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        if last < 0:
            self._carry = buf
            return
        complete, partial = buf[: last + 1], buf[last + 1 :]
        self._emit(out, complete, count_breaks(complete))
        if len(partial) > self.max_line:
            self._too_long(partial, -1, out, final)
        else:
            self._carry = partial

    def _too_long(self, buf: bytes, first: int, out: list[bytes], final: bool) -> None:
        """The line at the start of ``buf`` is over-long: take it out (skip to its break)."""
        if first < 0:  # its break is not here yet: skip until it comes
            self._skipping = buf[: PREVIEW_CHARS * 4]
            self._skipped = len(buf)
            if final:
                self._end_skip(b"\n", out)
            return
        self.replaced[self.line] = ("line_too_long", preview(buf[:first]))
        stop = _break_end(buf, first)
        self._emit(out, buf[first:stop], 1)
        rest = buf[stop:]
        if rest:
            (self._quoted if b'"' in rest else self._plain)(rest, out, final)

    def _skip(self, piece: bytes, out: list[bytes]) -> bytes:
        """Bytes of an over-long line are dropped up to its line break; returns the rest."""
        first = _first_break(piece)
        if first < 0:
            self._skipped += len(piece)
            return b""
        self._skipped += first
        stop = _break_end(piece, first)
        self._end_skip(piece[first:stop], out)
        return piece[stop:]

    def _end_skip(self, terminator: bytes, out: list[bytes]) -> None:
        assert self._skipping is not None
        text = self._skipping.decode("utf-8", errors="ignore")[:PREVIEW_CHARS]
        self.replaced[self.line] = ("line_too_long", f"{text}… ({self._skipped:,} bytes)")
        self._skipping = None
        self._skipped = 0
        self._emit(out, terminator, 1)

    # ---------------------------------------------------------------------------------------
    def _quoted(self, buf: bytes, out: list[bytes], final: bool) -> None:
        """A buffer holding quotes: find its records, check multi-line ones, take out lines."""
        arr = np.frombuffer(buf, dtype=np.uint8)
        ends, starts = _break_positions(arr)
        quotes = np.flatnonzero(arr == _QUOTE)
        pos = 0  # start of the current record (a line start)
        while pos < len(buf):
            b0 = int(np.searchsorted(ends, pos))
            b1 = min(b0 + _WINDOW_LINES, len(ends))
            at_end = b1 == len(ends)  # the window reaches the end of the buffer
            limit = len(buf) if at_end else int(ends[b1 - 1]) + 1
            w_ends, w_starts = ends[b0:b1], starts[b0:b1]
            q = quotes[np.searchsorted(quotes, pos) : np.searchsorted(quotes, limit)]
            toggles = _toggles(arr, q, pos)
            verdict = self._scan(arr, pos, limit, w_ends, w_starts, toggles, at_end, final)
            if verdict is None:  # the whole window is fine
                tail = 1 if at_end and final and limit > _after(w_ends, pos) else 0
                self._emit(out, buf[pos:limit], len(w_ends) + tail)
                pos = limit
                continue
            what, start, brk = verdict
            self._emit(out, buf[pos:start], int(np.searchsorted(w_ends, start)))
            if what == "next":  # a record runs past the window: analyse from its start
                pos = start
                continue
            if what == "hold":  # an open record at the end of the buffer: wait for more
                self._carry = buf[start:]
                return
            if brk is None:  # the line to take out is the last one and has no break yet
                if what == "line_too_long" or not final:
                    self._too_long(buf[start:], -1, out, final)
                else:
                    self.replaced[self.line] = (what, _text(buf[start:]))
                    self._emit(out, b"\n", 1)
                return
            content_end, stop = int(w_starts[brk]), int(w_ends[brk]) + 1
            shown = preview(buf[start:content_end])
            self.replaced[self.line] = (
                what,
                shown if what == "line_too_long" else _text(buf[start:content_end]),
            )
            self._emit(out, buf[content_end:stop], 1)
            pos = stop

    def _scan(
        self,
        arr: np.ndarray,
        pos: int,
        limit: int,
        ends: np.ndarray,
        starts: np.ndarray,
        toggles: np.ndarray,
        at_end: bool,
        final: bool,
    ) -> tuple[str, int, int | None] | None:
        """What to do with the window ``[pos, limit)``: None when all of it can be emitted,
        else (what, line start, index in ``ends`` of that line's break or None): a line to
        take out (``quote_error``, ``line_too_long``), ``hold`` (wait for more bytes) or
        ``next`` (a record runs past the window: start the next window there)."""
        line_starts = np.concatenate(([pos], ends[:-1] + 1)) if len(ends) else np.zeros(0)
        long_lines = np.flatnonzero(starts - line_starts > self.max_line)
        first_long = int(long_lines[0]) if len(long_lines) else len(ends)
        inside = np.searchsorted(toggles, ends) % 2 == 1  # breaks inside a quoted value
        if inside[:first_long].any():
            opening = np.flatnonzero(inside & ~np.concatenate(([False], inside[:-1])))
            for i in opening.tolist():
                if i >= first_long:
                    break
                start = int(line_starts[i])
                j = i
                while j < len(ends) and inside[j]:
                    j += 1
                if j == len(ends) and (len(toggles) % 2 == 1 or not final):
                    # still open where the window ends (or closed in a last line not yet whole)
                    spanned = j - i + 1
                    if spanned > self.max_record_lines or limit - start > self.max_line:
                        return "quote_error", start, i
                    if not at_end:
                        return "next", start, None
                    if final:
                        return "quote_error", start, i
                    return "hold", start, None
                end = int(starts[j]) if j < len(ends) else limit
                if not self._record_ok(arr, start, end, ends[i:j], toggles):
                    return "quote_error", start, i
        if first_long < len(ends):
            return "line_too_long", int(line_starts[first_long]), first_long
        tail = _after(ends, pos)
        if at_end and tail < limit:  # the part after the last break
            if limit - tail > self.max_line:
                return "line_too_long", tail, None
            if len(toggles) % 2 == 1:  # a quote still open in the last line
                return ("quote_error", tail, None) if final else ("hold", tail, None)
            if not final:
                return "hold", tail, None
        return None

    def _record_ok(
        self, arr: np.ndarray, start: int, end: int, quoted: np.ndarray, toggles: np.ndarray
    ) -> bool:
        """Whether the record ``[start, end)``, whose line breaks at ``quoted`` are inside
        quoted values, is one record: within :data:`MAX_RECORD_LINES` lines and ``max_line``
        bytes, with the header's number of fields, and every quoted value that spans a line
        break closed properly (its closing quote followed by a delimiter, a line break or the
        end of the file). A quote opened by mistake closes at some later quote instead,
        usually the opening one of a value; two stray quotes in one column make a record of
        the right width, but the second one is followed by the rest of its value."""
        if len(quoted) + 1 > self.max_record_lines or end - start > self.max_line:
            return False
        commas = np.flatnonzero(arr[start:end] == _COMMA) + start
        if int((np.searchsorted(toggles, commas) % 2 == 0).sum()) + 1 != self.fields:
            return False
        for brk in quoted.tolist():
            idx = int(np.searchsorted(toggles, brk))  # the quote that closes the value
            while idx + 1 < len(toggles) and toggles[idx + 1] == toggles[idx] + 1:
                idx += 2  # an escaped "" inside the value
            if idx >= len(toggles):
                return False
            after = int(toggles[idx]) + 1
            if after < len(arr) and arr[after] not in (_COMMA, _LF, _CR):
                return False
        return True


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def _after(ends: np.ndarray, pos: int) -> int:
    return int(ends[-1]) + 1 if len(ends) else pos


def _first_break(buf: bytes) -> int:
    lf, cr = buf.find(b"\n"), buf.find(b"\r")
    if lf < 0 or cr < 0:
        return max(lf, cr)
    return min(lf, cr)


def _break_end(buf: bytes, at: int) -> int:
    """Index just after the line break starting at ``at`` (CRLF is one break)."""
    return at + 2 if buf[at : at + 2] == b"\r\n" else at + 1


def _break_positions(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(last byte, first byte) of every line break: LF, CRLF or a bare CR."""
    lf = np.flatnonzero(arr == _LF)
    cr = np.flatnonzero(arr == _CR)
    if not len(cr):
        return lf, lf
    after = cr + 1
    bare = cr[(after >= len(arr)) | (arr[np.minimum(after, len(arr) - 1)] != _LF)]
    crlf_lf = lf[(lf > 0) & (arr[np.maximum(lf - 1, 0)] == _CR)]
    ends = np.union1d(lf, bare)
    starts = ends.copy()
    if len(crlf_lf):
        starts[np.searchsorted(ends, crlf_lf)] -= 1
    return ends, starts


def _toggles(arr: np.ndarray, quotes: np.ndarray, start: int) -> np.ndarray:
    """The quotes that open or close a quoted field under pyarrow's rules, from a line start.

    Counting every quote as a toggle is right unless a quote that would open a field is not at
    a field's start (after a delimiter or a line break; right after a closing quote the pair is
    an escaped ``""``, which leaves the parity as it is): such a quote is a literal character.
    Each literal one is dropped and the parity of the later ones counted again from there.
    """
    kept: list[np.ndarray] = []
    q = quotes
    while len(q):
        openers, closers = q[0::2], q[1::2]
        prev = arr[np.maximum(openers - 1, 0)]
        ok = (openers == start) | (prev == _COMMA) | (prev == _LF) | (prev == _CR)
        if len(openers) > 1:
            ok[1:] |= openers[1:] - 1 == closers[: len(openers) - 1]
        bad = np.flatnonzero(~ok)
        if not len(bad):
            kept.append(q)
            break
        k = 2 * int(bad[0])
        kept.append(q[:k])  # an even number of toggles: outside quotes after them
        q = q[k + 1 :]
    return np.concatenate(kept) if kept else quotes[:0]
