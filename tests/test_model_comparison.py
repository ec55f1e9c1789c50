"""Per-row log-likelihoods through ArviZ: PSIS-LOO and the comparison of groupings."""

import copy
import warnings

import arviz_stats
import numpy as np
import pytest
from conftest import FAST
from scipy.stats import binom

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.model_comparison import compare_models


def test_bernoulli_row_log_likelihoods_are_the_binomial_mass(bernoulli):
    est, d = copy.deepcopy(bernoulli)
    tree = est.inference_data(d.X, d.y, d.treatment)
    post = est.idata_.posterior
    keys = est.groups_[d.modifiers].reset_index(drop=True).reset_index()
    group = d.X[d.modifiers].merge(keys, on=d.modifiers, how="left")["index"].to_numpy()
    flat = {k: post[k].values.reshape(-1, *post[k].shape[2:]) for k in post.data_vars}
    controls = est.design_.control_matrix(d.X)
    eta = (flat["group_intercept"][:, group] + flat["b_control"] @ controls.T
           + flat["group_effect"][:, group] * np.asarray(d.treatment))  # fmt: skip
    expected = binom.logpmf(np.asarray(d.y), 1, 1 / (1 + np.exp(-eta)))
    values = tree.log_likelihood["y"].values.reshape(-1, len(d.y))
    np.testing.assert_allclose(values, expected, rtol=1e-8)
    loo = arviz_stats.loo(tree)
    assert loo.n_data_points == len(d.y) and np.isfinite(loo.elpd)


def test_loo_prefers_the_grouping_that_carries_the_heterogeneity():
    """Effects spread with sd 0.8 over 6 groups of 200 rows: the model with one group per
    combination of both modifiers predicts new rows better than the one that varies by
    the first modifier alone, whose groups pool effects that differ by about 0.8."""
    d = make_grouped_hte(1200, n_levels=(2, 3), sigma_theta=0.8, effect_slopes=[0.0, 0.0],
                         random_state=3)  # fmt: skip
    models = {
        "both": HierarchicalHTE(modifiers=d.modifiers, group_predictors=None, random_state=0,
                                **FAST),
        "first only": HierarchicalHTE(modifiers=["m0"], group_predictors=None, random_state=0,
                                      **FAST),
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        for est in models.values():
            est.fit(d.X, d.y, treatment=d.treatment)
    table = compare_models(models, d.X, d.y, d.treatment)
    assert table.index[0] == "both"
    # the worse model's elpd_diff is negative (R's loo_compare's sign)
    gap, se = table.loc["first only", "elpd_diff"], table.loc["first only", "dse"]
    assert gap < -4 * se


def test_inference_data_refuses_what_it_cannot_read(gaussian_fit):
    est, d = gaussian_fit
    with pytest.raises(TypeError, match="not a HierarchicalHTE"):
        compare_models({"x": object()}, d.X, d.y, d.treatment)
    with pytest.raises(TypeError, match="non-empty dict"):
        compare_models({}, d.X, d.y, d.treatment)


def test_row_log_likelihoods_that_would_not_fit_in_memory_are_refused(gaussian_fit, monkeypatch):
    import sklearn_hier._results.pointwise as pointwise

    est, d = gaussian_fit
    monkeypatch.setattr(pointwise, "available_memory_bytes", lambda: 1_000_000)
    with pytest.raises(MemoryError, match="Pass a random subsample of the rows"):
        est.inference_data(d.X, d.y, d.treatment)
