"""Outcome families: one class per family owns everything that differs between them.

Every family shares the linear predictor
``eta = Intercept + (x - xbar) . b + u0[g] + sum_k u_k[g] * t_k`` (one slope per
treatment column). A :class:`Family` says how the outcome is checked and coded,
how rows reduce before sampling, its likelihood in NumPyro (for the sampler) and in
NumPy (for the Laplace approximation's expansion and per-row log-likelihoods), its
link and response mean, how to simulate it, and which paths it supports. Nothing
outside this module compares family names: it asks the family (:func:`family_of`).

How rows reduce, per family (each differs from the sum of row log-likelihoods by a
constant, so the posterior is unchanged):

- gaussian: the sufficient statistics of :mod:`sklearn_hier._data.sufficient_statistics`;
- bernoulli/binomial (logit link): a cell's successes are binomial with the cell's
  total trials;
- poisson (log link, optional exposure): a cell's total count is Poisson with rate
  ``sum(exposure) * exp(eta)``;
- ordinal (cumulative logit): a cell's category counts are multinomial;
- student and negbinomial: no summary of the outcome within a cell is sufficient (the
  scale and degrees of freedom, the shape, depend on every value), so rows collapse
  only when they are identical, outcome included, into one row with a count.
"""

from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.distributions.transforms import OrderedTransform
from scipy.special import expit, gammaln

#: brms's default prior of the Student-t degrees of freedom, ``gamma(2, 0.1)``,
#: truncated below at 1 as brms does.
STUDENT_NU_PRIOR = (2.0, 0.1)
#: brms's default prior of the negative binomial's shape, ``gamma(0.01, 0.01)``.
NEGBINOMIAL_SHAPE_PRIOR = (0.01, 0.01)


class GammaAboveOne(dist.Distribution):
    """A gamma(concentration, rate) distribution truncated below at 1: brms's prior of the
    Student-t degrees of freedom. NumPyro's truncated gamma is recent; this one is exact:
    its density is the gamma's renormalised above 1, and its draws take the first of 16
    gamma draws at or above 1 (for gamma(2, 0.1) each falls below with probability 0.005,
    so all 16 do with probability 1e-37)."""

    support = dist.constraints.greater_than(1.0)
    _TRIES = 16

    def __init__(self, concentration, rate, *, validate_args=None):
        self.base = dist.Gamma(concentration, rate)
        super().__init__(batch_shape=self.base.batch_shape, validate_args=validate_args)

    def log_prob(self, value):
        # P(X >= 1) = Q(concentration, rate), the regularised upper incomplete gamma
        above = jax.scipy.special.gammaincc(self.base.concentration, self.base.rate)
        return self.base.log_prob(value) - jnp.log(above)

    def sample(self, key, sample_shape=()):
        draws = self.base.sample(key, (self._TRIES,) + tuple(sample_shape))
        first = jnp.argmax(draws >= 1.0, axis=0)
        return jnp.maximum(jnp.take_along_axis(draws, first[None], axis=0)[0], 1.0)


# --------------------------------------------------------------- reduction
class FamilyCells(NamedTuple):
    """Rows (or cells of identical rows) of a family sampled from its cells: the centred
    design ``x``, group ``g``, treatment columns ``t`` (cells, E), and the family's
    outcome columns (the others None).
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
    y: np.ndarray | None = None  # student, negbinomial: each distinct row's outcome ...
    weight: np.ndarray | None = None  # ... and how many rows it stands for

    def pad(self, n_cells: int) -> "FamilyCells":
        """Append empty cells up to ``n_cells`` so that data sets with a few cells fewer
        (cross-validation folds, grid points) reuse the compiled sampler. The padding
        cells hold valid values (one trial, unit exposure, no events, weight 0) and are
        masked out of the likelihood, so they change neither its value nor its gradient."""
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
            counts=grow(self.counts, 0.0), mask=grow(mask, 0.0), y=grow(self.y, 0.0),
            weight=grow(self.weight, 0.0),
        )  # fmt: skip


def padded_cell_count(n_cells: int) -> int:
    """Cells rounded up to a coarse grid (steps of an eighth of the power of two below,
    at least 64): at most about 12% padding, and nearby sizes share a compiled sampler."""
    step = max(64, 2 ** max(int(np.log2(max(n_cells, 1))) - 3, 0))
    return -(-n_cells // step) * step


def collapse_cells(
    x: np.ndarray, group: np.ndarray, treatment: np.ndarray, columns: dict[str, np.ndarray],
    key_extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:  # fmt: skip
    """Sum ``columns`` over rows with identical (group, treatment, x) and ``key_extra``.

    Returns the cells' x, group, treatment, summed columns (each (cells, ...)) and the
    index of each cell's first row.
    """
    parts = [group, treatment, x] + ([] if key_extra is None else [key_extra])
    key = np.column_stack(parts)
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
    return x[first], group[first], treatment[first], summed, first


# ------------------------------------------------------------------ family
class Family:
    """What one outcome family is. Subclasses set the class attributes and override the
    methods their likelihood needs; instances hold no state (see :func:`family_of`)."""

    name: ClassVar[str]
    link: ClassVar[str] = "identity"
    response_scale: ClassVar[str] = "outcome"
    #: The likelihood reduces to the Gaussian sufficient statistics (and the variance
    #: parameters can be sampled with the coefficients integrated out).
    sufficient_statistics: ClassVar[bool] = False
    #: The Laplace approximation of :mod:`._approximation` applies (known-scale
    #: likelihoods whose IRLS weights it uses).
    approximable: ClassVar[bool] = False
    #: The outcome is ordered categories (their codes are the model's outcome).
    categorical_outcome: ClassVar[bool] = False
    #: Whether rows take ``trials`` (binomial) or ``exposure`` (counts).
    takes_trials: ClassVar[bool] = False
    takes_exposure: ClassVar[bool] = False
    #: Whether the model has a population intercept (the ordinal cutpoints replace it).
    has_intercept: ClassVar[bool] = True
    #: Only events count as information (counts); else events and non-events.
    events_only: ClassVar[bool] = False
    #: The likelihood has a noise scale (sigma) that an outcome reproduced exactly by the
    #: groups and controls sends to 0 without bound: every row's density grows like
    #: 1 / sigma, faster than any prior on sigma falls, so that posterior is improper.
    improper_at_exact_fit: ClassVar[bool] = False
    #: Parameters of the likelihood beyond eta, as named in ``idata_`` (their draws are
    #: what :meth:`response_mean` and :meth:`row_loglik` take as ``params``).
    extra_parameters: ClassVar[tuple] = ()
    #: Where the reduction cannot summarise the outcome: the fast path the docs name.
    note: ClassVar[str] = ""

    @property
    def identity_link(self) -> bool:
        """Effects on the response scale are effects on the link scale."""
        return self.link == "identity"

    # ---------------------------------------------------------- the outcome
    def check_outcome(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        """Outcome values in the family's support, or a clear error."""
        return y

    def code_outcome(self, y, n_rows: int, trials) -> tuple[np.ndarray, list | None]:
        """The outcome as the model codes it (float), and the ordered categories of a
        categorical outcome (else None). ``y`` is already checked for shape and numbers
        by the caller, except for categorical outcomes (see :meth:`Ordinal.code_outcome`)."""
        return self.check_outcome(y, trials), None

    def prior_rows(self, priors) -> list:
        """Rows of the prior table (``prior_scales_``) for :attr:`extra_parameters`:
        ``(parameter, None, prior, scale)``."""
        return []

    def parameter_priors(self, priors, n_categories: int = 0) -> dict:
        """The priors of :attr:`extra_parameters` (NumPyro distributions): the one
        definition that the likelihood samples from and the log prior density reads."""
        return {}

    # ------------------------------------------------------------ reduction
    def cells(self, x, group, treatment, y, *, trials=None, exposure=None,
              n_categories: int = 0, collapse: bool = True) -> FamilyCells:  # fmt: skip
        """Arrays the likelihood needs, collapsed into cells when ``collapse``."""
        columns = self.cell_columns(y, trials, exposure, n_categories)
        if collapse:
            x, group, treatment, columns, _ = collapse_cells(x, group, treatment, columns)
        return FamilyCells(x=x, g=group.astype(np.int32), t=treatment, **columns)

    def cell_columns(self, y, trials, exposure, n_categories) -> dict:
        raise NotImplementedError(f"family {self.name!r} is not sampled from cells")

    def join_cells(self, a: FamilyCells, b: FamilyCells) -> FamilyCells:
        """The cells of both row sets (each from :meth:`cells`), equal cells merged: how
        the reductions of two partitions add."""
        names = [f for f in ("successes", "trials", "total", "exposure", "counts")
                 if getattr(a, f) is not None]  # fmt: skip
        x, g, t, summed, _ = collapse_cells(
            np.vstack([a.x, b.x]),
            np.concatenate([a.g, b.g]),
            np.vstack([a.t, b.t]),
            {name: np.concatenate([getattr(a, name), getattr(b, name)]) for name in names},
        )
        return FamilyCells(x=x, g=g.astype(np.int32), t=t, **summed)

    # ----------------------------------------------------------- likelihood
    def likelihood(self, data: FamilyCells, eta, priors, n_categories: int) -> None:
        """Add the family's log-likelihood of the (collapsed) data given eta to the
        NumPyro model (with any parameters of its own)."""
        raise NotImplementedError(f"family {self.name!r} has its own likelihood path")

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        """Exact log-likelihood of each row at ``eta`` (..., n), normalised (a density of
        ``y``), in NumPy; ``params`` holds the draws of :attr:`extra_parameters` with a
        trailing axis for broadcasting over rows."""
        raise NotImplementedError

    def working(self, y, eta, *, trials=None, exposure=None) -> tuple[np.ndarray, np.ndarray]:
        """IRLS working weights ``w`` and response ``z`` of the quadratic expansion at
        ``eta`` (approximable families)."""
        raise NotImplementedError(f"family {self.name!r} has no Laplace approximation")

    def pooled_link(self, totals: np.ndarray) -> float:
        """The link of the pooled mean outcome (``totals``: [sum of the outcome, sum of the
        trials or exposure]): where the approximation's pilot starts."""
        raise NotImplementedError(f"family {self.name!r} has no Laplace approximation")

    # -------------------------------------------------------- response scale
    def mean(self, eta: np.ndarray, exposure=None) -> np.ndarray:
        """Inverse link (times exposure, for counts)."""
        return eta

    def response_mean(self, eta: np.ndarray, *, exposure=None, params=None,
                      category_values=None, exceed_index=None) -> np.ndarray:  # fmt: skip
        """Expected outcome on the response scale for linear predictors ``eta`` (draws, n)."""
        return self.mean(eta, exposure)

    # ------------------------------------------------------------ simulation
    def draw_parameters(self, priors, rng, *, n_categories: int = 0) -> dict:
        """One draw of :attr:`extra_parameters` from their priors (NumPy)."""
        return {}

    def simulate(self, eta: np.ndarray, rng, *, trials=None, exposure=None,
                 params=None) -> np.ndarray:  # fmt: skip
        """An outcome drawn at ``eta`` (``(n,)``, or ``(draws, n)`` with each parameter
        shaped ``(draws, 1)``, cutpoints ``(draws, K)``) with these parameters; ``rng`` a
        NumPy ``Generator`` or ``RandomState``. Categorical outcomes come as codes 0..K-1."""
        raise NotImplementedError


def _exposure(exposure):
    return 1.0 if exposure is None else exposure


class Gaussian(Family):
    name = "gaussian"
    sufficient_statistics = True
    improper_at_exact_fit = True
    extra_parameters = ("sigma",)

    def prior_rows(self, priors) -> list:
        return [("sigma", None, "half-normal", priors.sigma)]

    def parameter_priors(self, priors, n_categories: int = 0) -> dict:
        return {"sigma": dist.HalfNormal(priors.sigma)}

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        sigma = params["sigma"]
        return -0.5 * ((y - eta) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)

    def draw_parameters(self, priors, rng, *, n_categories: int = 0) -> dict:
        return {"sigma": abs(rng.normal(0.0, priors.sigma))}

    def simulate(self, eta, rng, *, trials=None, exposure=None, params=None) -> np.ndarray:
        return eta + rng.normal(0.0, params["sigma"], np.shape(eta))


class Binomial(Family):
    name = "binomial"
    link = "logit"
    response_scale = "probability of success per trial"
    approximable = True
    takes_trials = True

    def check_outcome(self, y, trials) -> np.ndarray:
        integer = np.all(np.equal(np.mod(y, 1), 0))
        if not integer or (y < 0).any() or (y > trials).any():
            raise ValueError(
                "family='binomial' needs y to be whole numbers of successes between 0 and "
                "the number of trials of each row."
            )
        return y

    def cell_columns(self, y, trials, exposure, n_categories) -> dict:
        return {"successes": y, "trials": np.ones(y.shape[0]) if trials is None else trials}

    def likelihood(self, data, eta, priors, n_categories) -> None:
        real = True if data.mask is None else data.mask > 0
        likelihood = dist.BinomialLogits(logits=eta, total_count=data.trials)
        numpyro.sample("y", likelihood.mask(real), obs=data.successes)

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        n = 1.0 if trials is None else trials
        log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
        return log_choose + y * eta - n * np.logaddexp(0.0, eta)

    def working(self, y, eta, *, trials=None, exposure=None):
        n = 1.0 if trials is None else trials
        mean = expit(eta)
        # a probability of exactly 0 or 1 in floating point: keep the weight positive
        weight = np.maximum(n * mean * (1.0 - mean), 1e-12)
        return weight, eta + (y - n * mean) / weight

    def pooled_link(self, totals) -> float:
        events, scale = float(totals[0]), float(totals[1])
        rate = np.clip(events / scale, 0.5 / scale, 1.0 - 0.5 / scale)
        return float(np.log(rate / (1.0 - rate)))

    def mean(self, eta, exposure=None) -> np.ndarray:
        return expit(eta)

    def simulate(self, eta, rng, *, trials=None, exposure=None, params=None) -> np.ndarray:
        n = np.ones(np.shape(eta), dtype=int) if trials is None else np.asarray(trials).astype(int)
        return rng.binomial(n, expit(eta)).astype(float)


class Bernoulli(Binomial):
    name = "bernoulli"
    response_scale = "probability"
    takes_trials = False

    def check_outcome(self, y, trials) -> np.ndarray:
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError(
                f"family='bernoulli' needs y coded 0/1; found values {sorted(np.unique(y))[:6]}. "
                "For counts of successes out of several trials use family='binomial'."
            )
        return y


def _check_counts(name: str, y) -> None:
    if not np.all(np.equal(np.mod(y, 1), 0)) or (y < 0).any():
        bad = y[(y < 0) | (np.mod(y, 1) != 0)][:3]
        raise ValueError(f"family={name!r} needs y to be non-negative whole-number counts; "
                         f"found {bad}.")  # fmt: skip


class Poisson(Family):
    name = "poisson"
    link = "log"
    response_scale = "expected count"
    approximable = True
    takes_exposure = True
    events_only = True

    def check_outcome(self, y, trials) -> np.ndarray:
        _check_counts(self.name, y)
        return y

    def cell_columns(self, y, trials, exposure, n_categories) -> dict:
        return {"total": y, "exposure": np.ones(y.shape[0]) if exposure is None else exposure}

    def likelihood(self, data, eta, priors, n_categories) -> None:
        real = True if data.mask is None else data.mask > 0
        likelihood = dist.Poisson(jnp.exp(eta) * data.exposure)
        numpyro.sample("y", likelihood.mask(real), obs=data.total)

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        log_rate = eta + np.log(_exposure(exposure))
        return y * log_rate - np.exp(log_rate) - gammaln(y + 1)

    def working(self, y, eta, *, trials=None, exposure=None):
        weight = np.maximum(_exposure(exposure) * np.exp(eta), 1e-12)
        return weight, eta + (y - weight) / weight

    def pooled_link(self, totals) -> float:
        events, scale = float(totals[0]), float(totals[1])
        return float(np.log(max(events, 0.5) / scale))

    def mean(self, eta, exposure=None) -> np.ndarray:
        rate = np.exp(eta)
        return rate if exposure is None else rate * exposure

    def simulate(self, eta, rng, *, trials=None, exposure=None, params=None) -> np.ndarray:
        # the cap only guards the generator's overflow: a log rate beyond 20 is far
        # outside anything the package's simulations draw
        return rng.poisson(_exposure(exposure) * np.exp(np.minimum(eta, 20.0))).astype(float)


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


def ordinal_probs(eta: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    """P(y = k) for eta (..., n) and cutpoints (..., K-1) broadcasting against eta's
    leading axes: shape (..., n, K)."""
    above = expit(eta[..., None] - cutpoints[..., None, :])  # P(y > k) for k < K-1
    ones = np.ones(above.shape[:-1] + (1,))
    exceed = np.concatenate([ones, above, np.zeros_like(ones)], axis=-1)  # P(y >= k), k = 0..K
    return exceed[..., :-1] - exceed[..., 1:]


class Ordinal(Family):
    name = "ordinal"
    link = "cumulative logit"
    response_scale = "expected category"
    categorical_outcome = True
    has_intercept = False
    extra_parameters = ("cutpoints",)

    def code_outcome(self, y, n_rows, trials):
        codes, categories = ordinal_levels(y)
        return codes.astype(np.float64), categories

    def prior_rows(self, priors) -> list:
        return [("cutpoints", None, "normal", priors.cutpoint)]

    def cell_columns(self, y, trials, exposure, n_categories) -> dict:
        return {"counts": np.eye(n_categories)[y.astype(np.int64)]}

    def parameter_priors(self, priors, n_categories: int = 0) -> dict:
        return {"cutpoints": dist.TransformedDistribution(
            dist.Normal(0.0, priors.cutpoint).expand([n_categories - 1]).to_event(1),
            OrderedTransform(),
        )}  # fmt: skip

    def likelihood(self, data, eta, priors, n_categories) -> None:
        """Padding cells hold no counts, so they add nothing."""
        cutpoints = numpyro.sample(
            "cutpoints", self.parameter_priors(priors, n_categories)["cutpoints"]
        )
        log_probs = jnp.log(jnp.clip(dist.OrderedLogistic(eta, cutpoints).probs, 1e-300, None))
        numpyro.factor("loglik", jnp.sum(data.counts * log_probs))

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        probs = ordinal_probs(eta, params["cutpoints"])
        code = np.broadcast_to(np.asarray(y, dtype=np.int64), probs.shape[:-1])
        return np.log(np.clip(np.take_along_axis(probs, code[..., None], -1)[..., 0], 1e-300, None))

    def response_mean(self, eta, *, exposure=None, params=None, category_values=None,
                      exceed_index=None) -> np.ndarray:  # fmt: skip
        probs = ordinal_probs(eta, params["cutpoints"])
        if exceed_index is not None:
            return probs[..., exceed_index:].sum(axis=-1)
        return probs @ category_values

    def draw_parameters(self, priors, rng, *, n_categories: int = 0) -> dict:
        raw = rng.normal(0.0, priors.cutpoint, n_categories - 1)
        return {"cutpoints": np.cumsum(np.concatenate([raw[:1], np.exp(raw[1:])]))}

    def simulate(self, eta, rng, *, trials=None, exposure=None, params=None) -> np.ndarray:
        cutpoints = np.asarray(params["cutpoints"])
        above = expit(np.asarray(eta)[..., None] - cutpoints[..., None, :])  # P(y > k)
        u = rng.uniform(size=np.shape(eta))
        return (u[..., None] < above).sum(axis=-1).astype(float)


class _WeightedRows(Family):
    """Families sampled from distinct rows with counts (see the module's docstring)."""

    def cells(self, x, group, treatment, y, *, trials=None, exposure=None,
              n_categories: int = 0, collapse: bool = True) -> FamilyCells:  # fmt: skip
        weight = np.ones(y.shape[0])
        if not collapse:
            return FamilyCells(x=x, g=group.astype(np.int32), t=treatment, y=y, weight=weight,
                               exposure=exposure)  # fmt: skip
        return self._collapsed(x, group, treatment, y, weight, exposure)

    def join_cells(self, a: FamilyCells, b: FamilyCells) -> FamilyCells:
        exposure = None if a.exposure is None else np.concatenate([a.exposure, b.exposure])
        return self._collapsed(
            np.vstack([a.x, b.x]), np.concatenate([a.g, b.g]), np.vstack([a.t, b.t]),
            np.concatenate([a.y, b.y]), np.concatenate([a.weight, b.weight]), exposure,
        )  # fmt: skip

    @staticmethod
    def _collapsed(x, group, treatment, y, weight, exposure) -> FamilyCells:
        """Rows identical in every input and in the outcome become one, with their weight."""
        key = y[:, None] if exposure is None else np.column_stack([y, exposure])
        x, group, treatment, summed, first = collapse_cells(
            x, group, treatment, {"weight": weight}, key_extra=key
        )
        return FamilyCells(
            x=x, g=group.astype(np.int32), t=treatment, y=y[first], weight=summed["weight"],
            exposure=None if exposure is None else exposure[first],
        )  # fmt: skip

    def likelihood(self, data, eta, priors, n_categories) -> None:
        weight = data.weight if data.mask is None else data.weight * data.mask
        numpyro.factor("loglik", jnp.sum(weight * self._logpdf(data, eta, priors)))


class StudentT(_WeightedRows):
    name = "student"
    improper_at_exact_fit = True
    extra_parameters = ("sigma", "nu")
    note = (
        "The Student-t likelihood has no sufficient statistics: every distinct row enters "
        "the sampler (rows identical in group, treatment, controls and outcome once)."
    )

    def prior_rows(self, priors) -> list:
        return [("sigma", None, "half-normal", priors.sigma),
                ("nu", None, "gamma(2, 0.1), nu >= 1", float("nan"))]  # fmt: skip

    def parameter_priors(self, priors, n_categories: int = 0) -> dict:
        return {"sigma": dist.HalfNormal(priors.sigma), "nu": GammaAboveOne(*STUDENT_NU_PRIOR)}

    def _logpdf(self, data, eta, priors):
        given = self.parameter_priors(priors)
        sigma = numpyro.sample("sigma", given["sigma"])
        nu = numpyro.sample("nu", given["nu"])
        return dist.StudentT(nu, eta, sigma).log_prob(data.y)

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        sigma, nu = params["sigma"], params["nu"]
        z = (y - eta) / sigma
        return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi)
                - np.log(sigma) - (nu + 1) / 2 * np.log1p(z**2 / nu))  # fmt: skip

    def draw_parameters(self, priors, rng, *, n_categories: int = 0) -> dict:
        shape, rate = STUDENT_NU_PRIOR
        nu = 0.0
        while nu < 1.0:  # the truncated prior
            nu = rng.gamma(shape, 1.0 / rate)
        return {"sigma": abs(rng.normal(0.0, priors.sigma)), "nu": nu}

    def simulate(self, eta, rng, *, trials=None, exposure=None, params=None) -> np.ndarray:
        return eta + params["sigma"] * rng.standard_t(params["nu"], np.shape(eta))


class NegativeBinomial(_WeightedRows):
    name = "negbinomial"
    link = "log"
    response_scale = "expected count"
    takes_exposure = True
    events_only = True
    extra_parameters = ("shape",)
    note = (
        "A cell's total count is not sufficient for the negative binomial's shape: every "
        "distinct row enters the sampler (rows identical in group, treatment, controls, "
        "exposure and count once)."
    )

    def check_outcome(self, y, trials) -> np.ndarray:
        _check_counts(self.name, y)
        return y

    def prior_rows(self, priors) -> list:
        return [("shape", None, "gamma(0.01, 0.01)", float("nan"))]

    def parameter_priors(self, priors, n_categories: int = 0) -> dict:
        return {"shape": dist.Gamma(*NEGBINOMIAL_SHAPE_PRIOR)}

    def _logpdf(self, data, eta, priors):
        shape = numpyro.sample("shape", self.parameter_priors(priors)["shape"])
        mean = jnp.exp(eta) * (1.0 if data.exposure is None else data.exposure)
        return dist.NegativeBinomial2(mean, shape).log_prob(data.y)

    def row_loglik(self, y, eta, *, trials=None, exposure=None, params=None) -> np.ndarray:
        shape = params["shape"]
        log_mean = eta + np.log(_exposure(exposure))
        log_total = np.logaddexp(log_mean, np.log(shape))
        return (gammaln(y + shape) - gammaln(shape) - gammaln(y + 1)
                + shape * (np.log(shape) - log_total) + y * (log_mean - log_total))  # fmt: skip

    def mean(self, eta, exposure=None) -> np.ndarray:
        rate = np.exp(eta)
        return rate if exposure is None else rate * exposure

    def draw_parameters(self, priors, rng, *, n_categories: int = 0) -> dict:
        shape, rate = NEGBINOMIAL_SHAPE_PRIOR
        return {"shape": rng.gamma(shape, 1.0 / rate)}

    def simulate(self, eta, rng, *, trials=None, exposure=None, params=None) -> np.ndarray:
        # a gamma-Poisson mixture; the floor and the cap only guard the generators (a
        # shape that underflows to 0 gives all-zero counts, as its limit does)
        shape = np.maximum(params["shape"], 1e-300)
        mean = _exposure(exposure) * np.exp(np.minimum(eta, 20.0))
        return rng.poisson(np.minimum(rng.gamma(shape, mean / shape), 1e15)).astype(float)


_FAMILIES = {
    f.name: f()
    for f in (Gaussian, Bernoulli, Binomial, Poisson, Ordinal, StudentT, NegativeBinomial)
}
#: The families' names, as ``family=`` takes them.
FAMILIES = tuple(_FAMILIES)


def family_of(name: str) -> Family:
    """The family called ``name`` (as ``HierarchicalHTE(family=...)`` takes it)."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown family {name!r}; choose one of {FAMILIES}.") from None
