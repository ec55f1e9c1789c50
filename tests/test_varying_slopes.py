"""Varying intercepts only (``varying_slopes=False``, brms's ``(1 | group)``).

The model keeps the group-level regression of the effects (lambda) but no unexplained
heterogeneity: each group's effect is exactly ``b_treatment + Z . lambda``. The Gaussian
marginal model holds the effects' scales at zero inside the same algebra, so its
likelihood must be the limit of the full model's as those scales vanish.
"""

import warnings

import jax
import numpy as np
import pytest
from conftest import FAST, fast

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte


def _fit(d, **params):
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **{**FAST, **params})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        return est.fit(d.X, d.y, treatment=d.treatment)


@pytest.fixture(scope="module")
def data():
    return make_grouped_hte(600, n_levels=(2, 3), sigma_theta=0.1, random_state=4)


@pytest.fixture(scope="module")
def fixed_fit(data):
    return _fit(data, varying_slopes=False)


@pytest.mark.parametrize("structure", ["nested", "additive"])
def test_marginal_likelihood_is_the_limit_of_vanishing_slope_scales(data, structure):
    """log p(y | phi) of the intercept-only model equals the full model's with the effects'
    sds at 1e-7 (their contribution is O(1e-14) there), at several intercept sds."""
    from sklearn_hier._base.spec import ModelSpec
    from sklearn_hier._modeling.inputs import prepare
    from sklearn_hier._modeling.marginal_gaussian import marginal_loglik

    def prepared(varying_slopes):
        est = HierarchicalHTE(modifiers=data.modifiers, structure=structure,
                              varying_slopes=varying_slopes)  # fmt: skip
        spec = ModelSpec.from_params(est.get_params())
        return spec.priors, prepare(spec, data.X, data.y, data.treatment)

    priors, full = prepared(True)
    _, fixed = prepared(False)
    assert fixed.sizes.varying_width == 1 and full.sizes.varying_width == 2
    sites = ["group"] if structure == "nested" else [
        f"m{k}" for k, (_, dims) in enumerate(full.sizes.level_dims) if dims
    ]  # fmt: skip
    assert sites
    rho = 0.6  # the correlation is irrelevant once the effect's sd vanishes
    for sd0, sigma in [(0.05, 1.0), (0.4, 0.9), (2.0, 1.3)]:
        phi_fixed, phi_full = {"sigma": sigma}, {"sigma": sigma}
        for site in sites:
            phi_fixed.update({f"sd_{site}": np.array([sd0]), f"L_{site}": np.ones((1, 1))})
            phi_full.update({
                f"sd_{site}": np.array([sd0, 1e-7]),
                f"L_{site}": np.array([[1.0, 0.0], [rho, np.sqrt(1 - rho**2)]]),
            })  # fmt: skip
        with jax.enable_x64(True):  # as the sampler runs
            value_fixed = float(marginal_loglik(fixed.data, priors, fixed.sizes, phi_fixed))
            value_full = float(marginal_loglik(full.data, priors, full.sizes, phi_full))
        assert np.isfinite(value_fixed)
        assert value_fixed == pytest.approx(value_full, abs=1e-6)


def test_each_group_effect_is_what_its_predictors_predict(fixed_fit, data):
    """Every draw of every group's effect is b_treatment + Z . lambda; sd_effect is zero and
    is reported as zero, and the intercept still varies."""
    post = fixed_fit.idata_.posterior
    Z = fixed_fit.idata_.constant_data["Z"].values
    predicted = post["b_treatment"].values[..., None] + np.einsum(
        "cdq,gq->cdg", post["lambda"].values, Z
    )
    np.testing.assert_allclose(post["group_effect"].values, predicted, atol=1e-10)
    assert (post["sd_effect"].values == 0).all()
    assert float(post["sd_intercept"].mean()) > 0.05
    # the model states no prior for what it does not estimate, and checks no convergence of it
    assert not {"sd_effect", "corr"} & set(fixed_fit.prior_scales_["parameter"])
    assert "sd_effect" not in fixed_fit.diagnostics().index


def test_prior_sensitivity_checks_what_the_model_estimates(fixed_fit, data):
    from sklearn_hier.prior_checks import prior_sensitivity

    table = prior_sensitivity(fixed_fit, data.X, data.y, data.treatment)
    assert not any(str(name).startswith("sd_effect") for name in table.index)
    assert table[["prior", "likelihood"]].notna().all().all()
    assert any(str(name).startswith("group_effect") for name in table.index)


def test_is_a_parameter_frozen_at_fit(fixed_fit):
    import copy

    from sklearn.base import clone

    assert clone(fixed_fit).get_params()["varying_slopes"] is False
    fitted = copy.deepcopy(fixed_fit)
    before = fitted.effect_by_group()
    fitted.set_params(varying_slopes=True)  # changes nothing until the next fit
    after = fitted.effect_by_group()
    np.testing.assert_array_equal(after["mean"].to_numpy(), before["mean"].to_numpy())
    assert (fitted.idata_.posterior["sd_effect"].values == 0).all()


def test_saved_and_loaded(fixed_fit, tmp_path):
    path = tmp_path / "fixed.nc"
    fixed_fit.save(path)
    loaded = HierarchicalHTE.load(path)
    assert loaded.get_params()["varying_slopes"] is False
    np.testing.assert_allclose(
        loaded.effect_by_group()["mean"], fixed_fit.effect_by_group()["mean"], rtol=1e-12
    )


def test_prior_draws_hold_the_slopes_fixed(data):
    est = HierarchicalHTE(modifiers=data.modifiers, varying_slopes=False, random_state=0)
    prior = est.sample_prior(data.X, data.y, data.treatment, n_draws=200).prior
    assert (prior["sd_effect"].values == 0).all()
    assert prior["sd_intercept"].values.std() > 0.1


@pytest.mark.parametrize("params", [{"structure": "additive"}, {"family": "bernoulli"}])
def test_other_structures_and_families(params):
    """The joint model (a non-Gaussian family) and the additive marginal model hold the
    effects' offsets at zero too."""
    family = params.get("family", "gaussian")
    d = make_grouped_hte(400, n_levels=(3, 2), family=family, random_state=3)
    est = _fit(d, varying_slopes=False, **params)
    post = est.idata_.posterior
    assert (post["sd_effect"].values == 0).all()
    if "level_effect" in post:
        assert (post["level_effect"].values == 0).all()
    else:
        Z = est.idata_.constant_data["Z"].values
        predicted = post["b_treatment"].values[..., None] + np.einsum(
            "cdq,gq->cdg", post["lambda"].values, Z
        )
        np.testing.assert_allclose(post["group_effect"].values, predicted, atol=1e-10)


# ------------------------------------------------------------------ slow tier
@pytest.mark.slow
def test_joint_and_marginal_models_agree():
    """The marginal model with zero slope scales and the joint model with no slope offsets
    are the same posterior: their means of b_treatment, lambda and sd_intercept agree
    within 4 Monte Carlo standard errors of the difference."""
    import arviz_stats

    d = make_grouped_hte(1500, n_levels=(3, 4), sigma_theta=0.0, random_state=5)
    settings = dict(num_warmup=1000, num_samples=1000, num_chains=2)
    marginal = _fit(d, varying_slopes=False, **fast(**settings))
    joint = _fit(d, varying_slopes=False, **fast(**settings, marginalize=False))
    for name in ("b_treatment", "lambda", "sd_intercept"):
        means, errors = [], []
        for est in (marginal, joint):
            values = est.idata_.posterior[name]
            means.append(values.mean(("chain", "draw")).values)
            errors.append(arviz_stats.mcse(values.to_dataset(), method="mean")[name].values)
        bound = 4 * np.hypot(*errors)
        assert (np.abs(means[0] - means[1]) < bound).all(), name


@pytest.mark.slow
def test_loo_prefers_varying_slopes_when_effects_vary():
    """With effects spread sd 1.0 around their predictors (24 groups of 100 rows), the full
    model predicts new rows better than the intercept-only one by more than 4 standard
    errors; with no unexplained spread, the two are within 2 standard errors."""
    from sklearn_hier.model_comparison import compare_models

    for sigma_theta, spread in [(1.0, True), (0.0, False)]:
        d = make_grouped_hte(2400, n_levels=(4, 6), sigma_theta=sigma_theta, random_state=6)
        models = {
            "full": _fit(d),
            "intercepts": _fit(d, varying_slopes=False),
        }
        table = compare_models(models, d.X, d.y, d.treatment)
        other = table.index[1]
        if spread:
            assert table.index[0] == "full"
            assert table.loc[other, "elpd_diff"] < -4 * table.loc[other, "dse"]
        else:
            assert table.loc[other, "elpd_diff"] > -2 * table.loc[other, "dse"]
