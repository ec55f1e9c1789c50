"""Checks on user input that turn bad data into errors naming the column and the fix."""

import difflib
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype


def is_partitioned(*values) -> bool:
    """Whether any of ``values`` is a Dask collection (without importing Dask otherwise)."""
    if "dask" not in sys.modules:
        return False
    import dask

    return any(dask.is_dask_collection(v) for v in values)


def as_frame(X, *, name: str = "X") -> pd.DataFrame:
    """Return ``X`` as a DataFrame without copying or modifying the caller's data.

    NumPy input gets integer column labels 0..p-1 so that columns can be named by
    position. Dask collections are refused: only ``fit`` and ``predict_effect`` take
    them (partition by partition); anything else would pull every row into memory.
    """
    if is_partitioned(X):
        raise TypeError(
            f"{name} is a Dask collection; fit and predict_effect take Dask input, this "
            f"method needs the rows in memory. Pass {name}.compute() (or a sample of it: "
            f"{name}.sample(frac=...).compute())."
        )
    if isinstance(X, pd.Series):
        raise ValueError(
            f"{name} must be 2-D (rows x columns); got a pandas Series. "
            f"Use {name}.to_frame() or select columns with a list, e.g. df[['col']]."
        )
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(
            f"sparse input is not supported for {name}; groups and controls need dense "
            f"columns. Convert with {name}.toarray() or pass a DataFrame."
        )
    if not isinstance(X, pd.DataFrame):
        array = np.asarray(X)
        if np.iscomplexobj(array):
            raise ValueError(f"Complex data not supported in {name}; pass real numbers.")
        if array.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (rows x columns); got an array with {array.ndim} "
                "dimension(s). Reshape your data: X.reshape(-1, 1) for a single feature."
            )
        X = pd.DataFrame(array)
        if array.dtype == object:  # e.g. numbers stored as Python objects
            X = X.infer_objects()
    if X.columns.has_duplicates:
        dupes = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
        raise ValueError(
            f"{name} has duplicate column names {dupes}; rename them so each is unique."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows; at least a few rows per group are needed to fit.")
    if X.shape[1] == 0:
        # wording shared with scikit-learn's own check
        raise ValueError(f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    return X


def check_row_count(n_rows: int) -> None:
    """Fitting needs rows, more than one (both paths: in memory and in partitions)."""
    if n_rows == 0:
        raise ValueError("X has no rows; at least a few rows per group are needed to fit.")
    if n_rows == 1:  # scikit-learn's wording, which its common checks look for
        raise ValueError(
            "X has 1 sample; fitting needs rows with the treatment and rows without it."
        )


def find_columns(frame: pd.DataFrame, names: Sequence, *, param: str) -> list:
    """Check that every entry of ``names`` is a column of ``frame``; suggest close matches."""
    missing = [c for c in names if c not in frame.columns]
    if missing:
        hints = []
        for col in missing:
            close = difflib.get_close_matches(str(col), [str(c) for c in frame.columns], n=1)
            hints.append(f"{col!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"{param} names column(s) not found in X: {', '.join(hints)}. "
            f"X has columns {[str(c) for c in frame.columns]}."
        )
    return list(names)


def missing_counts(frame: pd.DataFrame, columns: Sequence) -> dict:
    """Per column, ``(missing, infinite)``: the counts of NaN/None and of infinite values."""
    counts = {}
    for col in columns:
        values = frame[col]
        n_inf = 0
        if is_numeric_dtype(values) and not is_bool_dtype(values):
            n_inf = int(np.isinf(values.to_numpy(dtype=float, na_value=np.nan)).sum())
        counts[col] = (int(values.isna().sum()), n_inf)
    return counts


def missing_error(what: str, col, n_missing: int, n_inf: int, *, where: str = "") -> ValueError:
    """The error for missing (else infinite) values of a column; ``where``, e.g. " in
    partition 3", says where they are when the rows are not in memory."""
    if n_missing:
        return ValueError(
            f"{what} column {col!r} has {n_missing} missing value(s) (NaN/None){where}. "
            "Drop or impute those rows before fitting."
        )
    return ValueError(
        f"{what} column {col!r} has {n_inf} infinite value(s){where}; "
        "replace or drop them before fitting."
    )


def check_no_missing(frame: pd.DataFrame, columns: Sequence, *, what: str) -> None:
    """Raise naming the first column that holds NaN, None or infinite values."""
    for col, (n_missing, n_inf) in missing_counts(frame, columns).items():
        if n_missing or n_inf:
            raise missing_error(what, col, n_missing, n_inf)


def nonfinite_outcome_error(n_bad: int, *, where: str) -> ValueError:
    """The error for an outcome with missing or infinite values (``where``: the first row,
    or the partitions)."""
    return ValueError(
        f"y has {n_bad} missing or infinite value(s) ({where}); drop those rows before fitting."
    )


def misaligned_error(name: str, detail: str, *, reference: str = "X",
                     partitioned: bool = False) -> ValueError:  # fmt: skip
    """The error for ``name`` (y, treatment, ...) whose rows are not ``reference``'s (X's, or
    the first argument's with an index when X is an array), row for row."""
    if partitioned:
        fix = (
            "Take X, y and treatment from one Dask DataFrame (X = df[columns], y = df['y'], "
            "treatment = df['t']), so that they share partitions and index."
        )
    else:
        fix = (
            f"If the rows are already in the same order, drop the labels of all of them "
            f"(X.reset_index(drop=True), and the same for y and treatment); if the labels are "
            f"right, put {name} in {reference}'s order ({name}.reindex({reference}.index))."
        )
    return ValueError(
        f"{name} does not line up with {reference}: {detail}. Rows are paired by position, so "
        "X, y and "
        f"treatment must have the same index (the same labels in the same order). {fix}"
    )


def _index_difference(index: pd.Index, reference: pd.Index, reference_name: str) -> str:
    """How ``index`` differs from ``reference`` (of the same length), in words."""
    outside = int((~index.isin(reference)).sum())
    if outside:
        return f"{outside} of its index labels are not in {reference_name}'s index"
    return f"its index holds {reference_name}'s labels in a different order"


def check_aligned(X, **others) -> None:
    """Refuse pandas inputs whose index differs from X's (the first with an index, when X
    is an array): rows pair by position, which is right only when the labels agree.

    NumPy arrays, lists and scalars have no labels and pair by position; Dask collections
    are checked partition by partition where they are combined (:mod:`._partitioned`).
    """
    named = [("X", X), *others.items()]
    indexed = [(name, value) for name, value in named
               if isinstance(value, pd.Series | pd.DataFrame)]  # fmt: skip
    if len(indexed) < 2:
        return
    reference_name, reference = indexed[0]
    for name, value in indexed[1:]:
        if len(value) != len(reference):
            continue  # the length checks say so, with their own wording
        if not value.index.equals(reference.index):
            detail = _index_difference(value.index, reference.index, reference_name)
            raise misaligned_error(name, detail, reference=reference_name)


def by_position(value):
    """``value`` with its index labels dropped (pandas objects only), for inputs already
    checked by :func:`check_aligned` that are handed on beside rows without those labels:
    the checks further down then see rows paired by position, as they are."""
    if isinstance(value, pd.Series | pd.DataFrame):
        return value.reset_index(drop=True)
    return value


def take_rows(value, rows):
    """The given rows (positions) of X, y or a treatment: a DataFrame or Series by
    position, anything else as an array."""
    if isinstance(value, pd.Series | pd.DataFrame):
        return value.iloc[rows]
    return np.asarray(value)[rows]


def column_vector(values, *, name: str, n_rows: int) -> np.ndarray:
    """A 1-D array of length ``n_rows`` from a list, array or Series."""
    if values is None:
        if name == "y":  # wording shared with scikit-learn's estimators
            raise ValueError("requires y to be passed, but the target y is None.")
        raise ValueError(f"{name} is required: pass one value per row of X.")
    array = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if np.iscomplexobj(array):
        raise ValueError(f"Complex data not supported in {name}; pass real numbers.")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per row); got shape {array.shape}.")
    if array.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {array.shape[0]} values but X has {n_rows} rows; they must match."
        )
    return array


def numeric_outcome(y, *, n_rows: int) -> np.ndarray:
    """The outcome as finite float64, with clear errors for text, NaN and infinity."""
    array = column_vector(y, name="y", n_rows=n_rows)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        try:
            array = array.astype(float)
        except (TypeError, ValueError):
            raise ValueError(
                f"y must be numeric; got values of type {array.dtype} "
                f"(e.g. {array[0]!r}). Recode the outcome to numbers."
            ) from None
    array = array.astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise nonfinite_outcome_error(
            int(bad.sum()), where=f"first at row {int(np.flatnonzero(bad)[0])}"
        )
    return array


def frame_as_in_fit(X, *, n_features_in: int, feature_names_in, owner: str) -> pd.DataFrame:
    """New data as a frame with the fitted columns: DataFrames by name, arrays by position.

    ``feature_names_in``: the fitted DataFrame's column names (None for array input);
    ``owner`` names the fitted estimator in errors.
    """
    if isinstance(X, pd.DataFrame) or is_partitioned(X):
        return as_frame(X)  # columns are found by name, in any order (Dask input refused)
    if feature_names_in is None:
        frame = as_frame(X)
        if frame.shape[1] != n_features_in:  # wording shared with scikit-learn
            raise ValueError(
                f"X has {frame.shape[1]} features, but {owner} is "
                f"expecting {n_features_in} features as input."
            )
        return frame
    array = np.asarray(X)
    if array.ndim != 2 or array.shape[1] != n_features_in:
        raise ValueError(
            f"X has shape {array.shape}, but the model was fitted on a DataFrame with "
            f"{n_features_in} columns {list(feature_names_in)}; pass a DataFrame "
            "with those columns."
        )
    return pd.DataFrame(array, columns=feature_names_in)


def feature_names_of(columns) -> np.ndarray | None:
    """The column names as ``feature_names_in_``, when they are all strings."""
    return np.asarray(columns, dtype=object) if all(isinstance(c, str) for c in columns) else None
