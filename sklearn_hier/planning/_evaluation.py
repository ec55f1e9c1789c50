"""What one simulated study would have told its analyst: intervals from the real fit
(the exact mode) or from the closed-form conditional posterior (the fast mode).

Both modes hand the simulated data to the estimator's own stages (validation,
reduction, model inputs), so the plan fits exactly the model a later
``fit`` would; they differ only in how the posterior is found:

- **exact**: NUTS, as ``fit`` runs it (the compiled sampler is reused across
  simulations of the same shape), then the posterior draws' central intervals;
- **fast** (Gaussian, nested structure): the variance parameters fixed at the
  values the study was simulated from. Given them the group effects' posterior is
  normal with a closed-form mean and covariance (see
  :func:`~sklearn_hier._modeling.marginal_gaussian.conditional_moments`), so an
  interval costs a few small matrix products. It leaves out the uncertainty in the
  variance parameters, which widens the smallest groups' intervals most.
"""

import functools
from dataclasses import dataclass

import jax
import numpy as np
from scipy import stats as sps

from .._base.sampler_settings import resolve_sampler
from .._base.spec import ModelSpec
from .._modeling.hierarchical import Likelihood
from .._modeling.inputs import prepare
from .._modeling.marginal_gaussian import conditional_moments
from .._results.posterior import posterior_from_draws
from .._sampling.run import run_inference
from ._assumptions import ResolvedAssumptions
from ._population import SimulatedStudy


@dataclass
class StudyOutcome:
    """The intervals one simulated study gives, per frame group (NaN: no rows)."""

    mean: np.ndarray  # (G, E) posterior means
    lower: np.ndarray  # (G, E)
    upper: np.ndarray  # (G, E)
    extremes_differ: np.ndarray  # (E,) the interval of max - min true-effect groups excludes 0
    lambda_excludes_zero: np.ndarray  # (E, q)
    sd_effect_lower: np.ndarray  # (E,) lower end of sd_effect's interval (NaN: not known)
    divergences: int


def _excludes_zero(lower, upper):
    return (lower > 0) | (upper < 0)


def _extremes(truth: np.ndarray, seen: np.ndarray) -> tuple[int, int]:
    """The observed groups with the largest and smallest true effect."""
    masked = np.where(seen, truth, np.nan)
    return int(np.nanargmax(masked)), int(np.nanargmin(masked))


class ExactEvaluator:
    """Fits each simulated study with the estimator's sampler."""

    def __init__(self, params: dict, prob: float, scale: str):
        self.params = resolve_sampler(params, stacklevel=4)
        self.spec = ModelSpec.from_params(self.params)
        self.prob, self.scale = prob, scale

    def __call__(self, study: SimulatedStudy, truth: ResolvedAssumptions, effect_names,
                 predictors, seed: int) -> StudyOutcome:  # fmt: skip
        spec, G = self.spec, study.rows.size
        prepared = prepare(spec, study.X, study.y, study.treatment, seed=seed)
        result = run_inference(spec, prepared.sizes, prepared.data, n_rows=prepared.n_rows,
                               seed=seed)  # fmt: skip
        post = posterior_from_draws(self.params, spec, prepared, result, seed=seed)
        design_of = np.full(G, -1)
        design_of[study.group] = prepared.rows.group
        seen = design_of >= 0
        tail = (1.0 - self.prob) / 2.0
        E, q = len(effect_names), len(predictors)
        mean, lower, upper = (np.full((G, E), np.nan) for _ in range(3))
        extremes = np.zeros(E, dtype=bool)
        truth_effects = self.truth(study)
        lam_draws = post.draws("lambda").reshape(-1, q, E) if q else None
        order = [list(post.design.predictor_names).index(p) for p in predictors]
        sd_lower = np.full(E, np.nan)
        if self.spec.structure == "nested" and self.spec.varying_slopes:
            sd_draws = post.draws("sd_effect").reshape(-1, E)
            sd_lower = np.quantile(sd_draws, tail, axis=0)
        lam_excl = np.zeros((E, q), dtype=bool)
        for e, name in enumerate(effect_names):
            k = post.effect_index(name) if E > 1 else 0
            draws = post.group_effect_draws(self.scale, None, k)[:, design_of[seen]]
            mean[seen, e] = draws.mean(axis=0)
            lower[seen, e], upper[seen, e] = np.quantile(draws, [tail, 1.0 - tail], axis=0)
            high, low = _extremes(truth_effects[:, e], seen)
            column = {g: i for i, g in enumerate(np.flatnonzero(seen))}
            diff = draws[:, column[high]] - draws[:, column[low]]
            extremes[e] = bool(_excludes_zero(*np.quantile(diff, [tail, 1.0 - tail])))
            if q:
                lam = lam_draws[:, order, k]
                lo, hi = np.quantile(lam, [tail, 1.0 - tail], axis=0)
                lam_excl[e] = _excludes_zero(lo, hi)
        divergences = int(np.sum(result.stats.get("diverging", 0)))
        return StudyOutcome(mean, lower, upper, extremes, lam_excl, sd_lower, divergences)

    def truth(self, study: SimulatedStudy) -> np.ndarray:
        link = self.scale == "link" or study.truth_response is None
        return study.truth_link if link else study.truth_response


class ClosedFormEvaluator(ExactEvaluator):
    """The fast mode: the normal conditional posterior at the true variance parameters."""

    def __init__(self, params: dict, prob: float, scale: str):
        super().__init__(params, prob, scale)
        spec = self.spec
        if spec.family != "gaussian" or spec.structure != "nested" or not spec.marginalized:
            raise ValueError(
                "mode='fast' is for the Gaussian family's nested, marginal model (its "
                "conditional posterior is normal in closed form); use mode='exact'."
            )

    def __call__(self, study: SimulatedStudy, truth: ResolvedAssumptions, effect_names,
                 predictors, seed: int) -> StudyOutcome:  # fmt: skip
        spec, G = self.spec, study.rows.size
        prepared = prepare(spec, study.X, study.y, study.treatment, seed=seed)
        if prepared.sizes.likelihood != Likelihood.GAUSSIAN_MARGINAL:
            raise ValueError("mode='fast' needs the marginal Gaussian model; use mode='exact'.")
        E, q = len(effect_names), len(predictors)
        phi = _phi(truth, spec.varying_slopes)
        with jax.enable_x64(True):
            # numpy leaves go to the compiled program as they are (no per-leaf transfer)
            moments = jax.device_get(
                compiled_moments(prepared.sizes)(prepared.data, spec.priors, phi)
            )
        design_of = np.full(G, -1)
        design_of[study.group] = prepared.rows.group
        seen = design_of >= 0
        rows = design_of[seen]
        z = sps.norm.ppf(0.5 + self.prob / 2.0)
        mean, lower, upper = (np.full((G, E), np.nan) for _ in range(3))
        extremes = np.zeros(E, dtype=bool)
        lam_excl = np.zeros((E, q), dtype=bool)
        jac, beta_cov, beta_mean = moments["jacobian"], moments["beta_cov"], moments["beta_mean"]
        width_a = 1 + len(prepared.design.predictor_names)
        order = [list(prepared.design.predictor_names).index(p) for p in predictors]
        truth_effects = self.truth(study)
        for e, name in enumerate(effect_names):
            k = 1 + prepared.treatment.effect_index(name) if E > 1 else 1
            m = moments["theta_mean"][rows, k]
            sd = np.sqrt(moments["theta_cov"][rows, k, k])
            mean[seen, e], lower[seen, e], upper[seen, e] = m, m - z * sd, m + z * sd
            high, low = _extremes(truth_effects[:, e], seen)
            gh, gl = design_of[high], design_of[low]
            cross = jac[gh, k] @ beta_cov @ jac[gl, k]
            var = moments["theta_cov"][gh, k, k] + moments["theta_cov"][gl, k, k] - 2 * cross
            diff = moments["theta_mean"][gh, k] - moments["theta_mean"][gl, k]
            extremes[e] = abs(diff) > z * np.sqrt(max(var, 0.0))
            start = k * width_a + 1  # row k of a: its value at Z = 0, then its slopes
            idx = start + np.asarray(order, dtype=int)
            lam_sd = np.sqrt(np.diag(beta_cov)[idx])
            lam_excl[e] = np.abs(beta_mean[idx]) > z * lam_sd
        sd_lower = np.full(E, np.nan)  # fixed at the truth: no interval
        return StudyOutcome(mean, lower, upper, extremes, lam_excl, sd_lower, 0)


@functools.cache
def compiled_moments(sizes):
    """The conditional moments compiled once per model structure (every plan reuses it)."""
    return jax.jit(lambda data, priors, phi: conditional_moments(data, priors, sizes, phi))


def _phi(truth: ResolvedAssumptions, varying_slopes: bool) -> dict:
    """The marginal model's variance parameters at the assumed values."""
    width = truth.scales.size if varying_slopes else 1  # without slopes: the baseline alone
    corr = truth.correlation[:width, :width]
    return {"sd_group": truth.scales[:width], "L_group": np.linalg.cholesky(corr),
            "sigma": np.asarray(truth.params["sigma"], dtype=float)}  # fmt: skip
