"""Outcome families: their checks, exact data reductions, likelihoods and response scales.

Every family shares the linear predictor
``eta = Intercept + (x - xbar) . b + u0[g] + sum_k u_k[g] * t_k`` (one slope per
treatment column). Rows with identical
predictors (group, treatment, controls) are collapsed into cells before
sampling; for these likelihoods the collapse is exact:

- bernoulli/binomial (logit link): a cell's successes are binomial with the
  cell's total trials;
- poisson (log link, optional exposure): a cell's total count is Poisson with
  rate ``sum(exposure) * exp(eta)``;
- ordinal (cumulative logit): a cell's category counts are multinomial.

Each differs from the sum of row log-likelihoods by a constant, so the
posterior is unchanged. The Gaussian family uses the sufficient statistics of
:mod:`sklearn_hier._statistics` instead.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.distributions.transforms import OrderedTransform
from scipy.special import expit

from ._spec import Priors

FAMILIES = ("gaussian", "bernoulli", "binomial", "poisson", "ordinal")
LINKS = {
    "gaussian": "identity",
    "bernoulli": "logit",
    "binomial": "logit",
    "poisson": "log",
    "ordinal": "cumulative logit",
}
RESPONSE_SCALE = {
    "gaussian": "outcome",
    "bernoulli": "probability",
    "binomial": "probability of success per trial",
    "poisson": "expected count",
    "ordinal": "expected category",
}


# ------------------------------------------------------------------ checks
def check_outcome(family: str, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
    """Outcome values in the family's support, or a clear error."""
    if family == "gaussian":
        return y
    integer = np.all(np.equal(np.mod(y, 1), 0))
    if family == "bernoulli":
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(
                f"family='bernoulli' needs y coded 0/1; found values {sorted(np.unique(y))[:6]}. "
                "For counts of successes out of several trials use family='binomial'."
            )
    elif family == "binomial":
        if not integer or (y < 0).any() or (y > trials).any():
            raise ValueError(
                "family='binomial' needs y to be whole numbers of successes between 0 and "
                "the number of trials of each row."
            )
    elif family == "poisson":
        if not integer or (y < 0).any():
            bad = y[(y < 0) | (np.mod(y, 1) != 0)][:3]
            raise ValueError(
                f"family='poisson' needs y to be non-negative whole-number counts; found {bad}."
            )
    return y


def ordinal_levels(y) -> tuple[np.ndarray, list]:
    """Category codes 0..K-1 and the ordered categories of an ordinal outcome."""
    if isinstance(y, pd.Categorical):
        y = pd.Series(y)
    series = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y.to_numpy())
    if isinstance(y, pd.Series) and isinstance(y.dtype, pd.CategoricalDtype):
        if not y.cat.ordered:
            raise ValueError(
                "family='ordinal' needs an ordered categorical y (or numbers); y is an "
                "unordered categorical. Use y.cat.as_ordered() or pd.Categorical(y, "
                "categories=[lowest, ..., highest], ordered=True)."
            )
        if (y.cat.codes < 0).any():
            raise ValueError("y has missing values; drop those rows before fitting.")
        categories = [c for c in y.cat.categories if c in set(y.unique().tolist())]
        codes = np.searchsorted(
            np.arange(len(y.cat.categories))[
                [k for k, c in enumerate(y.cat.categories) if c in set(categories)]
            ],
            y.cat.codes.to_numpy(),
        )
    else:
        values = pd.to_numeric(series, errors="coerce")
        if values.isna().any():
            raise ValueError(
                "family='ordinal' needs y to be numbers (e.g. a 1-5 scale) or an ordered "
                "categorical; found text. Use pd.Categorical(y, categories=[...], ordered=True)."
            )
        categories = sorted(values.unique().tolist())
        codes = np.searchsorted(np.asarray(categories), values.to_numpy())
    if len(categories) < 3:
        raise ValueError(
            f"family='ordinal' needs at least 3 ordered categories; y has {len(categories)}. "
            "Use family='bernoulli' for a binary outcome."
        )
    return codes.astype(np.int64), categories


# --------------------------------------------------------------- reduction
class FamilyCells(NamedTuple):
    """Rows (or cells of identical rows) of a non-Gaussian family: the centred design
    ``x``, group ``g``, treatment columns ``t`` (cells, E), and the family's outcome columns
    (the others None).
    """

    x: np.ndarray
    g: np.ndarray
    t: np.ndarray
    successes: np.ndarray | None = None  # bernoulli, binomial
    trials: np.ndarray | None = None
    total: np.ndarray | None = None  # poisson: total count, total exposure
    exposure: np.ndarray | None = None
    counts: np.ndarray | None = None  # ordinal: (cells, categories)
    mask: np.ndarray | None = None  # 1 for real cells, 0 for padding (None: no padding)

    def pad(self, n_cells: int) -> "FamilyCells":
        """Append empty cells up to ``n_cells`` so that data sets with a few cells fewer
        (cross-validation folds, grid points) reuse the compiled sampler. The padding
        cells hold valid values (one trial, unit exposure, no events) and are masked out
        of the likelihood, so they change neither its value nor its gradient."""
        extra = n_cells - self.x.shape[0]
        if extra <= 0:
            return self

        def grow(value, fill):
            if value is None:
                return None
            value = np.asarray(value)
            return np.concatenate([value, np.full((extra,) + value.shape[1:], fill, value.dtype)])

        mask = np.ones(self.x.shape[0]) if self.mask is None else self.mask
        return FamilyCells(
            x=grow(self.x, 0.0), g=grow(self.g, 0), t=grow(self.t, 0.0),
            successes=grow(self.successes, 0.0), trials=grow(self.trials, 1.0),
            total=grow(self.total, 0.0), exposure=grow(self.exposure, 1.0),
            counts=grow(self.counts, 0.0), mask=grow(mask, 0.0),
        )  # fmt: skip


def padded_cell_count(n_cells: int) -> int:
    """Cells rounded up to a coarse grid (steps of an eighth of the power of two below,
    at least 64): at most about 12% padding, and nearby sizes share a compiled sampler."""
    step = max(64, 2 ** max(int(np.log2(max(n_cells, 1))) - 3, 0))
    return -(-n_cells // step) * step


def collapse_cells(
    x: np.ndarray, group: np.ndarray, treatment: np.ndarray, columns: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Sum ``columns`` over rows with identical (group, treatment, x).

    Returns the cells' x, group, treatment and summed columns (each (cells, ...)).
    """
    key = np.column_stack([group, treatment, x])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    n_cells = first.size
    summed = {}
    for name, values in columns.items():
        values = np.asarray(values, float)
        if values.ndim == 1:
            summed[name] = np.bincount(inverse, weights=values, minlength=n_cells)
        else:
            summed[name] = np.stack(
                [np.bincount(inverse, weights=values[:, k], minlength=n_cells)
                 for k in range(values.shape[1])],
                axis=1,
            )  # fmt: skip
    return x[first], group[first], treatment[first], summed


def family_data(
    family: str,
    x: np.ndarray,
    group: np.ndarray,
    treatment: np.ndarray,
    y: np.ndarray,
    *,
    trials: np.ndarray | None,
    exposure: np.ndarray | None,
    n_categories: int,
    collapse: bool,
) -> "FamilyCells":
    """Arrays the likelihood needs, collapsed into cells when ``collapse``."""
    n = y.shape[0]
    if family in ("bernoulli", "binomial"):
        columns = {"successes": y, "trials": np.ones(n) if trials is None else trials}
    elif family == "poisson":
        columns = {"total": y, "exposure": np.ones(n) if exposure is None else exposure}
    else:  # ordinal
        columns = {"counts": np.eye(n_categories)[y.astype(np.int64)]}
    if collapse:
        x, group, treatment, columns = collapse_cells(x, group, treatment, columns)
    return FamilyCells(x=x, g=group.astype(np.int32), t=treatment, **columns)


# -------------------------------------------------------------- likelihood
def family_likelihood(
    family: str, data: FamilyCells, eta, priors: Priors, n_categories: int
) -> None:
    """Add the family's log-likelihood of the (collapsed) data given eta.

    Padding cells (``mask`` 0) are masked out of the binomial and Poisson terms; they
    hold no counts, so the ordinal term has none from them either.
    """
    real = True if data.mask is None else data.mask > 0
    if family in ("bernoulli", "binomial"):
        likelihood = dist.BinomialLogits(logits=eta, total_count=data.trials)
        numpyro.sample("y", likelihood.mask(real), obs=data.successes)
    elif family == "poisson":
        likelihood = dist.Poisson(jnp.exp(eta) * data.exposure)
        numpyro.sample("y", likelihood.mask(real), obs=data.total)
    elif family == "ordinal":
        cutpoints = numpyro.sample(
            "cutpoints",
            dist.TransformedDistribution(
                dist.Normal(0.0, priors.cutpoint).expand([n_categories - 1]).to_event(1),
                OrderedTransform(),
            ),
        )
        log_probs = jnp.log(jnp.clip(dist.OrderedLogistic(eta, cutpoints).probs, 1e-300, None))
        numpyro.factor("loglik", jnp.sum(data.counts * log_probs))
    else:
        raise ValueError(f"unknown family {family!r}")


# ---------------------------------------------------------- response scale
def ordinal_probs(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """P(y = k) for eta (draws, n) and cutpoints (draws, K-1): shape (draws, n, K)."""
    above = expit(eta[..., None] - cutpoints[:, None, :])  # P(y > k) for k < K-1
    ones = np.ones(above.shape[:-1] + (1,))
    zeros = np.zeros_like(ones)
    exceed = np.concatenate([ones, above, zeros], axis=-1)  # P(y >= k), k = 0..K
    return exceed[..., :-1] - exceed[..., 1:]


def response_mean(
    family: str,
    eta: np.ndarray,
    *,
    exposure: np.ndarray | None = None,
    cutpoints: np.ndarray | None = None,
    category_values: np.ndarray | None = None,
    exceed_index: int | None = None,
) -> np.ndarray:
    """Expected outcome on the response scale for linear predictors ``eta`` (draws, n)."""
    if family == "gaussian":
        return eta
    if family in ("bernoulli", "binomial"):
        return expit(eta)
    if family == "poisson":
        rate = np.exp(eta)
        return rate if exposure is None else rate * exposure
    probs = ordinal_probs(eta, cutpoints)
    if exceed_index is not None:
        return probs[..., exceed_index:].sum(axis=-1)
    return probs @ category_values
