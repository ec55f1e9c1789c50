"""The log prior density of a fit's draws: what prior sensitivity analysis power-scales.

brms's ``lprior`` sums the priors of the population-level coefficients, the intercept,
the group-level sds and correlations and the family's own parameters, but not the
standardised group offsets (their law is part of the hierarchical model, not a prior
a user chooses). This is the same sum, from the distributions the model itself samples
(:mod:`.hierarchical`, :mod:`.marginal_gaussian`, the families), evaluated at every draw
at once.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._base.families import family_of
from .._base.spec import Priors, PriorUnits, in_units
from .hierarchical import ModelSizes, coefficient_prior, intercept_prior
from .marginal_gaussian import has_noise_scale, variance_log_prior


def log_prior(draws: dict, priors: Priors, sizes: ModelSizes, units: PriorUnits | None):
    """(chain, draw) log prior density of the draws (the sampler's site names, with
    leading chain and draw axes)."""
    # only the sites priors are placed on go to the program (not the offsets' draws)
    named = {"sigma", "Intercept", "b", *family_of(sizes.family).extra_parameters}
    sites = {k: v for k, v in draws.items() if k in named or k.startswith(("sd_", "L_"))}
    with jax.enable_x64(True):
        total = _compiled_log_prior(sizes)(sites, priors, units)
    return np.asarray(total, dtype=np.float64)


@functools.lru_cache(maxsize=16)
def _compiled_log_prior(sizes: ModelSizes):
    """One compiled program (op by op, a new process compiled each of its dozens of
    operations separately: about a second)."""
    return jax.jit(functools.partial(log_prior_density, sizes=sizes))


def log_prior_density(draws: dict, priors: Priors, units: PriorUnits | None, *, sizes: ModelSizes,
                      coef_kept=None):  # fmt: skip
    """The log prior density as a JAX function of the draws (any leading axes; sites
    other than those priors are placed on are ignored), for use inside a program.

    ``coef_kept``: where the coefficients are padded (``ModelData.coef_kept``), 1 for the
    fit's own and 0 for the padding ones, which are left out."""
    priors = in_units(priors, units)
    total = variance_log_prior(priors, sizes, draws)  # sds, correlations, Gaussian sigma
    family = family_of(sizes.family)
    if family.has_intercept:
        total = total + intercept_prior(priors).log_prob(draws["Intercept"])
    coefficients = coefficient_prior(priors, sizes.n_coef)
    if coef_kept is None:
        total = total + coefficients.log_prob(draws["b"])
    else:
        total = total + jnp.sum(coefficients.base_dist.log_prob(draws["b"]) * coef_kept, -1)
    extras = family.parameter_priors(priors, sizes.n_categories)
    if has_noise_scale(sizes):
        extras.pop("sigma", None)  # counted with the variance parameters
    for name, prior in extras.items():
        total = total + prior.log_prob(draws[name])
    return total
