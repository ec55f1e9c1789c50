"""The Bayesian causal forest baseline: recovery where it should shine, propensities, errors."""

import sys

import numpy as np
import pandas as pd
import pytest

from sklearn_hier.baselines import BayesianCausalForestHTE
from sklearn_hier.datasets import make_grouped_hte

pytest.importorskip("stochtree", reason="the baselines extra is not installed")

# built for BCF: the effect is a step function of two binary modifiers (what trees
# express exactly), with a strong signal and no unexplained group variation
DATA = make_grouped_hte(
    1200, n_levels=(2, 2), effect_mean=0.5, effect_slopes=[0.6, -0.4], sigma_theta=0.0,
    noise=0.5, random_state=11,
)  # fmt: skip
SETTINGS = dict(modifiers=DATA.modifiers, num_burnin=50, num_mcmc=200)


@pytest.fixture(scope="module")
def fitted():
    est = BayesianCausalForestHTE(**SETTINGS, random_state=0)
    return est.fit(DATA.X, DATA.y, treatment=DATA.treatment)


@pytest.mark.slow  # 200 posterior draws of two forests
def test_recovers_group_effects_it_is_built_for(fitted):
    table = fitted.effect_by_group().merge(DATA.group_effects, on=DATA.modifiers)
    # about 300 rows per group with noise sd 0.5: each group's effect has se ~ 0.06
    assert np.abs(table["mean"] - table["effect"]).max() < 0.15
    covered = (table["lower"] <= table["effect"]) & (table["effect"] <= table["upper"])
    assert covered.sum() >= 3  # 4 groups at nominal 0.95: 2 or fewer has probability 0.014
    assert fitted.ate_interval()[0] < DATA.true_effect.mean() < fitted.ate_interval()[1]


@pytest.mark.slow
def test_intervals_come_from_the_posterior_draws(fitted):
    effect, lower, upper = fitted.predict_effect(DATA.X[:50], return_interval=True, prob=0.8)
    _, wide_lower, wide_upper = fitted.predict_effect(DATA.X[:50], return_interval=True)
    assert (lower <= effect).all() and (effect <= upper).all()
    assert (wide_lower <= lower).all() and (upper <= wide_upper).all()


def test_same_seed_same_answer_and_given_propensities_are_used():
    X, y, t = DATA.X[:300], DATA.y[:300], DATA.treatment[:300]
    half = np.full(300, 0.5)
    settings = {**SETTINGS, "num_burnin": 10, "num_mcmc": 20, "random_state": 3}
    first = BayesianCausalForestHTE(**settings).fit(X, y, treatment=t, propensity=half)
    again = BayesianCausalForestHTE(**settings).fit(X, y, treatment=t, propensity=half)
    np.testing.assert_array_equal(first.predict_effect(X), again.predict_effect(X))
    np.testing.assert_array_equal(first.propensity_, half)


@pytest.mark.parametrize(
    "propensity, message",
    [(np.ones(1200), "strictly between 0 and 1"), (np.full(5, 0.5), "has 5 values; X has 1200"),
     (["a"] * 1200, "must be numbers")],
)  # fmt: skip
def test_bad_propensities_get_clear_errors(propensity, message):
    est = BayesianCausalForestHTE(**SETTINGS)
    with pytest.raises(ValueError, match=message):
        est.fit(DATA.X, DATA.y, treatment=DATA.treatment, propensity=propensity)


SMALL = {**SETTINGS, "num_gfr": 2, "num_burnin": 0, "num_mcmc": 10, "n_trees_prognostic": 20,
         "n_trees_effect": 10, "random_state": 5}  # fmt: skip


@pytest.fixture(scope="module")
def small_fit():
    X, y, t = DATA.X[:300], DATA.y[:300], DATA.treatment[:300]
    return BayesianCausalForestHTE(**SMALL).fit(X, y, treatment=t, propensity=0.5)


def test_control_value_and_labels_code_the_treatment_as_treated_value_does(small_fit):
    X, y, t = DATA.X[:300], DATA.y[:300], DATA.treatment[:300]
    by_treated = BayesianCausalForestHTE(**SMALL, treated_value=0).fit(
        X, y, treatment=t, propensity=0.5
    )
    by_control = BayesianCausalForestHTE(**SMALL, control_value=1).fit(
        X, y, treatment=t, propensity=0.5
    )
    np.testing.assert_array_equal(by_control.predict_effect(X), by_treated.predict_effect(X))
    assert by_control.groups_["n_treated"].sum() == int((t == 0).sum())
    labels = np.where(t == 1, "drug", "placebo")
    labelled = BayesianCausalForestHTE(**SMALL, control_value="placebo").fit(
        X, y, treatment=labels, propensity=0.5
    )
    np.testing.assert_array_equal(labelled.predict_effect(X), small_fit.predict_effect(X))


def test_one_number_is_a_constant_propensity(small_fit):
    np.testing.assert_array_equal(small_fit.propensity_, np.full(300, 0.5))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        BayesianCausalForestHTE(**SMALL).fit(
            DATA.X[:300], DATA.y[:300], treatment=DATA.treatment[:300], propensity=1.0
        )


def test_group_slopes_are_stochtrees_and_unseen_groups_get_new_ones(small_fit):
    rows = small_fit._training_rows
    n = len(rows.group)
    ours = small_fit._effect_draws(rows)
    # stochtree's own conditional effect with the random slopes of the training groups
    theirs = small_fit.model_.predict(
        X=small_fit._covariates(rows), Z=np.ones(n), propensity=np.full(n, 0.5),
        rfx_group_ids=np.array(rows.group), type="posterior", terms="cate",
    )  # fmt: skip
    np.testing.assert_allclose(ours, np.asarray(theirs).reshape(n, -1))
    unseen = DATA.X[:300].assign(m0=9)  # a level the forest never saw: new groups
    with pytest.warns(UserWarning, match="extrapolated"):
        table = small_fit.effect_by_group(unseen)
    assert len(table) == 2 and np.isfinite(table[["lower", "upper"]].to_numpy()).all()
    # each new group gets its own slope draws, from the fitted spread of group slopes
    with pytest.warns(UserWarning, match="extrapolated"):
        slopes = small_fit._group_slopes(small_fit._rows_of(unseen))
    assert slopes.shape == (small_fit.n_groups_ + 2, 10)
    assert np.all(slopes[-2:].std(axis=1) > 0) and not np.allclose(slopes[-2], slopes[-1])
    with pytest.warns(UserWarning, match="extrapolated"):
        again = small_fit.effect_by_group(unseen)
    pd.testing.assert_frame_equal(table, again)  # the same rows give the same answer
    # a new group's draws depend on its label alone, not on the other rows predicted with it
    second = table["m1"].iloc[-1]  # the second new group (the first's draws came first)
    with pytest.warns(UserWarning, match="extrapolated"):
        by_itself = small_fit.effect_by_group(unseen[unseen["m1"] == second])
    shared = table[table["m1"] == second].reset_index(drop=True)
    pd.testing.assert_frame_equal(by_itself.reset_index(drop=True)[shared.columns], shared)


# the grouped scenario of the baseline comparison with the most groups: 100 groups of
# 2x2x5x5 modifier levels whose effects deviate from a linear function by Normal(0, 0.15)
USE_CASE_100 = dict(n_samples=4000, n_levels=(2, 2, 5, 5), sigma_theta=0.15, imbalance=0.2)


@pytest.mark.slow  # two fits of 4,000 rows at the default 500 draws: about a minute each
def test_group_intervals_cover_at_least_085_on_the_grouped_scenario():
    covered = total = 0
    for seed in (1000, 1001):
        data = make_grouped_hte(**USE_CASE_100, random_state=seed)
        est = BayesianCausalForestHTE(modifiers=data.modifiers, random_state=0)
        table = est.fit(data.X, data.y, treatment=data.treatment, propensity=0.5)
        table = table.effect_by_group().merge(data.group_effects, on=data.modifiers)
        hit = (table["lower"] <= table["effect"]) & (table["effect"] <= table["upper"])
        covered, total = covered + int(hit.sum()), total + len(table)
    # 200 group intervals: at a true coverage of 0.85 fewer than 158 are covered with
    # probability 0.01 (binomial; the intervals of one fit share the forest, so this
    # is a guide, not an exact level). Plain BCF (group_effects=False) covers about 140.
    assert total == 200
    assert covered >= 158, f"{covered} of {total} group intervals cover the true effect"


def test_missing_stochtree_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "stochtree", None)
    with pytest.raises(ImportError, match=r"sklearn-hier\[baselines\]"):
        BayesianCausalForestHTE(**SETTINGS).fit(DATA.X, DATA.y, treatment=DATA.treatment)
