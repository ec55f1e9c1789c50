"""Variational inference agrees with NUTS on group effects, and warns when not converged."""

import numpy as np
import pytest

from sklearn_hier import HierarchicalHTE, SamplingWarning, SVISampler
from sklearn_hier.datasets import make_grouped_hte

DATA = make_grouped_hte(1500, n_levels=(2, 4), sigma_theta=0.2, noise=0.8, random_state=8)


@pytest.fixture(scope="module")
def nuts():
    est = HierarchicalHTE(modifiers=DATA.modifiers, random_state=0)
    return est.fit(DATA.X, DATA.y, treatment=DATA.treatment).effect_by_group()


@pytest.mark.slow
def test_group_effects_agree_with_nuts(nuts):
    est = HierarchicalHTE(modifiers=DATA.modifiers, sampler=SVISampler(steps=4000),
                          random_state=0)  # fmt: skip
    svi = est.fit(DATA.X, DATA.y, treatment=DATA.treatment).effect_by_group()
    # means within half a posterior sd of NUTS's (Monte Carlo error of NUTS's mean is
    # about sd / 20 with 1000 draws), and the same ordering of groups
    gap = np.abs(svi["mean"] - nuts["mean"]) / nuts["sd"]
    assert gap.max() < 0.5
    assert np.corrcoef(svi["mean"], nuts["mean"])[0, 1] > 0.95
    # a Gaussian approximation may understate uncertainty, but not wildly
    assert 0.5 < (svi["sd"] / nuts["sd"]).median() < 1.3
    assert est.diagnostics().loc["svi", "steps"] == 4000
    assert est.idata_.posterior.sizes["draw"] * est.idata_.posterior.sizes["chain"] == 4000


@pytest.mark.slow
def test_low_rank_guide_orders_groups_like_nuts(nuts):
    # the low-rank guide is coarser (meant for thousands of groups): same ordering,
    # means within two posterior sds
    est = HierarchicalHTE(
        modifiers=DATA.modifiers, random_state=0, sampler=SVISampler(guide="lowrank", steps=4000)
    )
    svi = est.fit(DATA.X, DATA.y, treatment=DATA.treatment).effect_by_group()
    assert np.corrcoef(svi["mean"], nuts["mean"])[0, 1] > 0.9  # 8 groups: a noisy correlation
    assert (np.abs(svi["mean"] - nuts["mean"]) / nuts["sd"]).max() < 2.0


@pytest.mark.slow
def test_unconverged_optimisation_warns():
    # 50 steps stop in the initial descent, while the loss still falls steeply
    est = HierarchicalHTE(modifiers=DATA.modifiers, sampler=SVISampler(steps=50),
                          random_state=0)  # fmt: skip
    with pytest.warns(SamplingWarning, match="had not converged after 50 steps"):
        est.fit(DATA.X, DATA.y, treatment=DATA.treatment)


# slow tier: jax.clear_caches() empties every compiled program of the process, so each
# test after it in the same run would compile its model again
@pytest.mark.slow
def test_a_retrace_of_the_compiled_fit_starts_a_fresh_guide():
    """The compiled SVI program is kept per shape and may be traced again (JAX drops its
    caches; the same shapes with other weak types). A guide kept across traces held the
    first trace's values and failed the second with an UnexpectedTracerError."""
    import jax

    small = make_grouped_hte(200, n_levels=(2, 2), random_state=3)
    est = HierarchicalHTE(modifiers=small.modifiers, sampler=SVISampler(steps=50),
                          random_state=0)  # fmt: skip
    with pytest.warns(SamplingWarning):  # 50 steps do not converge
        first = est.fit(small.X, small.y, treatment=small.treatment).effect_by_group()
    jax.clear_caches()
    with pytest.warns(SamplingWarning):
        again = est.fit(small.X, small.y, treatment=small.treatment).effect_by_group()
    np.testing.assert_allclose(first["mean"], again["mean"])
