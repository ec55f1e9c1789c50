"""The Laplace approximation of binary and count likelihoods: its statistics, its pilot fit,
its posterior against the exact one, and the check that warns when it is not good enough."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from scipy.optimize import minimize

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier._base.families import family_of
from sklearn_hier._base.spec import ModelSpec, Priors
from sklearn_hier._data.laplace import (
    AUTO_EXACT_CELLS,
    AUTO_EXACT_SPARSE_ROWS,
    MIN_EVENTS,
    SHIFT_TOLERANCE,
    ApproximationCheck,
    ApproximationWarning,
    EventCounts,
    OutcomeRows,
    approximation_method,
    distinct_rows_exceed,
    pilot_fit,
)
from sklearn_hier._data.sufficient_statistics import RowDesign, group_moments
from sklearn_hier._modeling.inputs import prepare
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
    link = family_of(family).pooled_link(outcome.totals())
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
                    sampler=NUTSSampler(num_warmup=500, num_samples=500, num_chains=2))  # fmt: skip
    fits = {}
    for method in ("none", "laplace"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ApproximationWarning)
            fits[method] = HierarchicalHTE(approximation=method, **settings).fit(
                d.X, d.y, treatment=d.treatment
            )
    return fits, d


@pytest.mark.slow  # statistical: two fits of 1,000 draws each, one of them exact on 4,000 cells
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
    # the check saw no bias either: the weighted means hardly move, every arm is dense
    assert check.max_shift < SHIFT_TOLERANCE and check.fewest_events >= MIN_EVENTS


def test_approximate_fit_keeps_its_check_through_save_and_load(tmp_path):
    d = make_grouped_hte(4000, n_levels=(2, 3), family="bernoulli", n_controls=1,
                         sigma_theta=0.3, random_state=4)  # fmt: skip
    est = HierarchicalHTE(modifiers=d.modifiers, family="bernoulli", approximation="laplace",
                          random_state=1, **FAST)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(d.X, d.y, treatment=d.treatment)
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


def _sparse_poisson(n_groups, per_group, seed=0, rate=0.12):
    """Counts averaging about 0.15 in groups of ``per_group`` rows, one continuous control:
    a group's arm holds a handful of events, where the Poisson likelihood is skewed."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), per_group)
    t, x = rng.integers(0, 2, group.size), rng.normal(size=group.size)
    intercept = np.log(rate) + rng.normal(0.0, 0.3, n_groups)
    effect = 0.3 + rng.normal(0.0, 0.2, n_groups)
    y = rng.poisson(np.exp(intercept[group] + effect[group] * t + 0.5 * x))
    return pd.DataFrame({"m": group, "x": x}), y.astype(float), t


def test_check_sees_the_bias_of_a_sparse_poisson_fit():
    """20 groups of 150 rows, mean count 0.15: Pareto k is small (the weights are reliable)
    and yet the approximation moves a group's posterior by about half an sd (against the
    exact fit: 0.46 sd for the group's intercept, two exact fits 0.12 apart). The weighted
    means see it."""
    X, y, t = _sparse_poisson(20, 150)
    est = HierarchicalHTE(modifiers=["m"], group_predictors=None, family="poisson",
                          approximation="laplace", random_state=1, **FAST)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        warnings.simplefilter("always", ApproximationWarning)
        with pytest.warns(ApproximationWarning, match="moves a group's posterior mean"):
            est.fit(X, y, treatment=t)
    check = est.approximation_check_
    assert check.pareto_k < 0.7  # what the check used to rely on alone
    assert check.rows_checked == check.n_rows == 3000  # every row read: no events rule
    assert check.max_shift > SHIFT_TOLERANCE and not check.reliable
    assert check.fewest_events < MIN_EVENTS


def _prepared(X, y, t, **params):
    spec = ModelSpec.from_params(HierarchicalHTE(
        modifiers=["m"], group_predictors=None, family="poisson", **params
    ).get_params())  # fmt: skip
    return prepare(spec, X, y, t)


def test_auto_fits_sparse_groups_exactly_beyond_the_cell_limit():
    """Over 20,000 cells ``auto`` takes the Laplace path only where every group's arm has
    enough events: the same sparsity on 160 groups of 150 rows (24,000 rows, each its own
    cell) stays exact; five times the rate takes the approximation."""
    X, y, t = _sparse_poisson(160, 150)
    assert X.shape[0] > AUTO_EXACT_CELLS
    sparse = _prepared(X, y, t)
    assert sparse.expansion is None  # the exact likelihood's cells
    X, y, t = _sparse_poisson(160, 150, rate=2.0)
    dense = _prepared(X, y, t)
    assert dense.expansion is not None and dense.expansion.fewest_events >= MIN_EVENTS
    forced = _prepared(*_sparse_poisson(160, 150), approximation="laplace")
    assert forced.expansion.fewest_events < MIN_EVENTS


def test_auto_takes_the_approximation_of_sparse_groups_past_the_exact_row_limit():
    """Sparse groups are fitted exactly only while that takes minutes; past the row limit
    ``auto`` takes the approximation (whose check then warns), asked before any counting."""
    spec = ModelSpec.from_params(HierarchicalHTE(family="poisson").get_params())

    def yes():
        return True

    def no():
        return False

    # arguments: too many cells?, few events?
    assert approximation_method(spec, 100_000, yes, yes) == "none"
    assert approximation_method(spec, 100_000, yes, no) == "laplace"
    assert approximation_method(spec, AUTO_EXACT_SPARSE_ROWS + 1, yes, yes) == "laplace"


def test_partitioned_sparse_data_take_the_in_memory_decisions():
    """Dask partitions and rows in memory go through one reduction. 24,000 rows of sparse
    counts are more than 20,000 cells: ``auto`` keeps both exact because some arm has few
    events; with the approximation forced, both count the same fewest events (through which
    the check, which reads a sample of about 20,000 rows, fails)."""
    dd = pytest.importorskip("dask.dataframe")
    import dask

    X, y, t = _sparse_poisson(160, 150)
    frame = X.assign(y=y, t=t)
    parts = dd.from_pandas(frame, npartitions=3, sort=False)
    with dask.config.set(scheduler="synchronous"):
        partitioned_auto = _prepared(parts[["m", "x"]], parts["y"], parts["t"])
        partitioned = _prepared(parts[["m", "x"]], parts["y"], parts["t"], approximation="laplace")
    assert _prepared(X, y, t).expansion is None
    assert partitioned_auto.expansion is None
    memory = _prepared(X, y, t, approximation="laplace")
    assert partitioned.expansion.fewest_events == memory.expansion.fewest_events < MIN_EVENTS
    for expansion in (partitioned.expansion, memory.expansion):
        assert expansion.check_rows.n_rows < expansion.n_rows


def test_an_unread_sparse_arm_fails_the_check():
    """Where the check read only a subsample, few events in an arm fail it (the weighted means
    of a subsample can miss the bias there); where it read every row, they do not."""
    base = dict(method="laplace", pareto_k=0.1, draws_checked=500, max_shift=0.05)
    assert not ApproximationCheck(rows_checked=20_000, n_rows=60_000, fewest_events=5,
                                  **base).reliable  # fmt: skip
    assert ApproximationCheck(rows_checked=3000, n_rows=3000, fewest_events=5, **base).reliable
    assert ApproximationCheck(rows_checked=20_000, n_rows=60_000, fewest_events=MIN_EVENTS,
                              **base).reliable  # fmt: skip
    # a fit saved before these were recorded loads with the Pareto k alone
    assert ApproximationCheck("laplace", 0.1, 3000, 500).reliable


def test_event_counts_by_arm_and_dose():
    rng = np.random.default_rng(0)
    n = 600
    group = np.repeat(np.arange(3), 200)
    t = rng.integers(0, 2, n).astype(float)
    y = rng.poisson(0.5, n).astype(float)
    y[(group == 1) & (t == 1)] = 0.0
    y[np.flatnonzero((group == 1) & (t == 1))[:4]] = 1.0  # 4 events in one arm
    rows = RowDesign(controls=rng.normal(size=(n, 1)), Z=np.zeros((3, 0)), group=group,
                     treatment=t, outcome=y)  # fmt: skip
    outcome = OutcomeRows("poisson", y)
    halves = np.arange(n) < 250
    counts = EventCounts.of_rows(rows.take(np.flatnonzero(halves)),
                                 outcome.take(np.flatnonzero(halves)))  # fmt: skip
    counts = counts.plus(EventCounts.of_rows(rows.take(np.flatnonzero(~halves)),
                                             outcome.take(np.flatnonzero(~halves))))  # fmt: skip
    assert counts.fewest(family_of("poisson")) == 4
    assert counts.sparsest(family_of("poisson")) == (4, 1)  # and the warning names group 1
    # binary outcomes: the fewer of events and non-events (group 1's treated arm: 4 events)
    binary = OutcomeRows("bernoulli", np.minimum(y, 1.0))
    assert EventCounts.of_rows(rows, binary).fewest(family_of("bernoulli")) == 4
    # a dose has no arms: the group's events count
    dose = RowDesign(controls=rows.controls, Z=rows.Z, group=group,
                     treatment=rng.uniform(0.5, 2.0, n), outcome=y)  # fmt: skip
    expected = min(y[group == g].sum() for g in range(3))
    assert EventCounts.of_rows(dose, outcome).fewest(family_of("poisson")) == expected
