"""Group comparisons and population effects, checked against the posterior draws directly."""

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE
from sklearn_hier._results.draw_summaries import interval

pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")


@pytest.fixture(scope="module")
def fitted(gaussian_fit):
    return gaussian_fit


def _index(est, **levels):
    match = np.ones(len(est.groups_), dtype=bool)
    for name, value in levels.items():
        match &= est.groups_[name].to_numpy() == value
    (index,) = np.flatnonzero(match)
    return index


def test_compare_groups_is_the_posterior_of_the_difference(fitted):
    est, _ = fitted
    table = est.compare_groups({"m0": 1, "m1": 2}, {"m0": 0, "m1": 0}, prob=0.9)
    draws = est.posterior_.draws("group_effect")
    difference = draws[:, _index(est, m0=1, m1=2)] - draws[:, _index(est, m0=0, m1=0)]
    lower, upper = interval(difference, 0.9)
    row = table.iloc[0]
    assert row["a"] == "m0=1, m1=2" and row["b"] == "m0=0, m1=0"
    assert row["mean"] == pytest.approx(difference.mean())
    assert (row["lower"], row["upper"]) == pytest.approx((lower, upper))
    assert row["prob_a_greater"] == pytest.approx((difference > 0).mean())
    many = est.compare_groups([({"m0": 1, "m1": 2}, {"m0": 0, "m1": 0}),
                               ({"m0": 0, "m1": 0}, {"m0": 1, "m1": 2})])  # fmt: skip
    assert many["mean"].iloc[1] == pytest.approx(-difference.mean())


def test_contrast_holds_the_other_modifiers_fixed(fitted):
    est, _ = fitted
    table = est.contrast("m0", 1, 0)
    assert list(table["m1"]) == [0.0, 1.0, 2.0]
    draws = est.posterior_.draws("group_effect")
    for _, row in table.iterrows():
        d = draws[:, _index(est, m0=1, m1=row["m1"])] - draws[:, _index(est, m0=0, m1=row["m1"])]
        assert row["mean"] == pytest.approx(d.mean())


def test_group_comparisons_reject_what_names_no_group(fitted):
    est, _ = fitted
    with pytest.raises(ValueError, match="matches 3 groups; give a level for every modifier"):
        est.compare_groups({"m0": 1}, {"m0": 0})
    with pytest.raises(ValueError, match="matches no training group"):
        est.compare_groups({"m0": 1, "m1": 7}, {"m0": 0, "m1": 0})
    with pytest.raises(ValueError, match="not found"):
        est.compare_groups({"age": 1}, {"m0": 0, "m1": 0})
    with pytest.raises(ValueError, match="has no level 9"):
        est.contrast("m0", 9, 0)


def test_population_effect_with_row_weights(fitted):
    est, d = fitted
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(d.y))
    table, draws = est.population_effect(d.X, weights=weights, by="m0", return_draws=True)
    assignment = est.posterior_.assign(d.X)
    row_group = assignment.row_group
    group_draws = est.posterior_.part_draws(assignment, "effect")
    direct = group_draws[:, row_group] @ weights / weights.sum()
    assert table["mean"].iloc[0] == pytest.approx(direct.mean())
    np.testing.assert_allclose(draws[:, 0], direct)
    men = d.X["m0"].to_numpy() == 1
    direct_m1 = group_draws[:, row_group[men]] @ weights[men] / weights[men].sum()
    assert table.loc[table["m0"] == 1, "mean"].item() == pytest.approx(direct_m1.mean())
    assert table["weight"].iloc[0] == pytest.approx(weights.sum())


def test_population_effect_poststratifies_with_counts(fitted):
    est, _ = fitted
    population = est.groups_[["m0", "m1"]].assign(count=np.arange(1, len(est.groups_) + 1))
    table = est.population_effect(population=population)
    draws = est.posterior_.draws("group_effect")
    counts = population["count"].to_numpy(float)
    assert table["mean"].iloc[0] == pytest.approx((draws @ counts / counts.sum()).mean())
    # no arguments: the training groups weighted by size, the same as ate()
    assert est.population_effect()["mean"].iloc[0] == pytest.approx(est.ate())
    with pytest.raises(ValueError, match="count"):
        est.population_effect(population=population.drop(columns="count"))
    with pytest.raises(ValueError, match="either population"):
        est.population_effect(est.groups_, population=population)


def test_population_effect_on_survey_weights(tomz_weeks):
    df = tomz_weeks
    X = df[["white", "male", "regime", "stakes"]]
    est = HierarchicalHTE(modifiers=["white", "male"], random_state=0, **FAST)
    est.fit(X, df["force"], treatment=df["alliance"])
    table = est.population_effect(df, weights="weight", by="white")
    unweighted = est.population_effect(X)
    assert table["weight"].iloc[0] == pytest.approx(df["weight"].sum())
    assert table["mean"].iloc[0] != pytest.approx(unweighted["mean"].iloc[0], abs=1e-6)
    assert pd.isna(table["white"].iloc[0])  # the population row has no sub-population level
    assert list(table["white"].iloc[1:]) == [0, 1]
