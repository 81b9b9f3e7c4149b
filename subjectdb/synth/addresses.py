"""Resident-ID address codes valid at the birth year.

A resident ID carries the GB/T 2260 code of the holder's registration place *as it was when
the ID was issued*: someone born in 1990 in today's 临安区 (330112) carries 临安县's code
330124. The table here maps each county and birth year to such a code, from the code history
in :func:`subjectdb.standards.gb2260_history`.
"""

from __future__ import annotations

import numpy as np

from subjectdb.standards import gb2260_history

MIN_BIRTH_YEAR = 1900


def address_code_table(
    codes: list[str], names: dict[str, str], retired: dict[str, list[str]], years: range
) -> np.ndarray:
    """[len(codes), len(years)] int: the address code a person registered at ``code`` and born
    in ``year`` carries in the ID — the code itself when it existed then, else a predecessor
    (code changes, or the same name in the same prefecture), else the prefecture's code."""
    loc = gb2260_history()
    loc_codes = sorted(loc)
    loc_index = {c: i for i, c in enumerate(loc_codes)}
    loc_int = np.array([int(c) for c in loc_codes])
    y0, ny = years.start, len(years)
    valid = np.zeros((len(loc_codes), ny), dtype=bool)
    for i, c in enumerate(loc_codes):
        for a, b in loc[c][1]:
            lo, hi = max(a - y0, 0), min(b - y0, ny - 1)
            if lo <= hi:
                valid[i, lo : hi + 1] = True
    by_prefix: dict[str, list[str]] = {}
    by_province: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for c in loc_codes:
        by_prefix.setdefault(c[:4], []).append(c)
        by_province.setdefault(c[:2], []).append(c)
        by_name.setdefault(loc[c][0][:2], []).append(c)
    generic = ("市辖", "市区", "县", "省直辖", "自治区直辖", "直辖")
    table = np.zeros((len(codes), ny), dtype=np.int64)
    for i, code in enumerate(codes):
        name = names.get(code, "")
        stem = name[:-1] if len(name) > 2 else name
        stem = "" if stem.startswith(generic) else stem
        nearby = by_prefix.get(code[:4], [])
        same_name = [c for c in nearby if c != code and stem and loc[c][0].startswith(stem)]
        urban = [c for c in nearby if loc[c][0] in ("市区", "市辖区")]
        pref_name = names.get(code[:4] + "00", "")
        pref_stem = "" if pref_name.startswith(generic) else pref_name[:2]
        old_pref = [
            c
            for c in by_province.get(code[:2], [])
            if pref_stem and c[:4] != code[:4] and loc[c][0].startswith(pref_stem)
        ]
        ordered = [code, *retired.get(code, []), *same_name, *urban, *nearby, *old_pref]
        idx = np.array([loc_index[c] for c in ordered if c in loc_index], dtype=np.int64)
        ok = valid[idx] if len(idx) else np.zeros((0, ny), dtype=bool)
        found = ok.any(axis=0)
        row = np.where(found, loc_int[idx[ok.argmax(axis=0)]] if len(idx) else 0, 0)
        missing = np.flatnonzero(~found)
        if len(missing):
            # e.g. Chongqing before 1997 (then part of Sichuan): the same name elsewhere,
            # else the numerically nearest code valid that year
            stems = [x for x in (stem, pref_stem) if x]
            far = np.array(
                sorted(
                    {
                        loc_index[c]
                        for x in stems
                        for c in by_name.get(x[:2], [])
                        if loc[c][0].startswith(x)
                    }
                ),
                dtype=np.int64,
            )
            for j in missing:
                hit = far[valid[far, j]] if len(far) else far
                if len(hit):
                    row[j] = loc_int[hit[0]]
                else:
                    alive = loc_int[valid[:, j]]
                    row[j] = alive[np.argmin(np.abs(alive - int(code)))]
        table[i] = row
    return table


def all_region_names() -> dict[str, str]:
    return {code: name for code, (name, _) in gb2260_history().items()}
