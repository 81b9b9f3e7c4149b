"""The working-day calendar of the generated period and the batch cut-offs.

Days are indices from 1 January of the first year; ``chinese-calendar`` says which are
official working days (holidays and make-up days included) and which belong to the Spring
Festival. Batches cut the period into evenly spread extract dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from subjectdb.synth.errors import GenerateError

CALENDAR_YEARS = (2004, 2026)  # chinese-calendar 1.11 knows these years' official holidays


EPOCH = dt.date(1970, 1, 1)
DAY = 86_400


NEVER = 10**7


@dataclass
class Calendar:
    day0: int  # days since 1970-01-01 of 1 January of the first year
    n_days: int
    is_workday: np.ndarray
    is_spring_festival: np.ndarray
    month: np.ndarray  # 0..11
    year: np.ndarray
    workdays: np.ndarray  # day indices of working days
    cum: np.ndarray  # working days in [0, i]

    @property
    def end_secs(self) -> int:
        return (self.day0 + self.n_days) * DAY - 1

    def first_workday_pos(self, day: np.ndarray) -> np.ndarray:
        """Position in ``workdays`` of the first working day on or after ``day``."""
        return self.cum[day] - self.is_workday[day]


def build_calendar(first: int, last: int) -> Calendar:
    lo, hi = CALENDAR_YEARS
    if first < lo or last > hi:
        raise GenerateError(
            f"--years {first}-{last} is outside the official working-day calendar "
            f"{lo}–{hi} (chinese-calendar knows holidays and make-up days only for those years)"
        )
    import chinese_calendar

    start = dt.date(first, 1, 1)
    n_days = (dt.date(last, 12, 31) - start).days + 1
    days = [start + dt.timedelta(days=i) for i in range(n_days)]
    try:
        is_wd = np.array([chinese_calendar.is_workday(d) for d in days])
        spring = np.array(
            [chinese_calendar.get_holiday_detail(d)[1] == "Spring Festival" for d in days]
        )
    except NotImplementedError as exc:
        raise GenerateError(f"working-day calendar unavailable: {exc}") from None
    cum = np.cumsum(is_wd)
    return Calendar(
        day0=(start - EPOCH).days,
        n_days=n_days,
        is_workday=is_wd,
        is_spring_festival=spring,
        month=np.array([d.month - 1 for d in days]),
        year=np.array([d.year for d in days]),
        workdays=np.flatnonzero(is_wd),
        cum=cum,
    )


def cutoffs(cal: Calendar, batches: int) -> np.ndarray:
    """Day index of each batch's cut-off: evenly spread, the last on 31 December."""
    if batches < 1:
        raise GenerateError("--batches must be at least 1")
    if batches > cal.n_days:
        raise GenerateError(f"--batches {batches} exceeds the {cal.n_days} days of the period")
    return np.array([round((k + 1) * cal.n_days / batches) - 1 for k in range(batches)])


def epoch_secs(cal: Calendar, day: np.ndarray, sec_of_day: np.ndarray) -> np.ndarray:
    return (cal.day0 + day.astype(np.int64)) * DAY + sec_of_day.astype(np.int64)


def ymd(dates: np.ndarray) -> np.ndarray:
    d = dates.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y * 10_000 + m * 100 + day
