"""Each figure draws what it says: one mark per group or term, the right labels."""

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest
from conftest import FAST

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from sklearn_hier import HierarchicalHTE, compare  # noqa: E402
from sklearn_hier.baselines import InteractionHTE  # noqa: E402
from sklearn_hier.datasets import make_grouped_hte  # noqa: E402
from sklearn_hier.plotting import (  # noqa: E402
    SMALL_FONT,
    plot_blp,
    plot_calibration,
    plot_coefficients,
    plot_comparison,
    plot_effect_distribution,
    plot_group_effects,
    plot_uplift,
)
from sklearn_hier.validation import validate  # noqa: E402

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
    # the first row is the effect where every group predictor is 0, and says so
    assert labels == ["treatment\nat m0 = m1 = m2 = m3 = 0"] + [
        f"treatment:{m}" for m in DATA.modifiers
    ]
    assert _points(ax) == 1 + len(DATA.modifiers)


def test_effect_distribution_annotates_smallest_median_and_largest(fitted):
    ax = plot_effect_distribution(fitted)
    # the three groups' boxes (the draws' extremes beyond the axis may follow)
    texts = [t.get_text() for t in ax.texts if t.get_bbox_patch() is not None]
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


# ----------------------------------------------------------------- geometry
# Every figure is checked as a reader sees it: rendered at its own size, with the labels of
# real data (Tomz & Weeks: "alliance:white", four-modifier group labels, 100 groups).


@pytest.fixture(scope="module")
def tomz_weeks_fit(tomz_fit):
    return tomz_fit


def _drawn_texts(fig) -> list[Text]:
    """Every non-empty text the renderer draws (tick labels only for ticks in view)."""
    hidden = set()
    for ax in fig.axes:
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            low, high = min(low, high), max(low, high)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                    hidden.update({id(tick.label1), id(tick.label2)})
    return [
        t for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in hidden
    ]  # fmt: skip


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


def _check_geometry(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = fig.bbox
    texts = _drawn_texts(fig)
    assert texts
    for text in texts:
        box = text.get_window_extent(renderer)
        assert (
            box.x0 >= frame.x0 - 0.5 and box.x1 <= frame.x1 + 0.5
            and box.y0 >= frame.y0 - 0.5 and box.y1 <= frame.y1 + 0.5
        ), f"{text.get_text()!r} is cut off at the figure's edge"  # fmt: skip
        assert text.get_fontsize() >= SMALL_FONT, f"{text.get_text()!r} is too small to read"
    for ax in fig.axes:
        boxes = [t.get_bbox_patch() or t for t in ax.texts]
        boxes = [b.get_window_extent(renderer) for b in boxes]
        for a, b in itertools.combinations(boxes, 2):
            assert not _overlap(a, b), "two annotation boxes overlap"
        for box in boxes:
            assert ax.bbox.x0 - 0.5 <= box.x0 and box.x1 <= ax.bbox.x1 + 0.5
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t in texts]
            for a, b in itertools.combinations(labels, 2):
                assert not _overlap(a.get_window_extent(renderer), b.get_window_extent(renderer)), (
                    f"tick labels {a.get_text()!r} and {b.get_text()!r} overlap"
                )


def test_note_figures_of_a_small_fit_keep_every_label_inside_readable_and_apart(fitted):
    _check_geometry(plot_coefficients(fitted).figure)
    _check_geometry(plot_effect_distribution(fitted).figure)
    _check_geometry(plot_group_effects(fitted, rows="m0", cols="m1", x="m2", hue="m3"))


@pytest.mark.slow  # a fit of its own; the check above runs in the default tier
def test_note_figures_keep_every_label_inside_readable_and_apart(tomz_weeks_fit):
    _check_geometry(plot_coefficients(tomz_weeks_fit).figure)
    _check_geometry(plot_effect_distribution(tomz_weeks_fit).figure)
    _check_geometry(plot_effect_distribution(tomz_weeks_fit, scale="link").figure)
    _check_geometry(
        plot_group_effects(tomz_weeks_fit, rows="white", cols="male", x="intl", hue="hawk")
    )
    _check_geometry(plot_group_effects(tomz_weeks_fit, rows="intl", cols="hawk", x="white"))


@pytest.mark.slow
def test_comparison_figure_keeps_every_label_inside_readable_and_apart(tomz_weeks_fit):
    table = tomz_weeks_fit.effect_by_group()
    labels = tomz_weeks_fit.design_.group_labels
    long = pd.concat(
        [
            pd.DataFrame({"estimator": name, "group": labels, "mean": table["mean"] + shift,
                          "lower": table["lower"] + shift, "upper": table["upper"] + shift,
                          "truth": table["mean"]})
            for name, shift in (("hierarchical", 0.0), ("causal forest", 0.05))
        ]
    )  # fmt: skip
    _check_geometry(plot_comparison(long).figure)


def test_validation_figures_draw_their_tables_and_keep_every_label_inside():
    from sklearn.linear_model import LinearRegression, LogisticRegression

    report = validate(InteractionHTE(modifiers=DATA.modifiers), DATA.X, DATA.y,
                      treatment=DATA.treatment, cv=3, outcome_model=LinearRegression(),
                      propensity_model=LogisticRegression())  # fmt: skip
    ax = plot_blp(report)
    assert ax.lines[0].get_xdata()[0] == pytest.approx(report.blp.loc["heterogeneity", "estimate"])
    _check_geometry(ax.figure)
    ax = plot_calibration(report)
    assert _points(ax) == len(report.calibration)
    _check_geometry(ax.figure)
    ax = plot_uplift(report)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), report.uplift["toc"])
    _check_geometry(ax.figure)


def test_geometry_check_catches_a_clipped_label():
    fig, ax = plt.subplots(figsize=(2, 2))  # no layout: long labels run off the figure
    ax.set_yticks([0, 1], ["a label far too long for this figure", "b"])
    with pytest.raises(AssertionError, match="cut off"):
        _check_geometry(fig)


def test_prior_and_predictive_check_figures_keep_every_label_inside(gaussian_fit):
    """The prior-effects figure, and arviz-plots' predictive-check and LOO-PIT figures
    drawn unchanged from our fits' DataTrees (posterior and prior predictive)."""
    import arviz_plots

    from sklearn_hier.plotting import plot_prior_effects

    est, d = gaussian_fit
    prior = est.sample_prior(d.X, d.y, d.treatment, n_draws=300)
    ax = plot_prior_effects(prior)
    assert ax.patches  # the histogram's bars
    _check_geometry(ax.figure)
    tree = est.inference_data(d.X, d.y, d.treatment, posterior_predictive=True)
    for collection in (
        arviz_plots.plot_ppc_dist(tree, backend="matplotlib"),
        arviz_plots.plot_ppc_dist(prior, group="prior_predictive", backend="matplotlib"),
    ):
        _check_geometry(collection.viz["figure"].item())
    # arviz-plots lays LOO-PIT out without a layout engine, which clips its x label at
    # the figure's own size; the docs show the one-line fix this checks
    figure = arviz_plots.plot_loo_pit(tree, backend="matplotlib").viz["figure"].item()
    figure.set_layout_engine("constrained")
    _check_geometry(figure)
