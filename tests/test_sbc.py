"""Simulation-based calibration: the harness's pieces (fast) and a reduced grid (slow).

The full grid (every family x structure x treatment kind, both Gaussian samplers,
Laplace, SVI) is ``benchmarks/sbc.py``. The slow tier runs a subset that still covers
both samplers, a non-Gaussian family and a multi-effect treatment, and checks that a
deliberately wrong prior fails.
"""

import numpy as np
import pytest
from scipy import stats as sps
from scipy.signal import lfilter

from sklearn_hier._base.spec import Priors
from sklearn_hier._sbc import (
    ORDINAL_CATEGORIES,
    SBCCase,
    draw_from_prior,
    grid_table,
    holm,
    lkj_cholesky,
    make_design,
    rank_pvalues,
    run_case,
    scaled,
    thinned_rank,
)

# ------------------------------------------------------------------ fast tier


def test_holm_matches_the_step_down_rule():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, max(0.03, 0.06), max(0.06, 0.04)
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]).max() == 1.0  # capped


def test_rank_test_holds_its_level_and_sees_a_skew():
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, 100, size=(100, 400))  # 400 quantities of 100 runs
    p = rank_pvalues(uniform, 99, 20)
    # the share of p < 0.05 is binomial(400, 0.05): sd 0.011
    assert abs(np.mean(p < 0.05) - 0.05) < 0.035
    # ranks of a posterior that is too narrow pile up at both ends
    wide = np.clip(np.round(50 + 40 * rng.standard_t(2, size=(100, 1))), 0, 99).astype(int)
    assert rank_pvalues(wide, 99, 20)[0] < 1e-6
    with pytest.raises(ValueError, match="multiple of n_bins"):
        rank_pvalues(uniform, 99, 7)


def test_rank_test_with_few_runs_keeps_its_level():
    """4 runs in 20 bins: all four ranks in one bin happens with probability 20 / 20^4,
    which the chi-square approximation would call p < 1e-5. With few runs the bins
    are merged, and below 10 runs only the exact KS test speaks."""
    rng = np.random.default_rng(6)
    p = rank_pvalues(rng.integers(0, 100, size=(4, 4000)), 99, 20)
    assert abs(np.mean(p < 0.01) - 0.01) < 0.006  # binomial(4000, 0.01): sd 0.0016
    clustered = np.full((4, 1), 37)
    assert rank_pvalues(clustered, 99, 20)[0] > 1e-4  # KS alone: it is 4 ranks


def test_thinned_rank_is_uniform_for_autocorrelated_draws():
    """AR(1) chains (rho 0.9, ESS about 5% of the draws) with the truth drawn from the
    stationary law: the thinned ranks are uniform; the extremes are 0 and L."""
    rng = np.random.default_rng(1)
    rho, n_runs, n_ranks = 0.9, 300, 19
    ranks, enough = [], 0
    for _ in range(n_runs):
        start = rng.normal(size=(2, 1))  # the stationary law: N(0, 1)
        noise = rng.normal(size=(2, 800)) * np.sqrt(1 - rho**2)
        chains = lfilter([1.0], [1.0, -rho], noise, axis=1, zi=rho * start)[0]
        rank, kept = thinned_rank(chains, rng.normal(), n_ranks, rng)
        ranks.append(rank)
        enough += kept
    # an ESS estimate far below the truth (84) now and then leaves too few thinned draws
    assert enough >= 0.95 * n_runs
    assert rank_pvalues(np.array(ranks), n_ranks, 10)[0] > 0.001
    draws = rng.normal(size=(2, 100))
    assert thinned_rank(draws, -10.0, n_ranks, rng)[0] == 0
    assert thinned_rank(draws, 10.0, n_ranks, rng)[0] == n_ranks


@pytest.mark.parametrize("dim, eta", [(2, 1.0), (2, 3.0), (3, 1.0), (3, 2.0)])
def test_lkj_draws_have_the_lkj_marginals(dim, eta):
    """Under LKJ(eta) in d dimensions each correlation is 2 Beta(a, a) - 1 with
    a = eta - 1 + d / 2 (Lewandowski et al. 2009); its variance is 1 / (2a + 1)."""
    rng = np.random.default_rng(2)
    draws = np.array([lkj_cholesky(dim, eta, rng) for _ in range(4000)])
    corr = draws @ np.swapaxes(draws, 1, 2)
    np.testing.assert_allclose(np.diagonal(corr, axis1=1, axis2=2), 1.0)
    a = eta - 1 + dim / 2
    for i, j in [(1, 0)] + ([(2, 0), (2, 1)] if dim == 3 else []):
        r = corr[:, i, j]
        assert sps.kstest((r + 1) / 2, sps.beta(a, a).cdf).pvalue > 0.001


def _prior_sample(kind, family, structure, n_draws, priors=None, seed=3):
    priors = Priors() if priors is None else priors
    design = make_design(kind, family, n_rows=120)
    rng = np.random.default_rng(seed)
    draws = [draw_from_prior(design, structure, priors, rng) for _ in range(n_draws)]
    names = list(draws[0].truth)
    return design, {n: np.array([d.truth[n] for d in draws]) for n in names}, draws


def test_prior_simulator_moments_nested():
    design, truth, _ = _prior_sample("binary", "gaussian", "nested", 3000)
    n = 3000
    half_normal_mean = np.sqrt(2 / np.pi)  # of a half-normal with scale 1 (the defaults)
    for name in ("sd_intercept", "sd_effect[treatment]", "sigma"):
        se = np.sqrt(1 - 2 / np.pi) / np.sqrt(n)
        assert abs(truth[name].mean() - half_normal_mean) < 4 * se, name
    # coefficients: normal(0, 0.5)
    for name in ("b_treatment[treatment]", "lambda[m1,treatment]", "b_control[x]"):
        assert abs(truth[name].std() - 0.5) < 4 * 0.5 / np.sqrt(2 * n), name
    # corr: LKJ(1) in 2 dimensions is uniform on (-1, 1)
    assert sps.kstest(truth["corr"], sps.uniform(-1, 2).cdf).pvalue > 0.001
    # a group's effect: b_t + z . lambda + u, variance 0.25 (1 + |z|^2) + E[sd^2] (= 1)
    z = design.Z[0]
    var = 0.25 * (1 + z @ z) + 1.0
    effect = truth["group_effect[-1|-1,treatment]"]
    assert abs(effect.var() / var - 1) < 4 * np.sqrt(2 / n) * 1.5  # heavy-ish tails


def test_prior_simulator_additive_offsets_avoid_the_predictors_span():
    """Additive: a level's offset variance is sd^2 times the projection's diagonal
    (orthogonal to the constant and the modifier's own values), so a group's effect has
    variance 0.25 (1 + |z|^2) + sum_k P_k[l_k, l_k]."""
    design, truth, _ = _prior_sample("binary", "gaussian", "additive", 3000)
    assert {"sd_intercept[m1]", "sd_intercept[m2]"} <= set(truth)
    z = design.Z[0]
    diag = 0.0
    for values in design.level_values:
        spanned = np.column_stack([np.ones(values.size), values])
        diag += (np.eye(values.size) - spanned @ np.linalg.pinv(spanned))[0, 0]
    var = 0.25 * (1 + z @ z) + diag
    effect = truth["group_effect[-1|-1,treatment]"]
    assert abs(effect.var() / var - 1) < 4 * np.sqrt(2 / 3000) * 1.5


def test_prior_simulator_outcome_follows_the_parameters():
    """Gaussian, many rows: least squares on the simulated outcome recovers the true
    control coefficient and sigma (the outcome is built from the drawn parameters)."""
    design = make_design("arms", "gaussian", n_rows=24_000)
    draw = draw_from_prior(design, "nested", Priors(), np.random.default_rng(4))
    # group x arm cell means absorb everything but the control
    cell = design.group * 3 + (design.t @ np.array([1, 2])).astype(int)
    dummies = np.eye(cell.max() + 1)[cell]
    x = np.column_stack([dummies, design.controls])
    coef, rss = np.linalg.lstsq(x, draw.y, rcond=None)[:2]
    sigma = np.sqrt(rss[0] / (x.shape[0] - x.shape[1]))
    assert abs(sigma / draw.truth["sigma"] - 1) < 4 / np.sqrt(2 * x.shape[0])
    se = sigma / np.sqrt(design.controls.var() * x.shape[0])
    assert abs(coef[-1] - draw.truth["b_control[x]"]) < 4 * se


def test_prior_simulator_ordinal_uses_every_category_and_the_scaled_prior():
    _, truth, draws = _prior_sample("binary", "ordinal", "nested", 200)
    assert all(np.unique(d.y).size == ORDINAL_CATEGORIES for d in draws)
    assert "Intercept" in truth and "sigma" not in truth
    cut = np.column_stack([truth[f"cutpoints[{k}]"] for k in range(ORDINAL_CATEGORIES - 1)])
    assert (np.diff(cut, axis=1) > 0).all()
    # a broken simulator: the sds' scale doubled
    _, wide, _ = _prior_sample("binary", "gaussian", "nested", 2000, scaled(Priors(), sd=2))
    assert abs(wide["sd_intercept"].mean() / (2 * np.sqrt(2 / np.pi)) - 1) < 0.06


def test_prior_simulator_puts_a_doses_priors_per_unit_of_its_spread():
    """A dose with sd 2: its slope's prior sd is 0.5 / 2 and its group sd's half-normal
    scale 1 / 2; the intercept's sd and the control's coefficient keep theirs."""
    design = make_design("dose", n_rows=120, dose_sd=2.0)
    np.testing.assert_allclose(design.effect_units, [0.5])
    rng = np.random.default_rng(5)
    draws = [draw_from_prior(design, "nested", Priors(), rng).truth for _ in range(3000)]
    n, half_normal_mean = 3000, np.sqrt(2 / np.pi)
    for name, sd in [("b_treatment[dose]", 0.25), ("lambda[m2,dose]", 0.25),
                     ("b_control[x]", 0.5)]:  # fmt: skip
        values = np.array([d[name] for d in draws])
        assert abs(values.std() / sd - 1) < 4 / np.sqrt(2 * n), name
    for name, scale in [("sd_effect[dose]", 0.5), ("sd_intercept", 1.0)]:
        values = np.array([d[name] for d in draws])
        se = scale * np.sqrt(1 - 2 / np.pi) / np.sqrt(n)
        assert abs(values.mean() - scale * half_normal_mean) < 4 * se, name


def test_designs_cover_every_treatment_kind():
    for kind, n_effects in [("binary", 1), ("arms", 2), ("dose", 1), ("several", 2)]:
        design = make_design(kind, n_rows=120)
        assert design.t.shape == (120, n_effects)
        assert len(design.effect_names) == n_effects
        assert design.n_groups == 12 and np.bincount(design.group).min() == 10
    dose = make_design("dose").t[:, 0]
    assert dose.min() > 0 and abs(dose.std() - 1) < 1e-12
    with pytest.raises(ValueError, match="kind must be one of"):
        make_design("ternary")


# ------------------------------------------------------------------ slow tier
#: Short chains on small data: each fit takes about a second; 80 runs per case.
SLOW_SAMPLER = dict(num_warmup=200, num_samples=200, num_chains=2)
SLOW_RUNS, SLOW_RANKS, SLOW_BINS = 80, 49, 10
#: Family-wise level over the cases that must pass (Holm within each, Bonferroni across
#: them).
ALPHA = 0.01 / 5

PASSING = [
    SBCCase("gaussian", "nested", "binary", n_rows=240),  # the marginal sampler
    SBCCase("bernoulli", "nested", "binary", n_rows=240),  # joint sampler, non-Gaussian
    SBCCase("gaussian", "additive", "arms", n_rows=240),  # two effects, additive structure
    # a dose in small units (sd 0.05): its priors are per unit of its spread, so a prior
    # left in the outcome's units would be far too narrow for its slope and fail
    SBCCase("gaussian", "nested", "dose", n_rows=240, dose_sd=0.05),
    # only the intercept varies: the marginal model with the effects' scales held at zero
    SBCCase("gaussian", "nested", "arms", n_rows=240, fit_params={"varying_slopes": False}),
]


def _sbc(case: SBCCase, seed: int):
    result = run_case(
        case, SLOW_RUNS, n_ranks=SLOW_RANKS, n_bins=SLOW_BINS, seed=seed, sampler=SLOW_SAMPLER
    )
    assert not result.errors, result.errors[:3]
    return result


@pytest.mark.slow
@pytest.mark.parametrize("case", PASSING, ids=lambda c: c.label)
def test_sbc_ranks_are_uniform(case):
    result = _sbc(case, seed=11)
    row = grid_table([result], alpha=ALPHA).iloc[0]
    assert row["pass"], (
        f"SBC fails for {row['case']}: {row['worst']} (adjusted p {row['min_p_adj']:.2g})"
    )


@pytest.mark.slow
def test_sbc_fails_a_prior_scale_off_by_two():
    """The simulator draws the group sds from half-normal(2); the fit assumes
    half-normal(1). The ranks of the sds pile up at the top, and the test says so."""
    broken = SBCCase("gaussian", "nested", "binary", n_rows=240, prior_factors={"sd": 2.0})
    result = _sbc(broken, seed=12)
    row = grid_table([result], alpha=ALPHA).iloc[0]
    assert not row["pass"]
    assert row["worst"].startswith("sd_")
