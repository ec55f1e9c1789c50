"""brms formulas: parsing into the estimator's settings, refusals by term, round trips and
the brms call written back."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.formula import parse_formula

pytest.importorskip("formulae")


def test_the_notes_formula_maps_onto_the_estimators_settings():
    terms = parse_formula(
        "force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl + hawk)"
        " + (1 + alliance | white:male:intl:hawk)"
    )
    assert terms.response == "force" and terms.trials is None
    assert terms.treatments == ("alliance",)
    assert terms.modifiers == ("white", "male", "intl", "hawk")
    assert terms.group_predictors == ("white", "male", "intl", "hawk")
    assert terms.controls == ("regime", "stakes", "costs", "region")
    assert terms.structure == "nested" and terms.varying_slopes


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("y ~ t + (1 + t | v1) + (1 + t | v2)",
         dict(structure="additive", modifiers=("v1", "v2"), group_predictors=())),
        ("y ~ t1 + t2 + x + (1 + t1 + t2 | g)",
         dict(treatments=("t1", "t2"), controls=("x",), modifiers=("g",))),
        ("y ~ t * z + (1 + t | g)", dict(group_predictors=("z",), modifiers=("g",))),
        ("y ~ factor(arm) + (1 + factor(arm) | g)",
         dict(treatments=("arm",), factor_treatments=frozenset({"arm"}))),
        ("s | trials(n) ~ t + (1 + t | g)", dict(response="s", trials="n")),
        ("y ~ t * z + (1 | g)", dict(varying_slopes=False, treatments=("t",))),
    ],
)  # fmt: skip
def test_brms_forms(formula, expected):
    terms = parse_formula(formula, treatment="t" if "(1 | g)" in formula else None)
    for name, value in expected.items():
        assert getattr(terms, name) == value, name


@pytest.mark.parametrize(
    "formula, message",
    [
        ("y ~ t", "no group term"),
        ("y ~ t + (1 + t || g)", "uncorrelated group terms"),
        ("y ~ t + (0 + t | g)", "intercept always varies"),
        ("y ~ t + (1 + t | a) + (1 | b)", "same slopes"),
        ("y ~ t + (1 + t | a) + (1 + t | b) + (1 + t | a:b)", "footnote 8's full form"),
        ("y ~ t + (1 + t | a/b)", "neither structure"),
        ("y ~ 1 + x + (1 + t | g)", "'t'.*no population-level term"),
        ("y ~ x + t * z + (1 + t + x | g)", "'x'.*interacts with some"),
        ("y ~ t * z1 * z2 + (1 + t | g)", "only a treatment times one"),
        ("y ~ t + x * z + (1 + t | g)", "only a treatment times one"),
        ("y ~ t + t:z + (1 + t | g)", "'z'.*no main effect"),
        ("y ~ t + log(x) + (1 + t | g)", "transformation"),
        ("y ~ 0 + t + (1 + t | g)", "population-level intercept"),
        ("y | weights(w) ~ t + (1 + t | g)", "weights"),
        ("y ~ t + a + (1 + t | a:b)", "grouping variable"),
        ("y ~ t + (1 | g)", "pass treatment="),
        ("y ~ t ~ x", "one string"),
        ("y ~ t + (1 + t:z | g)", "interaction cannot vary"),
    ],
)  # fmt: skip
def test_what_the_model_cannot_express_is_refused_by_term(formula, message):
    with pytest.raises(ValueError, match=message):
        parse_formula(formula)


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    v1, v2 = rng.integers(0, 3, n), rng.integers(0, 2, n)
    t1, t2 = rng.integers(0, 2, n), rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = 0.2 * v1 + 0.4 * t1 + 0.1 * t1 * v1 - 0.2 * t2 + 0.3 * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "t1": t1, "t2": t2, "v1": v1, "v2": v2, "x": x,
                         "arm": rng.choice(["a", "b", "c"], n), "n": 5,
                         "s": rng.binomial(5, 0.4, n)})  # fmt: skip


@pytest.mark.parametrize(
    "formula, params, columns, treatment",
    [
        ("y ~ 1 + x + t1 * (v1 + v2) + (1 + t1 | v1) + (1 + t1 | v2)",
         dict(modifiers=["v1", "v2"], structure="additive"), ["v1", "v2", "x"], "t1"),
        ("y ~ 1 + x + t1 * (v1 + v2) + t2 * (v1 + v2) + (1 + t1 + t2 | v1:v2)",
         dict(modifiers=["v1", "v2"]), ["v1", "v2", "x"], ["t1", "t2"]),
    ],
)  # fmt: skip
def test_round_trip_and_the_same_draws_as_the_x_api(formula, params, columns, treatment):
    """formula -> estimator -> formula_ gives the formula back, and the fit's draws equal
    those of the same model written with X and treatment (same seed)."""
    df = _data()
    est, X, y, t = HierarchicalHTE.from_formula(formula, df, random_state=0, **FAST)
    reference = HierarchicalHTE(**params, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(X, y, treatment=t)
        reference.fit(df[columns], df["y"], treatment=df[treatment])
    assert parse_formula(est.formula_) == parse_formula(formula)
    np.testing.assert_array_equal(
        est.idata_.posterior["group_effect"].values,
        reference.idata_.posterior["group_effect"].values,
    )


def test_treatments_are_read_as_brms_reads_them():
    """factor() and text give arms (the first sorted level the reference), a 0/1 column a
    binary treatment and other integers a dose, never the ambiguous-integer error."""
    df = _data()
    df["dose"] = np.random.default_rng(1).integers(0, 4, len(df))  # 0..3: ambiguous as is
    _, _, _, arms = HierarchicalHTE.from_formula("y ~ factor(arm) + (1 + factor(arm) | v1)", df)
    assert list(arms.cat.categories) == ["a", "b", "c"]
    _, _, _, dose = HierarchicalHTE.from_formula("y ~ dose + (1 + dose | v1)", df)
    assert dose.dtype == float
    _, _, _, binary = HierarchicalHTE.from_formula("y ~ t1 + (1 + t1 | v1)", df)
    assert set(binary.unique()) == {0, 1}
    est, X, y, t = HierarchicalHTE.from_formula(
        "s | trials(n) ~ t1 + (1 + t1 | v1)", df, family="binomial"
    )
    assert est.family == "binomial" and est.trials == "n" and "n" in X.columns
    ordinal, *_ = HierarchicalHTE.from_formula("y ~ t1 + (1 + t1 | v1)", df, family="cumulative")
    assert ordinal.family == "ordinal"


@pytest.mark.parametrize(
    "call, message",
    [
        (dict(formula="y ~ t1 + (1 + t1 | v1)", family="zero_inflated_poisson"), "not one of"),
        (dict(formula="y | trials(n) ~ t1 + (1 + t1 | v1)"), "trials\\(\\) is for"),
        (dict(formula="s ~ t1 + (1 + t1 | v1)", family="binomial"), "needs the trials"),
        (dict(formula="y ~ t1 + (1 + t1 | missing)"), "columns \\['missing'\\]"),
        (dict(formula="y ~ t1 + (1 + t1 | v1)", modifiers=["v2"]), "the formula sets"),
    ],
)  # fmt: skip
def test_bad_calls(call, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalHTE.from_formula(data=_data(), **call)


def test_to_brms_writes_every_prior_at_its_resolved_scale(tomz_fit):
    est = tomz_fit
    code = est.to_brms(chains=4, iter=2000)
    assert est.formula_ in code and "family = gaussian()" in code
    scales = est.prior_scales_.set_index("parameter")["scale"]
    assert f"prior(normal(0, {scales['Intercept']:.6g}), class = Intercept)" in code
    assert f"prior(normal(0, {scales['sigma']:.6g}), class = sigma)" in code
    assert "class = sd, group = white:male:intl:hawk, coef = alliance" in code
    assert "prior(lkj(1), class = cor)" in code
    assert "chains = 4" in code and "iter = 2000" in code


def test_a_dose_prior_is_written_per_unit_of_its_spread():
    df = _data()
    df["dose"] = np.random.default_rng(2).normal(50.0, 10.0, len(df))
    est, X, y, t = HierarchicalHTE.from_formula(
        "y ~ dose * v1 + (1 + dose | v1)", df, random_state=0, **FAST
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(X, y, treatment=t)
    code = est.to_brms()
    scales = est.prior_scales_
    slope = float(scales.loc[scales["parameter"] == "b_treatment", "scale"].iloc[0])
    assert slope == pytest.approx(0.5 / df["dose"].std(ddof=0), rel=1e-6)
    assert f"prior(normal(0, {slope:.6g}), class = b, coef = dose)" in code
    assert f"prior(normal(0, {slope:.6g}), class = b, coef = dose:v1)" in code


@pytest.mark.slow
def test_grid_search_tunes_a_formula_built_estimators_prior_scales():
    """The formula's estimator is a plain HierarchicalHTE: GridSearchCV tunes its prior
    scales by name and refits with the formula's settings."""
    import sklearn
    from sklearn.model_selection import GridSearchCV, KFold

    from sklearn_hier.datasets import make_grouped_hte
    from sklearn_hier.metrics import r_loss_scorer

    d = make_grouped_hte(
        1500, n_levels=(3, 4), sigma_theta=0.6, effect_slopes=[0.0, 0.0], noise=0.5,
        random_state=3,
    )  # fmt: skip
    df = d.X.assign(y=d.y, t=d.treatment)
    est, X, y, t = HierarchicalHTE.from_formula(
        "y ~ t + (1 + t | m0:m1)", df, random_state=0, **FAST
    )
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est = est.set_fit_request(treatment=True).set_score_request(treatment=True)
        search = GridSearchCV(
            est, {"prior_sd_scale": [1e-3, 1.0]}, scoring=r_loss_scorer(cv=3),
            cv=KFold(3, shuffle=True, random_state=0),
        )  # fmt: skip
        search.fit(X, y, treatment=t)
    assert search.best_params_["prior_sd_scale"] == 1.0
    assert search.best_estimator_.formula_ == "y ~ 1 + t + (1 + t | m0:m1)"
