"""Treatments of every kind: binary, multi-arm, continuous and several columns at once."""

import warnings

import jax
import numpy as np
import pandas as pd
import pytest
from conftest import FAST, FAST_SETTINGS
from numpyro import handlers
from numpyro.distributions import LKJCholesky

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._base.spec import Priors
from sklearn_hier._data.treatment import TreatmentCoding
from sklearn_hier._modeling.marginal_gaussian import _marginal_scales as marginal_scales


def simulate(kind, *, n=2400, n_levels=(4, 5), sigma_theta=0.25, noise=1.0, seed=0):
    """Rows in groups from two modifiers, a treatment of ``kind`` ("arms": three arms a/b/c,
    "dose": a continuous dose) and known group effects, drawn as the model assumes."""
    rng = np.random.default_rng(seed)
    levels = [np.arange(k) for k in n_levels]
    grid = pd.MultiIndex.from_product(levels, names=["m0", "m1"]).to_frame(index=False)
    n_effects = 2 if kind == "arms" else 1
    slopes = rng.normal(0.0, 0.1, (2, n_effects))
    means = 0.3 + grid.to_numpy() @ slopes  # (G, E): what the modifiers predict
    effects = means + rng.normal(0.0, sigma_theta, means.shape)
    intercepts = rng.normal(0.0, 0.3, len(grid))
    group = rng.integers(0, len(grid), n)
    if kind == "arms":
        arm = rng.integers(0, 3, n)
        treatment = pd.Series(np.array(["a", "b", "c"])[arm], name="arm")
        design = np.column_stack([arm == 1, arm == 2]).astype(float)
        names = ["b", "c"]
    else:
        dose = rng.uniform(0.0, 2.0, n)
        treatment = pd.Series(dose, name="dose")
        design = dose[:, None]
        names = ["dose"]
    control = rng.normal(size=n)
    y = intercepts[group] + 0.5 * control + np.sum(effects[group] * design, axis=1)
    y = y + rng.normal(0.0, noise, n)
    X = grid.iloc[group].reset_index(drop=True).assign(control=control)
    truth = pd.concat(
        [grid.assign(treatment=name, effect=effects[:, k]) for k, name in enumerate(names)],
        ignore_index=True,
    )
    return X, y, treatment, truth


@pytest.fixture(scope="module")
def three_arms():
    # 16 groups: the compiled sampler of the formula tests' two-effect model serves it too
    X, y, t, truth = simulate("arms", n=900, n_levels=(4, 4))
    est = HierarchicalHTE(modifiers=["m0", "m1"], random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(X, y, treatment=t)
    return est, X, y, t, truth


def test_an_unseen_group_draws_its_effects_jointly(three_arms):
    """Offsets of unseen groups are N(0, Sigma) per draw: over many unseen groups their
    second moments are the posterior mean of Sigma (every term's variance and the
    covariances between the arms' effects), and each group's are fixed by its key."""
    est = three_arms[0]
    posterior = est.posterior_
    keys = [f"unseen {k}" for k in range(60)]
    n_draws = posterior.draws("sd_intercept").shape[0]
    offsets = posterior._joint_offsets(keys, n_draws)  # (S, groups, 3)
    sds = np.column_stack([posterior.draws("sd_intercept"), posterior.draws("sd_effect")])
    expected = (sds[:, :, None] * posterior.draws("corr") * sds[:, None, :]).mean(axis=0)
    pooled = offsets.reshape(-1, 3)
    second = pooled.T @ pooled / len(pooled)
    # each second moment from n = 60 S draws: its sd is about scale^2 sqrt(2 / n), more
    # where Sigma itself varies over the draws (a mixture), hence 6 of them
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    assert np.all(np.abs(second - expected) < 6 * scale * np.sqrt(2 / len(pooled)) + 1e-12)
    again = posterior._joint_offsets(keys[3:5], n_draws)
    np.testing.assert_array_equal(again, offsets[:, 3:5])


# ---------------------------------------------------------------- coding
def _learn(values, **options):
    return TreatmentCoding.learn_and_encode(values, n_rows=len(values), **options)


def test_each_kind_is_read_from_the_data():
    binary, matrix = _learn(pd.Series([0, 1, 1, 0], name="t"))
    assert binary.single_binary and matrix.shape == (4, 1)
    arms, matrix = _learn(pd.Series(["c", "a", "b", "a"], name="arm"))
    # the reference is the first level in sorted order, every other arm one effect
    assert arms.effect_names == ["b", "c"] and arms.control_value == "a"
    np.testing.assert_array_equal(matrix, [[0, 1], [0, 0], [1, 0], [0, 0]])
    dose, matrix = _learn(pd.Series([0.5, 1.0, 2.5, 3.0], name="dose"))
    assert dose.continuous.tolist() == [True] and dose.reference_doses[0] == 1.75
    np.testing.assert_array_equal(matrix[:, 0], [0.5, 1.0, 2.5, 3.0])
    several, matrix = _learn(pd.DataFrame({"x": [0, 1, 0, 1], "d": [0.1, 0.2, 0.3, 0.9]}))
    assert several.effect_names == ["x", "d"] and matrix.shape == (4, 2)


def test_reference_arm_and_forced_kinds():
    arms, matrix = _learn(pd.Series(["c", "a", "b"], name="arm"), control_value="c")
    assert arms.effect_names == ["a", "b"]
    np.testing.assert_array_equal(matrix, [[0, 0], [1, 0], [0, 1]])
    # a pandas Categorical keeps its declared order: its first category is the reference
    ordered = pd.Series(pd.Categorical(["lo", "hi", "mid"], categories=["mid", "lo", "hi"]))
    assert _learn(ordered)[0].control_value == "mid"
    # numbers forced to be arms; two labels forced to be arms
    assert _learn(pd.Series([1, 2, 3, 1]), treatment_type="categorical")[0].n_effects == 2
    coding, _ = _learn(pd.Series(["x", "y", "x"]), treatment_type="categorical")
    assert coding.effect_names == ["y"] and not coding.single_binary


@pytest.mark.parametrize(
    "values, options, message",
    [
        (pd.Series([1.0, 1.0, 1.0]), {}, "has only one value"),
        (pd.Series(["a", "b", "c"]), {"control_value": "z"}, "control_value='z' is not a level"),
        (pd.Series(pd.Categorical(["a", "b", "c"], categories=["a", "b", "c", "d"])), {},
         r"arm\(s\) \['d'\] with no rows"),
        (pd.Series([0.1, np.inf, 0.3]), {}, "non-finite dose"),
        (pd.Series([0.1, np.nan, 0.3]), {}, "missing value"),
        (pd.Series([1, 2, 1]), {}, "which one is treated is ambiguous"),
        (pd.DataFrame({"a": [0, 1], "b": [1, 0]}), {"treated_value": 1},
         "treated_value is for a single treatment column"),
        (pd.DataFrame({"a": [0, 1], "b": [1, 0]}), {"control_value": 0},
         "control_value must be a dict"),
        (pd.Series([0.5, 1.5, 2.5]), {"control_value": 0.5}, "control_value is for a binary"),
        (pd.Series(["a", "b", "c"]), {"treatment_type": "continuous"}, "needs numbers"),
    ],
)  # fmt: skip
def test_bad_treatments_get_clear_errors(values, options, message):
    with pytest.raises(ValueError, match=message):
        _learn(values, **options)


def test_encoding_after_fit_refuses_what_fit_did_not_see():
    arms, _ = _learn(pd.Series(["a", "b", "c"], name="arm"))
    with pytest.raises(ValueError, match=r"\['d'\] are not among those seen in fit"):
        arms.encode_matrix(pd.Series(["a", "d"]), n_rows=2)
    several, _ = _learn(pd.DataFrame({"x": [0, 1, 0, 1], "y": [1, 1, 0, 0]}))  # crossed
    with pytest.raises(ValueError, match="fitted on"):
        several.encode_matrix(pd.DataFrame({"x": [0], "z": [1]}), n_rows=1)
    with pytest.raises(ValueError, match="one value cannot set 2 treatment columns"):
        several.encode_matrix(1, n_rows=3, allow_scalar=True)
    # columns are matched by name, in any order; a dict sets every row
    swapped = several.encode_matrix(pd.DataFrame({"y": [1, 0], "x": [0, 1]}), n_rows=2)
    np.testing.assert_array_equal(swapped, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(
        several.encode_matrix({"x": 1, "y": 0}, n_rows=2, allow_scalar=True), [[1, 0], [1, 0]]
    )
    with pytest.raises(ValueError, match="needs a single binary treatment"):
        arms.encode(pd.Series(["a"]), n_rows=1)


def test_saved_codings_round_trip_and_old_ones_still_read():
    for values in (pd.Series(["c", "a", "b"], name="arm"), pd.Series([0.1, 2.0, 3.0])):
        coding = _learn(values)[0]
        assert TreatmentCoding.from_plain(coding.to_plain()) == coding
    old = {"name": "alliance", "treated_value": "ally", "control_value": "none"}
    assert TreatmentCoding.from_plain(old) == TreatmentCoding.binary("alliance", "ally", "none")


# ---------------------------------------------------------------- the prior
@pytest.mark.parametrize("dims, eta", [(2, 1.0), (3, 1.0), (3, 2.5), (4, 0.7)])
def test_correlation_parametrisation_has_the_lkj_density(dims, eta):
    """The marginal model's factor on the partial correlations, moved to the factor's
    below-diagonal entries (through the map's Jacobian), is LKJ(eta) up to a constant."""
    rng = np.random.default_rng(0)
    pairs = dims * (dims - 1) // 2

    def factor_and_log_density(partial):
        substituted = handlers.substitute(marginal_scales, {"corr_group": partial})
        trace = handlers.trace(handlers.seed(substituted, 0)).get_trace(
            "group", Priors(lkj=eta), dims
        )
        return trace["L_group"]["value"], trace["lkj_group"]["fn"].log_factor

    def lower(partial):
        return factor_and_log_density(partial)[0][np.tril_indices(dims, -1)]

    # each one program (operation by operation, a new process would compile dozens)
    compiled, jacobian = jax.jit(factor_and_log_density), jax.jit(jax.jacobian(lower))
    differences = []
    with jax.enable_x64(True):
        for _ in range(5):
            partial = rng.uniform(-0.9, 0.9, pairs)
            factor, log_density = compiled(partial)
            np.testing.assert_allclose(np.diag(factor @ factor.T), 1.0)  # a correlation
            assert (np.diag(factor) > 0).all()
            log_jacobian = np.linalg.slogdet(jacobian(partial))[1]
            lkj = float(LKJCholesky(dims, eta).log_prob(factor))
            differences.append(float(log_density) - log_jacobian - lkj)
    np.testing.assert_allclose(differences, differences[0], atol=1e-9)


# ---------------------------------------------------------------- a fitted model
def test_a_three_arm_fit_reports_every_arm(three_arms):
    est, X, y, t, _ = three_arms
    assert est.effect_names_ == ["b", "c"]
    table = est.effect_by_group()
    assert table.columns[0] == "treatment" and len(table) == 2 * est.n_groups_
    assert (table.groupby("treatment")["n_treated"].sum() == t.value_counts()[["b", "c"]]).all()
    effects = est.predict_effect(X.head(4))
    assert isinstance(effects, pd.DataFrame) and effects.columns.tolist() == ["b", "c"]
    assert est.predict_effect(X.head(4).to_numpy()).shape == (4, 2)
    mean, lower, upper = est.predict_effect(X.head(4), return_interval=True)
    assert ((lower <= mean).all() & (mean <= upper).all()).all()
    # a row's effect is its group's, arm by arm
    first = table[(table["m0"] == X.loc[0, "m0"]) & (table["m1"] == X.loc[0, "m1"])]
    np.testing.assert_allclose(effects.iloc[0].to_numpy(), first["mean"].to_numpy())
    coefficients = est.coefficients()
    terms = {"b", "c", "sd_effect[b]", "sd_effect[c]", "cor(b, c)", "cor(Intercept, b)"}
    assert terms <= set(coefficients.index)
    summaries = est.heterogeneity_summary()
    assert list(summaries) == ["b", "c"] and "Effect of c" in str(summaries["c"])
    with pytest.raises(ValueError, match="pass treatment=<one of them>"):
        est.average_effect_draws()
    assert est.average_effect_draws(treatment="c").shape == (FAST_SETTINGS["num_samples"] * 2,)


def test_comparing_arms_is_the_difference_of_their_effects(three_arms):
    est, X, *_ = three_arms
    posterior = est.posterior_
    b, c = (posterior.group_effect_draws("response", None, k) for k in (0, 1))
    table = est.compare_arms("c", "b")
    np.testing.assert_allclose(table["mean"], (c - b).mean(axis=0))
    np.testing.assert_allclose(table["prob_a_greater"], (c > b).mean(axis=0))
    # against the reference arm the comparison is the arm's own effect
    against_reference = est.compare_arms("b", "a")
    np.testing.assert_allclose(against_reference["mean"], b.mean(axis=0))
    with pytest.raises(ValueError, match="'z' is not an arm"):
        est.compare_arms("z", "b")
    # predicting outcomes: arm c minus arm b is the difference of their effects
    diff = est.predict(X.head(3), "c") - est.predict(X.head(3), "b")
    effects = est.predict_effect(X.head(3))
    np.testing.assert_allclose(diff, effects["c"] - effects["b"], atol=1e-12)


def test_tables_keep_the_treatment_column_through_every_report(three_arms):
    est, X, *_ = three_arms
    population = est.population_effect(X, by="m0")
    assert population["treatment"].unique().tolist() == ["b", "c"]
    pairs = est.compare_groups({"m0": 0, "m1": 0}, {"m0": 3, "m1": 3})
    assert pairs["treatment"].tolist() == ["b", "c"]
    contrast = est.contrast("m0", 3, 0)
    assert contrast.columns[0] == "treatment" and len(contrast) == 2 * 4  # arms x m1 levels


def test_saved_multi_arm_model_loads_with_its_arms(three_arms, tmp_path):
    est, X, *_ = three_arms
    est.save(tmp_path / "arms.nc")
    loaded = HierarchicalHTE.load(tmp_path / "arms.nc")
    assert loaded.treatment_coding_ == est.treatment_coding_
    pd.testing.assert_frame_equal(loaded.effect_by_group(), est.effect_by_group())
    pd.testing.assert_frame_equal(loaded.predict_effect(X.head(5)), est.predict_effect(X.head(5)))


def test_a_treatment_column_in_X_is_refused(three_arms):
    _, X, y, t, _ = three_arms
    with pytest.raises(ValueError, match="column 'arm' of X is also a treatment column"):
        HierarchicalHTE(modifiers=["m0"], **FAST).fit(X.assign(arm=t), y, treatment=t)


# ---------------------------------------------------------------- recovery
def _coverage(kind, seed):
    X, y, t, truth = simulate(kind, seed=seed)
    est = HierarchicalHTE(modifiers=["m0", "m1"], random_state=seed)
    est.fit(X, y, treatment=t)
    table = est.effect_by_group()
    if "treatment" not in table:
        table = table.assign(treatment=est.effect_names_[0])
    table = table.merge(truth, on=["treatment", "m0", "m1"])
    assert len(table) == len(truth)
    return ((table["lower"] <= table["effect"]) & (table["effect"] <= table["upper"])).to_numpy()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["arms", "dose"])
def test_group_effects_of_arms_and_doses_are_covered_at_the_nominal_rate(kind):
    covered = np.concatenate([_coverage(kind, seed) for seed in range(8)])
    # arms: 8 x 20 groups x 2 arms = 320 intervals (binomial sd of the rate at 0.95:
    # 0.012); dose: 160 (0.017). Three sds below nominal, and not far above.
    sd = np.sqrt(0.95 * 0.05 / covered.size)
    assert 0.95 - 3 * sd <= covered.mean() <= 0.995


# ---------------------------------------------------------------- baselines
def test_interaction_baseline_fits_one_slope_block_per_arm():
    from sklearn_hier.baselines import InteractionHTE

    X, y, t, truth = simulate("arms", n=3000, sigma_theta=0.0)
    est = InteractionHTE(modifiers=["m0", "m1"]).fit(X, y, treatment=t)
    assert est.effect_names_ == ["b", "c"] and "c:m1" in est.coef_names_
    # the same least squares by hand: [1, control, m0, m1, arm b, arm c, arms x modifiers]
    arms = np.column_stack([t == "b", t == "c"]).astype(float)
    Z = X[["m0", "m1"]].to_numpy(float)
    D = np.hstack([np.ones((len(y), 1)), X[["control"]], Z, arms,
                   arms[:, :1] * Z, arms[:, 1:] * Z])  # fmt: skip
    coef = np.linalg.lstsq(D, y, rcond=None)[0]
    np.testing.assert_allclose(est.coef_, coef, atol=1e-10)
    effects = est.predict_effect(X.head(5))
    np.testing.assert_allclose(effects["c"], coef[5] + Z[:5] @ coef[8:10], atol=1e-10)
    table = est.effect_by_group()
    assert table["treatment"].unique().tolist() == ["b", "c"]
    # no group-level noise: the regression is the true model, so it recovers the truth
    merged = table.merge(truth, on=["treatment", "m0", "m1"])
    assert np.abs(merged["mean"] - merged["effect"]).max() < 0.25
    np.testing.assert_allclose(est.predict(X.head(3), "c") - est.predict(X.head(3), "a"),
                               effects["c"].head(3), atol=1e-10)  # fmt: skip


@pytest.mark.parametrize("kind", ["arms", "dose"])
def test_econml_baselines_take_arms_and_doses(kind):
    pytest.importorskip("econml")
    from sklearn_hier.baselines import CausalForestHTE, MetaLearnerHTE

    X, y, t, _ = simulate(kind, n=800)
    forest = CausalForestHTE(modifiers=["m0", "m1"], n_estimators=40, random_state=0)
    effects = forest.fit(X, y, treatment=t).predict_effect(X.head(6))
    width = 2 if kind == "arms" else 1
    assert np.shape(effects) == ((6, 2) if width == 2 else (6,))
    assert np.isfinite(np.asarray(effects)).all()
    if kind == "arms":
        learner = MetaLearnerHTE(kind="DR", modifiers=["m0", "m1"], random_state=0)
        table = learner.fit(X, y, treatment=t).effect_by_group()
        assert table["treatment"].unique().tolist() == ["b", "c"]
        assert (table["lower"] <= table["mean"]).all() and (table["mean"] <= table["upper"]).all()
    else:
        with pytest.raises(ValueError, match="MetaLearnerHTE takes binary or categorical"):
            MetaLearnerHTE(kind="T", modifiers=["m0"]).fit(X, y, treatment=t)


def test_single_treatment_baselines_say_so():
    from sklearn_hier.baselines import BayesianCausalForestHTE, CausalForestHTE

    X, y, t, _ = simulate("arms", n=300)
    with pytest.raises(ValueError, match="BayesianCausalForestHTE takes binary treatments"):
        BayesianCausalForestHTE(modifiers=["m0"]).fit(X, y, treatment=t)
    several = pd.DataFrame({"x": (t == "b").astype(int), "z": (t == "c").astype(int)})
    with pytest.raises(ValueError, match="CausalForestHTE takes one treatment column"):
        CausalForestHTE(modifiers=["m0"]).fit(X, y, treatment=several)


def test_econml_vocabulary_refuses_a_model_with_several_effects(three_arms):
    est, X, *_ = three_arms
    with pytest.raises(ValueError, match="speak of one binary treatment"):
        est.ate(X)


def test_compare_scores_every_arm_against_its_truth(three_arms):
    from sklearn_hier import compare
    from sklearn_hier.baselines import InteractionHTE

    est, X, y, t, truth = three_arms
    wide = truth.pivot_table(index=["m0", "m1"], columns="treatment", values="effect")
    row_truth = wide.loc[list(zip(X["m0"], X["m1"], strict=True))].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        table = compare([est, InteractionHTE(modifiers=["m0", "m1"])], X, y, t,
                        true_effect=row_truth)  # fmt: skip
    assert table[["estimator", "treatment"]].values.tolist() == [
        ["HierarchicalHTE", "b"], ["HierarchicalHTE", "c"],
        ["InteractionHTE", "b"], ["InteractionHTE", "c"],
    ]  # fmt: skip
    assert table["group_rmse"].notna().all() and table["coverage"].between(0, 1).all()
    groups = pd.DataFrame(table.attrs["group_effects"])
    assert set(groups["treatment"]) == {"b", "c"}
    with pytest.raises(ValueError, match="needs one binary treatment"):
        compare([InteractionHTE(modifiers=["m0"])], X, y, t)
    with pytest.raises(ValueError, match="reads the treatment differently"):
        compare([InteractionHTE(modifiers=["m0"]), InteractionHTE(modifiers=["m0"],
                 control_value="c")], X, y, t, true_effect=row_truth)  # fmt: skip


def test_figures_draw_one_effect_at_a_time_or_every_effect_in_its_panels(three_arms):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_hier.plotting import plot_effect_distribution, plot_group_effects

    est, *_ = three_arms
    fig = plot_group_effects(est, x="m1", hue="m0")  # the effects fill the columns
    assert [ax.get_title() for ax in fig.axes[:2]] == ["treatment=b", "treatment=c"]
    one = plot_group_effects(est, x="m1", hue="m0", treatment="c")
    assert len(one.axes) == 1
    ax = plot_effect_distribution(est, treatment="b")
    assert "effect of b" in ax.get_xlabel()
    with pytest.raises(ValueError, match="pass treatment="):
        plot_effect_distribution(est)
    plt.close("all")


def test_cross_validation_needs_every_arm_in_every_training_fold(three_arms):
    from sklearn_hier import HierarchicalHTECV

    _, X, y, t, _ = three_arms
    rows = np.arange(len(t))
    # the second split holds every row of arm c out: its training fold has none
    splits = [(rows[rows % 2 == 0], rows[rows % 2 == 1]), (rows[t != "c"], rows[t == "c"])]
    search = HierarchicalHTECV(
        estimator=HierarchicalHTE(modifiers=["m0", "m1"], **FAST),
        param_grid={"prior_sd_scale": [0.5, 1.0]},
        cv=splits,
    )
    with pytest.raises(ValueError, match=r"training fold 1 has no rows of arm\(s\) \['c'\]"):
        search.fit(X, y, treatment=t)
    # the reference arm too
    splits[1] = (rows[t != "a"], rows[t == "a"])
    with pytest.raises(ValueError, match=r"training fold 1 has no rows of arm\(s\) \['a'\]"):
        search.fit(X, y, treatment=t)


@pytest.mark.slow
def test_region_as_a_four_arm_treatment_samples_cleanly(tomz_weeks):
    modifiers = ["white", "male", "intl", "hawk"]
    est = HierarchicalHTE(modifiers=modifiers, random_state=0)
    X = tomz_weeks[modifiers + ["alliance", "regime", "stakes", "costs"]]
    est.fit(X, tomz_weeks["force"], treatment=tomz_weeks["region"])  # warnings are errors
    table = est.diagnostics()
    assert table.attrs["divergences"] == 0 and (table["r_hat_max"] <= 1.01).all()
    assert est.effect_names_ == ["Asia", "Eastern Europe", "South America"]
    by_group = est.effect_by_group()
    assert len(by_group) == 3 * est.n_groups_ and by_group["median"].abs().max() < 0.5


@pytest.mark.slow
def test_bernoulli_arms_are_recovered_on_the_link_scale():
    rng = np.random.default_rng(3)
    X, _, t, truth = simulate("arms", n=6000, sigma_theta=0.3, seed=3)
    arms = np.column_stack([t == "b", t == "c"]).astype(float)
    effects = truth.pivot_table(index=["m0", "m1"], columns="treatment", values="effect")
    row_effects = effects.loc[list(zip(X["m0"], X["m1"], strict=True))].to_numpy()
    eta = -0.3 + 0.4 * X["control"].to_numpy() + np.sum(row_effects * arms, axis=1)
    y = (rng.uniform(size=len(t)) < 1 / (1 + np.exp(-eta))).astype(int)
    est = HierarchicalHTE(modifiers=["m0", "m1"], family="bernoulli", random_state=0)
    est.fit(X, y, treatment=t)
    link = est.effect_by_group(scale="link").merge(truth, on=["treatment", "m0", "m1"])
    covered = (link["lower"] <= link["effect"]) & (link["effect"] <= link["upper"])
    # 40 intervals at 95%: 34 or fewer covered has probability below 0.01
    assert covered.sum() >= 35
    response = est.effect_by_group()
    # the response-scale effect is a change in probability with the link effect's sign
    agree = np.sign(response["median"]) == np.sign(link["median"])
    assert agree[link["median"].abs() > 0.1].all() and response["median"].abs().max() < 0.5
