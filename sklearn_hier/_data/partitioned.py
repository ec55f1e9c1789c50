"""Fitting from rows split into partitions (a Dask DataFrame, e.g. a Parquet dataset read by
Dask): every pass runs where the partitions live and returns only small summaries, so no
process ever holds the rows.

1. The survey: each partition's length (``X``, ``y`` and ``treatment`` must agree,
   partition by partition, with the same index), the distinct combinations of the
   grouping columns with their rows, the distinct values of the categorical controls
   and of the treatment columns, and the checks of missing values and of the outcome's
   support. The design and the treatment coding are learned from the combined summary
   exactly as from the rows (binned modifiers are cut at the rows' quantiles).
2. The reduction (:mod:`.row_reduction`, the same as for rows in memory): each
   partition's rows are coded under the learned design and reduced: group moments
   centred at the partition's own means (pooled exactly, see
   :class:`.sufficient_statistics.PooledMoments`), the collapsed cells and row patterns
   of the other families' exact likelihoods, the rows per group and arm, and a random
   sample of rows for the approximation's check.
3. The Laplace approximation only: the pilot fit's passes and the expansion pass.

Each pass is one ``dask.compute`` over the partitions, on whatever scheduler is active
(a ``distributed.Client`` of a ``LocalCluster`` or of any cluster).
"""

import dataclasses
import functools
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._base.families import family_of
from .._base.input_checks import (
    check_row_count,
    feature_names_of,
    misaligned_error,
    missing_counts,
    missing_error,
    nonfinite_outcome_error,
)
from .._base.spec import ModelSpec
from .design import Design, check_group_count
from .laplace import OutcomeRows
from .reduced import LearnedInput
from .row_inputs import (
    auxiliary_columns,
    model_outcome,
    reject_treatment_named_in_x,
    trials_and_exposure,
)
from .row_reduction import reduce_source
from .sufficient_statistics import CHUNK_ROWS, RowDesign
from .treatment import TreatmentCoding, sorted_levels

#: Column of a summary that counts the rows a distinct combination stands for.
ROWS = "__rows__"


#: Names the outcome and the treatment columns take inside one combined partition ...
OUTCOME_COLUMN = "__sklearn_hier_y__"
TREATMENT_PREFIX = "__sklearn_hier_t{}__"
#: ... and the places that y's and the treatment's rows held in their own partitions.
PLACE_COLUMN = "__sklearn_hier_{}_at__"


def _row_places(part, partition_info=None) -> pd.Series:
    """Each row's place in its collection: its partition's number times 2^32 plus its
    position there, plus 0.5 on a partition's last row (so that a partition with rows
    beyond another's does not match it)."""
    places = np.arange(len(part), dtype=float)
    places[-1:] += 0.5
    if partition_info is not None:
        places += partition_info["number"] * 2.0**32
    return pd.Series(places, index=part.index)


def _check_places(part: pd.DataFrame) -> None:
    """Each row of X must be paired with the rows of y and of the treatment at the same
    place in their own collections: Dask pairs collections by index label, pandas by
    position, and the two agree only then. (Dask keeps every row of X when it pairs them,
    and equal places, with each partition's last row marked, leave no row of y or the
    treatment out.)"""
    expected = part[PLACE_COLUMN.format("X")].to_numpy(dtype=float)
    for name in ("y", "treatment"):
        places = part[PLACE_COLUMN.format(name)].to_numpy(dtype=float)
        wrong = places != expected
        if wrong.any():
            absent = int(np.isnan(places).sum())
            detail = (
                f"{absent} of X's rows have no row of {name} with their index label"
                if absent else
                f"{int(wrong.sum())} of X's rows are paired with rows of {name} at other places "
                "(another order, or other partitions)"
            )  # fmt: skip
            raise misaligned_error(name, detail, partitioned=True)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where X, y and treatment sit in the combined frame, and how to split it again."""

    x_columns: list
    treatment_names: list  # the user's treatment column names (a Series: its name)
    treatment_series: bool

    def split(self, part: pd.DataFrame):
        """(X, y, treatment) of one combined partition, as the user passed them."""
        _check_places(part)
        names = [TREATMENT_PREFIX.format(k) for k in range(len(self.treatment_names))]
        if self.treatment_series:
            treatment = part[names[0]].rename(self.treatment_names[0])
        else:
            treatment = part[names].set_axis(self.treatment_names, axis=1)
        return part[self.x_columns], part[OUTCOME_COLUMN], treatment


def _check_partitions_match(X, **others) -> None:
    """Collections that Dask would repartition to pair them cannot pair row for row."""
    for name, value in others.items():
        if value.npartitions != X.npartitions:
            raise misaligned_error(
                name, f"it has {value.npartitions} partitions and X {X.npartitions}",
                partitioned=True,
            )  # fmt: skip
        if X.known_divisions != value.known_divisions:
            raise misaligned_error(
                name, "one of it and X knows its partitions' index ranges (divisions) and "
                "the other does not", partitioned=True,
            )  # fmt: skip
        if X.known_divisions and value.divisions != X.divisions:
            raise misaligned_error(
                name, "its partitions' index ranges (divisions) differ from X's",
                partitioned=True,
            )  # fmt: skip


def _categorized(frame) -> bool:
    """Whether ``frame`` passes through ``DataFrame.categorize()``, whose optimisation fails
    when other columns are taken from the same frame and some are left out (Dask)."""
    try:
        from dask.dataframe.dask_expr._categorical import Categorize
    except ImportError:
        try:  # Dask before 2025.1 kept its expressions in the dask-expr package
            from dask_expr._categorical import Categorize
        except ImportError:  # another layout of Dask: optimise as usual
            return False
    return any(True for _ in frame.expr.find_operations(Categorize))


def _partitions(X, y, treatment) -> list:
    """The (X, y, treatment) pieces of each partition, as delayed pandas objects.

    The three are combined into one frame first, so that a Parquet dataset's columns
    read separately (whose partitions Dask may size differently) are read together,
    row for row; collections from different sources line up by their index, as pandas
    aligns them, or raise.
    """
    import dask
    import dask.dataframe as dd

    if not isinstance(X, dd.DataFrame):
        raise TypeError(
            f"y or treatment is a Dask collection, so X must be a Dask DataFrame of the same "
            f"partitions; got {type(X).__name__}. Pass all three from one Dask DataFrame "
            "(X = df[columns], y = df['y'], treatment = df['t'])."
        )
    for name, value in (("y", y), ("treatment", treatment)):
        if not dask.is_dask_collection(value) or not isinstance(value, dd.Series | dd.DataFrame):
            raise TypeError(
                f"X is a Dask DataFrame, so {name} must be a Dask Series or DataFrame of the "
                f"same partitions (e.g. a column of the same Dask DataFrame); got "
                f"{type(value).__name__}."
            )
    if isinstance(y, dd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be one column; got {y.shape[1]} columns.")
        y = y[y.columns[0]]
    series = isinstance(treatment, dd.Series)
    names = [treatment.name] if series else list(treatment.columns)
    if series and names[0] is None:
        names = ["treatment"]
    _check_partitions_match(X, y=y, treatment=treatment)
    places = pd.Series(dtype=float)
    columns = {OUTCOME_COLUMN: y,
               PLACE_COLUMN.format("y"): y.map_partitions(_row_places, meta=places)}  # fmt: skip
    parts = [treatment] if series else [treatment[c] for c in treatment.columns]
    columns.update({TREATMENT_PREFIX.format(k): part for k, part in enumerate(parts)})
    columns[PLACE_COLUMN.format("treatment")] = treatment.map_partitions(_row_places, meta=places)
    columns[PLACE_COLUMN.format("X")] = X.map_partitions(_row_places, meta=places)
    combined = X.assign(**columns)
    # Optimising reads only the columns used (Parquet), but Dask's optimisation of a
    # categorized frame from which columns are left out fails (KeyError, or "'index' is not
    # in list"): such a frame is computed as written, which is correct, if slower.
    pieces = combined.to_delayed(optimize_graph=not _categorized(combined))
    layout = Layout(list(X.columns), names, series)
    split = dask.delayed(layout.split, nout=3)
    return [split(piece) for piece in pieces]


def _in_partition(index: int, check, *args, **kwargs):
    """Run a check on one partition; its error names the partition."""
    try:
        return check(*args, **kwargs)
    except ValueError as error:
        raise ValueError(f"in partition {index}: {error}") from None


class ColumnRoles(NamedTuple):
    """What each column of X is for."""

    grouping: list  # the modifiers, then the group-level predictors that are not modifiers
    controls: list
    categorical_controls: list
    auxiliary: list  # trials, exposure


def _column_roles(spec: ModelSpec, meta: pd.DataFrame) -> ColumnRoles:
    auxiliary = auxiliary_columns(spec)
    frame = meta.drop(columns=auxiliary)
    modifiers = list(spec.modifiers) if not isinstance(spec.modifiers, str) else []
    predictors, controls = Design.column_roles(
        frame, modifiers=modifiers, group_predictors=spec.group_predictors
    )
    grouping = modifiers + [c for c in predictors if c not in modifiers]
    categorical = [
        c for c in controls
        if isinstance(frame[c].dtype, pd.CategoricalDtype)
        or not (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]  # fmt: skip
    return ColumnRoles(grouping, controls, categorical, auxiliary)


# ----------------------------------------------------------------------- the survey
class Survey(NamedTuple):
    """A partition's (or several partitions') summary."""

    n_rows: int
    grouping: pd.DataFrame  # distinct combinations of the grouping columns, with ROWS
    control_levels: dict  # categorical control -> Series of distinct values
    treatment: pd.DataFrame  # distinct treatment combinations, with ROWS
    outcome_levels: pd.Series | None  # ordinal: the distinct outcome values
    #: (what, column) -> {partition: (missing, infinite)}, for the columns that have any
    missing: dict

    def plus(self, other: "Survey") -> "Survey":
        def distinct(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
            both = pd.concat([a, b], ignore_index=True)
            keys = [c for c in both.columns if c != ROWS]
            summed = both.groupby(keys, dropna=False, observed=True, sort=False)[ROWS].sum()
            return summed.reset_index()

        levels = {
            c: pd.Series(pd.concat([v, other.control_levels[c]]).unique(), name=c)
            for c, v in self.control_levels.items()
        }
        outcome = (
            None if self.outcome_levels is None
            else pd.Series(pd.concat([self.outcome_levels, other.outcome_levels]).unique())
        )  # fmt: skip
        missing = {key: dict(found) for key, found in self.missing.items()}
        for key, found in other.missing.items():
            mine = missing.setdefault(key, {})
            for index, (n_missing, n_inf) in found.items():
                before = mine.get(index, (0, 0))
                mine[index] = (before[0] + n_missing, before[1] + n_inf)
        return Survey(
            self.n_rows + other.n_rows, distinct(self.grouping, other.grouping), levels,
            distinct(self.treatment, other.treatment), outcome, missing,
        )  # fmt: skip

    def raise_missing(self) -> None:
        """The in-memory path's error for missing or infinite values, with the counts summed
        over partitions and the partitions named; the in-memory path's order of checks."""
        order = ("treatment", "y", "outcome", "modifier or predictor", "control")
        for (what, column), found in sorted(
            self.missing.items(), key=lambda item: order.index(item[0][0])
        ):
            n_missing = sum(m for m, _ in found.values())
            n_inf = sum(i for _, i in found.values())
            where = sorted(k for k, (m, i) in found.items() if (m if n_missing else i))
            where = f" in partition{'s' if len(where) > 1 else ''} {', '.join(map(str, where))}"
            if what == "treatment":
                called = "treatment" if column == "treatment" else f"treatment {column!r}"
                raise ValueError(  # the wording of the treatment coding's own check
                    f"{called} has {n_missing} missing value(s){where}; drop those rows first."
                )
            if what == "y":
                raise nonfinite_outcome_error(n_missing + n_inf, where=where.strip())
            raise missing_error(what, column, n_missing, n_inf, where=where)


def _treatment_frame(part) -> pd.DataFrame:
    if isinstance(part, pd.Series):
        return part.to_frame(name="treatment" if part.name is None else part.name)
    return part


def _missing_in_partition(index: int, frame, y, treat, *, spec: ModelSpec,
                          roles: ColumnRoles) -> dict:  # fmt: skip
    """The counts of missing (and infinite) values of one partition, in the in-memory
    path's order of checks: treatment, outcome, modifiers and predictors, controls."""
    counts = {("treatment", c): n for c, n in missing_counts(treat, treat.columns).items()}
    counts = {key: (n_missing, 0) for key, (n_missing, _) in counts.items()}
    if family_of(spec.family).categorical_outcome:
        counts[("outcome", "y")] = missing_counts(y.to_frame("y"), ["y"])["y"]
    else:
        try:  # text is refused by the outcome's own check
            values = y.to_numpy(dtype=float, na_value=np.nan)
            counts[("y", "y")] = (int((~np.isfinite(values)).sum()), 0)
        except (TypeError, ValueError):
            pass
    for what, columns in (("modifier or predictor", roles.grouping),
                          ("control", roles.controls)):  # fmt: skip
        counts.update({(what, c): n for c, n in missing_counts(frame, columns).items()})
    return {key: {index: n} for key, n in counts.items() if n[0] or n[1]}


def _survey_partition(X, y, treatment, *, index: int, start: int, spec: ModelSpec,
                      roles: ColumnRoles) -> Survey:  # fmt: skip
    frame = X.drop(columns=roles.auxiliary)
    treat = _treatment_frame(treatment)
    missing = _missing_in_partition(index, frame, y, treat, spec=spec, roles=roles)
    trials, _ = _in_partition(index, trials_and_exposure, spec, X)
    outcome_levels = None
    if family_of(spec.family).categorical_outcome:
        outcome_levels = pd.Series(y.unique())
    elif not any(what == "y" for what, _ in missing):  # else reported with every partition's
        _in_partition(index, model_outcome, spec, y, len(y), trials)
    grouping = frame.groupby(roles.grouping, dropna=False, observed=True, sort=False).size()
    combos = treat.groupby(list(treat.columns), dropna=False, observed=True, sort=False).size()
    levels = {c: pd.Series(frame[c].unique(), name=c) for c in roles.categorical_controls}
    return Survey(
        n_rows=len(X),
        grouping=grouping.rename(ROWS).reset_index(),
        control_levels=levels,
        treatment=combos.rename(ROWS).reset_index(),
        outcome_levels=outcome_levels,
        missing=missing,
    )


def _summary_frame(survey: Survey, meta: pd.DataFrame, roles: ColumnRoles):
    """A small frame with the columns of X whose design is the data's: one row per grouping
    combination (weighted by its rows), then rows of weight 0 that carry each remaining
    level of the categorical controls."""
    grouping = survey.grouping
    frame = pd.DataFrame({c: grouping[c] for c in roles.grouping})
    dtypes = {c: _known_dtype(meta[c].dtype, survey.control_levels.get(c)) for c in roles.controls}
    for c in roles.controls:
        if c in roles.categorical_controls:
            first = survey.control_levels[c].iloc[0]
            frame[c] = pd.Series([first] * len(frame), dtype=dtypes[c])
        else:
            frame[c] = pd.Series(np.zeros(len(frame)), dtype=dtypes[c])
    extra = []  # made once every column is filled: a copy of a row holds all of them
    for c in roles.categorical_controls:
        for level in survey.control_levels[c].iloc[1:]:
            row = frame.iloc[:1].copy()
            row[c] = pd.Series([level], dtype=dtypes[c], index=row.index)
            extra.append(row)
    weights = np.concatenate([grouping[ROWS].to_numpy(float), np.zeros(len(extra))])
    if extra:
        frame = pd.concat([frame, *extra], ignore_index=True)
    ordered = [c for c in meta.columns if c not in roles.auxiliary]
    return frame[ordered], weights


def _known_dtype(dtype, levels: pd.Series | None):
    """``dtype``, or for a categorical whose categories Dask does not know (a Parquet
    dataset's, whose files each hold their own), one with the levels the survey found."""
    if not isinstance(dtype, pd.CategoricalDtype) or levels is None:
        return dtype
    from dask.dataframe.utils import UNKNOWN_CATEGORIES

    if UNKNOWN_CATEGORIES not in dtype.categories:
        return dtype
    return pd.CategoricalDtype(sorted_levels(levels.tolist()), ordered=dtype.ordered)


def _learn_treatment(spec: ModelSpec, survey: Survey, treatment) -> TreatmentCoding:
    """The treatment coding of the data from its distinct values, each weighted by its rows
    (a dose's mean and sd are the rows')."""
    combos = survey.treatment
    names = [c for c in combos.columns if c != ROWS]
    values = combos[names[0]] if isinstance(treatment._meta, pd.Series) else combos[names]
    coding, _ = TreatmentCoding.learn_and_encode(
        values, n_rows=len(combos), treated_value=spec.treated_value,
        control_value=spec.control_value, treatment_type=spec.treatment_type,
        weights=combos[ROWS].to_numpy(float),
    )  # fmt: skip
    return coding


# -------------------------------------------------------------------- the reduction
@dataclasses.dataclass(frozen=True)
class PartitionCoder:
    """Codes a partition's rows under the learned design, exactly as in memory."""

    spec: ModelSpec
    design: Design
    coding: TreatmentCoding
    auxiliary: list
    categories: list | None  # ordinal

    def rows(self, X, y, treatment) -> tuple[RowDesign, OutcomeRows]:
        frame = X.drop(columns=self.auxiliary)
        row_group, _ = self.design.assign(frame, handle_unknown="error")
        controls = self.design.control_columns(frame)
        treat = self.coding.encode_matrix(treatment, n_rows=len(X))
        trials, exposure = trials_and_exposure(self.spec, X)
        if self.categories is not None:
            outcome = pd.Index(self.categories).get_indexer(np.asarray(y, dtype=object))
            outcome = outcome.astype(float)
        else:
            outcome = model_outcome(self.spec, y, len(y), trials)[0]
        rows = RowDesign(controls, self.design.Z, row_group, treat, outcome)
        return rows, OutcomeRows(self.spec.family, outcome, trials, exposure)


def _coded_chunk(X, y, treatment, *, index: int, start: int, coder: PartitionCoder, reduce,
                 **keywords):  # fmt: skip
    """``reduce`` of some of a partition's rows, coded under the learned design."""
    rows, outcome = coder.rows(X, y, treatment)
    return reduce(rows, outcome, index=index, start=start, **keywords)


@dataclasses.dataclass(frozen=True)
class PartitionedRows:
    """Rows in Dask partitions, coded where they live: a :class:`.row_reduction.RowSource`
    whose every pass is one ``dask.compute``."""

    partitions: list
    coder: PartitionCoder
    n_rows: int

    def map_reduce(self, function, **keywords):
        return _map_reduce(self.partitions, _coded_chunk, coder=self.coder, reduce=function,
                           **keywords)  # fmt: skip


def _in_chunks(X, y, treatment, *, function, index: int, **keywords):
    """``function`` of a partition's rows ``CHUNK_ROWS`` at a time, added up (``.plus``): a
    worker never codes more rows at once, however large the partitions are."""
    results = [
        function(X.iloc[start : start + CHUNK_ROWS], y.iloc[start : start + CHUNK_ROWS],
                 treatment.iloc[start : start + CHUNK_ROWS], index=index, start=start,
                 **keywords)
        for start in range(0, max(len(X), 1), CHUNK_ROWS)
    ]  # fmt: skip
    return functools.reduce(lambda a, b: a.plus(b), results)


def _map_reduce(partitions, function, **keywords):
    """``function`` of every partition where it lives, added up (``.plus``) in order."""
    import dask

    delayed = dask.delayed(_in_chunks)
    parts = dask.compute(*[
        delayed(X, y, t, function=function, index=k, **keywords)
        for k, (X, y, t) in enumerate(partitions)
    ])  # fmt: skip
    return functools.reduce(lambda a, b: a.plus(b), parts)


def prepare_partitioned(spec: ModelSpec, X, y, treatment, *, seed: int, stacklevel: int):
    """Learn the design and reduce the rows partition by partition: the
    :class:`LearnedInput` and the :class:`ReducedData` (``stacklevel``: the user's call,
    counted from here, for warnings)."""

    partitions = _partitions(X, y, treatment)
    if not spec.reduce_data:
        raise ValueError(
            "reduce_data=False evaluates the likelihood row by row, which needs the rows in "
            "memory; partitioned (Dask) data are always reduced. Use reduce_data=True."
        )
    meta = X._meta
    roles = _column_roles(spec, meta)
    survey = _map_reduce(partitions, _survey_partition, spec=spec, roles=roles)
    check_row_count(survey.n_rows)
    survey.raise_missing()
    frame, weights = _summary_frame(survey, meta, roles)
    design, _ = Design.learn(frame, modifiers=spec.modifiers,
                             group_predictors=spec.group_predictors, bins=spec.bins_dict,
                             weights=weights)  # fmt: skip
    check_group_count(design)
    reject_treatment_named_in_x(meta.columns, treatment)
    coding = _learn_treatment(spec, survey, treatment)
    categories = None
    family = family_of(spec.family)
    if family.categorical_outcome:
        categories = family.code_outcome(survey.outcome_levels, 0, None)[1]
    coder = PartitionCoder(spec, design, coding, roles.auxiliary, categories)
    source = PartitionedRows(partitions, coder, survey.n_rows)
    reduced = reduce_source(
        spec, source, design=design, coding=coding, n_categories=len(categories or ()),
        seed=seed, stacklevel=stacklevel + 1,
    )  # fmt: skip
    learned = LearnedInput(
        design=design, treatment=coding, categories=categories, n_features_in=meta.shape[1],
        feature_names_in=feature_names_of(meta.columns),
    )  # fmt: skip
    return learned, reduced


# ------------------------------------------------------------------- predictions
def _prediction_frame(X: pd.DataFrame, predict, names: list, with_interval: bool):
    """One partition's predictions as a pandas object on the partition's index."""
    result = predict(X)
    parts = result if with_interval else (result,)
    columns = {}
    for stat, values in zip(("effect", "lower", "upper"), parts, strict=False):
        values = np.asarray(values).reshape(len(X), len(names))
        for k, name in enumerate(names):
            if len(names) == 1:
                label = stat
            else:
                label = f"{stat}[{name}]" if with_interval else name
            columns[label] = values[:, k]
    frame = pd.DataFrame(columns, index=X.index)
    if len(names) == 1 and not with_interval:
        return frame["effect"]
    return frame


def map_predictions(X, predict, names: list, *, with_interval: bool):
    """``predict`` (pandas rows to effects) applied partition by partition: a Dask Series
    ``effect`` (one effect), or a Dask DataFrame (one column per effect; with intervals,
    ``effect``, ``lower``, ``upper``, named ``stat[effect]`` for several effects)."""
    import dask.dataframe as dd

    if not isinstance(X, dd.DataFrame):
        raise TypeError(f"X must be a Dask DataFrame; got {type(X).__name__}.")
    meta = _prediction_frame(X._meta, lambda part: _empty_prediction(part, names, with_interval),
                             names, with_interval)  # fmt: skip
    return X.map_partitions(_prediction_frame, predict, names, with_interval, meta=meta)


def _empty_prediction(part: pd.DataFrame, names: list, with_interval: bool):
    empty = np.zeros((len(part), len(names)))
    return (empty, empty, empty) if with_interval else empty
