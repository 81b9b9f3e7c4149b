"""The national-standard rules of subjectdb.standards agree with python-stdnum: the check
characters (GB 11643, GB 32100, GB 11714) and the GB/T 2260 code history that the generator
writes with and the raw-suite expectations check with."""

from __future__ import annotations

import numpy as np
import pytest
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from subjectdb import standards as std


def ascii_matrix(values: list[str]) -> np.ndarray:
    width = len(values[0])
    return np.frombuffer("".join(values).encode(), dtype=np.uint8).reshape(-1, width)


@pytest.fixture(scope="module")
def resident_ids() -> list[str]:
    """18-character IDs: half with stdnum's check character, half with a wrong one."""
    rng = np.random.default_rng(7)
    codes = sorted(c for c, (_, spans) in std.gb2260_history().items() if std.ALWAYS in spans)
    out = []
    for i in range(2_000):
        code = codes[int(rng.integers(len(codes)))]
        year, month, day = (int(rng.integers(a, b)) for a, b in ((1930, 2025), (1, 13), (1, 29)))
        birth = f"{year}{month:02d}{day:02d}"
        body = f"{code}{birth}{int(rng.integers(0, 1000)):03d}"
        check = ric.calc_check_digit(body + "0")
        if i % 2:
            check = "0123456789X"[("0123456789X".index(check) + int(rng.integers(1, 11))) % 11]
        out.append(body + check)
    return out


def test_gb11643_check_characters_agree_with_stdnum(resident_ids: list[str]) -> None:
    mat = ascii_matrix(resident_ids)
    chars = std.gb11643_check_chars(mat[:, :17])
    values = std.gb11643_check(mat[:, :17])
    for number, char, value in zip(resident_ids, chars, values, strict=True):
        assert chr(char) == ric.calc_check_digit(number) == "0123456789X"[value], number
        assert (chr(char) == number[-1]) == ric.is_valid(number), number


def test_gb11643_pattern_is_stdnums_shape() -> None:
    import re

    good = "33010619900101000X"
    assert re.match(std.GB11643_PATTERN, good) and ric.is_valid(good)
    for bad in ("33010619900101000x", "3301061990010100X0", "3301061990010100", good + "0"):
        assert not re.match(std.GB11643_PATTERN, bad), bad


def test_gb32100_check_characters_agree_with_stdnum() -> None:
    rng = np.random.default_rng(1)
    alphabet = np.frombuffer(std.GB32100_ALPHABET.encode(), dtype=np.uint8)
    bodies = alphabet[rng.integers(0, 31, (2_000, 17))]
    bodies[:, :8] = alphabet[rng.integers(0, 10, (2_000, 8))]  # GB 32100: 8 digits first
    chars = std.gb32100_check_chars(bodies)
    values = std.gb32100_check(bodies)
    wrong = alphabet[(values + rng.integers(1, 31, len(values))) % 31]
    for body, char, value, bad in zip(bodies, chars, values, wrong, strict=True):
        text = body.tobytes().decode()
        assert chr(char) == uscc.calc_check_digit(text) == std.GB32100_ALPHABET[value], text
        assert uscc.is_valid(text + chr(char)) and not uscc.is_valid(text + chr(bad)), text
    # the validator's side: each character's value, -1 outside the alphabet
    codes = ascii_matrix(["0123456789ABCDEFGHJKLMNPQRTUWXYIOSVZ"])
    assert std.gb32100_values(codes).tolist() == [[*range(31), -1, -1, -1, -1, -1]]


def test_gb32100_pattern_is_stdnums_shape() -> None:
    import re

    for text in ("91350100M000100Y43", "9135010AM000100Y43", "91350100M000100I43", "9135"):
        assert bool(re.match(std.GB32100_PATTERN, text)) == (
            len(text) == 18 and text[:8].isdigit() and all(c in std.GB32100_ALPHABET for c in text)
        ), text
    assert uscc.is_valid("91350100M000100Y43")


def test_gb11714_organisation_code_check_characters() -> None:
    """The textbook example D2143569-X (check 10), and the organisation code M000100Y-4 inside
    python-stdnum's valid credit code 91350100M000100Y43."""
    assert uscc.is_valid("91350100M000100Y43")
    got = std.gb11714_check_chars(ascii_matrix(["D2143569", "M000100Y"]))
    assert [chr(c) for c in got] == ["X", "4"]
    # check 11 is written 0: 00000000 sums to 0, so 11 - 0 = 11
    assert chr(std.gb11714_check_chars(ascii_matrix(["00000000"]))[0]) == "0"


def _stdnum_birth_place(code: str, year: int) -> bool:
    number = f"{code}{year}0101001"
    number += ric.calc_check_digit(number + "0")
    try:
        ric.get_birth_place(number)
    except (ValidationError, KeyError):
        return False
    return True


def test_gb2260_assigned_agrees_with_stdnum_birth_place() -> None:
    """For a sample of codes (every code of two provinces, a random sample of the rest, codes
    that never existed) and the years around each span boundary."""
    history = std.gb2260_history()
    codes = sorted(history)
    rng = np.random.default_rng(3)
    sample = {c for c in codes if c[:2] in ("33", "50")}
    sample |= {codes[int(i)] for i in rng.integers(0, len(codes), 600)}
    sample |= {"330199", "999999", "110000", "330000"}
    checked = 0
    for code in sorted(sample):
        years = {1950, 1990, 2020}
        for first, last in std.gb2260_spans(code):
            years |= {first - 1, first, last, last + 1}
        for year in sorted(y for y in years if 1900 <= y <= 2025):
            assert std.gb2260_assigned(code, year) == _stdnum_birth_place(code, year), (code, year)
            checked += 1
    assert checked > 3_000
    assert std.gb2260_spans("110103") == ((0, 2010),)  # [-2010]崇文区
    assert std.gb2260_spans("110111") == ((1986, 9999),)  # [1986-]房山区
    assert std.gb2260_spans("999999") == ()
