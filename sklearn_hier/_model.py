"""The hierarchical model as pure NumPyro functions of arrays.

Sizes are passed in as a hashable :class:`ModelSizes` so that the compiled
sampler can be cached per structure; data and prior scales are ordinary array
arguments, so refitting on new data of the same shape, or with other prior
scales, reuses the compiled code.

Outcome equation (Gaussian), for row i in group g with treatment t::

    y_i ~ Normal(mu_i, sigma)
    mu_i = Intercept + (x_i - xbar) . b + u0[g] + u1[g] * t_i

where ``x_i = [controls, Z_g, t, t * Z_g]``, so the group's intercept has mean
``Z_g . gamma`` and its treatment effect ``theta_g = b_t + Z_g . lambda + u1[g]``.
The varying parts ``(u0[g], u1[g])`` are bivariate normal with standard
deviations ``(sd_intercept, sd_effect)`` and an LKJ prior on their correlation,
non-centred. In the additive structure each modifier k has its own varying
pair per level and a group's pair is the sum over its levels.
"""

from enum import StrEnum
from typing import NamedTuple

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._families import family_likelihood
from ._model_data import CentredGroups, ModelData
from ._spec import Priors
from ._statistics import GaussianStatistics


class Likelihood(StrEnum):
    """How the data enter the model (one compiled program each)."""

    GAUSSIAN_MARGINAL = "gaussian_marginal"  # statistics; linear parameters integrated out
    GAUSSIAN_CELLS = "gaussian_cells"  # statistics; everything sampled jointly
    GAUSSIAN_ROWS = "gaussian_rows"  # row by row (for checking the reduction)
    CELLS = "cells"  # collapsed cells of a non-Gaussian family


class ModelSizes(NamedTuple):
    """Static description of a model: everything that changes its shapes."""

    structure: str  # "nested" or "additive"
    likelihood: Likelihood
    n_groups: int
    n_coef: int
    level_dims: tuple[tuple[int, int], ...] = ()  # additive: (levels, free dims) per modifier
    family: str = "gaussian"
    n_categories: int = 0  # ordinal outcomes


def _scales(name: str, priors: Priors) -> jnp.ndarray:
    """Cholesky factor of the 2x2 covariance of (intercept, effect) offsets."""
    sd = numpyro.sample(f"sd_{name}", dist.HalfNormal(priors.sd).expand([2]).to_event(1))
    chol = numpyro.sample(f"L_{name}", dist.LKJCholesky(2, priors.lkj))
    return sd[:, None] * chol


def correlated_offsets(
    name: str, n_units: int, priors: Priors, centered=None, mean=None
) -> jnp.ndarray:
    """(n_units, 2) iid bivariate-normal (intercept, effect) offsets.

    Each unit's offsets are non-centred (a standard normal, scaled) unless
    ``centered`` (a 0/1 array, data) marks it. Small groups inform their
    offsets weakly, and the non-centred form avoids the funnel between the
    offsets and their scale. A group with thousands of rows pins down its own
    intercept and effect; then the centred form is the better geometry: the
    sampled value is the group's intercept and effect themselves, with prior
    bivariate normal around ``mean`` (what the population-level terms predict
    for it), so the population coefficients meet that group's data only
    through this prior and no ridge runs between them and its offsets. The
    centred units' density is added as a correction to the standard normal,
    so one compiled program serves any mix of units.
    """
    scale_tril = _scales(name, priors)
    z = numpyro.sample(f"z_{name}", dist.Normal(0.0, 1.0).expand([n_units, 2]).to_event(2))
    noncentred = z @ scale_tril.T
    if centered is None:
        return noncentred
    flag = centered.astype(bool)
    # log N(z; mean, S S') - log N(z; 0, I) for the centred units (S lower triangular 2x2)
    r = z - mean
    w0 = r[:, 0] / scale_tril[0, 0]
    w1 = (r[:, 1] - scale_tril[1, 0] * w0) / scale_tril[1, 1]
    correction = (
        -0.5 * (w0**2 + w1**2)
        - jnp.log(scale_tril[0, 0])
        - jnp.log(scale_tril[1, 1])
        + 0.5 * (z[:, 0] ** 2 + z[:, 1] ** 2)
    )
    numpyro.factor(f"centering_{name}", jnp.sum(jnp.where(flag, correction, 0.0)))
    return jnp.where(flag[:, None], r, noncentred)


def _predicted_group_terms(centred: CentredGroups, intercept, b: jnp.ndarray) -> jnp.ndarray:
    """(n_groups, 2): each group's intercept and effect as the population terms predict them.

    Written in the model's centred design ``[controls, Z, t, t * Z] - xbar``, so
    that ``offsets = group values - prediction`` reproduces the linear predictor.
    """
    Z, xbar = centred.Z, centred.xbar
    q = Z.shape[1]
    p = b.shape[0] - 2 * q - 1
    gamma, b_t, lam = b[p : p + q], b[p + q], b[p + q + 1 :]
    zbar, tbar, tzbar = xbar[p : p + q], xbar[p + q], xbar[p + q + 1 :]
    level = intercept + (Z - zbar) @ gamma - tbar * b_t - tzbar @ lam
    return jnp.stack([level, b_t + Z @ lam], axis=-1)


def varying_effects(
    data: ModelData, priors: Priors, sizes: ModelSizes, intercept=0.0, b=None
) -> jnp.ndarray:
    """(n_groups, 2) varying intercept and treatment-effect offsets per group.

    Additive structure: modifier k's level offsets live in the span of
    ``data.levels.bases[k]`` (n_levels, dims), an orthonormal basis of what
    the population-level terms cannot express for that modifier (orthogonal to
    the constant and to the modifier's own group-level predictor columns).
    Offsets of the basis coordinates are iid bivariate normal, so the level
    offsets are bivariate normal conditioned on those constraints. Without
    them the offsets could shift against the intercept, the effect and lambda
    along ridges that only the priors bound, which NUTS explores badly.
    """
    if sizes.structure == "nested":
        centred = data.centred
        if centred is None:
            return numpyro.deterministic("u", correlated_offsets("group", sizes.n_groups, priors))
        mean = _predicted_group_terms(centred, intercept, b)
        offsets = correlated_offsets("group", sizes.n_groups, priors, centred.flag, mean)
        return numpyro.deterministic("u", offsets)
    total = jnp.zeros((sizes.n_groups, 2))
    for k, (_, dims) in enumerate(sizes.level_dims):
        if dims == 0:  # the population-level terms already span every level
            continue
        coords = correlated_offsets(f"m{k}", dims, priors)
        # kept per level so that new combinations of seen levels can be predicted
        offsets = numpyro.deterministic(f"u_m{k}", data.levels.bases[k] @ coords)
        total = total + offsets[data.levels.codes[:, k]]
    return numpyro.deterministic("u", total)


def gaussian_cells_loglik(
    stats: GaussianStatistics, w: jnp.ndarray, u: jnp.ndarray, sigma
) -> jnp.ndarray:
    """Exact Gaussian log-likelihood from per-group sufficient statistics."""
    u0, u1 = u[:, 0], u[:, 1]
    rss = (
        stats.yty
        - 2.0 * w @ stats.xty
        + w @ stats.xtx @ w
        - 2.0 * (u0 @ stats.sy + u1 @ stats.syt)
        + 2.0 * (u0 @ (stats.sx @ w) + u1 @ (stats.sxt @ w))
        + stats.n @ (u0 * u0)
        + stats.m @ (2.0 * u0 * u1 + u1 * u1)
    )
    n = stats.n_rows
    return -n * jnp.log(sigma) - 0.5 * n * jnp.log(2.0 * jnp.pi) - 0.5 * rss / sigma**2


def hte_model(data: ModelData, priors: Priors, sizes: ModelSizes) -> None:
    """Varying intercepts and treatment slopes, slopes predicted by group-level predictors."""
    if sizes.family == "ordinal":
        intercept = 0.0  # the cutpoints carry the outcome's location
    else:
        # brms convention: the intercept's prior is on the linear predictor at the
        # mean of the population-level columns (the note's normal(0, 1) refers to it)
        intercept = numpyro.sample("Intercept", dist.Normal(0.0, priors.intercept))
    b = numpyro.sample("b", dist.Normal(0.0, priors.coef).expand([sizes.n_coef]).to_event(1))
    u = varying_effects(data, priors, sizes, intercept, b)
    lik = data.likelihood
    if sizes.family != "gaussian":
        g = lik.g
        eta = intercept + lik.x @ b + u[g, 0] + u[g, 1] * lik.t
        family_likelihood(sizes.family, lik, eta, priors, sizes.n_categories)
        return
    sigma = numpyro.sample("sigma", dist.HalfNormal(priors.sigma))
    # statistics are about the centred outcome, so the constant column's weight is shifted
    w = jnp.concatenate([jnp.reshape(intercept - lik.ybar, (1,)), b])
    if sizes.likelihood == Likelihood.GAUSSIAN_CELLS:
        numpyro.factor("loglik", gaussian_cells_loglik(lik, w, u, sigma))
    else:
        g = lik.g
        mu = lik.x @ w + u[g, 0] + u[g, 1] * lik.t
        numpyro.sample("y", dist.Normal(mu, sigma), obs=lik.y)
