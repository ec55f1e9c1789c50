"""Side-by-side comparison of effect estimators on the same data, with or without the truth."""

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._design import Design, group_labels
from ._effect_vocabulary import NoIntervalsError
from ._treatment import coding_of, encode_for
from ._validation import as_frame, column_vector, numeric_outcome
from .metrics import RLossScorer, interval_coverage, interval_width, pehe, r_score

COLUMNS = [
    "estimator", "fit_seconds", "n_groups", "group_rmse", "pehe", "coverage",
    "interval_width", "r_score",
]  # fmt: skip


def _named(estimators) -> dict:
    if isinstance(estimators, Mapping):
        return dict(estimators)
    named = {}
    for est in estimators:
        name = type(est).__name__
        if getattr(est, "kind", None):
            name = f"{name}({est.kind})"
        while name in named:
            name += "'"
        named[name] = est
    return named


def _row_groups(groups, frame: pd.DataFrame, estimators: dict) -> tuple[np.ndarray, list]:
    """Group index of every row and each group's label.

    From given row labels, given columns, or the first estimator's modifiers.
    """
    if groups is None:
        first = next((e for e in estimators.values() if getattr(e, "modifiers", None)), None)
        if first is None:
            raise ValueError(
                "compare needs groups: pass groups= (row labels or column names), or "
                "estimators with modifiers."
            )
        design, row_group = Design.learn(
            frame, modifiers=first.modifiers, group_predictors=None, bins=first.bins
        )
        return row_group, design.group_labels
    if isinstance(groups, list | tuple) and all(c in frame.columns for c in groups):
        grouped = frame.groupby(list(groups), sort=True)
        labels = group_labels(grouped[list(groups)].first().reset_index(drop=True), list(groups))
        return grouped.ngroup().to_numpy(), labels
    codes, uniques = pd.factorize(column_vector(groups, name="groups", n_rows=frame.shape[0]),
                                  sort=True)  # fmt: skip
    return codes, [str(u) for u in uniques]


def _group_estimates(est, frame, row_group, prob) -> np.ndarray:
    """(n_groups, 3): each group's average effect over its rows, and its interval (or NaN)."""
    order = np.argsort(row_group, kind="stable")
    blocks = np.split(order, np.cumsum(np.bincount(row_group))[:-1])
    parts = [frame.iloc[rows] for rows in blocks]
    out = np.full((len(blocks), 3), np.nan)
    out[:, 0] = [est.ate(part) for part in parts]
    try:
        out[:, 1:] = [est.ate_interval(part, alpha=1 - prob) for part in parts]
    except NoIntervalsError:
        pass
    return out


def compare(
    estimators, X, y, treatment, *, true_effect=None, groups=None, prob=0.95, r_loss_cv=5,
    random_state=0,
) -> pd.DataFrame:  # fmt: skip
    """Fit several effect estimators on the same data and tabulate how well each did.

    Parameters
    ----------
    estimators : list of estimators or dict of name -> estimator
        Unfitted estimators with the HierarchicalHTE interface (``fit(X, y,
        treatment)``, ``predict_effect``, ``ate`` and ``ate_interval``); each is
        cloned before fitting.
    X, y, treatment
        The data, as for ``fit``.
    true_effect : array-like of shape (n_samples,), default=None
        The true effect of every row (simulations). Without it the table has
        the R-loss score only.
    groups : array-like of row labels, list of column names, or None
        The groups whose effects are compared. ``None`` uses the first
        estimator's ``modifiers`` and ``bins``.
    prob : float, default=0.95
        Interval coverage asked of every method.
    r_loss_cv : int, default=5
        Cross-fitting folds of the R-loss nuisance models (without truth).
    random_state : int, default=0
        Seed of the R-loss folds.

    Returns
    -------
    table : pandas.DataFrame
        One row per estimator: ``fit_seconds``; ``n_groups``; with truth, the
        ``group_rmse`` of the group average effects, the row-level ``pehe``,
        the ``coverage`` and mean ``interval_width`` of the group intervals (NaN
        for methods without intervals); without truth, ``r_score`` (higher is
        better; see :func:`sklearn_hier.metrics.r_score`). With truth,
        ``pd.DataFrame(table.attrs["group_effects"])`` holds every method's
        group estimates and intervals beside the truth (what
        :func:`~sklearn_hier.plotting.plot_comparison` draws).

    Examples
    --------
    >>> from sklearn_hier import compare
    >>> from sklearn_hier.baselines import InteractionHTE
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> data = make_grouped_hte(500, random_state=0)
    >>> table = compare([InteractionHTE(modifiers=data.modifiers)], data.X, data.y,
    ...                 data.treatment, true_effect=data.true_effect)
    >>> list(table["estimator"])
    ['InteractionHTE']
    """
    frame = as_frame(X)
    outcome = numeric_outcome(y, n_rows=frame.shape[0])
    named = _named(estimators)
    row_group, labels = _row_groups(groups, frame, named)
    truth = None
    if true_effect is not None:
        truth = column_vector(true_effect, name="true_effect", n_rows=frame.shape[0])
        truth = truth.astype(float)
        group_truth = np.bincount(row_group, weights=truth) / np.bincount(row_group)
    residuals = None  # R-loss residuals, with the treatment coded as the estimators coded it
    rows, group_tables = [], []
    for name, est in named.items():
        est = clone(est)
        started = time.perf_counter()
        est.fit(frame, outcome, treatment=treatment)
        seconds = time.perf_counter() - started
        effect = est.predict_effect(frame)
        if truth is None and residuals is None:
            residuals = RLossScorer(cv=r_loss_cv, random_state=random_state).residuals(
                frame, outcome, treatment, coding=coding_of(est)
            ) + (encode_for(est, treatment, n_rows=frame.shape[0]),)
        if truth is None:
            coded = encode_for(est, treatment, n_rows=frame.shape[0])
            if not np.array_equal(coded, residuals[2]):
                raise ValueError(
                    f"{name} reads the treatment differently from the first estimator (check "
                    "treated_value): every estimator must code it the same way."
                )
            y_res, t_res = residuals[0], residuals[1]
        record = dict.fromkeys(COLUMNS, np.nan)
        record.update(estimator=name, fit_seconds=seconds, n_groups=int(row_group.max()) + 1)
        if truth is None:
            record["r_score"] = r_score(y_res, t_res, effect)
        else:
            estimates = _group_estimates(est, frame, row_group, prob)
            record["group_rmse"] = pehe(group_truth, estimates[:, 0])
            record["pehe"] = pehe(truth, effect)
            if not np.isnan(estimates[:, 1:]).any():
                lower, upper = estimates[:, 1], estimates[:, 2]
                record["coverage"] = interval_coverage(group_truth, lower, upper)
                record["interval_width"] = interval_width(lower, upper)
            group_tables.append(
                pd.DataFrame(
                    {
                        "estimator": name,
                        "group": labels,
                        "truth": group_truth,
                        "mean": estimates[:, 0],
                        "lower": estimates[:, 1],
                        "upper": estimates[:, 2],
                    }
                )  # fmt: skip
            )
        rows.append(record)
    table = pd.DataFrame(rows, columns=COLUMNS)
    if group_tables:  # for plot_comparison: every method's group estimates and the truth
        # plain lists: pandas compares attrs when frames are combined
        table.attrs["group_effects"] = pd.concat(group_tables, ignore_index=True).to_dict("list")
    return table


def compare_replications(
    estimators, simulate: Callable, *, n_replications=20, prob=0.95, random_state=0,
    groups_from_truth=True,
) -> pd.DataFrame:  # fmt: skip
    """Repeat :func:`compare` on fresh simulated data sets.

    Parameters
    ----------
    estimators : list or dict
        As for :func:`compare`.
    simulate : callable
        ``simulate(random_state=seed)`` returns a data set with ``X``, ``y``, ``treatment``,
        ``true_effect`` and ``group`` attributes (e.g. a partial of
        :func:`sklearn_hier.datasets.make_grouped_hte`).
    n_replications : int, default=20
    prob : float, default=0.95
    random_state : int, default=0
        Seed of the first replication; replication ``r`` uses ``random_state + r``.
    groups_from_truth : bool, default=True
        Compare on the simulation's true groups (``data.group``); otherwise on
        the first estimator's groups.

    Returns
    -------
    table : pandas.DataFrame
        :func:`compare`'s columns plus ``replication``; summarise it with
        :func:`summarize_comparison`.
    """
    tables = []
    for r in range(int(n_replications)):
        data = simulate(random_state=random_state + r)
        table = compare(
            estimators, data.X, data.y, data.treatment, true_effect=data.true_effect,
            groups=data.group if groups_from_truth else None, prob=prob,
        )  # fmt: skip
        tables.append(table.assign(replication=r))
    return pd.concat(tables, ignore_index=True)


def summarize_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Mean of every measure per estimator over replications, with its Monte Carlo standard error.

    Returns
    -------
    summary : pandas.DataFrame
        Indexed by estimator (in their original order); columns ``<measure>``
        and ``<measure>_se`` for each measured column.
    """
    measures = [c for c in COLUMNS[1:] if c in table and table[c].notna().any()]
    grouped = table.groupby("estimator", sort=False)[measures]
    mean = grouped.mean()
    se = grouped.std(ddof=1) / np.sqrt(grouped.count())
    summary = pd.concat([mean, se.add_suffix("_se")], axis=1)
    return summary[[c for m in measures for c in (m, f"{m}_se")]]
