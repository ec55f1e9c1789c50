"""No silent answers in the workflow: empty bins at prediction, true effects matched by name,
and scoring without metadata routing that says how to turn it on."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from conftest import FAST
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._data.design import Design
from sklearn_hier.baselines import InteractionHTE
from sklearn_hier.comparison import compare
from sklearn_hier.metrics import pehe, pehe_scorer, qini_scorer, r_loss_scorer, tau_risk

ROUTING = r"sklearn\.set_config\(enable_metadata_routing=True\)"
EDGES = [20.0, 30.0, 40.0, 50.0, 60.0]


# ------------------------------------------------------------------ an empty bin
def _ages(n=600, seed=0):
    """Ages in [20, 30) and [40, 60]: the bin [30, 40) has no training rows. The true effect
    grows with age (0.05 per year around 40)."""
    rng = np.random.default_rng(seed)
    age = np.where(rng.random(n) < 0.4, rng.uniform(20, 30, n), rng.uniform(40, 60, n))
    t = rng.integers(0, 2, n)
    y = 0.2 + 0.05 * (age - 40) * t + rng.normal(0, 0.3, n)
    return pd.DataFrame({"age": age}), pd.Series(y, name="y"), pd.Series(t, name="t")


def test_an_empty_bin_enters_as_the_average_of_the_known_bins():
    """The design alone: its code (-1) never indexes the bins' scores, where it took the
    last bin's."""
    X, _, _ = _ages()
    design, _ = Design.learn(X, modifiers=["age"], group_predictors="modifiers",
                             bins={"age": EDGES})  # fmt: skip
    scores = design.modifiers[0].scores
    assert len(scores) == 3  # the empty bin is dropped from the groups
    empty = pd.DataFrame({"age": ["[30, 40)", "[20, 30)"]})
    np.testing.assert_allclose(design.predictors_of(empty)[:, 0], [scores.mean(), scores[0]])


@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_an_empty_bin_is_predicted_from_the_average_of_the_known_bins(path):
    """handle_unknown='population': an age in a bin no training row fell in is a new group
    whose effect is b_treatment + lambda * (average of the known bins' scores) plus the
    group noise, whichever way the model was fitted. Before, age 35 took the [50, 60] bin's
    score (55.3 instead of 41.8), an effect higher by lambda * 13.5 (about 0.7 here)."""
    X, y, t = _ages()
    # a small prior on the groups' spread: three groups say little about it, and the
    # group noise of the new group's draws is then small beside the shift tested for
    est = HierarchicalHTE(modifiers=["age"], bins={"age": EDGES}, handle_unknown="population",
                          prior_sd_scale=0.05, random_state=0, **FAST)  # fmt: skip
    if path == "dask":
        dd = pytest.importorskip("dask.dataframe")
        frame = dd.from_pandas(X.assign(y=y, t=t), npartitions=2, sort=False)
        X, y, t = frame[["age"]], frame["y"], frame["t"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(X, y, treatment=t)
    draws = est.effect_draws(pd.DataFrame({"age": [35.0]}))[:, 0]
    posterior = est.idata_.posterior
    base = posterior["b_treatment"].values.reshape(-1)
    slope = posterior["lambda"].values.reshape(base.size, -1)[:, 0]
    average = est.design_.modifiers[0].scores.mean()
    residual = draws - (base + slope * average)  # the group noise alone: mean zero
    # the noise's draws are independent standard normals times sd_effect: its mean over
    # the draws is within 4 standard errors of zero ...
    bound = 4 * residual.std() / np.sqrt(residual.size)
    assert abs(residual.mean()) < bound
    # ... and the last bin's score would have shifted it by several times that bound
    last = est.design_.modifiers[0].scores[-1]
    assert slope.mean() * (last - average) > 3 * bound


# ------------------------------------------------------------------ true effects by name
def _arms(n=600, seed=1):
    rng = np.random.default_rng(seed)
    m = rng.integers(0, 3, n)
    arm = rng.choice(["a", "b", "c"], n)
    truth = pd.DataFrame({"b": 0.5 + 0.2 * m, "c": -1.0 + 0.0 * m})
    effect = np.where(arm == "b", truth["b"], np.where(arm == "c", truth["c"], 0.0))
    y = 0.3 * m + effect + rng.normal(0, 0.3, n)
    return pd.DataFrame({"m": m}), pd.Series(y), pd.Series(arm, name="arm"), truth


@pytest.fixture(scope="module")
def arms_model():
    X, y, t, truth = _arms()
    return InteractionHTE(modifiers=["m"]).fit(X, y, treatment=t), X, y, t, truth


def test_pehe_scorer_matches_true_effects_by_name(arms_model):
    est, X, y, _, truth = arms_model
    scorer = pehe_scorer()
    score = scorer(est, X, y, true_effect=truth)
    # the columns in the other order are the same truth: before, PEHE jumped from about
    # 0.02 to about 1.5 (each arm scored against the other's truth)
    assert scorer(est, X, y, true_effect=truth[["c", "b"]]) == score
    predicted = est.predict_effect(X)
    assert score == -pehe(truth[["b", "c"]].to_numpy(), predicted)
    assert -score < 0.1  # the arms' effects are recovered, so a swap (about 1.5) is visible


def test_pehe_scorer_refuses_unknown_missing_and_unnamed_truths(arms_model):
    est, X, y, _, truth = arms_model
    scorer = pehe_scorer()
    with pytest.raises(ValueError, match=r"missing \['c'\].*unknown \['arm_c'\]"):
        scorer(est, X, y, true_effect=truth.rename(columns={"c": "arm_c"}))
    with pytest.raises(ValueError, match=r"unknown \['d'\]"):
        scorer(est, X, y, true_effect=truth.assign(d=0.0))
    # a 1-D truth for two effects: before, a raw NumPy broadcasting error
    with pytest.raises(ValueError, match=r"2 effects \['b', 'c'\].*DataFrame"):
        scorer(est, X, y, true_effect=truth["b"].to_numpy())
    with pytest.raises(ValueError, match="matched by position"):
        scorer(est, X, y, true_effect=truth.to_numpy())


def test_pehe_scorer_takes_a_vector_for_one_effect():
    X, y, arm, truth = _arms()
    treated = arm != "a"
    one = InteractionHTE(modifiers=["m"]).fit(X, y, treatment=treated.astype(int))
    vector = truth["b"].to_numpy()
    assert pehe_scorer()(one, X, y, true_effect=vector) == -pehe(vector, one.predict_effect(X))
    assert pehe_scorer()(one, X, y, true_effect=pd.DataFrame({"arm": vector})) == (
        pehe_scorer()(one, X, y, true_effect=vector)
    )


def test_compare_refuses_truth_columns_it_does_not_know(arms_model):
    _, X, y, t, truth = arms_model
    with pytest.raises(ValueError, match=r"unknown \['d'\]"):
        compare([InteractionHTE(modifiers=["m"])], X, y, t, true_effect=truth.assign(d=0.0))
    with pytest.raises(ValueError, match="matched by position"):
        compare([InteractionHTE(modifiers=["m"])], X, y, t, true_effect=truth.to_numpy())
    swapped = compare([InteractionHTE(modifiers=["m"])], X, y, t, true_effect=truth[["c", "b"]])
    straight = compare([InteractionHTE(modifiers=["m"])], X, y, t, true_effect=truth)
    pd.testing.assert_frame_equal(swapped.drop(columns="fit_seconds"),
                                  straight.drop(columns="fit_seconds"))  # fmt: skip


def test_metrics_refuse_a_column_against_a_vector():
    """A column (n, 1) against a vector (n,) of other length would broadcast to (n, n)."""
    truth = np.arange(4.0)
    assert tau_risk(truth, truth[:, None]) == 0.0  # the same values, as a column
    with pytest.raises(ValueError, match=r"true_effect has shape \(4,\).*\(3, 1\)"):
        tau_risk(truth, np.zeros((3, 1)))


# ------------------------------------------------------------------ scoring without routing
def test_grid_search_without_routing_says_how_to_turn_it_on():
    """Without routing GridSearchCV fits every candidate, cannot pass the held-out treatment
    to score, and sets each score to NaN: its warning must carry the way out."""
    X, y, t = _ages(300)
    est = HierarchicalHTE(modifiers=["age"], bins={"age": EDGES}, random_state=0, **FAST)
    search = GridSearchCV(est, {"prior_sd_scale": [0.5, 1.0]}, cv=KFold(2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with sklearn.config_context(enable_metadata_routing=False):
            search.fit(X, y, treatment=t)
    messages = [str(w.message) for w in caught if not issubclass(w.category, SamplingWarning)]
    failed = [m for m in messages if "Scoring failed" in m]
    assert failed and all("set_score_request(treatment=True)" in m for m in failed)
    assert all(pd.Series(failed).str.contains(ROUTING))
    assert np.isnan(search.cv_results_["mean_test_score"]).all()


def test_every_method_and_scorer_missing_the_treatment_says_how_to_route_it(arms_model):
    est, X, y, _, truth = arms_model
    with pytest.raises(ValueError, match=ROUTING):
        est.score(X, y)
    with pytest.raises(ValueError, match=ROUTING):
        est.predict(X)
    binary = InteractionHTE(modifiers=["m"]).fit(X, y, treatment=np.arange(len(X)) % 2)
    for scorer in (qini_scorer(), r_loss_scorer(cv=2)):
        with pytest.raises(ValueError, match=ROUTING + ".*set_fit_request"):
            scorer(binary, X, y)
    with pytest.raises(ValueError, match="true_effect.*" + ROUTING):
        pehe_scorer()(est, X, y)
