"""Regression tests: each case once returned a wrong answer without a word.

Fitted state is frozen at fit; the treatment coding means the same thing in
every path; unseen levels follow one policy; unseen groups get the same draws
wherever and whenever they are asked for; rankings do not depend on row order;
ambiguous arguments are errors that name the fix.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.metrics import qini_coefficient, qini_scorer, r_loss_scorer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains


@pytest.fixture(scope="module")
def labelled():
    """The same simulated data fitted twice: treatment coded 0/1, and as labels."""
    d = make_grouped_hte(600, n_levels=(2, 3), sigma_theta=0.1, random_state=1)
    labels = np.where(d.treatment == 1, "ally", "none")
    coded = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
    coded.fit(d.X, d.y, treatment=d.treatment)
    named = HierarchicalHTE(modifiers=d.modifiers, treated_value="ally", random_state=0, **FAST)
    named.fit(d.X, d.y, treatment=labels)
    return d, labels, coded, named


def test_labelled_treatment_means_the_same_in_predict(labelled):
    d, labels, coded, named = labelled
    # the same data and seed: the labels change nothing in the fit
    np.testing.assert_allclose(named.predict_effect(d.X), coded.predict_effect(d.X))
    np.testing.assert_allclose(named.predict(d.X, "ally"), coded.predict(d.X, 1))
    np.testing.assert_allclose(named.predict(d.X, labels), coded.predict(d.X, d.treatment))
    # a 1 was read as "not ally" (the control predictions): now it is refused
    with pytest.raises(ValueError, match="'ally' \\(treated\\) and 'none' \\(control\\)"):
        named.predict(d.X, np.ones(len(d.y)))
    with pytest.raises(ValueError, match="not among those seen in fit"):
        named.score(d.X, d.y, treatment=d.treatment)
    assert named.score(d.X, d.y, treatment=labels) == pytest.approx(
        coded.score(d.X, d.y, treatment=d.treatment)
    )


def test_scorers_read_the_treatment_with_the_estimators_coding(labelled):
    d, labels, coded, named = labelled
    for make in (qini_scorer, lambda: r_loss_scorer(cv=2)):
        scorer = make()
        assert scorer(named, d.X, d.y, treatment=labels) == pytest.approx(
            scorer(coded, d.X, d.y, treatment=d.treatment)
        )


def test_parameters_changed_after_fit_change_nothing_until_refit(bernoulli):
    est, d = copy.deepcopy(bernoulli)
    before = est.effect_by_group()
    summary = str(est.heterogeneity_summary())
    effects = est.predict_effect(d.X)
    est.set_params(family="gaussian", structure="additive", prior_sd_scale=0.01,
                   handle_unknown="population")  # fmt: skip
    pd.testing.assert_frame_equal(est.effect_by_group(), before)
    assert str(est.heterogeneity_summary()) == summary
    np.testing.assert_array_equal(est.predict_effect(d.X), effects)
    assert est.posterior_.spec.family == "bernoulli"
    with pytest.raises(ValueError, match="never seen in training"):  # the policy fitted
        est.predict_effect(d.X.assign(m0=7))


@pytest.fixture(scope="module")
def fitted(gaussian_fit):
    return gaussian_fit


def test_unseen_numeric_and_categorical_levels_follow_one_policy(fitted):
    est, d = fitted
    numeric = d.X.iloc[:3].assign(m1=6)
    with pytest.raises(ValueError, match="modifier 'm1' has level\\(s\\) \\['6'\\] never seen"):
        est.predict_effect(numeric)
    X_cat = d.X.assign(m0=np.where(d.X["m0"] == 1, "yes", "no"))
    cat = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
    cat.fit(X_cat, d.y, treatment=d.treatment)
    with pytest.raises(ValueError, match="modifier 'm0' has level\\(s\\) \\['maybe'\\] never"):
        cat.predict_effect(X_cat.iloc[:3].assign(m0="maybe"))
    # with handle_unknown="population" both give population-model draws, numeric ones warn
    lenient = HierarchicalHTE(modifiers=d.modifiers, handle_unknown="population",
                              random_state=0, **FAST)  # fmt: skip
    lenient.fit(d.X, d.y, treatment=d.treatment)
    with pytest.warns(UserWarning, match="outside its training range \\[0, 2\\]"):
        _, lower, upper = lenient.predict_effect(numeric, return_interval=True)
    known_width = np.subtract(*lenient.predict_effect(d.X.iloc[:3], return_interval=True)[2:0:-1])
    assert (upper - lower > known_width).all()  # no data: wider than any seen group's
    cat.set_params(handle_unknown="population").fit(X_cat, d.y, treatment=d.treatment)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a category has no range: no warning
        assert np.isfinite(cat.predict_effect(X_cat.iloc[:3].assign(m0="maybe"))).all()


def test_unseen_group_draws_depend_on_the_group_alone(fitted):
    _, d = fitted
    est = HierarchicalHTE(modifiers=d.modifiers, handle_unknown="population", random_state=0,
                          **FAST).fit(d.X, d.y, treatment=d.treatment)  # fmt: skip
    posterior = est.posterior_
    new_a = pd.DataFrame({"m0": [1], "m1": [5], "c0": [0.0], "c1": [0.0]})
    new_b = new_a.assign(m1=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # outside the training range
        alone = posterior.part_draws(posterior.assign(new_a), "effect")[:, -1]
        both = posterior.assign(pd.concat([new_b, new_a], ignore_index=True))
        together = posterior.part_draws(both, "effect")
        again = posterior.part_draws(posterior.assign(new_a), "effect")[:, -1]
    a_column = both.row_group[1]
    # any position; atol allows one rounding step where a draw is near zero (batched products
    # may sum in a different order with more rows)
    np.testing.assert_allclose(together[:, a_column], alone, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(again, alone)  # any call
    # different groups get different noise (their means differ through lambda, so compare
    # the standardised residual noise)
    noise = [
        (together[:, both.row_group[k]] - together[:, both.row_group[k]].mean()) for k in (0, 1)
    ]
    assert abs(np.corrcoef(noise[0], noise[1])[0, 1]) < 0.99


def test_qini_is_the_same_for_any_row_order_with_tied_effects():
    rng = np.random.default_rng(0)
    n = 400
    effect = rng.integers(0, 3, n).astype(float)  # heavily tied
    t = rng.integers(0, 2, n).astype(float)
    y = effect * t + rng.normal(size=n)
    base = qini_coefficient(y, t, effect)
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(n)
        assert qini_coefficient(y[order], t[order], effect[order]) == pytest.approx(base)
    # all tied: no ranking information, the curve is random targeting's
    assert qini_coefficient(y, t, np.zeros(n)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_ordinal_fit_accepts_an_ordered_categorical_with_text_labels(tomz_weeks):
    df = tomz_weeks.iloc[:500]
    labels = ["strongly oppose", "oppose", "neutral", "favour", "strongly favour"]
    codes = df["pref"].to_numpy(dtype=int) - 1  # the 1-5 scale
    y = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
    X = df[["white", "male", "regime"]]
    est = HierarchicalHTE(modifiers=["white", "male"], family="ordinal", random_state=0, **FAST)
    est.fit(X, y, treatment=df["alliance"])
    numbered = HierarchicalHTE(modifiers=["white", "male"], family="ordinal", random_state=0,
                               **FAST).fit(X, df["pref"], treatment=df["alliance"])  # fmt: skip
    assert est.categories_ == labels
    # the labels are the 1-5 scale's categories in order: the same model, so the same
    # effects on P(y >= top category)
    np.testing.assert_allclose(
        est.effect_by_group(category="strongly favour")["mean"],
        numbered.effect_by_group(category=5)["mean"],
    )


def test_ordinal_levels_keep_an_ordered_categoricals_order():
    from sklearn_hier._base.families import ordinal_levels

    labels = ["low", "mid", "high"]  # not alphabetical: the categorical's order counts
    y = pd.Categorical(["high", "low", "mid", "low"], categories=labels, ordered=True)
    codes, categories = ordinal_levels(pd.Series(y))
    assert categories == labels and codes.tolist() == [2, 0, 1, 0]
    assert ordinal_levels(y)[0].tolist() == [2, 0, 1, 0]  # a bare Categorical too
    with pytest.raises(ValueError, match="unordered categorical. Use y.cat.as_ordered"):
        ordinal_levels(pd.Series(pd.Categorical(["a", "b", "c"])))


@pytest.mark.parametrize("family, name", [("binomial", "trials"), ("poisson", "exposure")])
def test_a_count_that_is_also_a_column_label_is_ambiguous(family, name):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 2, 50), rng.normal(size=(50, 3)), np.full(50, 2.0)])
    y = rng.integers(0, 2, 50)
    est = HierarchicalHTE(modifiers=[0], family=family, **{name: 3}, **FAST)
    with pytest.raises(ValueError, match=f"{name}=3 is ambiguous.*string column names"):
        est.fit(X, y, treatment=rng.integers(0, 2, 50))


def test_plot_marks_the_median_group_the_summary_names(fitted):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_hier.plotting import plot_effect_distribution

    est, _ = fitted
    ax = plot_effect_distribution(est)
    texts = [t.get_text() for t in ax.texts]
    median_label = est.heterogeneity_summary().extremes.loc["median", "label"]
    assert any(t.startswith(f"median: {median_label}\n") for t in texts)
    plt.close(ax.figure)
