"""Warm-up: the tree-depth cap and the least-squares start."""

import numpy as np
import pytest

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._data.sufficient_statistics import RowDesign, gaussian_statistics
from sklearn_hier._modeling.geometry import least_squares_start, start_centred


def _warmup_depth(**params) -> int:
    est = HierarchicalHTE(modifiers=["a"]).set_params(**params)
    return ModelSpec.from_params(est.get_params()).resolved_warmup_tree_depth()


def test_warmup_depth_cap_defaults_by_structure():
    assert _warmup_depth() == 7
    assert _warmup_depth(sampler__max_tree_depth=4) == 4
    assert _warmup_depth(structure="additive") == 10
    assert _warmup_depth(sampler__warmup_max_tree_depth=None) == 10
    assert _warmup_depth(sampler__warmup_max_tree_depth=8) == 8


def test_warmup_depth_cap_is_validated(simulated):
    est = HierarchicalHTE(modifiers=["m0"], sampler=NUTSSampler(warmup_max_tree_depth="deep"))
    with pytest.raises(ValueError, match="warmup_max_tree_depth"):
        est.fit(simulated.X, simulated.y, treatment=simulated.treatment)


def _design(rng, n=200_000, n_groups=6):
    group = rng.integers(0, n_groups, n)
    treatment = (rng.uniform(size=n) < 0.5).astype(float)
    controls = rng.normal(size=(n, 2)) * [1.0, 3.0] + [0.0, 10.0]
    level = rng.normal(0, 1, n_groups)
    effect = rng.normal(0.5, 0.3, n_groups)
    outcome = (
        level[group] + effect[group] * treatment + controls @ [0.7, -0.2]
        + rng.normal(0, 1.5, n)
    )  # fmt: skip
    design = RowDesign(controls, np.zeros((n_groups, 1)), group, treatment, outcome)
    return design, level, effect


def test_least_squares_start_is_near_the_truth():
    design, level, effect = _design(np.random.default_rng(0))
    _, controls_fit, group_start = gaussian_statistics(design)
    start_values = least_squares_start(controls_fit, n_controls=2, n_group_terms=3)
    loc, spread = start_values.loc, start_values.spread
    sigma_se = 1.0 / np.sqrt(2 * design.n_rows)  # sd of log(sigma-hat)
    assert loc["sigma"] == pytest.approx(np.log(1.5), abs=4 * sigma_se)
    assert spread["sigma"] == pytest.approx(sigma_se)
    beta, beta_se = loc["b"][:2], spread["b"][:2]
    assert np.all(np.abs(beta - [0.7, -0.2]) < 4 * beta_se)
    # the group-level terms (Z, t, t Z) keep Stan's start
    assert loc["b"][2:].tolist() == [0.0] * 3
    assert spread["b"][2:].tolist() == [1.0] * 3
    # each group's control-arm level (controls at their means) and effect
    cbar = design.controls.mean(axis=0)
    start, se = group_start.estimate, group_start.se
    np.testing.assert_array_less(np.abs(start[:, 0] - (level + cbar @ [0.7, -0.2])), 4 * se[:, 0])
    np.testing.assert_array_less(np.abs(start[:, 1] - effect), 4 * se[:, 1])


def test_centred_start_applies_to_centred_groups_only():
    design, _, _ = _design(np.random.default_rng(1), n=5_000)
    _, _, group_start = gaussian_statistics(design)
    flag = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    start = start_centred(group_start, flag, width=2)
    on = flag.astype(bool)
    np.testing.assert_array_equal(start.loc["z_group"][on], group_start.estimate[on])
    assert (start.loc["z_group"][~on] == 0).all()
    assert (start.spread["z_group"][~on] == 1).all()
    padded = start.pad(16)  # the padding groups start as Stan would
    assert (padded.loc["z_group"][6:] == 0).all() and (padded.spread["z_group"][6:] == 1).all()
    assert (start.spread["z_group"][on] < 1).all()
