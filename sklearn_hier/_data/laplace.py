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
in its parameters: many events (and non-events) in every group and arm. A
Poisson or binomial likelihood with few events is skewed, and the quadratic
moves the group's posterior (its mean by about ``1 / (2 sqrt(events))``
posterior sds for a lone group, more where the hierarchy pulls the group away
from its own estimate). Every fit checks it: on a random subsample of rows, the
exact minus the approximate log-likelihood of each posterior draw, scaled to
all rows, is the log importance ratio of the exact to the approximate
posterior. Its Pareto k (PSIS) says whether the weights can be trusted; the
weighted means of each group's intercept and effects estimate the exact
posterior means, and their distance from the approximate ones, in posterior
sds, says how far the approximation has moved them. Pareto k alone cannot see
that: smooth weights can still shift a mean by half a posterior sd.
"""

import functools
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._base.families import FAMILIES, Family, family_of
from .._base.sampling_checks import SamplingWarning, pareto_smoothed_log_weights
from .._base.spec import ModelSpec, Priors
from .row_patterns import BinnedPatternSums, RowPatterns, score_edges
from .sufficient_statistics import (
    GaussianStatistics,
    GroupMoments,
    RowDesign,
    group_moments,
    statistics_from_moments,
)

#: The values of ``HierarchicalHTE(approximation=...)``.
APPROXIMATIONS = ("auto", "none", "laplace")
#: Families with a Laplace expansion (the ordinal likelihood stays exact).
APPROXIMABLE_FAMILIES = tuple(name for name in FAMILIES if family_of(name).approximable)
#: ``approximation="auto"`` stays exact up to this many collapsed cells (about 10 s of
#: sampling on 2 cores); beyond it the exact likelihood's cost grows with the cells.
AUTO_EXACT_CELLS = 20_000
#: Rows and draws of the check (the rows' exact likelihood is evaluated for each draw).
CHECK_ROWS = 20_000
CHECK_DRAWS = 500
#: Above this Pareto k the approximate posterior is not trusted (as in PSIS-LOO).
PARETO_K_THRESHOLD = 0.7
#: The largest shift of a group's posterior mean (intercept or effect, link or response
#: scale), exact minus approximate in approximate posterior sds, that the check accepts.
#: Two exact fits of 2 x 500 draws differed by up to 0.13 sd from Monte Carlo error alone
#: (20 sparse Poisson groups), so a bias below a quarter of an sd is within what rerunning
#: would change. On dense data (hundreds of events per arm) the check's shift is 0.03-0.08.
SHIFT_TOLERANCE = 0.25
#: Fewest events (counts; for binary outcomes events and non-events) in a group's arm for
#: which ``approximation="auto"`` takes the Laplace path; with fewer it fits exactly, and a
#: check that read only a subsample of the rows fails. With k events a lone group's mean
#: moves by about 1 / (2 sqrt(k)) sd (the log-gamma's mean against its mode): 0.11 at 20,
#: and the hierarchy's pull into the skewed tail can double that.
MIN_EVENTS = 20
#: ``approximation="auto"`` fits sparse groups exactly up to this many rows (a few minutes
#: on 2 cores); beyond, an exact fit would take hours, so it takes the approximation and
#: the check warns, naming the sparse group.
AUTO_EXACT_SPARSE_ROWS = 200_000
#: Passes of the pilot fit: Newton steps on a concave objective, converged in a few.
PILOT_ITERATIONS = 25
PILOT_TOLERANCE = 1e-8


def approximation_method(spec: ModelSpec, n_rows: int, too_many_cells, few_events=None) -> str:
    """``"laplace"`` or ``"none"`` (exact), as ``spec.approximation`` asks for this data;
    ``too_many_cells()`` says whether the exact likelihood has over ``AUTO_EXACT_CELLS``
    cells, ``few_events()`` (if given) whether some group's arm has fewer than
    ``MIN_EVENTS`` events: ``"auto"`` then stays exact up to ``AUTO_EXACT_SPARSE_ROWS``
    rows, because the expansion of a sparse likelihood moves the posterior (beyond, the
    approximation's check warns)."""
    asked = spec.approximation or "auto"
    exact_only = (
        not family_of(spec.family).approximable or not spec.reduce_data
        or spec.inference != "nuts"
    )  # fmt: skip
    if asked == "laplace" and exact_only:
        raise ValueError(
            f"approximation='laplace' is for the {', '.join(APPROXIMABLE_FAMILIES)} families "
            f"with reduce_data=True and NUTS (sampler=NUTSSampler()); got family={spec.family!r}, "
            f"reduce_data={spec.reduce_data}, inference={spec.inference!r}. Use "
            "approximation='none' (or 'auto')."
        )
    if asked != "auto":
        return asked
    if exact_only or n_rows <= AUTO_EXACT_CELLS or not too_many_cells():
        return "none"
    if n_rows <= AUTO_EXACT_SPARSE_ROWS and few_events is not None and few_events():
        return "none"
    return "laplace"


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
    cells) when the check fails: Pareto k above 0.7, a group's posterior mean moved by
    over 0.25 posterior sd, or an arm with fewer than 20 events among rows the check did
    not read; see :class:`ApproximationCheck`.
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
        """Exact log-likelihood of each row at ``eta`` (..., n)."""
        return family_of(self.family).row_loglik(
            self.y, eta, trials=self.trials, exposure=self.exposure
        )

    def working(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """IRLS working weights ``w`` and response ``z`` of the expansion at ``eta``."""
        return family_of(self.family).working(
            self.y, eta, trials=self.trials, exposure=self.exposure
        )

    def totals(self) -> np.ndarray:
        """[sum of the outcome, sum of the trials (binomial) or exposure (Poisson)]: what
        :func:`pooled_link` needs. Totals of disjoint rows add."""
        scale = self.exposure if family_of(self.family).takes_exposure else self.trials
        return np.array([self.y.sum(), self.y.size if scale is None else scale.sum()])

    def plus(self, other: "OutcomeRows") -> "OutcomeRows":
        def joined(a, b):
            return None if a is None else np.concatenate([a, b])

        return OutcomeRows(self.family, np.concatenate([self.y, other.y]),
                           joined(self.trials, other.trials),
                           joined(self.exposure, other.exposure))  # fmt: skip


class EventCounts(NamedTuple):
    """Events and non-events of each group, split by each treatment column's value: what
    the expansion's accuracy depends on. Chunks add (``plus``).

    ``by_column[g, k, s]`` sums rows of group ``g`` whose treatment column ``k`` is 0
    (``s = 0``), 1 (``s = 1``) or anything else (``s = 2``: a dose); ``reference[g]`` the
    rows with every column 0. The last axis of both holds [rows, events, non-events]
    (non-events are trials minus events; for counts, unused).
    """

    by_column: np.ndarray  # (G, E, 3, 3)
    reference: np.ndarray  # (G, 3)

    @classmethod
    def of_rows(cls, rows: RowDesign, outcome: OutcomeRows) -> "EventCounts":
        G, E = rows.Z.shape[0], rows.treatment.shape[1]
        trials = 1.0 if outcome.trials is None else outcome.trials
        tallies = np.column_stack([
            np.ones(rows.n_rows), outcome.y, np.broadcast_to(trials - outcome.y, outcome.y.shape)
        ])  # fmt: skip
        t = rows.treatment
        value = np.where(t == 0, 0, np.where(t == 1, 1, 2))  # (n, E)
        cell = (rows.group[:, None] * E + np.arange(E)) * 3 + value  # (n, E)
        by_column = np.stack([
            np.bincount(cell.ravel(), np.repeat(tallies[:, j], E), minlength=G * E * 3)
            for j in range(3)
        ], axis=-1).reshape(G, E, 3, 3)  # fmt: skip
        untreated = (t == 0).all(axis=1)
        reference = np.stack([
            np.bincount(rows.group[untreated], tallies[untreated, j], minlength=G)
            for j in range(3)
        ], axis=-1)  # fmt: skip
        return cls(by_column, reference)

    def plus(self, other: "EventCounts") -> "EventCounts":
        return EventCounts(self.by_column + other.by_column, self.reference + other.reference)

    def fewest(self, family: Family) -> int:
        """The fewest events (for binary outcomes, events or non-events) in any group's arm:
        a binary treatment column's treated and untreated rows (and, where every column is
        binary, the rows with none), or the whole group for a dose."""
        return self.sparsest(family)[0]

    def sparsest(self, family: Family) -> tuple[int, int]:
        """The fewest events in any group's arm (see :meth:`fewest`) and that group's
        position (-1 when no group has rows)."""
        G = self.by_column.shape[0]
        binary = self.by_column[:, :, 2, 0].sum(axis=0) == 0  # (E,): no value other than 0/1
        cells = [self.by_column.sum(axis=2)]  # (G, E, 3): each group whole
        cells.append(self.by_column[:, binary, :2])  # (G, binary columns, 2, 3)
        if binary.all():
            cells.append(self.reference)  # (G, 3)
        group = np.concatenate([np.repeat(np.arange(G), c[0].size // 3) for c in cells])
        cells = np.concatenate([c.reshape(-1, 3) for c in cells])
        had_rows = cells[:, 0] > 0  # arms a group does not have are no cells
        cells, group = cells[had_rows], group[had_rows]
        if not cells.shape[0]:
            return 0, -1
        smaller = cells[:, 1] if family.events_only else cells[:, 1:].min(axis=1)
        at = int(np.argmin(smaller))
        return int(np.floor(smaller[at] + 1e-9)), int(group[at])


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
              pooled_link: float, priors: Priors,
              effect_units: np.ndarray | None = None) -> tuple[PilotState, int]:  # fmt: skip
    """The expansion point: the mode of each group's intercept and effects (a ridge with the
    prior's variance pulls them towards the pooled rate, which keeps groups whose rows are
    all 0 or all 1 finite) and shared control coefficients, by Newton's method (IRLS).

    ``map_reduce(fn)`` applies ``fn(rows, outcome)`` to every chunk of the rows and adds
    the results: each iteration is one pass. Returns the fit and the passes taken.
    ``effect_units`` multiplies each effect's prior scales (a dose's are per unit of its
    spread, :func:`._spec.effect_units`), so the expansion point does not depend on the
    dose's units.
    """
    D = 1 + n_effects
    units = np.ones(n_effects) if effect_units is None else np.asarray(effect_units, float)
    ridge = np.concatenate([
        [1.0 / (priors.intercept**2 + priors.sd**2)],
        1.0 / (units**2 * (priors.coef**2 + priors.sd**2)),
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
    events: EventCounts

    @classmethod
    def of_rows(cls, rows: RowDesign, outcome: OutcomeRows, *, state: PilotState,
                cbar: np.ndarray, edges: np.ndarray) -> "ExpansionSums":  # fmt: skip
        moments = group_moments(state.expanded(rows, outcome), xbar=cbar, ybar=0.0)
        score = (
            (rows.controls - state.cbar) @ state.beta if state.beta.size else np.zeros(rows.n_rows)
        )
        patterns = BinnedPatternSums.of_rows(
            rows.controls, rows.group, outcome.exposure, score, edges, rows.Z.shape[0]
        )
        return cls(moments, patterns, EventCounts.of_rows(rows, outcome))

    def plus(self, other: "ExpansionSums") -> "ExpansionSums":
        return ExpansionSums(self.moments.plus(other.moments), self.patterns.plus(other.patterns),
                             self.events.plus(other.events))  # fmt: skip


@dataclass(frozen=True)
class ApproximationCheck:
    """How close the approximate posterior is to the exact one (``approximation_check_``).

    On a random subsample of rows, for a subset of the posterior draws, the exact minus
    the approximate log-likelihood, scaled to all rows, is the log importance ratio of
    the exact to the approximate posterior. Pareto-smoothed importance sampling (ArviZ)
    estimates the tail of those ratios (are the weights reliable?), and the weighted
    draws estimate the exact posterior's means and sds of every group's intercept and
    effects (has the approximation moved them?).

    Attributes
    ----------
    method : str
        The approximation checked (``"laplace"``).
    pareto_k : float
        The Pareto k of the importance ratios: below 0.7 the weights are reliable
        (``-inf`` when the ratios are all equal).
    rows_checked, draws_checked : int
        The subsample's rows and the draws evaluated.
    max_shift : float or None
        The largest distance between a weighted (exact) and an unweighted (approximate)
        posterior mean, in approximate posterior sds, over each group's intercept and
        effects on the link scale and its effects on the response scale (at the
        controls' means). Above 0.25 the approximation has moved the posterior.
    largest_shift_at : str or None
        Where ``max_shift`` was found: the group's position and the quantity.
    sd_ratio_low, sd_ratio_high : float or None
        The range over the same quantities of the weighted over the unweighted
        posterior sd (reported, not tested: a weighted sd is noisier than a mean).
    fewest_events : int or None
        The fewest events (for binary outcomes, events or non-events) in a group's arm.
    sparsest_group : int or None
        The position of that group (in the order of ``effect_by_group``).
    n_rows : int or None
        All the rows. Where the check read only a subsample and a group's arm has
        fewer than 20 events, it cannot vouch for that group: the check then fails.
    reliable : bool
        ``pareto_k <= 0.7``, ``max_shift <= 0.25``, and not (a subsample and fewer than
        20 events in an arm).
    """

    method: str
    pareto_k: float
    rows_checked: int
    draws_checked: int
    # None where a fit saved before these were recorded is loaded
    max_shift: float | None = None
    largest_shift_at: str | None = None
    sd_ratio_low: float | None = None
    sd_ratio_high: float | None = None
    fewest_events: int | None = None
    n_rows: int | None = None
    sparsest_group: int | None = None

    @property
    def shifted(self) -> bool:
        """The weighted means moved by more than the tolerance."""
        return self.max_shift is not None and self.max_shift > SHIFT_TOLERANCE

    @property
    def sparse_unchecked(self) -> bool:
        """Few events in some group's arm, and rows the check did not read."""
        return (
            self.fewest_events is not None and self.fewest_events < MIN_EVENTS
            and self.n_rows is not None and self.rows_checked < self.n_rows
        )  # fmt: skip

    @property
    def reliable(self) -> bool:
        return not (self.pareto_k > PARETO_K_THRESHOLD or self.shifted or self.sparse_unchecked)


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
    fewest_events: int  # in any group's arm, see EventCounts.sparsest
    sparsest_group: int  # that group's position


def laplace_expansion(
    map_reduce, sample: tuple[RowDesign, OutcomeRows], *, n_rows: int, pooled_link: float,
    xbar: np.ndarray, priors: Priors, effect_units: np.ndarray | None = None,
) -> LaplaceExpansion:  # fmt: skip
    """The Laplace statistics at the pilot fit, from passes over the rows (``map_reduce``,
    see :func:`pilot_fit`). ``sample`` is a random subsample of the rows for the check;
    ``xbar`` the design's centring."""
    sample_rows, sample_outcome = sample
    p = sample_rows.controls.shape[1]
    cbar = np.asarray(xbar)[sample_rows.layout.controls]
    state, iterations = pilot_fit(
        map_reduce, n_groups=sample_rows.Z.shape[0], n_effects=sample_rows.n_effects,
        cbar=cbar, pooled_link=pooled_link, priors=priors, effect_units=effect_units,
    )  # fmt: skip
    scores = (sample_rows.controls - cbar) @ state.beta if p else np.zeros(0)
    sums = map_reduce(functools.partial(
        ExpansionSums.of_rows, state=state, cbar=cbar, edges=score_edges(scores)
    ))  # fmt: skip
    fewest, sparsest = sums.events.sparsest(family_of(sample_outcome.family))
    return LaplaceExpansion(
        statistics=statistics_from_moments(sums.moments, sample_rows.Z, xbar, 0.0),
        patterns=sums.patterns.patterns(), pilot=state, iterations=iterations,
        check_rows=state.expanded(sample_rows, sample_outcome), check_outcome=sample_outcome,
        n_rows=n_rows, fewest_events=fewest, sparsest_group=sparsest,
    )  # fmt: skip


def _group_quantities(sub: RowDesign, draws: dict, pick: np.ndarray, xbar: np.ndarray,
                      family: str) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """Each group's intercept and effects (link scale) and effects (response scale), at the
    controls' means, for the picked draws: (S, G, 1 + 2E) and the quantities' names."""
    G, E = sub.Z.shape[0], sub.n_effects
    p = sub.controls.shape[1]
    # one row per group and arm: no treatment, then each column at 1 (a dose: per unit)
    arms = np.vstack([np.zeros(E), np.eye(E)])
    rows = RowDesign(
        controls=np.broadcast_to(np.asarray(xbar)[sub.layout.controls], (G * (1 + E), p)),
        Z=sub.Z,
        group=np.repeat(np.arange(G), 1 + E), treatment=np.tile(arms, (G, 1)),
        outcome=np.zeros(G * (1 + E)),
    )  # fmt: skip
    u = draws["u"][pick][:, :G]  # (S, G, D); groups beyond G are padding
    population = (
        draws["Intercept"][pick][:, None] + draws["b"][pick] @ (rows.columns(slice(None)) - xbar).T
    )
    eta = population.reshape(-1, G, 1 + E) + u[..., :1] + np.einsum("sgd,ad->sga", u[..., 1:], arms)
    mean = family_of(family).mean(eta)
    link = eta[..., 1:] - eta[..., :1]
    response = mean[..., 1:] - mean[..., :1]
    names = (["intercept"] + [f"effect {k}" for k in range(E)]
             + [f"effect {k} (response scale)" for k in range(E)])  # fmt: skip
    if E == 1:
        names = ["intercept", "effect", "effect (response scale)"]
    return np.concatenate([eta[..., :1], link, response], axis=-1), names


def _weighted_moments(values: np.ndarray, log_weights: np.ndarray):
    """Weighted (exact) against unweighted (approximate) posterior: each quantity's shift
    of the mean in approximate sds, and its ratio of sds. ``values`` is (S, ...)."""
    weights = np.exp(log_weights - np.logaddexp.reduce(log_weights))
    weights = weights.reshape((-1,) + (1,) * (values.ndim - 1))
    mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1)
    weighted_mean = np.sum(weights * values, axis=0)
    weighted_sd = np.sqrt(np.sum(weights * (values - weighted_mean) ** 2, axis=0))
    spread = sd > 1e-12 * (1.0 + np.abs(mean))  # a constant quantity cannot move
    shift = np.where(spread, np.abs(weighted_mean - mean) / np.where(spread, sd, 1.0), 0.0)
    ratio = np.where(spread, weighted_sd / np.where(spread, sd, 1.0), 1.0)
    return shift, ratio


def check_approximation(
    expansion: LaplaceExpansion, draws: dict, *, xbar: np.ndarray, seed: int, stacklevel: int
) -> ApproximationCheck:
    """Check of the approximate posterior against the exact likelihood.

    ``draws`` are the flattened posterior draws of ``Intercept`` (S,), ``b`` (S, K) and the
    group offsets ``u`` (S, G, D). For each of up to ``CHECK_DRAWS`` draws the exact and
    the approximate log-likelihood of the subsample rows differ by ``d``; scaled to every
    row, ``d`` is the log ratio of the exact to the approximate posterior density. PSIS
    smooths the ratios; the smoothed weights turn the draws' means of each group's
    intercept and effects into estimates of the exact posterior's.
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
    quantities, names = _group_quantities(sub, draws, pick, xbar, outcome.family)
    if np.ptp(log_ratios) < 1e-9:  # equal weights: nothing to smooth, nothing moves
        khat = -np.inf
        shift, ratio = np.zeros(quantities.shape[1:]), np.ones(quantities.shape[1:])
    else:
        log_weights, khat = pareto_smoothed_log_weights(log_ratios, reff=1.0)
        shift, ratio = _weighted_moments(quantities, log_weights)
    where = np.unravel_index(int(np.argmax(shift)), shift.shape) if shift.size else None
    check = ApproximationCheck(
        "laplace", float(khat), sub.n_rows, int(pick.size),
        max_shift=float(shift.max(initial=0.0)),
        largest_shift_at=None if where is None else f"group {where[0]}, {names[where[1]]}",
        sd_ratio_low=float(ratio.min(initial=1.0)), sd_ratio_high=float(ratio.max(initial=1.0)),
        fewest_events=int(expansion.fewest_events), n_rows=int(expansion.n_rows),
        sparsest_group=int(expansion.sparsest_group),
    )  # fmt: skip
    if not check.reliable:
        warnings.warn(_warning_text(check, outcome.family), ApproximationWarning,
                      stacklevel=stacklevel)  # fmt: skip
    return check


def _warning_text(check: ApproximationCheck, family: str) -> str:
    found = []
    if check.pareto_k > PARETO_K_THRESHOLD:
        found.append(f"its importance weights are unreliable (Pareto k = {check.pareto_k:.2f} > "
                     f"{PARETO_K_THRESHOLD})")  # fmt: skip
    if check.shifted:
        found.append(
            f"it moves a group's posterior mean by {check.max_shift:.2f} posterior sd "
            f"(> {SHIFT_TOLERANCE}; at {check.largest_shift_at}, groups in the order of "
            "effect_by_group)"
        )
    if check.sparse_unchecked:
        found.append(
            f"group {check.sparsest_group} (in the order of effect_by_group) has an arm with "
            f"only {check.fewest_events} "
            f"event{'' if check.fewest_events == 1 else 's'} (fewer than {MIN_EVENTS}), "
            "where the expansion of the likelihood is poor, and the check read only "
            f"{check.rows_checked} of the {check.n_rows} rows"
        )
    return (
        f"the Laplace approximation of the {family} likelihood is not close enough to the "
        f"exact one here: {'; '.join(found)} (from {check.rows_checked} rows and "
        f"{check.draws_checked} draws). Some groups have too few events, or probabilities too "
        "near 0 or 1, for their likelihood to be nearly Gaussian. Refit with "
        "approximation='none' (exact, slower), or with fewer groups (coarser modifiers or bins)."
    )
