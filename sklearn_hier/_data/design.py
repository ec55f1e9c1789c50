"""From a data frame to the model's design: groups, group-level predictors and controls.

Groups are the unique combinations of the modifiers' levels. Each column that
enters the model is described by a :class:`ColumnCoding` learned at fit time
(levels, bin edges, categories), so that new data are encoded exactly as the
training data were and unseen categories are caught with a clear error.
"""

import hashlib
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from .._base.coefficient_layout import CoefficientLayout
from .._base.input_checks import check_no_missing, find_columns

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
            labels = [cls._bin_label(edges, k) for k in range(edges.size - 1)]
            used = np.unique(codes)
            # drop bins no training value fell in: a level with no rows cannot be a group
            counts = np.ones(values.size) if weights is None else np.asarray(weights, float)
            scores = np.array(
                [np.average(values[codes == k], weights=counts[codes == k]) for k in used]
            )
            keep_labels = [labels[k] for k in used]
            return cls(name, "binned", keep_labels, edges, scores)
        if is_bool_dtype(series) or _is_numeric(series):
            return cls(name, "numeric")
        if isinstance(series.dtype, pd.CategoricalDtype):
            present = set(series.unique().tolist())
            categories = [c for c in series.cat.categories if c in present]
        else:
            categories = sorted(series.unique().tolist(), key=str)
        return cls(name, "categorical", categories)

    @staticmethod
    def _bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
        # values beyond the outer edges fall into the outermost bins
        inner = edges[1:-1]
        return np.searchsorted(inner, values, side="right")

    @staticmethod
    def _bin_label(edges: np.ndarray, k: int) -> str:
        closing = "]" if k == edges.size - 2 else ")"
        return f"[{edges[k]:.4g}, {edges[k + 1]:.4g}{closing}"

    def levels_of(self, series: pd.Series) -> pd.Series:
        """Row values as levels: numbers for numeric, labels for binned and categorical."""
        if self.kind == "numeric":
            return series.astype(float)
        if self.kind == "binned":
            all_labels = [self._bin_label(self.edges, k) for k in range(self.edges.size - 1)]
            codes = self._bin_codes(series.to_numpy(dtype=float), self.edges)
            labels = np.asarray(all_labels, dtype=object)[codes]
            return pd.Series(labels, index=series.index, name=series.name)
        return series

    def codes(self, levels: pd.Series, *, strict: bool = True) -> np.ndarray:
        """Category codes of categorical or binned levels; unseen values raise (-1 when
        not ``strict``)."""
        values = np.asarray(levels, dtype=object)
        codes = pd.Index(self.categories, dtype=object).get_indexer(values).astype(np.int64)
        unseen = codes < 0
        if unseen.any() and strict:
            examples = sorted({str(v) for v in values[unseen]})[:5]
            what = "bin" if self.kind == "binned" else "level"
            raise ValueError(
                f"column {self.name!r} has {what}(s) {examples} never seen in training "
                f"(known: {[str(c) for c in self.categories][:20]}). A categorical level "
                "unseen in training has no coefficient; recode it to a known level or refit."
            )
        return codes

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


def _quantiles(values: np.ndarray, q: np.ndarray, weights=None) -> np.ndarray:
    """``np.quantile(values, q)``; with integer ``weights``, the quantiles of the rows that
    the distinct ``values`` stand for (each repeated ``weights`` times), exactly as
    ``np.quantile`` would find them on those rows (linear interpolation)."""
    if weights is None:
        return np.quantile(values, q)
    order = np.argsort(values, kind="stable")
    sorted_values, cumulative = values[order], np.cumsum(np.asarray(weights)[order])
    position = (cumulative[-1] - 1) * np.asarray(q)
    low = np.floor(position)

    def at(rank):  # the value at 0-based rank among the rows
        return sorted_values[np.searchsorted(cumulative, rank, side="right")]

    high = np.minimum(low + 1, cumulative[-1] - 1)
    return at(low) + (position - low) * (at(high) - at(low))


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
        check_no_missing(X, modifiers, what="modifier")
        check_no_missing(
            X, [c for c in predictor_cols if c not in modifiers], what="group predictor"
        )
        check_no_missing(X, control_cols, what="control")

        mod_codings = [ColumnCoding.learn(X[c], bins.get(c), weights) for c in modifiers]
        modifier_levels = []
        for m in mod_codings:
            if m.kind == "numeric":
                # a hash pass over the column, then a sort of its few distinct values
                modifier_levels.append(np.sort(np.asarray(X[m.name].unique(), dtype=float)))
            else:
                modifier_levels.append(np.asarray(m.categories, dtype=object))
            if len(modifier_levels[-1]) < 2:
                found = (
                    f"a single level ({modifier_levels[-1][0]!r})"
                    if len(modifier_levels[-1])
                    else "no values"
                )
                raise ValueError(
                    f"modifier {m.name!r} has {found} in the data; it cannot define groups. "
                    "Drop it from modifiers."
                )
        group_keys, row_group = _group_rows(mod_codings, modifier_levels, X)
        first_row = np.zeros(group_keys.size, dtype=np.int64)
        first_row[row_group[::-1]] = np.arange(len(X))[::-1]
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
        design = cls(
            modifiers=mod_codings,
            predictors=pred_codings,
            controls=[ColumnCoding.learn(X[c]) for c in control_cols],
            modifier_levels=modifier_levels,
            groups=groups,
            group_keys=group_keys,
            Z=_encode_all(pred_codings, groups),
        )
        return design, row_group.astype(np.int64)

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
        check_no_missing(X, self.modifier_names, what="modifier")
        levels_frame = pd.DataFrame({m.name: m.levels_of(X[m.name]) for m in self.modifiers})
        codes = _level_codes(self.modifiers, self.modifier_levels, levels_frame)
        if handle_unknown == "error":
            self._reject_unseen_levels(codes, levels_frame)
        self._warn_out_of_range(X)
        seen_level = np.ones(codes.shape[0], dtype=bool)
        for k in range(codes.shape[1]):
            seen_level &= codes[:, k] >= 0
        keys = _combine_codes(np.maximum(codes, 0), [len(v) for v in self.modifier_levels])
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
            sub = levels_frame.iloc[unseen].reset_index(drop=True)
            for col in extra:
                sub[col] = X[col].to_numpy()[unseen]
            new_id = sub.groupby(self.modifier_names, sort=True, dropna=False).ngroup().to_numpy()
            first = pd.Series(np.arange(len(sub))).groupby(new_id).first().to_numpy()
            new_groups = sub.iloc[first].reset_index(drop=True)
            row_group[unseen] = self.n_groups + new_id
        return row_group, new_groups

    def _reject_unseen_levels(self, codes: np.ndarray, levels_frame: pd.DataFrame) -> None:
        for k, coding in enumerate(self.modifiers):
            unseen = codes[:, k] < 0
            if not unseen.any():
                continue
            values = levels_frame[coding.name].to_numpy()[unseen]
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
        names = [c.name for c in self.controls]
        find_columns(X, names, param="controls (columns used in fit)")
        check_no_missing(X, names, what="control")
        return _encode_all(self.controls, X)


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
            codes[:, k] = coding.codes(values, strict=False)
    return codes


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


def _group_rows(codings, levels, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys of the level combinations present, and each row's index among them.

    Integer-coded modifiers get their keys in one compiled pass, and when the
    combinations are few enough for a table, groups are found by counting keys
    rather than sorting them: O(rows) instead of O(rows log rows).
    """
    radices = [len(v) for v in levels]
    size = np.prod(np.asarray(radices, dtype=float))
    inputs = _integer_key_inputs(codings, levels, X) if size <= 2.0**31 else None
    if inputs is not None:
        with jax.enable_x64(True):
            keys, _, _ = _level_key_kernel(*inputs)
            keys = np.asarray(keys)
    else:
        frame = pd.DataFrame({m.name: m.levels_of(X[m.name]) for m in codings})
        keys = _combine_codes(_level_codes(codings, levels, frame), radices)
    if size > KEY_TABLE_SIZE:
        group_keys, row_group = np.unique(keys, return_inverse=True)
        return group_keys, row_group.astype(np.int64)
    group_keys = np.flatnonzero(np.bincount(keys, minlength=int(size)))
    table = np.zeros(int(size), dtype=np.int32)
    table[group_keys] = np.arange(group_keys.size)
    return group_keys, table[keys]


def _lookup_known_groups(design: "Design", X: pd.DataFrame) -> np.ndarray | None:
    """Each row's group when all modifiers are integer-coded numbers and every row's
    group was seen in training; None otherwise (the general path then handles it).

    Level codes, combined keys and group indices come from lookup tables in a
    single compiled JAX pass over the columns, at memory speed.
    """
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


#: Widest range of integer levels looked up through a table rather than a search.
LOOKUP_SPAN = 1 << 16

#: Most level combinations indexed through a table (4 MiB of int32) rather than a sort.
KEY_TABLE_SIZE = 1 << 20


def _integer_level_table(levels: np.ndarray) -> np.ndarray | None:
    """Code of each value ``levels[0] + i`` (-1 where none) for integer levels spanning
    fewer than LOOKUP_SPAN values (the usual 0/1 and 1..k codings); None otherwise."""
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


def _combine_codes(codes: np.ndarray, radices: Sequence[int]) -> np.ndarray:
    """One integer per row whose order is the lexicographic order of the codes."""
    if float(np.prod(np.asarray(radices, dtype=float))) >= 2.0**62:
        raise ValueError(
            f"the modifiers have too many level combinations ({' x '.join(map(str, radices))}) "
            "to index; bin continuous modifiers or use fewer of them."
        )
    keys = np.zeros(codes.shape[0], dtype=np.int64)
    for k, radix in enumerate(radices):
        keys = keys * radix + codes[:, k]
    return keys


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
