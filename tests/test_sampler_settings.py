"""The sampler's settings as one object: NUTSSampler and SVISampler."""

import pickle
import warnings

import pytest
from conftest import FAST
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning, SVISampler
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._sampling.run import sampler_settings


def _spec(est: HierarchicalHTE) -> ModelSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return ModelSpec.from_params(est.get_params(deep=False))


def test_default_is_nuts_with_the_documented_settings():
    spec = _spec(HierarchicalHTE())
    assert (spec.inference, spec.num_warmup, spec.num_samples, spec.num_chains) == (
        "nuts", "auto", 1000, 4,
    )  # fmt: skip
    assert spec.marginalize is True and spec.progress_bar == "auto"
    assert spec.target_accept is None and spec.max_tree_depth == 10


@pytest.mark.parametrize("marginal, expected", [(True, 500), (False, 1000)])
def test_automatic_warmup_is_shorter_for_the_marginal_model_only(marginal, expected):
    auto = _spec(HierarchicalHTE())
    assert sampler_settings(auto, n_rows=100, marginal=marginal).num_warmup == expected
    chosen = _spec(HierarchicalHTE(sampler=NUTSSampler(num_warmup=700)))
    assert sampler_settings(chosen, n_rows=100, marginal=marginal).num_warmup == 700
    with pytest.raises(ValueError, match="num_warmup"):
        _spec(HierarchicalHTE(sampler=NUTSSampler(num_warmup="short")))


def test_svi_sampler_sets_the_variational_fields():
    spec = _spec(HierarchicalHTE(sampler=SVISampler(steps=500, guide="lowrank", num_chains=2)))
    assert (spec.inference, spec.svi_steps, spec.svi_guide, spec.num_chains) == (
        "svi", 500, "lowrank", 2,
    )  # fmt: skip
    assert not spec.marginalized  # the approximation is fitted to the joint model


def test_flat_names_warn_and_mean_the_same_as_the_object():
    with pytest.warns(FutureWarning, match=r"sampler=NUTSSampler\(num_samples=300\)"):
        flat = ModelSpec.from_params(HierarchicalHTE(num_samples=300).get_params())
    assert flat == _spec(HierarchicalHTE(sampler=NUTSSampler(num_samples=300)))
    with pytest.warns(FutureWarning, match=r"SVISampler\(steps=200\)"):
        svi = ModelSpec.from_params(HierarchicalHTE(inference="svi", svi_steps=200).get_params())
    assert svi == _spec(HierarchicalHTE(sampler=SVISampler(steps=200)))


def test_flat_names_and_an_object_together_are_refused(simulated):
    est = HierarchicalHTE(modifiers=simulated.modifiers, num_samples=300, sampler=NUTSSampler())
    with pytest.raises(ValueError, match="num_samples and sampler= both say how to sample"):
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)


@pytest.mark.parametrize(
    "sampler, message",
    [
        ({"num_samples": 10}, "'sampler' parameter of HierarchicalHTE"),
        (NUTSSampler(num_chains=0), "'num_chains' parameter of NUTSSampler"),
        (SVISampler(guide="full"), "'guide' parameter of SVISampler"),
    ],
)  # fmt: skip
def test_bad_samplers_are_refused_by_name(simulated, sampler, message):
    est = HierarchicalHTE(modifiers=simulated.modifiers, sampler=sampler)
    with pytest.raises(ValueError, match=message):
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)


def test_settings_of_the_other_method_cannot_be_written():
    with pytest.raises(TypeError):
        SVISampler(max_tree_depth=12)
    with pytest.raises(TypeError):
        NUTSSampler(steps=100)


def test_grid_search_reaches_the_settings_by_nested_names():
    est = HierarchicalHTE(modifiers=["m0"])
    assert "sampler__num_samples" not in est.get_params()  # no object yet
    tuned = clone(est).set_params(sampler__num_samples=250, sampler__target_accept=0.9)
    assert tuned.sampler == NUTSSampler(num_samples=250, target_accept=0.9)
    assert est.sampler is None  # the original is untouched
    grid = ParameterGrid({"sampler": [NUTSSampler(), SVISampler()], "prior_sd_scale": [1.0]})
    methods = {_spec(clone(est).set_params(**point)).inference for point in grid}
    assert methods == {"nuts", "svi"}
    copy = clone(HierarchicalHTE(sampler=NUTSSampler(num_chains=2)))
    assert copy.get_params()["sampler__num_chains"] == 2


def test_the_fitted_settings_are_frozen(simulated):
    sampler = NUTSSampler(**FAST["sampler"].get_params())
    est = HierarchicalHTE(modifiers=simulated.modifiers, sampler=sampler, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # 200 draws: diagnostics may warn
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    sampler.set_params(num_samples=7)  # the object the user passed, changed after fit
    assert est.posterior_.spec.num_samples == 200
    assert est.posterior_.params["sampler"].num_samples == 200
    assert est.idata_.posterior.sizes["draw"] == 200
    assert est.idata_.sample_stats.attrs["num_warmup"] == 200  # the warm-up it ran
    again = pickle.loads(pickle.dumps(est))
    assert again.posterior_.params["sampler"] == NUTSSampler(**FAST["sampler"].get_params())
