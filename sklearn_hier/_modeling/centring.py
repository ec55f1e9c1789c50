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
#: prior_sd_scale. Small on purpose: sd_effect is often far below the prior's
#: scale, and thousands of rows per group clear this bar whatever sd_effect is.
CENTERING_SE_RATIO = 0.02

#: ... or below this share of the between-group spread of effects that the
#: group-level predictors leave unexplained (a moment estimate of sd_effect);
#: there the posterior of each group effect is at least 80% its own data.
CENTERING_SPREAD_RATIO = 0.5

#: Fewest residual degrees of freedom for the moment estimate of that spread.
MIN_SPREAD_DOF = 8


def unexplained_effect_spread(effect: np.ndarray, se: np.ndarray, Z: np.ndarray) -> float:
    """Moment estimate of sd_effect: the residual spread of the groups' raw effect
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
    effect: np.ndarray, se: np.ndarray, Z: np.ndarray, *, prior_sd_scale
) -> np.ndarray:
    """1.0 for each group sampled centred: every one of its raw effects (``effect``, (G, E),
    with standard errors ``se``; not finite where its rows cannot estimate one) is
    pinned down by its own data. ``prior_sd_scale``: the effects' sd prior scale, one for
    all or one per effect (a dose's is in its units)."""
    se = np.where(np.isfinite(se), se, np.inf)
    centred = np.ones(se.shape[0], dtype=bool)
    prior_sd_scale = np.broadcast_to(np.asarray(prior_sd_scale, dtype=float), se.shape[1:])
    for k in range(se.shape[1]):
        estimate = np.where(np.isfinite(se[:, k]), effect[:, k], np.nan)
        spread = unexplained_effect_spread(estimate, se[:, k], Z)
        bar = max(CENTERING_SE_RATIO * prior_sd_scale[k], CENTERING_SPREAD_RATIO * spread)
        centred &= se[:, k] < bar
    return centred.astype(float)
