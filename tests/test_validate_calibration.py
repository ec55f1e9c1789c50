"""validate() is calibrated by construction: on data drawn from HierarchicalHTE's own
structure, its heterogeneity-slope intervals cover the truth at their nominal rate."""

import warnings

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.linear_model import LinearRegression, LogisticRegression

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.validation import validate

N_DATA_SETS = 40
# 100 groups of 40 rows; the groups' effects vary around one mean (no group-level
# predictor), so the model with group_predictors=None is exactly the truth's structure
# and its posterior means are calibrated. Fixed shapes reuse one compiled sampler.
SCENARIO = dict(n_samples=4000, n_levels=(4, 5, 5), effect_slopes=[0.0, 0.0, 0.0])
SAMPLER = dict(sampler=NUTSSampler(num_warmup=300, num_samples=300, num_chains=2))
LINEAR = dict(outcome_model=LinearRegression(), propensity_model=LogisticRegression())


def _slope_intervals(sigma_theta: float) -> np.ndarray:
    """(lower, estimate, upper, p_value) of the heterogeneity slope on each simulated data
    set."""
    rows = []
    for seed in range(N_DATA_SETS):
        d = make_grouped_hte(**SCENARIO, sigma_theta=sigma_theta, random_state=seed)
        est = HierarchicalHTE(modifiers=d.modifiers, group_predictors=None,
                              random_state=seed, **SAMPLER)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short chains: convergence warnings expected
            report = validate(est, d.X, d.y, treatment=d.treatment, cv=2, n_draws=200,
                              random_state=seed, **LINEAR)  # fmt: skip
        rows.append(report.blp.loc["heterogeneity", ["lower", "estimate", "upper", "p_value"]])
    return np.asarray(rows, dtype=float)


def _consistent_with_nominal(intervals: np.ndarray, truth: float) -> tuple[int, float]:
    covered = int(((intervals[:, 0] <= truth) & (truth <= intervals[:, 2])).sum())
    return covered, binomtest(covered, N_DATA_SETS, 0.95).pvalue


@pytest.mark.slow  # 80 cross-fitted validations of HierarchicalHTE, a few minutes
def test_slope_intervals_cover_one_for_a_correct_model_and_zero_for_a_constant_effect():
    # Real heterogeneity (sd 0.3 of the outcome's noise 1): slope 1 by construction.
    # Slopes fitted per posterior draw were attenuated to about the shrinkage factor
    # (~0.3 here) and their intervals excluded 1 on most data sets.
    heterogeneous = _slope_intervals(0.3)
    covered, p_value = _consistent_with_nominal(heterogeneous, 1.0)
    assert p_value > 0.01, (
        f"{covered}/{N_DATA_SETS} intervals cover 1; mean slope {heterogeneous[:, 1].mean():.2f}"
    )
    # A constant effect: the estimates' spread is noise, slope 0.
    constant = _slope_intervals(0.0)
    covered, p_value = _consistent_with_nominal(constant, 0.0)
    assert p_value > 0.01, (
        f"{covered}/{N_DATA_SETS} intervals cover 0; mean slope {constant[:, 1].mean():.2f}"
    )
    # ... and its test of "no heterogeneity" rejects at its level: intervals widened by the
    # model's error alone would pass the coverage check above but not this one
    rejected = int((constant[:, 3] < 0.05).sum())
    assert binomtest(rejected, N_DATA_SETS, 0.05).pvalue > 0.01, (
        f"{rejected}/{N_DATA_SETS} constant-effect data sets rejected at 5%"
    )
