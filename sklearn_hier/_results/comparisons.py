"""Questions asked of a fitted posterior: group against group, and effects in a population.

Each function takes a :class:`~sklearn_hier._results.posterior.FittedPosterior` and uses only its
public methods; ``HierarchicalHTE`` exposes them as methods with the same names.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._base.input_checks import as_frame, column_vector, find_columns
from .._data.design import group_labels
from .draw_summaries import summarize


def _matching_groups(groups: pd.DataFrame, values: Mapping, what: str) -> np.ndarray:
    """Indices of the groups whose modifiers equal ``values`` (a dict of modifier -> level)."""
    if not isinstance(values, Mapping) or not values:
        raise ValueError(
            f"{what} must be a dict of modifier values, e.g. {{'white': 1, 'male': 0}}; "
            f"got {values!r}."
        )
    find_columns(groups, list(values), param=what)
    match = np.ones(len(groups), dtype=bool)
    for name, level in values.items():
        column = groups[name]
        if pd.api.types.is_numeric_dtype(column):
            try:
                match &= np.isclose(column.to_numpy(dtype=float), float(level))
            except (TypeError, ValueError):
                match &= False
        else:
            match &= (column.astype(str) == str(level)).to_numpy()
    return np.flatnonzero(match)


def _one_group(groups: pd.DataFrame, values: Mapping, what: str) -> int:
    found = _matching_groups(groups, values, what)
    if found.size != 1:
        known = group_labels(groups.iloc[:5], [c for c in groups.columns
                                               if c not in ("n", "n_treated")])  # fmt: skip
        problem = "no training group" if found.size == 0 else f"{found.size} groups"
        raise ValueError(
            f"{what}={dict(values)} matches {problem}; give a level for every modifier so "
            f"that it names one group seen in training (e.g. {known[0]})."
        )
    return int(found[0])


def compare_groups(posterior, a, b=None, *, prob, scale="response", category=None):
    """Posterior of effect(a) - effect(b) for one pair of groups or a list of pairs."""
    pairs = [(a, b)] if b is not None else list(a)
    groups = posterior.groups
    index_pairs = [(_one_group(groups, x, "a"), _one_group(groups, y, "b")) for x, y in pairs]
    return _difference_table(posterior, index_pairs, prob, scale, category)


def contrast(posterior, modifier, level, reference, *, prob, scale="response", category=None):
    """Effect at ``level`` minus effect at ``reference`` within every other combination."""
    groups = posterior.groups
    find_columns(groups, [modifier], param="modifier")
    others = [m for m in posterior.design.modifier_names if m != modifier]
    at_level = _matching_groups(groups, {modifier: level}, "level")
    at_reference = _matching_groups(groups, {modifier: reference}, "reference")
    if at_level.size == 0 or at_reference.size == 0:
        missing = level if at_level.size == 0 else reference
        raise ValueError(
            f"modifier {modifier!r} has no level {missing!r} among the training groups; "
            f"its levels are {sorted(map(str, groups[modifier].unique()))}."
        )
    key = (
        groups[others].astype(str).agg("|".join, axis=1) if others else pd.Series("", groups.index)
    )
    reference_of = dict(zip(key.iloc[at_reference], at_reference, strict=True))
    index_pairs = [(i, reference_of[key.iloc[i]]) for i in at_level if key.iloc[i] in reference_of]
    table = _difference_table(posterior, index_pairs, prob, scale, category)
    rows = [i for i, _ in index_pairs] * posterior.n_effects  # the table is effect by effect
    keep = groups.iloc[rows][others].reset_index(drop=True)
    table = table.drop(columns=["a", "b"])
    if "treatment" in table:
        keep.insert(0, "treatment", table.pop("treatment"))
    return pd.concat([keep, table], axis=1)


def _difference_table(posterior, index_pairs, prob, scale, category) -> pd.DataFrame:
    """effect(a) - effect(b) per pair of groups, for every effect of the model."""
    first = np.array([i for i, _ in index_pairs], dtype=int)
    second = np.array([j for _, j in index_pairs], dtype=int)
    labels = posterior.group_labels
    tables = []
    for k in range(posterior.n_effects):
        draws = posterior.group_effect_draws(scale, category, k)
        difference = draws[:, first] - draws[:, second]
        summary = summarize(difference, prob).rename(columns={"prob_positive": "prob_a_greater"})
        summary.insert(0, "b", [labels[j] for j in second])
        summary.insert(0, "a", [labels[i] for i in first])
        tables.append(summary)
    return posterior.with_effect_column(tables)


def compare_arms(posterior, a, b, *, prob, scale="response", category=None):
    """Within every group: the effect of arm ``a`` minus that of arm ``b`` (both against the
    reference, so the reference cancels: arm a against arm b)."""
    # the arms as the treatment coding matches them: by value, as predict does
    first, second = (posterior.treatment.arm_index(arm) for arm in (a, b))

    def draws_of(effect):
        if effect is None:
            return 0.0  # the reference arm: no effect against itself
        return posterior.group_effect_draws(scale, category, effect)

    if first == second:
        raise ValueError(f"compare_arms needs two different arms; {a!r} and {b!r} are one.")
    difference = np.broadcast_to(
        draws_of(first) - draws_of(second), posterior.group_effect_draws(scale, category, 0).shape
    )
    groups = posterior.groups.reset_index(drop=True)
    summary = summarize(difference, prob).rename(columns={"prob_positive": "prob_a_greater"})
    table = pd.concat([groups.drop(columns=["n_treated"], errors="ignore"), summary], axis=1)
    table.insert(len(groups.columns) - ("n_treated" in groups.columns), "b", str(b))
    table.insert(len(groups.columns) - ("n_treated" in groups.columns), "a", str(a))
    table.attrs["scale"] = posterior.scale_name(scale, category)
    return table


def population_effect(
    posterior, X=None, *, weights=None, population=None, by=None, prob, scale="response",
    return_draws=False,
):  # fmt: skip
    """Average effect over a sample (weighted) or a poststratification table, and by level."""
    tables, all_draws = [], []
    for k in range(posterior.n_effects):
        table, draws = _population_table(posterior, X, weights, population, by, prob, scale, k)
        tables.append(table)
        all_draws.append(draws)
    table = posterior.with_effect_column(tables)
    return (table, np.concatenate(all_draws, axis=1)) if return_draws else table


def _population_table(posterior, X, weights, population, by, prob, scale, effect):
    row_weights, row_levels, draws = _population_rows(
        posterior, X, weights, population, scale, effect
    )
    by = [by] if isinstance(by, str) else list(by or [])
    find_columns(row_levels, by, param="by")
    columns = [np.ones(len(row_weights), dtype=bool)]
    labels = [dict.fromkeys(by)]
    keys = by[0] if len(by) == 1 else by  # a list of one gives tuple keys
    for level, rows in row_levels.groupby(keys, sort=True).indices.items() if by else []:
        mask = np.zeros(len(row_weights), dtype=bool)
        mask[rows] = True
        columns.append(mask)
        level = level if isinstance(level, tuple) else (level,)
        labels.append(dict(zip(by, level, strict=True)))
    masks = np.stack(columns, axis=1) * row_weights[:, None]  # (rows, K)
    totals = masks.sum(axis=0)
    averages = (draws @ masks) / totals
    levels = pd.DataFrame(labels, columns=by)
    for name in by:  # the overall row has no level: integers stay integers beside it
        if pd.api.types.is_integer_dtype(row_levels[name]):
            levels[name] = levels[name].astype("Int64")
    table = pd.concat([levels, pd.DataFrame({"weight": totals}), summarize(averages, prob)], axis=1)
    return table, averages


def _population_rows(posterior, X, weights, population, scale, effect):
    """Per row of the averaged table: weight, modifier levels, and effect draws (S, rows)."""
    names = posterior.design.modifier_names
    if population is not None:
        if X is not None or weights is not None:
            raise ValueError("pass either population= (a table with counts) or X/weights.")
        table = as_frame(population, name="population")
        find_columns(table, ["count"], param="population (its count column)")
        counts = column_vector(table["count"], name="population['count']", n_rows=len(table))
        counts = counts.astype(float)
        if not np.isfinite(counts).all() or (counts < 0).any() or counts.sum() <= 0:
            raise ValueError("population['count'] must be finite, non-negative, and not all 0.")
        assignment = posterior.assign(table)
        draws = posterior.part_draws(assignment, "effect", effect)
        if not posterior.on_link_scale(scale):
            if not (assignment.row_group < posterior.n_groups).all():
                raise ValueError(
                    "groups unseen in training have no response-scale effect without "
                    "controls; use scale='link' or drop them from population."
                )
            draws = posterior.group_effect_draws(scale, None, effect)
        levels = table[names].reset_index(drop=True)
        return counts, levels, draws[:, assignment.row_group]
    if X is None:
        if weights is not None:
            raise ValueError("weights need the rows they belong to: pass X as well.")
        groups = posterior.groups
        draws = posterior.group_effect_draws(scale, None, effect)
        return groups["n"].to_numpy(float), groups[names], draws
    frame = as_frame(X)
    if isinstance(weights, str):
        find_columns(frame, [weights], param="weights")
        weights = frame[weights]
    w = (
        np.ones(len(frame))
        if weights is None
        else column_vector(weights, name="weights", n_rows=len(frame)).astype(float)
    )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative.")
    return posterior.weighted_group_draws(frame, w, scale, None, effect)
