"""The marginal model's zero control columns: nearby models share their programs, and
nothing a fit reports changes (the likelihood, the conditional posterior, the draws'
layout and their log prior)."""

import jax
import numpy as np
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._base.sampler_settings import resolve_sampler
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._modeling import control_padding
from sklearn_hier._modeling.inputs import prepare
from sklearn_hier._modeling.marginal_gaussian import conditional_moments, marginal_loglik
from sklearn_hier._modeling.prior_density import log_prior
from sklearn_hier._results.posterior import without_control_padding
from sklearn_hier._sampling.run import run_inference
from sklearn_hier.datasets import make_grouped_hte


def _spec(**params):
    est = HierarchicalHTE(modifiers=["m0", "m1"], random_state=0, **params)
    return ModelSpec.from_params(resolve_sampler(est.get_params(deep=False), stacklevel=2))


@pytest.fixture(scope="module")
def data():
    return make_grouped_hte(300, n_levels=(2, 3), random_state=1)  # controls c0 and c1


def _both(spec, d, monkeypatch, X=None):
    """The model's inputs with the padding (2 controls and 2 zero columns) and without."""
    X = d.X if X is None else X
    padded = prepare(spec, X, d.y, d.treatment, seed=0)
    with monkeypatch.context() as patch:
        patch.setattr(control_padding, "CONTROL_PADDING", 1)
        plain = prepare(spec, X, d.y, d.treatment, seed=0)
    assert padded.control_padding.extra == 2 and plain.control_padding.extra == 0
    return padded, plain


def _phi(rng, width=2):
    corr = rng.uniform(-0.8, 0.8)
    return {"sd_group": rng.uniform(0.05, 1.5, width),
            "L_group": np.linalg.cholesky(np.array([[1.0, corr], [corr, 1.0]])),
            "sigma": np.asarray(rng.uniform(0.5, 2.0))}  # fmt: skip


@pytest.mark.parametrize("structure", ["nested", "additive"])
def test_the_padding_leaves_the_marginal_likelihood_as_it_was(data, monkeypatch, structure):
    extra = {"group_predictors": None} if structure == "additive" else {}
    spec = _spec(structure=structure, **extra)
    padded, plain = _both(spec, data, monkeypatch)
    assert padded.sizes.n_coef == plain.sizes.n_coef + 2
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        for _ in range(5):
            phi = _phi(rng)
            if structure == "additive":
                phi = {"sd_m0": phi["sd_group"], "L_m0": phi["L_group"],
                       "sd_m1": phi["sd_group"][::-1], "L_m1": phi["L_group"],
                       "sigma": phi["sigma"]}  # fmt: skip
            values = [float(marginal_loglik(p.data, spec.priors, p.sizes, phi, factored=f))
                      for p in (padded, plain) for f in (True, False)]  # fmt: skip
            np.testing.assert_allclose(values, values[0], rtol=1e-10)


def test_the_conditional_posterior_of_every_real_coefficient_is_unchanged(data, monkeypatch):
    spec = _spec()
    padded, plain = _both(spec, data, monkeypatch)
    phi = _phi(np.random.default_rng(1))
    with jax.enable_x64(True):
        a, b = (jax.device_get(conditional_moments(p.data, spec.priors, p.sizes, phi))
                for p in (padded, plain))  # fmt: skip
    # beta = (the group-level regression's weights, the controls' b): the padding's two
    # entries follow the two controls
    n_a = b["beta_mean"].size - 2
    real = np.r_[0 : n_a + 2]
    np.testing.assert_allclose(a["beta_mean"][real], b["beta_mean"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a["beta_cov"][np.ix_(real, real)], b["beta_cov"], rtol=1e-9,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(a["theta_mean"], b["theta_mean"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a["theta_cov"], b["theta_cov"], rtol=1e-9, atol=1e-12)
    # the padding's own coefficients: independent, with their prior as their posterior
    pad = np.r_[n_a + 2 : n_a + 4]
    np.testing.assert_allclose(a["beta_mean"][pad], 0.0, atol=1e-12)
    np.testing.assert_allclose(
        a["beta_cov"][np.ix_(pad, pad)], spec.priors.coef**2 * np.eye(2), rtol=1e-9
    )
    np.testing.assert_allclose(a["beta_cov"][np.ix_(pad, real)], 0.0, atol=1e-12)


def test_the_draws_lose_the_padding_and_its_prior_density(data, monkeypatch):
    spec = _spec(**FAST)
    padded, plain = _both(spec, data, monkeypatch)
    result = run_inference(spec, padded.sizes, padded.data, n_rows=padded.n_rows, seed=0)
    assert result.draws["b"].shape[-1] == padded.sizes.n_coef
    kept = without_control_padding(result, padded, spec)
    assert kept.draws["b"].shape[-1] == plain.sizes.n_coef
    np.testing.assert_array_equal(kept.draws["b"][..., :2], result.draws["b"][..., :2])
    np.testing.assert_array_equal(kept.draws["b"][..., 2:], result.draws["b"][..., 4:])
    # the log prior of the draws as the design lays them out, without the padding
    expected = log_prior(kept.draws, spec.priors, plain.sizes, plain.data.prior_units)
    np.testing.assert_allclose(kept.log_prior, expected, rtol=1e-12, atol=1e-10)
    padding = padded.control_padding
    assert padding.unpadded_sizes(padded.sizes) == plain.sizes
    np.testing.assert_array_equal(padding.unpadded_units(padded.data.prior_units).coef,
                                  plain.data.prior_units.coef)  # fmt: skip
    assert without_control_padding(kept, padded, spec) is kept  # once only


def test_models_with_a_control_more_share_their_programs(data):
    spec = _spec()
    two = prepare(spec, data.X, data.y, data.treatment, seed=0)
    X = data.X.assign(c2=np.random.default_rng(3).normal(size=len(data.X)))
    three = prepare(spec, X, data.y, data.treatment, seed=0)
    assert (two.control_padding.extra, three.control_padding.extra) == (2, 1)
    assert two.sizes == three.sizes
    shapes = [jax.tree.map(np.shape, p.data) for p in (two, three)]
    assert shapes[0] == shapes[1]
    # and the joint model, whose coefficients are all sampled, is not padded
    joint_spec = _spec(sampler=NUTSSampler(marginalize=False))
    joint = prepare(joint_spec, data.X, data.y, data.treatment, seed=0)
    assert joint.control_padding.extra == 0
    assert joint.sizes.n_coef == two.sizes.n_coef - 2
