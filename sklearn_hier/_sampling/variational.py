"""Variational inference: a fast Gaussian approximation for thousands of groups.

Stochastic variational inference fits a multivariate normal (full or low-rank
plus diagonal covariance) to the posterior on the unconstrained scale by
maximising the ELBO with Adam, then draws from it. It is one compiled program
per (sizes, settings), cached like the NUTS sampler, and returns draws in the
same form so everything downstream is shared.

Trade-offs: much faster than NUTS when there are thousands of groups, and its
group-effect means agree closely with NUTS; but a Gaussian cannot follow the
funnel between sd_effect and the group offsets, so the scale parameters'
uncertainty (and with it interval widths) can be understated. Use it to
explore and for very many groups; report NUTS where it is feasible.
"""

import functools
from dataclasses import dataclass

import jax
import numpy as np
from numpyro import handlers, optim
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal, AutoMultivariateNormal
from numpyro.infer.initialization import init_to_median

from .._base.spec import Priors
from .._modeling.hierarchical import ModelSizes, hte_model
from .draws import SamplerResult, as_jax

#: Groups up to which ``svi_guide="auto"`` uses a full covariance; beyond, the
#: low-rank guide (a full covariance has (2 x groups)^2 parameters).
FULL_RANK_MAX_GROUPS = 200


@dataclass(frozen=True)
class SVISettings:
    """Everything about the optimisation that changes the compiled program."""

    num_steps: int
    guide: str  # "mvn" or "lowrank"
    rank: int | None
    learning_rate: float
    num_draws: int


@functools.lru_cache(maxsize=16)
def compiled_svi(sizes: ModelSizes, settings: SVISettings):
    """A jitted ``run(key, data, priors) -> (draws, losses)``."""
    model = functools.partial(hte_model, sizes=sizes)

    def run(key, data, priors):
        # A guide keeps the values it saw at its first ``init`` (its prototype trace), so it
        # is made afresh in every trace: one kept across traces would hand a retrace the
        # previous trace's abstract values (an UnexpectedTracerError).
        if settings.guide == "mvn":
            guide = AutoMultivariateNormal(model, init_loc_fn=init_to_median(num_samples=15))
        else:
            guide = AutoLowRankMultivariateNormal(
                model, rank=settings.rank, init_loc_fn=init_to_median(num_samples=15)
            )
        svi = SVI(model, guide, optim.Adam(settings.learning_rate), Trace_ELBO())
        key_init, key_draws = jax.random.split(key)
        state = svi.init(key_init, data, priors)

        def step(state, _):
            state, loss = svi.update(state, data, priors)
            return state, loss

        state, losses = jax.lax.scan(step, state, None, length=settings.num_steps)
        params = svi.get_params(state)
        latent = guide.sample_posterior(key_draws, params, sample_shape=(settings.num_draws,))

        # deterministic sites (group offsets and the like) from each latent draw
        def complete(sample):
            trace = handlers.trace(handlers.substitute(handlers.seed(model, 0), sample))
            return {
                name: site["value"]
                for name, site in trace.get_trace(data, priors).items()
                if site["type"] == "deterministic"
                or (site["type"] == "sample" and not site["is_observed"])
            }

        return jax.vmap(complete)(latent), losses

    return jax.jit(run)


def run_svi(
    sizes: ModelSizes, settings: SVISettings, data, priors: Priors, *, num_chains: int,
    seed: int,
) -> SamplerResult:  # fmt: skip
    """Fit the guide and draw ``settings.num_draws`` values, shaped as ``num_chains`` chains."""
    with jax.enable_x64(True):
        runner = compiled_svi(sizes, settings)
        draws, losses = jax.device_get(
            runner(jax.random.PRNGKey(seed), as_jax(data), as_jax(priors))
        )
    per_chain = settings.num_draws // num_chains
    draws = {
        k: np.asarray(v)[: per_chain * num_chains].reshape((num_chains, per_chain) + v.shape[1:])
        for k, v in draws.items()
    }
    return SamplerResult(draws=draws, stats={}, losses=np.asarray(losses))


def converged(losses: np.ndarray, tolerance: float = 0.01) -> bool:
    """Whether the ELBO stopped improving over the second half of the optimisation.

    Compares the mean loss of the last tenth of the steps with that of the
    tenth just before halfway: a fall of more than ``tolerance`` (relative, and
    at least 1 nat) means it was still descending.
    """
    tenth = max(1, losses.size // 10)
    half = losses.size // 2
    last, middle = losses[-tenth:].mean(), losses[max(0, half - tenth) : half].mean()
    return bool(np.isfinite(last) and middle - last <= max(1.0, tolerance * abs(last)))
