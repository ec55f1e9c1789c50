"""Exact data reductions: what the Gaussian likelihood needs from the rows.

With group-varying intercepts ``u0[g]`` and slopes ``u1[g]`` and population
coefficients ``w`` on the (centred) row design ``x``, the residual sum of
squares is a quadratic form whose coefficients are per-group sums

    n_g, m_g = sum t, sx_g = sum x, sxt_g = sum t x, sy_g = sum y, syt_g = sum t y

and the global cross-products ``x'x``, ``x'y`` and ``y'y``. These are computed
in one chunked pass, so the sampler's cost per gradient is
O(groups x columns + columns^2) whatever the number of rows.

Only the controls vary from row to row within a (group, arm) cell: the other
columns (the group-level predictors, the treatment and their interactions) are
constant there. So the pass over the rows needs just per-cell counts and sums
of the controls and the outcome, and the cross-products of the controls and
the outcome; everything else is assembled exactly from those cell totals.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

#: Rows handled at once when accumulating statistics (bounds the extra memory).
CHUNK_ROWS = 1_000_000


@dataclass
class RowDesign:
    """Row-level pieces of the population-level design, before centring.

    The population-level columns are ``[controls, Z[g], t, t * Z[g]]``: the
    controls, the group-level predictors as main effects (they shift the
    intercept), the treatment, and its interactions with the group-level
    predictors (the lambda coefficients).
    """

    controls: np.ndarray  # (n, p)
    Z: np.ndarray  # (G, q), per group
    group: np.ndarray  # (n,) int
    treatment: np.ndarray  # (n,) 0/1
    outcome: np.ndarray  # (n,)

    @property
    def n_rows(self) -> int:
        return self.group.shape[0]

    @property
    def n_coef(self) -> int:
        return self.controls.shape[1] + 2 * self.Z.shape[1] + 1

    @cached_property
    def group_counts(self) -> np.ndarray:
        """Rows per group (float)."""
        return np.bincount(self.group, minlength=self.Z.shape[0]).astype(float)

    @cached_property
    def treated_counts(self) -> np.ndarray:
        """Treated rows per group (float)."""
        return np.bincount(self.group, weights=self.treatment, minlength=self.Z.shape[0])

    def arm_means(self) -> np.ndarray:
        """(G, 2) mean outcome of each group's control and treated rows (nan if none)."""
        cell = 2 * self.group + self.treatment.astype(np.int64)
        sums = np.bincount(cell, weights=self.outcome, minlength=2 * self.Z.shape[0])
        counts = np.bincount(cell, minlength=2 * self.Z.shape[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums / counts).reshape(-1, 2)

    def columns(self, rows: slice) -> np.ndarray:
        g = self.group[rows]
        t = self.treatment[rows][:, None]
        zg = self.Z[g]
        return np.hstack([self.controls[rows], zg, t, t * zg])

    def column_means(self) -> np.ndarray:
        return self._column_means.copy()

    @cached_property
    def _column_means(self) -> np.ndarray:  # one pass over the rows, however often asked
        n = self.n_rows
        treated = self.treated_counts
        return np.concatenate(
            [
                self.controls.mean(axis=0),
                self.group_counts @ self.Z / n,
                [treated.sum() / n],
                treated @ self.Z / n,
            ]
        )


#: Group counts are padded up to a multiple of this, so that refits whose
#: training folds miss a few small groups still reuse the compiled sampler.
GROUP_PADDING = 16


def padded_group_count(n_groups: int) -> int:
    return -(-n_groups // GROUP_PADDING) * GROUP_PADDING


def pad_rows(value, extra: int, fill: float = 0.0):
    """``value`` with ``extra`` rows of ``fill`` appended (None stays None)."""
    if value is None or extra == 0:
        return value
    value = np.asarray(value)
    filler = np.full((extra,) + value.shape[1:], fill, dtype=value.dtype)
    return np.concatenate([value, filler])


class CellTotals(NamedTuple):
    """Totals over the rows of each (group, arm) cell (cell ``2 g + t``), and the
    controls' and outcome's cross-products: everything the rows contribute.

    Sums over disjoint sets of rows (chunks, data partitions) add up with
    :meth:`plus`, so they can be computed wherever the rows live.
    """

    count: np.ndarray  # (2G,)
    control_sums: np.ndarray  # (2G, p), of the centred controls
    outcome_sums: np.ndarray  # (2G,), of the centred outcome
    ctc: np.ndarray  # (p, p)
    cty: np.ndarray  # (p,)
    yty: float

    @classmethod
    def of_rows(cls, design: "RowDesign", rows: slice, cbar, ybar: float) -> "CellTotals":
        n_cells = 2 * design.Z.shape[0]
        cell = 2 * design.group[rows] + design.treatment[rows].astype(np.int64)
        c = design.controls[rows] - cbar
        y = design.outcome[rows] - ybar
        sums = np.stack(
            [np.bincount(cell, weights=c[:, j], minlength=n_cells) for j in range(c.shape[1])],
            axis=1,
        ) if c.shape[1] else np.zeros((n_cells, 0))  # fmt: skip
        return cls(
            count=np.bincount(cell, minlength=n_cells).astype(float),
            control_sums=sums,
            outcome_sums=np.bincount(cell, weights=y, minlength=n_cells),
            ctc=c.T @ c,
            cty=c.T @ y,
            yty=float(y @ y),
        )

    def plus(self, other: "CellTotals") -> "CellTotals":
        return CellTotals(*(a + b for a, b in zip(self, other, strict=True)))


class GaussianStatistics(NamedTuple):
    """Sufficient statistics of the Gaussian likelihood: per group (first axis G) and global.

    Everything is about the design centred at ``xbar`` (with a leading column
    of ones) and the outcome centred at ``ybar``. Statistics of disjoint rows
    in the same centring add (:meth:`plus`) and subtract (:meth:`minus`).
    """

    n: np.ndarray  # (G,) rows
    m: np.ndarray  # (G,) treated rows
    sx: np.ndarray  # (G, K) sum of x
    sxt: np.ndarray  # (G, K) sum of t x
    sy: np.ndarray  # (G,) sum of y
    syt: np.ndarray  # (G,) sum of t y
    xtx: np.ndarray  # (K, K)
    xty: np.ndarray  # (K,)
    yty: float
    n_rows: float
    xbar: np.ndarray  # (K - 1,) the centring of the design columns
    ybar: float

    PER_GROUP = ("n", "m", "sx", "sxt", "sy", "syt")
    SUMMED = PER_GROUP + ("xtx", "xty", "yty", "n_rows")

    def pad(self, n_groups: int) -> "GaussianStatistics":
        """Append empty groups (all statistics zero) up to ``n_groups``."""
        extra = n_groups - self.n.shape[0]
        return self._replace(**{k: pad_rows(getattr(self, k), extra) for k in self.PER_GROUP})

    def _combine(self, other: "GaussianStatistics", sign: float) -> "GaussianStatistics":
        if not (np.array_equal(self.xbar, other.xbar) and self.ybar == other.ybar):
            raise ValueError("statistics centred differently cannot be combined")
        return self._replace(**{
            k: np.asarray(getattr(self, k)) + sign * np.asarray(getattr(other, k))
            for k in self.SUMMED
        })  # fmt: skip

    def plus(self, other: "GaussianStatistics") -> "GaussianStatistics":
        return self._combine(other, 1.0)

    def minus(self, other: "GaussianStatistics") -> "GaussianStatistics":
        return self._combine(other, -1.0)


class GaussianRows(NamedTuple):
    """The Gaussian model's data row by row (for checking the reduction)."""

    x: np.ndarray  # (n, K) centred design with a leading column of ones
    t: np.ndarray
    g: np.ndarray
    y: np.ndarray  # centred outcome
    xbar: np.ndarray
    ybar: float


class StartValues(NamedTuple):
    """Where warm-up starts: per sample site, a centre and a spread on the unconstrained
    scale (the start is ``centre + spread * uniform(-2, 2)``; Stan's is centre 0, spread 1)."""

    loc: dict
    spread: dict

    @classmethod
    def stan(cls) -> "StartValues":
        return cls({}, {})

    def of_site(self, name: str):
        return self.loc.get(name, 0.0), self.spread.get(name, 1.0)

    def merged(self, other: "StartValues") -> "StartValues":
        return StartValues({**self.loc, **other.loc}, {**self.spread, **other.spread})

    def pad(self, n_groups: int) -> "StartValues":
        """The padding groups (the per-group site ``z_group``) start as Stan would."""
        if "z_group" not in self.loc:
            return self
        extra = n_groups - np.shape(self.loc["z_group"])[0]
        return StartValues(
            {**self.loc, "z_group": pad_rows(self.loc["z_group"], extra, 0.0)},
            {**self.spread, "z_group": pad_rows(self.spread["z_group"], extra, 1.0)},
        )


class GroupStart(NamedTuple):
    """Least-squares estimates per group: (control-arm level, effect) and their standard errors."""

    estimate: np.ndarray  # (G, 2)
    se: np.ndarray  # (G, 2)


def _assemble(design: "RowDesign", totals: CellTotals, xbar: np.ndarray, ybar: float):
    """Gaussian statistics from the cell totals: the columns that are constant within a
    cell (the group-level predictors, the treatment, their interactions) enter exactly."""
    n_groups, q = design.Z.shape
    p = design.controls.shape[1]
    n_cells = 2 * n_groups
    count = totals.count
    # Row x = a + b: a = [0, centred controls, 0] varies within a cell, b = [1, 0, h]
    # is the cell's constant part, h = [Z_g, t, t Z_g] - their means.
    arm = np.tile([0.0, 1.0], n_groups)[:, None]
    z_cells = np.repeat(design.Z, 2, axis=0)
    zbar, tbar, tzbar = xbar[p : p + q], xbar[p + q], xbar[p + q + 1 :]
    h = np.hstack([z_cells - zbar, arm - tbar, arm * z_cells - tzbar])
    b = np.hstack([np.ones((n_cells, 1)), np.zeros((n_cells, p)), h])
    a_sums = np.hstack(
        [np.zeros((n_cells, 1)), totals.control_sums, np.zeros((n_cells, 2 * q + 1))]
    )
    within = np.zeros((b.shape[1], b.shape[1]))
    within[1 : p + 1, 1 : p + 1] = totals.ctc
    cross = a_sums.T @ b
    xtx = within + cross + cross.T + (b * count[:, None]).T @ b
    xty = np.concatenate([[0.0], totals.cty, np.zeros(2 * q + 1)]) + b.T @ totals.outcome_sums
    x_sums = (a_sums + count[:, None] * b).reshape(n_groups, 2, -1)
    y_sums = totals.outcome_sums.reshape(n_groups, 2)
    counts = count.reshape(n_groups, 2)
    return GaussianStatistics(
        n=counts.sum(axis=1),
        m=counts[:, 1],
        sx=x_sums.sum(axis=1),
        sxt=x_sums[:, 1],
        sy=y_sums.sum(axis=1),
        syt=y_sums[:, 1],
        xtx=xtx,
        xty=xty,
        yty=totals.yty,
        n_rows=float(count.sum()),
        xbar=np.asarray(xbar, dtype=float),
        ybar=float(ybar),
    )


def cell_totals(design: "RowDesign", *, xbar, ybar: float, chunk_rows: int = CHUNK_ROWS):
    """:class:`CellTotals` of all rows, accumulated in chunks (bounds the extra memory)."""
    cbar = np.asarray(xbar)[: design.controls.shape[1]]
    total = None
    for start in range(0, max(design.n_rows, 1), chunk_rows):
        part = CellTotals.of_rows(design, slice(start, start + chunk_rows), cbar, ybar)
        total = part if total is None else total.plus(part)
    return total


def gaussian_cell_statistics(
    design: "RowDesign", *, chunk_rows: int = CHUNK_ROWS, centre: tuple | None = None
) -> tuple[GaussianStatistics, StartValues, GroupStart]:
    """Sufficient statistics of the Gaussian varying-slopes likelihood, and warm-up starts.

    The design columns are centred at their means (as brms does, so the
    intercept is the expected outcome at the average row) and a leading column
    of ones is added; the outcome is centred at its mean. Everything is float64.
    ``centre=(xbar, ybar)`` centres at given means instead (a subset of rows in
    the coordinates of the whole data, whose statistics then add up).
    """
    if centre is None:
        xbar, ybar = design.column_means(), float(design.outcome.mean())
    else:
        xbar, ybar = np.asarray(centre[0], dtype=float), float(centre[1])
    totals = cell_totals(design, xbar=xbar, ybar=ybar, chunk_rows=chunk_rows)
    stats = _assemble(design, totals, xbar, ybar)
    start, group_start = least_squares_start(
        totals, n_rows=design.n_rows, n_group_terms=2 * design.Z.shape[1] + 1, ybar=ybar
    )
    return stats, start, group_start


def least_squares_start(
    totals: CellTotals, *, n_rows: int, n_group_terms: int, ybar: float
) -> tuple[StartValues, GroupStart]:
    """Starting values for the parameters the data pin down, from (group, arm) cell totals.

    Stan starts every parameter uniformly in (-2, 2) on the unconstrained scale.
    With many rows, sigma, the control coefficients and the groups sampled
    centred have posterior sds of 1e-4 to 1e-2, so such a start lies thousands
    of sds away, and warm-up spends its first iterations travelling there.
    These start at the least-squares fit with one mean per cell (the
    fixed-effects regression), jittered uniformly by +-2 standard errors so
    that chains still start apart; every other parameter keeps Stan's start.
    The per-group estimates (level of the control arm, effect) are used for the
    groups sampled centred.
    """
    count, control_sums, outcome_sums = totals.count, totals.control_sums, totals.outcome_sums
    ctc, cty, yty = totals.ctc, totals.cty, totals.yty
    p = ctc.shape[0]
    filled = count > 0
    per_row = np.where(filled, 1.0 / np.where(filled, count, 1.0), 0.0)
    within_ctc = ctc - (control_sums * per_row[:, None]).T @ control_sums
    within_cty = cty - control_sums.T @ (outcome_sums * per_row)
    within_yty = yty - float(outcome_sums**2 @ per_row)
    beta = np.linalg.lstsq(within_ctc, within_cty, rcond=None)[0] if p else np.zeros(0)
    unexplained = np.diag(np.linalg.pinv(within_ctc)) if p else np.zeros(0)
    dof = max(n_rows - int(filled.sum()) - p, 1)
    sigma = np.sqrt(max(within_yty - float(beta @ within_cty), 1e-12) / dof)
    # a (near) exact fit would start sigma at ~0, where the Gaussian is degenerate:
    # start no lower than a thousandth of the outcome's sd (of 1 for a constant outcome)
    sigma = max(sigma, 1e-3 * (np.sqrt(yty / n_rows) if yty > 0 else 1.0))
    beta_se = sigma * np.sqrt(np.clip(unexplained, 0.0, None))
    arms = np.where(filled, (outcome_sums - control_sums @ beta) * per_row, 0.0).reshape(-1, 2)
    arm_se = (sigma * np.sqrt(per_row)).reshape(-1, 2)
    both = filled.reshape(-1, 2).all(axis=1)[:, None]
    group_start = GroupStart(
        estimate=np.where(
            both, np.stack([arms[:, 0] + ybar, arms[:, 1] - arms[:, 0]], 1), 0.0
        ),
        se=np.where(both, np.stack([arm_se[:, 0], np.hypot(*arm_se.T)], 1), 1.0),
    )
    if not (np.isfinite(beta).all() and np.isfinite(beta_se).all() and np.isfinite(sigma)):
        return StartValues.stan(), group_start  # degenerate controls: Stan's start throughout
    start = StartValues(
        # b = [controls, group-level terms]: the group-level terms keep Stan's start
        loc={"sigma": np.log(sigma), "b": np.concatenate([beta, np.zeros(n_group_terms)])},
        spread={
            "sigma": min(1.0, 1.0 / np.sqrt(2.0 * n_rows)),
            "b": np.concatenate([np.clip(beta_se, 1e-12, 1.0), np.ones(n_group_terms)]),
        },
    )
    return start, group_start


def start_centred(group_start: GroupStart, centered: np.ndarray) -> StartValues:
    """Start the centred groups at their cell estimates (Stan's start for the others)."""
    flag = centered.astype(bool)[:, None]
    return StartValues(
        loc={"z_group": np.where(flag, group_start.estimate, 0.0)},
        spread={"z_group": np.where(flag, np.clip(group_start.se, 1e-12, 1.0), 1.0)},
    )


def gaussian_row_data(design: "RowDesign") -> GaussianRows:
    """The same model's data row by row (for checking the reduction; O(N) per gradient)."""
    xbar = design.column_means()
    ybar = float(design.outcome.mean())
    x = np.hstack([np.ones((design.n_rows, 1)), design.columns(slice(None)) - xbar])
    return GaussianRows(
        x=x,
        t=design.treatment.astype(float),
        g=design.group.astype(np.int32),
        y=design.outcome - ybar,
        xbar=xbar,
        ybar=ybar,
    )
