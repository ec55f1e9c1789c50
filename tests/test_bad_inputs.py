"""The catalogue of bad inputs: each gets the library's own error naming the column and the fix."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte

BASE = make_grouped_hte(120, n_levels=(2, 3), random_state=0)


def _base():
    return BASE.X.copy(), BASE.y.copy(), BASE.treatment.copy()


def _with(row, column, value):
    def change(X, y, t):
        X = X.astype({column: float}) if isinstance(value, float) else X
        X.loc[row, column] = value
        return X, y, t

    return change


def _y(fn):
    return lambda X, y, t: (X, fn(y), t)


def _t(fn):
    return lambda X, y, t: (X, y, fn(t))


def _x(fn):
    return lambda X, y, t: (fn(X), y, t)


MODS = {"modifiers": ["m0", "m1"]}

# (id, change to the data, estimator parameters, error type, message pattern)
FIT_CASES = [
    (
        "nan_in_y",
        _y(lambda y: np.where(np.arange(y.size) == 3, np.nan, y)),
        MODS,
        ValueError,
        r"y has 1 missing or infinite value\(s\) \(first at row 3\)",
    ),
    (
        "inf_in_y",
        _y(lambda y: np.where(np.arange(y.size) == 0, np.inf, y)),
        MODS,
        ValueError,
        "y has 1 missing or infinite",
    ),
    (
        "text_y",
        _y(lambda y: np.array(["a"] * y.size, dtype=object)),
        MODS,
        ValueError,
        "y must be numeric",
    ),
    ("2d_y", _y(lambda y: np.column_stack([y, y])), MODS, ValueError, "y must be 1-D"),
    ("short_y", _y(lambda y: y[:-1]), MODS, ValueError, "y has 119 values but X has 120 rows"),
    (
        "constant_y",
        _y(lambda y: np.full(y.size, 2.5)),
        MODS,
        ValueError,
        "y is reproduced exactly by the groups .* with 106 rows to spare",
    ),
    (
        "y_computed_from_modifiers_and_treatment",
        lambda X, y, t: (X, X["m0"] + 2.0 * X["m1"] + 0.5 * np.asarray(t) * X["m1"], t),
        MODS,
        ValueError,
        "y is reproduced exactly by the groups",
    ),
    (
        "y_computed_from_modifiers_row_by_row",
        lambda X, y, t: (X, X["m0"] - 3.0 * X["m1"], t),
        {**MODS, "reduce_data": False},
        ValueError,
        "y is reproduced exactly by the groups",
    ),
    (
        "constant_y_student_t",
        _y(lambda y: np.full(y.size, 2.5)),
        {**MODS, "family": "student"},
        ValueError,
        "y is reproduced exactly .* 106 rows to spare.* 'student' family's noise scale",
    ),
    (
        "y_computed_from_modifiers_student_t_row_by_row",
        lambda X, y, t: (X, X["m0"] - 3.0 * X["m1"], t),
        {**MODS, "family": "student", "reduce_data": False},
        ValueError,
        "y is reproduced exactly by the groups",
    ),
    (
        "nan_in_treatment",
        _t(lambda t: np.where(np.arange(t.size) == 2, np.nan, t)),
        MODS,
        ValueError,
        "treatment has 1 missing value",
    ),
    (
        "three_valued_treatment_forced_binary",
        _t(lambda t: np.arange(t.size) % 3),
        {**MODS, "treatment_type": "binary"},
        ValueError,
        "treatment must be binary \\(two values\\) here; it has 3",
    ),
    (
        "treatment_coded_1_2",
        _t(lambda t: t + 1),
        MODS,
        ValueError,
        r"treatment has two values \['1.0', '2.0'\] that are not 0/1",
    ),
    (
        "constant_treatment",
        _t(lambda t: np.zeros_like(t)),
        MODS,
        ValueError,
        r"treatment has only one value \(\['0.0'\]\)",
    ),
    (
        "yes_no_treatment",
        _t(lambda t: np.where(t == 1, "yes", "no")),
        MODS,
        ValueError,
        "Pass treated_value=",
    ),
    (
        "wrong_treated_value",
        _t(lambda t: np.where(t == 1, "yes", "no")),
        {**MODS, "treated_value": "y"},
        ValueError,
        "treated_value='y' is not a value of treatment",
    ),
    (
        "short_treatment",
        _t(lambda t: t[:10]),
        MODS,
        ValueError,
        "treatment has 10 values but X has 120 rows",
    ),
    ("missing_treatment", _t(lambda t: None), MODS, ValueError, "treatment is required"),
    (
        "nan_in_modifier",
        _with(5, "m1", np.nan),
        MODS,
        ValueError,
        "modifier column 'm1' has 1 missing value",
    ),
    (
        "nan_in_control",
        _with(7, "c0", np.nan),
        MODS,
        ValueError,
        "control column 'c0' has 1 missing value",
    ),
    (
        "inf_in_control",
        _with(7, "c1", np.inf),
        MODS,
        ValueError,
        "control column 'c1' has 1 infinite value",
    ),
    (
        "misspelt_modifier",
        lambda X, y, t: (X, y, t),
        {"modifiers": ["m0", "m_1"]},
        ValueError,
        r"modifiers names column\(s\) not found in X: 'm_1' \(did you mean 'm1'\?\)",
    ),
    (
        "duplicate_column_names",
        _x(lambda X: X.set_axis(["m0", "m1", "c0", "c0"], axis=1)),
        MODS,
        ValueError,
        r"duplicate column names \['c0'\]",
    ),
    (
        "single_level_modifier",
        _x(lambda X: X.assign(one=1)),
        {"modifiers": ["m0", "one"]},
        ValueError,
        "modifier 'one' has a single level",
    ),
    (
        "modifiers_as_string",
        lambda X, y, t: (X, y, t),
        {"modifiers": "m0"},
        InvalidParameterError,
        "The 'modifiers' parameter",
    ),
    (
        "no_modifiers",
        lambda X, y, t: (X, y, t),
        {"modifiers": []},
        ValueError,
        "modifiers is empty",
    ),
    (
        "repeated_modifier",
        lambda X, y, t: (X, y, t),
        {"modifiers": ["m0", "m0"]},
        ValueError,
        "lists a column more than once",
    ),
    (
        "bins_on_text",
        _x(lambda X: X.assign(m1=X["m1"].map({0: "a", 1: "b", 2: "c"}))),
        {**MODS, "bins": {"m1": 2}},
        ValueError,
        "column 'm1', which is not numeric",
    ),
    (
        "bins_on_a_control",
        lambda X, y, t: (X, y, t),
        {**MODS, "bins": {"c0": 3}},
        ValueError,
        r"bins names column\(s\) \['c0'\] that are not modifiers",
    ),
    (
        "one_bin",
        lambda X, y, t: (X, y, t),
        {"modifiers": ["m0", "c0"], "bins": {"c0": 1}},
        ValueError,
        "bins for column 'c0' must be at least 2",
    ),
    (
        "varying_group_predictor",
        lambda X, y, t: (X, y, t),
        {**MODS, "group_predictors": ["c0"]},
        ValueError,
        "group predictor 'c0' varies within",
    ),
    (
        "unknown_group_predictor",
        lambda X, y, t: (X, y, t),
        {**MODS, "group_predictors": ["zz"]},
        ValueError,
        "group_predictors names column",
    ),
    ("empty_data", lambda X, y, t: (X.iloc[:0], y[:0], t[:0]), MODS, ValueError, "X has no rows"),
    (
        "single_row",
        lambda X, y, t: (X.iloc[:1], y[:1], t[:1]),
        MODS,
        ValueError,
        "X has 1 sample",
    ),
    (
        "no_columns",
        lambda X, y, t: (X.iloc[:, :0], y, t),
        MODS,
        ValueError,
        r"0 feature\(s\) \(shape=\(120, 0\)\)",
    ),
    (
        "sparse_X",
        _x(lambda X: sparse.csr_matrix(X.to_numpy())),
        {"modifiers": [0, 1]},
        TypeError,
        "sparse input is not supported",
    ),
    (
        "complex_X",
        _x(lambda X: X.to_numpy() + 1j),
        {"modifiers": [0, 1]},
        ValueError,
        "Complex data not supported",
    ),
    ("1d_X", _x(lambda X: X["m0"].to_numpy()), MODS, ValueError, "X must be 2-D"),
    ("series_X", _x(lambda X: X["m0"]), MODS, ValueError, "got a pandas Series"),
    (
        "treatment_inside_X",
        lambda X, y, t: (X.assign(arm=t), y, t),
        MODS,
        ValueError,
        "column 'arm' of X is the treatment itself",
    ),
    (
        "zero_prior_scale",
        lambda X, y, t: (X, y, t),
        {**MODS, "prior_sd_scale": 0.0},
        InvalidParameterError,
        "The 'prior_sd_scale' parameter",
    ),
    (
        "nan_prior_scale",
        lambda X, y, t: (X, y, t),
        {**MODS, "prior_coef_scale": np.nan},
        InvalidParameterError,
        "The 'prior_coef_scale' parameter",
    ),
    (
        "negative_lkj",
        lambda X, y, t: (X, y, t),
        {**MODS, "lkj_concentration": -1.0},
        InvalidParameterError,
        "The 'lkj_concentration' parameter",
    ),
    (
        "zero_samples",
        lambda X, y, t: (X, y, t),
        {**MODS, "sampler": NUTSSampler(num_samples=0)},
        InvalidParameterError,
        "The 'num_samples' parameter",
    ),
    (
        "target_accept_above_1",
        lambda X, y, t: (X, y, t),
        {**MODS, "sampler": NUTSSampler(target_accept=1.5)},
        InvalidParameterError,
        "The 'target_accept' parameter",
    ),
    (
        "unknown_chain_method",
        lambda X, y, t: (X, y, t),
        {**MODS, "chain_method": "gpu"},
        InvalidParameterError,
        "The 'chain_method' parameter",
    ),
    (
        "unknown_family",
        lambda X, y, t: (X, y, t),
        {**MODS, "family": "gamma"},
        InvalidParameterError,
        "The 'family' parameter",
    ),
    (
        "bernoulli_y_out_of_support",
        lambda X, y, t: (X, np.round(np.abs(y)) + 1, t),
        {**MODS, "family": "bernoulli"},
        ValueError,
        "family='bernoulli' needs y coded 0/1",
    ),
    (
        "negative_counts",
        lambda X, y, t: (X, np.round(y) - 10, t),
        {**MODS, "family": "poisson"},
        ValueError,
        "non-negative whole-number counts",
    ),
    (
        "binomial_without_trials",
        lambda X, y, t: (X, np.abs(np.round(y)), t),
        {**MODS, "family": "binomial"},
        ValueError,
        "family='binomial' needs trials",
    ),
    (
        "binomial_fractional_successes",
        lambda X, y, t: (X, np.abs(y), t),
        {**MODS, "family": "binomial", "trials": 50},
        ValueError,
        "whole numbers of successes",
    ),
    (
        "zero_exposure",
        lambda X, y, t: (X.assign(e=0.0), np.abs(np.round(y)), t),
        {**MODS, "family": "poisson", "exposure": "e"},
        ValueError,
        "exposure must be positive in every row",
    ),
    (
        "ordinal_with_two_categories",
        lambda X, y, t: (X, (y > 0).astype(float), t),
        {**MODS, "family": "ordinal"},
        ValueError,
        "at least 3 ordered categories",
    ),
]


@pytest.mark.parametrize(
    "change, params, error, message", [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES]
)
def test_bad_fit_input(change, params, error, message):
    X, y, t = change(*_base())
    est = HierarchicalHTE(**{**FAST, "random_state": 0, **params})
    with pytest.raises(error, match=message):
        est.fit(X, y, treatment=t)


def test_an_exact_fit_without_rows_to_spare_is_not_refused():
    """One row per group and arm: the groups reproduce any outcome, but with no rows to
    spare the posterior stays proper (the likelihood is bounded as sigma shrinks)."""
    X = pd.DataFrame({"m": np.repeat(np.arange(6), 2)})
    y = np.random.default_rng(0).normal(size=12)
    est = HierarchicalHTE(modifiers=["m"], random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(X, y, treatment=np.tile([0, 1], 6))
    assert np.isfinite(est.predict_effect(X)).all()


def test_additive_structure_with_nothing_left_to_vary():
    """Two-level modifiers as their own predictors span every level: the additive structure
    would have no varying term (it once failed with a bare StopIteration)."""
    d = make_grouped_hte(120, n_levels=(2, 2), random_state=0)
    est = HierarchicalHTE(modifiers=d.modifiers, structure="additive", **FAST)
    with pytest.raises(ValueError, match=r"nothing to vary.*structure='nested'.*group_predictors"):
        est.fit(d.X, d.y, treatment=d.treatment)


def test_too_many_groups_suggests_binning():
    n = 20_500
    X = pd.DataFrame({"id": np.arange(n), "c": np.zeros(n)})
    est = HierarchicalHTE(modifiers=["id"])
    with pytest.raises(ValueError, match=r"define 20500 groups.*bin continuous modifiers"):
        est.fit(X, np.zeros(n), treatment=np.arange(n) % 2)


def test_fit_too_large_for_memory_fails_before_allocating():
    # 15,000 groups x 40 million draws would need terabytes for the group posterior alone
    n = 15_000
    X = pd.DataFrame({"id": np.arange(n), "c": np.zeros(n)})
    est = HierarchicalHTE(modifiers=["id"], sampler=NUTSSampler(num_samples=10_000_000))
    with pytest.raises(MemoryError, match=r"needs about .* GiB .*15000 groups.*fewer draws"):
        est.fit(X, np.zeros(n), treatment=np.arange(n) % 2)


def test_row_level_fit_too_large_suggests_reduction(monkeypatch):
    monkeypatch.setattr("sklearn_hier._data.memory.available_memory_bytes", lambda: 2**16)
    X, y, t = _base()
    est = HierarchicalHTE(modifiers=["m0", "m1"], reduce_data=False, **FAST)
    with pytest.raises(MemoryError, match=r"only 0.0 GiB .*reduce_data=True"):
        est.fit(X, y, treatment=t)


@pytest.fixture(scope="module")
def fitted():
    X, y, t = _base()
    X["region"] = np.where(X["c0"] > 0, "north", "south")
    est = HierarchicalHTE(modifiers=["m0", "region"], random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        return est.fit(X, y, treatment=t), X


PREDICT_CASES = [
    (
        "unseen_category",
        lambda X: X.assign(region="east"),
        ValueError,
        r"modifier 'region' has level\(s\) \['east'\] never seen in training",
    ),
    (
        "missing_modifier",
        lambda X: X.drop(columns=["region"]),
        ValueError,
        r"not found in X: 'region'",
    ),
    ("nan_modifier", lambda X: X.assign(m0=np.nan), ValueError, "modifier column 'm0' has"),
    (
        "wrong_width_array",
        lambda X: X.to_numpy()[:, :2],
        ValueError,
        "pass a DataFrame with those columns",
    ),
]


@pytest.mark.parametrize(
    "change, error, message", [c[1:] for c in PREDICT_CASES], ids=[c[0] for c in PREDICT_CASES]
)
def test_bad_predict_input(fitted, change, error, message):
    est, X = fitted
    with pytest.raises(error, match=message):
        est.predict_effect(change(X))


def test_bad_arguments_after_fit(fitted):
    est, X = fitted
    with pytest.raises(ValueError, match="prob must be a number strictly between 0 and 1"):
        est.predict_effect(X, prob=1.5)
    with pytest.raises(ValueError, match="scale must be 'response' or 'link'"):
        est.effect_by_group(scale="probability")
    with pytest.raises(ValueError, match="missing value"):
        est.predict(X, treatment=np.full(len(X), np.nan))
    with pytest.raises(NotFittedError):
        HierarchicalHTE(modifiers=["m0"]).effect_by_group()


def test_catalogue_size():
    # the reliability contract: at least 30 distinct bad inputs, each with its own test
    assert len(FIT_CASES) + len(PREDICT_CASES) + 4 >= 30
