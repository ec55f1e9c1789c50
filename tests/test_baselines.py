"""Baselines answer the same contract as HierarchicalHTE: fit, effects, groups, EconML names."""

import sys

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier._base.effect_vocabulary import NoIntervalsError
from sklearn_hier.baselines import (
    BayesianCausalForestHTE,
    CausalForestHTE,
    InteractionHTE,
    MetaLearnerHTE,
)
from sklearn_hier.datasets import make_grouped_hte

pytest.importorskip("econml", reason="the baselines extra is not installed")

DATA = make_grouped_hte(800, n_levels=(2, 3), sigma_theta=0.1, random_state=4)
MODS = DATA.modifiers

BASELINES = {
    "interaction": InteractionHTE(modifiers=MODS),
    "forest": CausalForestHTE(modifiers=MODS, n_estimators=100, random_state=0),
    "S_bootstrap": MetaLearnerHTE(kind="S", modifiers=MODS, n_bootstrap=5, random_state=0),
    "T_bootstrap": MetaLearnerHTE(kind="T", modifiers=MODS, n_bootstrap=10, random_state=0),
    "X": MetaLearnerHTE(kind="X", modifiers=MODS, random_state=0),
    "DR": MetaLearnerHTE(kind="DR", modifiers=MODS, random_state=0),
    "BCF": BayesianCausalForestHTE(modifiers=MODS, num_burnin=20, num_mcmc=100, random_state=0),
}
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module", params=list(BASELINES), ids=list(BASELINES))
def fitted(request):
    est = clone(BASELINES[request.param])
    assert est.fit(DATA.X, DATA.y, treatment=DATA.treatment) is est
    return est


def test_params_round_trip(fitted):
    params = fitted.get_params()
    twin = type(fitted)(**params)
    assert twin.get_params() == params
    assert not hasattr(clone(fitted), "groups_")


def test_effects_have_one_value_per_row_and_econml_names_agree(fitted):
    effect = fitted.predict_effect(DATA.X)
    assert effect.shape == (len(DATA.y),) and np.isfinite(effect).all()
    np.testing.assert_allclose(fitted.effect(DATA.X), effect)
    np.testing.assert_allclose(fitted.effect(DATA.X, T0=1, T1=0), -effect)
    assert fitted.ate(DATA.X) == pytest.approx(effect.mean(), rel=1e-6, abs=1e-9)
    assert fitted.ate() == pytest.approx(fitted.ate(DATA.X), rel=1e-6, abs=1e-9)


def test_intervals_bracket_the_estimates(fitted):
    if getattr(fitted, "kind", None) == "X":  # no bootstrap asked: no intervals
        with pytest.raises(NoIntervalsError):
            fitted.ate_interval(DATA.X)
        return
    effect, lower, upper = fitted.predict_effect(DATA.X, return_interval=True, prob=0.9)
    assert (lower <= effect + 1e-9).all() and (effect <= upper + 1e-9).all()
    lo, hi = fitted.effect_interval(DATA.X, alpha=0.1)
    np.testing.assert_allclose(lo, lower)
    np.testing.assert_allclose(hi, upper)
    ate_lo, ate_hi = fitted.ate_interval(DATA.X)
    assert ate_lo < fitted.ate(DATA.X) < ate_hi


def test_effect_by_group_aggregates_rows_over_the_same_groups(fitted):
    table = fitted.effect_by_group()
    assert len(table) == len(DATA.group_effects)
    assert table["n"].sum() == len(DATA.y)
    row_effect = fitted.predict_effect(DATA.X)
    first = table.iloc[0]
    rows = (DATA.X["m0"] == first["m0"]) & (DATA.X["m1"] == first["m1"])
    assert first["mean"] == pytest.approx(row_effect[rows.to_numpy()].mean(), rel=1e-6)
    if getattr(fitted, "kind", None) != "X":
        assert (table["lower"] < table["mean"]).all() and (table["mean"] < table["upper"]).all()
    # on new data, the groups present there
    sub = DATA.X[DATA.X["m0"] == 0]
    assert set(fitted.effect_by_group(sub)["m0"]) == {0}


def test_metalearner_without_bootstrap_says_how_to_get_intervals():
    est = MetaLearnerHTE(kind="T", modifiers=MODS).fit(DATA.X, DATA.y, treatment=DATA.treatment)
    with pytest.raises(NoIntervalsError, match="n_bootstrap > 0"):
        est.predict_effect(DATA.X, return_interval=True)
    table = est.effect_by_group()
    assert table["lower"].isna().all() and table["mean"].notna().all()


def test_missing_econml_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "econml.dml", None)
    with pytest.raises(ImportError, match=r"sklearn-hier\[baselines\]"):
        CausalForestHTE(modifiers=MODS).fit(DATA.X, DATA.y, treatment=DATA.treatment)


def test_bad_input_gets_the_same_errors_as_the_core_estimator():
    with pytest.raises(ValueError, match="which one is treated is ambiguous"):
        InteractionHTE(modifiers=MODS).fit(DATA.X, DATA.y, treatment=DATA.treatment * 2)
    with pytest.raises(ValueError, match="not found in X"):
        CausalForestHTE(modifiers=["nope"]).fit(DATA.X, DATA.y, treatment=DATA.treatment)
    with pytest.raises(sklearn.utils._param_validation.InvalidParameterError):
        MetaLearnerHTE(kind="Q", modifiers=MODS).fit(DATA.X, DATA.y, treatment=DATA.treatment)


def test_interaction_matches_statsmodels_hc3():
    sm = pytest.importorskip("statsmodels.api")
    est = InteractionHTE(modifiers=MODS).fit(DATA.X, DATA.y, treatment=DATA.treatment)
    X, t = DATA.X, DATA.treatment
    Z = np.column_stack([X["m0"], X["m1"]])
    D = np.column_stack([np.ones(len(t)), X[["c0", "c1"]], Z, t, t[:, None] * Z])
    ref = sm.OLS(DATA.y, D).fit(cov_type="HC3")
    np.testing.assert_allclose(est.coef_, ref.params, rtol=1e-8)
    np.testing.assert_allclose(est.cov_, ref.cov_params(), rtol=1e-8)


def test_interaction_recovers_linear_heterogeneity():
    data = make_grouped_hte(
        20_000, n_levels=(2, 4), effect_slopes=(0.5, -0.2), sigma_theta=0.0, random_state=0
    )
    est = InteractionHTE(modifiers=data.modifiers).fit(data.X, data.y, treatment=data.treatment)
    slopes = dict(zip(est.coef_names_, est.coef_, strict=True))
    se = dict(zip(est.coef_names_, np.sqrt(np.diag(est.cov_)), strict=True))
    for name, truth in [("treatment:m0", 0.5), ("treatment:m1", -0.2)]:
        assert abs(slopes[name] - truth) < 4 * se[name]


def test_grid_search_routes_treatment_to_a_baseline():
    with sklearn.config_context(enable_metadata_routing=True):
        est = CausalForestHTE(modifiers=MODS, n_estimators=40, random_state=0)
        est = est.set_fit_request(treatment=True)
        search = GridSearchCV(
            est, {"min_samples_leaf": [5, 40]}, cv=KFold(2, shuffle=True, random_state=0),
            scoring=lambda e, X, y: -np.var(e.predict_effect(X)),
        )  # fmt: skip
        search.fit(DATA.X, DATA.y, treatment=DATA.treatment)
    assert search.best_estimator_.n_groups_ == 6
