"""Side-by-side comparison of effect estimators on the same data, with or without the truth."""

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._base.input_checks import as_frame, by_position, check_aligned, column_vector, numeric_outcome
from ._data.design import Design, group_labels
from ._data.treatment import TreatmentCoding, coding_of
from .metrics import (
    RLossScorer,
    interval_coverage,
    interval_width,
    pehe,
    r_score,
    true_effect_matrix,
)

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


def _group_estimates(est, frame, row_group, prob, treatment=None) -> np.ndarray:
    """(n_groups, 3): each group's average effect over its rows, and its interval (or NaN)."""
    order = np.argsort(row_group, kind="stable")
    blocks = np.split(order, np.cumsum(np.bincount(row_group))[:-1])
    return np.array([est.average_effect(frame.iloc[rows], prob=prob, treatment=treatment)
                     for rows in blocks])  # fmt: skip


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
    true_effect : array-like of shape (n_samples,) or DataFrame, default=None
        The true effect of every row (simulations); with more than one effect
        (multi-arm, several treatments) a DataFrame with one column per effect,
        matched by name (see :func:`sklearn_hier.metrics.true_effect_matrix`).
        Without it the table has the R-loss score only, which needs one binary
        treatment.
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
        better; see :func:`sklearn_hier.metrics.r_score`). With more than one
        effect, one row per estimator and effect, named in a ``treatment``
        column. With truth,
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
    check_aligned(X, y=y, treatment=treatment, true_effect=true_effect, groups=groups)
    frame, treatment = by_position(as_frame(X)), by_position(treatment)
    outcome = numeric_outcome(y, n_rows=frame.shape[0])
    named = _named(estimators)
    row_group, labels = _row_groups(groups, frame, named)
    truth = None
    residuals = None  # R-loss residuals, with the treatment coded as the estimators coded it
    first_coding = coded = None
    rows, group_tables = [], []
    for name, est in named.items():
        est = clone(est)
        started = time.perf_counter()
        est.fit(frame, outcome, treatment=treatment)
        seconds = time.perf_counter() - started
        coding = coding_of(est) or TreatmentCoding()  # one 0/1 treatment when it says none
        matrix = coding.encode_matrix(treatment, n_rows=frame.shape[0])
        if first_coding is None:
            first_coding, coded = coding, matrix
            if true_effect is not None:
                truth = true_effect_matrix(true_effect, coding.effect_names, n_rows=frame.shape[0])
                counts = np.bincount(row_group)
                group_truth = np.stack(
                    [np.bincount(row_group, weights=column) / counts for column in truth.T], 1
                )
            elif not coding.single_binary:
                raise ValueError(
                    f"without true_effect, compare scores by the R-loss, which needs one binary "
                    f"treatment; the treatment has effects {coding.effect_names}. Pass "
                    "true_effect (simulations)."
                )
        elif coding.effect_names != first_coding.effect_names or not np.array_equal(matrix, coded):
            raise ValueError(
                f"{name} reads the treatment differently from the first estimator (effects "
                f"{coding.effect_names} against {first_coding.effect_names}; check "
                "treated_value, control_value and treatment_type): every estimator must code "
                "it the same way."
            )
        if truth is not None:
            for k, effect_name in enumerate(coding.effect_names):
                record, table = _scored_against_truth(
                    est, frame, row_group, labels, prob, truth[:, k], group_truth[:, k],
                    effect_name if len(coding.effect_names) > 1 else None,
                )  # fmt: skip
                record.update(estimator=name, fit_seconds=seconds)
                rows.append(record)
                group_tables.append(table.assign(estimator=name))
            continue
        effect = est.predict_effect(frame)
        if residuals is None:
            residuals = RLossScorer(cv=r_loss_cv, random_state=random_state).residuals(
                frame, outcome, treatment, coding=coding
            )
        y_res, t_res = residuals[0], residuals[1]
        record = dict.fromkeys(COLUMNS, np.nan)
        record.update(estimator=name, fit_seconds=seconds, n_groups=int(row_group.max()) + 1)
        record["r_score"] = r_score(y_res, t_res, effect)
        rows.append(record)
    several = first_coding is not None and len(first_coding.effect_names) > 1
    table = pd.DataFrame(rows, columns=(["estimator", "treatment"] + COLUMNS[1:]) if several
                         else COLUMNS)  # fmt: skip
    if group_tables:  # for plot_comparison: every method's group estimates and the truth
        group_tables = [t[["estimator"] + [c for c in t if c != "estimator"]]
                        for t in group_tables]  # fmt: skip
        # plain lists: pandas compares attrs when frames are combined
        table.attrs["group_effects"] = pd.concat(group_tables, ignore_index=True).to_dict("list")
    return table


def _scored_against_truth(est, frame, row_group, labels, prob, truth, group_truth, effect_name):
    """One effect of a fitted estimator against the truth: the measures, and its group table."""
    estimates = _group_estimates(est, frame, row_group, prob, effect_name)
    effect = np.asarray(est.predict_effect(frame))
    if effect_name is not None:
        effect = effect[:, est.effect_names_.index(effect_name)]
    record = dict.fromkeys(COLUMNS, np.nan)
    record.update(n_groups=int(row_group.max()) + 1, group_rmse=pehe(group_truth, estimates[:, 0]),
                  pehe=pehe(truth, effect))  # fmt: skip
    if effect_name is not None:
        record["treatment"] = effect_name
    if not np.isnan(estimates[:, 1:]).any():
        lower, upper = estimates[:, 1], estimates[:, 2]
        record["coverage"] = interval_coverage(group_truth, lower, upper)
        record["interval_width"] = interval_width(lower, upper)
    table = pd.DataFrame({
        "group": labels, "truth": group_truth, "mean": estimates[:, 0],
        "lower": estimates[:, 1], "upper": estimates[:, 2],
    })  # fmt: skip
    if effect_name is not None:
        table.insert(0, "treatment", effect_name)
    return record, table


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
