"""validate(): BLP, calibration and uplift on held-out rows recover what is known by design."""

import warnings

import numpy as np
import pytest
from conftest import FAST
from sklearn.linear_model import LinearRegression, LogisticRegression

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.baselines import InteractionHTE
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.validation import ValidationReport, validate

# effects linear in the modifiers: the interaction regression is correctly specified
DATA = make_grouped_hte(
    4000, n_levels=(2, 3), effect_slopes=[1.0, -0.6], sigma_theta=0.0, noise=1.0, random_state=0
)
# linear nuisances keep the tests fast; with a randomised treatment they leave psi unbiased
LINEAR = dict(outcome_model=LinearRegression(), propensity_model=LogisticRegression())


class ControlAsEffect(InteractionHTE):
    """Claims that a control (unrelated to the true effect) is the effect: pure noise."""

    def predict_effect(self, X, **kwargs):
        return np.asarray(X["c0"], dtype=float)


@pytest.fixture(scope="module")
def calibrated() -> ValidationReport:
    est = InteractionHTE(modifiers=DATA.modifiers)
    return validate(est, DATA.X, DATA.y, treatment=DATA.treatment, cv=3, **LINEAR)


def test_blp_slope_is_one_for_a_correct_model(calibrated):
    slope = calibrated.blp.loc["heterogeneity"]
    # se ~0.045 here: the slope is within 3 se of 1 and its interval excludes 0
    assert abs(slope["estimate"] - 1.0) < 3 * slope["std_error"]
    assert slope["lower"] < 1.0 < slope["upper"] and slope["lower"] > 0.5
    assert calibrated.blp.loc["average_effect", "lower"] < DATA.true_effect.mean()
    assert DATA.true_effect.mean() < calibrated.blp.loc["average_effect", "upper"]


def test_blp_slope_is_zero_when_the_estimates_are_noise():
    est = ControlAsEffect(modifiers=DATA.modifiers)
    report = validate(est, DATA.X, DATA.y, treatment=DATA.treatment, cv=3, **LINEAR)
    slope = report.blp.loc["heterogeneity"]
    assert slope["lower"] < 0.0 < slope["upper"]
    assert abs(slope["estimate"]) < 3 * slope["std_error"]


def test_calibration_and_uplift_follow_the_truth(calibrated):
    table = calibrated.calibration
    assert list(table.index) == [1, 2, 3, 4] and table["n"].sum() == len(DATA.y)
    assert table["predicted"].is_monotonic_increasing
    # the observed effect rises with the predicted one, and each interval holds the truth
    truth = [DATA.true_effect[_members(calibrated, g)].mean() for g in range(4)]
    assert np.all((table["lower"] <= truth) & (np.asarray(truth) <= table["upper"]))
    uplift = calibrated.uplift
    assert (uplift.loc[[0.1, 0.2, 0.3, 0.5], "lower"] > 0).all()
    assert uplift.loc[1.0, "toc"] == 0.0  # treating everyone gains nothing over the average


def _members(report, g):
    ranks = np.argsort(np.argsort(report.effect, kind="stable"), kind="stable")
    return (ranks * 4) // len(report.effect) == g


@pytest.mark.slow  # three HierarchicalHTE fits
def test_bayesian_model_carries_its_posterior_into_every_check():
    d = make_grouped_hte(1500, n_levels=(2, 3), effect_slopes=[1.0, -0.6], sigma_theta=0.2,
                         random_state=1)  # fmt: skip
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        report = validate(est, d.X, d.y, treatment=d.treatment, cv=3, n_draws=100, **LINEAR)
    assert report.draws_used == 100
    slope = report.blp.loc["heterogeneity"]
    assert slope["lower"] < 1.0 < slope["upper"] and slope["lower"] > 0
    # the group means of the estimates now have intervals of their own
    assert (report.calibration["predicted_upper"] > report.calibration["predicted_lower"]).all()
    assert "100 draw(s)" in repr(report)


def test_too_few_rows_for_the_groups_is_a_clear_error():
    est = InteractionHTE(modifiers=DATA.modifiers)
    with pytest.raises(ValueError, match="need n_groups >= 2 and at least 40 rows; 30 given"):
        validate(est, DATA.X[:30], DATA.y[:30], treatment=DATA.treatment[:30], cv=5)
