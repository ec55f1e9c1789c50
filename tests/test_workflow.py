"""HierarchicalHTE inside scikit-learn's workflow: routing, cross-validation, grid search."""

import warnings

import numpy as np
import pytest
import sklearn
from conftest import FAST
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.metrics import predict_effect, qini_scorer, r_loss_scorer, r_score

pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")


@pytest.fixture(scope="module")
def heterogeneous():
    # effects vary a lot beyond what the modifiers predict linearly
    return make_grouped_hte(
        1500, n_levels=(3, 4), sigma_theta=0.6, effect_slopes=[0.0, 0.0], noise=0.5,
        random_state=3,
    )  # fmt: skip


def test_r_score_of_truth_beats_constant(heterogeneous):
    d = heterogeneous
    scorer = r_loss_scorer(cv=3)
    y_res, t_res = scorer.residuals(d.X, d.y, d.treatment)
    assert r_score(y_res, t_res, d.true_effect) > 0.05
    assert r_score(y_res, t_res, np.full(len(d.y), d.true_effect.mean())) < 0.01


@pytest.mark.slow
def test_grid_search_with_routing_prefers_real_heterogeneity(heterogeneous):
    d = heterogeneous
    with sklearn.config_context(enable_metadata_routing=True):
        est = HierarchicalHTE(modifiers=d.modifiers, group_predictors=None, random_state=0, **FAST)
        est = est.set_fit_request(treatment=True).set_score_request(treatment=True)
        search = GridSearchCV(
            est, {"prior_sd_scale": [1e-3, 1.0]}, scoring=r_loss_scorer(cv=3),
            cv=KFold(3, shuffle=True, random_state=0),
        )  # fmt: skip
        search.fit(d.X, d.y, treatment=d.treatment)
    scores = search.cv_results_["mean_test_score"]
    # sd 1e-3 pools every group to one effect; the truth varies with sd 0.6
    assert search.best_params_["prior_sd_scale"] == 1.0
    assert scores[1] > scores[0]
    assert len(search.best_estimator_.effect_by_group()) == 12


def test_cross_validate_routes_treatment_to_fit_and_score(heterogeneous):
    d = heterogeneous
    with sklearn.config_context(enable_metadata_routing=True):
        est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
        est = est.set_fit_request(treatment=True).set_score_request(treatment=True)
        result = cross_validate(
            est, d.X, d.y, params={"treatment": d.treatment},
            cv=KFold(2, shuffle=True, random_state=0),
        )  # fmt: skip
    assert np.all((result["test_score"] > 0) & (result["test_score"] < 1))


def test_forgotten_fit_request_is_a_clear_error(heterogeneous):
    d = heterogeneous
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            HierarchicalHTE(modifiers=d.modifiers, **FAST), {"prior_sd_scale": [1.0]}, cv=2
        )
        with pytest.raises(ValueError, match="set_fit_request"):
            search.fit(d.X, d.y, treatment=d.treatment)


def test_scorer_without_treatment_explains_routing(heterogeneous):
    d = heterogeneous
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(d.X, d.y, treatment=d.treatment)
    with pytest.raises(ValueError, match="Enable metadata routing"):
        r_loss_scorer()(est, d.X, d.y)


def _preprocess():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    return ColumnTransformer(
        [("scale", StandardScaler(), ["c0", "c1"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def test_pipeline_with_routing(heterogeneous):
    from sklearn.pipeline import make_pipeline

    d = heterogeneous
    with sklearn.config_context(enable_metadata_routing=True):
        est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
        est = est.set_fit_request(treatment=True).set_score_request(treatment=True)
        est = est.set_predict_request(treatment=True)
        pipe = make_pipeline(_preprocess(), est)
        pipe.fit(d.X, d.y, treatment=d.treatment)
        assert pipe.predict(d.X, treatment=d.treatment).shape == d.y.shape
        assert 0 < pipe.score(d.X, d.y, treatment=d.treatment) < 1
        scores = cross_validate(
            pipe, d.X, d.y, params={"treatment": d.treatment}, cv=2,
            scoring={"r_loss": r_loss_scorer(cv=3), "qini": qini_scorer()},
        )  # fmt: skip
    assert np.isfinite(scores["test_r_loss"]).all() and np.isfinite(scores["test_qini"]).all()
    # the effect model saw scaled controls, and the effects are those of the raw data's groups
    effects = pipe[-1].predict_effect(pipe[:-1].transform(d.X))
    np.testing.assert_allclose(effects, predict_effect(pipe, d.X))


def test_pipeline_and_search_without_routing(heterogeneous):
    from sklearn.pipeline import make_pipeline

    d = heterogeneous
    pipe = make_pipeline(_preprocess(), HierarchicalHTE(modifiers=d.modifiers, **FAST))
    pipe.fit(d.X, d.y, hierarchicalhte__treatment=d.treatment)
    assert len(pipe[-1].effect_by_group()) == 12
    # without routing, fit parameters reach fit; scoring needs routing (documented)
    search = GridSearchCV(
        HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST),
        {"prior_sd_scale": [0.5, 1.0]}, scoring=r_loss_scorer(cv=3), cv=2, error_score="raise",
    )  # fmt: skip
    with pytest.raises(ValueError, match="Enable metadata routing"):
        search.fit(d.X, d.y, treatment=d.treatment)


@pytest.mark.slow
def test_r_loss_prefers_correct_prior_in_most_replications():
    from sklearn.model_selection import train_test_split

    wins = 0
    for seed in range(5):
        d = make_grouped_hte(
            1500, n_levels=(3, 4), sigma_theta=0.5, effect_slopes=[0.0, 0.0], noise=0.7,
            random_state=100 + seed,
        )  # fmt: skip
        train, test = train_test_split(np.arange(len(d.y)), test_size=0.5, random_state=seed)
        scorer = r_loss_scorer(cv=3, random_state=seed)
        scores = []
        for sd_scale in (1e-3, 1.0):
            est = HierarchicalHTE(
                modifiers=d.modifiers, group_predictors=None, prior_sd_scale=sd_scale,
                random_state=seed, **FAST,
            )  # fmt: skip
            est.fit(d.X.iloc[train], d.y[train], treatment=d.treatment[train])
            scores.append(scorer(est, d.X.iloc[test], d.y[test], treatment=d.treatment[test]))
        wins += scores[1] > scores[0]
    assert wins >= 4
