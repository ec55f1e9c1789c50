"""Questions asked of a fitted model: group against group, and effects in a population."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.utils.validation import check_is_fitted

from ._design import group_labels
from ._summary import check_prob, summarize
from ._validation import as_frame, column_vector, find_columns


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
        known = group_labels(groups.iloc[:5], list(groups.columns[:-2]))
        problem = "no training group" if found.size == 0 else f"{found.size} groups"
        raise ValueError(
            f"{what}={dict(values)} matches {problem}; give a level for every modifier so "
            f"that it names one group seen in training (e.g. {known[0]})."
        )
    return int(found[0])


class ReportingMixin:
    """Group comparisons and population (poststratified) effects from the posterior draws."""

    def compare_groups(self, a, b=None, *, prob=0.95, scale="response", category=None):
        """Posterior of the difference in effect between two groups (or many pairs).

        Parameters
        ----------
        a, b : dict of modifier -> level
            The two groups, e.g. ``{"white": 1, "male": 1, "intl": 5, "hawk": 1}``.
            For many pairs pass a list of ``(a, b)`` tuples as ``a`` and leave ``b``.
        prob : float, default=0.95
            Mass of the credible interval.
        scale, category
            As in :meth:`effect_by_group`.

        Returns
        -------
        table : pandas.DataFrame
            One row per pair: ``a`` and ``b`` (group labels), then the posterior
            ``mean``, ``median``, ``sd``, ``lower``, ``upper`` of effect(a) -
            effect(b), and ``prob_a_greater`` = P(effect(a) > effect(b)).

        Examples
        --------
        >>> from sklearn_hier import HierarchicalHTE
        >>> from sklearn_hier.datasets import load_tomz_weeks
        >>> df = load_tomz_weeks()
        >>> X = df[["white", "male", "intl", "regime", "stakes"]]
        >>> est = HierarchicalHTE(modifiers=["white", "male", "intl"], random_state=0)
        >>> est = est.fit(X, df["force"], treatment=df["alliance"])
        >>> diff = est.compare_groups({"white": 1, "male": 1, "intl": 5},
        ...                           {"white": 0, "male": 0, "intl": 1})
        >>> diff[["a", "b"]].values.tolist()
        [['white=1, male=1, intl=5', 'white=0, male=0, intl=1']]
        """
        check_is_fitted(self)
        prob = check_prob(prob)
        pairs = [(a, b)] if b is not None else list(a)
        groups = self.groups_
        index_pairs = [(_one_group(groups, x, "a"), _one_group(groups, y, "b")) for x, y in pairs]
        return self._difference_table(index_pairs, prob, scale, category)

    def contrast(self, modifier, level, reference, *, prob=0.95, scale="response", category=None):
        """Effect at ``level`` minus effect at ``reference`` of one modifier, within every
        combination of the other modifiers (e.g. white vs non-white in each other group).

        Parameters
        ----------
        modifier : str
            The modifier to contrast along.
        level, reference : scalar
            Its two levels; the difference is effect(level) - effect(reference).
        prob, scale, category
            As in :meth:`compare_groups`.

        Returns
        -------
        table : pandas.DataFrame
            One row per combination of the other modifiers in which both groups
            were seen in training: those modifiers, then as :meth:`compare_groups`.
        """
        check_is_fitted(self)
        prob = check_prob(prob)
        groups = self.groups_
        find_columns(groups, [modifier], param="modifier")
        others = [m for m in self.design_.modifier_names if m != modifier]
        at_level = _matching_groups(groups, {modifier: level}, "level")
        at_reference = _matching_groups(groups, {modifier: reference}, "reference")
        if at_level.size == 0 or at_reference.size == 0:
            missing = level if at_level.size == 0 else reference
            raise ValueError(
                f"modifier {modifier!r} has no level {missing!r} among the training groups; "
                f"its levels are {sorted(map(str, groups[modifier].unique()))}."
            )
        key = (
            groups[others].astype(str).agg("|".join, axis=1)
            if others
            else pd.Series("", groups.index)
        )
        reference_of = dict(zip(key.iloc[at_reference], at_reference, strict=True))
        index_pairs = [
            (i, reference_of[key.iloc[i]]) for i in at_level if key.iloc[i] in reference_of
        ]
        table = self._difference_table(index_pairs, prob, scale, category)
        keep = groups.iloc[[i for i, _ in index_pairs]][others].reset_index(drop=True)
        return pd.concat([keep, table.drop(columns=["a", "b"])], axis=1)

    def _difference_table(self, index_pairs, prob, scale, category) -> pd.DataFrame:
        draws = self._group_effect_draws(scale, category)
        first = np.array([i for i, _ in index_pairs], dtype=int)
        second = np.array([j for _, j in index_pairs], dtype=int)
        difference = draws[:, first] - draws[:, second]
        summary = summarize(difference, prob).rename(columns={"prob_positive": "prob_a_greater"})
        labels = self.design_.group_labels
        summary.insert(0, "b", [labels[j] for j in second])
        summary.insert(0, "a", [labels[i] for i in first])
        return summary

    def population_effect(
        self, X=None, *, weights=None, population=None, by=None, prob=0.95, scale="response",
        return_draws=False,
    ):  # fmt: skip
        """Average treatment effect in a population: sample-weighted or poststratified.

        Parameters
        ----------
        X : pandas.DataFrame, default=None
            Rows to average over (e.g. the survey sample), with the modifiers
            (and, off the Gaussian family, the controls). ``None`` with no
            ``population`` uses the training groups weighted by their sizes.
        weights : array-like of shape (n_samples,) or column name, default=None
            Row weights (e.g. the survey's ``weight``); with ``X``.
        population : pandas.DataFrame, default=None
            Poststratification table: one row per group with its modifiers and a
            ``count`` column (population counts or shares). Groups not seen in
            training get effects drawn from the population model.
        by : str or list of str, default=None
            Also report the average within each level of these modifiers
            (sub-populations).
        prob : float, default=0.95
            Mass of the credible interval.
        scale : {"response", "link"}, default="response"
            As in :meth:`predict_effect`; poststratification tables carry no
            controls, so off the Gaussian family they use the link scale or
            each group's response-scale effect over its training rows.
        return_draws : bool, default=False
            Also return the draws (n_draws, n_rows of the table).

        Returns
        -------
        table : pandas.DataFrame
            The population row first (``by`` columns empty), then one row per
            level of ``by``: ``weight`` (total), ``mean``, ``median``, ``sd``,
            ``lower``, ``upper``, ``prob_positive``.
        draws : ndarray
            Only with ``return_draws=True``.
        """
        check_is_fitted(self)
        prob = check_prob(prob)
        row_weights, row_levels, draws = self._population_rows(X, weights, population, scale)
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
        table = pd.concat(
            [pd.DataFrame(labels), pd.DataFrame({"weight": totals}), summarize(averages, prob)],
            axis=1,
        )
        return (table, averages) if return_draws else table

    def _population_rows(self, X, weights, population, scale):
        """Per row of the averaged table: weight, modifier levels, and effect draws (S, rows)."""
        if population is not None:
            if X is not None or weights is not None:
                raise ValueError("pass either population= (a table with counts) or X/weights.")
            table = as_frame(population, name="population")
            find_columns(table, ["count"], param="population (its count column)")
            counts = column_vector(table["count"], name="population['count']", n_rows=len(table))
            counts = counts.astype(float)
            if not np.isfinite(counts).all() or (counts < 0).any() or counts.sum() <= 0:
                raise ValueError("population['count'] must be finite, non-negative, and not all 0.")
            row_group, draws = self._group_draws(table, "effect")
            if not self._on_link_scale(scale, None):
                known = row_group < self.n_groups_
                if not known.all():
                    raise ValueError(
                        "groups unseen in training have no response-scale effect without "
                        "controls; use scale='link' or drop them from population."
                    )
                draws = self._group_effect_draws(scale, None)
            levels = table[self.design_.modifier_names].reset_index(drop=True)
            return counts, levels, draws[:, row_group]
        if X is None:
            if weights is not None:
                raise ValueError("weights need the rows they belong to: pass X as well.")
            levels = self.groups_[self.design_.modifier_names]
            return self.groups_["n"].to_numpy(float), levels, self._group_effect_draws(scale, None)
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
        return self._weighted_group_draws(frame, w, scale)

    def _weighted_group_draws(self, frame: pd.DataFrame, w: np.ndarray, scale, category=None):
        """Rows collapsed to their groups: total weight, levels, and the draws (S, groups)
        of each group's weighted mean effect over its rows."""
        row_group, new_groups = self._assign(frame)
        n_all = self.n_groups_ + len(new_groups)
        totals = np.bincount(row_group, weights=w, minlength=n_all)
        present = np.flatnonzero(np.bincount(row_group, minlength=n_all))
        if self._on_link_scale(scale, category):  # one effect per group
            group_draws = self._part_draws(new_groups, "effect")[:, present]
        else:  # row effects differ within a group (controls): weighted sums per group
            indicator = sparse.csr_matrix(
                (w, (np.arange(len(frame)), row_group)), shape=(len(frame), n_all)
            )
            sums = 0.0
            assigned = (row_group, new_groups)
            for rows, intercepts, effects, controls, exposure in self._row_blocks(
                frame, assigned=assigned
            ):
                block = self._response_effect_draws(
                    intercepts, effects, controls, exposure, category
                )
                sums = sums + (indicator[rows].T @ block.T).T
            safe = np.where(totals[present] > 0, totals[present], 1.0)
            group_draws = np.asarray(sums)[:, present] / safe
        names = self.design_.modifier_names
        levels = pd.concat([self.groups_[names], new_groups[names]], ignore_index=True)
        return totals[present], levels.iloc[present].reset_index(drop=True), group_draws
