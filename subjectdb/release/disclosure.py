"""Statistical disclosure control for published counts: primary and secondary cell suppression.

The protection standard (docs/opendata.md, "Disclosure control"):

* **Primary** — a count built from fewer than ``threshold`` distinct applicants (never below
  :data:`MIN_THRESHOLD`), or under :data:`MIN_COUNT` itself, is suppressed
  (:func:`cell_suppressed`: publish and the dashboard call this one function on exact counts);
  a count beside a cell (completed, rated cases) under :data:`MIN_COUNT` is withheld
  (:func:`small_count`).
* **Small population** — a rate whose population (denominator) is under
  :data:`MIN_RATE_POPULATION` is withheld (:func:`rate_withheld`).
* **Secondary** — no suppressed count may be narrowed by the other published numbers to an
  interval narrower than the *protection range* (:func:`protection_range`, ``threshold - 1``
  units: a sliding protection level in the sense of tau-Argus and sdcTable). Every published
  count is a cell of one :class:`CellSystem`; every additive relation an analyst could use (row
  and column totals, county → prefecture → province roll-ups, cells that equal or sum to cells
  of another table) is an :class:`Equation` ``total = Σ parts``. An analyst knows every
  suppressed count is at least 1 (rows exist only for positive counts) and nothing more: a
  release marks primary and secondary suppressions alike (:data:`SUPPRESSED`), so a status never
  tells that a count is small or large. With the range ``threshold - 1``, every suppressed
  count's largest feasible value reaches the threshold: no suppressed count can be shown to be
  below it.

:func:`protect` first applies hierarchical complementary suppression — in every equation with
exactly one suppressed cell, or whose suppressed cells (all on one side) have less room than
the protection range, also suppress a published part that gives it the room (the smallest big
enough, else the largest; a total only when no part is left) — to a fixed point, then *audits*
the pattern with linear programming: for every suppressed cell it proves, by exhibiting
feasible solutions of all published equations with every count at least 1, that the cell's
feasible interval is at least the protection range wide (HiGHS: one model per connected group
of suppressed cells and round, re-solved warm with a new objective each time; cells proven in
one round stay proven). A cell the audit finds pinned gets one more complementary suppression
(the nearest published cell that can give it room) and the loop repeats until the audit passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.csgraph import connected_components

MIN_THRESHOLD = 5
"""No release may use a primary threshold below this many distinct applicants."""
DEFAULT_THRESHOLD = 10
MIN_COUNT = 10
"""No published count is below this (whatever the applicant threshold): smaller ones are
primary suppressions."""
MIN_RATE_POPULATION = 100
"""A rate is withheld when its population (denominator) is below this."""
MIN_INTERVAL = 1.0
"""The narrowest protection range :func:`protect` accepts (one unit: not derivable exactly)."""
RANDOM_PHASE_MIN_OPEN = 8
"""The audit tries objectives over many unproven cells at once only above this many."""

PUBLISHED = ""
PRIMARY = "primary"
SECONDARY = "secondary"
SUPPRESSED = "suppressed"
SMALL_POPULATION = "small_population"
RELEASE_STATUSES = (PUBLISHED, SUPPRESSED, SMALL_POPULATION)
"""The status codes a release writes: primary and secondary suppressions alike are
``suppressed`` (a code telling which would tell a small cell from a large one)."""
STATUSES = (PUBLISHED, PRIMARY, SECONDARY, SMALL_POPULATION, SUPPRESSED)
"""Every status code a release may carry (``primary``/``secondary``: releases made before the
two were merged into ``suppressed``)."""
STATUS_DOC = {
    PUBLISHED: "published",
    SUPPRESSED: "suppressed: fewer distinct applicants (persons) than the threshold or a count "
    "under 10, or withheld so that no suppressed count can be narrowed from published numbers",
    SMALL_POPULATION: "rate withheld: population (denominator) under 100",
    PRIMARY: "fewer distinct applicants (or persons) than the threshold (older releases)",
    SECONDARY: "withheld so that no suppressed cell can be derived (older releases)",
}


def protection_range(threshold: int) -> float:
    """The protection range of a release with this threshold: ``threshold - 1`` units.

    Every suppressed count's feasible interval must be at least this wide; with every count at
    least 1, its upper end is then at least ``threshold``.
    """
    return float(max(check_threshold(threshold) - 1, MIN_INTERVAL))


def published_status(status: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The codes a release writes for internal statuses: primary and secondary → suppressed."""
    out = np.asarray(status, dtype=object).copy()
    out[(out == PRIMARY) | (out == SECONDARY)] = SUPPRESSED
    return out


class DisclosureError(ValueError):
    """Bad input to the disclosure rules (e.g. a threshold below the minimum)."""


def check_threshold(threshold: int) -> int:
    """The threshold itself, or :class:`DisclosureError` when it is below the minimum."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)):
        raise DisclosureError(f"threshold must be an integer, got {threshold!r}")
    if threshold < MIN_THRESHOLD:
        raise DisclosureError(
            f"threshold {threshold} is below the minimum of {MIN_THRESHOLD} distinct applicants"
        )
    return int(threshold)


def primary_suppressed(
    distinct_applicants: int | float | None | npt.ArrayLike, threshold: int = DEFAULT_THRESHOLD
) -> bool | npt.NDArray[np.bool_]:
    """True where a cell must be suppressed: fewer than ``threshold`` distinct applicants.

    Accepts a scalar or an array (NumPy, pandas); a missing count (None/NaN) is suppressed.
    The threshold is checked (never below :data:`MIN_THRESHOLD`). Shared by ``subjectdb
    publish`` and the dashboard so both apply one rule.
    """
    threshold = check_threshold(threshold)
    values = np.asarray(distinct_applicants, dtype="float64")
    result = ~(values >= threshold)  # NaN compares False → suppressed
    if result.ndim == 0:
        return bool(result)
    return result


def rate_withheld(population: int | float | None | npt.ArrayLike) -> bool | npt.NDArray[np.bool_]:
    """True where a rate must be withheld: its population is missing or under 100.

    The population is the rate's denominator: residents (demand rates), enterprises, cases
    (visit rates, online share), completed cases (on-time rate, processing-time quantiles) or
    rated cases (satisfaction, bad-review rate).
    """
    values = np.asarray(population, dtype="float64")
    result = ~(values >= MIN_RATE_POPULATION)
    if result.ndim == 0:
        return bool(result)
    return result


def small_count(count: int | float | None | npt.ArrayLike) -> bool | npt.NDArray[np.bool_]:
    """True where a count beside a published cell must be withheld: positive but under
    :data:`MIN_COUNT` (a zero says nothing about anyone; a missing count is not small)."""
    values = np.asarray(count, dtype="float64")
    result = (values > 0) & (values < MIN_COUNT)
    if result.ndim == 0:
        return bool(result)
    return result


def cell_suppressed(
    distinct_applicants: int | float | None | npt.ArrayLike,
    count: int | float | None | npt.ArrayLike = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> bool | npt.NDArray[np.bool_]:
    """The one primary rule of a cell, for the release and the dashboard alike.

    A cell is suppressed when fewer than ``threshold`` distinct applicants (persons,
    enterprises) are behind it (:func:`primary_suppressed`: a missing count is suppressed) or,
    when ``count`` (the cell's published count) is given, that count is under
    :data:`MIN_COUNT`. The distinct applicants must be *exact* (or a lower bound: that
    suppresses more, never less). Scalars or arrays; the result broadcasts.
    """
    result = np.asarray(primary_suppressed(distinct_applicants, threshold), dtype=bool)
    if count is not None:
        values = np.asarray(count, dtype="float64")
        result = result | ~(values >= MIN_COUNT)
    if result.ndim == 0:
        return bool(result)
    return result


@dataclass(frozen=True)
class Equation:
    """A published additive relation between cells: ``Σ totals = Σ parts`` (cell indices).

    Usually one total (a margin, a parent region); several when a total of one table equals the
    sum of totals of two others (e.g. all items = persons + enterprises).
    """

    totals: tuple[int, ...]
    parts: tuple[int, ...]
    label: str = ""

    @property
    def cells(self) -> tuple[int, ...]:
        return (*self.totals, *self.parts)

    def residual(self, values: npt.NDArray[np.float64]) -> float:
        return float(values[list(self.totals)].sum() - values[list(self.parts)].sum())


@dataclass
class CellSystem:
    """Non-negative counts with their primary flags and the equations linking them."""

    values: npt.NDArray[np.float64]
    primary: npt.NDArray[np.bool_]
    labels: list[str]
    equations: list[Equation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype="float64")
        self.primary = np.asarray(self.primary, dtype=bool)
        if self.values.shape != self.primary.shape or len(self.labels) != len(self.values):
            raise DisclosureError("values, primary flags and labels differ in length")
        if (self.values < 0).any():
            bad = int(np.flatnonzero(self.values < 0)[0])
            raise DisclosureError(f"negative count in cell {self.labels[bad]}")

    def add_cell(self, value: float, primary: bool, label: str) -> int:
        self.values = np.append(self.values, float(value))
        self.primary = np.append(self.primary, bool(primary))
        self.labels.append(label)
        return len(self.labels) - 1

    def add_equation(
        self, totals: int | Sequence[int], parts: Sequence[int], label: str = ""
    ) -> bool:
        """Add ``Σ totals = Σ parts`` when it holds exactly (an untrue one helps no attacker)."""
        tot = (int(totals),) if isinstance(totals, (int, np.integer)) else tuple(map(int, totals))
        prt = tuple(int(p) for p in parts)
        if not tot or not prt or set(tot) & set(prt):
            return False
        eq = Equation(tot, prt, label)
        if abs(eq.residual(self.values)) > 1e-6:
            return False
        self.equations.append(eq)
        return True

    def violated(self) -> list[Equation]:
        """Equations that do not hold for the true values (should be none)."""
        return [eq for eq in self.equations if abs(eq.residual(self.values)) > 1e-6]


@dataclass
class Protection:
    """The outcome of :func:`protect`: one status per cell and audit statistics.

    ``narrowest``: the narrowest interval the final audit certified for a suppressed cell in
    some equation (a lower bound on that cell's true feasible width: the audit proves ranges
    by feasible points); ``None`` when no suppressed cell is in an equation.
    """

    status: npt.NDArray[np.object_]
    audit_rounds: int
    audit_lps: int
    protection_range: float = MIN_INTERVAL
    narrowest: float | None = None
    audited_cells: int = 0

    @property
    def suppressed(self) -> npt.NDArray[np.bool_]:
        return self.status != PUBLISHED


def _pick(system: CellSystem, free: Sequence[int], deficit: float) -> int:
    """The cell of ``free`` to suppress for ``deficit`` more units of room: the smallest that
    gives them (a count of v can yield v - 1, down to 1), else the largest."""
    enough = [c for c in free if system.values[c] - 1.0 >= deficit - 1e-9]
    if enough:
        return min(enough, key=lambda c: (system.values[c], c))
    return max(free, key=lambda c: (system.values[c], -c))


def _complement(
    system: CellSystem,
    eq: Equation,
    suppressed: npt.NDArray[np.bool_],
    deficit: float = MIN_INTERVAL,
) -> int | None:
    """The cell to suppress next in an equation: a published part that gives the ``deficit``
    (:func:`_pick`), else a total."""
    for group in (eq.parts, eq.totals):
        free = [c for c in group if not suppressed[c]]
        if free:
            return _pick(system, free, deficit)
    return None


def _room_deficit(
    system: CellSystem, eq: Equation, suppressed: npt.NDArray[np.bool_], min_width: float
) -> float | None:
    """How much more room this equation alone must give its suppressed cells; None: enough.

    Suppressed cells all on one side: each is at least 1 (rows exist only for positive
    counts), so each lies in [1, S - (k - 1)] with S their sum and k their number; the width
    S - k must reach ``min_width``. One suppressed cell alone is the difference of published
    numbers: it always needs a partner (which gives its own value - 1 of room). Suppressed
    cells on both sides: left to the LP audit.
    """
    hidden_totals = [c for c in eq.totals if suppressed[c]]
    hidden_parts = [c for c in eq.parts if suppressed[c]]
    k = len(hidden_totals) + len(hidden_parts)
    if k == 0 or (hidden_totals and hidden_parts):
        return None
    hidden = hidden_totals or hidden_parts
    room = float(system.values[hidden].sum()) - k
    if k == 1:
        return max(float(min_width) - room, 0.0)
    return float(min_width) - room if room < min_width - 1e-9 else None


def _needs_complement(
    system: CellSystem, eq: Equation, suppressed: npt.NDArray[np.bool_], min_width: float
) -> bool:
    """True when this equation alone narrows a suppressed cell below ``min_width``."""
    return _room_deficit(system, eq, suppressed, min_width) is not None


def _equations_by_cell(system: CellSystem) -> list[list[int]]:
    """For each cell, the indices of the equations it appears in."""
    by_cell: list[list[int]] = [[] for _ in range(len(system.values))]
    for k, eq in enumerate(system.equations):
        for c in eq.cells:
            by_cell[c].append(k)
    return by_cell


def _ranges(
    cells: npt.NDArray[np.int64], lo: npt.NDArray[np.float64], hi: npt.NDArray[np.float64]
) -> dict[int, tuple[float, float]]:
    return {c: (a, b) for c, a, b in zip(cells.tolist(), lo.tolist(), hi.tolist(), strict=True)}


def _hierarchical(
    system: CellSystem,
    suppressed: npt.NDArray[np.bool_],
    min_width: float = MIN_INTERVAL,
    changed: Sequence[int] | None = None,
    by_cell: list[list[int]] | None = None,
) -> list[int]:
    """Complementary suppression to a fixed point; returns the cells it added, in order.

    ``changed``: the cells suppressed since the last fixed point (only their equations can
    need a complement now); None checks every equation. ``by_cell``: the result of
    :func:`_equations_by_cell`, when the caller has it.
    """
    if by_cell is None:
        by_cell = _equations_by_cell(system)
    if changed is None:
        queue = list(range(len(system.equations)))
    else:
        queue = sorted({k for c in changed for k in by_cell[c]})
    queued = np.zeros(len(system.equations), dtype=bool)
    queued[queue] = True
    added: list[int] = []
    while queue:
        k = queue.pop()
        queued[k] = False
        eq = system.equations[k]
        deficit = _room_deficit(system, eq, suppressed, min_width)
        if deficit is None:
            continue
        cell = _complement(system, eq, suppressed, deficit)
        if cell is None:  # pragma: no cover - an equation has at least two cells
            continue
        suppressed[cell] = True
        added.append(cell)
        for k2 in by_cell[cell]:
            if not queued[k2]:
                queued[k2] = True
                queue.append(k2)
    return added


def _highs() -> tuple[Any, Any, Any]:
    """The HiGHS solver class, its model-status enum and its "ok" status.

    From the ``highspy`` package (HiGHS's own Python bindings) when installed, else the copy of
    the same bindings that SciPy ships (``scipy.optimize._highspy``, used by ``linprog``).
    """
    try:
        import highspy

        return highspy.Highs, highspy.HighsModelStatus, highspy.HighsStatus.kOk
    except ImportError:  # pragma: no cover - depends on the environment
        from scipy.optimize._highspy import _core

        return _core._Highs, _core.HighsModelStatus, _core.HighsStatus.kOk


class _ComponentProgram:
    """One HiGHS model ``A x = b, lower <= x <= upper`` whose objective alone changes.

    The model is passed once; each :meth:`solve` changes only the costs that differ from the
    previous objective, and the simplex solver restarts from the previous optimal basis (still
    primal feasible), which takes a few pivots instead of a solve from scratch.
    """

    def __init__(
        self,
        a: sparse.csc_matrix,
        b: npt.NDArray[np.float64],
        lower: npt.NDArray[np.float64],
        upper: npt.NDArray[np.float64],
    ) -> None:
        highs_class, self._status, self._ok = _highs()
        self.highs = highs_class()
        for option, value in (
            ("output_flag", False),
            ("presolve", "off"),  # presolve would discard the basis kept between solves
            ("solver", "simplex"),
            ("threads", 1),
            ("simplex_strategy", 1),  # dual for the first solve (from no basis): faster
        ):
            self.highs.setOptionValue(option, value)
        n_row, n_col = a.shape
        self._warm = False
        self.cost = np.zeros(n_col)
        passed = self.highs.passModel(
            n_col,
            n_row,
            a.nnz,
            1,  # column-wise matrix
            1,  # minimise
            0.0,
            self.cost,
            lower,
            upper,
            b,
            b,
            a.indptr.astype(np.int32),
            a.indices.astype(np.int32),
            a.data.astype(np.float64),
            np.zeros(n_col, dtype=np.int32),  # continuous columns
        )
        if passed != self._ok:
            raise DisclosureError(f"disclosure audit LP rejected by HiGHS: {passed}")

    def solve(self, cost: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
        """A minimiser of ``cost · x`` (None when unbounded)."""
        changed = np.flatnonzero(cost != self.cost)
        if changed.size:
            self.highs.changeColsCost(
                changed.size, changed.astype(np.int32), cost[changed].astype(np.float64)
            )
            self.cost = cost.copy()
        self.highs.run()
        if not self._warm:
            # primal from now on: a new objective keeps the optimal basis primal feasible
            self.highs.setOptionValue("simplex_strategy", 4)
            self._warm = True
        status = self.highs.getModelStatus()
        if status == self._status.kOptimal:
            return np.asarray(self.highs.getSolution().col_value, dtype=np.float64)
        if status in (self._status.kUnbounded, self._status.kUnboundedOrInfeasible):
            return None
        raise DisclosureError(
            f"disclosure audit LP failed: {self.highs.modelStatusToString(status)}"
        )


def _incidence(system: CellSystem) -> sparse.csc_matrix:
    """One row per equation: +1 for its totals, -1 for its parts (a cell on both sides
    cancels); one column per cell."""
    eq_rows: list[int] = []
    eq_cols: list[int] = []
    eq_data: list[float] = []
    for r, eq in enumerate(system.equations):
        eq_rows.extend([r] * (len(eq.totals) + len(eq.parts)))
        eq_cols.extend(eq.totals)
        eq_cols.extend(eq.parts)
        eq_data.extend([1.0] * len(eq.totals))
        eq_data.extend([-1.0] * len(eq.parts))
    full = sparse.csc_matrix(
        (eq_data, (eq_rows, eq_cols)), shape=(len(system.equations), len(system.values))
    )
    full.sum_duplicates()
    full.eliminate_zeros()
    return full


def _propagate(
    a: sparse.csr_matrix,
    b: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    passes: int = 50,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Outer bounds on every unknown of ``a x = b, lower <= x <= upper`` (bound propagation).

    Each row bounds each of its unknowns by what the others can be at most and at least;
    repeated until nothing tightens. The result contains the feasible interval of every
    unknown, so an unknown narrower than the range here is pinned without solving a program.
    """
    lo = lower.astype(np.float64).copy()
    hi = upper.astype(np.float64).copy()
    coo = a.tocoo()
    rows, cols, vals = coo.row, coo.col, coo.data
    pos = vals > 0
    for _ in range(passes):
        term_min = np.where(pos, vals * lo[cols], vals * hi[cols])
        term_max = np.where(pos, vals * hi[cols], vals * lo[cols])
        row_min = np.bincount(rows, weights=term_min, minlength=a.shape[0])
        row_max = np.bincount(rows, weights=term_max, minlength=a.shape[0])
        # a_ri x_i lies in [b - (row_max - term_max), b - (row_min - term_min)]
        t_lo = b[rows] - (row_max[rows] - term_max)
        t_hi = b[rows] - (row_min[rows] - term_min)
        cand_lo = np.where(pos, t_lo / vals, t_hi / vals)
        cand_hi = np.where(pos, t_hi / vals, t_lo / vals)
        new_lo = lo.copy()
        new_hi = hi.copy()
        np.maximum.at(new_lo, cols, cand_lo)
        np.minimum.at(new_hi, cols, cand_hi)
        if np.allclose(new_lo, lo, rtol=0, atol=1e-9) and np.allclose(
            new_hi, hi, rtol=0, atol=1e-9
        ):
            break
        lo, hi = new_lo, new_hi
    return lo, hi


def feasible_intervals(
    system: CellSystem,
    suppressed: npt.NDArray[np.bool_],
    min_width: float = MIN_INTERVAL,
    seed: int = 0,
    certified: dict[int, tuple[float, float]] | None = None,
    incidence: sparse.csc_matrix | None = None,
) -> tuple[dict[int, tuple[float, float]], int]:
    """Certified lower/upper bounds for each suppressed cell an attacker could narrow.

    Returns ``{cell: (low, high)}`` and the number of LPs solved. For speed, random objectives
    first find feasible solutions that move many cells at once; a cell that moved by at least
    ``min_width`` away from its true value is certified unpinned (reported as the observed range,
    a lower bound on its real interval). Every other cell gets its exact min and max by LP.
    Cells in no equation are unbounded and not reported.

    ``certified`` holds ranges already observed for some cells (e.g. by an earlier audit of a
    pattern with fewer suppressed cells: every feasible point of that pattern, completed with
    the true values of the cells suppressed since, is feasible for this one). A cell whose
    certified range is at least ``min_width`` wide needs no program; a component of cells that
    all have one is not solved at all. ``incidence``: :func:`_incidence` of ``system``, when
    the caller keeps it between calls.
    """
    certified = certified or {}
    unknown = np.flatnonzero(suppressed)
    if unknown.size == 0:
        return {}, 0
    full = _incidence(system) if incidence is None else incidence
    # unknowns: the suppressed cells; everything published moves to the right-hand side
    a_eq = full[:, unknown].tocsr()
    b_eq = -(full[:, ~suppressed] @ system.values[~suppressed])
    live = np.flatnonzero(np.diff(a_eq.indptr) > 0)
    if live.size == 0:
        return {}, 0
    a_all = a_eq[live]
    b_all = np.asarray(b_eq[live], dtype=np.float64)
    first_col = a_all.indices[a_all.indptr[:-1]]  # any unknown of the row names its component
    truth = system.values[unknown]
    width = min_width - 1e-9

    # independent sub-problems: connected components of the unknowns through equations
    incidence = (a_all.T @ a_all).tocsr()
    n_comp, comp = connected_components(incidence, directed=False)
    rng = np.random.default_rng(seed)
    result: dict[int, tuple[float, float]] = {}
    lps = 0
    row_comp = comp[first_col]
    # ranges already certified, as arrays over the unknowns
    known_lo = system.values[unknown].copy()
    known_hi = known_lo.copy()
    if certified:
        where = {int(c): j for j, c in enumerate(unknown)}
        for cell, (c_lo, c_hi) in certified.items():
            j = where.get(cell)
            if j is not None:
                known_lo[j] = min(known_lo[j], c_lo)
                known_hi[j] = max(known_hi[j], c_hi)
    rows_of = np.split(
        np.argsort(row_comp, kind="stable"), np.cumsum(np.bincount(row_comp, minlength=n_comp))
    )
    cols_of = np.split(np.argsort(comp, kind="stable"), np.cumsum(np.bincount(comp)))
    for k in range(n_comp):
        jcols = cols_of[k]
        in_rows = rows_of[k]
        if in_rows.size == 0:
            continue  # in no equation: unbounded
        lo = known_lo[jcols]
        hi = known_hi[jcols]
        if (hi - lo >= width).all():
            result.update(_ranges(unknown[jcols], lo, hi))
            continue

        # a box around the truth keeps every program bounded; points found inside the box are
        # feasible for the real system too, so the certificates stay valid (and conservative)
        # (lower bound 1: a published row exists only for a positive count, so an analyst
        # knows every suppressed count is at least 1)
        floor = np.minimum(1.0, truth[jcols])
        program_upper = np.full(jcols.size, 10 * truth[jcols].max() + 10 * max(min_width, 1.0))
        program = _ComponentProgram(
            a_all[in_rows][:, jcols].tocsc(), b_all[in_rows], floor, program_upper
        )

        # objectives on the cells not yet proven, with random signs, while each program proves
        # several cells (first push all of them up and down together: a count at its lower
        # bound 1 can only move up); past that, the exact programs below are cheaper
        for attempt in range(8):
            open_cells = hi - lo < width
            n_open = int(open_cells.sum())
            if n_open <= RANDOM_PHASE_MIN_OPEN:
                break
            signs = np.ones(n_open) if attempt == 0 else rng.choice([-1.0, 1.0], n_open)
            c = np.zeros(jcols.size)
            c[open_cells] = signs + 1e-3 * rng.standard_normal(n_open)
            for sign in (1.0, -1.0):
                x = program.solve(sign * c)
                lps += 1
                if x is not None:
                    lo = np.minimum(lo, x)
                    hi = np.maximum(hi, x)
            if n_open - int((hi - lo < width).sum()) < 4:
                break
        # cells that bound propagation already shows narrower than the range are pinned
        # whatever the programs say: no program for them
        open_now = hi - lo < width
        if open_now.any():
            p_lo, p_hi = _propagate(
                a_all[in_rows][:, jcols].tocsr(), b_all[in_rows], floor, program_upper
            )
            proven_pinned = open_now & (p_hi - p_lo < width)
            lo = np.where(proven_pinned, np.minimum(lo, p_lo), lo)
            hi = np.where(proven_pinned, np.maximum(hi, np.minimum(p_hi, lo + width - 1e-6)), hi)
        else:
            proven_pinned = open_now
        # exact max, then min, of each cell still open; every solution is a feasible point
        # that may prove other cells too (no min when the max alone is within the range of
        # the lower bound: the cell is pinned whatever its min)
        for i in np.flatnonzero((hi - lo < width) & ~proven_pinned):
            for direction in (-1.0, 1.0):
                if hi[i] - lo[i] >= width or (direction > 0 and hi[i] - floor[i] < width):
                    break
                e = np.zeros(jcols.size)
                e[i] = direction
                x = program.solve(e)
                lps += 1
                if x is None:
                    hi[i] = np.inf
                else:
                    lo = np.minimum(lo, x)
                    hi = np.maximum(hi, x)
        result.update(_ranges(unknown[jcols], lo, hi))
    return result, lps


def _nearest_published(
    system: CellSystem,
    by_cell: dict[int, list[Equation]],
    suppressed: npt.NDArray[np.bool_],
    start: int,
    min_width: float = MIN_INTERVAL,
) -> int | None:
    """Breadth-first over shared equations: a published cell at the least depth, the smallest
    that has ``min_width`` of room to give (:func:`_pick`), else the largest."""
    seen = {start}
    frontier = [start]
    while frontier:
        found: list[int] = []
        nxt: list[int] = []
        for cell in frontier:
            for eq in by_cell.get(cell, []):
                for c in eq.cells:
                    if c in seen:
                        continue
                    seen.add(c)
                    (nxt if suppressed[c] else found).append(c)
        if found:
            return _pick(system, found, min_width)
        frontier = nxt
    return None


def protect(
    system: CellSystem, max_rounds: int = 500, min_width: float = MIN_INTERVAL
) -> Protection:
    """Primary + secondary suppression of every cell of ``system`` (see the module docstring).

    ``min_width``: the protection range (:func:`protection_range`), at least one unit.
    """
    if min_width < MIN_INTERVAL:
        raise DisclosureError(f"protection range {min_width:g} is below {MIN_INTERVAL:g}")
    broken = system.violated()
    if broken:
        raise DisclosureError(f"equation does not hold: {broken[0].label}")
    suppressed = system.primary.copy()
    by_cell: dict[int, list[Equation]] = {}
    for eq in system.equations:
        for c in eq.cells:
            by_cell.setdefault(c, []).append(eq)
    status = np.full(len(system.values), PUBLISHED, dtype=object)
    status[system.primary] = PRIMARY
    lps = 0
    # ranges proven wide enough stay proven: suppressing more cells only adds feasible points
    certified: dict[int, tuple[float, float]] = {}
    changed: list[int] | None = None  # cells suppressed since the last fixed point
    eq_by_cell = _equations_by_cell(system)
    incidence = _incidence(system)
    for audit_round in range(1, max_rounds + 1):
        for cell in _hierarchical(system, suppressed, min_width, changed, eq_by_cell):
            status[cell] = SECONDARY
        changed = []
        intervals, n = feasible_intervals(
            system, suppressed, min_width=min_width, certified=certified, incidence=incidence
        )
        lps += n
        certified = {c: r for c, r in intervals.items() if r[1] - r[0] >= min_width - 1e-9}
        pinned = sorted(c for c, (lo, hi) in intervals.items() if hi - lo < min_width - 1e-9)
        if not pinned:
            widths = [hi - lo for lo, hi in intervals.values()]
            return Protection(
                status=status,
                audit_rounds=audit_round,
                audit_lps=lps,
                protection_range=float(min_width),
                narrowest=float(min(widths)) if widths else None,
                audited_cells=len(widths),
            )
        # one more complement for each pinned cell: a published cell among the nearest ones
        # (sharing an equation, else an equation with a cell sharing one, ...) that can give
        # it room; a cell near one suppressed this round waits for the next audit, which may
        # find it free already
        touched: set[int] = set()
        stuck: list[int] = []
        for cell in pinned:
            if cell in touched:
                continue
            extra = _nearest_published(system, by_cell, suppressed, cell, min_width)
            if extra is None:  # nothing left to suppress near it: unless this round's other
                stuck.append(cell)  # complements free it, the next audit says so
                continue
            suppressed[extra] = True
            status[extra] = SECONDARY
            changed.append(extra)
            for eq in by_cell.get(extra, []):
                for c in eq.cells:
                    touched.add(c)
                    for eq2 in by_cell.get(c, []):
                        touched.update(eq2.cells)
        if not changed:  # every pinned cell is stuck: no suppression can help any more
            cell = stuck[0]
            lo, hi = intervals[cell]
            raise DisclosureError(
                f"cannot protect cell {system.labels[cell]} (value {system.values[cell]:g}, "
                f"feasible interval [{lo:g}, {hi:g}], protection range {min_width:g}): every "
                "cell it shares an equation with, directly or not, is suppressed"
            )
    raise DisclosureError(f"secondary suppression did not converge in {max_rounds} rounds")
