"""Exact data reductions: what the Gaussian likelihood needs from the rows.

With group-varying intercepts ``u0[g]`` and slopes ``u1[g]`` and population
coefficients ``w`` on the (centred) row design ``x``, the residual sum of
squares is a quadratic form whose coefficients are per-group sums

    n_g, m_g = sum t, sx_g = sum x, sxt_g = sum t x, sy_g = sum y, syt_g = sum t y

and the global cross-products ``x'x``, ``x'y`` and ``y'y``. These are computed
in one chunked pass, so the sampler's cost per gradient is
O(groups x columns + columns^2) whatever the number of rows.
"""

from dataclasses import dataclass

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

    def columns(self, rows: slice) -> np.ndarray:
        g = self.group[rows]
        t = self.treatment[rows][:, None]
        zg = self.Z[g]
        return np.hstack([self.controls[rows], zg, t, t * zg])

    def column_means(self) -> np.ndarray:
        n = self.n_rows
        counts = np.bincount(self.group, minlength=self.Z.shape[0]).astype(float)
        treated = np.bincount(self.group, weights=self.treatment, minlength=self.Z.shape[0])
        return np.concatenate(
            [
                self.controls.mean(axis=0),
                counts @ self.Z / n,
                [treated.sum() / n],
                treated @ self.Z / n,
            ]
        )


def gaussian_cell_statistics(design: RowDesign, *, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Sufficient statistics of the Gaussian varying-slopes likelihood.

    The design columns are centred at their means (as brms does, so the
    intercept is the expected outcome at the average row) and a leading column
    of ones is added; the outcome is centred at its mean. Everything is float64.
    """
    n_groups = design.Z.shape[0]
    xbar = design.column_means()
    ybar = float(design.outcome.mean())
    n_cols = xbar.size + 1
    stats = {
        "n": np.bincount(design.group, minlength=n_groups).astype(float),
        "m": np.bincount(design.group, weights=design.treatment, minlength=n_groups),
        "sx": np.zeros((n_groups, n_cols)),
        "sxt": np.zeros((n_groups, n_cols)),
        "sy": np.zeros(n_groups),
        "syt": np.zeros(n_groups),
        "xtx": np.zeros((n_cols, n_cols)),
        "xty": np.zeros(n_cols),
        "yty": 0.0,
    }
    for start in range(0, design.n_rows, chunk_rows):
        rows = slice(start, start + chunk_rows)
        g = design.group[rows]
        t = design.treatment[rows]
        y = design.outcome[rows] - ybar
        x = np.empty((g.size, n_cols))
        x[:, 0] = 1.0
        x[:, 1:] = design.columns(rows) - xbar
        for j in range(n_cols):
            stats["sx"][:, j] += np.bincount(g, weights=x[:, j], minlength=n_groups)
            stats["sxt"][:, j] += np.bincount(g, weights=x[:, j] * t, minlength=n_groups)
        stats["sy"] += np.bincount(g, weights=y, minlength=n_groups)
        stats["syt"] += np.bincount(g, weights=y * t, minlength=n_groups)
        stats["xtx"] += x.T @ x
        stats["xty"] += x.T @ y
        stats["yty"] += float(y @ y)
    stats["n_rows"] = float(design.n_rows)
    stats["xbar"] = xbar
    stats["ybar"] = ybar
    return stats


#: Group counts are padded up to a multiple of this, so that refits whose
#: training folds miss a few small groups still reuse the compiled sampler.
GROUP_PADDING = 16


def padded_group_count(n_groups: int) -> int:
    return -(-n_groups // GROUP_PADDING) * GROUP_PADDING


def pad_groups(data: dict, n_groups: int, n_padded: int) -> dict:
    """Append empty groups (all statistics zero) up to ``n_padded``.

    An empty group adds nothing to the likelihood: its offsets are drawn from
    the prior alone and are dropped from every output.
    """
    extra = n_padded - n_groups
    if extra == 0:
        return data
    padded = dict(data)
    for key in ("n", "m", "sx", "sxt", "sy", "syt", "level_codes", "centered", "Z"):
        if key in data:
            value = np.asarray(data[key])
            filler = np.zeros((extra,) + value.shape[1:], dtype=value.dtype)
            padded[key] = np.concatenate([value, filler])
    return padded


def gaussian_row_data(design: RowDesign) -> dict:
    """The same model's data row by row (for checking the reduction; O(N) per gradient)."""
    xbar = design.column_means()
    ybar = float(design.outcome.mean())
    x = np.hstack([np.ones((design.n_rows, 1)), design.columns(slice(None)) - xbar])
    return {
        "x": x,
        "t": design.treatment.astype(float),
        "g": design.group.astype(np.int32),
        "y": design.outcome - ybar,
        "xbar": xbar,
        "ybar": ybar,
    }
