"""The hierarchical model as pure NumPyro functions of arrays.

Sizes are passed in as a hashable :class:`ModelSizes` so that the compiled
sampler can be cached per structure; data and prior scales are ordinary array
arguments, so refitting on new data of the same shape, or with other prior
scales, reuses the compiled code.

Outcome equation (Gaussian), for row i in group g with treatment t::

    y_i ~ Normal(mu_i, sigma)
    mu_i = Intercept + (x_i - xbar) . b + u0[g] + sum_k u_k[g] * t_ik

where ``t_i`` holds the treatment columns (one per effect: an indicator per
non-reference arm, or a dose) and ``x_i = [controls, Z_g, t_i, t_i (x) Z_g]``,
so the group's intercept has mean ``Z_g . gamma`` and its effect k is
``theta_gk = b_tk + Z_g . lambda_k + u_k[g]``. The varying parts
``(u0[g], u1[g], ..., uE[g])`` are multivariate normal with standard
deviations ``(sd_intercept, sd_effect...)`` and an LKJ prior on their
correlation, non-centred. In the additive structure each modifier k has its
own varying vector per level and a group's vector is the sum over its levels.
"""

from enum import StrEnum
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from .._base.coefficient_layout import CoefficientLayout
from .._base.families import family_of
from .._base.spec import Priors, in_units
from .._data.sufficient_statistics import GaussianStatistics
from .model_data import CentredGroups, ModelData


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
    n_effects: int = 1  # treatment effects (slopes per group)
    varying_slopes: bool = True  # False: only the intercept varies, brms's (1 | group)

    @property
    def varying_width(self) -> int:
        """How many terms vary by group: the intercept, and the effects if their slopes vary."""
        return 1 + self.n_effects if self.varying_slopes else 1


def with_fixed_slopes(offsets: jnp.ndarray, n_effects: int) -> jnp.ndarray:
    """(n, 1 + E) offsets from the varying terms' (n, width): the effects' offsets are zero
    where only the intercept varies, so every later stage sees one layout.

    NumPy in, NumPy out (the simulations of :mod:`sklearn_hier._sbc`, in float64 whatever
    JAX's configuration); JAX arrays and traced values stay in JAX."""
    missing = 1 + n_effects - offsets.shape[-1]
    if missing == 0:
        return offsets
    xp = jnp if isinstance(offsets, jax.Array) else np
    return xp.concatenate([offsets, xp.zeros(offsets.shape[:-1] + (missing,))], axis=-1)


def variance_priors(priors: Priors, dims: int) -> tuple:
    """The priors of one varying term's scales, written once for every model: half-normal
    sds (``dims`` of them) and an LKJ correlation (its Cholesky factor; None for one sd)."""
    sd = dist.HalfNormal(priors.sd).expand([dims]).to_event(1)
    return sd, dist.LKJCholesky(dims, priors.lkj) if dims > 1 else None


def noise_prior(priors: Priors):
    """The residual sd's prior (Gaussian family): half-normal."""
    return family_of("gaussian").parameter_priors(priors)["sigma"]


def intercept_prior(priors: Priors):
    """The intercept's prior, on the linear predictor at the mean of the population-level
    columns (brms's convention; the note's normal(0, 1) refers to it)."""
    return dist.Normal(0.0, priors.intercept)


def coefficient_prior(priors: Priors, n_coef: int):
    """The population-level coefficients' prior (scales per coefficient: a dose's units)."""
    return dist.Normal(0.0, priors.coef).expand([n_coef]).to_event(1)


def group_scales(name: str, priors: Priors, dims: int) -> jnp.ndarray:
    """Cholesky factor of the covariance of the (intercept, effects) offsets."""
    sd_prior, correlation_prior = variance_priors(priors, dims)
    sd = numpyro.sample(f"sd_{name}", sd_prior)
    if dims == 1:  # the intercept alone: no correlation to sample
        chol = numpyro.deterministic(f"L_{name}", jnp.ones((1, 1)))
    else:
        chol = numpyro.sample(f"L_{name}", correlation_prior)
    return sd[:, None] * chol


def correlated_offsets(
    name: str, n_units: int, dims: int, priors: Priors, centered=None, mean=None
) -> jnp.ndarray:
    """(n_units, dims) iid multivariate-normal (intercept, effects) offsets.

    Each unit's offsets are non-centred (a standard normal, scaled) unless
    ``centered`` (a 0/1 array, data) marks it. Small groups inform their
    offsets weakly, and the non-centred form avoids the funnel between the
    offsets and their scale. A group with thousands of rows pins down its own
    intercept and effects; then the centred form is the better geometry: the
    sampled value is the group's intercept and effects themselves, with prior
    multivariate normal around ``mean`` (what the population-level terms
    predict for it), so the population coefficients meet that group's data
    only through this prior and no ridge runs between them and its offsets.
    The centred units' density is added as a correction to the standard
    normal, so one compiled program serves any mix of units.
    """
    scale_tril = group_scales(name, priors, dims)
    z = numpyro.sample(f"z_{name}", dist.Normal(0.0, 1.0).expand([n_units, dims]).to_event(2))
    noncentred = z @ scale_tril.T
    if centered is None:
        return noncentred
    flag = centered.astype(bool)
    # log N(z; mean, S S') - log N(z; 0, I) for the centred units (S lower triangular)
    r = z - mean
    whitened = jax.scipy.linalg.solve_triangular(scale_tril, r.T, lower=True).T
    correction = (
        -0.5 * jnp.sum(whitened**2, axis=1)
        - jnp.sum(jnp.log(jnp.diag(scale_tril)))
        + 0.5 * jnp.sum(z**2, axis=1)
    )
    numpyro.factor(f"centering_{name}", jnp.sum(jnp.where(flag, correction, 0.0)))
    return jnp.where(flag[:, None], r, noncentred)


def _predicted_group_terms(
    centred: CentredGroups, intercept, b: jnp.ndarray, n_effects: int
) -> jnp.ndarray:
    """(n_groups, 1 + E): each group's intercept and effects as the population terms predict
    them.

    Written in the model's centred design ``[controls, Z, t, t (x) Z] - xbar``, so
    that ``offsets = group values - prediction`` reproduces the linear predictor.
    """
    Z = centred.Z
    layout = CoefficientLayout.of_size(b.shape[0], n_predictors=Z.shape[1], n_effects=n_effects)
    coef, mean = layout.blocks(b), layout.blocks(centred.xbar)
    level = (
        intercept + (Z - mean.group) @ coef.group - mean.treatment @ coef.treatment
        - jnp.sum(mean.interactions * coef.interactions)
    )  # fmt: skip
    return jnp.concatenate(
        [level[:, None], coef.treatment[None, :] + Z @ coef.interactions.T], axis=-1
    )


def varying_effects(
    data: ModelData, priors: Priors, sizes: ModelSizes, intercept=0.0, b=None
) -> jnp.ndarray:
    """(n_groups, 1 + E) varying intercept and treatment-effect offsets per group.

    Additive structure: modifier k's level offsets live in the span of
    ``data.levels.bases[k]`` (n_levels, dims), an orthonormal basis of what
    the population-level terms cannot express for that modifier (orthogonal to
    the constant and to the modifier's own group-level predictor columns).
    Offsets of the basis coordinates are iid multivariate normal, so the level
    offsets are multivariate normal conditioned on those constraints. Without
    them the offsets could shift against the intercept, the effects and lambda
    along ridges that only the priors bound, which NUTS explores badly.
    """
    width, n_effects = sizes.varying_width, sizes.n_effects
    if sizes.structure == "nested":
        centred = data.centred
        if centred is None:
            offsets = correlated_offsets("group", sizes.n_groups, width, priors)
            return numpyro.deterministic("u", with_fixed_slopes(offsets, n_effects))
        mean = _predicted_group_terms(centred, intercept, b, n_effects)[:, :width]
        offsets = correlated_offsets("group", sizes.n_groups, width, priors, centred.flag, mean)
        return numpyro.deterministic("u", with_fixed_slopes(offsets, n_effects))
    total = jnp.zeros((sizes.n_groups, 1 + n_effects))
    for k, (_, dims) in enumerate(sizes.level_dims):
        if dims == 0:  # the population-level terms already span every level
            continue
        coords = correlated_offsets(f"m{k}", dims, width, priors)
        # kept per level so that new combinations of seen levels can be predicted
        offsets = with_fixed_slopes(data.levels.bases[k] @ coords, n_effects)
        total = total + numpyro.deterministic(f"u_m{k}", offsets)[data.levels.codes[:, k]]
    return numpyro.deterministic("u", total)


def gaussian_cells_loglik(
    stats: GaussianStatistics, w: jnp.ndarray, u: jnp.ndarray, sigma
) -> jnp.ndarray:
    """Exact Gaussian log-likelihood from per-group sufficient statistics."""
    rss = (
        stats.yty
        - 2.0 * w @ stats.xty
        + w @ stats.xtx @ w
        - 2.0 * jnp.sum(u * stats.vy)
        + 2.0 * jnp.sum(u * (stats.vx @ w))
        + jnp.einsum("gd,gde,ge->", u, stats.vv, u)
    )
    n = stats.n_rows
    return -n * jnp.log(sigma) - 0.5 * n * jnp.log(2.0 * jnp.pi) - 0.5 * rss / sigma**2


def _varying_part(u: jnp.ndarray, g: jnp.ndarray, t: jnp.ndarray) -> jnp.ndarray:
    """Each row's ``u_g . [1, t]``: its group's intercept offset plus slope offsets x treatment."""
    ug = u[g]
    return ug[:, 0] + jnp.sum(ug[:, 1:] * t, axis=-1)


def _population_and_groups(data: ModelData, priors: Priors, sizes: ModelSizes):
    """The parameters every model shares: the intercept, the population coefficients and
    each group's varying offsets (priors in the data's units)."""
    family = family_of(sizes.family)
    if not family.has_intercept:
        intercept = 0.0  # the ordinal cutpoints carry the outcome's location
    else:
        intercept = numpyro.sample("Intercept", intercept_prior(priors))
    b = numpyro.sample("b", coefficient_prior(priors, sizes.n_coef))
    u = varying_effects(data, priors, sizes, intercept, b)
    return intercept, b, u


def prior_model(data: ModelData, priors: Priors, sizes: ModelSizes) -> None:
    """The model's parameters without its likelihood: what forward sampling from the
    priors runs (no data enter but the design: groups, predictors, a dose's units)."""
    priors = in_units(priors, data.prior_units)
    _population_and_groups(data, priors, sizes)
    for name, prior in family_of(sizes.family).parameter_priors(priors, sizes.n_categories).items():
        numpyro.sample(name, prior)


def hte_model(data: ModelData, priors: Priors, sizes: ModelSizes) -> None:
    """Varying intercepts and treatment slopes, slopes predicted by group-level predictors."""
    priors = in_units(priors, data.prior_units)  # per-parameter scales (a dose's units)
    family = family_of(sizes.family)
    intercept, b, u = _population_and_groups(data, priors, sizes)
    lik = data.likelihood
    if not family.sufficient_statistics:
        eta = intercept + lik.x @ b + _varying_part(u, lik.g, lik.t)
        family.likelihood(lik, eta, priors, sizes.n_categories)
        return
    sigma = numpyro.sample("sigma", noise_prior(priors))
    # statistics are about the centred outcome, so the constant column's weight is shifted
    w = jnp.concatenate([jnp.reshape(intercept - lik.ybar, (1,)), b])
    if sizes.likelihood == Likelihood.GAUSSIAN_CELLS:
        numpyro.factor("loglik", gaussian_cells_loglik(lik, w, u, sigma))
    else:
        mu = lik.x @ w + _varying_part(u, lik.g, lik.t)
        numpyro.sample("y", dist.Normal(mu, sigma), obs=lik.y)
