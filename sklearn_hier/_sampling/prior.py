"""Draws from the model's priors, without the data: NumPyro's ``Predictive``.

The prior predictive check asks what the priors say before any outcome is seen: the
spread of the group effects they allow, the outcomes they would generate. The model's
parameters without its likelihood
(:func:`~sklearn_hier._modeling.hierarchical.prior_model`, the same sites and priors as
the fitted model's) are run forward with every group non-centred, so each draw comes
from the priors exactly (the centred form's density correction is a factor, which
forward sampling would not apply).

The draws come in batches of ``PRIOR_BATCH`` from one compiled program per model shape,
whatever the number asked for: a prior check at 400 draws and another at 2,000 compile
once, and the program is found in the on-disk cache by a new process.
"""

import functools

import jax
import numpy as np
from numpyro.infer import Predictive

from .._base.families import family_of
from .._base.spec import Priors
from .._modeling.hierarchical import ModelSizes, prior_model
from .._modeling.model_data import ModelData
from . import streams
from .draws import SamplerResult, as_arguments

#: Prior draws made by one call of the compiled program (the last batch is cut short).
PRIOR_BATCH = 250


def prior_sites(sizes: ModelSizes) -> list[str]:
    """The sites a fit's draws hold (what the labelled posterior is built from)."""
    family = family_of(sizes.family)
    sites = ["b", "u", *family.extra_parameters]
    if family.has_intercept:
        sites.append("Intercept")
    if sizes.structure == "nested":
        return sites + ["sd_group", "L_group"]
    for k, (_, dims) in enumerate(sizes.level_dims):
        if dims > 0:
            sites += [f"sd_m{k}", f"L_m{k}", f"u_m{k}"]
    return sites


@functools.lru_cache(maxsize=16)
def prior_program(sizes: ModelSizes):
    """A jitted ``draw(key, data, priors)``: ``PRIOR_BATCH`` draws of :func:`prior_sites`."""
    # one draw at a time in a loop (NumPyro's default): a smaller program to compile than
    # the batch vectorised, and drawing is not the slow part
    predictive = Predictive(prior_model, num_samples=PRIOR_BATCH, return_sites=prior_sites(sizes))
    return jax.jit(lambda key, data, priors: predictive(key, data, priors, sizes))


def batch_keys(seed: int, n_batches: int) -> np.ndarray:
    """One JAX key (``uint32[2]``) per batch, from NumPy's seed sequence of ``seed``: made
    on the host, so no key program is compiled for each number of batches."""
    return np.stack([
        streams.seed_sequence(seed, streams.PRIOR_DRAWS, batch).generate_state(2, np.uint32)
        for batch in range(n_batches)
    ])  # fmt: skip


def sample_prior(sizes: ModelSizes, data: ModelData, priors: Priors, *, n_draws: int,
                 seed: int) -> SamplerResult:  # fmt: skip
    """``n_draws`` draws of every parameter from its prior, shaped as one chain."""
    data = data._replace(centred=None).without_start()
    n_batches = -(-n_draws // PRIOR_BATCH)
    with jax.enable_x64(True):
        draw = prior_program(sizes)
        data, priors = as_arguments(data), as_arguments(priors)
        batches = jax.device_get([draw(key, data, priors) for key in batch_keys(seed, n_batches)])
    draws = {k: np.concatenate([b[k] for b in batches])[:n_draws] for k in batches[0]}
    return SamplerResult(draws={k: v[None] for k, v in draws.items()}, stats={})
