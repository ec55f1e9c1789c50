"""Bad input gets an error that names the column or argument and the fix."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, SamplingWarning


def _data(n=40):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"a": rng.integers(0, 2, n), "b": rng.integers(0, 3, n), "c": rng.normal(size=n),
         "d": rng.normal(size=n)}
    )  # fmt: skip
    return X, rng.normal(size=n), np.tile([0, 1], n // 2)


def _fit(X, y, t, **params):
    # the shapes and settings of the other tests' fits: the compiled sampler is shared
    est = HierarchicalHTE(modifiers=["a", "b"], random_state=0, **FAST, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains: only inputs are tested
        return est.fit(X, y, treatment=t)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda X, y, t: (X.assign(c=np.where(np.arange(len(X)) == 3, np.nan, X["c"])), y, t),
            "control column 'c' has 1 missing value",
        ),
        (
            lambda X, y, t: (X.assign(a=X["a"].astype(float).where(X.index != 2)), y, t),
            "modifier column 'a' has 1 missing value",
        ),
        (
            lambda X, y, t: (X.assign(c=np.where(X.index == 1, np.inf, X["c"])), y, t),
            "control column 'c' has 1 infinite value",
        ),
        (
            lambda X, y, t: (X, np.where(np.arange(len(y)) == 0, np.nan, y), t),
            r"y has 1 missing or infinite value\(s\) \(first at row 0\)",
        ),
        (lambda X, y, t: (X, y.astype(str).astype(object) + "x", t), "y must be numeric"),
        (lambda X, y, t: (X, y[:-1], t), "y has 39 values but X has 40 rows"),
        (lambda X, y, t: (X, y, t[:-2]), "treatment has 38 values but X has 40 rows"),
        (lambda X, y, t: (X, y, t + 1), r"two values \['1', '2'\] that are not 0/1"),
        (
            lambda X, y, t: (X, y, np.where(t == 1, "a", np.where(y > 0, "b", "c"))[:-1]),
            "treatment has 39 values but X has 40 rows",
        ),
        (lambda X, y, t: (X, y, np.ones_like(t)), "treatment has only one value"),
        (lambda X, y, t: (X, y, np.where(t == 1, "yes", "no")), "Pass treated_value="),
        (lambda X, y, t: (X, y, None), "treatment is required"),
        (lambda X, y, t: (X.assign(t=t), y, t), "column 't' of X is the treatment itself"),
        (lambda X, y, t: (X.iloc[:0], y[:0], t[:0]), "X has no rows"),
        (lambda X, y, t: (X["a"], y, t), "X must be 2-D"),
    ],
)
def test_bad_input_messages(mutate, message):
    X, y, t = mutate(*_data())
    with pytest.raises(ValueError, match=message):
        _fit(X, y, t)


def test_unknown_modifier_suggests_close_name():
    X, y, t = _data()
    with pytest.raises(ValueError, match=r"'bb' \(did you mean 'b'\?\)"):
        HierarchicalHTE(modifiers=["a", "bb"]).fit(X, y, treatment=t)


def test_modifiers_as_a_string_is_rejected_clearly():
    X, y, t = _data()
    with pytest.raises(ValueError, match="modifiers"):
        HierarchicalHTE(modifiers="a").fit(X, y, treatment=t)


def test_duplicate_columns():
    X, y, t = _data()
    X.columns = ["a", "a", "c", "d"]
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        _fit(X, y, t)


@pytest.mark.parametrize("param", ["prior_sd_scale", "prior_coef_scale", "lkj_concentration"])
@pytest.mark.parametrize("value", [0.0, -1.0, np.nan])
def test_invalid_prior_scales(param, value):
    X, y, t = _data()
    with pytest.raises(ValueError, match=f"The '{param}' parameter"):
        _fit(X, y, t, **{param: value})


def test_treated_value_maps_two_valued_treatment():
    X, y, t = _data()
    labels = np.where(t == 1, "ally", "none")
    est = _fit(X, y, labels, treated_value="ally")
    assert est.groups_["n_treated"].sum() == t.sum()
    with pytest.raises(ValueError, match="treated_value='allied' is not a value"):
        _fit(X, y, labels, treated_value="allied")


def test_methods_before_fit_raise_not_fitted():
    from sklearn.exceptions import NotFittedError

    est = HierarchicalHTE(modifiers=["a"])
    for call in (est.effect_by_group, est.coefficients, est.heterogeneity_summary,
                 lambda: est.predict_effect(_data()[0])):  # fmt: skip
        with pytest.raises(NotFittedError):
            call()


def test_bad_prob():
    X, y, t = _data()
    est = _fit(X, y, t)
    with pytest.raises(ValueError, match="prob must be a number strictly between 0 and 1"):
        est.effect_by_group(prob=95)
