"""save/load round trips exactly; foreign, tampered and future files are refused clearly."""

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import FAST

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._results.persistence import ATTRIBUTE
from sklearn_hier.datasets import make_grouped_hte

pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")


@pytest.fixture(scope="module")
def fitted(simulated):
    X = simulated.X.assign(region=np.where(simulated.X["c0"] > 0, "north", "south"))
    est = HierarchicalHTE(modifiers=["m0", "m1", "region"], handle_unknown="population",
                          treated_value="drug",
                          random_state=0, **FAST)  # fmt: skip
    est.fit(X, simulated.y, treatment=np.where(simulated.treatment == 1, "drug", "placebo"))
    return est, X


def test_round_trip_reproduces_every_output(fitted, tmp_path):
    est, X = fitted
    path = tmp_path / "model.nc"
    est.save(path)
    loaded = HierarchicalHTE.load(path)
    assert loaded.get_params() == est.get_params()
    assert loaded.effect_by_group().equals(est.effect_by_group())
    np.testing.assert_array_equal(loaded.predict_effect(X), est.predict_effect(X))
    np.testing.assert_array_equal(loaded.predict(X, "drug"), est.predict(X, "drug"))
    assert loaded.treatment_coding_ == est.treatment_coding_  # the labels' meaning too
    assert loaded.coefficients().equals(est.coefficients())
    # unseen groups draw from the same seeded stream
    new = X.assign(m1=7.0)
    with pytest.warns(UserWarning, match="outside its training range"):
        np.testing.assert_array_equal(loaded.predict_effect(new), est.predict_effect(new))
    assert "sklearn_hier" not in " ".join(est.idata_.posterior.attrs)  # saving leaves no trace


@pytest.mark.slow
def test_round_trip_with_bins_and_a_binomial_family(tmp_path):
    d = make_grouped_hte(500, n_levels=(2,), n_continuous=1, family="bernoulli", random_state=3)
    est = HierarchicalHTE(modifiers=d.modifiers, bins=d.bins, family="bernoulli",
                          random_state=0, **FAST).fit(d.X, d.y, treatment=d.treatment)  # fmt: skip
    est.save(tmp_path / "binary.nc")
    loaded = HierarchicalHTE.load(tmp_path / "binary.nc")
    assert loaded.effect_by_group().equals(est.effect_by_group())
    np.testing.assert_array_equal(loaded.predict_effect(d.X), est.predict_effect(d.X))
    assert loaded.bin_edges_.keys() == est.bin_edges_.keys()


def _load_with_saved_effects(stem: str) -> HierarchicalHTE:
    """Load ``tests/data/<stem>.nc`` and check its effects against those saved beside it."""
    data = Path(__file__).parent / "data"
    loaded = HierarchicalHTE.load(data / f"{stem}.nc")
    saved = pd.read_csv(data / f"{stem}_effects.csv")
    table = loaded.effect_by_group()
    np.testing.assert_allclose(table[saved.columns].to_numpy(float), saved.to_numpy(float),
                               rtol=1e-12)  # fmt: skip
    return loaded


def test_files_of_format_1_still_load():
    """A file saved before the fitted posterior was split out (file format 1)."""
    loaded = _load_with_saved_effects("model_format1")
    assert loaded.predict(loaded.posterior_.design.groups.assign(c0=0.0, c1=0.0), 1).shape == (6,)


def test_files_saved_under_arviz_0x_load_with_their_treatment_coding():
    """File format 2 written by the ArviZ 0.x releases (InferenceData): same netCDF layout."""
    loaded = _load_with_saved_effects("model_format2_arviz0")
    rows = loaded.posterior_.design.groups.assign(c0=0.0, c1=0.0)
    assert loaded.predict(rows, "ally").shape == (6,)
    with pytest.raises(ValueError, match="'ally' \\(treated\\) and 'none' \\(control\\)"):
        loaded.predict(rows, np.ones(6))


def test_pickle_keeps_working(fitted):
    est, _ = fitted
    assert pickle.loads(pickle.dumps(est)).effect_by_group().equals(est.effect_by_group())


def _saved_then_changed(est, tmp_path, change):
    """Save ``est``, then rewrite the file with ``change`` applied to its DataTree."""
    path = tmp_path / "model.nc"
    est.save(path)
    with xr.open_datatree(path, engine="h5netcdf") as on_disk:
        idata = on_disk.load()
    change(idata)
    idata.to_netcdf(str(path), engine="h5netcdf")
    return path


def test_tampered_posterior_is_refused(fitted, tmp_path):
    def shift_effects(idata):
        idata.posterior["group_effect"] = idata.posterior["group_effect"] + 0.1

    path = _saved_then_changed(fitted[0], tmp_path, shift_effects)
    with pytest.raises(ValueError, match="changed after it was saved"):
        HierarchicalHTE.load(path)


def test_future_format_is_refused(fitted, tmp_path):
    def bump(idata):
        header = json.loads(idata.posterior.attrs[ATTRIBUTE])
        idata.posterior.attrs[ATTRIBUTE] = json.dumps({**header, "format_version": 99})

    path = _saved_then_changed(fitted[0], tmp_path, bump)
    with pytest.raises(ValueError, match=r"format 99; this version reads formats \[1, 2, 3, 4, 5"):
        HierarchicalHTE.load(path)


def test_foreign_files_are_refused(fitted, tmp_path):
    est, _ = fitted
    text = tmp_path / "notes.nc"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a sklearn_hier model file"):
        HierarchicalHTE.load(text)
    plain = tmp_path / "plain.nc"
    est.idata_.to_netcdf(str(plain), engine="h5netcdf")  # ArviZ data, no model description
    with pytest.raises(ValueError, match="not a saved sklearn_hier model"):
        HierarchicalHTE.load(plain)
    with pytest.raises(FileNotFoundError):
        HierarchicalHTE.load(tmp_path / "missing.nc")


def test_a_pickle_of_a_fitted_model_from_an_earlier_layout_loads():
    """A model pickled by an earlier version of the package unpickles and reports the
    effects it reported then."""
    data = Path(__file__).parent / "data"
    loaded = pickle.loads((data / "model_pickle_flat_modules.pkl").read_bytes())
    expected = pd.read_csv(data / "model_pickle_flat_modules_effects.csv")
    table = loaded.effect_by_group()
    np.testing.assert_allclose(table["mean"], expected["mean"], rtol=1e-12)
    # it was pickled with flat sampler parameters: they become its sampler object
    assert loaded.sampler == NUTSSampler(num_warmup=100, num_samples=25, num_chains=2,
                                         progress_bar=False)  # fmt: skip
    assert loaded.get_params()["num_samples"] == "deprecated"
