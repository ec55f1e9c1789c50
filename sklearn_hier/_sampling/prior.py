"""Draws from the model's priors, without the data: NumPyro's ``Predictive``.

The prior predictive check asks what the priors say before any outcome is seen: the
spread of the group effects they allow, the outcomes they would generate. The model's
parameters without its likelihood
(:func:`~sklearn_hier._modeling.hierarchical.prior_model`, the same sites and priors as
the fitted model's) are run forward with every group non-centred, so each draw comes
from the priors exactly (the centred form's density correction is a factor, which
forward sampling would not apply).
"""

import jax
import numpy as np
from numpyro.infer import Predictive

from .._base.families import family_of
from .._base.spec import Priors
from .._modeling.hierarchical import ModelSizes, prior_model
from .._modeling.model_data import ModelData
from .draws import SamplerResult, as_jax


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


def sample_prior(sizes: ModelSizes, data: ModelData, priors: Priors, *, n_draws: int,
                 seed: int) -> SamplerResult:  # fmt: skip
    """``n_draws`` draws of every parameter from its prior, shaped as one chain."""
    data = data._replace(centred=None).without_start()
    predictive = Predictive(prior_model, num_samples=n_draws, return_sites=prior_sites(sizes))
    with jax.enable_x64(True):
        draws = predictive(jax.random.PRNGKey(seed), as_jax(data), as_jax(priors), sizes)
    return SamplerResult(draws={k: np.asarray(v)[None] for k, v in draws.items()}, stats={})
