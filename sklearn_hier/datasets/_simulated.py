"""Simulated experiments with known group treatment effects."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state


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
        One row per group present in ``X``: the modifier values, ``n`` and the
        true ``effect``.
    modifiers : list of str
        Names of the modifier columns.
    """

    X: pd.DataFrame
    y: np.ndarray
    treatment: np.ndarray
    true_effect: np.ndarray
    group_effects: pd.DataFrame
    modifiers: list

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
    random_state=None,
) -> SimulatedHTE:
    """Simulate a randomised experiment whose effect varies across modifier groups.

    Each modifier ``m_k`` takes integer levels ``0 .. n_levels[k]-1`` uniformly.
    A group (a combination of levels) has the true effect
    ``effect_mean + sum_k effect_slopes[k] * m_k + u_g`` with
    ``u_g ~ Normal(0, sigma_theta)``: exactly the hierarchical model's
    structure, with the modifiers as group-level predictors. Its intercept
    varies likewise. The outcome is
    ``y = intercept_g + controls @ beta + effect_g * treatment + Normal(0, noise)``.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of rows.
    n_levels : sequence of int, default=(2, 2, 5)
        Number of levels of each modifier.
    effect_mean : float, default=0.3
        Effect when every modifier is at level 0 (before group noise).
    effect_slopes : sequence of float, default=None
        lambda, the change in effect per level of each modifier; ``None``
        draws them from ``Normal(0, 0.1)``.
    sigma_theta : float, default=0.1
        Standard deviation of group effects around their systematic part.
    n_controls : int, default=2
        Number of standard-normal controls.
    noise : float, default=1.0
        Residual standard deviation.
    treated_share : float, default=0.5
        Probability of treatment (assigned at random).
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
    n_levels = [int(k) for k in n_levels]
    n_mod = len(n_levels)
    slopes = (
        rng.normal(0.0, 0.1, n_mod) if effect_slopes is None else np.asarray(effect_slopes, float)
    )
    levels = np.stack([rng.randint(0, k, n_samples) for k in n_levels], axis=1)
    # every possible group gets its own draw, so the truth does not depend on n_samples
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in n_levels], indexing="ij"), -1)
    grid = grid.reshape(-1, n_mod)
    group_noise = rng.normal(0.0, sigma_theta, len(grid))
    intercept_noise = rng.normal(0.0, 0.2, len(grid))
    radices = np.cumprod([1] + n_levels[:0:-1])[::-1]
    row_cell = levels @ radices
    cell_effect = effect_mean + grid @ slopes + group_noise
    cell_intercept = grid @ rng.normal(0.0, 0.1, n_mod) + intercept_noise
    controls = rng.normal(size=(n_samples, n_controls))
    beta = rng.normal(0.0, 0.3, n_controls)
    treatment = (rng.uniform(size=n_samples) < treated_share).astype(float)
    effect = cell_effect[row_cell]
    y = (
        cell_intercept[row_cell]
        + controls @ beta
        + effect * treatment
        + rng.normal(0.0, noise, n_samples)
    )
    modifiers = [f"m{k}" for k in range(n_mod)]
    X = pd.DataFrame(levels, columns=modifiers)
    for j in range(n_controls):
        X[f"c{j}"] = controls[:, j]
    present, counts = np.unique(row_cell, return_counts=True)
    groups = pd.DataFrame(grid[present], columns=modifiers)
    groups["n"] = counts
    groups["effect"] = cell_effect[present]
    return SimulatedHTE(X, y, treatment, effect, groups, modifiers)
