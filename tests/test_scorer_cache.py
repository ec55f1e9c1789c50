"""The R-loss scorer fits its nuisance models once per scored data set, with the same scores."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier.baselines import InteractionHTE
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.metrics import r_loss_scorer

DATA = make_grouped_hte(600, n_levels=(2, 3), sigma_theta=0.4, random_state=4)
GRID = {"modifiers": [["m0"], ["m1"], ["m0", "m1"]]}


def r_loss(**kwargs):
    # linear nuisances keep the test fast; the caching does not depend on the models
    return r_loss_scorer(LinearRegression(), LogisticRegression(), cv=3, **kwargs)


def _search(scorer):
    with sklearn.config_context(enable_metadata_routing=True):
        est = InteractionHTE().set_fit_request(treatment=True).set_score_request(treatment=True)
        search = GridSearchCV(est, GRID, scoring=scorer, cv=KFold(3, shuffle=True, random_state=0))
        return search.fit(DATA.X, DATA.y, treatment=DATA.treatment)


def test_cached_search_scores_equal_the_uncached_ones_with_one_nuisance_fit_per_fold():
    cached_scorer = r_loss()
    cached, uncached = _search(cached_scorer), _search(r_loss(cache=False))
    for key in ("mean_test_score", *(f"split{k}_test_score" for k in range(3))):
        np.testing.assert_array_equal(cached.cv_results_[key], uncached.cv_results_[key])
    assert cached.best_params_ == uncached.best_params_
    info = cached_scorer.cache_info()
    # 3 folds x 3 candidates scored: one nuisance fit per fold, the rest reuse it
    assert (info.misses, info.hits, info.entries) == (3, 6, 3)


def test_other_data_or_other_nuisance_settings_are_fitted_anew():
    scorer = r_loss()
    X, y, t = DATA.X, DATA.y, DATA.treatment
    first = scorer.residuals(X, y, t)
    again = scorer.residuals(X.copy(), y.copy(), t.copy())  # equal data, new objects
    assert scorer.cache_info().misses == 1 and again[0] is first[0]
    changed = y.copy()
    changed[0] += 1.0
    scorer.residuals(X, changed, t)
    assert scorer.cache_info().misses == 2
    scorer.cv = 4
    scorer.residuals(X, y, t)
    assert scorer.cache_info().misses == 3
    scorer.outcome_model.set_params(fit_intercept=False)
    scorer.residuals(X, y, t)
    assert scorer.cache_info().misses == 4
    with pytest.raises(ValueError, match="read-only"):
        first[0][0] = 0.0  # later calls share these arrays


def test_copies_for_worker_processes_leave_the_cache_behind():
    scorer = r_loss()
    scorer.residuals(DATA.X, DATA.y, DATA.treatment)
    copy = pickle.loads(pickle.dumps(scorer))
    assert copy.cache_info().entries == 0 and scorer.cache_info().entries == 1
