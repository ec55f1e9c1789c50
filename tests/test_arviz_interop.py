"""``idata_`` is what ArviZ 1.x users expect: an xarray DataTree every ArviZ function takes."""

import arviz_stats
import numpy as np
import xarray as xr


def test_idata_is_an_arviz_datatree(bernoulli):
    est, _ = bernoulli
    tree = est.idata_
    assert isinstance(tree, xr.DataTree)
    assert {"posterior", "sample_stats", "constant_data"} <= set(tree.children)
    posterior = tree.posterior
    assert list(posterior["group_effect"].dims) == ["chain", "draw", "group"]
    assert list(posterior.coords["group"].values) == est.design_.group_labels
    assert tree.sample_stats["diverging"].dtype == bool
    # the response-scale effects added after sampling sit beside the sampled ones
    np.testing.assert_allclose(
        posterior["group_effect_response"].mean(("chain", "draw")).to_numpy(),
        est.effect_by_group()["mean"].to_numpy(),
    )


def test_arviz_summarises_the_fit_as_the_diagnostics_do(bernoulli):
    est, _ = bernoulli
    table = arviz_stats.summary(est.idata_, var_names=["b_treatment", "sd_effect"])
    ours = est.diagnostics()
    assert set(table.index) == {"b_treatment", "sd_effect"}
    for name in ("b_treatment", "sd_effect"):
        assert abs(float(table.loc[name, "r_hat"]) - ours.loc[name, "r_hat_max"]) < 0.006
        assert abs(float(table.loc[name, "ess_bulk"]) - ours.loc[name, "ess_bulk_min"]) < 1.0


def test_the_tree_is_laid_out_as_arviz_lays_out_a_dict():
    """The fit's DataTree, built one Dataset per group, is what ``arviz_base.from_dict``
    makes of the same draws: dimensions (given and default), coordinates, attributes."""
    import arviz_base

    from sklearn_hier._results.inference_data import labelled_tree

    rng = np.random.default_rng(0)
    groups = {
        "posterior": {
            "Intercept": rng.normal(size=(2, 5)),
            "group_effect": rng.normal(size=(2, 5, 3, 2)),  # group, effect
            "cutpoints": rng.normal(size=(2, 5, 4)),  # a default dimension name
        },
        "sample_stats": {"diverging": np.zeros((2, 5), dtype=bool)},
        "constant_data": {"group_n": np.array([4, 5, 6]), "Z": rng.normal(size=(3, 2))},
    }
    coords = {"group": ["a", "b", "c"], "effect": ["x", "y"], "unused": [1, 2]}
    dims = {"group_effect": ["group", "effect"], "group_n": ["group"], "Z": ["group"]}
    ours = labelled_tree(groups, coords=coords, dims=dims)
    theirs = arviz_base.from_dict(groups, coords=coords, dims=dims)
    for name in groups:
        mine, reference = ours[name].to_dataset(), theirs[name].to_dataset()
        mine.attrs.pop("created_at"), reference.attrs.pop("created_at")
        assert mine.identical(reference), name
        for dim in reference.coords:  # the labels keep their NumPy dtype (identical does not check)
            assert mine[dim].dtype == reference[dim].dtype, (name, dim)
            assert list(mine.indexes[dim]) == list(reference.indexes[dim])
