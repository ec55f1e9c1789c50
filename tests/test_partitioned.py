"""Fitting from Dask collections: the statistics computed partition by partition equal those of
the same rows in memory, every family's reduction included, and bad input gets the same clear
errors."""

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._modeling.inputs import prepare
from sklearn_hier.datasets import make_grouped_hte

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")


pytestmark = pytest.mark.usefixtures("dask_synchronous")


def _frame(n=2400, family="gaussian", seed=0):
    d = make_grouped_hte(n, n_levels=(2, 3), n_continuous=1, family=family, random_state=seed)
    rng = np.random.default_rng(seed)
    X = d.X.assign(region=pd.Categorical(rng.choice(["north", "south", "west"], n)))
    dose = rng.choice([0.0, 0.5, 1.0, 2.0], n)
    return d, X.assign(y=d.y, t=d.treatment, dose=dose)


def _spec(**params):
    return ModelSpec.from_params(HierarchicalHTE(**params).get_params())


def _assert_same_prepared(a, b, rtol=1e-10):
    assert a.sizes == b.sizes
    np.testing.assert_array_equal(a.n, b.n)
    np.testing.assert_array_equal(a.n_treated, b.n_treated)
    pd.testing.assert_frame_equal(a.design.groups, b.design.groups)
    assert a.treatment == b.treatment
    np.testing.assert_allclose(a.xbar, b.xbar, rtol=rtol, atol=1e-13)
    for name in a.data.likelihood._fields:
        x, y = getattr(a.data.likelihood, name), getattr(b.data.likelihood, name)
        if x is None:
            assert y is None
            continue
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=rtol, atol=1e-10,
                                   err_msg=name)  # fmt: skip


@pytest.mark.parametrize("treatment", [["t"], ["t", "dose"]])
def test_gaussian_statistics_equal_those_in_memory(treatment, monkeypatch):
    """Binned modifier (quantile edges), categorical control, a binary treatment and a dose:
    the same design, coding and statistics from five uneven partitions."""
    import sklearn_hier._data.partitioned

    monkeypatch.setattr(sklearn_hier._data.partitioned, "CHUNK_ROWS", 300)  # several per partition
    d, df = _frame()
    columns = list(d.X.columns) + ["region"]
    ddf = dd.from_pandas(df, npartitions=5, sort=False)
    spec = _spec(modifiers=d.modifiers, bins={"x0": 3})
    t_mem = df[treatment[0]] if len(treatment) == 1 else df[treatment]
    t_dask = ddf[treatment[0]] if len(treatment) == 1 else ddf[treatment]
    memory = prepare(spec, df[columns], df["y"], t_mem)
    partitioned = prepare(spec, ddf[columns], ddf["y"], t_dask)
    assert partitioned.rows is None  # no process held the rows
    _assert_same_prepared(memory, partitioned)
    np.testing.assert_array_equal(memory.design.modifiers[2].edges,
                                  partitioned.design.modifiers[2].edges)  # fmt: skip


@pytest.mark.parametrize("family", ["bernoulli", "binomial", "poisson", "student", "negbinomial"])
def test_exact_cells_equal_those_in_memory(family, monkeypatch):
    import sklearn_hier._data.partitioned

    # partitions coded 170 rows at a time: the chunks' cells merge as the partitions' do
    monkeypatch.setattr(sklearn_hier._data.partitioned, "CHUNK_ROWS", 170)
    d, df = _frame(600, family=family)
    df = df.assign(c0=np.round(df["c0"]), c1=np.round(df["c1"]))  # rows that collapse
    columns = list(d.X.columns)
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    trials = {"trials": "trials"} if family == "binomial" else {}
    spec = _spec(modifiers=d.modifiers, bins={"x0": 2}, family=family, **trials)
    memory = prepare(spec, df[columns], df["y"], df["t"])
    partitioned = prepare(spec, ddf[columns], ddf["y"], ddf["t"])
    _assert_same_prepared(memory, partitioned)
    for name in ("group", "controls", "weight"):
        np.testing.assert_allclose(getattr(memory.patterns, name),
                                   getattr(partitioned.patterns, name))  # fmt: skip


def test_ordinal_cells_equal_those_in_memory():
    """The outcome's categories are found in the survey, so a partition missing one still
    codes every row as in memory."""
    d, df = _frame(600, family="ordinal")
    df = df.assign(c0=np.round(df["c0"]), c1=np.round(df["c1"]))
    df.loc[df.index[:300], "y"] = np.minimum(df["y"].iloc[:300], 2)  # no 3 or 4 up front
    columns = list(d.X.columns)
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    spec = _spec(modifiers=d.modifiers, bins={"x0": 2}, family="ordinal")
    memory = prepare(spec, df[columns], df["y"], df["t"])
    partitioned = prepare(spec, ddf[columns], ddf["y"], ddf["t"])
    assert partitioned.categories == memory.categories
    _assert_same_prepared(memory, partitioned)


def test_laplace_statistics_equal_those_in_memory():
    """The pilot's passes and the expansion pass over partitions give the in-memory
    statistics (the check's row sample is drawn differently, and only it)."""
    d, df = _frame(3000, family="bernoulli")
    columns = list(d.X.columns)
    ddf = dd.from_pandas(df, npartitions=4, sort=False)
    spec = _spec(modifiers=d.modifiers, bins={"x0": 2}, family="bernoulli",
                 approximation="laplace")  # fmt: skip
    memory = prepare(spec, df[columns], df["y"], df["t"])
    partitioned = prepare(spec, ddf[columns], ddf["y"], ddf["t"])
    _assert_same_prepared(memory, partitioned, rtol=1e-8)
    assert memory.expansion.iterations == partitioned.expansion.iterations
    assert abs(partitioned.expansion.check_rows.n_rows - 3000 * min(1, 20_000 / 3000)) == 0


def _fit_by_partition_matches_memory(scheduler):
    """A fit on 3 partitions under ``scheduler`` (a context): its posterior is the in-memory
    one (the same statistics; the chains differ only through floating-point summation
    order), and predict_effect maps over the partitions."""
    d, df = _frame(1500)
    columns = list(d.X.columns)
    settings = dict(modifiers=d.modifiers, bins={"x0": 3}, random_state=0, **FAST)
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    memory = HierarchicalHTE(**settings).fit(df[columns], df["y"], treatment=df["t"])
    with scheduler():
        est = HierarchicalHTE(**settings).fit(ddf[columns], ddf["y"], treatment=ddf["t"])
        predicted = est.predict_effect(ddf[columns]).compute()
        with_interval = est.predict_effect(ddf[columns], return_interval=True).compute()
    a, b = memory.effect_by_group(), est.effect_by_group()
    # 400 draws: each mean carries Monte Carlo error near 0.05 sd, a difference 0.07 sd
    assert (np.abs(a["mean"] - b["mean"]) / a["sd"]).max() < 0.3
    np.testing.assert_allclose(predicted.to_numpy(), est.predict_effect(df[columns]))
    assert list(with_interval.columns) == ["effect", "lower", "upper"]
    assert predicted.index.equals(df.index)


@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_fit_by_partition_and_predict_by_partition():
    _fit_by_partition_matches_memory(lambda: dask.config.set(scheduler="threads"))


@pytest.mark.slow  # a local Dask cluster
@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_fit_on_a_local_cluster_and_predict_by_partition():
    distributed = pytest.importorskip("distributed")

    @contextlib.contextmanager
    def cluster():
        with (
            dask.config.set(scheduler=None),
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
            ) as local,
            distributed.Client(local),
        ):
            yield

    _fit_by_partition_matches_memory(cluster)


def test_parquet_dataset_read_through_dask(tmp_path):
    pytest.importorskip("pyarrow")
    d, df = _frame(900)
    columns = list(d.X.columns)
    for k, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].to_parquet(tmp_path / f"part-{k}.parquet")
    ddf = dd.read_parquet(str(tmp_path))
    spec = _spec(modifiers=d.modifiers, bins={"x0": 3})
    _assert_same_prepared(prepare(spec, df[columns], df["y"], df["t"]),
                          prepare(spec, ddf[columns], ddf["y"], ddf["t"]))  # fmt: skip


def test_bad_partitioned_input_gets_clear_errors():
    d, df = _frame(600)
    columns = list(d.X.columns)
    ddf = dd.from_pandas(df, npartitions=3, sort=False)
    est = HierarchicalHTE(modifiers=d.modifiers, bins={"x0": 3}, **FAST)
    with pytest.raises(TypeError, match="y must be a Dask Series"):
        est.fit(ddf[columns], df["y"], treatment=ddf["t"])
    # rows pair only where they share partitions and places (Dask would re-pair them by
    # index label, pandas by position): another partitioning, or other labels, are refused
    with pytest.raises(ValueError, match="y does not line up with X: it has 2 partitions"):
        est.fit(ddf[columns], dd.from_pandas(df["y"], npartitions=2), treatment=ddf["t"])
    shifted = dd.from_pandas(df["y"].set_axis(df.index + 10_000), npartitions=3, sort=False)
    with pytest.raises(ValueError, match="y does not line up with X"):
        est.fit(ddf[columns], shifted, treatment=ddf["t"])
    holed = df.copy()
    holed.loc[holed.index[450], "c1"] = np.nan  # in the last partition only
    dholed = dd.from_pandas(holed, npartitions=3, sort=False)
    with pytest.raises(ValueError, match=r"control column 'c1' has 1 missing .* in partition 2\."):
        est.fit(dholed[columns], dholed["y"], treatment=dholed["t"])
    with pytest.raises(ValueError, match="column 't' of X is also a treatment column"):
        est.fit(ddf[columns + ["t"]], ddf["y"], treatment=ddf["t"])
    # an outcome the groups reproduce exactly: refused as in memory
    copied = dd.from_pandas(df["m0"] + 2.0 * df["m1"], npartitions=3, sort=False)
    with pytest.raises(ValueError, match="y is reproduced exactly by the groups"):
        est.fit(ddf[columns], copied, treatment=ddf["t"])
    with pytest.raises(ValueError, match="reduce_data=False"):
        HierarchicalHTE(modifiers=d.modifiers, reduce_data=False).fit(
            ddf[columns], ddf["y"], treatment=ddf["t"]
        )


def test_levels_seen_only_at_predict_time_are_refused():
    d, df = _frame(600)
    columns = list(d.X.columns)
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est = HierarchicalHTE(modifiers=d.modifiers, bins={"x0": 3}, **FAST).fit(
            ddf[columns], ddf["y"], treatment=ddf["t"]
        )
    new = dd.from_pandas(df[columns].assign(m0=df["m0"] + 5), npartitions=2, sort=False)
    with pytest.raises(ValueError, match="modifier 'm0' has level"):
        est.predict_effect(new).compute()


def test_methods_that_need_rows_in_memory_say_so():
    from sklearn_hier.model_selection import HierarchicalHTECV

    d, df = _frame(300)
    columns = list(d.X.columns)
    ddf = dd.from_pandas(df, npartitions=2, sort=False)
    with pytest.raises(TypeError, match="HierarchicalHTECV scores held-out rows"):
        HierarchicalHTECV(estimator=HierarchicalHTE(modifiers=d.modifiers, bins={"x0": 3})).fit(
            ddf[columns], ddf["y"], treatment=ddf["t"]
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est = HierarchicalHTE(modifiers=d.modifiers, bins={"x0": 3}, **FAST).fit(
            df[columns], df["y"], treatment=df["t"]
        )
    with pytest.raises(TypeError, match=r"X.compute\(\)"):
        est.average_effect_draws(ddf[columns])
