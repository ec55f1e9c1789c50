"""Simulated experiments with known group treatment effects."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.utils import check_random_state

from .._base.families import family_of


@dataclass
class SimulatedHTE:
    """A simulated data set and the truth behind it.

    Attributes
    ----------
    X : pandas.DataFrame
        Modifiers ``m0, m1, ...`` then controls ``c0, c1, ...``.
    y : numpy.ndarray
        Outcome.
    treatment : numpy.ndarray
        Binary treatment (0/1).
    true_effect : numpy.ndarray
        The true treatment effect of every row (its group's effect).
    group_effects : pandas.DataFrame
        One row per group present in ``X``: the modifier values (for a
        continuous modifier, its bin number), ``n`` and the true ``effect``
        (the average true effect of the group's rows).
    modifiers : list of str
        Names of the modifier columns.
    bins : dict
        ``{column: edges}`` of the continuous modifiers: pass as
        ``HierarchicalHTE(bins=...)`` to form the true groups.
    group : numpy.ndarray
        The true group (row of ``group_effects``) of every row.
    """

    X: pd.DataFrame
    y: np.ndarray
    treatment: np.ndarray
    true_effect: np.ndarray
    group_effects: pd.DataFrame
    modifiers: list
    bins: dict = None
    group: np.ndarray = None

    def __iter__(self):  # allows X, y, treatment, ... = make_grouped_hte(...)
        return iter((self.X, self.y, self.treatment, self.true_effect, self.group_effects))


def make_grouped_hte(
    n_samples: int = 2000,
    *,
    n_levels=(2, 2, 5),
    effect_mean: float = 0.3,
    effect_slopes=None,
    sigma_theta: float = 0.1,
    n_controls: int = 2,
    noise: float = 1.0,
    treated_share: float = 0.5,
    family: str = "gaussian",
    max_trials: int = 10,
    n_categories: int = 5,
    student_df: float = 4.0,
    count_shape: float = 2.0,
    n_continuous: int = 0,
    continuous_bins: int = 4,
    nonlinear: float = 0.0,
    imbalance: float = 0.0,
    confounding: float = 0.0,
    random_state=None,
) -> SimulatedHTE:
    """Simulate a randomised experiment whose effect varies across modifier groups.

    Each modifier ``m_k`` takes integer levels ``0 .. n_levels[k]-1``
    (uniformly unless ``imbalance``); continuous modifiers ``x_j`` are uniform
    on [0, 1] and form groups through ``continuous_bins`` equal-width bins.
    A group (a combination of levels and bins) has the true effect
    ``effect_mean + sum_k effect_slopes[k] * m_k + u_g`` (plus the slopes of
    the continuous modifiers times their values) with
    ``u_g ~ Normal(0, sigma_theta)``: exactly the hierarchical model's
    structure, with the modifiers as group-level predictors. Its intercept
    varies likewise. The outcome is
    ``y = intercept_g + controls @ beta + effect_g * treatment + Normal(0, noise)``.
    ``nonlinear`` adds heterogeneity the hierarchical model cannot express:
    an interaction of the first two modifiers and a wave in the first
    continuous modifier that varies within its bins.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of rows.
    n_levels : sequence of int, default=(2, 2, 5)
        Number of levels of each modifier.
    effect_mean : float, default=0.3
        Effect when every modifier is at level 0 (before group noise).
    effect_slopes : sequence of float, default=None
        lambda, the change in effect per level of each modifier (then per unit
        of each continuous modifier); ``None`` draws them from ``Normal(0, 0.1)``.
    sigma_theta : float, default=0.1
        Standard deviation of group effects around their systematic part.
    n_controls : int, default=2
        Number of standard-normal controls.
    noise : float, default=1.0
        Residual standard deviation.
    treated_share : float, default=0.5
        Probability of treatment (assigned at random).
    family : {"gaussian", "bernoulli", "binomial", "poisson", "ordinal", "student", \
"negbinomial"}, default="gaussian"
        Outcome family. The effects above are then on the link scale (logit,
        log, cumulative logit), and ``true_effect`` and ``group_effects["effect"]``
        are the response-scale truth: the change in the expected outcome
        (probability, count, expected category 1..K), averaged over each
        group's rows; ``group_effects["effect_link"]`` keeps the link-scale one.
        ``noise`` is the residual scale of the Gaussian and Student-t families. The
        count families have a base rate of 3 (an expected count of 3 exp(eta)).
    max_trials : int, default=10
        Binomial family: each row has 1..max_trials trials, in column ``trials`` of X.
    n_categories : int, default=5
        Ordinal family: number of ordered categories (outcome 1..K).
    student_df : float, default=4.0
        Student-t family: degrees of freedom of the residuals.
    count_shape : float, default=2.0
        Negative binomial family: the shape (variance ``mu + mu^2 / shape``).
    n_continuous : int, default=0
        Number of continuous modifiers ``x0, x1, ...`` (uniform on [0, 1]).
    continuous_bins : int, default=4
        Equal-width bins of each continuous modifier that define the true groups
        (their edges are returned in ``bins``).
    nonlinear : float, default=0.0
        Strength of the nonlinear heterogeneity: adds
        ``nonlinear * ((m0 - mean) * (m1 - mean) + sin(2 pi x0))`` to the effect
        (each term when its modifiers exist).
    imbalance : float, default=0.0
        Level ``j`` of each discrete modifier has probability proportional to
        ``exp(-imbalance * j)``, so groups differ in size.
    confounding : float, default=0.0
        Treatment probability ``expit(logit(treated_share) + confounding * c0)``:
        the first control drives both treatment and outcome (adjusting for the
        controls removes the bias).
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible data.

    Returns
    -------
    data : SimulatedHTE
        Unpacks as ``X, y, treatment, true_effect, group_effects``.

    Examples
    --------
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> X, y, t, tau, groups = make_grouped_hte(500, random_state=0)
    >>> X.shape, len(groups) <= 2 * 2 * 5
    ((500, 5), True)
    """
    rng = check_random_state(random_state)
    n_levels = [int(k) for k in n_levels] + [int(continuous_bins)] * int(n_continuous)
    n_discrete = len(n_levels) - int(n_continuous)
    n_mod = len(n_levels)
    slopes = (
        rng.normal(0.0, 0.1, n_mod) if effect_slopes is None else np.asarray(effect_slopes, float)
    )
    if slopes.size != n_mod:
        raise ValueError(
            f"effect_slopes needs {n_mod} values (one per modifier); got {slopes.size}."
        )
    levels = np.empty((n_samples, n_mod), dtype=np.int64)
    for k in range(n_discrete):
        if imbalance:
            p = np.exp(-float(imbalance) * np.arange(n_levels[k]))
            levels[:, k] = rng.choice(n_levels[k], n_samples, p=p / p.sum())
        else:
            levels[:, k] = rng.randint(0, n_levels[k], n_samples)
    continuous = rng.uniform(size=(n_samples, int(n_continuous)))
    levels[:, n_discrete:] = np.minimum(continuous * continuous_bins, continuous_bins - 1)
    # every possible group gets its own draw, so the truth does not depend on n_samples
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in n_levels], indexing="ij"), -1)
    grid = grid.reshape(-1, n_mod)
    group_noise = rng.normal(0.0, sigma_theta, len(grid))
    intercept_noise = rng.normal(0.0, 0.2, len(grid))
    radices = np.cumprod([1] + n_levels[:0:-1])[::-1]
    row_cell = levels @ radices
    values = np.hstack([levels[:, :n_discrete].astype(float), continuous])
    row_effect = effect_mean + values @ slopes + group_noise[row_cell]
    if nonlinear:
        if n_discrete >= 2:
            centred = values[:, :2] - (np.asarray(n_levels[:2]) - 1) / 2
            row_effect = row_effect + nonlinear * centred[:, 0] * centred[:, 1]
        if n_continuous:
            row_effect = row_effect + nonlinear * np.sin(2 * np.pi * continuous[:, 0])
    cell_intercept = grid @ rng.normal(0.0, 0.1, n_mod) + intercept_noise
    controls = rng.normal(size=(n_samples, n_controls))
    beta = rng.normal(0.0, 0.3, n_controls)
    logit = np.log(treated_share / (1 - treated_share))
    if confounding and n_controls:
        logit = logit + confounding * controls[:, 0]
    treatment = (rng.uniform(size=n_samples) < expit(logit)).astype(float)
    link_effect = row_effect
    eta0 = cell_intercept[row_cell] + controls @ beta
    eta = eta0 + link_effect * treatment
    outcome = family_of(family)
    trials = rng.randint(1, max_trials + 1, n_samples) if outcome.takes_trials else None
    categories = np.arange(1.0, n_categories + 1)
    params = {
        "sigma": noise, "nu": student_df, "shape": count_shape,
        "cutpoints": np.linspace(-1.5, 1.5, n_categories - 1),
    }  # fmt: skip
    # counts have a base rate of 3 (an exposure of 3 for every row)
    exposure = 3.0 if outcome.takes_exposure else None
    y = outcome.simulate(eta, rng, trials=trials, exposure=exposure, params=params)
    if outcome.categorical_outcome:
        y = categories[y.astype(int)]

    def expected(e):
        return outcome.response_mean(
            e[None, :], exposure=exposure,
            params={k: np.asarray(v)[None] for k, v in params.items()},
            category_values=categories,
        )[0]  # fmt: skip

    effect = link_effect if outcome.identity_link else expected(eta0 + link_effect) - expected(eta0)
    modifiers = [f"m{k}" for k in range(n_discrete)] + [f"x{j}" for j in range(n_continuous)]
    X = pd.DataFrame(levels[:, :n_discrete], columns=modifiers[:n_discrete])
    for j in range(n_continuous):
        X[f"x{j}"] = continuous[:, j]
    for j in range(n_controls):
        X[f"c{j}"] = controls[:, j]
    if trials is not None:
        X["trials"] = trials
    present, group, counts = np.unique(row_cell, return_inverse=True, return_counts=True)
    groups = pd.DataFrame(grid[present], columns=modifiers)
    groups["n"] = counts
    groups["effect"] = np.bincount(group, weights=effect) / counts
    groups["effect_link"] = np.bincount(group, weights=link_effect) / counts
    edges = np.linspace(0.0, 1.0, int(continuous_bins) + 1)
    bins = {f"x{j}": edges for j in range(n_continuous)}
    return SimulatedHTE(X, y, treatment, effect, groups, modifiers, bins, group)
