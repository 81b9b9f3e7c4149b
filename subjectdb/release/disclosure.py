"""Statistical disclosure control for published counts: primary and secondary cell suppression.

The rules (docs/opendata.md, "Disclosure control"):

* **Primary** — a cell built from fewer than ``threshold`` distinct applicants (never below
  :data:`MIN_THRESHOLD`) is suppressed; the dashboard applies the same rule through
  :func:`primary_suppressed`.
* **Small population** — a rate whose population is under :data:`MIN_RATE_POPULATION` is
  withheld (:func:`rate_withheld`).
* **Secondary** — no suppressed value may be recovered from the other published numbers.
  Every published count is a cell of one :class:`CellSystem`; every additive relation an analyst
  could use (row and column totals, county → prefecture → province roll-ups, cells that equal
  or sum to cells of another table) is an :class:`Equation` ``total = Σ parts``.
  :func:`protect` first applies hierarchical complementary suppression — in every equation with
  exactly one suppressed cell (or whose suppressed cells have less than one unit of room), also
  suppress its smallest published part (the total only when no part is left) — to a fixed
  point, then *audits* the pattern with linear programming: for
  every suppressed cell it proves, by exhibiting feasible solutions of all published equations
  with every count at least 1 (rows exist only for positive counts), that the cell's feasible
  interval is at least one unit wide (HiGHS: one model per connected group of suppressed cells
  and round, re-solved warm with a new objective each time; cells proven in one round stay
  proven). A cell the audit finds pinned gets one more complementary suppression and the loop
  repeats until the audit passes.
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
MIN_RATE_POPULATION = 100
"""A rate is withheld when its population (denominator) is below this."""
MIN_INTERVAL = 1.0
"""A suppressed count must stay uncertain by at least this much (one unit)."""
RANDOM_PHASE_MIN_OPEN = 8
"""The audit tries objectives over many unproven cells at once only above this many."""

PUBLISHED = ""
PRIMARY = "primary"
SECONDARY = "secondary"
SMALL_POPULATION = "small_population"
STATUSES = (PUBLISHED, PRIMARY, SECONDARY, SMALL_POPULATION)
STATUS_DOC = {
    PUBLISHED: "published",
    PRIMARY: "fewer distinct applicants (or persons) than the threshold",
    SECONDARY: "withheld so that no suppressed cell can be derived from published numbers",
    SMALL_POPULATION: "rate withheld: population under 100",
}


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
    """True where a rate must be withheld: its population is missing or under 100."""
    values = np.asarray(population, dtype="float64")
    result = ~(values >= MIN_RATE_POPULATION)
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
    """The outcome of :func:`protect`: one status per cell and audit statistics."""

    status: npt.NDArray[np.object_]
    audit_rounds: int
    audit_lps: int

    @property
    def suppressed(self) -> npt.NDArray[np.bool_]:
        return self.status != PUBLISHED


def _complement(system: CellSystem, eq: Equation, suppressed: npt.NDArray[np.bool_]) -> int | None:
    """The cell to suppress next in an equation: its smallest published part, else a total."""
    for group in (eq.parts, eq.totals):
        free = [c for c in group if not suppressed[c]]
        if free:
            return min(free, key=lambda c: (system.values[c], c))
    return None


def _needs_complement(
    system: CellSystem, eq: Equation, suppressed: npt.NDArray[np.bool_], min_width: float
) -> bool:
    """True when this equation alone pins a suppressed cell.

    Exactly one suppressed cell: it is the difference of published numbers. Several, all on
    one side: each is at least 1 (rows exist only for positive counts), so each lies in
    [1, S - (k - 1)] with S their sum and k their number; the width S - k must reach
    ``min_width``.
    """
    hidden_totals = [c for c in eq.totals if suppressed[c]]
    hidden_parts = [c for c in eq.parts if suppressed[c]]
    k = len(hidden_totals) + len(hidden_parts)
    if k == 0:
        return False
    if k == 1:
        return True
    if hidden_totals and hidden_parts:
        return False  # mixed sides: left to the LP audit
    hidden = hidden_totals or hidden_parts
    return float(system.values[hidden].sum()) - k < min_width - 1e-9


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
        if not _needs_complement(system, eq, suppressed, min_width):
            continue
        cell = _complement(system, eq, suppressed)
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
        program = _ComponentProgram(
            a_all[in_rows][:, jcols].tocsc(),
            b_all[in_rows],
            np.minimum(1.0, truth[jcols]),
            np.full(jcols.size, 10 * truth[jcols].max() + 10),
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
        # exact max, then min, of each cell still open; every solution is a feasible point
        # that may prove other cells too
        for i in np.flatnonzero(hi - lo < width):
            for direction in (-1.0, 1.0):
                if hi[i] - lo[i] >= width:
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
) -> int | None:
    """Breadth-first over shared equations: the smallest published cell at the least depth."""
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
            return min(found, key=lambda c: (system.values[c], c))
        frontier = nxt
    return None


def protect(
    system: CellSystem, max_rounds: int = 200, min_width: float = MIN_INTERVAL
) -> Protection:
    """Primary + secondary suppression of every cell of ``system`` (see the module docstring)."""
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
            return Protection(status=status, audit_rounds=audit_round, audit_lps=lps)
        # one more complement for each pinned cell: the smallest published cell among the
        # nearest ones (sharing an equation, else an equation with a cell sharing one, ...)
        for cell in pinned:
            extra = _nearest_published(system, by_cell, suppressed, cell)
            if extra is None:
                lo, hi = intervals[cell]
                raise DisclosureError(
                    f"cannot protect cell {system.labels[cell]} (value "
                    f"{system.values[cell]:g}, feasible interval [{lo:g}, {hi:g}])"
                )
            suppressed[extra] = True
            status[extra] = SECONDARY
            changed.append(extra)
    raise DisclosureError(f"secondary suppression did not converge in {max_rounds} rounds")
