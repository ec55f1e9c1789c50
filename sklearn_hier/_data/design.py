"""From a data frame to the model's design: groups, group-level predictors and controls.

Groups are the unique combinations of the modifiers' levels. Each column that
enters the model is described by a :class:`ColumnCoding` learned at fit time
(levels, bin edges, categories), so that new data are encoded exactly as the
training data were and unseen categories are caught with a clear error.
"""

import functools
import hashlib
import warnings
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from .._base.coefficient_layout import CoefficientLayout
from .._base.input_checks import check_no_missing, find_columns
from .._base.threads import usable_cpus
from .coded_controls import CodedColumn, CodedControls, code_counts

#: Above this many groups the default NUTS fit is slow and memory hungry.
MANY_GROUPS = 20_000


def _is_numeric(series: pd.Series) -> bool:
    return is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype)


@dataclass
class ColumnCoding:
    """How one column of ``X`` is turned into levels and model columns.

    ``kind`` is ``"numeric"`` (used as given), ``"categorical"`` (one-hot with
    the first category as reference) or ``"binned"`` (a continuous column cut
    into intervals; each bin enters group-level predictors as the mean of the
    training values that fell in it, so its coefficient keeps the column's units).
    """

    name: Hashable
    kind: str
    categories: list = field(default_factory=list)
    edges: np.ndarray | None = None
    scores: np.ndarray | None = None

    @classmethod
    def learn(cls, series: pd.Series, bins=None, weights=None) -> "ColumnCoding":
        """The coding of a training column. ``weights``: each value stands for that many
        rows (a summary of distinct values); bin edges and scores are those of the rows."""
        return cls.learn_coded(series, bins, weights)[0]

    @classmethod
    def learn_coded(
        cls, series: pd.Series, bins=None, weights=None
    ) -> tuple["ColumnCoding", np.ndarray | None]:
        """The coding of a training column and each row's category (or bin) code under it,
        found in the same pass over the column (None for a numeric column)."""
        name = series.name
        if bins is not None:
            if not _is_numeric(series):
                raise ValueError(
                    f"bins given for column {name!r}, which is not numeric "
                    f"(dtype {series.dtype}); only numeric modifiers can be binned."
                )
            values = series.to_numpy(dtype=float)
            if np.ndim(bins) == 0:
                n_bins = int(bins)
                if n_bins < 2:
                    raise ValueError(f"bins for column {name!r} must be at least 2; got {bins}.")
                edges = np.unique(_quantiles(values, np.linspace(0, 1, n_bins + 1), weights))
            else:
                edges = np.unique(np.asarray(bins, dtype=float))
            if edges.size < 2:
                raise ValueError(
                    f"column {name!r} has too few distinct values to bin into {bins!r}; "
                    "use fewer bins or leave it unbinned."
                )
            codes = cls._bin_codes(values, edges)
            labels = cls._bin_labels(edges)
            # drop bins no training value fell in: a level with no rows cannot be a group
            index = codes.astype(np.intp)  # bincount's index type, converted once for both
            rows = np.bincount(index, minlength=edges.size - 1)
            used = np.flatnonzero(rows)
            if weights is None:
                totals, sums = rows, np.bincount(index, weights=values, minlength=rows.size)
            else:
                counts = np.asarray(weights, float)
                totals = np.bincount(index, weights=counts, minlength=rows.size)
                sums = np.bincount(index, weights=values * counts, minlength=rows.size)
            if (totals[used] == 0).any():  # as np.average says of weights that sum to zero
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            scores = sums[used] / totals[used]
            coding = cls(name, "binned", [labels[k] for k in used], edges, scores)
            return coding, coding._bin_positions_of_codes(codes)
        if is_bool_dtype(series) or _is_numeric(series):
            return cls(name, "numeric"), None
        codes, uniques = _factorized(series)
        if isinstance(series.dtype, pd.CategoricalDtype):
            # the categories the rows use, in the categorical's order
            declared = series.cat.categories
            present = _present_codes(codes, len(declared))
            categories = [c for c, used in zip(declared, present, strict=True) if used]
            position = np.where(present, np.cumsum(present) - 1, -1)
        else:
            values = uniques[:-1].tolist()
            order = sorted(range(len(values)), key=lambda i: str(values[i]))
            categories = [values[i] for i in order]
            position = np.empty(len(values), dtype=np.int64)
            position[order] = np.arange(len(values))
        # each distinct value's category, then each row's: a lookup over the few values
        lookup = np.full(len(uniques), -1, dtype=_code_dtype(len(categories)))
        lookup[: len(position)] = position
        return cls(name, "categorical", categories), _looked_up(lookup, codes)

    @staticmethod
    def _bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        # values beyond the outer edges fall into the outermost bins; a missing value, like
        # np.searchsorted's, into the last
        inner = edges[1:-1]
        if inner.size > FEW_EDGES:
            return np.searchsorted(inner, values, side="right")
        # the inner edges at or below each value, counted edge by edge: a few comparisons
        # in place stream the column at memory speed, where a search does not
        codes = np.full(values.shape, inner.size, dtype=np.int8)
        below = np.empty(values.shape, dtype=bool)
        for edge in inner:
            np.less(values, edge, out=below)
            codes -= below
        return codes

    @staticmethod
    def _bin_labels(edges: np.ndarray) -> list[str]:
        """Each bin's label, ``[low, high)`` (the last closed), its edges to 4 significant
        digits where those labels tell every bin apart (a saved model's bins are found by
        these labels), else to as many digits as tell every edge apart: edges that agree
        in their first digits (123456.2 and 123456.7) would label two bins alike, and one
        label names one level."""

        def labels(digits: int) -> list[str]:
            shown = [f"{edge:.{digits}g}" for edge in edges]
            last = edges.size - 2
            return [f"[{shown[k]}, {shown[k + 1]}{']' if k == last else ')'}"
                    for k in range(edges.size - 1)]  # fmt: skip

        four = labels(4)
        if len(set(four)) == len(four):
            return four
        for digits in range(5, 17):  # 17 significant digits tell any two doubles apart
            if len({f"{edge:.{digits}g}" for edge in edges}) == edges.size:
                return labels(digits)
        return labels(17)

    def levels_of(self, series: pd.Series) -> pd.Series:
        """Row values as levels: numbers for numeric, labels for binned and categorical."""
        if self.kind == "numeric":
            return series.astype(float)
        if self.kind == "binned":
            all_labels = self._bin_labels(self.edges)
            codes = self._bin_codes(series.to_numpy(dtype=float), self.edges)
            labels = np.asarray(all_labels, dtype=object)[codes]
            return pd.Series(labels, index=series.index, name=series.name)
        return series

    def codes(self, levels: pd.Series, *, strict: bool = True) -> np.ndarray:
        """Category codes of categorical or binned levels; unseen values raise (-1 when
        not ``strict``)."""
        return self.positions(levels, strict=strict).astype(np.int64)

    def positions(self, levels, *, strict: bool = True) -> np.ndarray:
        """:meth:`codes` in the narrowest integer type that holds them.

        Matched as a lookup of every value among the categories would match them, but
        looked up once per distinct value: each row costs a hash (a categorical's codes
        are already such indices) and an index into a small table.
        """
        codes, uniques = _factorized(levels)
        lookup = pd.Index(self.categories, dtype=object).get_indexer(uniques)
        positions = _looked_up(lookup.astype(_code_dtype(len(self.categories))), codes)
        self._check_seen(positions, levels, strict=strict)
        return positions

    def bin_positions(self, values: np.ndarray, *, strict: bool = True) -> np.ndarray:
        """:meth:`positions` of a binned column's values (its numbers, not their labels)."""
        positions = self._bin_positions_of_codes(self._bin_codes(values, self.edges))
        if strict and (positions < 0).any():
            self._check_seen(positions, self.levels_of(pd.Series(values, name=self.name)))
        return positions

    def _bin_positions_of_codes(self, codes: np.ndarray) -> np.ndarray:
        labels = self._bin_labels(self.edges)
        lookup = pd.Index(self.categories, dtype=object).get_indexer(
            np.asarray(labels, dtype=object)
        )
        # a bin without training rows has no position: -1, as an unseen category
        return _looked_up(np.append(lookup, -1).astype(codes.dtype), codes)

    def _check_seen(self, positions: np.ndarray, levels, *, strict: bool = True) -> None:
        unseen = positions < 0
        if strict and unseen.any():
            values = np.asarray(levels, dtype=object)[unseen]
            examples = sorted({str(v) for v in values})[:5]
            what = "bin" if self.kind == "binned" else "level"
            raise ValueError(
                f"column {self.name!r} has {what}(s) {examples} never seen in training "
                f"(known: {[str(c) for c in self.categories][:20]}). A categorical level "
                "unseen in training has no coefficient; recode it to a known level or refit."
            )

    @property
    def feature_names(self) -> list[str]:
        if self.kind == "categorical":
            return [f"{self.name}[{c}]" for c in self.categories[1:]]
        return [str(self.name)]

    def encode(self, levels: pd.Series, *, unseen_as_average: bool = False) -> np.ndarray:
        """Model columns for these levels: (n, len(feature_names)) float64.

        ``unseen_as_average``: a category unseen in training, or a bin no training
        row fell in, is encoded as the average of the known categories' columns or
        bins' scores (none is favoured); otherwise it raises.
        """
        if self.kind == "numeric":
            return levels.to_numpy(dtype=float)[:, None]
        codes = self.codes(levels, strict=not unseen_as_average)
        unseen = codes < 0
        if self.kind == "binned":
            # A bin without training rows (or a value beyond them) has no score of its own:
            # it counts as the average of the known bins, as an unseen category does. Its
            # code (-1) never indexes the scores, where it would pick the last bin's.
            known = self.scores[np.where(unseen, 0, codes)]
            return np.where(unseen, self.scores.mean(), known)[:, None]
        width = len(self.categories) - 1
        onehot = (codes[:, None] == np.arange(1, width + 1)[None, :]).astype(float)
        return np.where(unseen[:, None], 1.0 / len(self.categories), onehot)


#: Up to this many inner bin edges, values are binned by comparisons rather than a search.
FEW_EDGES = 16


def _code_dtype(n_codes: int) -> np.dtype:
    """The narrowest signed integer type that holds the codes -1 .. n_codes - 1: codes of
    few categories take a byte a row instead of eight."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_codes <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _present_codes(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Whether each code 0 .. n_codes - 1 occurs among ``codes`` (-1, missing, ignored)."""
    return code_counts(codes, n_codes) > 0


def _looked_up(lookup: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``lookup[codes]`` for codes -1 .. k - 1, where ``lookup`` has an entry per code
    0 .. k - 1 and a last one for -1 (a missing value).

    The codes themselves when the lookup maps each code to itself (a categorical whose
    categories are all used, in order; bins that all hold rows): no pass over the rows.
    """
    identity = np.append(np.arange(lookup.size - 1), -1)
    if lookup.dtype == codes.dtype and np.array_equal(lookup, identity):
        return codes
    return lookup[codes]


def _factorized(values) -> tuple[np.ndarray, np.ndarray]:
    """Each row's index among the column's distinct values, and those values as objects
    with a missing value last (a categorical's missing rows, coded -1, index it).

    One hash pass over the rows (none for a categorical, whose codes are such indices);
    everything else is looked up per distinct value. Values are told apart as a lookup
    of each value among others (``pd.Index.get_indexer``) tells them apart.
    """
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        uniques = np.asarray(values.cat.categories, dtype=object)
    else:
        if not isinstance(values, pd.Series):
            values = np.asarray(values, dtype=object)
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        uniques = np.asarray(uniques, dtype=object)
    return codes, np.append(uniques, np.array([np.nan], dtype=object))


def _quantiles(values: np.ndarray, q: np.ndarray, weights=None) -> np.ndarray:
    """``np.quantile(values, q)``; with integer ``weights``, the quantiles of the rows that
    the distinct ``values`` stand for (each repeated ``weights`` times), exactly as
    ``np.quantile`` would find them on those rows (linear interpolation)."""
    if weights is None:
        return _selected_quantiles(values, np.asarray(q, dtype=float))
    order = np.argsort(values, kind="stable")
    sorted_values, cumulative = values[order], np.cumsum(np.asarray(weights)[order])
    position = (cumulative[-1] - 1) * np.asarray(q)
    low = np.floor(position)

    def at(rank):  # the value at 0-based rank among the rows
        return sorted_values[np.searchsorted(cumulative, rank, side="right")]

    high = np.minimum(low + 1, cumulative[-1] - 1)
    return at(low) + (position - low) * (at(high) - at(low))


#: Below this many values, quantiles are found by partitioning all of them.
SELECT_MIN = 1 << 16


def _selected_quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(values, q)`` (linear interpolation), to the bit, without partitioning
    every value around every quantile.

    Each quantile interpolates between two order statistics. A sorted strided sample
    brackets each one; one pass per bracket counts the values below it and keeps those
    inside (a few thousand), where the order statistic is selected exactly. A bracket
    that misses (values in an unlucky order) falls back to ``np.quantile``. The
    interpolation is numpy's own, step by step: the same operations give the same bits.
    """
    n = values.size
    if n < SELECT_MIN or values.dtype != np.float64 or q.ndim != 1:
        return np.quantile(values, q)
    low, high = values.min(), values.max()
    if not np.isfinite(high - low):
        return np.quantile(values, q)  # missing or infinite values: numpy's handling
    # numpy's indexes and weights of the linear method
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    following = previous + 1
    beyond = virtual >= n - 1
    previous[beyond] = following[beyond] = -1
    previous[virtual < 0] = following[virtual < 0] = 0
    previous, following = previous.astype(np.intp), following.astype(np.intp)
    gamma = np.asanyarray(virtual - previous, dtype=virtual.dtype)
    # with no weight on the upper neighbour, a + (b - a) * 0 is a + 0 for any b (the
    # values' spread is finite): b is not looked for
    following = np.where(gamma == 0, previous, following)
    ranks = np.unique(np.concatenate([previous, following]) % n)
    found = {0: low, n - 1: high}
    inner = ranks[(ranks > 0) & (ranks < n - 1)]
    if inner.size:
        step = max(1, n // 65536)
        sample = np.sort(values[::step])
        margin = 3 * int(np.sqrt(sample.size)) + 2  # sample ranks: a bracket misses rarely
        places = inner * sample.size // n
        for group in np.split(inner, np.flatnonzero(np.diff(places) > 2 * margin) + 1):
            # a bracket reaching past the sample's ends reaches the column's
            start = int(group[0] * sample.size // n) - margin
            stop = int(group[-1] * sample.size // n) + margin
            first = sample[start] if start > 0 else low
            last = sample[stop] if stop < sample.size - 1 else high
            inside = values >= first
            below = n - int(np.count_nonzero(inside))
            inside &= values <= last
            kept = values[inside]
            if not (below <= group[0] and group[-1] < below + kept.size):
                return np.quantile(values, q)
            kept.partition(group - below)
            found.update((int(r), kept[r - below]) for r in group)
    a = np.array([found[int(r)] for r in previous % n])
    b = np.array([found[int(r)] for r in following % n])
    # numpy's _lerp
    difference = b - a
    result = np.add(a, difference * gamma)
    np.subtract(b, difference * (1 - gamma), out=result, where=gamma >= 0.5)
    return result


def _encode_all(
    codings: Sequence[ColumnCoding], frame: pd.DataFrame, *, unseen_as_average: bool = False
) -> np.ndarray:
    blocks = [c.encode(frame[c.name], unseen_as_average=unseen_as_average) for c in codings]
    if not blocks:
        return np.zeros((len(frame), 0))
    return np.hstack(blocks)


@dataclass
class Design:
    """The fitted design: what defines a group, its predictors, and the controls."""

    modifiers: list[ColumnCoding]
    predictors: list[ColumnCoding]
    controls: list[ColumnCoding]
    modifier_levels: list[np.ndarray]
    groups: pd.DataFrame
    group_keys: np.ndarray
    Z: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def modifier_names(self) -> list:
        return [m.name for m in self.modifiers]

    @property
    def predictor_names(self) -> list[str]:
        return [n for c in self.predictors for n in c.feature_names]

    @property
    def control_names(self) -> list[str]:
        return [n for c in self.controls for n in c.feature_names]

    def layout(self, n_effects: int) -> CoefficientLayout:
        """The population-level coefficients' layout with ``n_effects`` treatment effects."""
        return CoefficientLayout(len(self.control_names), len(self.predictor_names), n_effects)

    @property
    def group_labels(self) -> list[str]:
        return group_labels(self.groups, self.modifier_names)

    # ------------------------------------------------------------------ fit
    @staticmethod
    def column_roles(X: pd.DataFrame, *, modifiers, group_predictors) -> tuple[list, list]:
        """The group-level predictor columns and the control columns of ``X`` (every column
        that is neither a modifier nor a group-level predictor)."""
        modifiers = list(modifiers)
        predictor_cols = _resolve_group_predictors(X, modifiers, group_predictors)
        control_cols = [c for c in X.columns if c not in modifiers and c not in predictor_cols]
        return predictor_cols, control_cols

    @classmethod
    def learn(
        cls,
        X: pd.DataFrame,
        *,
        modifiers: Sequence,
        group_predictors,
        bins: Mapping | None,
        weights: np.ndarray | None = None,
    ) -> tuple["Design", np.ndarray]:
        """Learn the design from training data; return it and each row's group index.

        ``weights``: ``X`` is a summary whose row i stands for ``weights[i]`` rows (zero
        for rows that only carry a control's level); binned modifiers are cut at the
        quantiles of the rows.
        """
        design, row_group, _ = cls.learn_coded(
            X, modifiers=modifiers, group_predictors=group_predictors, bins=bins,
            weights=weights,
        )  # fmt: skip
        return design, row_group

    @classmethod
    def learn_coded(
        cls,
        X: pd.DataFrame,
        *,
        modifiers: Sequence,
        group_predictors,
        bins: Mapping | None,
        weights: np.ndarray | None = None,
    ) -> tuple["Design", np.ndarray, CodedControls]:
        """:meth:`learn`, and the training rows' controls (:meth:`control_columns` of ``X``),
        coded as their categories were learned: each column is read once."""
        if isinstance(modifiers, str) or not isinstance(modifiers, Sequence):
            raise ValueError(
                f"modifiers must be a list of column names; got {modifiers!r}. "
                "Write modifiers=['col'] for a single modifier."
            )
        modifiers = list(modifiers)
        if not modifiers:
            raise ValueError("modifiers is empty: name at least one column that defines groups.")
        if len(set(map(str, modifiers))) != len(modifiers):
            raise ValueError(f"modifiers lists a column more than once: {modifiers}.")
        find_columns(X, modifiers, param="modifiers")
        bins = dict(bins or {})
        find_columns(X, list(bins), param="bins")
        stray = [c for c in bins if c not in modifiers]
        if stray:
            raise ValueError(
                f"bins names column(s) {stray} that are not modifiers; only modifiers are binned."
            )

        predictor_cols = _resolve_group_predictors(X, modifiers, group_predictors)
        control_cols = [c for c in X.columns if c not in modifiers and c not in predictor_cols]
        _check_complete(X, modifiers, what="modifier")
        _check_complete(
            X, [c for c in predictor_cols if c not in modifiers], what="group predictor"
        )
        _check_complete(X, control_cols, what="control")

        # every modifier and control is coded on its own, so on large frames they are
        # coded side by side (see _coded_columns); each result (or error) is taken where
        # the design needs it, so the first error is the one met column by column
        coded = _coded_columns(
            [X[c] for c in modifiers] + [X[c] for c in control_cols],
            [_learn_modifier] * len(modifiers) + [_learn_control] * len(control_cols),
            [(bins.get(c), weights) for c in modifiers] + [()] * len(control_cols),
        )  # fmt: skip
        mod_codings, modifier_levels, level_codes = [], [], []
        for result in coded[: len(modifiers)]:  # every modifier learned before any is judged
            m, levels, codes = result()
            mod_codings.append(m)
            modifier_levels.append(levels)
            level_codes.append(codes)
        for m, levels in zip(mod_codings, modifier_levels, strict=True):
            if len(levels) < 2:
                found = f"a single level ({levels[0]!r})" if len(levels) else "no values"
                raise ValueError(
                    f"modifier {m.name!r} has {found} in the data; it cannot define groups. "
                    "Drop it from modifiers."
                )
        group_keys, row_group = _group_rows(level_codes, [len(v) for v in modifier_levels])
        first_row = _first_rows(row_group, group_keys.size)
        groups = pd.DataFrame(
            {
                m.name: m.levels_of(X[m.name].iloc[first_row]).reset_index(drop=True)
                for m in mod_codings
            }  # fmt: skip
        )

        pred_codings = []
        for col in predictor_cols:
            if col in modifiers:
                pred_codings.append(mod_codings[modifiers.index(col)])
                continue
            varying = pd.Series(X[col].to_numpy()).groupby(row_group).nunique()
            if (varying > 1).any():
                bad = groups.iloc[int(np.flatnonzero(varying.to_numpy() > 1)[0])]
                raise ValueError(
                    f"group predictor {col!r} varies within a group (e.g. the group "
                    f"{dict(bad)}); group-level predictors must be constant within each "
                    "group. Use it as a modifier or a control instead."
                )
            groups[col] = X[col].to_numpy()[first_row]
            pred_codings.append(ColumnCoding.learn(groups[col]))
        controls = [result() for result in coded[len(modifiers) :]]
        control_codings = [coding for coding, _ in controls]
        control_columns = [column for _, column in controls]
        design = cls(
            modifiers=mod_codings,
            predictors=pred_codings,
            controls=control_codings,
            modifier_levels=modifier_levels,
            groups=groups,
            group_keys=group_keys,
            Z=_encode_all(pred_codings, groups),
        )
        controls = CodedControls(tuple(control_columns), len(X))
        return design, row_group.astype(np.int64, copy=False), controls

    # -------------------------------------------------------------- predict
    def assign(
        self, X: pd.DataFrame, *, handle_unknown: str = "error"
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """Group index of each row of new data.

        Rows whose group was not seen in training get indices ``n_groups + j``
        pointing into the returned table of new groups (modifier values and
        group-level predictors). A new combination of seen levels is always
        such a group. A level never seen in training, numeric or categorical
        alike, raises with ``handle_unknown="error"`` and makes a new group with
        ``"population"``; values beyond a numeric modifier's training range warn.
        """
        find_columns(X, self.modifier_names, param="modifiers (columns needed to find groups)")
        fast = _lookup_known_groups(self, X)
        if fast is not None:  # every row in a training group: one fused, compiled pass
            return fast, self.groups.iloc[:0].copy()
        extra = [c.name for c in self.predictors if c.name not in self.modifier_names]
        _check_complete(X, self.modifier_names, what="modifier")
        # each modifier's codes straight from its column: the levels themselves (labels of
        # binned values) are formed only for the rows that need them
        codes = [
            _row_codes(coding, levels, X[coding.name])
            for coding, levels in zip(self.modifiers, self.modifier_levels, strict=True)
        ]
        if handle_unknown == "error":
            self._reject_unseen_levels(codes, X)
        self._warn_out_of_range(X)
        seen_level = np.ones(len(X), dtype=bool)
        for column in codes:
            seen_level &= column >= 0
        keys = _combine_codes([np.maximum(c, 0) for c in codes],
                              [len(v) for v in self.modifier_levels])  # fmt: skip
        table = self.key_table()
        if table is not None:
            row_group = np.where(seen_level, table[keys], -1).astype(np.int64)
            found = row_group >= 0
        else:
            pos = np.searchsorted(self.group_keys, keys).clip(0, self.n_groups - 1)
            found = seen_level & (self.group_keys[pos] == keys)
            row_group = np.where(found, pos, -1).astype(np.int64)
        new_groups = self.groups.iloc[:0].copy()
        if not found.all():
            find_columns(X, extra, param="group_predictors (needed for groups unseen in training)")
            check_no_missing(X, extra, what="group predictor")
            unseen = np.flatnonzero(~found)
            sub = pd.DataFrame(
                {m.name: m.levels_of(X[m.name].iloc[unseen]) for m in self.modifiers}
            ).reset_index(drop=True)
            for col in extra:
                sub[col] = X[col].to_numpy()[unseen]
            new_id = sub.groupby(self.modifier_names, sort=True, dropna=False).ngroup().to_numpy()
            first = pd.Series(np.arange(len(sub))).groupby(new_id).first().to_numpy()
            new_groups = sub.iloc[first].reset_index(drop=True)
            row_group[unseen] = self.n_groups + new_id
        return row_group, new_groups

    def _reject_unseen_levels(self, codes: list, X: pd.DataFrame) -> None:
        for k, coding in enumerate(self.modifiers):
            unseen = codes[k] < 0
            if not unseen.any():
                continue
            values = coding.levels_of(X[coding.name].iloc[np.flatnonzero(unseen)]).to_numpy()
            shown = sorted({_shown(v) for v in values})[:5]
            known = [_shown(v) for v in self.modifier_levels[k]][:20]
            raise ValueError(
                f"modifier {coding.name!r} has level(s) {shown} never seen in training "
                f"(known: {known}). Recode them to known levels, or pass "
                "handle_unknown='population' to predict their groups from the population "
                "model (the group-level predictors plus the unexplained spread)."
            )

    def _warn_out_of_range(self, X: pd.DataFrame) -> None:
        for coding, levels in zip(self.modifiers, self.modifier_levels, strict=True):
            if coding.kind == "numeric":
                low, high = float(levels[0]), float(levels[-1])
            elif coding.kind == "binned":
                low, high = float(coding.edges[0]), float(coding.edges[-1])
            else:
                continue
            values = X[coding.name].to_numpy(dtype=float)
            outside = (values < low) | (values > high)
            if outside.any():
                warnings.warn(
                    f"modifier {coding.name!r} has {int(outside.sum())} value(s) outside its "
                    f"training range [{low:g}, {high:g}] (e.g. {values[outside][0]:g}); their "
                    "effects are extrapolated.",
                    UserWarning,
                    stacklevel=5,
                )

    def key_table(self) -> np.ndarray | None:
        """Group index by combined level key (-1: no such group), when there are few
        enough level combinations for a table; None otherwise."""
        size = np.prod([len(v) for v in self.modifier_levels], dtype=float)
        if size > KEY_TABLE_SIZE:
            return None
        table = np.full(int(size), -1, dtype=np.int32)
        table[self.group_keys] = np.arange(self.n_groups)
        return table

    def predictors_of(self, groups: pd.DataFrame) -> np.ndarray:
        """Group-level predictor matrix Z for a table of groups (a category unseen in
        training: the average of the known ones)."""
        return _encode_all(self.predictors, groups, unseen_as_average=True)

    def level_codes_of(self, groups: pd.DataFrame) -> np.ndarray:
        """(n_groups, n_modifiers) level codes; -1 marks a level unseen in training."""
        return _level_codes(self.modifiers, self.modifier_levels, groups)

    def level_bases(self) -> list[np.ndarray]:
        """Per modifier, an orthonormal basis of level offsets the fixed part cannot express.

        The basis is orthogonal to the constant and, when the modifier is also a
        group-level predictor, to its predictor columns evaluated at its levels.
        A binary modifier used as a predictor gets an empty basis: lambda already
        gives each of its two levels its own effect.
        """
        bases = []
        for coding, levels in zip(self.modifiers, self.modifier_levels, strict=True):
            spanned = [np.ones((len(levels), 1))]
            if any(p is coding for p in self.predictors):
                spanned.append(coding.encode(pd.Series(levels, name=coding.name)))
            left, singular, _ = np.linalg.svd(np.hstack(spanned), full_matrices=True)
            rank = int((singular > 1e-9 * singular.max()).sum())
            bases.append(left[:, rank:])
        return bases

    def control_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Controls as a float64 matrix (numeric as given, categoricals one-hot)."""
        return self.control_columns(X).matrix()

    def control_columns(self, X: pd.DataFrame) -> CodedControls:
        """The controls of ``X``'s rows as coded columns (numbers, category codes): the
        :meth:`control_matrix` before its indicator columns are formed."""
        names = [c.name for c in self.controls]
        find_columns(X, names, param="controls (columns used in fit)")
        _check_complete(X, names, what="control")
        columns = tuple(_coded_column(c, X[c.name]) for c in self.controls)
        return CodedControls(columns, len(X))


def check_group_count(design: Design) -> None:
    if design.n_groups > MANY_GROUPS:
        raise ValueError(
            f"the modifiers define {design.n_groups} groups, more than the {MANY_GROUPS} "
            "this sampler handles well; bin continuous modifiers (bins={...}) or use "
            "fewer modifiers."
        )


def _resolve_group_predictors(X: pd.DataFrame, modifiers: list, group_predictors) -> list:
    if isinstance(group_predictors, str):
        if group_predictors != "modifiers":
            raise ValueError(
                f"group_predictors must be 'modifiers', None or a list of columns; "
                f"got {group_predictors!r}."
            )
        return list(modifiers)
    if group_predictors is None:
        return []
    cols = list(group_predictors)
    find_columns(X, cols, param="group_predictors")
    return cols


def _level_codes(
    codings: Sequence[ColumnCoding], levels: Sequence[np.ndarray], frame
) -> np.ndarray:
    # column-major: each modifier's codes are contiguous for the per-column passes below
    codes = np.empty((len(frame), len(codings)), dtype=np.int64, order="F")
    for k, (coding, lv) in enumerate(zip(codings, levels, strict=True)):
        values = frame[coding.name]
        if coding.kind == "numeric":
            codes[:, k] = _numeric_codes(values.to_numpy(dtype=float), lv)
        else:
            codes[:, k] = coding.positions(values, strict=False)
    return codes


def _row_codes(coding: ColumnCoding, levels: np.ndarray, column: pd.Series) -> np.ndarray:
    """Each row's level code (-1: a level unseen in training) from the row's value in
    ``X``, as :func:`_level_codes` finds it from the row's level."""
    if coding.kind == "numeric":
        return _numeric_codes(column.to_numpy(dtype=float), levels)
    if coding.kind == "binned":
        return coding.bin_positions(column.to_numpy(dtype=float), strict=False)
    return coding.positions(column, strict=False)


def _numeric_levels_and_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A numeric training column's sorted levels (as floats) and each row's code.

    Integers of a narrow range (the usual 0/1 and 1..k codings) are counted in a table,
    which finds the levels and the codes in two passes over the column; other numbers
    are hashed for their levels, then looked up.
    """
    values = column.to_numpy()
    if values.dtype.kind in "iu" and values.size:
        low, high = int(values.min()), int(values.max())
        if high - low < LOOKUP_SPAN and max(abs(low), abs(high)) < 2**53:
            shifted = np.subtract(values, low, dtype=np.intp)
            present = np.flatnonzero(np.bincount(shifted, minlength=high - low + 1))
            if present.size == high - low + 1:  # every value in the range: its own code
                return (present + low).astype(float), shifted
            table = np.full(high - low + 1, -1, dtype=_code_dtype(present.size))
            table[present] = np.arange(present.size)
            return (present + low).astype(float), table[shifted]
    levels = np.sort(np.asarray(column.unique(), dtype=float))
    return levels, _numeric_codes(column.to_numpy(dtype=float), levels)


def _coded_column(coding: ColumnCoding, column: pd.Series, codes=None) -> CodedColumn:
    """One control of some rows as :class:`CodedControls` keeps it (``codes``: the rows'
    category codes, when already known)."""
    if coding.kind == "categorical":
        if codes is None:
            codes = coding.positions(column)
        return CodedColumn(codes, len(coding.categories))
    numbers = isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf"
    if coding.kind == "numeric" and numbers:  # (object-held numbers take encode's float copy)
        return CodedColumn(column.to_numpy())  # converted where it is read: no float copy
    return CodedColumn(coding.encode(column)[:, 0])


def _learn_modifier(column: pd.Series, bins, weights) -> tuple:
    """A modifier's coding, its levels and each row's level code."""
    coding, codes = ColumnCoding.learn_coded(column, bins, weights)
    if coding.kind == "numeric":
        levels, codes = _numeric_levels_and_codes(column)
    else:
        levels = np.asarray(coding.categories, dtype=object)
    return coding, levels, codes


def _learn_control(column: pd.Series) -> tuple:
    """A control's coding and the rows' coded column."""
    coding, codes = ColumnCoding.learn_coded(column)
    return coding, _coded_column(coding, column, codes)


#: From this many rows, a frame's columns are coded on several threads at once.
PARALLEL_ROWS = 1 << 18


def _coded_columns(columns: list, learners: list, arguments: list) -> list:
    """Per column, a function that returns ``learner(column, *arguments)`` (or raises its
    error).

    Columns are coded independently, and most passes that code them (comparisons,
    counts, selections, hashing Arrow-backed text) release the GIL: on large frames
    they run on a few threads, the longest first (text to hash, values to bin). Text
    held as Python objects hashes under the GIL and gains little. On small frames
    each column is coded when its result is asked for.
    """
    workers = min(len(columns), usable_cpus())
    if workers < 2 or len(columns[0]) < PARALLEL_ROWS:
        return [functools.partial(f, c, *a)
                for f, c, a in zip(learners, columns, arguments, strict=True)]  # fmt: skip

    def cost(k: int) -> int:  # text is hashed, binned numbers selected and compared
        column = columns[k]
        if not (_is_numeric(column) or is_bool_dtype(column)
                or isinstance(column.dtype, pd.CategoricalDtype)):  # fmt: skip
            return 0
        return 1 if arguments[k] and arguments[k][0] is not None else 2

    with ThreadPoolExecutor(workers) as pool:
        futures = {
            k: pool.submit(learners[k], columns[k], *arguments[k])
            for k in sorted(range(len(columns)), key=cost)
        }
        return [futures[k].result for k in range(len(columns))]


def _surely_complete(column: pd.Series) -> bool:
    """Whether ``column`` certainly holds no missing or infinite value, from a check much
    cheaper than counting them: integers never do, floats are all finite, a categorical
    has no missing code, text has no missing value (False: count them)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return bool((column.cat.codes.to_numpy() >= 0).all())
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return True
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return bool(np.isfinite(column.to_numpy()).all())
    if is_numeric_dtype(column) and not is_bool_dtype(column):
        return False  # a numeric extension type: missing and infinite values both count
    return not column.hasnans


def _check_complete(X: pd.DataFrame, columns: Sequence, *, what: str) -> None:
    """:func:`check_no_missing`, which counts missing and infinite values column by column,
    run only when some column may hold them (then its error names the first)."""
    if not all(_surely_complete(X[c]) for c in columns):
        check_no_missing(X, columns, what=what)


def _integer_key_inputs(codings, levels, X: pd.DataFrame) -> tuple | None:
    """Arguments of :func:`_level_key_kernel` when every modifier is a numeric column
    with integer levels (the usual 0/1 and 1..k codings); None otherwise."""
    tables, lows = [], []
    for coding, lv in zip(codings, levels, strict=True):
        column = X[coding.name]
        if (
            coding.kind != "numeric"
            or not (is_numeric_dtype(column) or is_bool_dtype(column))
            or isinstance(column.dtype, pd.CategoricalDtype)
        ):
            return None
        table = _integer_level_table(np.asarray(lv, dtype=float))
        if table is None:
            return None
        tables.append(table)
        lows.append(float(lv[0]))
    spans = [t.size - 1 for t in tables]
    radices = [len(v) for v in levels]
    weights = np.cumprod([1] + radices[:0:-1])[::-1].astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum([t.size for t in tables])[:-1]]).astype(np.int32)
    columns = tuple(np.asarray(X[c.name].to_numpy()) for c in codings)
    return (
        columns, np.asarray(lows, float), np.asarray(spans, np.int32), offsets,
        np.concatenate(tables).astype(np.int32), weights,
    )  # fmt: skip


def _group_rows(codes: list, radices: list) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys of the level combinations present, and each row's index among them
    (``codes``: each modifier's level codes, all seen).

    When the combinations are few enough for a table, groups are found by counting keys
    rather than sorting them: O(rows) instead of O(rows log rows).
    """
    keys = _combine_codes(codes, radices)
    size = np.prod(np.asarray(radices, dtype=float))
    if size > KEY_TABLE_SIZE:
        group_keys, row_group = np.unique(keys, return_inverse=True)
        return group_keys, row_group.astype(np.int64)
    group_keys = np.flatnonzero(np.bincount(keys, minlength=int(size)))
    if group_keys.size == size:  # every combination present: a key is its group's index
        return group_keys, keys
    table = np.zeros(int(size), dtype=np.int64)
    table[group_keys] = np.arange(group_keys.size)
    return group_keys, table[keys]


def _first_rows(row_group: np.ndarray, n_groups: int) -> np.ndarray:
    """Each group's first row.

    Looked for in growing blocks of rows from the start: every group usually shows up
    within the first few thousand rows, so the rest are never read.
    """
    first = np.full(n_groups, -1, dtype=np.int64)
    start, size = 0, 4096
    while start < row_group.size and (first < 0).any():
        stop = min(row_group.size, start + size)
        block = row_group[start:stop]
        found = np.full(n_groups, -1, dtype=np.int64)
        found[block[::-1]] = np.arange(stop - 1, start - 1, -1)  # the earliest write lasts
        first = np.where(first < 0, found, first)
        start, size = stop, size * 8
    return first


def _lookup_known_groups(design: "Design", X: pd.DataFrame) -> np.ndarray | None:
    """Each row's group when all modifiers are integer-coded numbers and every row's
    group was seen in training; None otherwise (the general path then handles it).

    Level codes, combined keys and group indices come from lookup tables in a
    single compiled JAX pass over the columns, at memory speed.
    """
    if len(X) < COMPILED_LOOKUP_MIN_ROWS:
        return None
    inputs = _integer_key_inputs(design.modifiers, design.modifier_levels, X)
    group_table = design.key_table()
    if inputs is None or group_table is None:
        return None
    with jax.enable_x64(True):
        row_group, clean = _known_group_kernel(*inputs, group_table)
        row_group = np.asarray(row_group)
    if not bool(clean) or (row_group < 0).any():
        return None  # missing values or unseen groups: the general path explains or handles them
    return row_group  # int32: half the memory traffic of int64 for the gathers that follow


@jax.jit
def _level_key_kernel(columns, lows, spans, offsets, tables, weights):
    """Combined level key of each row, whether all its levels are known, and whether
    every value was finite."""
    key = jnp.zeros(columns[0].shape[0], dtype=jnp.int32)
    seen = jnp.ones(columns[0].shape[0], dtype=bool)
    clean = jnp.array(True)
    for k, column in enumerate(columns):
        shifted = column.astype(jnp.float64) - lows[k]
        clean = clean & jnp.all(jnp.isfinite(shifted))
        index = jnp.clip(shifted, -1, spans[k] + 1).astype(jnp.int32)
        valid = (index == shifted) & (index >= 0) & (index <= spans[k])
        code = jnp.where(valid, tables[offsets[k] + jnp.clip(index, 0, spans[k])], -1)
        seen = seen & (code >= 0)
        key = key + jnp.maximum(code, 0) * weights[k]
    return key, seen, clean


@jax.jit
def _known_group_kernel(columns, lows, spans, offsets, tables, weights, group_table):
    key, seen, clean = _level_key_kernel(columns, lows, spans, offsets, tables, weights)
    return jnp.where(seen, group_table[key], -1), clean


#: Fewest rows whose groups are found by the compiled pass: the program is compiled for
#: each number of rows (tens of milliseconds, in every new process), which below this
#: costs more than the general path's whole lookup.
COMPILED_LOOKUP_MIN_ROWS = 100_000

#: Widest range of integer levels looked up through a table rather than a search.
LOOKUP_SPAN = 1 << 16

#: Most level combinations indexed through a table (4 MiB of int32) rather than a sort.
KEY_TABLE_SIZE = 1 << 20


def _integer_level_table(levels: np.ndarray) -> np.ndarray | None:
    """Code of each value ``levels[0] + i`` (-1 where none) for integer levels spanning
    fewer than LOOKUP_SPAN values (the usual 0/1 and 1..k codings); None otherwise."""
    if levels.size == 0:  # no rows: nothing to look up (the caller reports the empty column)
        return None
    span = levels[-1] - levels[0]
    if span >= LOOKUP_SPAN or not np.array_equal(levels, np.round(levels)):
        return None
    table = np.full(int(span) + 1, -1, dtype=np.int64)
    table[(levels - levels[0]).astype(np.int64)] = np.arange(levels.size)
    return table


def _numeric_codes(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of each value in the sorted ``levels``; -1 where it is not one of them."""
    table = _integer_level_table(levels)
    if table is not None:  # a table lookup, about twice as fast as a search
        span = table.size - 1
        shifted = values - levels[0]
        index = shifted.astype(np.int64)
        valid = (index == shifted) & (index >= 0) & (index <= span)
        return np.where(valid, table[np.clip(index, 0, span)], -1)
    pos = np.searchsorted(levels, values).clip(0, len(levels) - 1)
    return np.where(levels[pos] == values, pos, -1)


def _combine_codes(codes: Sequence[np.ndarray], radices: Sequence[int]) -> np.ndarray:
    """One integer per row whose order is the lexicographic order of the codes (one array
    of codes per modifier)."""
    size = float(np.prod(np.asarray(radices, dtype=float)))
    if size >= 2.0**62:
        raise ValueError(
            f"the modifiers have too many level combinations ({' x '.join(map(str, radices))}) "
            "to index; bin continuous modifiers or use fewer of them."
        )
    # combined in the narrowest type that holds every key (less to stream), then widened
    # once to the index type that counting and lookups take
    dtype = _code_dtype(int(size)) if size < 2**31 else np.dtype(np.int64)
    keys = np.array(codes[0], dtype=dtype)  # a copy, added to in place
    for column, radix in zip(codes[1:], radices[1:], strict=True):
        keys *= radix
        keys += column
    return keys.astype(np.intp, copy=False)


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def as_shown(groups: pd.DataFrame, codings: Sequence[ColumnCoding]) -> pd.DataFrame:
    """Groups as users read them: numeric levels that are all whole numbers as integers.

    Numeric levels are kept as floats inside (one dtype for every lookup); a table of
    ``white=1.0, hawk=3.0`` would misstate what the user's data hold.
    """
    shown = groups.copy()
    for coding in codings:
        if coding.kind != "numeric" or coding.name not in shown:
            continue
        values = shown[coding.name].to_numpy(dtype=float)
        if np.isfinite(values).all() and np.array_equal(values, np.round(values)):
            shown[coding.name] = values.astype(np.int64)
    return shown


def label_seed_words(text: str) -> list[int]:
    """Four 32-bit words of a string's SHA-256: a stable seed for one group's label (the
    draws of an unseen group then depend on nothing else)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def group_labels(groups: pd.DataFrame, names: Sequence) -> list[str]:
    """Readable labels such as ``"white=1, male=0, intl=3, hawk=5"``."""
    parts = []
    for name in names:
        col = groups[name]
        if _is_numeric(col):
            values = [f"{v:g}" for v in col.to_numpy(dtype=float)]
        else:
            values = [str(v) for v in col]
        parts.append([f"{name}={v}" for v in values])
    return [", ".join(p) for p in zip(*parts, strict=True)] if parts else []
