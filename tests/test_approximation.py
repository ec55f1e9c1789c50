"""The Laplace approximation of binary and count likelihoods: its statistics, its pilot fit,
its posterior against the exact one, and the check that warns when it is not good enough."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from scipy.optimize import minimize

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._approximation import (
    AUTO_EXACT_CELLS,
    ApproximationWarning,
    OutcomeRows,
    distinct_rows_exceed,
    pilot_fit,
    pooled_link,
)
from sklearn_hier._spec import Priors
from sklearn_hier._statistics import RowDesign, group_moments
from sklearn_hier.datasets import make_grouped_hte


def _rows(n, n_groups=5, effects=1, binary=True, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, (n, effects)).astype(float)
    if not binary:
        t = rng.normal(size=(n, effects))
    return RowDesign(
        controls=rng.normal(size=(n, 2)), Z=rng.normal(size=(n_groups, 1)),
        group=rng.integers(0, n_groups, n), treatment=t, outcome=rng.normal(size=n),
        weights=rng.gamma(2.0, size=n),
    )  # fmt: skip


@pytest.mark.parametrize("binary", [True, False])  # the (group, pattern) cells and the general path
def test_weighted_moments_are_weighted_sums(binary):
    rows = _rows(500, effects=2, binary=binary)
    cbar = np.array([0.3, -0.1])
    moments = group_moments(rows, xbar=np.concatenate([cbar, np.zeros(10)]), ybar=0.5,
                            chunk_rows=170)  # fmt: skip
    v = np.hstack([np.ones((500, 1)), rows.treatment])
    c, y, w = rows.controls - cbar, rows.outcome - 0.5, rows.weights
    for g in range(5):
        m = rows.group == g
        np.testing.assert_allclose(moments.vv[g], (v[m] * w[m, None]).T @ v[m], rtol=1e-12)
        np.testing.assert_allclose(moments.vc[g], (v[m] * w[m, None]).T @ c[m], rtol=1e-12)
        np.testing.assert_allclose(moments.vy[g], (v[m] * w[m, None]).T @ y[m], rtol=1e-12)
    np.testing.assert_allclose(moments.ctc, (c * w[:, None]).T @ c, rtol=1e-12)
    np.testing.assert_allclose(moments.yty, np.sum(w * y * y), rtol=1e-12)


@pytest.mark.parametrize("family", ["bernoulli", "poisson"])
def test_pilot_is_the_penalised_mode(family):
    """The pilot's passes converge to the minimum of the penalised negative log-likelihood
    (each group's intercept and effect, shared controls), found here by a generic optimiser."""
    rng = np.random.default_rng(3)
    rows = _rows(800, n_groups=4, seed=3)
    eta_true = -0.3 + 0.5 * rows.treatment[:, 0] + rows.controls @ np.array([0.4, -0.2])
    if family == "poisson":
        y = rng.poisson(np.exp(eta_true)).astype(float)
    else:
        y = (rng.random(800) < 1 / (1 + np.exp(-eta_true))).astype(float)
    outcome = OutcomeRows(family, y)
    priors = Priors()
    cbar = rows.controls.mean(axis=0)
    link = pooled_link(family, outcome.totals())
    halves = [rows.take(np.arange(0, 300)), rows.take(np.arange(300, 800))]
    pieces = [outcome.take(np.arange(0, 300)), outcome.take(np.arange(300, 800))]

    def map_reduce(chunk):  # two chunks, as partitions would be
        return chunk(halves[0], pieces[0]).plus(chunk(halves[1], pieces[1]))

    state, iterations = pilot_fit(map_reduce, n_groups=4, n_effects=1, cbar=cbar,
                                  pooled_link=link, priors=priors)  # fmt: skip
    eta, beta = state.eta(rows), state.beta
    assert iterations < 25

    ridge = 1 / np.array([priors.intercept**2 + priors.sd**2, priors.coef**2 + priors.sd**2])
    target = np.array([link, 0.0])

    def objective(theta):
        a, b = theta[:8].reshape(4, 2), theta[8:]
        e = a[rows.group, 0] + a[rows.group, 1] * rows.treatment[:, 0] + (rows.controls - cbar) @ b
        return -outcome.loglik(e).sum() + 0.5 * np.sum(ridge * (a - target) ** 2)

    best = minimize(objective, np.zeros(10), method="BFGS", options={"gtol": 1e-9})
    a, b = best.x[:8].reshape(4, 2), best.x[8:]
    a_row = a[rows.group]
    expected = a_row[:, 0] + a_row[:, 1] * rows.treatment[:, 0] + (rows.controls - cbar) @ b
    np.testing.assert_allclose(eta, expected, atol=1e-5)
    np.testing.assert_allclose(beta, b, atol=1e-5)


def test_auto_counts_cells_of_the_exact_likelihood():
    rng = np.random.default_rng(0)
    n = 3 * AUTO_EXACT_CELLS
    discrete = RowDesign(
        controls=rng.integers(0, 3, (n, 1)).astype(float), Z=np.zeros((4, 0)),
        group=rng.integers(0, 4, n), treatment=rng.integers(0, 2, (n, 1)).astype(float),
        outcome=np.zeros(n),
    )  # fmt: skip
    assert not distinct_rows_exceed(discrete, AUTO_EXACT_CELLS)  # 24 cells
    continuous = RowDesign(
        controls=rng.normal(size=(n, 1)), Z=np.zeros((4, 0)), group=discrete.group,
        treatment=discrete.treatment, outcome=np.zeros(n),
    )  # fmt: skip
    assert distinct_rows_exceed(continuous, AUTO_EXACT_CELLS)


def test_laplace_refuses_what_it_cannot_approximate():
    d = make_grouped_hte(300, n_levels=(2, 2), family="ordinal", random_state=0)
    est = HierarchicalHTE(modifiers=d.modifiers, family="ordinal", approximation="laplace")
    with pytest.raises(ValueError, match="approximation='laplace' is for the bernoulli"):
        est.fit(d.X, d.y, treatment=d.treatment)


@pytest.fixture(scope="module")
def exact_and_approximate():
    """The same Bernoulli data fitted exactly and by the Laplace approximation. 6 groups of
    about 670 rows: each group's likelihood is close to Gaussian."""
    d = make_grouped_hte(4000, n_levels=(2, 3), family="bernoulli", n_controls=1,
                         sigma_theta=0.3, random_state=4)  # fmt: skip
    settings = dict(modifiers=d.modifiers, family="bernoulli", random_state=1,
                    num_warmup=500, num_samples=500, num_chains=2)  # fmt: skip
    fits = {}
    for method in ("none", "laplace"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ApproximationWarning)
            fits[method] = HierarchicalHTE(approximation=method, **settings).fit(
                d.X, d.y, treatment=d.treatment
            )
    return fits, d


def test_approximate_posterior_matches_the_exact_one(exact_and_approximate):
    fits, _ = exact_and_approximate
    assert fits["none"].approximation_ == "none" and fits["none"].approximation_check_ is None
    check = fits["laplace"].approximation_check_
    assert fits["laplace"].approximation_ == "laplace" and check.reliable
    for scale in ("link", "response"):
        exact = fits["none"].effect_by_group(scale=scale)
        approx = fits["laplace"].effect_by_group(scale=scale)
        # 1,000 draws with ESS of several hundred: each mean carries Monte Carlo error of
        # about 0.05 sd, their difference 0.07 sd; 0.25 sd is over three of those
        gap = np.abs(approx["mean"] - exact["mean"]) / exact["sd"]
        assert gap.max() < 0.25, gap
        # an sd's Monte Carlo error is about 3% at that ESS
        np.testing.assert_allclose(approx["sd"], exact["sd"], rtol=0.15)


def test_approximate_fit_keeps_its_check_through_save_and_load(exact_and_approximate, tmp_path):
    fits, d = exact_and_approximate
    est = fits["laplace"]
    est.save(tmp_path / "model.shte")
    loaded = HierarchicalHTE.load(tmp_path / "model.shte")
    assert loaded.approximation_ == "laplace"
    assert loaded.approximation_check_ == est.approximation_check_
    rows = d.X.iloc[:20]
    np.testing.assert_allclose(loaded.predict_effect(rows), est.predict_effect(rows))


def test_check_warns_where_the_expansion_fails():
    """40 groups of 10 rows whose intercepts spread widely (probabilities near 0 and 1): no
    group's likelihood is near Gaussian. The approximate posterior is visibly off here (its
    sd(Intercept) about two thirds of the exact one's), and the check says so."""
    rng = np.random.default_rng(1)
    group = np.repeat(np.arange(40), 10)
    t, x = rng.integers(0, 2, 400), rng.normal(size=400)
    eta = rng.normal(0.0, 4.0, 40)[group] + t + x
    y = (rng.random(400) < 1 / (1 + np.exp(-eta))).astype(float)
    X = pd.DataFrame({"m": group, "x": x})
    est = HierarchicalHTE(modifiers=["m"], group_predictors=None, family="bernoulli",
                          approximation="laplace", random_state=0, **FAST)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        warnings.simplefilter("always", ApproximationWarning)
        with pytest.warns(ApproximationWarning, match="approximation='none'"):
            est.fit(X, y, treatment=t)
    assert not est.approximation_check_.reliable
