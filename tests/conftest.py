import os
import warnings

# Tests run on the CPU whatever the machine has, so results match CI.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

from sklearn_hier import NUTSSampler  # noqa: E402
from sklearn_hier.datasets import load_tomz_weeks, make_grouped_hte  # noqa: E402

#: Short sampler settings for tests that check behaviour rather than statistics.
FAST_SETTINGS = dict(num_warmup=200, num_samples=200, num_chains=2)
FAST = dict(sampler=NUTSSampler(**FAST_SETTINGS))


def fast(**settings) -> dict:
    """``FAST`` with other NUTS settings (``marginalize=False``, ``progress_bar=True``...)."""
    return dict(sampler=NUTSSampler(**{**FAST_SETTINGS, **settings}))


TW_MODIFIERS = ["white", "male", "intl", "hawk"]
TW_COLUMNS = TW_MODIFIERS + ["regime", "stakes", "costs", "region"]


#: The fast unit tier (``-m unit``): each stage's modules tested without a sampler, in
#: seconds. base: the import arrows and the sampler settings; data: the design, the
#: sufficient statistics and the memory guard; model: the geometry and warm-up starts;
#: results: tables, prediction and persistence on hand-made draws.
UNIT_MODULES = {
    "test_layout", "test_sampler_settings",
    "test_design", "test_statistics", "test_memory",
    "test_centring", "test_warmup",
    "test_results_unit",
}  # fmt: skip


@pytest.fixture(scope="session")
def tomz_weeks():
    return load_tomz_weeks()


@pytest.fixture(scope="session")
def bernoulli():
    """A fitted Bernoulli model and its data, shared: non-Gaussian fits compile their own
    sampler. Tests that change the estimator work on a copy."""
    import warnings

    from sklearn_hier import HierarchicalHTE, SamplingWarning

    d = make_grouped_hte(400, n_levels=(2, 2), family="bernoulli", random_state=2)
    est = HierarchicalHTE(modifiers=d.modifiers, family="bernoulli", random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(d.X, d.y, treatment=d.treatment)
    return est, d


@pytest.fixture(scope="session")
def simulated():
    return make_grouped_hte(600, n_levels=(2, 3), sigma_theta=0.1, random_state=1)


# One shared fit per model that many test modules read (the integration tier): fitted once
# per test run. Tests that change an estimator work on a copy.
@pytest.fixture(scope="session")
def gaussian_fit(simulated):
    """The Gaussian model of ``simulated`` with short chains, and its data."""
    from sklearn_hier import HierarchicalHTE, SamplingWarning

    est = HierarchicalHTE(modifiers=simulated.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    return est, simulated


@pytest.fixture(scope="session")
def tomz_fit(tomz_weeks):
    """The README's model of Tomz & Weeks, short chains: the outcome is a Series "force"."""
    from sklearn_hier import HierarchicalHTE, SamplingWarning

    est = HierarchicalHTE(modifiers=TW_MODIFIERS, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # short chains
        est.fit(tomz_weeks[TW_COLUMNS], tomz_weeks["force"], treatment=tomz_weeks["alliance"])
    return est


@pytest.fixture
def dask_synchronous():
    """Dask partitions computed one after the other in this process (tests that need a
    cluster start their own)."""
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield


#: Doctests that fit more than one model or at full length: they run with the slow tier.
SLOW_DOCTESTS = (
    "sklearn_hier.model_selection.HierarchicalHTECV",
    "sklearn_hier.comparison.compare",
    # the class example at the default 4 chains x 2,000 iterations, and two that reuse it
    "sklearn_hier._estimator.HierarchicalHTE",
    "sklearn_hier._estimator.HierarchicalHTE.load",
    "sklearn_hier._estimator.HierarchicalHTE.compare_groups",
    "sklearn_hier._estimator.HierarchicalHTE.effect_draws",  # a model shape of its own
    "sklearn_hier.planning._posterior_assumptions.plan_from",  # a pilot of its own shape
)


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
        if item.path.stem in UNIT_MODULES:
            item.add_marker(pytest.mark.unit)
