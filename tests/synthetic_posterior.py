"""A fitted ``HierarchicalHTE`` whose draws are made by hand, not sampled.

The data and model-input stages run as in ``fit`` (they take milliseconds); the sampler
is replaced by draws of known shape and value, so the results stage (tables,
prediction, comparisons, persistence) is tested in milliseconds against answers
computed here from the same arrays, independently of any sampler.
"""

from dataclasses import dataclass

import numpy as np

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._base.sampler_settings import resolve_sampler
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._modeling.inputs import prepare
from sklearn_hier._results.posterior import assemble_posterior
from sklearn_hier._sampling.draws import SamplerResult
from sklearn_hier.datasets import make_grouped_hte

CHAINS, DRAWS = 4, 250


@dataclass
class SyntheticFit:
    estimator: HierarchicalHTE
    data: object  # the make_grouped_hte bunch it was "fitted" to
    tau: np.ndarray  # (chains * draws,) population effect
    group_effect: np.ndarray  # (chains * draws, groups) every group's effect, by hand
    sd_effect: np.ndarray  # (chains * draws,)


def synthetic_fit(seed: int = 0, **params) -> SyntheticFit:
    """Gaussian, nested, one binary treatment, 2 x 3 = 6 groups, two controls, no group-level
    predictors (so no lambda).

    The controls' coefficients are zero in every draw, and group g's effect is
    ``tau + u_g``: ``tau`` near 0.3 and ``u_g`` centred on ``0.1 * (g - 2.5)``, each with
    independent normal noise."""
    data = make_grouped_hte(240, n_levels=(2, 3), random_state=seed)
    sampler = NUTSSampler(num_chains=CHAINS, num_samples=DRAWS)
    est = HierarchicalHTE(
        modifiers=data.modifiers, group_predictors=None, sampler=sampler, random_state=seed,
        **params,
    )  # fmt: skip
    resolved = resolve_sampler(est.get_params(deep=False))
    spec = ModelSpec.from_params(resolved)
    prepared = prepare(spec, data.X, data.y, data.treatment, seed=seed)
    layout = prepared.design.layout(prepared.treatment.n_effects)
    rng = np.random.default_rng(seed)
    shape = (CHAINS, DRAWS)
    n_groups = prepared.design.n_groups
    tau = rng.normal(0.3, 0.05, shape)
    b = np.zeros(shape + (layout.size,))
    b[..., layout.effect(0)] = tau
    u = np.zeros(shape + (n_groups, 2))
    u[..., 0] = rng.normal(0.0, 0.2, shape + (n_groups,))
    u[..., 1] = 0.1 * (np.arange(n_groups) - 2.5) + rng.normal(0.0, 0.08, shape + (n_groups,))
    sd_group = np.abs(rng.normal([0.3, 0.15], 0.03, shape + (2,)))
    rho = rng.uniform(-0.5, 0.5, shape)
    L_group = np.zeros(shape + (2, 2))
    L_group[..., 0, 0] = 1.0
    L_group[..., 1, 0] = rho
    L_group[..., 1, 1] = np.sqrt(1 - rho**2)
    draws = {
        "Intercept": rng.normal(0.0, 0.05, shape),
        "b": b,
        "u": u,
        "sd_group": sd_group,
        "L_group": L_group,
        "sigma": np.abs(rng.normal(1.0, 0.02, shape)),
    }
    stats = {
        "diverging": np.zeros(shape, dtype=bool),
        "n_steps": np.full(shape, 7, dtype=np.int64),
        "tree_depth": np.full(shape, 3, dtype=np.int64),
        "reached_max_treedepth": np.zeros(shape, dtype=bool),
    }
    result = SamplerResult(draws=draws, stats=stats)
    posterior = assemble_posterior(resolved, spec, prepared, result, seed=seed)
    est._set_fitted(posterior)
    flat = tau.reshape(-1)
    group_effect = flat[:, None] + u[..., 1].reshape(-1, n_groups)
    return SyntheticFit(est, data, flat, group_effect, sd_group[..., 1].reshape(-1))
