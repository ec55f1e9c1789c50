"""The treatment coding's refusals and lookups: collinear treatments, controls that follow a
treatment, ambiguous integer codes, labels matched by value (never as text), labels of every
dtype through fit, predict and saved files. Most checks raise before sampling, so they run on
both the in-memory and the partitioned (Dask) path; two small fits cover the reports."""

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._data.treatment import TreatmentCoding
from sklearn_hier._modeling.inputs import prepare
from sklearn_hier._results.persistence import _plain, _unplain
from sklearn_hier.datasets import make_grouped_hte

N = 300
#: A small fit: these tests check lookups and shapes, not statistics.
TINY = dict(sampler=NUTSSampler(num_warmup=200, num_samples=200, num_chains=1))


def _spec(**params):
    return ModelSpec.from_params(HierarchicalHTE(**params).get_params())


def _prepare(path, X, y, treatment, **params):
    """``prepare`` (all of fit but sampling) on pandas input or on two Dask partitions."""
    if path == "dask":
        import dask

        dd = pytest.importorskip("dask.dataframe")
        series = isinstance(treatment, pd.Series)
        treat = treatment.to_frame() if series else treatment
        frame = pd.concat([X.assign(__y=np.asarray(y)), treat.set_axis(X.index)], axis=1)
        ddf = dd.from_pandas(frame, npartitions=2, sort=False)
        X, y = ddf[list(X.columns)], ddf["__y"]
        treatment = ddf[treat.columns[0]] if series else ddf[list(treat.columns)]
        with dask.config.set(scheduler="synchronous"):
            return prepare(_spec(**params), X, y, treatment)
    return prepare(_spec(**params), X, y, treatment)


@pytest.fixture(scope="module")
def data():
    return make_grouped_hte(N, n_levels=(2, 3), random_state=0)


PATHS = ["pandas", "dask"]


# --------------------------------------------------- collinear treatment columns
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", ["copy", "one_minus", "any_arm"])
def test_collinear_treatment_columns_are_refused_by_name(data, path, case):
    d = data
    t = np.asarray(d.treatment)
    if case == "copy":
        treatment, names = pd.DataFrame({"t": t, "t_copy": t}), ["t", "t_copy"]
    elif case == "one_minus":
        treatment, names = pd.DataFrame({"t": t, "untreated": 1 - t}), ["t", "untreated"]
    else:
        arm = np.random.default_rng(1).choice(["a", "b", "c"], N)
        treatment = pd.DataFrame({"arm": arm, "any": (arm != "a").astype(int)})
        names = ["arm", "any"]
    with pytest.raises(ValueError, match=re.escape(f"treatment columns {names!r} are collinear")):
        _prepare(path, d.X, d.y, treatment, modifiers=d.modifiers)


def test_distinct_treatment_columns_pass_the_rank_check(data):
    rng = np.random.default_rng(0)
    arm = rng.choice(["a", "b", "c"], N)
    other = rng.integers(0, 2, N)  # crossed with the arms: every effect identified
    coding, matrix = TreatmentCoding.learn_and_encode(
        pd.DataFrame({"arm": arm, "other": other}), n_rows=N
    )
    assert coding.effect_names == ["arm=b", "arm=c", "other"] and matrix.shape == (N, 3)


# ------------------------------------ controls that are a function of a treatment
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("control", ["mg", "plus_one", "mg_rounded"])
def test_a_control_linear_in_the_dose_is_refused_by_name(data, path, control):
    d = data
    dose = np.random.default_rng(2).uniform(0.0, 2.0, N)
    values = {"mg": dose * 1000.0, "plus_one": dose + 1.0, "mg_rounded": np.round(dose * 1000)}
    X = d.X.assign(dose_mg=values[control])
    with pytest.raises(ValueError, match=r"column 'dose_mg' of X is the treatment itself up to "
                                         r"a linear function .*\['dose'\]"):  # fmt: skip
        _prepare(path, X, d.y, pd.Series(dose, name="dose"), modifiers=d.modifiers)


@pytest.mark.parametrize("path", PATHS)
def test_one_minus_a_binary_treatment_as_a_control_is_refused(data, path):
    d = data
    X = d.X.assign(untreated=1 - np.asarray(d.treatment))
    with pytest.raises(ValueError, match="column 'untreated' of X is the treatment itself"):
        _prepare(path, X, d.y, pd.Series(d.treatment, name="t"), modifiers=d.modifiers)


@pytest.mark.parametrize("path", PATHS)
def test_a_treatment_spanned_by_the_controls_is_refused(data, path):
    """Given by site, beside the sites as controls: no single control copies it."""
    d = data
    site = np.random.default_rng(3).integers(0, 5, N)
    X = d.X.assign(site=pd.Categorical(np.array(list("abcde"))[site]))
    treatment = pd.Series((site < 2).astype(int), name="t")
    with pytest.raises(ValueError, match=r"treatment 't' is \(nearly\) a linear function of the "
                                         r"controls \['site"):  # fmt: skip
        _prepare(path, X, d.y, treatment, modifiers=d.modifiers)


@pytest.mark.parametrize("path", PATHS)
def test_a_control_correlated_with_the_dose_but_not_a_function_of_it_is_kept(data, path):
    d = data
    rng = np.random.default_rng(4)
    dose = rng.uniform(0.0, 2.0, N)
    X = d.X.assign(weight=dose * 1000.0 + rng.normal(0.0, 50.0, N))  # correlation ~0.996
    prepared = _prepare(path, X, d.y, pd.Series(dose, name="dose"), modifiers=d.modifiers)
    assert "weight" in prepared.design.control_names


# ------------------------------------------------ integer codes under auto
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("codes", [[0, 1, 2], [1, 2, 3, 4], list(range(10))])
def test_auto_refuses_consecutive_integer_codes(data, path, codes):
    d = data
    arm = pd.Series(np.resize(np.asarray(codes), N), name="arm")
    with pytest.raises(ValueError, match=r"treatment 'arm' has the integer values .*"
                                         r"treatment_type='categorical'.*"
                                         r"treatment_type='continuous'"):  # fmt: skip
        _prepare(path, d.X, d.y, arm, modifiers=d.modifiers)


@pytest.mark.parametrize("values, kind", [
    ([0, 10, 20, 40], "continuous"),  # a dose in mg, not codes
    ([0.0, 1.0, 2.0], "continuous"),  # floats: a dose
    (list(range(11)), "continuous"),  # too many values for arm codes
    (pd.Categorical([0, 1, 2]), "categorical"),  # a Categorical: arms
])  # fmt: skip
def test_auto_still_reads_doses_and_declared_arms(values, kind):
    column = pd.Series(np.resize(np.asarray(values), 60), name="x")
    if isinstance(values, pd.Categorical):
        column = column.astype("category")
    assert TreatmentCoding.learn(column, n_rows=60).columns[0].kind == kind


@pytest.mark.parametrize("kind", ["categorical", "continuous"])
def test_integer_codes_fit_when_the_kind_is_given(kind):
    arm = pd.Series(np.resize([0, 1, 2], 60), name="arm")
    coding = TreatmentCoding.learn(arm, n_rows=60, treatment_type=kind)
    assert coding.columns[0].kind == kind


# -------------------------------- datetime, tz-aware and Period arms; saving them
def _dates(kind, n):
    picks = np.resize(np.array(["2020-01-01", "2021-06-01", "2022-03-15"]), n)
    if kind == "period":
        return pd.Series(pd.PeriodIndex(picks, freq="D"), name="when")
    stamps = pd.to_datetime(picks)
    if kind == "us":
        stamps = stamps.as_unit("us")
    if kind == "tz":
        stamps = stamps.tz_localize("Europe/Paris")
    return pd.Series(stamps, name="when")


@pytest.mark.parametrize("kind", ["ns", "us", "tz", "period"])
def test_date_arms_learn_encode_and_round_trip_through_json(kind):
    when = _dates(kind, 60)
    coding, matrix = TreatmentCoding.learn_and_encode(when, n_rows=60)
    assert coding.columns[0].kind == "categorical" and matrix.shape == (60, 2)
    assert matrix.sum(axis=0).tolist() == [20.0, 20.0]  # each arm's rows, by value
    saved = TreatmentCoding.from_plain(json.loads(json.dumps(coding.to_plain())))
    assert saved == coding
    assert [type(v) for v in saved.columns[0].levels] == [type(v) for v in coding.columns[0].levels]
    np.testing.assert_array_equal(saved.encode_matrix(when, n_rows=60), matrix)
    # another unit of the same instants is the same arms
    if kind in ("ns", "us"):
        other = when.astype("datetime64[s]")
        np.testing.assert_array_equal(coding.encode_matrix(other, n_rows=60), matrix)


def test_date_labels_among_the_parameters_round_trip():
    stamp = pd.Timestamp("2021-06-01", tz="Europe/Paris")
    params = {"control_value": {"when": stamp}, "treated_value": np.datetime64("2020-01-01")}
    back = _unplain(json.loads(json.dumps(_plain(params))))
    assert back["control_value"]["when"] == stamp and back["control_value"]["when"].tz == stamp.tz
    assert back["treated_value"] == pd.Timestamp("2020-01-01")


# ----------------------------------- typed column names and control_value keys
def test_control_value_keys_match_integer_column_names():
    rng = np.random.default_rng(5)
    treatment = pd.DataFrame({0: rng.choice(["A", "B", "C"], 60), 1: rng.choice(["C", "D"], 60)})
    coding = TreatmentCoding.learn(treatment, n_rows=60, control_value={1: "C", 0: "B"})
    assert [c.name for c in coding.columns] == [0, 1]
    assert coding.columns[0].control_value == "B" and coding.columns[1].control_value == "C"
    assert coding.effect_names == ["0=A", "0=C", "1"]
    # names as given: the text "1" is not the column 1
    with pytest.raises(ValueError, match=r"not treatment columns \[0, 1\]"):
        TreatmentCoding.learn(treatment, n_rows=60, control_value={"1": "C"})
    with pytest.raises(ValueError, match="the model was fitted on"):
        coding.encode_matrix(treatment.set_axis(["0", "1"], axis=1), n_rows=60)
    # files before format 4 saved the names as text: such a model still takes its columns
    saved_as_text = TreatmentCoding.from_plain(
        {"columns": [dict(c.to_plain(), name=str(c.name)) for c in coding.columns]}
    )
    np.testing.assert_array_equal(saved_as_text.encode_matrix(treatment, n_rows=60),
                                  coding.encode_matrix(treatment, n_rows=60))  # fmt: skip


# ------------------------------------- dicts of per-column values, label lookups
def test_a_dict_mixes_per_row_arrays_and_scalars():
    rng = np.random.default_rng(6)
    arm = rng.integers(0, 3, 60)
    coding = TreatmentCoding.learn(
        pd.DataFrame({"arm": pd.Categorical(arm), "dose": rng.uniform(0.0, 1.0, 60)}), n_rows=60
    )
    rows = np.array([0, 1, 2, 1])
    matrix = coding.encode_matrix({"arm": rows, "dose": 0.5}, n_rows=4, allow_scalar=True)
    np.testing.assert_array_equal(matrix[:, :2], np.column_stack([rows == 1, rows == 2]))
    np.testing.assert_array_equal(matrix[:, 2], 0.5)


def test_one_lookup_matches_arms_by_value():
    rng = np.random.default_rng(7)
    coding = TreatmentCoding.learn(pd.Series(rng.integers(0, 3, 60), name="arm"), n_rows=60,
                                   treatment_type="categorical")  # fmt: skip
    assert coding.effect_names == ["1", "2"]
    assert coding.effect_index(1) == coding.effect_index(1.0) == coding.effect_index("1") == 0
    assert coding.effect_index(np.int64(2)) == 1
    assert coding.arm_index(0) is None and coding.arm_index(0.0) is None
    with pytest.raises(ValueError, match="is the reference arm"):
        coding.effect_index(0)
    with pytest.raises(ValueError, match="'1.0' is not an effect"):
        coding.effect_index("1.0")  # text is matched to the names as shown, not parsed
    with pytest.raises(ValueError, match="arm 7 is not an arm"):
        coding.arm_index(7)


@pytest.fixture(scope="module")
def numeric_arms():
    """Arms coded 0/1/2 (a Categorical) beside a dose: one small fit."""
    rng = np.random.default_rng(8)
    d = make_grouped_hte(N, n_levels=(2, 2), random_state=8)
    arm = rng.integers(0, 3, N)
    dose = rng.uniform(0.0, 1.0, N)
    y = d.y + 0.5 * (arm == 1) + 1.0 * (arm == 2) + 0.3 * dose
    treatment = pd.DataFrame({"arm": pd.Categorical(arm), "dose": dose})
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(d.X, y, treatment=treatment)
    return est, d.X


def test_reports_take_numeric_arms_as_predict_does(numeric_arms):
    est, X = numeric_arms
    assert est.effect_names_ == ["arm=1", "arm=2", "dose"]
    by_name = est.compare_arms("arm=1", "arm=2")
    by_value = est.compare_arms(1.0, 2)
    np.testing.assert_array_equal(by_value["mean"], by_name["mean"])
    against_reference = est.compare_arms(1, 0)  # the reference arm: the arm's own effect
    effects = est.effect_by_group()
    own = effects[effects["treatment"] == "arm=1"]["mean"].to_numpy()
    np.testing.assert_allclose(against_reference["mean"].to_numpy(), own)
    assert est.average_effect(treatment=1) == est.average_effect(treatment="arm=1")
    assert est.average_effect(treatment=2.0) == est.average_effect(treatment="arm=2")
    # predict with a dict of per-row arms and one dose
    rows = X.head(4)
    arms = np.array([0, 1, 2, 1])
    mixed = est.predict(rows, {"arm": arms, "dose": 0.5})
    one_by_one = [est.predict(rows.iloc[[i]], {"arm": a, "dose": 0.5})[0]
                  for i, a in enumerate(arms)]  # fmt: skip
    np.testing.assert_allclose(mixed, one_by_one)
    as_series = est.predict(rows, {"arm": pd.Series(arms, index=rows.index), "dose": 0.5})
    np.testing.assert_array_equal(as_series, mixed)
    with pytest.raises(ValueError, match="does not line up"):  # paired by position: same index
        est.predict(rows, {"arm": pd.Series(arms, index=rows.index[::-1]), "dose": 0.5})


def test_a_fit_on_tz_aware_date_arms_saves_and_loads(tmp_path):
    rng = np.random.default_rng(9)
    d = make_grouped_hte(N, n_levels=(2, 2), random_state=9)
    when = _dates("tz", N).sample(frac=1.0, random_state=1).reset_index(drop=True)
    control = pd.Timestamp("2021-06-01", tz="Europe/Paris")
    est = HierarchicalHTE(modifiers=d.modifiers, control_value=control, random_state=0, **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(d.X, d.y + rng.normal(0.0, 0.1, N), treatment=when)
    path = tmp_path / "dates.nc"
    est.save(path)
    loaded = HierarchicalHTE.load(path)
    assert loaded.treatment_coding_ == est.treatment_coding_
    assert loaded.get_params()["control_value"] == control
    rows = d.X.head(3)
    arm = when.iloc[0]
    np.testing.assert_array_equal(loaded.predict(rows, arm), est.predict(rows, arm))
