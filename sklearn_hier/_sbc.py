"""Simulation-based calibration (SBC) of :class:`HierarchicalHTE`.

Talts, Betancourt, Simpson, Vehtari and Gelman (2018): draw the parameters from
the prior, simulate data from them, fit, and find the rank of each true value
among (nearly independent) posterior draws. If the sampler draws from the exact
posterior of the model that generated the data, every rank is uniform on
``0..L``, whatever the data; a bias, an over- or under-dispersed posterior, or a
prior that differs from the one the simulator used, bends the histogram.

This module is a test harness, not part of the fit: nothing in the estimator
imports it. It has three parts:

- :func:`make_design` and :func:`draw_from_prior`: a fixed design (two numeric
  modifiers, a continuous control, a binary, three-arm, dose or two-column
  treatment) and a simulator that draws every parameter from the priors the
  model states (:mod:`._model`, :mod:`._families`), written independently in
  NumPy, then the outcome;
- :func:`run_case`: fits the estimator once per simulated data set, thins each
  quantity's draws by its effective sample size to ``L`` draws and records the
  rank of its true value;
- :func:`rank_pvalues` and :func:`holm`: tests of uniformity of the ranks per
  quantity (chi-square on binned ranks and Kolmogorov-Smirnov, Bonferroni-combined),
  adjusted for the many quantities (and cases) tested at once.

Sampler warnings during the fits are counted, not raised: a short chain's
warning is part of what SBC measures.
"""

import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats
from scipy import stats as sps

from ._base.coefficient_layout import CoefficientLayout
from ._base.families import family_of
from ._base.sampler_settings import FLAT_PARAMS, sampler_from_flat
from ._base.spec import ModelSpec, Priors
from ._modeling.hierarchical import with_fixed_slopes

#: Treatment kinds a design can carry.
TREATMENT_KINDS = ("binary", "arms", "dose", "several")
#: Trials per row of the binomial family's designs.
BINOMIAL_TRIALS = 5
#: Categories of the ordinal family's designs.
ORDINAL_CATEGORIES = 4
#: Modifier values (m1, m2) of a group absent from the designs used here (levels
#: evenly spaced in [-1, 1], 2 to 20 of them): whose effect is drawn from the population model.
UNSEEN_GROUP = (0.1234, -0.4321)


# ------------------------------------------------------------------ design
@dataclass(frozen=True)
class SBCDesign:
    """A fixed design: the columns handed to ``fit`` and the model's view of them.

    Groups are the combinations of two numeric modifiers ``m1`` and ``m2``
    (levels evenly spaced in [-1, 1]); the group-level predictors are the
    modifiers themselves; ``x`` is a standard-normal control. Rows are spread
    evenly over the groups, and within each group evenly over the arms.
    """

    X: pd.DataFrame
    treatment: pd.Series | pd.DataFrame
    kind: str
    group: np.ndarray  # (n,) group of each row
    codes: np.ndarray  # (G, 2) level index of each group's modifiers
    level_values: tuple  # per modifier, its level values
    t: np.ndarray  # (n, E) the model's treatment columns
    effect_names: tuple
    family: str

    # cached: the simulator reads them once per prior draw
    @cached_property
    def Z(self) -> np.ndarray:
        """(G, 2) group-level predictors: the modifiers' values."""
        return np.column_stack([v[self.codes[:, k]] for k, v in enumerate(self.level_values)])

    @cached_property
    def controls(self) -> np.ndarray:
        return self.X[["x"]].to_numpy(float)

    @property
    def trials(self) -> np.ndarray | None:
        """Each row's trials (the families that take them)."""
        if not family_of(self.family).takes_trials:
            return None
        return np.full(self.X.shape[0], BINOMIAL_TRIALS)

    @property
    def n_groups(self) -> int:
        return self.codes.shape[0]

    @cached_property
    def columns(self) -> np.ndarray:
        """(n, p + q + E + E q): the population-level design ``[controls, Z, t, t (x) Z]``."""
        zg = self.Z[self.group]
        inter = (self.t[:, :, None] * zg[:, None, :]).reshape(self.t.shape[0], -1)
        return np.hstack([self.controls, zg, self.t, inter])

    @cached_property
    def centred_columns(self) -> np.ndarray:
        """The design minus its column means (the model's centring, ``x - xbar``)."""
        return self.columns - self.columns.mean(axis=0)

    @cached_property
    def level_projections(self) -> tuple:
        """Per modifier, the projection onto level offsets orthogonal to the constant and
        to the modifier's own values (it is a group-level predictor)."""
        return tuple(
            _projection_out(np.column_stack([np.ones(v.size), v])) for v in self.level_values
        )

    @property
    def effect_units(self) -> np.ndarray:
        """Per effect, the multiplier of its prior scales: one over a dose's standard
        deviation (the model's priors are per unit of the dose's spread), else 1."""
        if self.kind != "dose":
            return np.ones(self.t.shape[1])
        return 1.0 / self.t.std(axis=0)

    @cached_property
    def group_labels(self) -> list:
        return [_group_label(self, g) for g in range(self.n_groups)]

    def estimator_params(self) -> dict:
        """The estimator parameters the design needs (modifiers, trials, coding)."""
        # unseen groups' effects come from the population model (UNSEEN_GROUP is ranked)
        params = {"modifiers": ["m1", "m2"], "family": self.family, "handle_unknown": "population"}
        if self.trials is not None:
            params["trials"] = BINOMIAL_TRIALS
        if self.kind == "dose":
            params["treatment_type"] = "continuous"
        if self.kind == "arms":
            params["control_value"] = "a"
        return params


def make_design(
    kind: str, family: str = "gaussian", *, n_rows: int = 300, levels=(4, 3), seed: int = 0,
    dose_sd: float = 1.0,
) -> SBCDesign:  # fmt: skip
    """A fixed design with ``n_rows`` rows over ``levels[0] x levels[1]`` groups.

    ``kind``: ``"binary"`` (0/1), ``"arms"`` (labels a, b, c; a is the reference),
    ``"dose"`` (positive doses with standard deviation ``dose_sd``) or ``"several"``
    (two 0/1 columns, crossed within each group).
    """
    if kind not in TREATMENT_KINDS:
        raise ValueError(f"kind must be one of {TREATMENT_KINDS}; got {kind!r}.")
    rng = np.random.default_rng(seed)
    level_values = tuple(np.linspace(-1.0, 1.0, n) for n in levels)
    codes = np.array([(i, j) for i in range(levels[0]) for j in range(levels[1])])
    n_groups = codes.shape[0]
    group = np.arange(n_rows) % n_groups
    within = np.arange(n_rows) // n_groups  # row's index within its group
    X = pd.DataFrame(
        {
            "m1": level_values[0][codes[group, 0]],
            "m2": level_values[1][codes[group, 1]],
            "x": rng.normal(size=n_rows),
        }
    )
    if kind == "binary":
        t = (within % 2).astype(float)[:, None]
        treatment, names = pd.Series(t[:, 0], name="treatment"), ("treatment",)
    elif kind == "arms":
        arm = within % 3
        t = np.column_stack([arm == 1, arm == 2]).astype(float)
        treatment, names = pd.Series(np.array(["a", "b", "c"])[arm], name="arm"), ("b", "c")
    elif kind == "dose":
        dose = rng.uniform(0.0, 1.0, n_rows)
        dose = dose * dose_sd / dose.std()
        t = dose[:, None]
        treatment, names = pd.Series(dose, name="dose"), ("dose",)
    else:
        t = np.column_stack([within % 2, (within // 2) % 2]).astype(float)
        treatment, names = pd.DataFrame(t, columns=["t1", "t2"]), ("t1", "t2")
    return SBCDesign(X, treatment, kind, group, codes, level_values, t, names, family)


# ------------------------------------------------------------------- prior
def scaled(priors: Priors, **factors) -> Priors:
    """``priors`` with some scales multiplied (a deliberately wrong simulator)."""
    return priors._replace(**{name: getattr(priors, name) * f for name, f in factors.items()})


def lkj_cholesky(dim: int, concentration: float, rng: np.random.Generator) -> np.ndarray:
    """Cholesky factor of a correlation matrix drawn from LKJ(concentration) (onion method,
    Lewandowski, Kurowicka and Joe 2009)."""
    beta = concentration + (dim - 2) / 2.0
    r = 2.0 * rng.beta(beta, beta) - 1.0 if dim > 1 else 0.0
    corr = np.array([[1.0]]) if dim == 1 else np.array([[1.0, r], [r, 1.0]])
    for k in range(2, dim):
        beta -= 0.5
        y = rng.beta(k / 2.0, beta)
        direction = rng.normal(size=k)
        w = np.sqrt(y) * direction / np.linalg.norm(direction)
        q = np.linalg.cholesky(corr) @ w
        corr = np.block([[corr, q[:, None]], [q[None, :], np.ones((1, 1))]])
    return np.linalg.cholesky(corr)


def _projection_out(spanned: np.ndarray) -> np.ndarray:
    """Projection onto the orthogonal complement of the columns of ``spanned``."""
    pinv = np.linalg.pinv(spanned)
    return np.eye(spanned.shape[0]) - spanned @ pinv


def _varying_scales(sd_scale: np.ndarray, lkj: float, rng) -> tuple[np.ndarray, np.ndarray]:
    sd = np.abs(rng.normal(0.0, sd_scale))  # half-normal
    return sd, lkj_cholesky(sd_scale.size, lkj, rng)


@dataclass
class PriorDraw:
    """One draw of every parameter and the outcome simulated from it."""

    y: np.ndarray
    truth: dict  # quantity name -> true value (the names of ``quantities``)


def draw_from_prior(
    design: SBCDesign, structure: str, priors: Priors, rng: np.random.Generator,
    *, max_tries: int = 5000, min_events: int = 0, max_outcome: float = np.inf,
    varying_slopes: bool = True,
) -> PriorDraw:  # fmt: skip
    """Draw the parameters from the model's priors and simulate ``y``.

    The model (see :mod:`._model`): ``eta = Intercept + (x - xbar) . b + u0[g] +
    sum_k u_k[g] t_k``, ``Intercept ~ N(0, intercept)`` (none for the ordinal family),
    ``b ~ N(0, coef)`` for every population-level coefficient, the varying terms
    ``(u0, u1..uE)`` multivariate normal with half-normal(sd) scales and an LKJ
    correlation; in the additive structure one such vector per level of each modifier,
    restricted to the complement of what the group-level predictors express. Gaussian:
    ``sigma ~ half-normal(sigma)``; ordinal: cutpoints the ordered transform of iid
    ``N(0, cutpoint)`` (first value, then log gaps). A dose's slope, its lambdas and
    its group sd have their scales divided by the dose's standard deviation. Without
    ``varying_slopes`` only the intercept varies (the effects' offsets are zero).

    A data set is drawn again when some ordinal category is empty (the fit drops
    unobserved categories); with ``min_events``, when a binary or binomial outcome
    has fewer events or non-events than that in some group's treated or untreated
    rows, or a count outcome fewer events (the sparse data on which
    ``approximation="auto"`` fits exactly rather than by the Laplace approximation;
    and the all-but-empty counts a negative binomial with a tiny shape makes); with
    ``max_outcome``, when some outcome exceeds it. Conditioning the simulation on an
    event of the data alone leaves every posterior, and so the ranks' uniformity,
    unchanged.
    """
    for _ in range(max_tries):
        draw = _draw_once(design, structure, priors, rng, varying_slopes)
        if (
            draw is not None and _enough_events(design, draw.y, min_events)
            and draw.y.max() <= max_outcome
        ):  # fmt: skip
            return draw
    raise RuntimeError(f"no simulated outcome met the case's conditions in {max_tries} tries")


def _enough_events(design: SBCDesign, y: np.ndarray, min_events: int) -> bool:
    family = family_of(design.family)
    if not min_events or not (family.approximable or family.events_only):
        return True
    trials = 1 if design.trials is None else BINOMIAL_TRIALS
    # counts have no non-events: only their events are counted
    trials = np.inf if family.events_only else trials
    arm = (design.t[:, 0] > 0).astype(int) if design.kind != "dose" else 0
    cell = design.group * 2 + arm
    events = np.bincount(cell, y, minlength=2 * design.n_groups)
    rows = np.bincount(cell, minlength=2 * design.n_groups)
    seen = rows > 0
    return bool(
        np.all(events[seen] >= min_events)
        and np.all(trials * rows[seen] - events[seen] >= min_events)
    )


def _draw_once(design: SBCDesign, structure: str, priors: Priors, rng, varying_slopes=True):
    family = family_of(design.family)
    x, xc = design.columns, design.centred_columns
    xbar = x.mean(axis=0)
    Z, G, E = design.Z, design.n_groups, design.t.shape[1]
    q, width = Z.shape[1], 1 + design.t.shape[1]
    intercept_c = rng.normal(0.0, priors.intercept) if family.has_intercept else 0.0
    # a dose's slope, lambdas and group sd have priors per unit of the dose's spread
    units = design.effect_units
    layout = CoefficientLayout(design.controls.shape[1], q, E)
    coef_scale = priors.coef * layout.per_effect(units)
    sd_scale = priors.sd * np.concatenate([[1.0], units if varying_slopes else []])
    varying = sd_scale.size  # the terms that vary by group
    b = rng.normal(0.0, coef_scale)
    truth = {}
    if structure == "nested":
        sd, chol = _varying_scales(sd_scale, priors.lkj, rng)
        u = with_fixed_slopes(rng.normal(size=(G, varying)) @ (sd[:, None] * chol).T, width - 1)
        truth["sd_intercept"] = sd[0]
        if varying_slopes:
            for e, name in enumerate(design.effect_names):
                truth[f"sd_effect[{name}]"] = sd[1 + e]
            truth["corr"] = chol[1, 0]  # the intercept's correlation with the first effect
    elif structure == "additive":
        u = np.zeros((G, width))
        for k, values in enumerate(design.level_values):
            projection = design.level_projections[k]
            if np.allclose(projection, 0.0):  # the predictors span every level
                continue
            sd, chol = _varying_scales(sd_scale, priors.lkj, rng)
            standard = rng.normal(size=(values.size, varying))
            offsets = projection @ (standard @ (sd[:, None] * chol).T)
            u += with_fixed_slopes(offsets, width - 1)[design.codes[:, k]]
            name = f"m{k + 1}"
            truth[f"sd_intercept[{name}]"] = sd[0]
            for e, effect in enumerate(design.effect_names[: varying - 1]):
                truth[f"sd_effect[{name},{effect}]"] = sd[1 + e]
    else:
        raise ValueError(f"structure must be 'nested' or 'additive'; got {structure!r}.")
    g, t = design.group, design.t
    eta = intercept_c + xc @ b + u[g, 0] + np.sum(u[g, 1:] * t, axis=1)
    params = family.draw_parameters(priors, rng, n_categories=ORDINAL_CATEGORIES)
    y = family.simulate(eta, rng, trials=design.trials, params=params)
    if family.categorical_outcome and np.unique(y).size < ORDINAL_CATEGORIES:
        return None
    for name, value in params.items():
        for k, v in enumerate(np.atleast_1d(value)):
            truth[f"{name}[{k}]" if np.ndim(value) else name] = float(v)
    blocks = layout.blocks(b)
    gamma, b_t, lam = blocks.group, blocks.treatment, blocks.interactions
    intercept = intercept_c - b @ xbar  # the reported intercept: every column at 0
    truth["Intercept"] = intercept
    truth["b_control[x]"] = b[0]
    for e, name in enumerate(design.effect_names):
        truth[f"b_treatment[{name}]"] = b_t[e]
        for j in range(q):
            truth[f"lambda[m{j + 1},{name}]"] = lam[e, j]
    group_intercept = intercept + Z @ gamma + u[:, 0]
    group_effect = b_t[None, :] + Z @ lam.T + u[:, 1:]
    for gi in watched_groups(G):
        label = design.group_labels[gi]
        truth[f"group_intercept[{label}]"] = group_intercept[gi]
        for e, name in enumerate(design.effect_names):
            truth[f"group_effect[{label},{name}]"] = group_effect[gi, e]
    # reports built on the parameters: the average effect over the training rows (what
    # population_effect reports), and in the nested structure the effect of a group
    # unseen in training, drawn from the population model as predict_effect draws it
    for e, name in enumerate(design.effect_names):
        truth[f"population_effect[{name}]"] = group_effect[g, e].mean()
    if structure == "nested":
        u_new = with_fixed_slopes((sd[:, None] * chol) @ rng.normal(size=varying), width - 1)
        unseen = b_t + lam @ np.asarray(UNSEEN_GROUP) + u_new[1:]
        for e, name in enumerate(design.effect_names):
            truth[f"unseen_effect[{name}]"] = unseen[e]
    return PriorDraw(y=y, truth=truth)


def watched_groups(n_groups: int) -> tuple[int, ...]:
    """The groups whose intercept and effects are ranked: first, middle, last."""
    return (0, n_groups // 2, n_groups - 1)


def _group_label(design: SBCDesign, gi: int) -> str:
    a, b = design.codes[gi]
    return f"{design.level_values[0][a]:g}|{design.level_values[1][b]:g}"


# ---------------------------------------------------------- posterior side
def posterior_quantities(est, design: SBCDesign, names) -> dict:
    """``(chain, draw)`` posterior draws of each named quantity of a fitted estimator."""
    post = est.idata_.posterior
    single = len(design.effect_names) == 1
    groups = est.groups_
    labels = [
        f"{float(m1):g}|{float(m2):g}" for m1, m2 in zip(groups["m1"], groups["m2"], strict=True)
    ]
    out = {}
    chains = post.sizes["chain"]
    population = None
    for name in names:
        base, _, rest = name.partition("[")
        keys = rest.rstrip("]").split(",") if rest else []
        if base == "population_effect":
            if population is None:  # one column per effect, chains stacked
                _, population = est.population_effect(scale="link", return_draws=True)
            effect = list(design.effect_names).index(keys[0])
            out[name] = np.asarray(population[:, effect], dtype=float).reshape(chains, -1)
            continue
        if base == "unseen_effect":
            row = pd.DataFrame({"m1": [UNSEEN_GROUP[0]], "m2": [UNSEEN_GROUP[1]], "x": [0.0]})
            draws = est.effect_draws(row, scale="link", treatment=keys[0])[:, 0]
            out[name] = np.asarray(draws, dtype=float).reshape(chains, -1)
            continue
        da = post[base]
        sel = {}
        if base in ("group_intercept", "group_effect"):
            sel["group"] = labels.index(keys.pop(0))
        elif base == "lambda":
            sel["group_predictor"] = ["m1", "m2"].index(keys.pop(0))
        elif base in ("sd_intercept", "sd_effect") and "varying_modifier" in da.dims:
            sel["varying_modifier"] = list(post["varying_modifier"].values).index(keys.pop(0))
        elif base == "b_control":
            sel["control"] = 0
            keys = []
        elif base == "cutpoints":
            sel[da.dims[-1]] = int(keys.pop(0))
        if keys and not single:
            sel["effect"] = list(post["effect"].values).index(keys.pop(0))
        if base == "corr" and not single:
            sel.update(term=0, other_term=1)
        out[name] = np.asarray(da.isel(sel).values, dtype=float)
    return out


def thinned_rank(draws: np.ndarray, truth: float, n_ranks: int, rng) -> tuple[int, bool]:
    """Rank of ``truth`` among ``n_ranks`` draws of ``draws`` (chain, draw), thinned by its
    effective sample size; also whether the thinning kept enough draws.

    Autocorrelated draws make ranks too concentrated at the ends; thinning to about one
    draw per effective draw makes them nearly independent (Talts et al. 2018, section
    5.1). When fewer than ``n_ranks`` thinned draws remain, ``n_ranks`` are taken evenly
    from all the draws and the rank is flagged.
    """
    n_total = draws.size
    ess = float(array_stats.ess(draws, chain_axis=0, draw_axis=1, method="bulk"))
    stride = int(np.ceil(n_total / max(ess, 1.0))) if np.isfinite(ess) else n_total
    thinned = draws[:, :: max(stride, 1)].ravel()
    enough = thinned.size >= n_ranks
    if enough:
        chosen = rng.choice(thinned, size=n_ranks, replace=False)
    else:
        flat_draws = draws.ravel()
        chosen = flat_draws[np.linspace(0, n_total - 1, n_ranks).round().astype(int)]
    below = np.sum(chosen < truth)
    ties = np.sum(chosen == truth)  # only for degenerate draws; broken at random
    return int(below + rng.integers(0, ties + 1)), enough


# -------------------------------------------------------------- uniformity
def rank_pvalues(ranks: np.ndarray, n_ranks: int, n_bins: int, *, seed: int = 0) -> np.ndarray:
    """P-value of uniformity of each column of ``ranks`` (runs, quantities), ranks in
    ``0..n_ranks``.

    Two tests, Bonferroni-combined (twice the smaller p-value): a chi-square test of the
    ranks binned into ``n_bins`` equal bins (``n_ranks + 1`` must be a multiple of
    ``n_bins``), which sees humps and U shapes (a posterior too wide or too narrow), and
    a Kolmogorov-Smirnov test of the ranks made continuous, ``(rank + U) / (n_ranks +
    1)`` with U uniform (exactly uniform under calibration), which sees a shift of the
    ranks to one side (a biased posterior) with fewer runs than binning does.

    The chi-square p-value is an approximation that needs about 5 ranks expected per
    bin; with fewer runs the bins are merged (to a divisor of ``n_ranks + 1``) until
    they expect that many, and below 10 runs only the (exact) Kolmogorov-Smirnov test
    is used.
    """
    if (n_ranks + 1) % n_bins:
        raise ValueError(f"n_ranks + 1 ({n_ranks + 1}) must be a multiple of n_bins ({n_bins}).")
    ranks = np.asarray(ranks)
    if ranks.ndim == 1:
        ranks = ranks[:, None]
    jitter = np.random.default_rng(seed).uniform(size=ranks.shape)
    ks = sps.kstest((ranks + jitter) / (n_ranks + 1), "uniform", axis=0).pvalue
    n_runs = ranks.shape[0]
    bins = max((d for d in range(2, n_bins + 1) if n_bins % d == 0 and n_runs >= 5 * d), default=0)
    if not bins:
        return ks
    per_bin = (n_ranks + 1) // bins
    counts = np.stack(
        [np.bincount(ranks[:, j] // per_bin, minlength=bins) for j in range(ranks.shape[1])]
    )
    chi2 = sps.chisquare(counts, axis=1).pvalue
    return np.minimum(2.0 * np.minimum(chi2, ks), 1.0)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error), in the input's order."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


# -------------------------------------------------------------------- runs
@dataclass(frozen=True)
class SBCCase:
    """One cell of the grid: the model, the sampler and the simulator's prior."""

    family: str = "gaussian"
    structure: str = "nested"
    kind: str = "binary"
    n_rows: int = 300
    levels: tuple = (4, 3)
    fit_params: dict = field(default_factory=dict)  # extra HierarchicalHTE parameters
    prior_factors: dict = field(default_factory=dict)  # simulator's scales x these
    name: str = ""
    dose_sd: float = 1.0
    min_events: int = 0  # condition on data with this many events per group and arm
    max_outcome: float = np.inf  # ... and no outcome above this

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        settings = dict(self.fit_params)
        if self.kind == "dose" and self.dose_sd != 1.0:
            settings["dose_sd"] = self.dose_sd
        extra = ",".join(f"{k}={v}" for k, v in sorted(settings.items()))
        return f"{self.family}/{self.structure}/{self.kind}" + (f" [{extra}]" if extra else "")


@dataclass
class CaseResult:
    """Ranks of one case and their test."""

    case: SBCCase
    names: list
    ranks: np.ndarray  # (runs, quantities)
    n_ranks: int
    n_bins: int
    seconds: float
    warnings: dict  # category name -> count
    short_thinning: int  # ranks taken from fewer than n_ranks effective draws
    errors: list  # messages of fits that raised

    @property
    def runs(self) -> int:
        return self.ranks.shape[0]

    @property
    def pvalues(self) -> np.ndarray:
        return rank_pvalues(self.ranks, self.n_ranks, self.n_bins)

    def coverage(self, prob: float = 0.9) -> np.ndarray:
        """Per quantity, the share of runs whose truth fell in the central ``prob``
        interval of the draws (``prob`` for a calibrated posterior)."""
        u = (self.ranks + 0.5) / (self.n_ranks + 1)
        return np.mean(np.abs(u - 0.5) < prob / 2, axis=0)

    def summary(self, adjusted: np.ndarray | None = None, alpha: float = 0.01) -> dict:
        """A table row: the smallest adjusted p-value, the quantity it belongs to, pass."""
        p = self.pvalues
        adjusted = holm(p) if adjusted is None else adjusted
        worst = int(np.argmin(adjusted))
        coverage = self.coverage()
        return {
            "case": self.case.label,
            "runs": self.runs,
            "min_p_adj": float(adjusted[worst]),
            "worst": self.names[worst],
            "raw_p": float(p[worst]),
            "cover90_min": float(coverage.min()),
            "cover90_mean": float(coverage.mean()),
            "pass": bool(adjusted[worst] >= alpha and not self.errors),
            "seconds": round(self.seconds, 1),
            "warnings": sum(self.warnings.values()),
            "short": self.short_thinning,
            "errors": len(self.errors),
        }


def run_case(
    case: SBCCase, runs: int, *, n_ranks: int = 99, n_bins: int = 20, seed: int = 0,
    sampler: dict | None = None, progress=None, first_run: int = 0,
) -> CaseResult:  # fmt: skip
    """Simulate and fit ``runs`` data sets of ``case``; return the ranks.

    Run ``r`` draws its data set from the seed ``(seed, r)``, for ``r`` from
    ``first_run``: a case split into shards of consecutive runs, fitted apart and
    joined by :func:`merge_results`, gives the ranks of one unsplit call.

    ``sampler``: the sampler's settings by their flat names (``num_warmup``,
    ``num_samples``, ``num_chains``..., and ``inference``, ``svi_steps``... as the
    case's ``fit_params`` also name them). Every run's data set has the same design,
    so every fit after the first reuses the compiled sampler.
    """
    from ._estimator import HierarchicalHTE

    flat = {"num_warmup": 300, "num_samples": 300, "num_chains": 2, **(sampler or {})}
    flat.update({k: v for k, v in case.fit_params.items() if k in FLAT_PARAMS})
    model_params = {k: v for k, v in case.fit_params.items() if k not in FLAT_PARAMS}
    design = make_design(
        case.kind, case.family, n_rows=case.n_rows, levels=case.levels, dose_sd=case.dose_sd
    )
    params = {
        "structure": case.structure, **design.estimator_params(), **model_params,
        "sampler": sampler_from_flat(flat),
    }  # fmt: skip
    fit_priors = ModelSpec.from_params(HierarchicalHTE(**params).get_params()).priors
    sim_priors = scaled(fit_priors, **case.prior_factors)
    names, rows, errors, counts, short = None, [], [], {}, 0
    started = time.perf_counter()
    for run in range(first_run, first_run + runs):
        rng = np.random.default_rng([seed, run])
        draw = draw_from_prior(
            design, case.structure, sim_priors, rng, min_events=case.min_events,
            max_outcome=case.max_outcome, varying_slopes=params.get("varying_slopes", True),
        )  # fmt: skip
        names = names or list(draw.truth)
        est = HierarchicalHTE(**params, random_state=int(rng.integers(2**31 - 1)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                est.fit(design.X, draw.y, treatment=design.treatment)
            except Exception as error:  # a fit that raises is a failure of the case
                errors.append(f"run {run}: {type(error).__name__}: {error}")
                continue
        for w in caught:
            counts[w.category.__name__] = counts.get(w.category.__name__, 0) + 1
        draws = posterior_quantities(est, design, names)
        ranks = []
        for name in names:
            rank, enough = thinned_rank(draws[name], draw.truth[name], n_ranks, rng)
            ranks.append(rank)
            short += not enough
        rows.append(ranks)
        if progress is not None:
            progress(run)
    ranks = np.array(rows, dtype=int).reshape(len(rows), len(names or []))
    return CaseResult(
        case=case, names=names or [], ranks=ranks, n_ranks=n_ranks, n_bins=n_bins,
        seconds=time.perf_counter() - started, warnings=counts, short_thinning=short,
        errors=errors,
    )  # fmt: skip


def merge_results(shards: list) -> CaseResult:
    """One case's result from shards of its runs (in run order)."""
    first = shards[0]
    if any(s.case != first.case or s.names != first.names for s in shards if s.names):
        raise ValueError("shards of different cases or quantities cannot be merged")
    counts: dict = {}
    for shard in shards:
        for name, count in shard.warnings.items():
            counts[name] = counts.get(name, 0) + count
    names = next((s.names for s in shards if s.names), [])
    return CaseResult(
        case=first.case, names=names,
        ranks=np.concatenate([s.ranks.reshape(-1, len(names)) for s in shards]),
        n_ranks=first.n_ranks, n_bins=first.n_bins,
        seconds=sum(s.seconds for s in shards), warnings=counts,
        short_thinning=sum(s.short_thinning for s in shards),
        errors=[e for s in shards for e in s.errors],
    )  # fmt: skip


def grid_table(results: list, *, alpha: float = 0.01, jointly: list | None = None) -> pd.DataFrame:
    """One row per case. The p-values of the cases in ``jointly`` (default: all) are
    Holm-adjusted together, across every quantity of every such case, so the grid as a
    whole passes a correct model with probability at least ``1 - alpha``; the others
    (a deliberately broken model, an approximation measured but not required to pass)
    are adjusted within their own case."""
    jointly = list(range(len(results))) if jointly is None else sorted(jointly)
    pooled = np.concatenate([results[i].pvalues for i in jointly]) if jointly else np.array([])
    adjusted_pooled = holm(pooled) if pooled.size else pooled
    rows, start = [], 0
    for i, result in enumerate(results):
        if i in jointly:
            k = len(result.names)
            adjusted = adjusted_pooled[start : start + k]
            start += k
        else:
            adjusted = holm(result.pvalues)
        rows.append(result.summary(adjusted, alpha))
    return pd.DataFrame(rows)
