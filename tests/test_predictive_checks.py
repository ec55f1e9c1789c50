"""Posterior predictive checks: replicated outcomes, and each group's treated-minus-control
difference against its replications."""

import copy
import warnings

import arviz_stats
import numpy as np
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.predictive_checks import group_difference_check


def test_a_correct_model_reproduces_every_groups_difference(gaussian_fit):
    est, d = gaussian_fit
    table = group_difference_check(est, d.X, d.y, d.treatment)
    assert len(table) == est.n_groups_
    # six groups at 95%: each falls outside with probability about 0.05 or less
    assert table["outside"].sum() <= 1
    assert (table["n_treated"] + table["n_control"]).sum() == len(d.y)
    observed = np.asarray(d.y)[np.asarray(d.treatment) == 1].mean()
    assert table["p_value"].between(0, 1).all() and np.isfinite(observed)


def test_an_over_pooled_model_is_flagged():
    """Effects spread with sd 0.8 over six groups of 200 rows, fitted with a group-sd prior
    scale of 0.001: every group's effect is pulled to the mean, and the groups far from
    it (most of them: the spread is four times a group difference's standard error of
    about 0.2) fall outside their replications."""
    d = make_grouped_hte(1200, n_levels=(2, 3), sigma_theta=0.8, effect_slopes=[0.0, 0.0],
                         random_state=3)  # fmt: skip
    est = HierarchicalHTE(modifiers=d.modifiers, group_predictors=None, prior_sd_scale=0.001,
                          random_state=0, **FAST)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(d.X, d.y, treatment=d.treatment)
    table = group_difference_check(est, d.X, d.y, d.treatment)
    assert table["outside"].sum() >= 3
    assert (table.loc[table["outside"], "p_value"] < 0.05).all()


def test_replicated_outcomes_and_loo_pit(bernoulli):
    est, d = copy.deepcopy(bernoulli)
    tree = est.inference_data(d.X, d.y, d.treatment, posterior_predictive=True)
    replicated = tree.posterior_predictive["y"].values
    assert replicated.shape == tree.log_likelihood["y"].shape
    assert set(np.unique(replicated)) <= {0.0, 1.0}
    # the replications' mean outcome is the observed one within its sampling spread
    spread = replicated.mean(axis=2).std()
    assert abs(replicated.mean() - np.asarray(d.y).mean()) < 4 * spread
    pit = arviz_stats.loo_pit(tree)
    values = pit["y"].values
    assert values.shape == (len(d.y),) and ((values >= 0) & (values <= 1)).all()


def test_the_check_plot_draws_each_group(gaussian_fit):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_hier.plotting import plot_group_difference_check

    est, d = gaussian_fit
    table = group_difference_check(est, d.X, d.y, d.treatment)
    ax = plot_group_difference_check(table)
    segments = ax.collections[0].get_segments()
    assert len(segments) == len(table)
    np.testing.assert_allclose(sorted(s[0][0] for s in segments), sorted(table["lower"]))
    points = np.concatenate([line.get_xdata() for line in ax.lines])
    np.testing.assert_allclose(sorted(points), sorted(table["observed"]))
    assert len(ax.get_yticklabels()) == len(table)
    plt.close(ax.figure)


def test_a_dose_has_no_treated_minus_control_difference():
    d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
    dose = np.random.default_rng(0).uniform(0, 2, 300)
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(d.X, d.y, treatment=dose)
    with pytest.raises(ValueError, match="continuous dose"):
        group_difference_check(est, d.X, d.y, dose)


def test_many_groups_are_drawn_as_a_strip_with_the_outside_ones_labelled():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from sklearn_hier.plotting import plot_group_difference_check

    rng = np.random.default_rng(0)
    n = 40
    table = pd.DataFrame({
        "g": np.arange(n), "n_treated": 5, "n_control": 5,
        "observed": rng.normal(size=n), "replicated_mean": rng.normal(size=n),
    })  # fmt: skip
    table["lower"], table["upper"] = table["replicated_mean"] - 1, table["replicated_mean"] + 1
    table.loc[3, "observed"] = np.nan  # a group with one arm: left out
    table["outside"] = (table["observed"] < table["lower"]) | (table["observed"] > table["upper"])
    ax = plot_group_difference_check(table)
    assert len(ax.collections[0].get_segments()) == n - 1
    assert ax.get_xlabel().startswith(f"{n - 1} groups")
    assert len(ax.texts) == int(table["outside"].sum())
    plt.close(ax.figure)
