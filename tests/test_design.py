"""Groups, levels, bins and encodings learned from data."""

import numpy as np
import pandas as pd
import pytest

from sklearn_hier._data.design import Design
from sklearn_hier.datasets import make_grouped_hte


def _frame():
    rng = np.random.default_rng(0)
    n = 300
    return pd.DataFrame(
        {
            "sex": rng.choice(["f", "m"], n),
            "age": rng.uniform(18, 80, n),
            "score": rng.integers(1, 4, n),
            "region": pd.Categorical(rng.choice(["N", "S", "E"], n), categories=["S", "N", "E"]),
            "income": rng.normal(size=n),
        }
    )


def test_groups_are_level_combinations():
    X = _frame()
    design, row_group = Design.learn(
        X, modifiers=["sex", "score"], group_predictors="modifiers", bins=None
    )
    expected = X.groupby(["sex", "score"]).ngroups
    assert design.n_groups == expected == 6
    # every row's group has the row's modifier values
    table = design.groups.iloc[row_group].reset_index(drop=True)
    assert (table["sex"].to_numpy() == X["sex"].to_numpy()).all()
    assert (table["score"].to_numpy() == X["score"].to_numpy()).all()
    # categorical sex is one-hot with "f" as reference, numeric score as given
    assert design.predictor_names == ["sex[m]", "score"]
    assert design.control_names == ["age", "region[N]", "region[E]", "income"]


def test_pandas_categorical_order_sets_reference_level():
    X = _frame()
    design, _ = Design.learn(X, modifiers=["region"], group_predictors="modifiers", bins=None)
    assert list(design.groups["region"]) == ["S", "N", "E"]
    assert design.predictor_names == ["region[N]", "region[E]"]


def test_quantile_bins_keep_edges_and_bin_means():
    X = _frame()
    design, row_group = Design.learn(
        X, modifiers=["age"], group_predictors="modifiers", bins={"age": 4}
    )
    coding = design.modifiers[0]
    np.testing.assert_allclose(coding.edges, np.quantile(X["age"], [0, 0.25, 0.5, 0.75, 1]))
    assert design.n_groups == 4
    # a bin enters Z as the mean of the training values that fell in it
    for g in range(4):
        assert design.Z[g, 0] == pytest.approx(X["age"][row_group == g].mean())


def test_bins_whose_edges_agree_in_their_first_digits_stay_apart():
    """Incomes within one unit of 123,456 binned in three: to 4 significant digits every
    edge reads 1.235e+05, so the labels take as many digits as tell the bins apart (one
    label names one group), and new rows find their bins by value."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"income": 123_456 + rng.uniform(0, 1, 300)})
    design, row_group = Design.learn(
        X, modifiers=["income"], group_predictors="modifiers", bins={"income": 3}
    )
    coding = design.modifiers[0]
    assert design.n_groups == 3 and len(set(coding.categories)) == 3
    for g in range(3):  # each group is one bin's rows
        inside = X["income"][row_group == g]
        assert inside.min() >= coding.edges[g] and inside.max() <= coding.edges[g + 1]
    groups, _ = design.assign(X.iloc[:50])
    np.testing.assert_array_equal(groups, row_group[:50])
    assert coding.categories[0].startswith("[123456, 123456.")  # every edge told apart
    # where 4 digits label every bin apart the labels are those 4 digits give (a saved
    # model finds its bins by them), even when two edges read alike
    edges = np.array([0.0, 1000.2, 1000.4, 5000.0, 10_000.0])
    design, _ = Design.learn(pd.DataFrame({"v": [100.0, 1000.3, 3000.0, 8000.0]}),
                             modifiers=["v"], group_predictors="modifiers",
                             bins={"v": edges})  # fmt: skip
    assert design.modifiers[0].categories == [
        "[0, 1000)",
        "[1000, 1000)",
        "[1000, 5000)",
        "[5000, 1e+04]",
    ]


def test_given_edges_and_out_of_range_values():
    X = _frame()
    design, _ = Design.learn(
        X, modifiers=["age"], group_predictors="modifiers", bins={"age": [18, 40, 60, 80]}
    )
    new = pd.DataFrame({"age": [5.0, 45.0, 200.0]})
    with pytest.warns(UserWarning, match="'age' has 2 value\\(s\\) outside its training range"):
        groups, new_groups = design.assign(new)
    assert list(groups) == [0, 1, 2]  # below and above the edges fall in the outer bins
    assert new_groups.empty


def test_a_value_in_an_empty_last_bin_is_an_unseen_level():
    """Given edges whose last bin holds no training row: a new value there is a level
    never seen (an error naming the column, or a new group under "population"), not the
    bin's number taken as a known level."""
    X = _frame()  # ages 18-80
    design, _ = Design.learn(
        X, modifiers=["age"], group_predictors="modifiers", bins={"age": [18, 40, 60, 80, 100]}
    )
    assert design.n_groups == 3
    new = pd.DataFrame({"age": [30.0, 90.0]})
    with pytest.raises(ValueError, match="modifier 'age' has level"):
        design.assign(new)
    groups, new_groups = design.assign(new, handle_unknown="population")
    assert groups[0] < design.n_groups and groups[1] == design.n_groups
    assert len(new_groups) == 1


def test_assign_finds_known_and_new_groups():
    X = _frame()
    design, _ = Design.learn(X, modifiers=["sex", "score"], group_predictors="modifiers", bins=None)
    new = pd.DataFrame({"sex": ["m", "f", "m", "m"], "score": [2, 7, 7, 3]})
    with pytest.raises(ValueError, match="modifier 'score' has level\\(s\\) \\['7'\\] never"):
        design.assign(new)
    with pytest.warns(UserWarning, match="outside its training range"):
        groups, new_groups = design.assign(new, handle_unknown="population")
    known = design.groups.reset_index()
    expect_first = known[(known["sex"] == "m") & (known["score"] == 2)]["index"].item()
    assert groups[0] == expect_first
    # score=7 never seen: two new groups (f,7) and (m,7), numbered after the known ones
    assert len(new_groups) == 2
    assert set(groups[1:3]) == {design.n_groups, design.n_groups + 1}
    assert groups[3] < design.n_groups
    np.testing.assert_allclose(design.predictors_of(new_groups)[:, 1], [7.0, 7.0])


def test_unseen_category_raises_naming_column():
    X = _frame()
    design, _ = Design.learn(X, modifiers=["sex"], group_predictors="modifiers", bins=None)
    with pytest.raises(ValueError, match=r"modifier 'sex' has level\(s\) \['x'\] never seen"):
        design.assign(pd.DataFrame({"sex": ["x"]}))


def test_single_level_modifier_raises():
    X = _frame().assign(const=1)
    with pytest.raises(ValueError, match="modifier 'const' has a single level"):
        Design.learn(X, modifiers=["sex", "const"], group_predictors="modifiers", bins=None)


def test_group_predictor_must_be_constant_within_groups():
    X = _frame()
    with pytest.raises(ValueError, match="group predictor 'income' varies within a group"):
        Design.learn(X, modifiers=["sex"], group_predictors=["income"], bins=None)
    X["sex_rate"] = X["sex"].map({"f": 0.3, "m": 0.6})
    design, _ = Design.learn(X, modifiers=["sex"], group_predictors=["sex_rate"], bins=None)
    np.testing.assert_allclose(design.Z[:, 0], [0.3, 0.6])
    assert "sex_rate" not in design.control_names


def test_additive_bases_are_orthogonal_to_the_fixed_part():
    X = _frame()
    design, _ = Design.learn(X, modifiers=["sex", "score"], group_predictors="modifiers", bins=None)
    sex_basis, score_basis = design.level_bases()
    assert sex_basis.shape == (2, 0)  # lambda already separates the two levels
    assert score_basis.shape == (3, 1)  # departures from a line through 3 levels
    np.testing.assert_allclose(score_basis.T @ np.array([[1, 1], [1, 2], [1, 3]]), 0, atol=1e-12)
    design_none, _ = Design.learn(X, modifiers=["sex", "score"], group_predictors=None, bins=None)
    assert [b.shape for b in design_none.level_bases()] == [(2, 1), (3, 2)]


def test_simulated_groups_carry_the_average_true_effect_of_their_rows():
    d = make_grouped_hte(
        3000, n_levels=(2, 3), n_continuous=1, continuous_bins=4, nonlinear=0.5,
        imbalance=1.0, confounding=1.5, random_state=0,
    )  # fmt: skip
    assert d.modifiers == ["m0", "m1", "x0"] and set(d.bins) == {"x0"}
    mean_by_group = np.bincount(d.group, weights=d.true_effect) / np.bincount(d.group)
    np.testing.assert_allclose(d.group_effects["effect"], mean_by_group)
    # the wave in x0 makes effects vary within groups; imbalance makes sizes unequal
    within = np.bincount(d.group, weights=(d.true_effect - mean_by_group[d.group]) ** 2)
    assert within.sum() > 0
    sizes = d.X.groupby("m1").size()
    assert sizes[0] > 3 * sizes[2]
    # confounding: treated rows have a higher first control
    treated = d.treatment == 1
    assert d.X["c0"][treated].mean() - d.X["c0"][~treated].mean() > 0.5
    # the true groups are exactly what the estimator forms with bins=d.bins
    design, row_group = Design.learn(d.X, modifiers=d.modifiers, group_predictors=None,
                                     bins=d.bins)  # fmt: skip
    assert design.n_groups == len(d.group_effects)
    assert (pd.crosstab(row_group, d.group).to_numpy() > 0).sum() == design.n_groups


def test_compiled_group_lookup_matches_the_general_path(monkeypatch):
    import sklearn_hier._data.design as design_module
    from sklearn_hier._data.design import _lookup_known_groups

    d = make_grouped_hte(5000, n_levels=(2, 3, 5), random_state=2)
    design, row_group = Design.learn(d.X, modifiers=d.modifiers, group_predictors=None, bins=None)
    assert _lookup_known_groups(design, d.X) is None  # too few rows to compile for
    monkeypatch.setattr(design_module, "COMPILED_LOOKUP_MIN_ROWS", 0)
    fast = _lookup_known_groups(design, d.X)
    np.testing.assert_array_equal(fast, row_group)
    # a level never seen, a non-integer value, or a missing value: left to the general path
    for value in (7, 1.5, np.nan):
        X = d.X.astype({"m2": float})
        X.loc[3, "m2"] = value
        assert _lookup_known_groups(design, X) is None


@pytest.mark.parametrize("kind", ["integer", "float", "string"])
def test_counting_and_sorting_find_the_same_groups(monkeypatch, kind):
    import sklearn_hier._data.design as design_module

    d = make_grouped_hte(3000, n_levels=(2, 3, 4), random_state=4)
    X = d.X.copy()
    if kind == "float":  # non-integer levels: codes by search, not the compiled pass
        X["m1"] = X["m1"] * 0.5 + 0.25
    if kind == "string":  # categorical labels
        X["m2"] = X["m2"].map(lambda v: f"level {v}")
    learn = dict(modifiers=d.modifiers, group_predictors=None, bins=None)
    counted, counted_rows = Design.learn(X, **learn)
    monkeypatch.setattr(design_module, "KEY_TABLE_SIZE", 0)  # force np.unique
    sorted_, sorted_rows = Design.learn(X, **learn)
    np.testing.assert_array_equal(counted_rows, sorted_rows)
    pd.testing.assert_frame_equal(counted.groups, sorted_.groups)
    # every row's group shows that row's levels
    levels = counted.groups.iloc[counted_rows].reset_index(drop=True)
    for m in d.modifiers:
        np.testing.assert_array_equal(levels[m].to_numpy(), X[m].to_numpy())
