"""validate(): BLP, calibration and uplift on held-out rows recover what is known by design."""

import warnings

import numpy as np
import pandas as pd
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
    # the model's doubt about its own calibration widens the slope's interval only
    assert slope["model_std_error"] > 0
    assert slope["std_error"] == pytest.approx(np.hypot(slope["sampling_std_error"],
                                                        slope["model_std_error"]))  # fmt: skip
    # the group means and the uplift by the model's effects have posterior intervals
    assert (report.calibration["predicted_upper"] > report.calibration["predicted_lower"]).all()
    top = report.uplift.loc[[0.1, 0.5]]
    assert (top["predicted_lower"] < top["predicted"]).all()
    assert (top["predicted"] < top["predicted_upper"]).all()
    assert "100 draw(s)" in repr(report)


def test_point_estimates_have_no_model_error(calibrated):
    blp = calibrated.blp
    assert (blp["model_std_error"] == 0).all()
    assert np.allclose(blp["std_error"], blp["sampling_std_error"])
    uplift = calibrated.uplift
    assert np.allclose(uplift["predicted_lower"], uplift["predicted_upper"])


def _report_as_numbers(report):
    return np.concatenate([report.blp.to_numpy().ravel(), report.calibration.to_numpy().ravel(),
                           report.uplift.to_numpy().ravel(), report.effect,
                           report.pseudo_outcome])  # fmt: skip


# The same data with 1 meaning control: the treated arm is the rows where DATA has 0.
FLIPPED = 1 - np.asarray(DATA.treatment)


@pytest.mark.parametrize(
    ("treatment", "coding"),
    [
        (FLIPPED, dict(control_value=1)),
        (FLIPPED, dict(treated_value=0)),
        (np.where(FLIPPED == 0, "drug", "placebo"), dict(control_value="placebo")),
        (np.where(FLIPPED == 0, "drug", "placebo"), dict(treated_value="drug")),
        (pd.Series(np.where(FLIPPED == 0, "drug", "placebo"), name="arm"),
         dict(control_value="placebo")),
    ],
    ids=["control_value=1", "treated_value=0", "control_value=placebo", "treated_value=drug",
         "named Series"],
)  # fmt: skip
def test_every_check_reads_the_treatment_as_fit_does(calibrated, treatment, coding):
    # the estimator's own coding says which rows are treated: each way of saying that the
    # original treated rows are treated gives the report of the plain 0/1 treatment
    est = InteractionHTE(modifiers=DATA.modifiers, **coding)
    report = validate(est, DATA.X, DATA.y, treatment=treatment, cv=3, **LINEAR)
    np.testing.assert_allclose(_report_as_numbers(report), _report_as_numbers(calibrated),
                               rtol=1e-9, atol=1e-12)  # fmt: skip
    assert report.blp.loc["heterogeneity", "estimate"] > 0.5  # not the sign-flipped -1


def test_multi_arm_treatments_and_doses_are_refused_with_the_way_out():
    est = InteractionHTE(modifiers=DATA.modifiers)
    arms = np.resize(["a", "b", "c"], len(DATA.y))
    with pytest.raises(ValueError, match=r"binary treatment \(two values\); the treatment has 3"
                                         r".*one arm against the control"):  # fmt: skip
        validate(est, DATA.X, DATA.y, treatment=arms, cv=3, **LINEAR)
    both = pd.DataFrame({"t1": DATA.treatment, "t2": DATA.treatment})
    with pytest.raises(ValueError, match=r"one binary treatment; got 2 treatment columns"):
        validate(est, DATA.X, DATA.y, treatment=both, cv=3, **LINEAR)
    # a 0/1 column the estimator is told to read as a dose
    dose = InteractionHTE(modifiers=DATA.modifiers, treatment_type="continuous")
    with pytest.raises(ValueError, match=r"InteractionHTE reads this one as .*a continuous"):
        validate(dose, DATA.X, DATA.y, treatment=DATA.treatment, cv=3, **LINEAR)


def test_too_few_rows_for_the_groups_is_a_clear_error():
    est = InteractionHTE(modifiers=DATA.modifiers)
    with pytest.raises(ValueError, match="need n_groups >= 2 and at least 40 rows; 30 given"):
        validate(est, DATA.X[:30], DATA.y[:30], treatment=DATA.treatment[:30], cv=5)
