"""Study planning: simulated studies, closed-form and fitted intervals, and their checks."""

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._base.coefficient_layout import CoefficientLayout
from sklearn_hier._base.sampler_settings import resolve_sampler
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._modeling.inputs import prepare
from sklearn_hier._modeling.marginal_gaussian import complete_draw, conditional_moments
from sklearn_hier.planning import (
    Assumptions,
    StudyPlan,
    Treatment,
    plan_from,
    plan_study,
    prior_assumptions,
)

SHARES = {"age": {0: 0.5, 1: 0.3, 2: 0.2}, "urban": {0: 0.6, 1: 0.4}}
SMALL_SAMPLER = NUTSSampler(num_warmup=300, num_samples=300, num_chains=2, progress_bar=False)


def coverage_tolerance(p: float, n: int, sds: float = 4.0) -> float:
    """``sds`` binomial standard errors of a coverage rate over ``n`` intervals."""
    return sds * np.sqrt(p * (1 - p) / n)


# ------------------------------------------------------------------ closed form
def test_conditional_moments_equal_the_moments_of_the_exact_conditional_draws():
    rng = np.random.default_rng(1)
    n = 400
    X = pd.DataFrame({"m": rng.integers(0, 6, n), "x": rng.normal(size=n)})
    t = rng.integers(0, 2, n)
    y = 0.3 * t + 0.2 * X["m"] * t + X["x"] + rng.normal(size=n)
    spec = ModelSpec.from_params(resolve_sampler(HierarchicalHTE(modifiers=["m"]).get_params(),
                                                 stacklevel=2))  # fmt: skip
    prepared = prepare(spec, X, y, t, seed=0)
    phi = {"sd_group": np.array([0.4, 0.3]), "sigma": np.array(0.9),
           "L_group": np.linalg.cholesky(np.array([[1.0, 0.5], [0.5, 1.0]]))}  # fmt: skip
    sizes, data, priors = prepared.sizes, prepared.data, spec.priors
    with jax.enable_x64(True):
        moments = jax.device_get(conditional_moments(data, priors, sizes, phi))
        keys = jax.random.split(jax.random.PRNGKey(0), 20_000)
        draws = jax.device_get(
            jax.jit(jax.vmap(lambda k: complete_draw(k, data, priors, sizes, phi)))(keys)
        )
    G = prepared.design.n_groups
    blocks = CoefficientLayout(1, 1, 1).blocks(draws["b"])
    effects = blocks.treatment + blocks.interactions[:, 0, 0, None] * prepared.design.Z[:, 0]
    effects = effects + draws["u"][:, :G, 1]
    mean = moments["theta_mean"][:G, 1]
    sd = np.sqrt(moments["theta_cov"][:G, 1, 1])
    # 20,000 draws: the mean within 4 Monte Carlo se (sd / sqrt(20,000)), the sd within
    # 4 se of an sd estimate (sd / sqrt(2 x 20,000))
    assert np.all(np.abs(effects.mean(axis=0) - mean) < 4 * sd / np.sqrt(20_000))
    assert np.all(np.abs(effects.std(axis=0) / sd - 1) < 4 / np.sqrt(40_000))
    # the lambda's row of beta: term 1 (the effect) at Z = 0, then its slope on m
    lam_mean, lam_sd = moments["beta_mean"][3], np.sqrt(moments["beta_cov"][3, 3])
    lam = blocks.interactions[:, 0, 0]
    assert abs(lam.mean() - lam_mean) < 4 * lam_sd / np.sqrt(20_000)
    # the cross-group covariance that group comparisons need
    cross = moments["jacobian"][0, 1] @ moments["beta_cov"] @ moments["jacobian"][1, 1]
    sample = np.cov(effects[:, 0], effects[:, 1])[0, 1]
    assert abs(sample - cross) < 4 * sd[0] * sd[1] / np.sqrt(20_000)


def test_fast_mode_without_pooling_gives_the_difference_of_two_means_interval():
    # group offsets' sd far above the effects' standard errors: next to no pooling
    # (the shrinkage factor is 1 - se^2 / 9 > 0.99), and each group's effect
    # is its difference of arm means with standard error sigma sqrt(1/n1 + 1/n0)
    frame = pd.DataFrame({"site": [0] * 50 + [1] * 50})
    estimator = HierarchicalHTE(modifiers=["site"], group_predictors=None,
                                prior_sd_scale=100.0, sampler=SMALL_SAMPLER)  # fmt: skip
    a = Assumptions(average_effect=0.5, sd_effect=3.0, sd_intercept=3.0, noise_sd=2.0)
    plan = plan_study(frame, a, [400, 1600], estimator=estimator, n_simulations=6,
                      random_state=0)  # fmt: skip
    for n in (400, 1600):
        rows = plan.simulations[plan.simulations["n_rows"] == n]
        expected = 2 * sps.norm.ppf(0.975) * 2.0 * np.sqrt(4 / rows["rows"])
        width = rows["upper"] - rows["lower"]
        # arms split exactly in half overall, so within a group only up to a few rows
        assert np.allclose(width, expected, rtol=0.06)


def test_fast_plan_tables_curve_and_sample_size_for_a_target_width():
    a = Assumptions(average_effect=0.3, lambdas={"age": 0.1}, sd_effect=0.15, noise_sd=1.0)
    plan = plan_study(SHARES, a, [200, 800, 3200], n_simulations=8, random_state=3)
    assert isinstance(plan, StudyPlan) and plan.n_rows == [200, 800, 3200]
    assert len(plan.groups) == 3 * 6 and set(plan.groups["effect"]) == {"treatment"}
    curve = plan.curve()
    assert curve.shape == (3, 6)
    assert np.all(np.diff(curve.to_numpy(), axis=0) < 0)  # every group narrows with n
    # the smallest group (age=2, urban=1: share 0.08) is the widest and comes first
    assert plan.smallest_groups(1) == ["age=2, urban=1"]
    assert curve.columns[0] == "age=2, urban=1"
    target = float(curve.iloc[1, 0] * 0.9)
    n = plan.n_for_width(target)
    assert 800 < n < 3200
    with pytest.warns(UserWarning, match="extrapolated"):
        beyond = plan.n_for_width(float(curve.iloc[-1, 0]) / 2)
    assert beyond > 3200
    study = plan.study.set_index("n_rows")
    assert study["p_lambda_excludes_zero[age]"].is_monotonic_increasing
    assert np.isnan(study["p_sd_effect_above"]).all()  # fixed in the fast mode
    assert plan.groups["coverage"].between(0, 1).all()
    ax = plan.plot(target=0.5)
    assert len(ax.get_lines()) == 6 + 3 + 1


def _plan_of_widths(widths: dict) -> StudyPlan:
    """A plan whose groups' median widths are given (``{group: [width per size]}``) at
    100, 200 and 400 rows; the first group has the smallest share."""
    rows = [
        {"n_rows": n, "effect": "treatment", "group": group, "share": 0.1 * (k + 1),
         "width": width}
        for k, (group, series) in enumerate(widths.items())
        for n, width in zip([100, 200, 400], series, strict=True)
    ]  # fmt: skip
    empty = pd.DataFrame()
    return StudyPlan(pd.DataFrame(rows), empty, empty, mode="fast", prob=0.95, scale="link")


def test_a_target_met_at_the_smallest_planned_size():
    # widths that fall: the answer is extrapolated below the smallest size, with a warning
    falling = _plan_of_widths({"small": [0.5, 0.4, 0.3], "large": [0.3, 0.2, 0.1]})
    with pytest.warns(UserWarning, match="smallest planned size"):
        n = falling.n_for_width(0.6)
    slope = np.log(0.4 / 0.5) / np.log(2.0)
    assert n == pytest.approx(100 * np.exp(np.log(0.6 / 0.5) / slope))
    assert n < 100
    # widths that tie at the smallest sizes (the prior alone sets them): nothing to
    # extrapolate along, so the smallest planned size, not an error
    flat = _plan_of_widths({"small": [0.5, 0.5, 0.4], "large": [0.3, 0.2, 0.1]})
    with pytest.warns(UserWarning, match="smallest planned size"):
        assert flat.n_for_width(0.6) == pytest.approx(100.0)
    # a width that never falls and never reaches the target is an error
    rising = _plan_of_widths({"small": [0.5, 0.6, 0.7], "large": [0.3, 0.2, 0.1]})
    with pytest.warns(UserWarning, match="extrapolated"), pytest.raises(ValueError, match="fall"):
        rising.n_for_width(0.1)


def test_the_same_random_state_gives_the_same_plan():
    a = Assumptions(average_effect=0.3, sd_effect=0.2)
    first = plan_study(SHARES, a, [300], n_simulations=2, random_state=7)
    again = plan_study(SHARES, a, [300], n_simulations=2, random_state=7)
    pd.testing.assert_frame_equal(first.simulations, again.simulations)


def test_fast_mode_covers_at_the_nominal_rate_with_parameters_drawn_from_the_prior():
    # the conditional posterior at the true variance parameters is the exact posterior
    # given them: with the population terms drawn from the prior too, 90% intervals cover
    # 90% of the true group effects on average over the prior
    estimator = HierarchicalHTE(modifiers=["age", "urban"], sampler=SMALL_SAMPLER)
    draw = prior_assumptions(estimator, SHARES)
    plan = plan_study(SHARES, draw, [240], estimator=estimator, n_simulations=150, prob=0.9,
                      random_state=11)  # fmt: skip
    seen = plan.simulations["rows"] > 0
    covered = plan.simulations[seen].eval("lower <= truth <= upper")
    assert abs(covered.mean() - 0.9) < coverage_tolerance(0.9, 150 * 2)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"assumptions": Assumptions(lambdas={"income": 0.1})}, "income"),
        ({"mode": "quick"}, "mode"),
        ({"family": "bernoulli"}, "mode='exact'"),
        (
            {
                "frame": pd.DataFrame({"age": [0, 1], "score": [1.0, 2.0]}),
                "estimator": HierarchicalHTE(modifiers=["age"]),
            },
            "score",
        ),
        ({"assumptions": Assumptions(correlation=1.5)}, "positive-definite"),
        (
            {"assumptions": Assumptions(controls_r2=0.2), "family": "poisson", "mode": "exact"},
            "controls_r2",
        ),
        ({"estimator": HierarchicalHTE(modifiers=["age"], bins={"age": 2})}, "bin the frame"),
        ({"n_rows": [1]}, "n_rows"),
    ],
)
def test_bad_plans_are_refused_with_the_fix(kwargs, match):
    call = {"frame": pd.DataFrame({"age": [0, 1, 2]}), "assumptions": Assumptions(),
            "n_rows": [100], "n_simulations": 1, **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=match):
        plan_study(call.pop("frame"), call.pop("assumptions"), call.pop("n_rows"), **call)


def test_treatment_assignment_is_complete_randomisation():
    rng = np.random.default_rng(0)
    labels, columns = Treatment.arms({"a": 0.5, "b": 0.25, "c": 0.25}).assign(101, rng)
    assert sorted(pd.Series(labels).value_counts().to_dict().items()) == [
        ("a", 51),
        ("b", 25),
        ("c", 25),
    ] or sorted(pd.Series(labels).value_counts()) == [25, 25, 51]
    assert columns.shape == (101, 2) and columns.sum() == 50
    dose, column = Treatment.dose([0, 1, 2]).assign(10, rng)
    assert set(dose) <= {0.0, 1.0, 2.0} and column.shape == (10, 1)
    with pytest.raises(ValueError, match="control"):
        Treatment.arms({"a": 1, "b": 1}, control="z")


# ------------------------------------------------------------------ exact mode (slow)
@pytest.mark.slow
def test_fast_widths_are_within_ten_percent_of_exact_for_groups_of_twenty_rows():
    frame = {"m1": {k: 1.0 for k in range(5)}, "m2": {k: 1.0 for k in range(4)}}
    a = Assumptions(average_effect=0.3, lambdas={"m1": 0.05}, sd_effect=0.3,
                    sd_intercept=0.3, noise_sd=1.0)  # fmt: skip
    estimator = HierarchicalHTE(modifiers=["m1", "m2"], sampler=SMALL_SAMPLER)
    kwargs = dict(estimator=estimator, n_simulations=30, random_state=5)
    fast = plan_study(frame, a, [800, 2000], mode="fast", **kwargs)
    exact = plan_study(frame, a, [800, 2000], mode="exact", **kwargs)
    both = fast.groups.merge(exact.groups, on=["n_rows", "group"], suffixes=("_fast", "_exact"))
    large = both[both["rows_fast"] >= 20]
    assert len(large) == 40
    ratio = large["width_fast"] / large["width_exact"]
    # the fast mode leaves out the variance parameters' uncertainty; with 20 or more rows
    # per group it is within 10% of the full fit (the exact widths carry Monte Carlo
    # error of a few percent: 600 draws per fit, 30 fits per median)
    assert (abs(ratio - 1) < 0.1).all(), ratio.describe()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "treatment", "assumptions"),
    [
        (
            "bernoulli",
            Treatment.binary(0.5),
            Assumptions(average_effect=0.8, sd_effect=0.3, baseline=0.3),
        ),
        (
            "gaussian",
            Treatment.arms({"a": 1, "b": 1, "c": 1}),
            Assumptions(average_effect={"b": 0.5, "c": 1.0}, sd_effect=0.2),
        ),
        (
            "gaussian",
            Treatment.dose([0.0, 1.0, 2.0, 4.0]),
            Assumptions(average_effect=0.3, lambdas={"age": 0.1}, sd_effect=0.05),
        ),
    ],
    ids=["bernoulli", "three-arms", "dose"],
)
def test_exact_plans_for_other_families_and_treatments(family, treatment, assumptions):
    estimator = HierarchicalHTE(modifiers=["age", "urban"], family=family,
                                sampler=SMALL_SAMPLER)  # fmt: skip
    plan = plan_study(SHARES, assumptions, [300, 1200], treatment=treatment, mode="exact",
                      estimator=estimator, n_simulations=12, random_state=2)  # fmt: skip
    assert set(plan.groups["effect"]) == set(treatment.effect_names)
    for effect in treatment.effect_names:
        curve = plan.curve(effect)
        assert curve.shape == (2, 6) and (curve.iloc[1] < curve.iloc[0]).all()
    assert plan.study["p_sd_effect_above"].notna().all()
    # the truth is on the scale reported: probabilities for the binary outcome
    truth = plan.simulations["truth"]
    assert truth.between(-1, 1).all() if family == "bernoulli" else truth.abs().max() > 0.05
    assert plan.study["coverage"].between(0.75, 1.0).all()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
def test_exact_mode_covers_at_the_nominal_rate_with_parameters_drawn_from_the_prior(family):
    estimator = HierarchicalHTE(modifiers=["age", "urban"], family=family,
                                sampler=SMALL_SAMPLER)  # fmt: skip
    draw = prior_assumptions(estimator, SHARES)
    plan = plan_study(SHARES, draw, [300], estimator=estimator, mode="exact", prob=0.9,
                      scale="link", n_simulations=100, random_state=13)  # fmt: skip
    seen = plan.simulations["rows"] > 0
    covered = plan.simulations[seen].eval("lower <= truth <= upper")
    # 100 studies x 6 groups; groups within a study share parameters, so the effective
    # number of independent intervals is taken as 2 per study
    assert abs(covered.mean() - 0.9) < coverage_tolerance(0.9, 100 * 2)


@pytest.mark.slow
def test_plan_from_a_pilot_carries_its_posterior():
    rng = np.random.default_rng(4)
    n = 600
    X = pd.DataFrame({"age": rng.choice(3, n, p=[0.5, 0.3, 0.2]), "urban": rng.integers(0, 2, n)})
    t = rng.integers(0, 2, n)
    effect = 0.4 + 0.2 * X["age"]
    y = effect * t + rng.normal(size=n)
    sampler = NUTSSampler(num_warmup=600, num_samples=600, num_chains=2, progress_bar=False)
    pilot = HierarchicalHTE(modifiers=["age", "urban"], sampler=sampler,
                            random_state=0).fit(X, y, t)  # fmt: skip
    plan = plan_from(pilot, [600, 2400], n_simulations=20, random_state=0)
    assert plan.mode == "exact"
    # every simulation draws its own parameters from the pilot's posterior, and the same
    # draws serve every size, so the sizes are compared on paired studies. (The share of
    # studies telling lambda[age] from zero is about 0.1 at both sizes here: 6 groups bound
    # it whatever the rows, and 20 simulations cannot order two such shares.)
    truths = plan.simulations.pivot_table(
        index=["simulation", "group_index"], columns="n_rows", values="truth"
    )
    np.testing.assert_array_equal(truths[600], truths[2400])
    assert (truths[600].groupby(level="group_index").std() > 0.05).all()
    curve = plan.curve()
    assert (curve.loc[2400] < curve.loc[600]).all()
    assert plan.study["coverage"].between(0.8, 1.0).all()
