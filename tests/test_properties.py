"""Property-based tests: random data frames never reach an internal error.

For any generated frame, ``fit`` and ``predict_effect`` either succeed with
finite output of the right shape, or raise ValueError/TypeError from this
library's own checks (the innermost frame of the traceback is ours, or
scikit-learn's parameter validation): never a JAX, NumPy or pandas internal error.
"""

import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._data.design import Design

pytestmark = pytest.mark.slow  # replications, new processes, clusters or examples

PACKAGE = str(Path(__import__("sklearn_hier").__file__).parent)


def _is_ours(error: Exception) -> bool:
    last = traceback.extract_tb(error.__traceback__)[-1].filename
    return last.startswith(PACKAGE) or last.endswith("_param_validation.py")


@st.composite
def frames(draw, max_rows=40):
    n = draw(st.integers(0, max_rows))
    data = {}
    for k in range(draw(st.integers(1, 2))):
        n_levels = draw(st.integers(1, 4))
        codes = draw(st.lists(st.integers(0, n_levels - 1), min_size=n, max_size=n))
        kind = draw(st.sampled_from(["int", "str", "float", "bool", "category"]))
        values = np.asarray(codes)
        data[f"m{k}"] = {
            "int": values,
            "float": values * 0.5,
            "str": np.asarray([f"L{c}" for c in codes], dtype=object),
            "bool": values % 2 == 0,
            "category": pd.Categorical([f"L{c}" for c in codes]),
        }[kind]
    if draw(st.booleans()):
        data["c0"] = draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=n, max_size=n))
    X = pd.DataFrame(data)
    for col in X.columns:  # occasionally poison a value
        if n and draw(st.integers(0, 9)) == 0:
            X[col] = X[col].astype(object)
            X.iloc[draw(st.integers(0, n - 1)), X.columns.get_loc(col)] = draw(
                st.sampled_from([np.nan, None, np.inf])
            )
    y = np.asarray(draw(st.lists(st.floats(-3, 3), min_size=n, max_size=n)), dtype=float)
    if n and draw(st.integers(0, 9)) == 0:
        y[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    t = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    return X, y, t


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(max_rows=60))
def test_design_never_fails_internally(data):
    X, _, _ = data
    modifiers = [c for c in X.columns if c.startswith("m")]
    try:
        design, row_group = Design.learn(X, modifiers=modifiers, group_predictors="modifiers",
                                         bins=None)  # fmt: skip
    except (ValueError, TypeError) as error:
        assert _is_ours(error), error
        return
    assert row_group.shape == (len(X),)
    assert design.Z.shape == (design.n_groups, len(design.predictor_names))
    assert np.isfinite(design.Z).all()
    again, new_groups = design.assign(X)
    np.testing.assert_array_equal(again, row_group)
    assert new_groups.empty


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(max_rows=30))
def test_fit_and_predict_never_fail_internally(data):
    X, y, t = data
    modifiers = [c for c in X.columns if c.startswith("m")]
    est = HierarchicalHTE(
        modifiers=modifiers,
        random_state=0,
        sampler=NUTSSampler(num_warmup=10, num_samples=10, num_chains=1),
    )
    try:
        with warnings.catch_warnings():
            # SamplingWarning (10 draws) and the prior-scale warning are expected here
            warnings.simplefilter("ignore", UserWarning)
            est.fit(X, y, treatment=t)
    except (ValueError, TypeError) as error:
        assert _is_ours(error), error
        return
    effect = est.predict_effect(X)
    assert effect.shape == (len(X),) and np.isfinite(effect).all()
    table = est.effect_by_group()
    assert len(table) == est.n_groups_ and np.isfinite(table["mean"]).all()
