"""compare() reports what it measured: an oracle scores perfectly, a constant does not."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from sklearn_hier import compare, compare_replications, summarize_comparison
from sklearn_hier._base.effect_vocabulary import EffectVocabularyMixin
from sklearn_hier.baselines import InteractionHTE
from sklearn_hier.datasets import make_grouped_hte


class Oracle(EffectVocabularyMixin, BaseEstimator):
    """Knows every row's true effect (looked up by the row's ``row_id`` column)."""

    def __init__(self, *, truth=None, half_width=0.1, shift=0.0):
        self.truth = truth
        self.half_width = half_width
        self.shift = shift

    def fit(self, X, y, treatment=None):
        self.fitted_ = True
        return self

    def predict_effect(self, X, *, return_interval=False, prob=0.95):
        effect = np.asarray(self.truth)[X["row_id"].to_numpy()] + self.shift
        if return_interval:
            return effect, effect - self.half_width, effect + self.half_width
        return effect

    def _average_effect(self, X, prob, effect=0):
        mean = float(self.predict_effect(X).mean())
        return mean, mean - self.half_width, mean + self.half_width


@pytest.fixture(scope="module")
def data():
    d = make_grouped_hte(600, n_levels=(2, 3), sigma_theta=0.2, random_state=5)
    d.X["row_id"] = np.arange(len(d.y))
    return d


def test_oracle_scores_perfectly_and_a_shifted_oracle_by_its_shift(data):
    table = compare(
        {"oracle": Oracle(truth=data.true_effect), "shifted": Oracle(truth=data.true_effect,
                                                                     shift=0.3)},
        data.X, data.y, data.treatment, true_effect=data.true_effect, groups=data.modifiers,
    )  # fmt: skip
    oracle, shifted = table.set_index("estimator").loc[["oracle", "shifted"]].to_dict("records")
    assert oracle["group_rmse"] < 1e-12 and oracle["pehe"] == 0 and oracle["coverage"] == 1
    assert oracle["interval_width"] == pytest.approx(0.2)
    assert shifted["group_rmse"] == pytest.approx(0.3) and shifted["pehe"] == pytest.approx(0.3)
    assert shifted["coverage"] == 0  # a 0.3 shift leaves every +-0.1 interval
    assert oracle["n_groups"] == len(data.group_effects)


def test_without_truth_the_r_score_ranks_the_oracle_first(data):
    X = data.X
    table = compare(
        {"oracle": Oracle(truth=data.true_effect),
         "constant": Oracle(truth=np.full(len(data.y), data.true_effect.mean()))},
        X, data.y, data.treatment, groups=data.modifiers, r_loss_cv=3,
    )  # fmt: skip
    scores = table.set_index("estimator")["r_score"]
    assert scores["oracle"] > scores["constant"]
    assert table["group_rmse"].isna().all()


def test_default_groups_come_from_the_first_estimators_modifiers(data):
    est = InteractionHTE(modifiers=data.modifiers)
    by_modifiers = compare([est], data.X, data.y, data.treatment, true_effect=data.true_effect)
    by_labels = compare(
        [est], data.X, data.y, data.treatment, true_effect=data.true_effect, groups=data.group
    )
    assert by_modifiers["group_rmse"].iloc[0] == pytest.approx(by_labels["group_rmse"].iloc[0])
    assert by_modifiers["n_groups"].iloc[0] == len(data.group_effects)


def test_replications_summary_has_mean_and_monte_carlo_error():
    def simulate(random_state):
        d = make_grouped_hte(300, n_levels=(2, 2), random_state=random_state)
        d.X["row_id"] = np.arange(len(d.y))
        return d

    table = compare_replications(
        {"interaction": InteractionHTE(modifiers=["m0", "m1"])}, simulate, n_replications=3
    )
    summary = summarize_comparison(table)
    assert list(table["replication"]) == [0, 1, 2]
    rmse = table["group_rmse"]
    assert summary.loc["interaction", "group_rmse"] == pytest.approx(rmse.mean())
    assert summary.loc["interaction", "group_rmse_se"] == pytest.approx(rmse.std() / np.sqrt(3))
    assert isinstance(summary, pd.DataFrame)
