"""Priors that follow a dose's units: a dose in g and the same dose in kg give the same
answer in their own units; binary treatments and arms keep the constructor's priors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._modeling.inputs import prepare

#: True slope per kg in the groups with m0 = 0 and m0 = 1.
SLOPES = (20.0, 30.0)


def _dose_data(n=400, seed=0):
    """Doses from 0 to 0.1 kg; the slope per kg is 20 or 30 by m0: 40 and 60 times the
    default coefficient prior scale (0.5) were that scale in y per kg."""
    rng = np.random.default_rng(seed)
    m0, m1 = rng.integers(0, 2, n), rng.integers(0, 2, n)
    kg = rng.uniform(0.0, 0.1, n)
    y = 0.5 * m1 + np.where(m0 == 1, SLOPES[1], SLOPES[0]) * kg + rng.normal(0.0, 1.0, n)
    return pd.DataFrame({"m0": m0, "m1": m1}), pd.Series(y, name="y"), kg


def _fit(X, y, dose, **params):
    est = HierarchicalHTE(modifiers=["m0", "m1"], random_state=0, **FAST, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        return est.fit(X, y, treatment=dose)


@pytest.fixture(scope="module")
def kg_and_g():
    X, y, kg = _dose_data()
    return (_fit(X, y, pd.Series(kg, name="dose")),
            _fit(X, y, pd.Series(1000.0 * kg, name="dose")))  # fmt: skip


def test_binary_treatments_keep_the_constructors_priors(bernoulli):
    """The one-treatment model is the brms model: every resolved scale is the constructor's."""
    est, _ = bernoulli
    table = est.prior_scales_.set_index("parameter")["scale"]
    params = est.get_params()
    assert table["Intercept"] == params["prior_intercept_scale"]
    for name in ("b_control", "b_group", "b_treatment", "lambda"):
        assert table[name] == params["prior_coef_scale"]
    assert table["sd_intercept"] == table["sd_effect"] == params["prior_sd_scale"]
    assert table["corr"] == params["lkj_concentration"]


@pytest.mark.parametrize("treatment", ["binary", "arms"])
def test_binary_and_arm_effects_get_unit_multipliers(simulated, treatment):
    """What the compiled model is handed: multipliers of exactly 1 (so x * 1.0 == x)."""
    d = simulated
    t = d.treatment
    if treatment == "arms":
        t = pd.Series(np.array(["a", "b", "c"])[np.arange(len(t)) % 3], name="arm")
    spec = ModelSpec.from_params(HierarchicalHTE(modifiers=d.modifiers, prior_coef_scale=0.7,
                                                 prior_sd_scale=0.3).get_params())  # fmt: skip
    units = prepare(spec, d.X, d.y, t).data.prior_units
    assert np.all(units.coef == 1.0) and np.all(units.sd == 1.0)


def test_a_doses_prior_scales_are_per_unit_of_its_spread(kg_and_g):
    kg, g = kg_and_g
    X, _, dose = _dose_data()
    for est, factor in ((kg, 1.0), (g, 1000.0)):
        table = est.prior_scales_.set_index("parameter")["scale"]
        spread = np.std(factor * dose)
        np.testing.assert_allclose(table["b_treatment"], 0.5 / spread, rtol=1e-12)
        np.testing.assert_allclose(table["lambda"], 0.5 / spread, rtol=1e-12)
        np.testing.assert_allclose(table["sd_effect"], 1.0 / spread, rtol=1e-12)
        assert table["b_group"] == 0.5 and table["sd_intercept"] == 1.0  # not the dose's


def test_a_dose_in_g_and_in_kg_give_the_same_effects_in_their_units(kg_and_g):
    """Effects in g are effects in kg / 1000, up to Monte Carlo error, and the kg fit's 99%
    intervals cover the truth. Before, the priors were per kg and per g alike: the kg fit's
    slopes were shrunk to about 11-20 (truth 20 and 30), the g fit's were not."""
    kg, g = kg_and_g
    in_kg, in_g = kg.effect_by_group(prob=0.99), g.effect_by_group(prob=0.99)
    # The group effects are completed by exact draws given the variance parameters, so
    # their effective sample size is near the 400 draws; at an ESS of 100 or more, two fits'
    # means differ by under 4 * sqrt(2) * sd / 10 = 0.57 posterior sds (4 standard errors).
    np.testing.assert_array_less(np.abs(in_kg["mean"] - 1000.0 * in_g["mean"]), 0.57 * in_kg["sd"])
    np.testing.assert_allclose(1000.0 * in_g["sd"], in_kg["sd"], rtol=0.25)
    truth = np.where(in_kg["m0"] == 1, SLOPES[1], SLOPES[0])
    assert ((in_kg["lower"] <= truth) & (truth <= in_kg["upper"])).all()


def test_saved_model_keeps_its_prior_scales(kg_and_g, tmp_path):
    kg, _ = kg_and_g
    kg.save(tmp_path / "dose.nc")
    loaded = HierarchicalHTE.load(tmp_path / "dose.nc")
    pd.testing.assert_frame_equal(loaded.prior_scales_, kg.prior_scales_)


def test_a_partitioned_dose_gets_the_same_prior_units():
    """The dose's spread comes from the rows however they are stored."""
    dd = pytest.importorskip("dask.dataframe")
    X, y, kg = _dose_data(600)
    frame = X.assign(y=y, dose=np.round(1000.0 * kg))  # whole grams: few distinct values
    spec = ModelSpec.from_params(HierarchicalHTE(modifiers=["m0", "m1"]).get_params())
    memory = prepare(spec, frame[["m0", "m1"]], frame["y"], frame["dose"]).data.prior_units
    parts = dd.from_pandas(frame, npartitions=3, sort=False)
    partitioned = prepare(spec, parts[["m0", "m1"]], parts["y"], parts["dose"]).data.prior_units
    np.testing.assert_allclose(partitioned.coef, memory.coef, rtol=1e-12)
    np.testing.assert_allclose(partitioned.sd, memory.sd, rtol=1e-12)
    assert memory.sd[1] == pytest.approx(1.0 / frame["dose"].std(ddof=0))


@pytest.mark.parametrize("path", ["pandas", "dask"])
def test_the_laplace_expansion_point_follows_the_doses_units(path):
    """The Laplace approximation expands around a ridge-penalised pilot fit whose ridge is
    the prior: per unit of the dose too, so the pilot's slope in g is its slope in kg over
    1000 (with the constructor's scales it was shrunk more in kg than in g)."""
    rng = np.random.default_rng(3)
    n = 3000
    X = pd.DataFrame({"m0": rng.integers(0, 2, n), "x": rng.normal(size=n)})
    kg = rng.uniform(0.0, 0.1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X["x"] + 15.0 * kg - 0.7)))).astype(float)
    spec = ModelSpec.from_params(HierarchicalHTE(
        modifiers=["m0"], group_predictors=None, family="bernoulli", approximation="laplace",
    ).get_params())  # fmt: skip
    slopes = []
    for dose in (kg, 1000.0 * kg):
        frame = X.assign(y=y, dose=dose)
        if path == "dask":
            dd = pytest.importorskip("dask.dataframe")
            import dask

            parts = dd.from_pandas(frame, npartitions=2, sort=False)
            with dask.config.set(scheduler="synchronous"):
                prepared = prepare(spec, parts[["m0", "x"]], parts["y"], parts["dose"], seed=0)
        else:
            prepared = prepare(spec, frame[["m0", "x"]], frame["y"], frame["dose"], seed=0)
        slopes.append(prepared.expansion.pilot.coefficients[:, 1])
    np.testing.assert_allclose(slopes[1] * 1000.0, slopes[0], rtol=1e-6)
