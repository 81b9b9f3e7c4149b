"""The population register: persons drawn from the census age structure, their resident IDs,
names and phones, and their life events in the period (birth, arrival, death, moves).

Only compact numeric arrays are kept (:class:`Persons`, about 60 bytes a person); the register
rows are built chunk by chunk from them (:func:`person_rows`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from subjectdb.standards import gb11643_check_chars
from subjectdb.synth import arrays as ar
from subjectdb.synth import profiles as prof
from subjectdb.synth.addresses import MIN_BIRTH_YEAR
from subjectdb.synth.calendar import DAY, NEVER, Calendar, epoch_secs, ymd
from subjectdb.synth.errors import GenerateError
from subjectdb.synth.reference import Ref, label


def resident_id_matrix(id17: np.ndarray) -> np.ndarray:
    """18-char ASCII matrix of resident IDs (GB 11643: ISO 7064 MOD 11-2 check character)."""
    mat = np.empty((len(id17), 18), dtype=np.uint8)
    mat[:, :17] = ar.digits(id17, 17)
    mat[:, 17] = gb11643_check_chars(mat[:, :17])
    return mat


@dataclass
class Persons:
    n: int
    kind: np.ndarray  # 0 initial register, 1 born in period, 2 arrived in period
    birth_day: np.ndarray  # day index relative to day0 (negative = before the period)
    male: np.ndarray
    res0: np.ndarray  # county index
    res1: np.ndarray  # county after an internal move
    move_day: np.ndarray  # day of the internal move (huge if none)
    start_day: np.ndarray  # first day present (very negative for the initial register)
    end_day: np.ndarray  # death or move-out day (huge if none)
    event: np.ndarray  # 0 none, 1 death, 2 moved out, 3 moved within the province
    event_secs: np.ndarray
    hukou: np.ndarray  # index into hukou_codes
    hukou_codes: list[str]
    id17: np.ndarray
    surname: np.ndarray
    given1: np.ndarray
    given2: np.ndarray
    phone: np.ndarray  # 0 = none
    status_day0: np.ndarray
    updated0: np.ndarray


def _census_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    starts, shares = prof.census_band_shares()
    band = ar.choice(rng, shares, n)
    width = np.where(starts[band] >= 95, 8.0, 5.0)
    return starts[band] + rng.random(n) * width


PERSON_BLOCK = 250_000


def make_persons(
    rng: np.random.Generator,
    ref: Ref,
    cal: Calendar,
    n: int,
    first_year: int,
    last_year: int,
    county_w: np.ndarray,
    addr_table: np.ndarray,
    other_pick: list[str],
) -> Persons:
    """The population register, drawn in blocks (bounded temporaries), then given unique IDs."""
    years = last_year - first_year + 1
    n_birth = round(n * prof.BIRTH_RATE * years)
    n_in = round(n * prof.IN_MIGRATION_RATE * years)
    n_init = max(n - n_birth - n_in, 1)
    n_birth = min(n_birth, n - n_init)
    n_in = n - n_init - n_birth
    blocks: list[Persons] = []
    for lo in range(0, n, PERSON_BLOCK):
        hi = min(lo + PERSON_BLOCK, n)
        b_init = max(0, min(hi, n_init) - lo)
        b_birth = max(0, min(hi, n_init + n_birth) - max(lo, n_init))
        b_in = hi - lo - b_init - b_birth
        blocks.append(
            _make_person_block(
                rng,
                ref,
                cal,
                b_init,
                b_birth,
                b_in,
                first_year,
                last_year,
                county_w,
                addr_table,
                other_pick,
            )
        )
    arrays = {
        f: np.concatenate([getattr(b, f) for b in blocks])
        for f in Persons.__dataclass_fields__
        if isinstance(getattr(blocks[0], f), np.ndarray)
    }
    del blocks
    # the ID sequence: unique within (address code, birth date), odd for men, even for women
    male = arrays["male"]
    key = (arrays["id17"] // 1000) * 2 + male
    order = np.argsort(key, kind="stable")
    sk = key[order]
    first_pos = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    group_start = np.repeat(first_pos, np.diff(np.r_[first_pos, len(sk)]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    del order, sk, group_start
    if rank.max(initial=0) >= 499:
        raise GenerateError("too many persons share a birth date and region for unique IDs")
    k = ((key * 2654435761) % 300 + rank) % 499
    arrays["id17"] = arrays["id17"] + 2 * k + np.where(male, 1, 2)
    return Persons(n=n, hukou_codes=ref.county_codes + other_pick, **arrays)


def _make_person_block(
    rng: np.random.Generator,
    ref: Ref,
    cal: Calendar,
    n_init: int,
    n_birth: int,
    n_in: int,
    first_year: int,
    last_year: int,
    county_w: np.ndarray,
    addr_table: np.ndarray,
    other_pick: list[str],
) -> Persons:
    years = last_year - first_year + 1
    n = n_init + n_birth + n_in
    kind = np.concatenate([np.zeros(n_init), np.ones(n_birth), np.full(n_in, 2)]).astype(np.int8)
    mid_first = (dt.date(first_year, 7, 1) - dt.date(first_year, 1, 1)).days
    last_day = cal.n_days - 1

    age = np.empty(n)
    age[:n_init] = _census_ages(rng, n_init)
    age[n_init + n_birth :] = np.clip(rng.normal(31, 9, n_in), 16, 65)
    birth = np.empty(n, dtype=np.int64)
    birth[:n_init] = mid_first - np.floor(age[:n_init] * 365.2425).astype(np.int64)
    late = birth[:n_init] >= 0  # the initial register predates the period
    birth[:n_init][late] = -rng.integers(1, 366, int(late.sum()))
    b_days = rng.integers(0, max(last_day - 60, 1), n_birth)
    birth[n_init : n_init + n_birth] = b_days
    arrival = rng.integers(0, last_day + 1, n_in)
    birth[n_init + n_birth :] = arrival - np.floor(age[n_init + n_birth :] * 365.2425).astype(int)

    age_mid = (mid_first - birth) / 365.2425
    p_male = np.full(n, prof.MALE_SHARE_BY_AGE[0][1])
    for a, share in prof.MALE_SHARE_BY_AGE[1:]:
        p_male[age_mid >= a] = share
    male = rng.random(n) < p_male

    res0 = ar.choice(rng, county_w, n).astype(np.int32)
    n_cty = len(ref.county_codes)
    u = rng.random(n)
    hukou = res0.copy()
    other_cty = u > prof.HUKOU_SAME_SHARE
    hukou[other_cty] = ar.choice(rng, county_w, int(other_cty.sum()))
    out_prov = (u > 1 - prof.HUKOU_OTHER_PROVINCE) | (kind == 2) & (rng.random(n) < 0.6)
    out_prov &= kind != 1
    hukou[out_prov] = n_cty + rng.integers(0, len(other_pick), int(out_prov.sum()))
    hukou[kind == 1] = res0[kind == 1]

    # the ID: address code valid at the birth year, birth date, sequence, check digit
    birth_dates = (cal.day0 + birth).astype("datetime64[D]")
    birth_year = birth_dates.astype("datetime64[Y]").astype(np.int64) + 1970
    addr = addr_table[hukou, np.clip(birth_year - MIN_BIRTH_YEAR, 0, addr_table.shape[1] - 1)]
    id17 = addr * 10**11 + ymd(birth_dates) * 1000  # sequence added by make_persons

    # names and phones
    s_share = np.array([s for _, s in prof.SURNAMES])
    surname = ar.choice(rng, s_share, n).astype(np.int16)
    n_m, n_f = len(prof.GIVEN_MALE), len(prof.GIVEN_FEMALE)
    g1 = np.where(male, rng.integers(0, n_m, n), n_m + rng.integers(0, n_f, n))
    g2 = np.where(male, rng.integers(0, n_m, n), n_m + rng.integers(0, n_f, n))
    g2 = np.where(rng.random(n) < prof.TWO_CHAR_GIVEN_SHARE, g2, n_m + n_f)  # "" = none
    phone = ar.phones(rng, n)
    no_phone = (age_mid < prof.PHONE_MIN_AGE) | (rng.random(n) < prof.NO_PHONE_ADULT_SHARE)
    phone[no_phone & (kind != 2)] = 0

    # register dates
    start = np.full(n, -NEVER, dtype=np.int64)
    start[kind == 1] = np.minimum(b_days + rng.integers(7, 60, n_birth), last_day)
    start[kind == 2] = arrival
    status_day = birth.copy()
    migrated = (hukou != res0) & (kind == 0)
    adult_from = birth + 18 * 365
    span = np.maximum(-1 - adult_from, 1)
    status_day[migrated] = np.minimum(adult_from + (rng.random(n) * span).astype(int), -1)[migrated]
    status_day[kind == 2] = arrival
    upd_from = np.maximum(status_day, -5 * 365)
    upd_day = np.where(kind == 0, upd_from + (rng.random(n) * (-1 - upd_from)).astype(int), start)
    upd_day = np.where(kind == 0, np.minimum(upd_day, -1), upd_day)
    updated0 = epoch_secs(cal, upd_day, ar.hours(rng, prof.OFFLINE_HOURS, n))

    # changes during the period (initial register only): death, move out, move within
    q = 1 - (1 - prof.annual_mortality(np.maximum(age_mid, 0))) ** years
    p_out = prof.OUT_MIGRATION_RATE * years
    p_move = prof.INTERNAL_MOVE_RATE * years
    u = rng.random(n)
    event = np.zeros(n, dtype=np.int8)
    event[u < q] = 1
    event[(u >= q) & (u < q + p_out)] = 2
    event[(u >= q + p_out) & (u < q + p_out + p_move)] = 3
    event[kind != 0] = 0
    ev_day = rng.integers(0, last_day + 1, n)
    ev_rec = np.minimum(ev_day + rng.integers(0, 15, n), last_day)
    event_secs = epoch_secs(cal, ev_rec, ar.hours(rng, prof.OFFLINE_HOURS, n))
    end = np.where((event == 1) | (event == 2), ev_day, NEVER)
    move_day = np.where(event == 3, ev_day, NEVER)
    res1 = res0.copy()
    movers = event == 3
    res1[movers] = (
        res0[movers] + 1 + rng.integers(0, max(n_cty - 1, 1), int(movers.sum()))
    ) % n_cty
    i32 = np.int32
    return Persons(
        n=n,
        kind=kind,
        birth_day=birth.astype(i32),
        male=male,
        res0=res0.astype(i32),
        res1=res1.astype(i32),
        move_day=move_day.astype(i32),
        start_day=start.astype(i32),
        end_day=end.astype(i32),
        event=event,
        event_secs=event_secs,
        hukou=hukou.astype(i32),
        hukou_codes=[],
        id17=id17,
        surname=surname,
        given1=g1.astype(np.int16),
        given2=g2.astype(np.int16),
        phone=phone,
        status_day0=status_day.astype(i32),
        updated0=updated0,
    )


SURNAME_POOL = pa.array([s for s, _ in prof.SURNAMES])
GIVEN_POOL = pa.array(prof.GIVEN_MALE + prof.GIVEN_FEMALE + [""])


def person_names(p: Persons, idx: np.ndarray) -> pa.Array:
    return ar.join(
        ar.take(SURNAME_POOL, p.surname[idx]),
        ar.take(GIVEN_POOL, p.given1[idx]),
        ar.take(GIVEN_POOL, p.given2[idx]),
    )


def person_ids(p: Persons, idx: np.ndarray) -> pa.Array:
    return ar.strings(resident_id_matrix(p.id17[idx]))


def person_rows(
    ref: Ref, cal: Calendar, p: Persons, lo: int, hi: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Register rows of persons lo..hi: the first row of each, then its change (if any)."""
    idx = np.arange(lo, hi)
    ev = idx[p.event[idx] > 0]
    rows = np.concatenate([idx, ev])
    is_ev = np.r_[np.zeros(len(idx), bool), np.ones(len(ev), bool)]
    county = pa.array(ref.county_codes)
    res = np.where(is_ev & (p.event[rows] == 3), p.res1[rows], p.res0[rows])
    status_code = np.where(
        is_ev & (p.event[rows] == 1), 2, np.where(is_ev & (p.event[rows] == 2), 1, 0)
    )
    status_pool = pa.array([label(ref, "status", c) for c in ("resident", "moved_out", "deceased")])
    ev_day = (p.event_secs[rows] // DAY) - cal.day0
    move_or_end = np.where(p.event[rows] == 3, p.move_day[rows], p.end_day[rows])
    status_day = np.where(is_ev, np.minimum(move_or_end, ev_day), p.status_day0[rows])
    updated = np.where(is_ev, p.event_secs[rows], p.updated0[rows])
    phone = p.phone[rows]
    cols = {
        "person_id": person_ids(p, rows),
        "name": person_names(p, rows),
        "phone": ar.ints(phone, mask=phone == 0),
        "birth_date": ar.dates(cal.day0 + p.birth_day[rows]),
        "sex": ar.take(
            pa.array([label(ref, "sex", "female"), label(ref, "sex", "male")]),
            p.male[rows].astype(np.int64),
        ),
        "hukou_region": ar.take(pa.array(p.hukou_codes), p.hukou[rows]),
        "residence_region": ar.take(county, res),
        "status": ar.take(status_pool, status_code),
        "status_date": ar.dates(cal.day0 + status_day),
        "updated_at": ar.timestamps(updated),
    }
    return cols, updated
