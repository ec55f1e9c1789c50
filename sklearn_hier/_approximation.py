"""Approximate statistics for binary and count outcomes whose rows do not collapse.

With a continuous control (a pre-period covariate, say) no two rows of a
Bernoulli, binomial or Poisson outcome share their predictors, so the exact
likelihood touches every row at every gradient. The Laplace approximation
replaces each row's log-likelihood by its quadratic expansion in the linear
predictor around a pilot value ``eta0``::

    log p(y | eta) ~ const - w (z - eta)^2 / 2,
    w = -d2 log p / d eta2 at eta0,   z = eta0 + (d log p / d eta at eta0) / w

(the working weight and response of iteratively reweighted least squares).
The likelihood is then Gaussian with known noise ``1 / w`` per row, so the
rows reduce to the weighted per-group statistics of :mod:`._statistics`, and
the Gaussian marginal sampler fits them with sigma fixed at 1: the cost no
longer grows with the rows. The pilot is the mode of a ridge-penalised
fixed-effects fit (each group its own intercept and effects, shared control
coefficients), found by the same weighted statistics in a few passes.

The expansion is accurate where each group's likelihood is close to Gaussian
in its parameters: many rows per group, probabilities not all near 0 or 1.
Every fit checks it: on a random subsample of rows, the exact minus the
approximate log-likelihood of each posterior draw, scaled to all rows, is the
log importance ratio of the exact to the approximate posterior; its Pareto k
(PSIS) says whether the approximate posterior is close enough.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ._spec import Priors
from ._statistics import GaussianStatistics, RowDesign, gaussian_statistics, group_moments
from .diagnostics import SamplingWarning, pareto_smoothed_log_weights

#: The values of ``HierarchicalHTE(approximation=...)``.
APPROXIMATIONS = ("auto", "none", "laplace")
#: Families with a Laplace expansion (the ordinal likelihood stays exact).
APPROXIMABLE_FAMILIES = ("bernoulli", "binomial", "poisson")
#: ``approximation="auto"`` stays exact up to this many collapsed cells (about 10 s of
#: sampling on 2 cores); beyond it the exact likelihood's cost grows with the cells.
AUTO_EXACT_CELLS = 20_000
#: Rows and draws of the check (the rows' exact likelihood is evaluated for each draw).
CHECK_ROWS = 20_000
CHECK_DRAWS = 500
#: Above this Pareto k the approximate posterior is not trusted (as in PSIS-LOO).
PARETO_K_THRESHOLD = 0.7
#: Passes of the pilot fit: Newton steps on a concave objective, converged in a few.
PILOT_ITERATIONS = 25
PILOT_TOLERANCE = 1e-8


class ApproximationWarning(SamplingWarning):
    """The approximate likelihood is not close enough to the exact one for this data."""


@dataclass(frozen=True)
class OutcomeRows:
    """The non-Gaussian outcome row by row: successes or counts, trials, exposure."""

    family: str
    y: np.ndarray
    trials: np.ndarray | None = None
    exposure: np.ndarray | None = None

    def take(self, index: np.ndarray) -> "OutcomeRows":
        def part(value):
            return None if value is None else value[index]

        return OutcomeRows(self.family, self.y[index], part(self.trials), part(self.exposure))

    def loglik(self, eta: np.ndarray) -> np.ndarray:
        """Exact log-likelihood of each row (up to a constant per row) at ``eta`` (..., n)."""
        if self.family == "poisson":
            log_exposure = 0.0 if self.exposure is None else np.log(self.exposure)
            return self.y * (eta + log_exposure) - np.exp(eta + log_exposure)
        trials = 1.0 if self.trials is None else self.trials
        return self.y * eta - trials * np.logaddexp(0.0, eta)

    def working(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """IRLS working weights ``w`` and response ``z`` of the expansion at ``eta``."""
        if self.family == "poisson":
            exposure = 1.0 if self.exposure is None else self.exposure
            weight = exposure * np.exp(eta)
            score = self.y - weight
        else:
            trials = 1.0 if self.trials is None else self.trials
            mean = expit(eta)
            weight = trials * mean * (1.0 - mean)
            score = self.y - trials * mean
        # a probability of exactly 0 or 1 in floating point: keep the weight positive
        weight = np.maximum(weight, 1e-12)
        return weight, eta + score / weight

    def pooled_link(self) -> float:
        """The link of the pooled mean outcome: where the pilot starts."""
        if self.family == "poisson":
            exposure = self.y.size if self.exposure is None else self.exposure.sum()
            return float(np.log(max(self.y.sum(), 0.5) / exposure))
        trials = self.y.size if self.trials is None else self.trials.sum()
        rate = np.clip(self.y.sum() / trials, 0.5 / trials, 1.0 - 0.5 / trials)
        return float(np.log(rate / (1.0 - rate)))


@dataclass(frozen=True)
class LaplaceExpansion:
    """The approximate likelihood's statistics and what the check needs after sampling."""

    statistics: GaussianStatistics
    pilot: np.ndarray  # (n,) the expansion point, each row's linear predictor
    control_direction: np.ndarray  # (p,) the pilot's control coefficients
    iterations: int
    check_rows: RowDesign  # a random subsample, with its working weights and response
    check_outcome: OutcomeRows
    n_rows: int


@dataclass(frozen=True)
class ApproximationCheck:
    """How close the approximate posterior is to the exact one (PSIS on a row subsample)."""

    method: str
    pareto_k: float
    rows_checked: int
    draws_checked: int

    @property
    def reliable(self) -> bool:
        return not self.pareto_k > PARETO_K_THRESHOLD


def _linear_predictor(rows: RowDesign, coefficients: np.ndarray, beta: np.ndarray, cbar):
    """Each row's ``a_g . [1, t] + (c - cbar) . beta``."""
    a = coefficients[rows.group]
    eta = a[:, 0] + np.einsum("nd,nd->n", a[:, 1:], rows.treatment)
    if beta.size:
        eta = eta + (rows.controls - cbar) @ beta
    return eta


def _ridge_fit(moments, ridge: np.ndarray, target: np.ndarray):
    """Minimise ``sum w (z - eta)^2 + sum_g (a_g - target)' R (a_g - target)`` over the groups'
    coefficients ``a_g`` and the shared control coefficients: the groups are eliminated
    first (block by block), then the controls solve their normal equations."""
    vv, vc, vy = moments.vv, moments.vc, moments.vy
    blocks = vv + np.diag(ridge)[None]
    inverse = np.linalg.inv(blocks)
    right = vy + (ridge * target)[None, :]
    p = vc.shape[-1]
    if p:
        within_ctc = moments.ctc - np.einsum("gdp,gde,geq->pq", vc, inverse, vc)
        within_cty = moments.cty - np.einsum("gdp,gde,ge->p", vc, inverse, right)
        beta = np.linalg.lstsq(within_ctc, within_cty, rcond=None)[0]
        right = right - vc @ beta
    else:
        beta = np.zeros(0)
    return np.einsum("gde,ge->gd", inverse, right), beta


def pilot_fit(rows: RowDesign, outcome: OutcomeRows, priors: Priors):
    """The expansion point: the mode of each group's intercept and effects (a ridge with the
    prior's variance pulls them towards the pooled rate, which keeps groups whose rows are
    all 0 or all 1 finite) and shared control coefficients. Returns each row's linear
    predictor, the control coefficients, and the passes taken."""
    p, D = rows.controls.shape[1], 1 + rows.n_effects
    cbar = rows.controls.mean(axis=0) if rows.n_rows else np.zeros(p)
    centre = np.concatenate([cbar, np.zeros(rows.n_coef - p)])
    ridge = np.concatenate([
        [1.0 / (priors.intercept**2 + priors.sd**2)],
        np.full(D - 1, 1.0 / (priors.coef**2 + priors.sd**2)),
    ])  # fmt: skip
    target = np.zeros(D)
    target[0] = outcome.pooled_link()
    eta = np.full(rows.n_rows, target[0])
    beta = np.zeros(p)
    iteration = 0
    while iteration < PILOT_ITERATIONS:
        iteration += 1
        weight, response = outcome.working(eta)
        moments = group_moments(rows.with_response(response, weight), xbar=centre, ybar=0.0)
        coefficients, beta = _ridge_fit(moments, ridge, target)
        updated = _linear_predictor(rows, coefficients, beta, cbar)
        change = float(np.max(np.abs(updated - eta))) if rows.n_rows else 0.0
        eta = updated
        if change < PILOT_TOLERANCE:
            break
    return eta, beta, iteration


def laplace_expansion(
    rows: RowDesign, outcome: OutcomeRows, *, xbar: np.ndarray, priors: Priors, seed: int
) -> LaplaceExpansion:
    """The Laplace statistics at the pilot fit, and a row subsample for the check."""
    pilot, beta, iterations = pilot_fit(rows, outcome, priors)
    weight, response = outcome.working(pilot)
    expanded = rows.with_response(response, weight)
    statistics = gaussian_statistics(expanded, centre=(xbar, 0.0))[0]
    rng = np.random.default_rng(seed)
    size = min(CHECK_ROWS, rows.n_rows)
    index = np.sort(rng.choice(rows.n_rows, size=size, replace=False))
    return LaplaceExpansion(
        statistics=statistics, pilot=pilot, control_direction=beta, iterations=iterations,
        check_rows=expanded.take(index), check_outcome=outcome.take(index),
        n_rows=rows.n_rows,
    )  # fmt: skip


def check_approximation(
    expansion: LaplaceExpansion, draws: dict, *, xbar: np.ndarray, seed: int, stacklevel: int
) -> ApproximationCheck:
    """PSIS check of the approximate posterior against the exact likelihood.

    ``draws`` are the flattened posterior draws of ``Intercept`` (S,), ``b`` (S, K) and the
    group offsets ``u`` (S, G, D). For each of up to ``CHECK_DRAWS`` draws the exact and
    the approximate log-likelihood of the subsample rows differ by ``d``; scaled to every
    row, ``d`` is the log ratio of the exact to the approximate posterior density.
    """
    sub, outcome = expansion.check_rows, expansion.check_outcome
    n_draws = draws["Intercept"].shape[0]
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n_draws, size=min(CHECK_DRAWS, n_draws), replace=False))
    x = sub.columns(slice(None)) - xbar
    u = draws["u"][pick][:, sub.group]  # (S, m, D)
    eta = (
        draws["Intercept"][pick][:, None]
        + draws["b"][pick] @ x.T
        + u[..., 0]
        + np.einsum("smd,md->sm", u[..., 1:], sub.treatment)
    )
    approximate = -0.5 * sub.weights * (sub.outcome - eta) ** 2
    difference = (outcome.loglik(eta) - approximate).sum(axis=1)
    log_ratios = difference * (expansion.n_rows / max(sub.n_rows, 1))
    log_ratios = log_ratios - log_ratios.max()
    if np.ptp(log_ratios) < 1e-9:  # equal weights: nothing to smooth
        khat = -np.inf
    else:
        khat = pareto_smoothed_log_weights(log_ratios, reff=1.0)[1]
    check = ApproximationCheck("laplace", float(khat), sub.n_rows, int(pick.size))
    if not check.reliable:
        warnings.warn(
            f"the Laplace approximation of the {outcome.family} likelihood is not close "
            f"enough to the exact one here (Pareto k = {check.pareto_k:.2f} > "
            f"{PARETO_K_THRESHOLD}, from {check.rows_checked} rows and {check.draws_checked} "
            "draws): some groups have too few rows, or probabilities too near 0 or 1, for "
            "their likelihood to be nearly Gaussian. Refit with approximation='none' (exact, "
            "slower), or with fewer groups (coarser modifiers or bins).",
            ApproximationWarning,
            stacklevel=stacklevel,
        )
    return check
