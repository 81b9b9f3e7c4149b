"""Approval cases: who applies for which service item when (a theme's demand by age and sex,
by enterprise size and industry, by season), through which channel, and how each case moves
through its stages on working days; the rows of one chunk of cases.

:func:`build_world` prepares the draws once (cumulative weights per theme); :func:`case_chunk`
makes one chunk of cases and the extract rows of the stages each batch sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from subjectdb.synth import arrays as ar
from subjectdb.synth import profiles as prof
from subjectdb.synth.addresses import MIN_BIRTH_YEAR
from subjectdb.synth.calendar import DAY, Calendar, epoch_secs, ymd
from subjectdb.synth.enterprises import Enterprises
from subjectdb.synth.errors import GenerateError
from subjectdb.synth.persons import (
    GIVEN_POOL,
    SURNAME_POOL,
    Persons,
    person_ids,
    person_names,
    resident_id_matrix,
)
from subjectdb.synth.reference import Ref, label


@dataclass
class World:
    ref: Ref
    cal: Calendar
    persons: Persons
    ents: Enterprises | None
    person_themes: list[str]
    person_theme_p: np.ndarray
    cell_p: np.ndarray  # [theme, cell] cumulative probabilities
    cell_order: np.ndarray
    cell_start: np.ndarray
    cell_count: np.ndarray
    ent_themes: list[str]
    ent_theme_p: np.ndarray
    ent_cum: list[np.ndarray]
    theme_items: dict[str, tuple[np.ndarray, np.ndarray]]
    day_cum: dict[str, np.ndarray]
    person_share: float
    other_pick: list[str]
    addr_table: np.ndarray
    cut_end: np.ndarray  # last second of each batch (epoch seconds, local time)


N_AGES = 101


def _day_weights(cal: Calendar, theme: str, first_year: int) -> np.ndarray:
    w = prof.MONTH_FACTOR[cal.month] * prof.theme_month_factor(theme)[cal.month]
    w = w * (1 + prof.YEARLY_GROWTH * (cal.year - first_year))
    w = w * np.where(cal.is_workday, 1.0, prof.ONLINE_NONWORKDAY)
    w = w * np.where(cal.is_spring_festival, prof.SPRING_FESTIVAL_ONLINE, 1.0)
    return np.cumsum(w)


def build_world(
    ref: Ref,
    cal: Calendar,
    persons: Persons,
    ents: Enterprises | None,
    first_year: int,
    other_pick: list[str],
    addr_table: np.ndarray,
    cut_end: np.ndarray,
) -> World:
    p = persons
    mid = cal.n_days // 2
    age = np.clip(((mid - p.birth_day) / 365.2425).astype(np.int64), 0, N_AGES - 1)
    cell = age * 2 + p.male
    order = np.argsort(cell, kind="stable")
    count = np.bincount(cell, minlength=2 * N_AGES)
    start = np.r_[0, np.cumsum(count)[:-1]]
    ages = np.repeat(np.arange(N_AGES), 2).astype(float)
    males = np.tile([False, True], N_AGES)

    items_by_theme: dict[str, list[int]] = {}
    for i, theme in enumerate(ref.item_theme):
        key = ("P:" if ref.item_person[i] else "E:") + theme
        items_by_theme.setdefault(key, []).append(i)
    theme_items = {}
    for key, idx in items_by_theme.items():
        arr = np.array(idx)
        zipf = 1.0 / (np.arange(len(arr)) + 1.0) ** 0.7
        theme_items[key] = (arr, np.cumsum(zipf))

    p_themes = sorted(k[2:] for k in theme_items if k.startswith("P:"))
    shares, cells = [], []
    for t in p_themes:
        share, profile = prof.PERSON_THEMES.get(t, prof.DEFAULT_PERSON_THEME)
        w = profile(ages, males) * count
        if w.sum() <= 0:
            w = count.astype(float)
        shares.append(share)
        cells.append(np.cumsum(w))
    e_themes = sorted(k[2:] for k in theme_items if k.startswith("E:"))
    if ents is None or ents.n == 0:
        e_themes = []
    e_shares, e_cum = [], []
    for t in e_themes:
        share, boost = prof.ENTERPRISE_THEMES.get(t, prof.DEFAULT_ENTERPRISE_THEME)
        assert ents is not None
        size_w = np.array([prof.SIZE_DEMAND.get(s, 1.0) for s in ref.size_classes])[ents.size]
        ind_w = np.array([boost.get(s, 1.0) for s in ref.industries])[ents.industry]
        w = size_w * ind_w * ~ents.closed_before
        e_shares.append(share)
        e_cum.append(np.cumsum(w))
    if not p_themes and not e_themes:
        raise GenerateError("the service catalog has no items to generate cases for")
    if not e_themes:
        person_share = 1.0
    elif not p_themes:
        person_share = 0.0
    else:
        person_share = prof.PERSON_CASE_SHARE_DEFAULT
    day_cum = {t: _day_weights(cal, t, first_year) for t in set(p_themes) | set(e_themes)}
    return World(
        ref=ref,
        cal=cal,
        persons=p,
        ents=ents,
        person_themes=p_themes,
        person_theme_p=np.array(shares),
        cell_p=np.array(cells) if cells else np.zeros((0, 1)),
        cell_order=order,
        cell_start=start,
        cell_count=count,
        ent_themes=e_themes,
        ent_theme_p=np.array(e_shares),
        ent_cum=e_cum,
        theme_items=theme_items,
        day_cum=day_cum,
        person_share=person_share,
        other_pick=other_pick,
        addr_table=addr_table,
        cut_end=cut_end,
    )


def case_chunk(
    rng: np.random.Generator, w: World, lo: int, hi: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    ref, cal, p = w.ref, w.cal, w.persons
    m = hi - lo
    last_day = cal.n_days - 1
    is_person = rng.random(m) < w.person_share
    pi = np.flatnonzero(is_person)
    ei = np.flatnonzero(~is_person)
    item = np.zeros(m, dtype=np.int64)
    day = np.zeros(m, dtype=np.int64)
    subject = np.zeros(m, dtype=np.int64)  # person or enterprise index
    region = np.zeros(m, dtype=np.int64)  # county index
    age = np.full(m, np.nan)

    # natural persons: theme -> (age, sex) cell -> person -> item -> day
    theme = ar.choice(rng, w.person_theme_p, len(pi)) if len(pi) else np.zeros(0, np.int64)
    for t_i, t in enumerate(w.person_themes):
        sel = pi[theme == t_i]
        k = len(sel)
        if not k:
            continue
        c = ar.draw_cum(rng, w.cell_p[t_i], k)
        subject[sel] = w.cell_order[
            w.cell_start[c] + (rng.random(k) * w.cell_count[c]).astype(np.int64)
        ]
        items, icum = w.theme_items["P:" + t]
        item[sel] = items[ar.draw_cum(rng, icum, k)]
        day[sel] = ar.draw_cum(rng, w.day_cum[t], k)
    # enterprises: theme -> enterprise (size, industry) -> item -> day
    if len(ei):
        assert w.ents is not None
        etheme = ar.choice(rng, w.ent_theme_p, len(ei))
        for t_i, t in enumerate(w.ent_themes):
            sel = ei[etheme == t_i]
            k = len(sel)
            if not k:
                continue
            subject[sel] = ar.draw_cum(rng, w.ent_cum[t_i], k)
            items, icum = w.theme_items["E:" + t]
            item[sel] = items[ar.draw_cum(rng, icum, k)]
            day[sel] = ar.draw_cum(rng, w.day_cum[t], k)

    # keep each applicant's case inside the time it is in the register
    if len(pi):
        s = subject[pi]
        first = np.clip(p.start_day[s], 0, last_day)
        last = np.clip(p.end_day[s] - 1, 0, last_day)
        last = np.maximum(last, first)
        bad = (day[pi] < first) | (day[pi] > last)
        redraw = first + (rng.random(len(pi)) * (last - first + 1)).astype(np.int64)
        day[pi] = np.where(bad, redraw, day[pi])
    if len(ei):
        assert w.ents is not None
        s = subject[ei]
        first = np.clip(w.ents.established[s], 0, last_day)
        last = np.clip(w.ents.closed[s] - 1, 0, last_day)
        last = np.maximum(last, first)
        bad = (day[ei] < first) | (day[ei] > last)
        redraw = first + (rng.random(len(ei)) * (last - first + 1)).astype(np.int64)
        day[ei] = np.where(bad, redraw, day[ei])

    # non-register applicants (visitors, people not yet registered)
    nonreg = is_person & (rng.random(m) < prof.NON_REGISTER_APPLICANTS)
    year_off = cal.year[day] - cal.year[0]

    # region and age
    if len(pi):
        s = subject[pi]
        region[pi] = np.where(day[pi] >= p.move_day[s], p.res1[s], p.res0[s])
        age[pi] = (day[pi] - p.birth_day[s]) / 365.2425
    nr = np.flatnonzero(nonreg)
    nr_age = np.clip(rng.normal(36, 11, len(nr)), 18, 75)
    age[nr] = nr_age
    region[nr] = ar.choice(rng, np.where(ref.county_urban, 2.0, 1.0), len(nr))
    if len(ei):
        assert w.ents is not None
        region[ei] = w.ents.region[subject[ei]]
    rural = ~ref.county_urban[region]

    # channel: online share falls with age, lower in rural counties, rises over time
    online_ok = ref.item_online[item]
    logit = np.where(
        is_person,
        prof.ONLINE_INTERCEPT + prof.ONLINE_AGE_SLOPE * (np.nan_to_num(age) - 20),
        prof.ENTERPRISE_ONLINE_INTERCEPT,
    )
    if len(ei):
        assert w.ents is not None
        micro = np.zeros(m, dtype=bool)
        micro[ei] = np.array([s == "微型" for s in ref.size_classes])[w.ents.size[subject[ei]]]
        logit = logit + prof.ENTERPRISE_MICRO_ONLINE * micro
    logit = logit + prof.ONLINE_RURAL * rural + prof.ONLINE_YEARLY * year_off
    online = online_ok & (rng.random(m) < prof.logistic(logit))
    app = online & (
        rng.random(m)
        < prof.logistic(
            prof.APP_INTERCEPT + prof.APP_AGE_SLOPE * (np.nan_to_num(age, nan=35.0) - 30)
        )
    )
    offline_kind = ar.choice(rng, np.array(list(prof.OFFLINE_SPLIT.values())), m)
    channel = np.where(online, np.where(app, 1, 0), 2 + offline_kind)  # web app window kiosk post
    offline = channel >= 2
    # service halls are closed on rest days: most offline visits move to the next working day
    shift = offline & ~cal.is_workday[day] & (rng.random(m) > prof.OFFLINE_NONWORKDAY)
    pos = cal.first_workday_pos(day)
    movable = shift & (pos < len(cal.workdays))  # no working day left: stays on the rest day
    day = np.where(movable, cal.workdays[np.minimum(pos, len(cal.workdays) - 1)], day)

    # timeline: submitted -> accepted -> in progress -> completed (working days)
    hours = np.where(
        offline, ar.hours(rng, prof.OFFLINE_HOURS, m), ar.hours(rng, prof.ONLINE_HOURS, m)
    )
    t_sub = epoch_secs(cal, day, hours)
    end_secs = cal.end_secs
    n_wd = len(cal.workdays)
    u = rng.random(m)
    withdrawn = u < prof.WITHDRAWN_SHARE
    rejected = ~withdrawn & (u < prof.WITHDRAWN_SHARE + prof.NOT_ACCEPTED_SHARE)
    in_person = (channel == 2) | (channel == 3)
    k = np.where(in_person, 0, ar.choice(rng, np.array([0.6, 0.3, 0.1]), m))
    k = np.where(channel == 4, 2 + rng.integers(0, 3, m), k)
    a_pos = cal.first_workday_pos(day) + k
    a_ok = in_person | (a_pos < n_wd)
    a_day = np.where(in_person, day, cal.workdays[np.minimum(a_pos, n_wd - 1)])
    same = a_day == day
    day_end = (cal.day0 + day + 1) * DAY - 1
    t_acc = np.where(
        same,
        np.minimum(
            t_sub + np.where(in_person, rng.integers(60, 1800, m), rng.integers(300, 7200, m)),
            day_end,
        ),
        epoch_secs(cal, a_day, 8 * 3600 + 1800 + rng.integers(0, 9 * 3600, m)),
    )
    a_ok &= t_acc <= end_secs
    t_wd = np.minimum(t_sub + rng.integers(3600, 3 * DAY, m), end_secs)

    promised = ref.item_promised[item]
    ratio = np.exp(rng.normal(np.log(prof.DURATION_MEDIAN_RATIO), prof.DURATION_SIGMA, m))
    ratio = ratio * np.where(rng.random(m) < prof.LONG_TAIL_SHARE, 3.0, 1.0)
    d = np.floor(promised * ratio).astype(np.int64)
    d = np.where(promised == 0, np.where(rng.random(m) < 0.9, 0, rng.integers(1, 3, m)), d)
    a_day_c = np.clip(a_day, 0, last_day)
    # completion lands on a working day: d working days after acceptance, or on the spot (the
    # day of acceptance; a hall open at the weekend completes on the next working day)
    spot_pos = cal.first_workday_pos(a_day_c)
    c_pos = np.where(d == 0, spot_pos, cal.cum[a_day_c] + d - 1)
    c_ok = a_ok & ~rejected & ~withdrawn & (c_pos < n_wd)
    c_day = cal.workdays[np.clip(c_pos, 0, n_wd - 1)]
    same_day = (d == 0) & (c_day == a_day_c)
    t_done = np.where(
        same_day,
        np.minimum(t_acc + rng.integers(600, 4 * 3600, m), (cal.day0 + c_day + 1) * DAY - 1),
        epoch_secs(cal, c_day, 9 * 3600 + rng.integers(0, 8 * 3600 + 1800, m)),
    )
    c_ok &= t_done <= end_secs
    # 办理中 from the first working day after acceptance: there must be one in the period
    ip_pos = cal.cum[a_day_c]
    t_prog = epoch_secs(
        cal,
        cal.workdays[np.minimum(ip_pos, n_wd - 1)],
        8 * 3600 + 1800 + rng.integers(0, 2 * 3600, m),
    )
    p_ok = a_ok & ~rejected & ~withdrawn & (d >= 2) & (ip_pos < n_wd) & (t_prog <= end_secs)

    visits_final = np.select(
        [channel == 2, channel == 3, channel == 4],
        [
            1 + np.minimum(rng.poisson(prof.EXTRA_VISIT_PER_10_DAYS * d / 10 + 0.05), 3),
            np.ones(m, np.int64),
            np.zeros(m, np.int64),
        ],
        (rng.random(m) < 0.12).astype(np.int64),
    )
    visits_first = np.where(in_person, 1, 0)
    elic = (
        rng.random(m)
        < np.where(online, prof.ELICENCE_ONLINE, prof.ELICENCE_OFFLINE) + 0.05 * year_off
    )
    rated = rng.random(m) < np.where(online, prof.RATED_SHARE_ONLINE, prof.RATED_SHARE_OFFLINE)
    late = np.maximum(d - promised, 0) / np.maximum(promised, 1)
    latent = (
        prof.RATING_BASE - prof.RATING_DELAY_PENALTY * late + rng.normal(0, prof.RATING_NOISE, m)
    )
    rating = np.clip(np.round(latent), 1, 5).astype(np.int64)
    denied = rng.random(m) < prof.DENIED_SHARE

    # stage events: 0 submitted, 1 accepted / not accepted / withdrawn, 2 in progress, 3 done
    t1 = np.where(withdrawn, t_wd, t_acc)
    ok1 = withdrawn | a_ok
    times = np.stack([t_sub, t1, t_prog, t_done])
    present = np.stack([np.ones(m, bool), ok1, p_ok, c_ok])
    batch = np.searchsorted(w.cut_end, times, side="left")
    emit = np.zeros_like(present)
    next_batch = np.full(m, -1)
    for s in range(3, -1, -1):
        emit[s] = present[s] & (batch[s] != next_batch)
        next_batch = np.where(present[s], batch[s], next_batch)
    stage_of, case_of = np.nonzero(emit)
    stage = stage_of
    c = case_of
    n = len(c)

    # dept region: the county (most), the prefecture or the province
    dl = ar.choice(rng, np.array([0.85, 0.12, 0.03]), m)
    dept_region = np.where(
        dl == 0, region, np.where(dl == 1, ref.county_pref[region], len(ref.region_codes) - 1)
    )
    dept = pa.array([_dept_suffix(x) for x in ref.item_dept])
    rcodes = pa.array(ref.region_codes)
    status_pool = pa.array(
        [
            label(ref, "case_status", s)
            for s in ("submitted", "accepted", "in_progress", "completed", "rejected", "withdrawn")
        ]
    )
    status = np.select(
        [stage == 0, stage == 2, stage == 3, withdrawn[c], rejected[c]], [0, 2, 3, 5, 4], 1
    )
    has_acc = (stage >= 1) & ~withdrawn[c] & ~rejected[c]
    done = stage == 3

    # applicant strings
    phone_num = np.zeros(n, dtype=np.int64)
    row_person = is_person[c] & ~nonreg[c]
    row_nonreg = nonreg[c]
    row_ent = ~is_person[c]
    parts_id: list[tuple[np.ndarray, pa.Array]] = []
    parts_name: list[tuple[np.ndarray, pa.Array]] = []
    if row_person.any():
        rp = np.flatnonzero(row_person)
        s = subject[c[rp]]
        parts_id.append((rp, person_ids(p, s)))
        parts_name.append((rp, person_names(p, s)))
        phone_num[rp] = p.phone[s]
    if row_nonreg.any():
        rn = np.flatnonzero(row_nonreg)
        cn = c[rn]
        # a deterministic identity per case: other-province address code, birth date, sequence
        lrng = rng
        birth_day = day[cn] - np.floor(age[cn] * 365.2425).astype(np.int64)
        bdates = (cal.day0 + birth_day).astype("datetime64[D]")
        byear = bdates.astype("datetime64[Y]").astype(np.int64) + 1970
        origin = len(ref.county_codes) + (cn * 7919 + lo) % max(len(w.other_pick), 1)
        addr = w.addr_table[origin, np.clip(byear - MIN_BIRTH_YEAR, 0, w.addr_table.shape[1] - 1)]
        seq = 1 + (lo + cn) % 999
        parts_id.append(
            (rn, ar.strings(resident_id_matrix(addr * 10**11 + ymd(bdates) * 1000 + seq)))
        )
        nm = len(cn)
        sn = ar.draw_cum(lrng, np.cumsum([x for _, x in prof.SURNAMES]), nm)
        g = lrng.integers(0, len(prof.GIVEN_MALE) + len(prof.GIVEN_FEMALE), (2, nm))
        parts_name.append(
            (
                rn,
                ar.join(
                    ar.take(SURNAME_POOL, sn), ar.take(GIVEN_POOL, g[0]), ar.take(GIVEN_POOL, g[1])
                ),
            )
        )
        phone_num[rn] = ar.phones(lrng, nm)
    if row_ent.any():
        assert w.ents is not None
        re_ = np.flatnonzero(row_ent)
        s = subject[c[re_]]
        parts_id.append((re_, w.ents.codes.take(pa.array(s))))
        parts_name.append((re_, w.ents.names.take(pa.array(s))))
        phone_num[re_] = w.ents.phone[s]
    app_id = ar.scatter(n, parts_id)
    app_name = ar.scatter(n, parts_name)
    atype = pa.array(
        [label(ref, "applicant_type", "enterprise"), label(ref, "applicant_type", "person")]
    )
    chan = pa.array([label(ref, "channel", x) for x in ("web", "app", "window", "kiosk", "post")])
    yes_no = pa.array(
        [label(ref, "elicence_reused", "false"), label(ref, "elicence_reused", "true")]
    )
    outcome = pa.array([label(ref, "outcome", "approved"), label(ref, "outcome", "denied")])
    case_year = cal.year[day[c]]
    case_id = ar.strings(ar.digits(int(ref.province) * 10**12 + case_year * 10**8 + lo + c, 18))
    updated = times[stage, c]
    cols = {
        "case_id": case_id,
        "item_code": ar.take(pa.array(ref.item_codes), item[c]),
        "applicant_type": ar.take(atype, is_person[c].astype(np.int64)),
        "applicant_id": app_id,
        "applicant_name": app_name,
        "applicant_phone": ar.ints(phone_num, mask=phone_num == 0),
        "residence_region": ar.take(rcodes, region[c]),
        "dept_name": ar.join(
            ar.take(pa.array(ref.region_names), dept_region[c]), ar.take(dept, item[c])
        ),
        "dept_region": ar.take(rcodes, dept_region[c]),
        "channel": ar.take(chan, channel[c]),
        "submitted_at": ar.timestamps(t_sub[c]),
        "accepted_at": ar.timestamps(t_acc[c], mask=~has_acc),
        "completed_at": ar.timestamps(t_done[c], mask=~done),
        "status": ar.take(status_pool, status),
        "outcome": pc.if_else(
            pa.array(done), ar.take(outcome, denied[c].astype(np.int64)), ar.const(None, n)
        ),
        "promised_days": ar.ints(promised[c]),
        "visits": ar.ints(np.where(done, visits_final[c], visits_first[c])),
        "elicence_reused": ar.take(yes_no, elic[c].astype(np.int64)),
        "rating": ar.ints(rating[c], mask=~(done & rated[c])),
        "updated_at": ar.timestamps(updated),
    }
    return cols, updated


def _dept_suffix(department: str) -> str:
    if department.endswith(("局", "厅", "委", "中心", "办", "院", "所", "处", "会", "署")):
        return department
    return department + "局"
