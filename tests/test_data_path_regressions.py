"""The data paths agree: rows in memory (pandas) and rows in partitions (Dask) pair X, y and
treatment by the same rule, fit the same shapes of data, and report the same bad input with
the same counts and wording (the Dask messages also name the partitions)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, HierarchicalHTECV, SamplingWarning
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._modeling.inputs import prepare

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")


pytestmark = pytest.mark.usefixtures("dask_synchronous")


def _spec(**params):
    return ModelSpec.from_params(HierarchicalHTE(**params).get_params())


def _data(n=240, seed=0):
    """A frame with a modifier, a categorical control, a binary treatment, a dose, ten
    arms and an outcome."""
    rng = np.random.default_rng(seed)
    dose = rng.uniform(0.0, 2.0, n)
    frame = pd.DataFrame({
        "g": rng.choice(["a", "b", "c"], n),
        "ctl": pd.Categorical(rng.choice(["u", "v", "w"], n)),
        "t": rng.integers(0, 2, n),
        "dose": dose,
        "arm": rng.choice([f"arm{k}" for k in range(10)], n),
    })  # fmt: skip
    frame["y"] = 0.8 * dose + frame["t"] + rng.normal(size=n)
    return frame


def _on(path: str, *objects, npartitions=2):
    """The objects as they are (pandas) or as Dask collections of ``npartitions``, kept in
    their order (``sort=False``)."""
    if path == "pandas":
        return objects
    return tuple(dd.from_pandas(o, npartitions=npartitions, sort=False) for o in objects)


def _same_statistics(a, b):
    np.testing.assert_array_equal(a.n, b.n)
    assert a.treatment == b.treatment
    np.testing.assert_allclose(a.xbar, b.xbar, rtol=1e-10, atol=1e-12)
    for name in a.data.likelihood._fields:
        x, y = getattr(a.data.likelihood, name), getattr(b.data.likelihood, name)
        if x is not None:
            np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------ one pairing rule on both paths
@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_treatment_with_shuffled_index_is_an_error(path):
    """pandas paired such a treatment by position (effects of the wrong rows) and Dask by
    label: now both refuse it, naming the argument and the fix."""
    df = _data()
    shuffled = df["t"].sample(frac=1.0, random_state=0)
    X, y, t = _on(path, df[["g"]], df["y"], shuffled)
    with pytest.raises(ValueError, match="treatment does not line up with X") as error:
        prepare(_spec(modifiers=["g"]), X, y, t)
    fix = "reset_index" if path == "pandas" else "from one Dask DataFrame"
    assert fix in str(error.value)


@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_outcome_with_other_labels_is_an_error(path):
    df = _data()
    X, y, t = _on(path, df[["g"]], df["y"].set_axis(df.index + 7), df["t"])
    with pytest.raises(ValueError, match="y does not line up with X"):
        prepare(_spec(modifiers=["g"]), X, y, t)


@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_matching_labels_in_any_order_of_the_frame_fit(path):
    """The same labels in the same order pair, whatever the labels: a shuffled frame."""
    df = _data().sample(frac=1.0, random_state=1)
    X, y, t = _on(path, df[["g"]], df["y"], df["t"])
    prepared = prepare(_spec(modifiers=["g"]), X, y, t)
    assert prepared.n_rows == len(df)


def test_arrays_pair_by_position_and_indexed_arguments_with_each_other():
    df = _data()
    spec = _spec(modifiers=[0])
    X = df[["g"]].to_numpy()
    assert prepare(spec, X, df["y"].to_numpy(), df["t"]).n_rows == len(df)
    with pytest.raises(ValueError, match="treatment does not line up with y"):
        prepare(spec, X, df["y"], df["t"].sample(frac=1.0, random_state=0))


def test_search_scorers_and_checks_take_the_same_rule():
    """Every entry that takes X with y or treatment checks the pairing before anything else
    (so an unfitted estimator suffices here)."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from sklearn_hier.metrics import r_loss_scorer
    from sklearn_hier.validation import validate

    df = _data()
    X, y = df[["g"]], df["y"]
    shuffled = df["t"].sample(frac=1.0, random_state=0)
    est = HierarchicalHTE(modifiers=["g"])
    match = "treatment does not line up with X"
    with pytest.raises(ValueError, match=match):
        est.score(X, y, treatment=shuffled)
    with pytest.raises(ValueError, match=match):
        est.predict(X, shuffled)
    with pytest.raises(ValueError, match=match):
        r_loss_scorer().residuals(X, y, shuffled)
    with pytest.raises(ValueError, match=match):
        validate(est, X, y, treatment=shuffled, cv=2, outcome_model=LinearRegression(),
                 propensity_model=LogisticRegression())  # fmt: skip
    with pytest.raises(ValueError, match=match):
        HierarchicalHTECV(estimator=est, param_grid={"prior_sd_scale": [1.0]}).fit(X, y, shuffled)


def test_checks_pass_labelled_arguments_beside_an_array_x_on_by_position():
    """With X an array, a treatment Series with labels of its own pairs by position; the
    inner fits of validate and compare must not see those labels as a misalignment."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from sklearn_hier import compare
    from sklearn_hier.baselines import InteractionHTE
    from sklearn_hier.validation import validate

    df = _data()
    X = pd.factorize(df["g"])[0][:, None].astype(float)
    labelled = df["t"].set_axis(np.arange(len(df)) + 1000)
    est = InteractionHTE(modifiers=[0])
    y = df["y"].to_numpy()
    report = validate(
        est,
        X,
        y,
        treatment=labelled,
        cv=2,
        outcome_model=LinearRegression(),
        propensity_model=LogisticRegression(),
    )
    assert np.isfinite(report.blp.loc["heterogeneity", "estimate"])
    table = compare([est], X, y, labelled, true_effect=np.ones(len(df)))
    assert table.shape[0] == 1


# --------------------------------------- doses, many effects, no controls: every path
TREATMENTS = {"dose": "dose", "ten arms": "arm", "table with a dose": ["t", "dose"]}


@pytest.mark.parametrize("path", ["pandas", "dask"])
@pytest.mark.parametrize("family", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("treatment", list(TREATMENTS))
def test_no_controls_with_a_dose_or_many_effects(path, family, treatment):
    """Without controls the moments' control block is empty, and its reshape failed
    (``cannot reshape array of size 0``) whenever the treatment was not 0/1 columns (a
    dose) or had more than 8 of them (ten arms)."""
    df = _data()
    columns = TREATMENTS[treatment]
    outcome = df["y"] if family == "gaussian" else (df["y"] > df["y"].median()).astype(int)
    X, y, t = _on(path, df[["g"]], outcome, df[columns])
    extra = {"approximation": "laplace"} if family == "bernoulli" else {}
    prepared = prepare(_spec(modifiers=["g"], family=family, **extra), X, y, t)
    expected = {"dose": 1, "ten arms": 9, "table with a dose": 2}[treatment]
    assert prepared.sizes.n_effects == expected
    if path == "dask":
        _same_statistics(prepare(_spec(modifiers=["g"], family=family, **extra),
                                 df[["g"]], outcome, df[columns]), prepared)  # fmt: skip


def test_search_stratifies_by_y_and_fits_a_dose_without_controls():
    """StratifiedKFold needs y (``split(X)`` raised a raw TypeError), and the search's fit of
    a dose without controls crashed like every other path's."""
    from sklearn.model_selection import StratifiedKFold

    df = _data()
    y = (df["y"] > df["y"].median()).astype(float)  # a binary outcome, fitted as Gaussian
    est = HierarchicalHTE(modifiers=["g"], random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        search = HierarchicalHTECV(
            estimator=est,
            param_grid={"prior_sd_scale": [0.5, 1.0]},
            cv=StratifiedKFold(3),
            refit=False,
        )
        search.fit(df[["g"]], y, df["dose"])
    assert search.n_splits_ == 3
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


# ------------------------------------------------------- categorical controls on Dask
def test_parquet_categorical_controls_fit_as_in_memory(tmp_path):
    """A Parquet dataset's categoricals have categories Dask does not know (each file holds
    its own): they were reported as missing values. Two of them: the rows that carry the
    second one's levels lacked the first one's."""
    df = _data().assign(ctl2=lambda f: pd.Categorical(np.where(f["t"] == 1, "p", "q")))
    df["ctl2"] = df["ctl2"].sample(frac=1.0, random_state=2).to_numpy()  # not the treatment
    for k, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].to_parquet(tmp_path / f"part{k}.parquet")
    ddf = dd.read_parquet(tmp_path)
    assert not ddf["ctl"].cat.known
    columns = ["g", "ctl", "ctl2"]
    spec = _spec(modifiers=["g"])
    partitioned = prepare(spec, ddf[columns], ddf["y"], ddf["t"])
    memory = prepare(spec, df[columns], df["y"], df["t"])
    assert partitioned.design.control_names == memory.design.control_names
    _same_statistics(memory, partitioned)


@pytest.mark.parametrize("categorized", [None, ["g"]])
def test_categorized_frame_with_a_column_left_out(categorized):
    """Dask's ``categorize()`` fails when columns are left out of what is computed; that
    failure was relabelled "X, y and treatment do not line up"."""
    df = _data().assign(notes=lambda f: np.where(f["t"] == 1, "x", "z"))
    ddf = dd.from_pandas(df, npartitions=2).categorize(columns=categorized)
    spec = _spec(modifiers=["g"])
    partitioned = prepare(spec, ddf[["g", "dose"]], ddf["y"], ddf["t"])
    _same_statistics(prepare(spec, df[["g", "dose"]], df["y"], df["t"]), partitioned)


# ------------------------------------------------ the same counts and words on both paths
def _with_missing(column):
    df = _data()
    df[column] = df[column].astype(float if column != "ctl" else df[column].dtype)
    df.loc[df.index[115:126], column] = np.nan  # 11 rows, across both partitions
    return df


@pytest.mark.parametrize("path", ["pandas", "dask"])
@pytest.mark.parametrize("column, message", [
    ("t", "treatment 't' has 11 missing value(s)"),
    ("ctl", "control column 'ctl' has 11 missing value(s) (NaN/None)"),
    ("dose", "control column 'dose' has 11 missing value(s) (NaN/None)"),
    ("y", "y has 11 missing or infinite value(s) ("),
])  # fmt: skip
def test_missing_values_counted_alike(path, column, message):
    df = _with_missing(column)
    controls = ["g", "ctl"] + (["dose"] if column == "dose" else [])
    X, y, t = _on(path, df[controls], df["y"], df["t"], npartitions=2)
    with pytest.raises(ValueError) as error:
        prepare(_spec(modifiers=["g"]), X, y, t)
    text = str(error.value)
    assert text.startswith(message), text
    if path == "dask":  # rows 115-125 of 240: both halves
        assert "partitions 0, 1" in text


@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_one_row_refused_alike(path):
    df = _data().iloc[:1]
    X, y, t = _on(path, df[["g"]], df["y"], df["t"], npartitions=1)
    with pytest.raises(ValueError, match="X has 1 sample"):
        prepare(_spec(modifiers=["g"]), X, y, t)


@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_memory_checked_alike(path, monkeypatch):
    import sklearn_hier._data.memory

    monkeypatch.setattr(sklearn_hier._data.memory, "available_memory_bytes", lambda: 1024)
    df = _data()
    X, y, t = _on(path, df[["g"]], df["y"], df["t"])
    with pytest.raises(MemoryError, match="of memory is available"):
        prepare(_spec(modifiers=["g"]), X, y, t)
