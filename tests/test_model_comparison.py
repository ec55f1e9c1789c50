"""Per-row log-likelihoods through ArviZ: PSIS-LOO and the comparison of groupings."""

import copy
import warnings

import arviz_stats
import numpy as np
import pandas as pd
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
    with pytest.raises(MemoryError, match="subsample"):
        est.inference_data(d.X, d.y, d.treatment)


def test_group_folds_hold_out_whole_units():
    from sklearn_hier.model_comparison import group_folds

    units = np.repeat(np.arange(25), 4)
    folds = group_folds(units, n_folds=10, seed=0)
    assert set(folds) == set(range(1, 11))
    for unit in range(25):  # every unit's rows in one fold
        assert len(set(folds[units == unit])) == 1
    sizes = np.bincount(folds)[1:] // 4  # units per fold: 25 dealt into 10
    assert sizes.min() == 2 and sizes.max() == 3
    # at most n_folds units: one unit per fold, exact leave-one-group-out
    np.testing.assert_array_equal(group_folds(units % 5, n_folds=10, seed=0), units % 5 + 1)
    with pytest.raises(ValueError, match="at least two groups"):
        group_folds(np.zeros(10, dtype=int), n_folds=10, seed=0)


def test_held_out_units_are_the_finest_grouping_the_models_share(gaussian_fit):
    from sklearn_hier.model_comparison import held_out_groups

    est, d = gaussian_fit
    units = held_out_groups({"a": est}, d.X)
    combos = d.X[d.modifiers].astype(str).agg("/".join, axis=1)
    assert len(np.unique(units)) == combos.nunique()
    assert (pd.crosstab(units, combos.to_numpy()) > 0).sum(axis=1).eq(1).all()
    by_columns = held_out_groups({"a": est}, d.X, groups=d.modifiers)
    pairs = np.unique(np.column_stack([units, by_columns]), axis=0)
    assert len(pairs) == len(np.unique(units)) == len(np.unique(by_columns))  # same partition
    with pytest.raises(ValueError, match="one label per row"):
        held_out_groups({"a": est}, d.X, groups=np.zeros(3))
    with pytest.raises(ValueError, match="does not have"):
        held_out_groups({"a": est}, d.X, groups=["nope"])


@pytest.mark.slow
def test_leave_one_group_out_is_each_groups_refit_without_it():
    """The exact K-fold over groups: a held-out row's elpd is its log predictive density
    under a refit that never saw its group (computed here by hand for one group), and
    new groups are harder to predict than new rows of seen groups when effects differ a
    lot between groups."""
    from scipy.special import logsumexp
    from sklearn.base import clone

    from sklearn_hier.model_comparison import leave_one_group_out

    d = make_grouped_hte(400, n_levels=(2, 2), sigma_theta=0.8, effect_slopes=[0.0, 0.0],
                         random_state=5)  # fmt: skip
    est = HierarchicalHTE(modifiers=d.modifiers, group_predictors=None, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(d.X, d.y, treatment=d.treatment)
        logo = leave_one_group_out(est, d.X, d.y, d.treatment)
        held = ((d.X["m0"] == d.X["m0"].iloc[0]) & (d.X["m1"] == d.X["m1"].iloc[0])).to_numpy()
        refit = clone(est).fit(d.X[~held], d.y[~held], treatment=d.treatment[~held])
    assert int(logo.n_folds) == 4 and int(logo.n_data_points) == 400
    loglik = refit.inference_data(d.X[held], d.y[held], d.treatment[held]).log_likelihood["y"]
    by_hand = logsumexp(loglik.values.reshape(-1, held.sum()), axis=0) - np.log(
        loglik.shape[0] * loglik.shape[1]
    )
    np.testing.assert_allclose(logo.elpd_i.values[held], by_hand, rtol=1e-10)
    loo = arviz_stats.loo(est.inference_data(d.X, d.y, d.treatment), pointwise=True)
    paired = logo.elpd_i.values - loo.elpd_i.values
    assert paired.sum() < -4 * np.sqrt(paired.size) * paired.std()


@pytest.mark.slow
def test_compare_models_by_new_groups_scores_every_model_on_the_same_folds():
    d = make_grouped_hte(400, n_levels=(2, 2), sigma_theta=0.3, random_state=6)
    models = {
        "both": HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST),
        "first only": HierarchicalHTE(modifiers=["m0"], random_state=0, **FAST),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        for est in models.values():
            est.fit(d.X, d.y, treatment=d.treatment)
        table = compare_models(models, d.X, d.y, d.treatment, method="logo")
    assert set(table.index) == set(models) and np.isfinite(table["elpd"]).all()
    assert table["elpd_diff"].max() == 0.0 and (table["elpd_diff"] <= 0).all()
    with pytest.raises(ValueError, match="'loo' or 'logo'"):
        compare_models(models, d.X, d.y, d.treatment, method="kfold")


def test_subsampled_loo_reads_only_the_subsample_and_matches_full_loo(gaussian_fit,
                                                                      monkeypatch):  # fmt: skip
    """On all rows the difference estimator is exact PSIS-LOO; on a subsample it is within
    a few of its own subsampling standard errors of it, and the rows' log-likelihoods
    are only ever computed for the subsampled rows."""
    import sklearn_hier._results.subsampled_loo as subsampled
    from sklearn_hier.model_comparison import psis_loo

    est, d = gaussian_fit
    n = len(d.y)
    full = psis_loo(est, d.X, d.y, d.treatment)
    assert getattr(full, "subsample_size", None) is None  # all rows, no subsample
    everything = psis_loo(est, d.X, d.y, d.treatment, subsample=n)
    # the same rows and draws; only the relative efficiency that PSIS's smoothing uses
    # is taken from the group effects' draws rather than from every row's (0.0013 apart)
    np.testing.assert_allclose(everything.elpd, full.elpd, atol=0.01)
    computed = []
    original = subsampled.pointwise_log_likelihood

    def recorded(posterior, X, y, treatment):
        computed.append(len(y))
        return original(posterior, X, y, treatment)

    monkeypatch.setattr(subsampled, "pointwise_log_likelihood", recorded)
    part = psis_loo(est, d.X, d.y, d.treatment, subsample=n // 4, seed=1)
    assert computed and max(computed) == n // 4
    assert int(part.subsample_size) == n // 4 and int(part.n_data_points) == n
    assert abs(part.elpd - full.elpd) < 4 * part.subsampling_se
    with pytest.raises(ValueError, match="at least 2 rows"):
        psis_loo(est, d.X, d.y, d.treatment, subsample=1)
