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


def check_no_missing(frame: pd.DataFrame, columns: Sequence, *, what: str) -> None:
    """Raise naming the first column that holds NaN, None or infinite values."""
    for col in columns:
        values = frame[col]
        n_missing = int(values.isna().sum())
        if n_missing:
            raise ValueError(
                f"{what} column {col!r} has {n_missing} missing value(s) (NaN/None). "
                "Drop or impute those rows before fitting."
            )
        if is_numeric_dtype(values) and not is_bool_dtype(values):
            n_inf = int(np.isinf(values.to_numpy(dtype=float)).sum())
            if n_inf:
                raise ValueError(
                    f"{what} column {col!r} has {n_inf} infinite value(s); "
                    "replace or drop them before fitting."
                )


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
        raise ValueError(
            f"y has {int(bad.sum())} missing or infinite value(s) (first at row "
            f"{int(np.flatnonzero(bad)[0])}); drop those rows before fitting."
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
