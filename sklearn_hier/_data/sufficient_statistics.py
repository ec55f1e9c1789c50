"""Exact data reductions: what the Gaussian likelihood needs from the rows.

Each row i of group g has a vector ``v_i = [1, t_i]`` (the constant and its
treatment columns: one per effect); the group's varying intercept and slopes
``u_g`` enter as ``u_g . v_i``. With population coefficients ``w`` on the
(centred) row design ``x``, the residual sum of squares is a quadratic form
whose coefficients are per-group sums

    B_g = sum v v',   X_g = sum v x',   R_g = sum v y

and the global cross-products ``x'x``, ``x'y`` and ``y'y``. These are computed
in one chunked pass, so the sampler's cost per gradient is
O(groups x columns + columns^2) whatever the number of rows.

Only the controls and the treatment vary from row to row within a group: the
group-level predictors are constant there, and every design column is linear
in ``v`` and the controls. So the pass over the rows needs just each group's
moments of ``v`` with itself, the controls and the outcome, and the global
cross-products of the controls and the outcome; everything else is assembled
exactly from those moments.
"""

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .._base.coefficient_layout import CoefficientLayout
from .._base.threads import usable_cpus
from .coded_controls import CodedControls

#: Rows handled at once when accumulating statistics (bounds the extra memory) ...
CHUNK_ROWS = 1_000_000
#: ... and at most this many values (rows x moment columns: about 128 MB).
CHUNK_VALUES = 16_000_000
#: Up to this many 0/1 treatment columns, rows are summed per (group, pattern) cell.
MAX_INDICATOR_COLUMNS = 8


class RowDesign:
    """Row-level pieces of the population-level design, before centring.

    The population-level columns are ``[controls, Z[g], t, t (x) Z[g]]``: the
    controls, the group-level predictors as main effects (they shift the
    intercept), the treatment columns (one per effect), and each treatment
    column's interactions with the group-level predictors (the lambda
    coefficients, effect by effect).

    ``controls`` is the (n, p) matrix, or the controls as coded columns
    (:class:`.coded_controls.CodedControls`): reductions then read the codes, and the
    matrix is formed when first asked for.
    """

    def __init__(self, controls, Z: np.ndarray, group: np.ndarray, treatment, outcome,
                 weights: np.ndarray | None = None):  # fmt: skip
        self.coded = controls if isinstance(controls, CodedControls) else None
        self._controls = None if self.coded is not None else controls
        self.Z = Z  # (G, q), per group
        self.group = group  # (n,) int
        # (n, E): arm indicators or doses, one column per effect
        treatment = np.asarray(treatment, dtype=float)
        self.treatment = treatment[:, None] if treatment.ndim == 1 else treatment
        self.outcome = outcome  # (n,)
        #: (n,) weights of the rows in every moment (None: 1); an approximate likelihood's
        #: quadratic expansion weighs each row by its curvature
        self.weights = weights

    @property
    def controls(self) -> np.ndarray:
        """(n, p) the controls' columns."""
        if self._controls is None:
            self._controls = self.coded.matrix()
        return self._controls

    @property
    def n_controls(self) -> int:
        return (self.coded if self._controls is None else self._controls).shape[1]

    def control_rows(self, rows: slice) -> np.ndarray:
        """The controls' columns of some rows, without forming every row's."""
        if self._controls is None:
            return self.coded.matrix(rows)
        return self._controls[rows]

    def control_means(self) -> np.ndarray:
        if self._controls is None:
            return self.coded.means()
        return self._controls.mean(axis=0)

    def _kept_controls(self):
        return self.coded if self._controls is None else self._controls

    def take(self, index: np.ndarray) -> "RowDesign":
        """The design of a subset of rows (same groups and predictors)."""
        controls = self.coded.take(index) if self._controls is None else self.controls[index]
        return RowDesign(
            controls=controls, Z=self.Z, group=self.group[index],
            treatment=self.treatment[index], outcome=self.outcome[index],
            weights=None if self.weights is None else self.weights[index],
        )  # fmt: skip

    def plus(self, other: "RowDesign") -> "RowDesign":
        """These rows followed by ``other``'s (same groups and predictors)."""
        weights = None if self.weights is None else np.concatenate([self.weights, other.weights])
        if self._controls is None and other._controls is None:
            controls = self.coded.plus(other.coded)
        else:
            controls = np.vstack([self.controls, other.controls])
        return RowDesign(
            controls=controls, Z=self.Z,
            group=np.concatenate([self.group, other.group]),
            treatment=np.vstack([self.treatment, other.treatment]),
            outcome=np.concatenate([self.outcome, other.outcome]), weights=weights,
        )  # fmt: skip

    def with_response(self, outcome: np.ndarray, weights: np.ndarray) -> "RowDesign":
        """The same rows with another outcome and row weights (a working response)."""
        return RowDesign(self._kept_controls(), self.Z, self.group, self.treatment, outcome,
                         weights)  # fmt: skip

    @property
    def n_rows(self) -> int:
        return self.group.shape[0]

    @property
    def n_effects(self) -> int:
        return self.treatment.shape[1]

    @property
    def layout(self) -> CoefficientLayout:
        return CoefficientLayout(self.n_controls, self.Z.shape[1], self.n_effects)

    @property
    def n_coef(self) -> int:
        return self.layout.size

    @cached_property
    def group_counts(self) -> np.ndarray:
        """Rows per group (float)."""
        return np.bincount(self.group, minlength=self.Z.shape[0]).astype(float)

    @cached_property
    def arm_patterns(self) -> int | None:
        """2^E when every treatment column is a 0/1 indicator (binary treatments and arms): then
        each row's ``v`` is one of 2^E patterns. None for doses (or too many columns)."""
        t = self.treatment
        if t.shape[1] > MAX_INDICATOR_COLUMNS or not ((t == 0.0) | (t == 1.0)).all():
            return None
        return 2 ** t.shape[1]

    @cached_property
    def treatment_sums(self) -> np.ndarray:
        """(G, E) sums of each treatment column per group."""
        G = self.Z.shape[0]
        return np.stack(
            [np.bincount(self.group, weights=t, minlength=G) for t in self.treatment.T], axis=1
        )

    @cached_property
    def treated_counts(self) -> np.ndarray:
        """(G, E) rows per group with a non-zero value of each treatment column."""
        G = self.Z.shape[0]
        return np.stack(
            [np.bincount(self.group, weights=t != 0, minlength=G) for t in self.treatment.T],
            axis=1,
        )

    def columns(self, rows: slice) -> np.ndarray:
        g = self.group[rows]
        t = self.treatment[rows]
        zg = self.Z[g]
        n, E = t.shape  # spelled out: reshape cannot infer -1 for an empty chunk of rows
        interactions = (t[:, :, None] * zg[:, None, :]).reshape(n, E * zg.shape[1])
        return np.hstack([self.control_rows(rows), zg, t, interactions])

    def column_means(self) -> np.ndarray:
        return self._column_means.copy()

    @cached_property
    def _column_means(self) -> np.ndarray:  # one pass over the rows, however often asked
        n = self.n_rows
        sums = self.treatment_sums
        return np.concatenate(
            [
                self.control_means(),
                self.group_counts @ self.Z / n,
                sums.sum(axis=0) / n,
                (sums.T @ self.Z).ravel() / n,
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


def spread_along(value, positions, size: int, axes=(0,), fill: float = 0.0) -> np.ndarray:
    """``value`` placed in a larger array: along each of ``axes``, its entry ``j`` goes to
    ``positions[j]`` of ``size``; every other entry is ``fill``."""
    value = np.asarray(value, dtype=np.float64)
    shape = list(value.shape)
    index = [np.arange(n) for n in value.shape]
    for axis in axes:
        shape[axis], index[axis] = size, np.asarray(positions)
    out = np.full(shape, fill)
    out[np.ix_(*index)] = value
    return out


def _global_moments(c: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict:
    """The controls' and outcome's (weighted) cross-products."""
    wc, wy = (c, y) if w is None else (c * w[:, None], y * w)
    return {"ctc": wc.T @ c, "cty": wc.T @ y, "yty": float(wy @ y)}


class GroupMoments(NamedTuple):
    """Per group, the moments of ``v = [1, t]`` with itself, the centred controls and the
    centred outcome; globally, the controls' and outcome's cross-products: everything
    the rows contribute.

    Sums over disjoint sets of rows (chunks, data partitions) add up with
    :meth:`plus`, so they can be computed wherever the rows live.
    """

    vv: np.ndarray  # (G, D, D)
    vc: np.ndarray  # (G, D, p), of the centred controls
    vy: np.ndarray  # (G, D), of the centred outcome
    ctc: np.ndarray  # (p, p)
    cty: np.ndarray  # (p,)
    yty: float

    @classmethod
    def of_rows(cls, design: "RowDesign", rows: slice, cbar, ybar: float) -> "GroupMoments":
        if _reads_codes(design):
            return cls._of_coded_cells(design, rows, cbar, ybar)
        if design.arm_patterns is not None:
            return cls._of_cells(design, rows, cbar, ybar)
        n_groups = design.Z.shape[0]
        group = design.group[rows]
        t = design.treatment[rows]
        v = np.hstack([np.ones((t.shape[0], 1)), t])
        c = design.control_rows(rows) - cbar
        y = design.outcome[rows] - ybar
        w = None if design.weights is None else design.weights[rows]
        n, D, p = v.shape[0], v.shape[1], c.shape[1]
        wv = v if w is None else v * w[:, None]
        # one weighted count per moment column: a loop over columns, never over rows; the
        # row count is spelled out, as -1 cannot be inferred when a block is empty (no
        # controls, or no rows)
        products = np.concatenate(
            [(wv[:, :, None] * v[:, None, :]).reshape(n, D * D),
             (wv[:, :, None] * c[:, None, :]).reshape(n, D * p), wv * y[:, None]], axis=1,
        )  # fmt: skip
        sums = np.stack(
            [np.bincount(group, weights=col, minlength=n_groups) for col in products.T], axis=1
        )
        return cls(
            vv=sums[:, : D * D].reshape(n_groups, D, D),
            vc=sums[:, D * D : D * D + D * p].reshape(n_groups, D, p),
            vy=sums[:, D * D + D * p :],
            **_global_moments(c, y, w),
        )

    @classmethod
    def _of_cells(cls, design: "RowDesign", rows: slice, cbar, ybar: float) -> "GroupMoments":
        """The same moments when ``v`` takes one of a few patterns (0/1 treatment columns):
        counts and sums per (group, pattern) cell, then ``v`` applied per cell. Fewer
        passes over the rows: one per control, plus the counts and the outcome."""
        n_groups, P = design.Z.shape[0], design.arm_patterns
        t = design.treatment[rows]
        E = t.shape[1]
        cell = design.group[rows] * P + (t @ (2 ** np.arange(E))).astype(np.int64)
        c = design.control_rows(rows) - cbar
        y = design.outcome[rows] - ybar
        w = None if design.weights is None else design.weights[rows]
        wc, wy = (c, y) if w is None else (c * w[:, None], y * w)
        n_cells = n_groups * P
        count = np.bincount(cell, weights=w, minlength=n_cells).astype(float).reshape(n_groups, P)
        sums = [np.bincount(cell, weights=wc[:, j], minlength=n_cells) for j in range(c.shape[1])]
        control_sums = np.stack(sums, -1) if sums else np.zeros((n_cells, 0))
        outcome_sums = np.bincount(cell, weights=wy, minlength=n_cells).reshape(n_groups, P)
        bits = (np.arange(P)[:, None] >> np.arange(E)[None, :]) & 1
        patterns = np.hstack([np.ones((P, 1)), bits])  # (P, D): v of each pattern
        return cls(
            vv=np.einsum("gp,pd,pe->gde", count, patterns, patterns),
            vc=np.einsum("pd,gpc->gdc", patterns, control_sums.reshape(n_groups, P, -1)),
            vy=outcome_sums @ patterns,
            **_global_moments(c, y, w),
        )

    @classmethod
    def _of_coded_cells(cls, design: "RowDesign", rows: slice, cbar, ybar: float
                        ) -> "GroupMoments":  # fmt: skip
        """:meth:`_of_cells` from the coded controls (:class:`.coded_controls.CodedControls`).

        The rows are counted per joint cell (group, pattern, and the category of every
        categorical control), and the numeric controls and the outcome summed there: one
        pass over the rows for the counts and one per numeric column. A categorical
        control's indicator columns are never formed: their sums and cross-products per
        cell are those counts, added up over the other categories, and their centring is
        applied to the sums (``sum (e - c) = sum e - n c``), exactly.
        """
        n_groups, P, coded = design.Z.shape[0], design.arm_patterns, design.coded
        t = design.treatment[rows]
        E = t.shape[1]
        n_cells = n_groups * P
        key = design.group[rows] * P
        if E == 1:  # the pattern is the 0/1 column itself, added in place
            np.add(key, t[:, 0], out=key, casting="unsafe")
        else:
            key += (t @ (2 ** np.arange(E))).astype(np.int64)
        levels = []
        for column in coded.columns:
            if column.n_categories:
                key *= column.n_categories
                key += column.values[rows]
                levels.append(column.n_categories)
        # the numeric controls and the outcome, centred, side by side (each column written
        # in one pass): their cross-products are one matrix product
        numeric = [(o, c) for o, c in zip(coded.offsets(), coded.columns, strict=True)
                   if not c.n_categories]  # fmt: skip
        m = len(numeric)
        u = np.empty((key.shape[0], m + 1), order="F")
        for i, (offset, column) in enumerate(numeric):
            np.subtract(column.values[rows], cbar[offset], out=u[:, i])
        np.subtract(design.outcome[rows], ybar, out=u[:, m])
        w = None if design.weights is None else design.weights[rows]
        wu = u if w is None else u * w[:, None]
        shape = (n_cells, *levels)
        size = int(np.prod(shape))
        count = np.bincount(key, weights=w, minlength=size).astype(float).reshape(shape)
        sums = [np.bincount(key, weights=wu[:, i], minlength=size).reshape(shape)
                for i in range(m + 1)]  # fmt: skip
        gram = wu.T @ u

        def kept(array, axes):  # summed over every other axis
            return array.sum(axis=tuple(a for a in range(array.ndim) if a not in axes))

        # per control column: its raw sums per cell, its total, its cross-products with
        # every column and the outcome, and the centre its moments are taken about
        p = coded.shape[1]
        per_cell, total = np.zeros((n_cells, p)), np.zeros(p)
        raw, with_y, centre = np.zeros((p, p)), np.zeros(p), np.zeros(p)
        places = []  # (columns, numeric index or categorical axis)
        i = axis = 0
        for offset, column in zip(coded.offsets(), coded.columns, strict=True):
            if column.n_categories:
                axis += 1
                places.append((slice(offset, offset + column.width), None, axis))
            else:
                places.append((slice(offset, offset + 1), i, None))
                i += 1
        for columns, index, axis in places:
            if index is not None:  # a numeric control, centred already
                per_cell[:, columns] = kept(sums[index], (0,))[:, None]
                total[columns] = sums[index].sum()
                with_y[columns] = gram[index, m]
                continue
            per_cell[:, columns] = kept(count, (0, axis))[:, 1:]
            total[columns] = kept(count, (axis,))[1:]
            with_y[columns] = kept(sums[m], (axis,))[1:]
            centre[columns] = cbar[columns]
        for a, (columns_a, index_a, axis_a) in enumerate(places):
            for columns_b, index_b, axis_b in places[a:]:
                if index_a is not None and index_b is not None:
                    block = np.array([[gram[index_a, index_b]]])
                elif index_a is not None:
                    block = kept(sums[index_a], (axis_b,))[None, 1:]
                elif index_b is not None:
                    block = kept(sums[index_b], (axis_a,))[1:, None]
                elif axis_a == axis_b:  # one categorical control: a row is in one category
                    block = np.diag(total[columns_a])
                else:
                    block = kept(count, (axis_a, axis_b))[1:, 1:]
                raw[columns_a, columns_b] = block
                raw[columns_b, columns_a] = block.T
        n, y_total = count.sum(), sums[m].sum()
        cell_count = kept(count, (0,))
        control_sums = per_cell - cell_count[:, None] * centre[None, :]
        ctc = raw - np.outer(centre, total) - np.outer(total, centre) + n * np.outer(centre, centre)
        bits = (np.arange(P)[:, None] >> np.arange(E)[None, :]) & 1
        patterns = np.hstack([np.ones((P, 1)), bits])  # (P, D): v of each pattern
        return cls(
            vv=np.einsum("gp,pd,pe->gde", cell_count.reshape(n_groups, P), patterns, patterns),
            vc=np.einsum("pd,gpc->gdc", patterns, control_sums.reshape(n_groups, P, p)),
            vy=kept(sums[m], (0,)).reshape(n_groups, P) @ patterns,
            ctc=ctc,
            cty=with_y - centre * y_total,
            yty=float(gram[m, m]),
        )

    def plus(self, other: "GroupMoments") -> "GroupMoments":
        return GroupMoments(*(a + b for a, b in zip(self, other, strict=True)))


#: Most joint cells (group, treatment pattern, categories of the categorical controls)
#: whose rows are counted in one table (8 MiB a table); beyond it the indicator columns
#: are formed, chunk by chunk.
JOINT_CELLS = 1 << 20


def _reads_codes(design: "RowDesign") -> bool:
    """Whether the moments come from the coded controls (:meth:`GroupMoments._of_coded_cells`):
    the controls are coded, the treatment columns 0/1, and the joint cells few enough."""
    if design.coded is None or design.arm_patterns is None:
        return False
    categories = [c.n_categories for c in design.coded.columns if c.n_categories]
    return design.Z.shape[0] * design.arm_patterns * float(np.prod(categories)) <= JOINT_CELLS


class PooledMoments(NamedTuple):
    """Group moments of some rows centred at those rows' own means, with their count.

    Pooled with another set's (:meth:`plus`), both are re-centred exactly at the
    pooled means (the parallel update of Chan, Golub and LeVeque), so partitions
    of the rows reduce, in any order, to the moments centred at the means of all
    rows: no pass over the rows is needed to find the means first.
    """

    moments: GroupMoments
    cbar: np.ndarray  # (p,) the controls' centre
    ybar: float
    n_rows: float

    @classmethod
    def of_rows(cls, design: "RowDesign") -> "PooledMoments":
        n = design.n_rows
        p = design.n_controls
        cbar = design.control_means() if n else np.zeros(p)
        ybar = float(design.outcome.mean()) if n else 0.0
        xbar = np.concatenate([cbar, np.zeros(design.n_coef - p)])
        return cls(group_moments(design, xbar=xbar, ybar=ybar), cbar, ybar, float(n))

    def recentred(self, cbar: np.ndarray, ybar: float) -> GroupMoments:
        """The same moments centred at ``cbar`` and ``ybar``: the sums of ``c - cbar`` are
        those of ``c - self.cbar`` plus the shift times the row counts."""
        m = self.moments
        d, e = self.cbar - cbar, self.ybar - ybar
        sum_v = m.vv[:, :, 0]  # (G, D): sum of v per group
        sum_c, sum_y = m.vc[:, 0, :].sum(axis=0), m.vy[:, 0].sum()
        n = sum_v[:, 0].sum()
        return GroupMoments(
            vv=m.vv,
            vc=m.vc + sum_v[:, :, None] * d[None, None, :],
            vy=m.vy + sum_v * e,
            ctc=m.ctc + np.outer(sum_c, d) + np.outer(d, sum_c) + n * np.outer(d, d),
            cty=m.cty + sum_c * e + d * sum_y + n * d * e,
            yty=m.yty + 2.0 * e * sum_y + n * e * e,
        )

    def plus(self, other: "PooledMoments") -> "PooledMoments":
        n = self.n_rows + other.n_rows
        if n == 0:
            return self
        cbar = (self.n_rows * self.cbar + other.n_rows * other.cbar) / n
        ybar = (self.n_rows * self.ybar + other.n_rows * other.ybar) / n
        moments = self.recentred(cbar, ybar).plus(other.recentred(cbar, ybar))
        return PooledMoments(moments, cbar, float(ybar), n)


class GaussianStatistics(NamedTuple):
    """Sufficient statistics of the Gaussian likelihood: per group (first axis G) and global.

    Everything is about the design centred at ``xbar`` (with a leading column
    of ones) and the outcome centred at ``ybar``; ``v = [1, t]`` is uncentred.
    Statistics of disjoint rows in the same centring add (:meth:`plus`) and
    subtract (:meth:`minus`).
    """

    vv: np.ndarray  # (G, D, D) sum of v v'  (D = 1 + effects)
    vx: np.ndarray  # (G, D, K) sum of v x'
    vy: np.ndarray  # (G, D) sum of v y
    xtx: np.ndarray  # (K, K)
    xty: np.ndarray  # (K,)
    yty: float
    n_rows: float
    xbar: np.ndarray  # (K - 1,) the centring of the design columns
    ybar: float

    PER_GROUP = ("vv", "vx", "vy")
    SUMMED = PER_GROUP + ("xtx", "xty", "yty", "n_rows")

    @property
    def n(self) -> np.ndarray:
        """(G,) rows per group."""
        return self.vv[:, 0, 0]

    def pad(self, n_groups: int) -> "GaussianStatistics":
        """Append empty groups (all statistics zero) up to ``n_groups``."""
        extra = n_groups - self.vv.shape[0]
        return self._replace(**{k: pad_rows(getattr(self, k), extra) for k in self.PER_GROUP})

    def in_wider_design(self, columns: np.ndarray, width: int) -> "GaussianStatistics":
        """The statistics of the same rows in a design of ``width`` columns whose column
        ``columns[j]`` is this design's column ``j`` (column 0, the constant, stays first)
        and whose other columns are zero: columns no row loads on."""
        columns = np.asarray(columns)
        return self._replace(
            vx=spread_along(self.vx, columns, width, axes=(2,)),
            xtx=spread_along(self.xtx, columns, width, axes=(0, 1)),
            xty=spread_along(self.xty, columns, width),
            xbar=spread_along(self.xbar, columns[1:] - 1, width - 1),
        )

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
    t: np.ndarray  # (n, E)
    g: np.ndarray
    y: np.ndarray  # centred outcome
    xbar: np.ndarray
    ybar: float


class ControlsFit(NamedTuple):
    """The pooled least-squares fit the data pin down: the controls' coefficients within
    groups, their standard errors and the residual sd (from the group moments)."""

    beta: np.ndarray  # (p,)
    beta_se: np.ndarray  # (p,)
    sigma: float
    n_rows: int
    #: the share of the outcome's (centred) sum of squares the fit leaves unexplained, and
    #: its degrees of freedom (rows less the groups' and the controls' ranks)
    residual_share: float
    residual_dof: int

    @property
    def usable(self) -> bool:
        """Finite throughout (degenerate controls give Stan's start instead)."""
        return bool(np.isfinite(self.beta).all() and np.isfinite(self.beta_se).all()
                    and np.isfinite(self.sigma))  # fmt: skip


class GroupStart(NamedTuple):
    """Least-squares estimates per group, (reference level, effects), and their standard errors."""

    estimate: np.ndarray  # (G, D)
    se: np.ndarray  # (G, D)
    unit_se: np.ndarray  # (G, D) the standard errors per unit of noise sd (inf: not estimable)


def _group_maps(Z: np.ndarray, n_controls: int, n_effects: int, xbar: np.ndarray) -> np.ndarray:
    """(G, K, D): each group's map from ``v = [1, t]`` to the varying part of its centred
    design row ``x - xbar`` (the controls enter separately).

    Column 0 (the constant) carries ``[1, 0, Z_g - zbar, -tbar, -tzbar]``; column
    1 + k (effect k) carries 1 at the treatment column k and ``Z_g`` at its
    interactions.
    """
    n_groups, q = Z.shape
    layout = CoefficientLayout(n_controls, q, n_effects)
    mean = layout.blocks(np.asarray(xbar))
    # the design's columns after the leading constant, in the coefficients' layout
    maps = np.zeros((n_groups, 1 + layout.size, 1 + n_effects))
    maps[:, 0, 0] = 1.0
    shifted = maps[:, 1:]
    shifted[:, layout.group, 0] = Z - mean.group
    shifted[:, layout.treatment, 0] = -mean.treatment
    shifted[:, layout.interactions, 0] = -mean.interactions.ravel()
    for k in range(n_effects):
        shifted[:, layout.effect(k), 1 + k] = 1.0
        shifted[:, layout.interactions_of(k), 1 + k] = Z
    return maps


class GroupRegression(NamedTuple):
    """The nested structure's group-level regression, as the Gaussian marginal model uses it.

    Each group's ``theta_g`` (its intercept at ``v = [1, t] = [1, 0]`` and its effects, the
    weights of ``v``) is the group-level regression ``(I_D kron zt_g') a`` plus the
    group's offset, ``zt_g = [1, Z_g]``: row ``d`` of ``a`` (``1 + q`` numbers) holds
    term ``d``'s intercept and its group-level slopes. ``a`` is the centred design's
    group-level weights ``w`` (every weight but the controls'), re-expressed:
    ``w_group = to_w @ a``, a unit-triangular map (the centring moves only the intercept).
    Depends on the design alone, not on the rows, so training folds share it.
    """

    zt: np.ndarray  # (G, 1 + q)
    to_w: np.ndarray  # (D (1 + q), D (1 + q))

    def pad(self, n_groups: int) -> "GroupRegression":
        # a padding group has no rows: whatever its predictors, it adds nothing
        return self._replace(zt=pad_rows(self.zt, n_groups - self.zt.shape[0]))


def group_regression(Z: np.ndarray, n_controls: int, n_effects: int, xbar) -> GroupRegression:
    """The :class:`GroupRegression` of a design whose columns are laid out as in
    :func:`_group_maps` (``[controls, Z, t, t (x) Z]``, centred at ``xbar``)."""
    n_groups, q = Z.shape
    E = n_effects
    mean = CoefficientLayout(n_controls, q, E).blocks(np.asarray(xbar))
    zbar, tbar, tzbar = mean.group, mean.treatment, mean.interactions.ravel()
    width = 1 + q
    size = (1 + E) * width
    # w_group = [intercept, Z, t, t (x) Z]; a = [(intercept, Z), (t_1, t_1 Z), ...]
    to_w = np.zeros((size, size))
    to_w[0, 0] = 1.0
    to_w[1:width, 1:width] = np.eye(q)
    to_w[0, 1:width] = zbar  # theta_g0 = intercept + (Z_g - zbar) w_Z - tbar w_t - tzbar w_tz
    for k in range(E):
        a_slope = (1 + k) * width
        to_w[width + k, a_slope] = 1.0
        to_w[0, a_slope] = tbar[k]
        rows = slice(width + E + k * q, width + E + (k + 1) * q)
        to_w[rows, a_slope + 1 : a_slope + width] = np.eye(q)
        to_w[0, a_slope + 1 : a_slope + width] = tzbar[k * q : (k + 1) * q]
    zt = np.concatenate([np.ones((n_groups, 1)), Z], axis=1)
    return GroupRegression(zt=zt, to_w=to_w)


def statistics_from_moments(
    moments: GroupMoments, Z: np.ndarray, xbar: np.ndarray, ybar: float
) -> GaussianStatistics:
    """Gaussian statistics from the group moments: every design column is linear in
    ``v = [1, t]`` (with group-constant coefficients) and the controls, so it enters exactly.
    ``xbar`` is the design's centring (its first columns the controls' centring of the
    moments)."""
    p, D = moments.ctc.shape[0], moments.vv.shape[-1]
    maps = _group_maps(Z, p, D - 1, xbar)
    controls = slice(1, 1 + p)
    vx = np.einsum("gde,gke->gdk", moments.vv, maps)
    vx[:, :, controls] += moments.vc
    xtx = np.einsum("gkd,gde,gle->kl", maps, moments.vv, maps)
    cross = np.einsum("gkd,gdp->kp", maps, moments.vc)
    xtx[:, controls] += cross
    xtx[controls, :] += cross.T
    xtx[controls, controls] += moments.ctc
    xty = np.einsum("gkd,gd->k", maps, moments.vy)
    xty[controls] += moments.cty
    return GaussianStatistics(
        vv=moments.vv, vx=vx, vy=moments.vy, xtx=xtx, xty=xty, yty=moments.yty,
        n_rows=float(moments.vv[:, 0, 0].sum()), xbar=np.asarray(xbar, dtype=float),
        ybar=float(ybar),
    )  # fmt: skip


def design_means(moments: GroupMoments, Z: np.ndarray, cbar: np.ndarray) -> np.ndarray:
    """The means of the design columns ``[controls, Z_g, t, t (x) Z_g]`` over the rows of
    unweighted moments centred at the controls' means ``cbar``."""
    counts, sums = moments.vv[:, 0, 0], moments.vv[:, 0, 1:]
    n = counts.sum()
    return np.concatenate([cbar, counts @ Z / n, sums.sum(axis=0) / n, (sums.T @ Z).ravel() / n])


def group_moments(design: "RowDesign", *, xbar, ybar: float, chunk_rows: int | None = None):
    """:class:`GroupMoments` of all rows, accumulated in chunks (bounds the extra memory)."""
    cbar = np.asarray(xbar)[design.layout.controls]
    D = 1 + design.n_effects
    # the control columns a chunk's rows are expanded to: read as codes, categories are
    # never expanded, so only the numeric columns count
    p = design.n_controls
    if _reads_codes(design):
        p = sum(not c.n_categories for c in design.coded.columns)
    chunk_rows = chunk_rows or min(CHUNK_ROWS, max(1, CHUNK_VALUES // (D * (D + p + 1))))
    starts = range(0, max(design.n_rows, 1), chunk_rows)

    def of_chunk(start: int) -> GroupMoments:
        return GroupMoments.of_rows(design, slice(start, start + chunk_rows), cbar, ybar)

    workers = min(len(starts), usable_cpus())
    if workers < 2:
        parts = map(of_chunk, starts)
    else:
        # chunks side by side: their counts hold the GIL, but their arithmetic (keys,
        # centring, cross-products) does not, and overlaps another chunk's counts
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(of_chunk, starts))
    total = None
    for part in parts:  # added in the rows' order whatever the threads: the same sums
        total = part if total is None else total.plus(part)
    return total


def gaussian_statistics(
    design: "RowDesign", *, chunk_rows: int | None = None, centre: tuple | None = None
) -> tuple[GaussianStatistics, ControlsFit, GroupStart]:
    """Sufficient statistics of the Gaussian varying-slopes likelihood, with the pooled
    least-squares fit and the groups' own estimates (what warm-up starts from).

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
    moments = group_moments(design, xbar=xbar, ybar=ybar, chunk_rows=chunk_rows)
    stats = statistics_from_moments(moments, design.Z, xbar, ybar)
    controls_fit, group_start = least_squares_fit(moments, n_rows=design.n_rows, ybar=ybar)
    return stats, controls_fit, group_start


def _group_inverses(vv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the pseudo-inverse of ``B_g = sum v v'`` and whether ``B_g`` is of full
    rank (every effect estimable from the group's own rows)."""
    D = vv.shape[-1]
    scale = np.maximum(np.einsum("gdd->g", vv), 1e-300)[:, None, None]
    full = np.linalg.matrix_rank(vv / scale, tol=1e-10) == D
    return np.linalg.pinv(vv, hermitian=True), full


def least_squares_fit(
    moments: GroupMoments, *, n_rows: int, ybar: float
) -> tuple[ControlsFit, GroupStart]:
    """The least-squares fit with one intercept and slope per group and effect (the
    fixed-effects regression), from the group moments: the controls' coefficients within
    groups with their standard errors, the residual sd, and each group's own estimates
    (level at the reference, the effects) with theirs. The model-input stage starts
    warm-up from them and chooses the sampler's geometry with them."""
    vv, vc, vy = moments.vv, moments.vc, moments.vy
    ctc, cty, yty = moments.ctc, moments.cty, moments.yty
    p = ctc.shape[0]
    inverse, full = _group_inverses(vv)
    # the controls' regression within groups: project each group's v-span out
    within_ctc = ctc - np.einsum("gdp,gde,geq->pq", vc, inverse, vc)
    within_cty = cty - np.einsum("gdp,gde,ge->p", vc, inverse, vy)
    within_yty = yty - float(np.einsum("gd,gde,ge->", vy, inverse, vy))
    beta = np.linalg.lstsq(within_ctc, within_cty, rcond=None)[0] if p else np.zeros(0)
    unexplained = np.diag(np.linalg.pinv(within_ctc)) if p else np.zeros(0)
    rank = int(np.linalg.matrix_rank(vv[vv[:, 0, 0] > 0], tol=1e-10).sum()) if len(vv) else 0
    dof = max(n_rows - rank - p, 1)
    residual = within_yty - float(beta @ within_cty)
    sigma = np.sqrt(max(residual, 1e-12) / dof)
    control_rank = int(np.linalg.matrix_rank(within_ctc)) if p else 0
    # a (near) exact fit would start sigma at ~0, where the Gaussian is degenerate:
    # start no lower than a thousandth of the outcome's sd (of 1 for a constant outcome)
    sigma = max(sigma, 1e-3 * (np.sqrt(yty / n_rows) if yty > 0 else 1.0))
    beta_se = sigma * np.sqrt(np.clip(unexplained, 0.0, None))
    estimate = np.einsum("gde,ge->gd", inverse, vy - vc @ beta)
    estimate[:, 0] += ybar
    unit_se = np.sqrt(np.clip(np.einsum("gdd->gd", inverse), 0.0, None))
    group_start = GroupStart(
        estimate=np.where(full[:, None], estimate, 0.0),
        se=np.where(full[:, None], sigma * unit_se, 1.0),
        unit_se=np.where(full[:, None], unit_se, np.inf),
    )
    fit = ControlsFit(
        beta, beta_se, float(sigma), int(n_rows),
        residual_share=max(residual, 0.0) / yty if yty > 0 else 0.0,
        residual_dof=int(n_rows - rank - control_rank),
    )  # fmt: skip
    return fit, group_start


def gaussian_row_data(design: "RowDesign") -> GaussianRows:
    """The same model's data row by row (for checking the reduction; O(N) per gradient)."""
    xbar = design.column_means()
    ybar = float(design.outcome.mean())
    x = np.hstack([np.ones((design.n_rows, 1)), design.columns(slice(None)) - xbar])
    return GaussianRows(
        x=x,
        t=design.treatment,
        g=design.group.astype(np.int32),
        y=design.outcome - ybar,
        xbar=xbar,
        ybar=ybar,
    )
