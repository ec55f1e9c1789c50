"""The Bayesian causal forest baseline: recovery where it should shine, propensities, errors."""

import sys

import numpy as np
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


def test_missing_stochtree_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "stochtree", None)
    with pytest.raises(ImportError, match=r"sklearn-hier\[baselines\]"):
        BayesianCausalForestHTE(**SETTINGS).fit(DATA.X, DATA.y, treatment=DATA.treatment)
