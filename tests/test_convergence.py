"""The array-at-once R-hat and ESS equal ArviZ's, element by element, on chains that
stress every branch: autocorrelated and anticorrelated draws, ties, a constant, a NaN,
disagreeing chains, heavy tails, one chain, odd and tiny draw counts."""

import numpy as np
import pytest
from arviz_base import rcParams
from arviz_stats.base import array_stats

from sklearn_hier._base.convergence import convergence_summary, ess_tail


def _chains(rng, n_quantities, n_chains, n_draws):
    phi = rng.uniform(-0.6, 0.98, n_quantities)[:, None]
    noise = rng.normal(size=(n_quantities, n_chains, n_draws))
    draws = np.zeros_like(noise)
    draws[..., 0] = noise[..., 0]
    for t in range(1, n_draws):
        draws[..., t] = phi * draws[..., t - 1] + noise[..., t]
    draws[0] = 3.0  # a constant
    draws[1] = np.round(draws[1])  # ties
    draws[2, 0, 0] = np.nan
    draws[3, 1:] += 5.0  # chains that disagree
    draws[4] = rng.exponential(size=(n_chains, n_draws)) ** 3
    return draws


@pytest.mark.parametrize(("n_chains", "n_draws"), [(4, 400), (3, 101), (1, 50), (2, 5), (4, 4)])
def test_equal_to_arviz_element_by_element(n_chains, n_draws):
    draws = _chains(np.random.default_rng(n_draws), 12, n_chains, n_draws)
    prob = rcParams["stats.ci_prob"]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = {
            "r_hat": [array_stats.rhat(d) for d in draws],
            "ess_bulk": [array_stats.ess(d, method="bulk") for d in draws],
            "ess_tail": [array_stats.ess(d, method="tail", prob=prob) for d in draws],
        }
        summary = convergence_summary(draws)
        tail = ess_tail(draws)
    for name, values in expected.items():
        np.testing.assert_allclose(summary[name], np.asarray(values, float), rtol=1e-12)
    np.testing.assert_allclose(tail, summary["ess_tail"], rtol=1e-15)
    assert np.isnan(summary["r_hat"][2]) and np.isnan(summary["ess_bulk"][2])
    if n_chains > 1 and n_draws >= 100:
        assert summary["r_hat"][3] > 1.5  # the chains that disagree are flagged


def test_quantities_that_all_hold_a_nan_summarise_as_nan():
    draws = np.full((3, 2, 50), np.nan)
    summary = convergence_summary(draws)
    assert all(np.isnan(values).all() and values.shape == (3,) for values in summary.values())
