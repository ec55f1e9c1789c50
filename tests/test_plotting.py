"""Each figure draws what it says: one mark per group or term, the right labels."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import FAST

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn_hier import HierarchicalHTE, compare  # noqa: E402
from sklearn_hier.baselines import InteractionHTE  # noqa: E402
from sklearn_hier.datasets import make_grouped_hte  # noqa: E402
from sklearn_hier.plotting import (  # noqa: E402
    plot_coefficients,
    plot_comparison,
    plot_effect_distribution,
    plot_group_effects,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")
DATA = make_grouped_hte(900, n_levels=(2, 2, 3, 2), random_state=6)


@pytest.fixture(scope="module")
def fitted():
    est = HierarchicalHTE(modifiers=DATA.modifiers, random_state=0, **FAST)
    return est.fit(DATA.X, DATA.y, treatment=DATA.treatment)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _points(ax) -> int:
    return sum(len(line.get_xdata()) for line in ax.lines if line.get_marker() == "o")


def test_coefficients_plot_has_the_effect_and_every_lambda(fitted):
    ax = plot_coefficients(fitted)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["treatment"] + [f"treatment:{m}" for m in DATA.modifiers]
    assert _points(ax) == 1 + len(DATA.modifiers)


def test_effect_distribution_annotates_smallest_median_and_largest(fitted):
    ax = plot_effect_distribution(fitted)
    texts = [t.get_text() for t in ax.texts]
    table = fitted.effect_by_group()
    labels = fitted.design_.group_labels
    smallest = labels[int(np.argmin(table["median"]))]
    largest = labels[int(np.argmax(table["median"]))]
    assert len(texts) == 3
    assert texts[0].startswith(f"smallest: {smallest}") and texts[2].startswith(
        f"largest: {largest}"
    )
    assert sum(p.get_height() > 0 for p in ax.patches) > 10  # the histogram of all draws


def test_group_effects_facets_every_group_once(fitted):
    fig = plot_group_effects(fitted, rows="m0", cols="m1", x="m2", hue="m3")
    axes = fig.axes
    assert len(axes) == 4
    assert sum(_points(ax) for ax in axes) == fitted.n_groups_
    assert {ax.get_title() for ax in axes} == {f"m0={a}, m1={b}" for a in (0, 1) for b in (0, 1)}
    with pytest.raises(ValueError, match="'age' is not a modifier"):
        plot_group_effects(fitted, x="age")


@pytest.mark.slow  # fits four estimators
def test_comparison_plot_has_a_series_per_method_and_the_truth():
    table = compare(
        {"OLS": InteractionHTE(modifiers=DATA.modifiers),
         "OLS HC0": InteractionHTE(modifiers=DATA.modifiers, cov_type="HC0")},
        DATA.X, DATA.y, DATA.treatment, true_effect=DATA.true_effect,
    )  # fmt: skip
    ax = plot_comparison(table)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == ["OLS", "OLS HC0", "truth"]
    n_groups = len(DATA.group_effects)
    assert _points(ax) == 2 * n_groups
    truth = [line for line in ax.lines if line.get_marker() == "x"][0]
    assert np.all(np.diff(truth.get_ydata()) >= 0)  # groups ordered by the truth
    with pytest.raises(ValueError, match="needs columns estimator, group and mean"):
        plot_comparison(pd.DataFrame({"group": ["a"], "mean": [0.0]}))
