"""The priors checked before and after the data: prior draws (NumPyro's Predictive),
the draws' log prior density, power-scaling sensitivity and the prior-effects figure."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from scipy import stats

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._sampling import prior as prior_stage
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.prior_checks import prior_effect_summary, prior_sensitivity


def test_log_prior_is_the_sum_of_the_stated_priors():
    """Hand-made draws of a one-effect nested Gaussian model: normal intercept and
    coefficients, half-normal sds and sigma, LKJ(1) correlation (uniform on (-1, 1),
    density 1/2), in the constructor's scales."""
    from sklearn_hier._base.spec import Priors
    from sklearn_hier._modeling.hierarchical import Likelihood, ModelSizes
    from sklearn_hier._modeling.prior_density import log_prior

    rng = np.random.default_rng(0)
    chains, draws, n_coef = 2, 5, 3
    rho = rng.uniform(-0.9, 0.9, (chains, draws))
    L = np.zeros((chains, draws, 2, 2))
    L[..., 0, 0], L[..., 1, 0], L[..., 1, 1] = 1.0, rho, np.sqrt(1 - rho**2)
    sample = {
        "Intercept": rng.normal(size=(chains, draws)),
        "b": rng.normal(size=(chains, draws, n_coef)),
        "sd_group": np.abs(rng.normal(size=(chains, draws, 2))),
        "L_group": L,
        "sigma": np.abs(rng.normal(size=(chains, draws))),
    }
    priors = Priors(intercept=1.5, coef=0.4, sd=0.7, sigma=2.0, lkj=1.0)
    sizes = ModelSizes("nested", Likelihood.GAUSSIAN_MARGINAL, 4, n_coef)
    expected = (
        stats.norm.logpdf(sample["Intercept"], 0, 1.5)
        + stats.norm.logpdf(sample["b"], 0, 0.4).sum(-1)
        + stats.halfnorm.logpdf(sample["sd_group"], scale=0.7).sum(-1)
        + np.log(0.5)
        + stats.halfnorm.logpdf(sample["sigma"], scale=2.0)
    )
    np.testing.assert_allclose(log_prior(sample, priors, sizes, None), expected, rtol=1e-5)


@pytest.mark.parametrize("treatment_kind", ["binary", "dose"])
def test_the_completion_computes_the_log_prior_of_its_draws(treatment_kind):
    """The marginal model's completion returns the log prior density with its draws: the
    same values as evaluating the priors afterwards, a dose's units included."""
    from sklearn_hier._base.sampler_settings import resolve_sampler
    from sklearn_hier._base.spec import ModelSpec
    from sklearn_hier._modeling.coefficient_padding import with_padded_coefficients
    from sklearn_hier._modeling.inputs import prepare
    from sklearn_hier._modeling.prior_density import log_prior
    from sklearn_hier._sampling.run import run_inference

    d = make_grouped_hte(300, n_levels=(2, 3), random_state=1)
    treatment = d.treatment
    if treatment_kind == "dose":
        treatment = pd.Series(np.random.default_rng(2).gamma(2.0, 5.0, 300), name="dose")
    est = HierarchicalHTE(modifiers=d.modifiers, prior_sd_scale=0.7, random_state=0, **FAST)
    spec = ModelSpec.from_params(resolve_sampler(est.get_params(deep=False), stacklevel=2))
    prepared = prepare(spec, d.X, d.y, treatment, seed=0)
    result = run_inference(spec, prepared.sizes, prepared.data, n_rows=prepared.n_rows, seed=0)
    assert result.log_prior is not None and result.log_prior.shape == (2, 200)
    # the sampler's programs ran with coefficients padded in (7 to 8), left out of both
    assert with_padded_coefficients(prepared.sizes, prepared.data)[0].n_coef > prepared.sizes.n_coef
    assert result.draws["b"].shape[-1] == prepared.sizes.n_coef
    again = log_prior(result.draws, spec.priors, prepared.sizes, prepared.data.prior_units)
    np.testing.assert_allclose(result.log_prior, again, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("treatment_kind", ["binary", "dose"])
def test_prior_draws_follow_the_stated_priors(treatment_kind):
    """sample_prior's draws against the priors' own distributions (Kolmogorov-Smirnov,
    2,000 draws each; five tests per case at 0.001 each, Bonferroni 0.005 per case). A
    dose's effect and its sd are per unit of the dose's spread: scales / its sd."""
    d = make_grouped_hte(300, n_levels=(2, 3), random_state=0)
    treatment = d.treatment
    if treatment_kind == "dose":
        treatment = pd.Series(np.random.default_rng(1).gamma(2.0, 5.0, 300), name="dose")
    est = HierarchicalHTE(modifiers=d.modifiers, prior_sd_scale=0.7, prior_coef_scale=0.4,
                          prior_sigma_scale=2.0, random_state=3)  # fmt: skip
    prior = est.sample_prior(d.X, d.y, treatment, n_draws=2000)
    assert not hasattr(est, "posterior_")  # nothing fitted
    unit = 1.0 / treatment.std() if treatment_kind == "dose" else 1.0
    draws = {name: prior.prior[name].values.reshape(2000, -1) for name in prior.prior.data_vars}
    checks = [
        (draws["b_treatment"][:, 0], stats.norm(0, 0.4 * unit).cdf),
        (draws["sd_effect"][:, 0], stats.halfnorm(scale=0.7 * unit).cdf),
        (draws["sd_intercept"][:, 0], stats.halfnorm(scale=0.7).cdf),
        (draws["sigma"][:, 0], stats.halfnorm(scale=2.0).cdf),
        (draws["corr"][:, 0], stats.uniform(-1, 2).cdf),  # LKJ(1) with two terms
    ]
    for values, cdf in checks:
        assert stats.kstest(values, cdf).pvalue > 0.001
    predictive = prior.prior_predictive["y"].values
    assert predictive.shape == (1, 2000, 300) and np.isfinite(predictive).all()


def test_prior_draws_of_any_number_come_from_one_program_and_extend_each_other():
    """Prior draws come in batches from one compiled program per model shape: asking for
    more compiles nothing new, and keeps the draws asked for before (each batch is seeded
    by its number), while the batches differ from one another."""
    d = make_grouped_hte(200, n_levels=(2, 2), random_state=0)
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=4)
    prior_stage.prior_program.cache_clear()
    few = est.sample_prior(d.X, d.y, d.treatment, n_draws=300)
    many = est.sample_prior(d.X, d.y, d.treatment, n_draws=2 * prior_stage.PRIOR_BATCH + 50)
    assert prior_stage.prior_program.cache_info().misses == 1
    first, more = few.prior["sd_effect"].values[0], many.prior["sd_effect"].values[0]
    np.testing.assert_array_equal(more[:300], first)
    batch = prior_stage.PRIOR_BATCH
    assert len(np.intersect1d(more[:batch], more[batch : 2 * batch])) == 0


def test_prior_effect_summary_shows_what_a_wide_sd_prior_allows():
    """On a 0/1 outcome fitted as Gaussian, prior_sd_scale=3 lets many group effects
    exceed the outcome's whole range; prior_sd_scale=0.1 (and narrow coefficients)
    hardly any."""
    d = make_grouped_hte(200, n_levels=(2, 2), family="bernoulli", random_state=0)
    wide = HierarchicalHTE(modifiers=d.modifiers, prior_sd_scale=3.0, random_state=0)
    narrow = HierarchicalHTE(modifiers=d.modifiers, prior_sd_scale=0.1, prior_coef_scale=0.1,
                             random_state=0)  # fmt: skip
    beyond = [prior_effect_summary(est.sample_prior(d.X, d.y, d.treatment, n_draws=1000))
              ["beyond_outcome_range"].mean() for est in (wide, narrow)]  # fmt: skip
    assert beyond[0] > 0.3 and beyond[1] < 0.01
    with pytest.raises(ValueError, match="positive integer"):
        wide.sample_prior(d.X, d.y, d.treatment, n_draws=0)


def test_prior_draws_on_the_response_scale_for_a_binary_outcome():
    d = make_grouped_hte(200, n_levels=(2, 2), family="bernoulli", random_state=0)
    est = HierarchicalHTE(modifiers=d.modifiers, family="bernoulli", random_state=0)
    prior = est.sample_prior(d.X, d.y, d.treatment, n_draws=500)
    table = prior_effect_summary(prior)
    assert table.attrs["quantity"] == "group_effect_response"
    assert (table["lower"] >= -1).all() and (table["upper"] <= 1).all()
    assert set(np.unique(prior.prior_predictive["y"].values)) <= {0.0, 1.0}


def test_a_tight_wrong_prior_is_flagged_and_saved_fits_keep_the_log_prior(tmp_path):
    """The effect is 1.0 but its prior is normal(0, 0.05): power-scaling that prior moves
    the effect's posterior, which the table must flag; the log prior density travels with
    a saved model.

    Whether the likelihood's sensitivity crosses the threshold too (a "prior-data
    conflict" rather than a "strong prior") is not asserted: the groups' offsets take up
    the effect the prior denies ``b_treatment``, and over 4 seeds that sensitivity was
    0.016-0.030 with 2,000 draws but 0.040-0.075 with these 400, whose Monte Carlo error
    alone puts it near the threshold of 0.05 either way. The prior's own sensitivity was
    0.084-0.143 with 400 draws (0.090-0.115 with 2,000)."""
    d = make_grouped_hte(400, n_levels=(2, 2), effect_mean=1.0, random_state=4)
    est = HierarchicalHTE(modifiers=d.modifiers, prior_coef_scale=0.05, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(d.X, d.y, treatment=d.treatment)
    table = prior_sensitivity(est, d.X, d.y, d.treatment)
    assert table.loc["b_treatment", "prior"] > 0.05
    assert table.loc["b_treatment", "diagnosis"].startswith("potential")
    assert "prior" in table.loc["b_treatment", "diagnosis"]
    assert {"sd_effect", "b_treatment"} <= set(table.index)
    est.save(tmp_path / "model.nc")
    loaded = HierarchicalHTE.load(tmp_path / "model.nc")
    np.testing.assert_array_equal(loaded.idata_.log_prior["lprior"].values,
                                  est.idata_.log_prior["lprior"].values)  # fmt: skip
    old = copy.deepcopy(loaded)
    del old.idata_["log_prior"]  # as a model saved in file format 5 loads
    with pytest.raises(ValueError, match="refit"):
        prior_sensitivity(old, d.X, d.y, d.treatment)
