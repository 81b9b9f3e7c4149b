"""The enterprise register: enterprises by county, industry, legal form and size, their
unified social credit codes (GB 32100, with the GB 11714 organisation code inside), names,
capital, and their openings and closures in the period."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from subjectdb.standards import GB32100_ALPHABET, gb11714_check_chars, gb32100_check_chars
from subjectdb.synth import arrays as ar
from subjectdb.synth import profiles as prof
from subjectdb.synth.calendar import NEVER, Calendar, epoch_secs
from subjectdb.synth.reference import Ref, label


@dataclass
class Enterprises:
    n: int
    region: np.ndarray
    industry: np.ndarray  # index into ref.industries
    form: np.ndarray  # index into ref.legal_forms
    size: np.ndarray  # index into ref.size_classes
    established: np.ndarray  # day index
    closed: np.ndarray  # day index of closure (NEVER if active)
    closed_before: np.ndarray  # closed before the period (appears closed in the first row)
    revoked: np.ndarray
    close_secs: np.ndarray
    updated0: np.ndarray
    capital_cents: np.ndarray
    codes: pa.Array
    names: pa.Array
    phone: np.ndarray


def make_enterprises(
    rng: np.random.Generator, ref: Ref, cal: Calendar, m: int, years: int
) -> Enterprises:
    last_day = cal.n_days - 1
    county_w = ar.county_weights(rng, ref.county_urban, prof.URBAN_ENTERPRISE_DENSITY)
    region = ar.choice(rng, county_w, m)
    ind_w = np.array([prof.INDUSTRY_SHARES.get(s, 0.1) for s in ref.industries])
    industry = ar.choice(rng, ind_w, m)
    forms = ref.legal_forms
    form_w = np.array([prof.LEGAL_FORM_SHARES.get(f, 0.0) for f in forms])
    form = ar.choice(rng, form_w, m)
    if "农民专业合作社" in forms and "A" in ref.industries:
        in_a = industry == ref.industries.index("A")
        coop = in_a & (rng.random(m) < prof.COOPERATIVE_SHARE_IN_A)
        form[coop] = forms.index("农民专业合作社")
    size = np.empty(m, dtype=np.int64)
    for f_i, f in enumerate(forms):
        sel = form == f_i
        dist = prof.SIZE_BY_FORM.get(f, prof.SIZE_BY_FORM["*"])
        size[sel] = ar.choice(
            rng, np.array([dist.get(s, 0.0) for s in ref.size_classes]), int(sel.sum())
        )
    median = np.array([prof.CAPITAL_MEDIAN.get(s, 50.0) for s in ref.size_classes])[size]
    capital = np.round(median * rng.lognormal(0, 0.8, m) * 100).astype(np.int64)
    capital = np.maximum(capital, 100)

    n_open = min(round(m * prof.ENTERPRISE_OPENING_RATE * years), m - 1)
    new = np.zeros(m, dtype=bool)
    new[rng.permutation(m)[:n_open]] = True
    est = -np.minimum(rng.exponential(prof.ENTERPRISE_MEAN_AGE_YEARS * 365, m), 40 * 365)
    est = est.astype(np.int64) - 1
    est[new] = rng.integers(0, last_day + 1, int(new.sum()))
    closed_before = ~new & (rng.random(m) < prof.ENTERPRISE_CLOSED_BEFORE)
    closed = np.full(m, NEVER, dtype=np.int64)
    span = np.maximum(-1 - est, 1)
    closed[closed_before] = (est + 30 + (rng.random(m) * span).astype(np.int64))[closed_before]
    closed[closed_before] = np.minimum(closed[closed_before], -1)
    p_close = 1 - (1 - prof.ENTERPRISE_CLOSURE_RATE) ** years
    closing = ~closed_before & (rng.random(m) < p_close)
    c_day = np.maximum(est + 30, 0) + (rng.random(m) * (last_day - np.maximum(est + 30, 0)))
    closing &= c_day.astype(np.int64) <= last_day
    closed[closing] = c_day.astype(np.int64)[closing]
    revoked = rng.random(m) < prof.REVOKED_SHARE
    close_rec = np.minimum(np.maximum(closed, 0) + rng.integers(0, 5, m), last_day)
    close_secs = epoch_secs(cal, close_rec, ar.hours(rng, prof.OFFLINE_HOURS, m))
    upd_day = np.where(
        new,
        est,
        np.where(closed_before, closed, est + (rng.random(m) * (-1 - est)).astype(np.int64)),
    )
    upd_day = np.where(new, upd_day, np.minimum(upd_day, -1))
    updated0 = epoch_secs(cal, upd_day, ar.hours(rng, prof.OFFLINE_HOURS, m))

    # credit codes: authority + entity type, region, organisation code (+ its check), check
    mat = np.empty((m, 18), dtype=np.uint8)
    auth = np.array([prof.CREDIT_AUTHORITY.get(f, prof.CREDIT_AUTHORITY["*"]) for f in forms])
    auth_codes = np.frombuffer("".join(auth).encode(), dtype=np.uint8).reshape(-1, 2)
    mat[:, 0:2] = auth_codes[form]
    region_int = np.array([int(c) for c in ref.county_codes], dtype=np.int64)[region]
    mat[:, 2:8] = ar.digits(region_int, 6)
    serial = (np.arange(m, dtype=np.int64) * 7_368_787 + int(rng.integers(0, 10**8))) % 10**8
    mat[:, 8:16] = ar.digits(serial, 8)
    est_year = (cal.day0 + est).astype("datetime64[D]").astype("datetime64[Y]").astype(
        np.int64
    ) + 1970
    ma = est_year >= 2015
    alpha = np.frombuffer(GB32100_ALPHABET.encode(), dtype=np.uint8)
    ser31 = (np.arange(m, dtype=np.int64) * 48_271 + int(rng.integers(0, 31**6))) % 31**6
    tail = np.empty((m, 6), dtype=np.uint8)
    v = ser31.copy()
    for j in range(5, -1, -1):
        tail[:, j] = alpha[v % 31]
        v //= 31
    mat[ma, 8] = ord("M")
    mat[ma, 9] = ord("A")
    mat[ma, 10:16] = tail[ma]
    mat[:, 16] = gb11714_check_chars(mat[:, 8:16])
    mat[:, 17] = gb32100_check_chars(mat[:, :17])
    codes = ar.strings(mat)

    # names: prefecture (or county) stem + trade name + industry word + legal-form suffix
    pref_names = [ref.region_names[i] for i in ref.county_pref]
    stems = pa.array([(n[:-1] if len(n) > 2 and n[-1] in "市县区州盟" else n) for n in pref_names])
    cty_stems = pa.array([(n[:-1] if len(n) > 2 else n) for n in ref.county_names])
    trade = pa.array(prof.TRADE_NAME_CHARS)
    nt = len(prof.TRADE_NAME_CHARS)
    words: list[str] = []
    word_idx = np.empty(m, dtype=np.int64)
    pick = rng.random(m)
    for s_i, sec in enumerate(ref.industries):
        opts = prof.INDUSTRY_WORDS.get(sec, ["实业"])
        sel = industry == s_i
        word_idx[sel] = len(words) + (pick[sel] * len(opts)).astype(np.int64)
        words.extend(opts)
    suffix = pa.array([prof.FORM_SUFFIX.get(f, "有限公司") for f in forms])
    shop = pa.array(prof.SHOP_WORDS)
    is_shop = np.array([f == "个体工商户" for f in forms])[form]
    place = np.where(is_shop, 0, 1)
    names = pc.if_else(
        pa.array(place == 1),
        ar.join(
            ar.take(stems, region),
            ar.take(trade, rng.integers(0, nt, m)),
            ar.take(trade, rng.integers(0, nt, m)),
            ar.take(pa.array(words), word_idx),
            ar.take(suffix, form),
        ),
        ar.join(
            ar.take(cty_stems, region),
            ar.take(trade, rng.integers(0, nt, m)),
            ar.take(trade, rng.integers(0, nt, m)),
            ar.take(shop, rng.integers(0, len(prof.SHOP_WORDS), m)),
        ),
    )
    return Enterprises(
        n=m,
        region=region,
        industry=industry,
        form=form,
        size=size,
        established=est,
        closed=closed,
        closed_before=closed_before,
        revoked=revoked,
        close_secs=close_secs,
        updated0=updated0,
        capital_cents=capital,
        codes=codes,
        names=names,
        phone=ar.phones(rng, m),
    )


def enterprise_rows(
    ref: Ref, cal: Calendar, e: Enterprises, lo: int, hi: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    idx = np.arange(lo, hi)
    ev = idx[(e.closed[idx] >= 0) & (e.closed[idx] < NEVER)]
    rows = np.concatenate([idx, ev])
    is_ev = np.r_[np.zeros(len(idx), bool), np.ones(len(ev), bool)]
    shows_closed = is_ev | e.closed_before[rows]
    status = np.where(shows_closed, np.where(e.revoked[rows], 2, 1), 0)
    status_pool = pa.array(
        [label(ref, "ent_status", c) for c in ("active", "deregistered", "revoked")]
    )
    cents = e.capital_cents[rows]
    capital = ar.join(
        ar.ints(cents // 100), ar.const(".", len(rows)), pc.utf8_lpad(ar.ints(cents % 100), 2, "0")
    )
    updated = np.where(is_ev, e.close_secs[rows], e.updated0[rows])
    cols = {
        "credit_code": e.codes.take(pa.array(rows)),
        "name": e.names.take(pa.array(rows)),
        "legal_form": ar.take(pa.array(ref.legal_forms), e.form[rows]),
        "industry": ar.take(pa.array(ref.industries), e.industry[rows]),
        "size_class": ar.take(pa.array(ref.size_classes), e.size[rows]),
        "registered_capital": capital,
        "established_date": ar.dates(cal.day0 + e.established[rows]),
        "closed_date": ar.dates(
            cal.day0 + np.where(shows_closed, e.closed[rows], 0), mask=~shows_closed
        ),
        "status": ar.take(status_pool, status),
        "region": ar.take(pa.array(ref.county_codes), e.region[rows]),
        "updated_at": ar.timestamps(updated),
    }
    return cols, updated
