"""The results stage on hand-made draws (tests/synthetic_posterior.py): every table,
prediction, comparison and the persistence round trip, checked against answers computed
from the same arrays, in milliseconds and with no sampler involved."""

import pickle

import numpy as np
import pytest
from synthetic_posterior import synthetic_fit

from sklearn_hier import HierarchicalHTE


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_fit()


def _group_of_rows(fit) -> np.ndarray:
    """Each training row's group index, by matching its modifier levels to ``groups_``."""
    est, data = fit.estimator, fit.data
    keys = est.groups_[data.modifiers].reset_index(drop=True).reset_index()
    rows = data.X[data.modifiers].merge(keys, on=data.modifiers, how="left")
    return rows["index"].to_numpy()


def test_group_table_is_the_draws_summarised(synthetic):
    table = synthetic.estimator.effect_by_group(prob=0.9)
    draws = synthetic.group_effect
    np.testing.assert_allclose(table["mean"], draws.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["median"], np.median(draws, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["sd"], draws.std(axis=0, ddof=1), rtol=1e-6)
    np.testing.assert_allclose(table["lower"], np.quantile(draws, 0.05, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["upper"], np.quantile(draws, 0.95, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["prob_positive"], (draws > 0).mean(axis=0))
    counts = synthetic.data.X.groupby(synthetic.data.modifiers).size().to_numpy()
    np.testing.assert_array_equal(table["n"], counts)


def test_predictions_are_each_rows_group_effect(synthetic):
    X = synthetic.data.X
    effect, lower, upper = synthetic.estimator.predict_effect(X, return_interval=True)
    group = _group_of_rows(synthetic)
    np.testing.assert_allclose(effect, synthetic.group_effect.mean(axis=0)[group], rtol=1e-12)
    np.testing.assert_allclose(
        lower, np.quantile(synthetic.group_effect, 0.025, axis=0)[group], rtol=1e-12
    )
    np.testing.assert_allclose(
        upper, np.quantile(synthetic.group_effect, 0.975, axis=0)[group], rtol=1e-12
    )


def test_the_average_effect_weights_groups_by_their_rows(synthetic):
    est = synthetic.estimator
    weights = est.groups_["n"].to_numpy() / est.groups_["n"].sum()
    np.testing.assert_allclose(
        est.average_effect_draws(), synthetic.group_effect @ weights, rtol=1e-12
    )


def test_comparisons_are_differences_of_draws(synthetic):
    est = synthetic.estimator
    groups = est.groups_[synthetic.data.modifiers]
    a, b = groups.iloc[5].to_dict(), groups.iloc[0].to_dict()
    table = est.compare_groups(a, b)
    difference = synthetic.group_effect[:, 5] - synthetic.group_effect[:, 0]
    assert table["mean"].iloc[0] == pytest.approx(difference.mean(), rel=1e-12)
    assert table["lower"].iloc[0] == pytest.approx(np.quantile(difference, 0.025), rel=1e-12)


def test_population_and_heterogeneity_summaries(synthetic):
    est = synthetic.estimator
    coefficients = est.coefficients()
    effect = coefficients[coefficients["role"] == "effect"]
    assert effect["mean"].iloc[0] == pytest.approx(synthetic.tau.mean(), rel=1e-12)
    summary = est.heterogeneity_summary()
    assert summary.sd_effect[0] == pytest.approx(np.median(synthetic.sd_effect), rel=1e-12)
    between = synthetic.group_effect.std(axis=1)  # over the fitted groups: divisor G
    assert summary.sd_between_groups[0] == pytest.approx(np.median(between), rel=1e-6)
    assert summary.extremes.loc["largest", "median"] == pytest.approx(
        np.median(synthetic.group_effect, axis=0).max(), rel=1e-12
    )


def test_an_unseen_group_is_predicted_from_the_population_model():
    fit = synthetic_fit(handle_unknown="population")
    X = fit.data.X.head(1).copy()
    X[fit.data.modifiers[0]] = 99  # a level never seen
    with pytest.warns(UserWarning, match="outside its training range"):
        draws = fit.estimator.effect_draws(X)[:, 0]
    # with no group-level predictors the new group's effect is tau plus sd_effect noise: its
    # mean is tau's within the Monte Carlo error of 1,000 draws (4 standard errors)
    spread = np.sqrt(fit.tau.var() + (fit.sd_effect**2).mean())
    assert abs(draws.mean() - fit.tau.mean()) < 4 * spread / np.sqrt(draws.size)
    assert draws.std() > synthetic_fit().group_effect.std(axis=0).max()  # wider than any group


def test_saved_and_pickled_copies_report_the_same(synthetic, tmp_path):
    est = synthetic.estimator
    path = tmp_path / "synthetic.nc"
    est.save(path)
    loaded = HierarchicalHTE.load(path)
    assert loaded.effect_by_group().equals(est.effect_by_group())
    np.testing.assert_array_equal(loaded.predict_effect(synthetic.data.X),
                                  est.predict_effect(synthetic.data.X))  # fmt: skip
    assert loaded.get_params() == est.get_params()
    again = pickle.loads(pickle.dumps(est))
    assert again.coefficients().equals(est.coefficients())


def test_row_log_likelihoods_are_the_gaussian_density_at_each_draw(synthetic):
    """Each row's log-likelihood per draw: the normal density of y around its group's
    intercept plus its group's effect when treated (the controls' coefficients are 0)."""
    from scipy.stats import norm

    est, data = synthetic.estimator, synthetic.data
    tree = est.inference_data(data.X, data.y, data.treatment)
    post = est.idata_.posterior
    group = _group_of_rows(synthetic)
    intercept = post["group_intercept"].values.reshape(-1, est.n_groups_)[:, group]
    mean = intercept + synthetic.group_effect[:, group] * np.asarray(data.treatment)
    sigma = post["sigma"].values.reshape(-1, 1)
    expected = norm.logpdf(np.asarray(data.y), mean, sigma)
    values = tree.log_likelihood["y"].values
    assert values.shape == (4, 250, len(data.y))
    np.testing.assert_allclose(values.reshape(-1, len(data.y)), expected, rtol=1e-10)
    np.testing.assert_array_equal(tree.observed_data["y"].values, np.asarray(data.y))
    assert "log_likelihood" not in est.idata_.children  # the fit's own tree is unchanged


def test_an_ordinal_outcome_is_coded_by_the_fitted_categories():
    """A subset of rows lacking a category keeps the fit's codes, and a category the fit
    never saw is an error that names it."""
    from types import SimpleNamespace

    from sklearn_hier._results.pointwise import coded_outcome

    fitted = SimpleNamespace(family="ordinal", categories=["low", "mid", "high"])
    np.testing.assert_array_equal(coded_outcome(fitted, ["high", "low"], 2), [2.0, 0.0])
    with pytest.raises(ValueError, match=r"not fitted on \(e.g. \['top'\]\)"):
        coded_outcome(fitted, ["high", "top"], 2)
