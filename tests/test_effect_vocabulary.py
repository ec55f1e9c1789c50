"""HierarchicalHTE answers EconML's effect, effect_interval, ate and ate_interval."""

import numpy as np
import pytest

from sklearn_hier._results.draw_summaries import interval

pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")


@pytest.fixture(scope="module")
def gaussian(gaussian_fit):
    return gaussian_fit


def test_effect_names_map_to_predict_effect(gaussian):
    est, d = gaussian
    np.testing.assert_array_equal(est.effect(d.X), est.predict_effect(d.X))
    np.testing.assert_array_equal(est.effect(d.X, T0=1, T1=0), -est.predict_effect(d.X))
    _, lower, upper = est.predict_effect(d.X, return_interval=True, prob=0.9)
    lo, hi = est.effect_interval(d.X, alpha=0.1)
    np.testing.assert_array_equal(lo, lower)
    np.testing.assert_array_equal(hi, upper)
    with pytest.raises(ValueError, match="T0 and T1 must be 0 or 1"):
        est.effect(d.X, T1=2)
    with pytest.raises(ValueError, match="alpha must be"):
        est.ate_interval(d.X, alpha=1.5)


def test_ate_is_the_posterior_of_the_row_average(gaussian):
    est, d = gaussian
    sub = d.X.iloc[:50]
    assignment = est.posterior_.assign(sub)
    row_group = assignment.row_group
    draws = est.posterior_.part_draws(assignment, "effect")
    direct = draws[:, row_group].mean(axis=1)  # average over rows, draw by draw
    lower, upper = interval(direct, 0.95)
    assert est.ate(sub) == pytest.approx(direct.mean())
    np.testing.assert_allclose(est.ate_interval(sub), (lower, upper))
    # the training rows: groups weighted by their sizes
    weights = est.groups_["n"].to_numpy() / est.groups_["n"].sum()
    assert est.ate() == pytest.approx((est.posterior_.draws("group_effect") @ weights).mean())
    assert est.ate() == pytest.approx(est.ate(d.X))


def test_ate_on_the_response_scale_averages_row_effects(bernoulli):
    est, d = bernoulli
    draws = est.average_effect_draws(d.X)
    assert est.ate(d.X) == pytest.approx(est.predict_effect(d.X).mean())
    assert est.ate(d.X) == pytest.approx(draws.mean())
    # the training rows' average equals the size-weighted group averages
    assert est.ate() == pytest.approx(est.ate(d.X), rel=1e-9)
