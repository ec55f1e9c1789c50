"""Effect metrics against hand computation and known truth."""

import numpy as np
import pytest

from sklearn_hier.metrics import (
    auuc,
    group_effect_rmse,
    interval_coverage,
    interval_width,
    pehe,
    qini_coefficient,
    r_loss,
    r_score,
    tau_risk,
    uplift_curve,
)


def test_truth_based_metrics():
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    estimate = np.array([0.0, 1.0, 2.0, 5.0])
    assert tau_risk(truth, estimate) == pytest.approx(1.0)
    assert pehe(truth, estimate) == pytest.approx(1.0)
    assert group_effect_rmse(truth, truth) == 0.0
    assert interval_coverage(truth, truth - 1, truth + [1, 1, -0.5, 1]) == 0.75
    assert interval_width([0, 0], [1, 3]) == 2.0


def test_r_loss_and_r_score():
    rng = np.random.default_rng(0)
    t_res = rng.choice([-0.5, 0.5], 2000)
    effect = rng.normal(1.0, 1.0, 2000)
    y_res = t_res * effect + rng.normal(0, 0.1, 2000)
    assert r_loss(y_res, t_res, effect) == pytest.approx(np.mean((y_res - t_res * effect) ** 2))
    assert r_score(y_res, t_res, effect) > 0.9  # the truth explains nearly everything
    assert abs(r_score(y_res, t_res, np.full(2000, effect.mean()))) < 0.01
    assert r_score(y_res, t_res, -effect) < 0


def test_uplift_curve_by_hand():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    t = np.array([1.0, 0.0, 0.0, 1.0])
    effect = np.array([0.9, 0.5, 0.1, 0.3])  # order: rows 0, 1, 3, 2
    fraction, qini, uplift = uplift_curve(y, t, effect)
    np.testing.assert_allclose(fraction, [0, 0.25, 0.5, 0.75, 1.0])
    # after 2 rows: treated {0: y=1}, control {1: y=0} -> 1 - 0 * 1/1 = 1
    np.testing.assert_allclose(qini, [0, 0, 1, 1, 1 - 1 * 2 / 2])
    np.testing.assert_allclose(uplift, [0, 0, 2 * (1 - 0), 3 * (0.5 - 0), 4 * (0.5 - 0.5)])


def test_good_ranking_scores_above_random():
    rng = np.random.default_rng(1)
    n = 4000
    tau = rng.normal(0, 1, n)
    t = rng.integers(0, 2, n).astype(float)
    y = tau * t + rng.normal(0, 1, n)
    shuffled = rng.permutation(tau)
    assert qini_coefficient(y, t, tau) > 0.1 > abs(qini_coefficient(y, t, shuffled))
    assert auuc(y, t, tau) > 0.1 > abs(auuc(y, t, shuffled))
