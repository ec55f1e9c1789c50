"""HierarchicalHTE behaviour: outputs, prediction, reproducibility, scikit-learn protocol."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, FAST_SETTINGS, fast
from sklearn.base import clone

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning


@pytest.fixture(scope="module")
def fitted(simulated):
    est = HierarchicalHTE(modifiers=simulated.modifiers, handle_unknown="population",
                          random_state=0, **FAST)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    return est


def _assert_same_posterior(first, second):
    """Group-effect means agree within Monte Carlo error.

    Each mean has MCSE sd / sqrt(ESS) with ESS >= 100 in these short runs, so the
    difference of two independent runs has sd <= sd * sqrt(2 / 100); allow five.
    """
    a, b = (e.effect_by_group()["mean"].to_numpy() for e in (first, second))
    sd = first.effect_by_group()["sd"].to_numpy()
    assert np.all(np.abs(a - b) < 5 * sd * np.sqrt(2 / 100))


def test_effect_by_group_table(fitted, simulated):
    table = fitted.effect_by_group()
    assert list(table.columns) == [
        "m0", "m1", "n", "n_treated", "mean", "median", "sd", "lower", "upper", "prob_positive"
    ]  # fmt: skip
    assert len(table) == fitted.n_groups_ == len(simulated.group_effects)
    assert table["n"].sum() == len(simulated.y)
    assert table["n_treated"].sum() == simulated.treatment.sum()
    assert (table["lower"] < table["median"]).all() and (table["median"] < table["upper"]).all()
    narrow = fitted.effect_by_group(prob=0.5)
    assert ((narrow["upper"] - narrow["lower"]) < (table["upper"] - table["lower"])).all()
    draws = fitted.idata_.posterior["group_effect"].values.reshape(-1, fitted.n_groups_)
    np.testing.assert_allclose(table["mean"], draws.mean(axis=0))
    np.testing.assert_allclose(table["prob_positive"], (draws > 0).mean(axis=0))


def test_predict_effect_is_the_group_effect(fitted, simulated):
    table = fitted.effect_by_group()
    effect, lower, upper = fitted.predict_effect(simulated.X, return_interval=True)
    merged = simulated.X[["m0", "m1"]].merge(table, on=["m0", "m1"], how="left")
    np.testing.assert_allclose(effect, merged["mean"])
    np.testing.assert_allclose(lower, merged["lower"])
    np.testing.assert_allclose(upper, merged["upper"])
    np.testing.assert_allclose(fitted.predict_effect(simulated.X), effect)


def test_predict_effect_needs_only_modifiers_in_any_order(fitted, simulated):
    reordered = simulated.X[["c1", "m1", "m0"]]
    np.testing.assert_allclose(fitted.predict_effect(reordered), fitted.predict_effect(simulated.X))


def test_unseen_group_draws_from_population_model(fitted):
    known = pd.DataFrame({"m0": [0, 1], "m1": [1, 1]})
    unseen = pd.DataFrame({"m0": [0, 1], "m1": [9, 9]})  # a numeric level never seen
    _, lo_k, hi_k = fitted.predict_effect(known, return_interval=True)
    with pytest.warns(UserWarning, match="outside its training range"):
        mean_u, lo_u, hi_u = fitted.predict_effect(unseen, return_interval=True)
    assert ((hi_u - lo_u) > (hi_k - lo_k)).all()
    post = fitted.idata_.posterior
    b = post["b_treatment"].values.ravel()
    lam = post["lambda"].values.reshape(b.size, -1)
    np.testing.assert_allclose(
        mean_u,
        (b[:, None] + lam @ np.array([[0, 9], [1, 9]]).T).mean(0),
        atol=4 * post["sd_effect"].values.mean() / np.sqrt(b.size),
    )
    # the same call twice gives the same answer
    with pytest.warns(UserWarning, match="outside its training range"):
        np.testing.assert_array_equal(fitted.predict_effect(unseen), mean_u)


def test_inference_data_is_labelled(fitted):
    post = fitted.idata_.posterior
    assert post.sizes["chain"] == FAST_SETTINGS["num_chains"]
    assert post.sizes["draw"] == FAST_SETTINGS["num_samples"]
    assert list(post.coords["group_predictor"].values) == ["m0", "m1"]
    assert post.coords["group"].values[0] == "m0=0, m1=0"
    assert {"diverging", "tree_depth", "step_size"} <= set(fitted.idata_.sample_stats)


def test_coefficients_table(fitted):
    table = fitted.coefficients()
    assert table.loc["treatment", "role"] == "effect"
    assert list(table.index[table["role"] == "lambda"]) == ["treatment:m0", "treatment:m1"]
    assert {"sd_effect[treatment]", "sigma", "c0", "c1", "Intercept"} <= set(table.index)
    sd = table.loc["sd_effect[treatment]"]
    post = fitted.idata_.posterior["sd_effect"].values.ravel()
    assert sd["median"] == pytest.approx(np.median(post))


def test_heterogeneity_summary(fitted):
    summary = fitted.heterogeneity_summary()
    medians = fitted.effect_by_group()["median"]
    assert summary.extremes.loc["smallest", "median"] == pytest.approx(medians.min())
    assert summary.extremes.loc["largest", "median"] == pytest.approx(medians.max())
    draws = fitted.idata_.posterior["group_effect"].values
    assert summary.sd_all_draws == pytest.approx(draws.std())
    mid, low, high = summary.unexplained_share
    assert 0 <= low <= mid <= high <= 1
    text = str(summary)
    assert "smallest" in text and "sd_effect" in text


def test_treatment_name_from_series(simulated):
    est = HierarchicalHTE(modifiers=simulated.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(simulated.X, simulated.y, treatment=pd.Series(simulated.treatment, name="ad"))
    assert "ad:m0" in est.coefficients().index


def test_random_state_reproduces_and_seeds_differ(simulated, fitted):
    def fit(seed):
        est = HierarchicalHTE(modifiers=simulated.modifiers, random_state=seed, **FAST)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SamplingWarning)
            return est.fit(simulated.X, simulated.y, treatment=simulated.treatment)

    again = fit(0)
    np.testing.assert_array_equal(
        again.idata_.posterior["group_effect"].values,
        fitted.idata_.posterior["group_effect"].values,
    )
    other = fit(1)
    a, b = (e.effect_by_group()["mean"].to_numpy() for e in (fitted, other))
    assert not np.array_equal(a, b)
    _assert_same_posterior(fitted, other)


@pytest.mark.slow
def test_vectorized_chains_agree_with_parallel(simulated, fitted):
    est = HierarchicalHTE(
        modifiers=simulated.modifiers, random_state=0, **fast(chain_method="vectorized")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    # Batched arithmetic rounds differently and NUTS trajectories amplify it, so
    # the draws differ; the posteriors agree within Monte Carlo error.
    _assert_same_posterior(est, fitted)


@pytest.mark.slow
def test_row_likelihood_matches_reduced_likelihood(simulated, fitted):
    rows = HierarchicalHTE(modifiers=simulated.modifiers, random_state=0, reduce_data=False, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        rows.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    _assert_same_posterior(rows, fitted)


@pytest.mark.slow
def test_sampling_problems_warn(simulated):
    est = HierarchicalHTE(
        modifiers=simulated.modifiers,
        random_state=0,
        sampler=NUTSSampler(num_warmup=5, num_samples=20, num_chains=2),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    messages = [str(w.message) for w in caught if w.category is SamplingWarning]
    # 20 draws from 5 warm-up iterations: unconverged chains and tiny ESS, each said with a fix
    assert any("R-hat" in m and "num_warmup=" in m for m in messages)
    assert any("effective sample size" in m and "num_samples" in m for m in messages)
    table = est.diagnostics()
    assert list(table.columns) == ["size", "r_hat_max", "ess_bulk_min", "ess_tail_min"]
    assert "divergences" in table.attrs


def test_clone_and_params():
    est = HierarchicalHTE(modifiers=["a"], prior_sd_scale=0.3, random_state=1)
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    cloned.set_params(prior_sd_scale=2.0)
    assert est.prior_sd_scale == 0.3 and cloned.prior_sd_scale == 2.0
    assert not hasattr(cloned, "idata_")


def test_input_frame_is_not_modified(simulated):
    X = simulated.X.copy()
    before = X.copy()
    est = HierarchicalHTE(modifiers=simulated.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(X, simulated.y, treatment=simulated.treatment)
    pd.testing.assert_frame_equal(X, before)


def test_numpy_input_uses_positions(simulated):
    est = HierarchicalHTE(modifiers=[0, 1], random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(simulated.X.to_numpy(), simulated.y, treatment=simulated.treatment)
    assert est.n_features_in_ == 4 and not hasattr(est, "feature_names_in_")
    assert est.predict_effect(simulated.X.to_numpy()).shape == (len(simulated.y),)


def test_binned_modifier(simulated):
    X = simulated.X.assign(age=np.linspace(20, 70, len(simulated.y)))
    est = HierarchicalHTE(modifiers=["m0", "age"], bins={"age": 3}, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(X, simulated.y, treatment=simulated.treatment)
    assert est.n_groups_ == 6
    assert len(est.bin_edges_["age"]) == 4
    assert set(est.effect_by_group()["age"]) == {"[20, 36.67)", "[36.67, 53.33)", "[53.33, 70]"}


@pytest.mark.slow
def test_additive_structure_outputs(simulated):
    est = HierarchicalHTE(
        modifiers=simulated.modifiers, structure="additive", group_predictors=None,
        random_state=0, **FAST,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    post = est.idata_.posterior
    assert list(post.coords["varying_modifier"].values) == ["m0", "m1"]
    assert list(post.coords["modifier_level"].values) == ["m0=0", "m0=1", "m1=0", "m1=1", "m1=2"]
    # a group's effect is the population effect plus its levels' offsets
    level = post["level_effect"]
    expected = (
        post["b_treatment"] + level.sel(modifier_level="m0=1") + level.sel(modifier_level="m1=2")
    )
    label = "m0=1, m1=2"
    np.testing.assert_allclose(post["group_effect"].sel(group=label), expected, atol=1e-10)
    assert {"sd_effect[m0, treatment]", "sd_effect[m1, treatment]"} <= set(est.coefficients().index)


@pytest.mark.slow
@pytest.mark.parametrize("chain_method", ["parallel", "vectorized"])
def test_progress_bar_reaches_the_end(simulated, capsys, chain_method):
    est = HierarchicalHTE(
        modifiers=simulated.modifiers, random_state=0,
        **fast(progress_bar=True, chain_method=chain_method),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    total = FAST_SETTINGS["num_warmup"] + FAST_SETTINGS["num_samples"]
    total *= FAST_SETTINGS["num_chains"] if chain_method == "parallel" else 1
    assert f"{total}/{total}" in capsys.readouterr().err


def test_predict_outcome_difference_is_the_effect(fitted, simulated):
    treated = fitted.predict(simulated.X, 1)
    control = fitted.predict(simulated.X, np.zeros(len(simulated.y)))
    np.testing.assert_allclose(treated - control, fitted.predict_effect(simulated.X), atol=1e-12)
    # the expected outcome is linear in the posterior draws: plug-in of posterior means
    post = fitted.idata_.posterior
    row = simulated.X.iloc[[0]]
    label = f"m0={row['m0'].item()}, m1={row['m1'].item()}"
    by_hand = (
        post["group_intercept"].sel(group=label).mean()
        + (row[["c0", "c1"]].to_numpy() @ post["b_control"].mean(("chain", "draw")).values)[0]
    )
    assert fitted.predict(row, 0)[0] == pytest.approx(float(by_hand))


def test_score_is_outcome_r2(fitted, simulated):
    from sklearn.metrics import r2_score

    score = fitted.score(simulated.X, simulated.y, simulated.treatment)
    expected = r2_score(simulated.y, fitted.predict(simulated.X, simulated.treatment))
    assert score == pytest.approx(expected)
    assert 0 < score < 1


def test_group_without_treated_rows_is_pooled_and_reported(simulated):
    X, y, t = simulated.X, simulated.y, simulated.treatment.copy()
    alone = ((X["m0"] == 1) & (X["m1"] == 2)).to_numpy()
    t[alone] = 0.0  # this group has controls only: its effect comes from pooling
    est = HierarchicalHTE(modifiers=simulated.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(X, y, treatment=t)
    table = est.effect_by_group().set_index(["m0", "m1"])
    assert table.loc[(1, 2), "n_treated"] == 0
    width = table["upper"] - table["lower"]
    assert width.loc[(1, 2)] == width.max()  # the least informed group, honestly widest
    assert np.isfinite(table.loc[(1, 2), "mean"])
