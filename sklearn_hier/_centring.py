"""Which groups the nested structure samples centred.

A group whose own data pin its effect down (standard error well below the
spread of effects between groups) is better sampled centred: non-centred, its
offset and the group sds form a ridge that costs NUTS hundreds of leapfrog
steps per draw. A group the data leave uncertain relative to that spread is
better non-centred: centred, it recreates the funnel between the offsets and
their sd (divergences). The posterior is the same either way.
"""

import numpy as np

#: A group is centred when its effect's standard error is below this share of
#: prior_sd_scale. Small on purpose: sigma_theta is often far below the prior's
#: scale, and thousands of rows per group clear this bar whatever sigma_theta is.
CENTERING_SE_RATIO = 0.02

#: ... or below this share of the between-group spread of effects that the
#: group-level predictors leave unexplained (a moment estimate of sigma_theta);
#: there the posterior of each group effect is at least 80% its own data.
CENTERING_SPREAD_RATIO = 0.5

#: Fewest residual degrees of freedom for the moment estimate of that spread.
MIN_SPREAD_DOF = 8


def unexplained_effect_spread(effect: np.ndarray, se: np.ndarray, Z: np.ndarray) -> float:
    """Moment estimate of sigma_theta: the residual spread of the groups' raw effect
    estimates around a least-squares fit on ``[1, Z]``, less their sampling noise.

    Groups with a single arm (``effect`` not finite) are left out; 0.0 when too
    few groups remain to estimate it.
    """
    usable = np.isfinite(effect) & np.isfinite(se)
    design = np.column_stack([np.ones(int(usable.sum())), Z[usable]])
    rank = np.linalg.matrix_rank(design) if design.size else 0
    dof = int(usable.sum()) - rank
    if dof < MIN_SPREAD_DOF:
        return 0.0
    coef = np.linalg.lstsq(design, effect[usable], rcond=None)[0]
    residual = effect[usable] - design @ coef
    excess = residual @ residual / dof - np.mean(se[usable] ** 2)
    return float(np.sqrt(max(excess, 0.0)))


def centred_groups(
    n: np.ndarray, m: np.ndarray, effect: np.ndarray, Z: np.ndarray, *,
    outcome_sd: float, prior_sd_scale: float,
) -> np.ndarray:  # fmt: skip
    """1.0 for each group (``n`` rows, ``m`` treated, raw ``effect``) sampled centred."""
    n, m = n.astype(float), m.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # the outcome's total sd overstates the noise: conservative in both rules
        se = outcome_sd * np.sqrt(1.0 / m + 1.0 / (n - m))
    se = np.where(np.isfinite(se), se, np.inf)
    spread = unexplained_effect_spread(np.where(np.isfinite(se), effect, np.nan), se, Z)
    bar = max(CENTERING_SE_RATIO * prior_sd_scale, CENTERING_SPREAD_RATIO * spread)
    return (se < bar).astype(float)
