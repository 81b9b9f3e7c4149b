"""Text standardisation: full-width → half-width, traditional → simplified (OpenCC ``t2s``),
trimmed, empty → NULL; vectorised over Arrow string arrays."""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SMALL_SCREEN = 2_000


_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2EBEF),
    (0x2F800, 0x2FA1F),
    (0x30000, 0x3134F),
)


class Standardiser:
    """Vectorised text standardisation of Arrow string arrays.

    OpenCC converts about half a million short strings a second, too slow for every value of
    a large extract, so values are first screened in C++ (one RE2 character class): only values
    holding a full-width character or a character that OpenCC's ``t2s`` could change go
    through Python. The class is derived from OpenCC itself (every character converted alone,
    plus the characters its phrase table changes), so the screen never misses a conversion;
    if the phrase table cannot be read, every non-ASCII value is converted (slower, same
    result).
    """

    def __init__(self) -> None:
        import opencc

        self._cc = opencc.OpenCC("t2s")
        self._cache: dict[str, str] = {}
        chars = self._convertible_chars()
        self.chars: frozenset[str] | None = None  # None: screen every non-ASCII value
        if chars is None:
            self.pattern = r"[^\x00-\x7F]"
        else:
            chars |= {chr(cp) for cp in _FULLWIDTH}
            self.chars = frozenset(chars)
            self.pattern = "[" + "".join(_re2_escape(c) for c in sorted(chars)) + "]"

    def _convertible_chars(self) -> set[str] | None:
        singles = [chr(cp) for lo, hi in _CJK_RANGES for cp in range(lo, hi + 1)]
        converted = self._cc.convert("\n".join(singles)).split("\n")
        if len(converted) != len(singles):
            return None
        chars = {s for s, t in zip(singles, converted, strict=True) if s != t}
        phrases = _opencc_phrases()
        if phrases is None:
            return None
        for key, value in phrases:
            if len(key) != len(value):
                chars.update(key)
            else:
                chars.update(k for k, v in zip(key, value, strict=True) if k != v)
        return chars

    def convert(self, value: str) -> str:
        hit = self._cache.get(value)
        if hit is None:
            hit = self._cc.convert(value.translate(_FULLWIDTH))
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[value] = hit
        return hit

    def __call__(self, arr: pa.Array) -> pa.Array:
        """Standardised copy of a string array: converted, trimmed, empty → null."""
        return self.many([arr])[0]

    def many(self, arrays: Sequence[pa.Array]) -> list[pa.Array]:
        """Standardised copies of several string arrays (the columns of one batch).

        Pure-ASCII columns (codes, timestamps, numbers) are only trimmed. In the others only
        the non-ASCII values can change: where they are few (an ID column with a stray
        full-width digit) just those values are screened; where they are many (names,
        departments) the column is dictionary-encoded and its distinct values are screened.
        All screened values of the batch go through one regex pass (the large character
        class is compiled once per batch, not once per column), and a column none of whose
        values changes is kept as it is rather than rebuilt.
        """
        out: list[pa.Array] = list(arrays)
        screened: list[pa.Array] = []
        plans: list[tuple[int, str, pa.Array]] = []  # (column, "sparse"/"dense", mask/indices)
        for i, arr in enumerate(arrays):
            ascii_ = pc.fill_null(pc.string_is_ascii(arr), True)
            non_ascii = len(arr) - pc.sum(ascii_).as_py() if len(arr) else 0
            if not non_ascii:
                continue
            if non_ascii * 8 < len(arr):
                mask = pc.invert(ascii_)
                screened.append(pc.filter(arr, mask))
                plans.append((i, "sparse", mask))
            else:
                encoded = arr.dictionary_encode()
                screened.append(encoded.dictionary)
                plans.append((i, "dense", encoded.indices))
        if plans:
            values = pa.concat_arrays(screened) if len(screened) > 1 else screened[0]
            converted, changed = self._convert(values)
            start = 0
            for (i, how, key), part in zip(plans, screened, strict=True):
                size = len(part)
                if changed[start : start + size].any():
                    new = converted.slice(start, size)
                    if how == "sparse":
                        out[i] = pc.replace_with_mask(arrays[i], key, new)
                    else:
                        out[i] = pc.take(new, key)
                start += size
        return [self._trim(a) for a in out]

    def _convert(self, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
        """Converted values, and which of them changed.

        The screen is one RE2 pass; for a few values (small files, the last batch of a file)
        the same character set is checked in Python instead, since compiling the large
        character class costs about 2 ms.
        """
        if len(arr) <= _SMALL_SCREEN:
            chars = self.chars
            values = arr.to_pylist()
            flags = (
                (v is not None and not v.isascii() for v in values)
                if chars is None
                else (v is not None and not chars.isdisjoint(v) for v in values)
            )
            hits = np.fromiter(flags, dtype=bool, count=len(values))
            mask = pa.array(hits)
        else:
            mask = pc.fill_null(pc.match_substring_regex(arr, self.pattern), False)
            hits = mask.to_numpy(zero_copy_only=False)
        if not hits.any():
            return arr, hits
        originals = pc.filter(arr, mask).to_pylist()
        converted = [self.convert(v) for v in originals]
        changed = np.zeros(len(arr), dtype=bool)
        changed[np.flatnonzero(hits)] = [c != o for c, o in zip(converted, originals, strict=True)]
        replacements = pa.array(converted, pa.string())
        return pc.replace_with_mask(arr, mask, replacements), changed

    @staticmethod
    def _trim(arr: pa.Array) -> pa.Array:
        """Leading/trailing whitespace trimmed, empty → null (the text buffer is reused).

        Trimming rebuilds the whole array, so it runs only when some value may start or end
        with whitespace (:func:`_may_need_trim`, a vectorised look at each value's first and
        last character).
        """
        if _may_need_trim(arr):
            arr = pc.utf8_trim_whitespace(arr)
        nonempty = pc.fill_null(pc.greater(pc.binary_length(arr), 0), False)
        if pc.all(nonempty).as_py():
            return arr
        if arr.offset or nonempty.offset:
            return pc.if_else(nonempty, arr, pa.scalar(None, arr.type))
        return pa.Array.from_buffers(
            arr.type, len(arr), [nonempty.buffers()[1], *arr.buffers()[1:]]
        )


# First bytes of a UTF-8 character that is certainly not whitespace: printable ASCII and the
# lead bytes of 2-, 3- and 4-byte characters, except C2 (U+0080–U+00BF: NEL, NBSP), E1
# (U+1680), E2 (U+2000–U+2FFF: the general-punctuation spaces) and E3 (U+3000).
_SAFE_LEAD = np.zeros(256, dtype=bool)
_SAFE_LEAD[0x21:0x7F] = True
_SAFE_LEAD[0xC3:0xE1] = True
_SAFE_LEAD[0xE4:0xF5] = True
_CONTINUATION = np.zeros(256, dtype=bool)
_CONTINUATION[0x80:0xC0] = True


def _may_need_trim(arr: pa.Array) -> bool:
    """Whether some value of a string array might start or end with (Unicode) whitespace.

    Looks only at the bytes around each value's boundaries: a value needs no trim when its
    first character and its last character are certainly not whitespace (see ``_SAFE_LEAD``;
    the last character is found by stepping back over up to three continuation bytes).
    Conservative: when unsure (an unusual array layout) it answers yes.
    """
    if not pa.types.is_string(arr.type) or len(arr) == 0:
        return len(arr) > 0
    _, offsets_buf, data_buf = arr.buffers()
    if data_buf is None or offsets_buf is None:
        return True
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    present = ends > starts
    if arr.null_count:
        present &= pc.is_valid(arr).to_numpy(zero_copy_only=False)
    starts, ends = starts[present], ends[present]
    if not len(starts):
        return False
    if not _SAFE_LEAD.take(data.take(starts)).all():
        return True
    # The last character starts at the last byte that is not a continuation byte.
    last = ends - 1
    for _ in range(3):
        back = _CONTINUATION.take(data.take(last)) & (last > starts)
        if not back.any():
            break
        last = last - back
    return not bool(_SAFE_LEAD.take(data.take(last)).all())


def _re2_escape(char: str) -> str:
    return "\\" + char if char in "\\]^-[" else char


def _opencc_phrases() -> list[tuple[str, str]] | None:
    """OpenCC's traditional → simplified phrase table, dumped with its own ``opencc_dict``."""
    import opencc

    base = Path(opencc.__file__).parent / "clib"
    tool = base / "bin" / "opencc_dict"
    table = base / "share" / "opencc" / "TSPhrases.ocd2"
    if not tool.exists() or not table.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "phrases.txt"
        try:
            subprocess.run(
                [str(tool), "-i", str(table), "-o", str(out), "-f", "ocd2", "-t", "text"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            lines = out.read_text(encoding="utf-8").splitlines()
        except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
            return None
    pairs: list[tuple[str, str]] = []
    for line in lines:
        key, _, values = line.partition("\t")
        for value in values.split(" ") if values else []:
            pairs.append((key, value))
    return pairs


_STANDARDISER: Standardiser | None = None
_STANDARDISER_LOCK = threading.Lock()


def standardiser() -> Standardiser:
    """The process-wide :class:`Standardiser` (built once: about half a second)."""
    global _STANDARDISER
    with _STANDARDISER_LOCK:
        if _STANDARDISER is None:
            _STANDARDISER = Standardiser()
        return _STANDARDISER


def standardise_text(value: str) -> str | None:
    """One value standardised as the loader does it (for tests and ad-hoc use)."""
    out = standardiser()(pa.array([value], pa.string()))[0].as_py()
    return out
