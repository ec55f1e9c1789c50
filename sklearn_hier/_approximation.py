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

import functools
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import expit

from ._row_patterns import BinnedPatternSums, RowPatterns, score_edges
from ._spec import ModelSpec, Priors
from ._statistics import (
    GaussianStatistics,
    GroupMoments,
    RowDesign,
    group_moments,
    statistics_from_moments,
)
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


def approximation_method(spec: ModelSpec, n_rows: int, too_many_cells) -> str:
    """``"laplace"`` or ``"none"`` (exact), as ``spec.approximation`` asks for this data;
    ``too_many_cells()`` says whether the exact likelihood has over ``AUTO_EXACT_CELLS``."""
    asked = spec.approximation or "auto"
    exact_only = (
        spec.family not in APPROXIMABLE_FAMILIES or not spec.reduce_data
        or spec.inference != "nuts"
    )  # fmt: skip
    if asked == "laplace" and exact_only:
        raise ValueError(
            f"approximation='laplace' is for the {', '.join(APPROXIMABLE_FAMILIES)} families "
            f"with reduce_data=True and inference='nuts'; got family={spec.family!r}, "
            f"reduce_data={spec.reduce_data}, inference={spec.inference!r}. Use "
            "approximation='none' (or 'auto')."
        )
    if asked != "auto":
        return asked
    if exact_only or n_rows <= AUTO_EXACT_CELLS:
        return "none"
    return "laplace" if too_many_cells() else "none"


def distinct_rows_exceed(rows: RowDesign, limit: int) -> bool:
    """Whether more than ``limit`` rows differ in (group, treatment, controls): the cells
    of the exact likelihood. The first ``2 * limit`` rows are looked at first, so data
    that are clearly too many cells are never hashed in full."""
    for stop in (2 * limit, rows.n_rows):
        part = slice(0, stop)
        key = pd.DataFrame(
            np.column_stack([rows.group[part], rows.treatment[part], rows.controls[part]])
        )
        if (~key.duplicated()).sum() > limit:
            return True
    return False


class ApproximationWarning(SamplingWarning):
    """The approximate likelihood is not close enough to the exact one for this data.

    Raised by ``fit`` with ``approximation="laplace"`` (or ``"auto"`` beyond 20,000
    cells) when the check's Pareto k exceeds 0.7; see :class:`ApproximationCheck`.
    """


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

    def totals(self) -> np.ndarray:
        """[sum of the outcome, sum of the trials (binomial) or exposure (Poisson)]: what
        :func:`pooled_link` needs. Totals of disjoint rows add."""
        scale = self.trials if self.family != "poisson" else self.exposure
        return np.array([self.y.sum(), self.y.size if scale is None else scale.sum()])

    def plus(self, other: "OutcomeRows") -> "OutcomeRows":
        def joined(a, b):
            return None if a is None else np.concatenate([a, b])

        return OutcomeRows(self.family, np.concatenate([self.y, other.y]),
                           joined(self.trials, other.trials),
                           joined(self.exposure, other.exposure))  # fmt: skip


def pooled_link(family: str, totals: np.ndarray) -> float:
    """The link of the pooled mean outcome (``totals`` from :meth:`OutcomeRows.totals`):
    where the pilot starts."""
    events, scale = float(totals[0]), float(totals[1])
    if family == "poisson":
        return float(np.log(max(events, 0.5) / scale))
    rate = np.clip(events / scale, 0.5 / scale, 1.0 - 0.5 / scale)
    return float(np.log(rate / (1.0 - rate)))


class PilotState(NamedTuple):
    """The pilot fit: each group's intercept and effects, the shared control coefficients,
    and the controls' centre they refer to."""

    coefficients: np.ndarray  # (G, D)
    beta: np.ndarray  # (p,)
    cbar: np.ndarray  # (p,)

    def eta(self, rows: RowDesign) -> np.ndarray:
        """Each row's ``a_g . [1, t] + (c - cbar) . beta``."""
        a = self.coefficients[rows.group]
        eta = a[:, 0] + np.einsum("nd,nd->n", a[:, 1:], rows.treatment)
        if self.beta.size:
            eta = eta + (rows.controls - self.cbar) @ self.beta
        return eta

    def expanded(self, rows: RowDesign, outcome: "OutcomeRows") -> RowDesign:
        """The rows with the working response and weights of the expansion at this fit."""
        weight, response = outcome.working(self.eta(rows))
        return rows.with_response(response, weight)


def pilot_moments(rows: RowDesign, outcome: OutcomeRows, state: PilotState) -> GroupMoments:
    """One chunk's share of a pilot pass: weighted moments of the working response."""
    return group_moments(state.expanded(rows, outcome), xbar=state.cbar, ybar=0.0)


def _ridge_fit(moments, ridge: np.ndarray, target: np.ndarray):
    """Minimise ``sum w (z - eta)^2 + sum_g (a_g - target)' R (a_g - target)`` over the groups'
    coefficients ``a_g`` and the shared control coefficients: the groups are eliminated
    first (block by block), then the controls solve their normal equations."""
    vv, vc, vy = moments.vv, moments.vc, moments.vy
    inverse = np.linalg.inv(vv + np.diag(ridge)[None])
    right = vy + (ridge * target)[None, :]
    if vc.shape[-1]:
        within_ctc = moments.ctc - np.einsum("gdp,gde,geq->pq", vc, inverse, vc)
        within_cty = moments.cty - np.einsum("gdp,gde,ge->p", vc, inverse, right)
        beta = np.linalg.lstsq(within_ctc, within_cty, rcond=None)[0]
        right = right - vc @ beta
    else:
        beta = np.zeros(0)
    return np.einsum("gde,ge->gd", inverse, right), beta


def pilot_fit(map_reduce, *, n_groups: int, n_effects: int, cbar: np.ndarray,
              pooled_link: float, priors: Priors) -> tuple[PilotState, int]:  # fmt: skip
    """The expansion point: the mode of each group's intercept and effects (a ridge with the
    prior's variance pulls them towards the pooled rate, which keeps groups whose rows are
    all 0 or all 1 finite) and shared control coefficients, by Newton's method (IRLS).

    ``map_reduce(fn)`` applies ``fn(rows, outcome)`` to every chunk of the rows and adds
    the results: each iteration is one pass. Returns the fit and the passes taken.
    """
    D = 1 + n_effects
    ridge = np.concatenate([
        [1.0 / (priors.intercept**2 + priors.sd**2)],
        np.full(D - 1, 1.0 / (priors.coef**2 + priors.sd**2)),
    ])  # fmt: skip
    target = np.zeros(D)
    target[0] = pooled_link
    state = PilotState(np.tile(target, (n_groups, 1)), np.zeros(cbar.size), cbar)
    iteration = 0
    while iteration < PILOT_ITERATIONS:
        iteration += 1
        moments = map_reduce(functools.partial(pilot_moments, state=state))
        coefficients, beta = _ridge_fit(moments, ridge, target)
        change = max(
            float(np.max(np.abs(coefficients - state.coefficients), initial=0.0)),
            float(np.max(np.abs(beta - state.beta), initial=0.0)),
        )
        state = PilotState(coefficients, beta, cbar)
        if change < PILOT_TOLERANCE:
            break
    return state, iteration


class ExpansionSums(NamedTuple):
    """One chunk's share of the expansion pass: the weighted moments of the working
    response (centred at the design's controls' means, outcome uncentred) and its rows
    binned for response-scale averages."""

    moments: GroupMoments
    patterns: BinnedPatternSums

    @classmethod
    def of_rows(cls, rows: RowDesign, outcome: OutcomeRows, *, state: PilotState,
                cbar: np.ndarray, edges: np.ndarray) -> "ExpansionSums":  # fmt: skip
        moments = group_moments(state.expanded(rows, outcome), xbar=cbar, ybar=0.0)
        score = (rows.controls - state.cbar) @ state.beta if state.beta.size else np.zeros(
            rows.n_rows
        )
        patterns = BinnedPatternSums.of_rows(
            rows.controls, rows.group, outcome.exposure, score, edges, rows.Z.shape[0]
        )
        return cls(moments, patterns)

    def plus(self, other: "ExpansionSums") -> "ExpansionSums":
        return ExpansionSums(self.moments.plus(other.moments), self.patterns.plus(other.patterns))


@dataclass(frozen=True)
class ApproximationCheck:
    """How close the approximate posterior is to the exact one (``approximation_check_``).

    On a random subsample of rows, for a subset of the posterior draws, the exact minus
    the approximate log-likelihood, scaled to all rows, is the log importance ratio of
    the exact to the approximate posterior. Pareto-smoothed importance sampling (ArviZ)
    estimates the tail of those ratios.

    Attributes
    ----------
    method : str
        The approximation checked (``"laplace"``).
    pareto_k : float
        The Pareto k of the importance ratios: below 0.7 the approximate draws can
        stand in for the exact ones (``-inf`` when the ratios are all equal).
    rows_checked, draws_checked : int
        The subsample's rows and the draws evaluated.
    reliable : bool
        ``pareto_k <= 0.7``.
    """

    method: str
    pareto_k: float
    rows_checked: int
    draws_checked: int

    @property
    def reliable(self) -> bool:
        return not self.pareto_k > PARETO_K_THRESHOLD


@dataclass(frozen=True)
class LaplaceExpansion:
    """The approximate likelihood's statistics and what the check needs after sampling."""

    statistics: GaussianStatistics
    patterns: RowPatterns  # the rows binned for response-scale averages
    pilot: PilotState
    iterations: int
    check_rows: RowDesign  # a random subsample, with its working weights and response
    check_outcome: OutcomeRows
    n_rows: int


def laplace_expansion(
    map_reduce, sample: tuple[RowDesign, OutcomeRows], *, n_rows: int, pooled_link: float,
    xbar: np.ndarray, priors: Priors,
) -> LaplaceExpansion:  # fmt: skip
    """The Laplace statistics at the pilot fit, from passes over the rows (``map_reduce``,
    see :func:`pilot_fit`). ``sample`` is a random subsample of the rows for the check;
    ``xbar`` the design's centring."""
    sample_rows, sample_outcome = sample
    p = sample_rows.controls.shape[1]
    cbar = np.asarray(xbar)[:p]
    state, iterations = pilot_fit(
        map_reduce, n_groups=sample_rows.Z.shape[0], n_effects=sample_rows.n_effects,
        cbar=cbar, pooled_link=pooled_link, priors=priors,
    )  # fmt: skip
    scores = (sample_rows.controls - cbar) @ state.beta if p else np.zeros(0)
    sums = map_reduce(functools.partial(
        ExpansionSums.of_rows, state=state, cbar=cbar, edges=score_edges(scores)
    ))  # fmt: skip
    return LaplaceExpansion(
        statistics=statistics_from_moments(sums.moments, sample_rows.Z, xbar, 0.0),
        patterns=sums.patterns.patterns(), pilot=state, iterations=iterations,
        check_rows=state.expanded(sample_rows, sample_outcome), check_outcome=sample_outcome,
        n_rows=n_rows,
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
