"""The note's figures from a fitted HierarchicalHTE, and group effects by method.

Needs matplotlib (``pip install 'sklearn-hier[plot]'``). Every function takes
an optional ``ax`` (or draws a new figure), returns what it drew, and never
calls ``show``. For diagnostics (traces, rank plots, energy) use ArviZ on
``est.idata_``.
"""

import numpy as np
import pandas as pd

from ._results.draw_summaries import check_prob


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "plotting needs matplotlib; install the extra: pip install 'sklearn-hier[plot]'."
        ) from error
    return plt


#: Smallest font on any figure: readable when the figure is shown at its own size.
SMALL_FONT = 8


def _axes(ax, figsize=(6.4, 4.2)):
    """The caller's axes, or a new figure whose layout keeps every label inside it."""
    if ax is not None:
        return ax
    return _pyplot().subplots(figsize=figsize, layout="constrained")[1]


def outcome_name(est) -> str:
    """What the fitted outcome is called: ``y``'s name at fit (a Series' name), else
    "the outcome"."""
    name = est.idata_.posterior.attrs.get("outcome")
    return "the outcome" if name in (None, "") else str(name)


def effect_name(est, treatment=None) -> str:
    """The effect's name as the tables write it (the treatment column, or its arm)."""
    return est.effect_names_[est.posterior_.effect_index(treatment)]


def baseline_label(effect: str, predictors) -> str:
    """Figure 1's first row: the effect where every group predictor is 0, which is not
    the average effect unless the predictors are centred."""
    predictors = [str(p) for p in predictors]
    if not predictors:
        return effect
    where = " = ".join(predictors) if len(predictors) <= 4 else "all group predictors"
    return f"{effect}\nat {where} = 0"  # two lines: the axes keep their width


def plot_coefficients(est, *, prob=0.95, ax=None):
    """The note's Figure 1: the treatment effect at zero group predictors and each lambda.

    The first row of each effect is its value where every group-level predictor is 0
    (labelled so): with predictors such as a 1-5 scale that is not the average effect
    (``est.average_effect()`` gives that).

    Parameters
    ----------
    est : HierarchicalHTE
        A fitted model.
    prob : float, default=0.95
        Mass of the intervals (bars).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when ``None``.

    Returns
    -------
    ax : matplotlib Axes
        One point per term (the posterior median) with its interval, terms on the y axis.
    """
    table = est.coefficients(prob=check_prob(prob))
    scale = table.attrs.get("scale", "link")
    table = table[table["role"].isin(["effect", "lambda"])]
    predictors = est.design_.predictor_names
    labels = [
        baseline_label(term, predictors) if role == "effect" else term
        for term, role in zip(table.index, table["role"], strict=True)
    ]
    ax = _axes(ax, figsize=(6.4, 1.4 + 0.45 * len(table)))
    y = np.arange(len(table))[::-1]
    spread = [table["median"] - table["lower"], table["upper"] - table["median"]]
    ax.errorbar(table["median"], y, xerr=spread, fmt="o", color="black", capsize=3)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.set_xlabel(f"effect on {outcome_name(est)} ({scale} scale), {prob:.0%} interval",
                  loc="right")  # fmt: skip
    effects = " and ".join(est.effect_names_) if len(est.effect_names_) <= 3 else "each effect"
    # right-aligned: it runs left over the (long) term labels, never off the figure
    ax.set_title(f"Effect of {effects} and its predictors (lambda)", loc="right")
    return ax


def plot_effect_distribution(est, *, prob=0.95, scale="response", bins=60, treatment=None,
                             ax=None):  # fmt: skip
    """The note's Figure 2: the posterior of all group effects, extremes and median annotated.

    Parameters
    ----------
    est : HierarchicalHTE
        A fitted model.
    prob : float, default=0.95
        Mass of the annotated intervals.
    scale : {"response", "link"}, default="response"
        As in ``effect_by_group``.
    bins : int, default=60
        Histogram bins.
    treatment : str, default=None
        The effect to draw, when the model has more than one (see ``effect_names_``).
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        A histogram of every posterior draw of every group's effect, with the
        smallest, median and largest groups (by posterior median) marked and
        labelled with their estimate and interval. The x axis spans the draws'
        central 99% (with a margin), so a few far draws cannot squeeze the mass
        into a sliver; the smallest and largest draw are written at the edges
        when they lie beyond it.
    """
    prob = check_prob(prob)
    posterior = est.posterior_
    effect = posterior.effect_index(treatment)
    draws = posterior.group_effect_draws(scale, None, effect)
    # the groups heterogeneity_summary reports, so the two never disagree
    summary = est.heterogeneity_summary(prob, scale=scale, treatment=treatment)
    extremes = summary.extremes
    ax = _axes(ax)
    values = draws.ravel()
    low, high = central_range(values, extremes["median"].to_numpy())
    # the density of all draws: those beyond the range count in the total
    width = (high - low) / bins
    heights, _, _ = ax.hist(
        values, bins=np.linspace(low, high, bins + 1),
        weights=np.full(values.size, 1.0 / (values.size * width)),
        color="lightgrey", edgecolor="white",
    )  # fmt: skip
    ax.set_xlim(low, high)
    texts = [
        f"{name}: {row['label']}\n{row['median']:.2f} ({row['lower']:.2f}, {row['upper']:.2f})"
        for name, row in extremes.iterrows()
    ]
    _annotate_lines(ax, extremes["median"].to_numpy(), texts, data_top=float(np.max(heights)))
    _mark_beyond(ax, values, low, high)
    ax.set_xlabel(
        f"group effect of {effect_name(est, treatment)} on {outcome_name(est)} "
        f"({posterior.scale_name(scale)})"
    )
    ax.set_ylabel("posterior density")
    ax.set_title(f"Effects in {est.n_groups_} groups (all posterior draws)")
    return ax


def central_range(values, keep=(), mass=0.99, margin=0.1) -> tuple[float, float]:
    """Figure 2's x range: the values' central ``mass`` widened by ``margin`` of its width
    each side (never past the values' own extremes), always holding the points ``keep``
    (the annotated groups)."""
    values = np.asarray(values, dtype=float)
    tail = (1.0 - mass) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    keep = np.asarray(keep, dtype=float)
    if keep.size:
        low, high = min(low, keep.min()), max(high, keep.max())
    pad = margin * (high - low)
    low, high = max(low - pad, values.min()), min(high + pad, values.max())
    if high <= low:  # every draw equal
        low, high = low - 0.5, high + 0.5
    return float(low), float(high)


def _mark_beyond(ax, values, low, high) -> None:
    """The smallest and largest value, written at the axes' edges when beyond them."""
    smallest, largest = float(values.min()), float(values.max())
    if smallest < low:
        ax.annotate(f"\u2190 min {smallest:.2f}", xy=(0.01, 0.01), xycoords="axes fraction",
                    ha="left", va="bottom", fontsize=SMALL_FONT, color="dimgrey")  # fmt: skip
    if largest > high:
        ax.annotate(f"max {largest:.2f} \u2192", xy=(0.99, 0.01), xycoords="axes fraction",
                    ha="right", va="bottom", fontsize=SMALL_FONT, color="dimgrey")  # fmt: skip


def _annotate_lines(ax, positions, texts, *, data_top):
    """A vertical line at each position, labelled by a box in its own row above the data.

    The rows are offset in points (one box height each), so no layout change can make two
    boxes overlap; each box is centred on its line where it fits and slid inwards where it
    would cross the axes' edge (the line still runs through it: the rows are above the
    data); the y range grows so that the data stay below the boxes.
    """
    fontsize = SMALL_FONT
    n_lines = max(text.count("\n") + 1 for text in texts)
    # line height 1.2 em, box padding 0.3 em each side, 0.5 em between rows
    row = fontsize * (1.2 * n_lines + 0.6 + 0.5)
    axes_width, axes_height = _axes_size_points(ax)
    left, right = ax.get_xlim()
    for k, (position, text) in enumerate(zip(positions, texts, strict=True)):
        ax.axvline(position, color="black", linewidth=1)
        # DejaVu Sans averages about 0.6 em per character
        half = 0.6 * fontsize * max(len(part) for part in text.split("\n")) / 2 / axes_width
        at = (position - left) / (right - left)
        centre = float(np.clip(at, half + 0.01, 1 - half - 0.01))
        # x in axes fraction, y in points below the top of the axes: row k
        ax.annotate(
            text, xy=(position, 0.98), xycoords=("data", "axes fraction"),
            xytext=(centre, -k * row), textcoords=("axes fraction", "offset points"),
            fontsize=fontsize, ha="center", va="top",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.9},
        )  # fmt: skip
    # the boxes take the top len(texts) rows; 15% spare for the title and labels that the
    # layout may take from the axes later
    occupied = len(texts) * row / (0.85 * axes_height)
    ax.set_ylim(0, data_top / max(0.98 - occupied - 0.03, 0.2))


def _axes_size_points(ax) -> tuple[float, float]:
    figure_width, figure_height = ax.figure.get_size_inches()
    box = ax.get_position()
    return 72 * figure_width * box.width, 72 * figure_height * box.height


def plot_group_effects(est, *, x, rows=None, cols=None, hue=None, prob=0.95, scale="response",
                       treatment=None):  # fmt: skip
    """The note's Figure 3: group effects faceted by two modifiers, along a third, by a fourth.

    Parameters
    ----------
    est : HierarchicalHTE
        A fitted model.
    x : str
        Modifier on the horizontal axis.
    rows, cols : str, default=None
        Modifiers that split the figure into rows and columns of panels.
    hue : str, default=None
        Modifier that colours the points (slightly offset so bars do not overlap).
    prob : float, default=0.95
    scale : {"response", "link"}, default="response"
    treatment : str, default=None
        With more than one effect: draw this one only. Otherwise every effect
        gets its own panels: ``"treatment"`` can be given as ``x``, ``rows``,
        ``cols`` or ``hue`` like a modifier, and by default fills the first of
        ``cols``, ``rows`` and ``hue`` left free.

    Returns
    -------
    fig : matplotlib Figure
        Points at posterior medians and bars at the intervals, one per group.
    """
    plt = _pyplot()
    table = est.effect_by_group(prob=prob, scale=scale)
    if "treatment" in table.columns:
        if treatment is not None:
            effect = est.posterior_.effect_index(treatment)
            table = table[table["treatment"] == est.effect_names_[effect]]
        elif "treatment" not in (x, rows, cols, hue):
            if cols is None:
                cols = "treatment"
            elif rows is None:
                rows = "treatment"
            elif hue is None:
                hue = "treatment"
            else:
                raise ValueError(
                    f"the model has {len(est.effect_names_)} effects; pass treatment=<one of "
                    f"{est.effect_names_}> or free one of rows, cols and hue for them."
                )
    for name in (x, rows, cols, hue):
        if name is not None and name not in table.columns:
            raise ValueError(
                f"{name!r} is not a modifier; the modifiers are {est.design_.modifier_names}."
            )
    row_levels = _levels(table, rows)
    col_levels = _levels(table, cols)
    hue_levels = _levels(table, hue)
    x_levels = _levels(table, x)
    fig, axes = plt.subplots(
        len(row_levels), len(col_levels), squeeze=False, sharex=True, sharey=True,
        figsize=(3.2 * len(col_levels) + 1.2, 2.6 * len(row_levels) + 0.6), layout="constrained",
    )  # fmt: skip
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.6 / max(len(hue_levels), 1)
    for i, r in enumerate(row_levels):
        for j, c in enumerate(col_levels):
            ax = axes[i, j]
            panel = table[_is(table, rows, r) & _is(table, cols, c)]
            for k, h in enumerate(hue_levels):
                part = panel[_is(panel, hue, h)]
                position = [x_levels.index(v) for v in part[x]]
                offset = (k - (len(hue_levels) - 1) / 2) * width
                ax.errorbar(
                    np.asarray(position, float) + offset, part["median"],
                    yerr=[part["median"] - part["lower"], part["upper"] - part["median"]],
                    fmt="o", markersize=4, capsize=2, color=colours[k % len(colours)],
                    label=None if hue is None else f"{hue}={_fmt(h)}",
                )  # fmt: skip
            ax.axhline(0.0, color="grey", linestyle="--", linewidth=0.8)
            ax.set_xticks(range(len(x_levels)), [_fmt(v) for v in x_levels])
            title = ", ".join(f"{n}={_fmt(v)}" for n, v in ((rows, r), (cols, c)) if n is not None)
            ax.set_title(title, fontsize=SMALL_FONT + 1)
    for ax in axes[-1]:
        ax.set_xlabel(x)
    several = "treatment" in (rows, cols, hue, x)
    what = "effect" if several else f"effect of {effect_name(est, treatment)}"
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{what} on {outcome_name(est)}")
    fig.suptitle(
        f"{what[0].upper()}{what[1:]} on {outcome_name(est)} by group "
        f"({table.attrs.get('scale', 'outcome')} scale, {prob:.0%} intervals)",
        fontsize=SMALL_FONT + 2,
    )
    if hue is not None:
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=SMALL_FONT, loc="outside right upper")
    return fig


def _fmt(value) -> str:
    return (
        f"{value:g}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def _levels(table, name) -> list:
    if name is None:
        return [None]
    if name == "treatment":  # the effects, in the model's order
        return table[name].unique().tolist()
    return sorted(table[name].unique().tolist(), key=_sort_key)


def _sort_key(value):
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def _is(table, name, level) -> np.ndarray:
    return np.ones(len(table), dtype=bool) if name is None else (table[name] == level).to_numpy()


def plot_comparison(results, *, treatment=None, ax=None):
    """Group effects by method side by side, with the truth when known.

    Parameters
    ----------
    results : pandas.DataFrame
        A table from :func:`sklearn_hier.compare` (its group-level estimates are
        in ``results.attrs["group_effects"]``), or a long table with columns
        ``estimator``, ``group``, ``mean`` and optionally ``lower``, ``upper``
        and ``truth``.
    treatment : str, default=None
        The effect to draw, when the comparison has a ``treatment`` column
        (more than one effect).
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        Groups along x (ordered by the truth, or by the first method), one
        series of points with interval bars per method, and the truth as black
        crosses.
    """
    long = pd.DataFrame(results.attrs.get("group_effects", results))
    missing = {"estimator", "group", "mean"} - set(long.columns)
    if missing:
        raise ValueError(
            f"plot_comparison needs columns estimator, group and mean; {sorted(missing)} are "
            "missing. Pass the table compare() returns."
        )
    if "treatment" in long.columns:
        effects = list(dict.fromkeys(long["treatment"]))
        if treatment not in effects:
            raise ValueError(f"the comparison has effects {effects}; pass treatment=<one of them>.")
        long = long[long["treatment"] == treatment]
    methods = list(dict.fromkeys(long["estimator"]))
    first = long[long["estimator"] == methods[0]].set_index("group")
    order_by = (
        first["truth"] if "truth" in first and first["truth"].notna().all() else first["mean"]
    )
    groups = list(order_by.sort_values().index)
    position = pd.Series(np.arange(len(groups)), index=groups)
    # about 0.16 in per group keeps the group labels apart at the smallest readable size,
    # and the rotated labels get their own height below the plotting area
    label_height = 0.6 * SMALL_FONT / 72 * max(len(str(g)) for g in groups)
    ax = _axes(ax, figsize=(max(6.4, 2.5 + 0.16 * len(groups)), 3.6 + label_height))
    width = 0.7 / len(methods)
    for k, method in enumerate(methods):
        part = long[long["estimator"] == method]
        xs = position.loc[part["group"]].to_numpy() + (k - (len(methods) - 1) / 2) * width
        if {"lower", "upper"} <= set(part.columns) and part["lower"].notna().all():
            err = [part["mean"] - part["lower"], part["upper"] - part["mean"]]
        else:
            err = None
        ax.errorbar(xs, part["mean"], yerr=err, fmt="o", markersize=3, capsize=1.5, label=method)
    if "truth" in first and first["truth"].notna().all():
        ax.plot(position.loc[groups], first["truth"].loc[groups], "kx", markersize=6, label="truth")
    ax.set_xticks(position.to_numpy(), [str(g) for g in groups], rotation=90, fontsize=SMALL_FONT)
    ax.set_ylabel("group effect" if treatment is None else f"group effect of {treatment}")
    ax.legend(fontsize=SMALL_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_blp(report, *, ax=None):
    """The best-linear-predictor test of :func:`sklearn_hier.validation.validate`.

    Parameters
    ----------
    report : ValidationReport
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        The heterogeneity slope with its interval against the two references: 0 (the
        estimates say nothing about who responds) and 1 (they are calibrated).
    """
    row = report.blp.loc["heterogeneity"]
    ax = _axes(ax, figsize=(6.4, 2.2))
    ax.errorbar([row["estimate"]], [0], xerr=[[row["estimate"] - row["lower"]],
                [row["upper"] - row["estimate"]]], fmt="o", color="black", capsize=4)  # fmt: skip
    # both references in view, each labelled on the side facing the other
    low, high = min(row["lower"], 0.0), max(row["upper"], 1.0)
    pad = 0.1 * (high - low)
    ax.set_xlim(low - pad, high + pad)
    for reference, label, side in ((0.0, "no heterogeneity", 1), (1.0, "calibrated", -1)):
        ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
        ax.annotate(label, xy=(reference, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(3 * side, -3), textcoords="offset points", va="top",
                    ha="left" if side > 0 else "right", fontsize=SMALL_FONT,
                    color="grey")  # fmt: skip
    ax.set_yticks([])
    ax.set_xlabel(f"heterogeneity slope (BLP), {report.prob:.0%} interval")
    ax.set_title("Do the estimates predict who responds?")
    return ax


def plot_calibration(report, *, ax=None):
    """Predicted against observed effect by quantile group of the estimates (GATES).

    Parameters
    ----------
    report : ValidationReport
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        One point per group: the mean estimate (x, with its interval for Bayesian
        models) and the mean doubly-robust pseudo-outcome (y, with its interval);
        calibrated estimates lie on the diagonal.
    """
    table = report.calibration
    ax = _axes(ax, figsize=(5.2, 4.6))
    ax.errorbar(
        table["predicted"], table["observed"],
        xerr=[table["predicted"] - table["predicted_lower"],
              table["predicted_upper"] - table["predicted"]],
        yerr=[table["observed"] - table["lower"], table["upper"] - table["observed"]],
        fmt="o", color="black", capsize=3,
    )  # fmt: skip
    low = float(min(table["lower"].min(), table["predicted_lower"].min()))
    high = float(max(table["upper"].max(), table["predicted_upper"].max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("predicted effect (mean estimate in the group)")
    ax.set_ylabel("observed effect (mean pseudo-outcome)")
    ax.set_title(f"Calibration by quantile group ({len(table)} groups)")
    return ax


def plot_uplift(report, *, ax=None):
    """The targeting operator characteristic (TOC) curve with its interval band.

    Parameters
    ----------
    report : ValidationReport
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        For each fraction of rows treated first (largest estimates first), their mean
        effect minus the average effect (from the pseudo-outcomes, with its interval
        band) beside what the model's own effects predict for the same rows; above 0
        means the ranking finds responders.
    """
    table = report.uplift
    fractions = table.index.to_numpy(dtype=float)
    ax = _axes(ax)
    ax.fill_between(fractions, table["lower"], table["upper"], color="lightgrey",
                    label=f"{report.prob:.0%} interval")  # fmt: skip
    ax.plot(fractions, table["toc"], "o-", color="black", label="TOC")
    if "predicted" in table:  # the model's own uplift for the same rows, for comparison
        ax.plot(fractions, table["predicted"], "s--", color="tab:blue", markersize=4,
                label="predicted by the model")  # fmt: skip
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("fraction treated first (largest estimated effects first)")
    ax.set_ylabel("their effect minus the average effect")
    ax.legend(fontsize=SMALL_FONT)
    ax.set_title("Uplift of targeting by the estimates")
    return ax


__all__ = [
    "plot_blp", "plot_calibration", "plot_coefficients", "plot_comparison",
    "plot_effect_distribution", "plot_group_effects", "plot_uplift",
]  # fmt: skip


#: Above this many groups the check is drawn as a strip without group labels.
MAX_LABELLED_GROUPS = 30


def plot_group_difference_check(table, *, ax=None):
    """Each group's observed treated-minus-control difference (a point) against the
    interval of its replications (a line), from
    :func:`sklearn_hier.predictive_checks.group_difference_check`; groups outside their
    interval are drawn in red. Groups with no rows in one arm have no difference and
    are left out.

    Up to 30 groups are drawn one per labelled row. More are drawn as a strip, ordered
    by their replications' mean, with only the groups outside their interval labelled.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    skip = {"n_treated", "n_control", "observed", "replicated_mean", "lower", "upper",
            "p_value", "outside", "treatment"}  # fmt: skip
    table = table[np.isfinite(table["observed"].to_numpy(dtype=float))].reset_index(drop=True)
    labels = [
        ", ".join(f"{c}={_fmt(row[c])}" for c in table.columns if c not in skip)
        for _, row in table.iterrows()
    ]
    outside = table["outside"].to_numpy(dtype=bool)
    labelled = len(table) <= MAX_LABELLED_GROUPS
    if labelled:
        ax = _axes(ax, figsize=(6.4, max(2.5, 0.28 * len(table) + 1.2)))
        positions = np.arange(len(table))[::-1]
        ax.hlines(positions, table["lower"], table["upper"], color="0.6", lw=2,
                  label="replicated (interval)")  # fmt: skip
        observed = (table["observed"], positions)
    else:
        ax = _axes(ax, figsize=(6.4, 4.2))
        order = np.argsort(np.argsort(table["replicated_mean"].to_numpy()))
        positions = order.astype(float)
        ax.vlines(positions, table["lower"], table["upper"], color="0.6", lw=1.5,
                  label="replicated (interval)")  # fmt: skip
        observed = (positions, table["observed"])
    x, y = (np.asarray(v, dtype=float) for v in observed)
    ax.plot(x[~outside], y[~outside], "o", color="C0", ms=3 if not labelled else 6,
            label="observed")  # fmt: skip
    if outside.any():
        ax.plot(x[outside], y[outside], "o", color="C3", ms=4 if not labelled else 6,
                label="observed, outside")  # fmt: skip
    name = "treated minus control, mean outcome"
    if labelled:
        ax.set_yticks(positions, labels, fontsize=SMALL_FONT)
        ax.set_xlabel(name)
    else:
        for i, k in enumerate(np.flatnonzero(outside)):  # alternate up and down: neighbours
            ax.annotate(labels[k], (x[k], y[k]), fontsize=SMALL_FONT,
                        xytext=(4, 7 if i % 2 else -7), textcoords="offset points",
                        va="center")  # fmt: skip
        ax.set_xticks([])
        ax.set_xlabel(f"{len(table)} groups, ordered by the mean of their replications")
        ax.set_ylabel(name)
    ax.legend(fontsize=SMALL_FONT, loc="best")
    return ax


def plot_prior_effects(prior, *, prob=0.95, scale="response", bins=60, ax=None):
    """The group effects the priors allow, before the data: every group's effect over
    :meth:`HierarchicalHTE.sample_prior`'s draws, pooled, with their central ``prob``
    interval shaded and, on the response scale, dashed lines at plus and minus the
    observed outcome's range (effects beyond them are larger than anything the outcome
    can show). See :func:`sklearn_hier.prior_checks.prior_effect_summary` for the table.

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    from .prior_checks import prior_effect_summary

    check_prob(prob)
    table = prior_effect_summary(prior, prob=prob, scale=scale)
    name = table.attrs["quantity"]
    values = prior.prior[name].values.reshape(-1)
    tail = (1.0 - prob) / 2.0
    lower, upper = np.quantile(values, [tail, 1.0 - tail])
    span = None
    if scale == "response":
        observed = prior.observed_data["y"].values
        if name == "group_effect" and "cutpoints" in prior.prior:
            observed = np.arange(prior.prior.sizes["cutpoints_dim_0"] + 1)
        span = float(np.ptp(observed))
    keep = (lower, upper) if span is None else (lower, upper, -span, span)
    low, high = central_range(values, keep=keep)
    ax = _axes(ax)
    shown = values[(values >= low) & (values <= high)]
    ax.hist(shown, bins=bins, range=(low, high), color="0.7", edgecolor="white", lw=0.3)
    ax.axvspan(lower, upper, color="C0", alpha=0.15, lw=0,
               label=f"central {prob:.0%} of the prior's effects")  # fmt: skip
    if span is not None:
        label = "\u00b1 the observed outcome's range"
        for sign in (-1, 1):
            ax.axvline(sign * span, color="C3", ls="--", lw=1, label=label if sign > 0 else None)
    _mark_beyond(ax, values, low, high)
    shown_scale = "link scale" if name == "group_effect" and scale == "link" else "outcome"
    ax.set_xlabel(f"group effect under the priors alone ({shown_scale})")
    ax.set_ylabel("draws x groups")
    ax.set_yticks([])
    ax.set_title(f"{prob:.0%} of the priors' group effects lie in [{lower:.2g}, {upper:.2g}]",
                 fontsize=9)  # fmt: skip
    ax.legend(fontsize=SMALL_FONT, loc="upper right")
    return ax
