"""The user's outcome and its companions (trials, exposure) as the model codes them.

Shared by the in-memory preparation and the reduction of partitioned data, so a
partition's rows are coded exactly as the same rows in memory.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd

from ._families import check_outcome, ordinal_levels
from ._spec import ModelSpec
from ._validation import check_no_missing, column_vector, find_columns, numeric_outcome


def is_count(value) -> bool:
    """A number (not a column name): ``trials=10``."""
    return isinstance(value, Integral | Real) and not isinstance(value, bool | np.bool_)


#: Bins of the controls' score per group when the training rows do not repeat.
PATTERN_BINS = 256


def auxiliary_columns(spec: ModelSpec) -> list:
    """Columns of X that describe the outcome (trials, exposure), not predictors."""
    return [c for c in (spec.trials, spec.exposure) if c is not None and not is_count(c)]


def _check_unambiguous(frame: pd.DataFrame, value, name: str) -> None:
    """A number that is also a column label could mean either: say so, never guess."""
    if is_count(value) and any(
        is_count(c) and c == value for c in frame.columns
    ):
        raise ValueError(
            f"{name}={value!r} is ambiguous: X has integer column labels (NumPy input), so it "
            f"could mean {value!r} for every row or column {value!r} of X. Give X string "
            f"column names (pd.DataFrame(X, columns=[...])) and pass {name}='<column>' for a "
            f"column or {name}={value!r} for a constant."
        )


def positive_column(frame: pd.DataFrame, spec, name: str) -> np.ndarray:
    """``trials`` or ``exposure`` per row: a constant, or a column of ``frame``."""
    _check_unambiguous(frame, spec, name)
    if is_count(spec):
        values = np.full(frame.shape[0], float(spec))
    else:
        find_columns(frame, [spec], param=name)
        check_no_missing(frame, [spec], what=name)
        values = frame[spec].to_numpy(dtype=float)
    if (values <= 0).any():
        raise ValueError(f"{name} must be positive in every row; found {values.min():g}.")
    if name == "trials" and not np.all(np.mod(values, 1) == 0):
        raise ValueError("trials must be whole numbers.")
    return values


def trials_and_exposure(spec: ModelSpec, frame: pd.DataFrame):
    trials = exposure = None
    if spec.trials is not None and spec.family != "binomial":
        raise ValueError(f"trials is for family='binomial'; family is {spec.family!r}.")
    if spec.exposure is not None and spec.family != "poisson":
        raise ValueError(f"exposure is for family='poisson'; family is {spec.family!r}.")
    if spec.family == "binomial":
        if spec.trials is None:
            raise ValueError(
                "family='binomial' needs trials: a column of X with each row's number of "
                "trials, or one number for all rows (trials=10)."
            )
        trials = positive_column(frame, spec.trials, "trials")
    if spec.exposure is not None:
        exposure = positive_column(frame, spec.exposure, "exposure")
    return trials, exposure


def model_outcome(spec: ModelSpec, y, n_rows: int, trials):
    """The outcome as the model codes it, and the ordinal family's categories."""
    if spec.family == "ordinal":
        column_vector(y, name="y", n_rows=n_rows)  # the length and shape checks
        codes, categories = ordinal_levels(y)
        return codes.astype(np.float64), categories
    return check_outcome(spec.family, numeric_outcome(y, n_rows=n_rows), trials), None


def reject_treatment_named_in_x(columns, treatment) -> None:
    """A treatment column also in X would be a control collinear with the treatment."""
    named = (
        [treatment.name] if hasattr(treatment, "name") and not hasattr(treatment, "columns")
        else list(treatment.columns) if hasattr(treatment, "columns") else []
    )  # fmt: skip
    for name in named:
        if name is not None and name in columns:
            raise ValueError(
                f"column {name!r} of X is also a treatment column; as a control (or "
                "modifier) it would be collinear with the treatment. Drop it from X."
            )


def treatment_copies(controls: np.ndarray, treat: np.ndarray) -> np.ndarray:
    """(p, E): whether control column j equals treatment column k (or 1 minus it) in every
    row. Over disjoint rows, the answers combine by logical and."""
    copies = np.zeros((controls.shape[1], treat.shape[1]), dtype=bool)
    head = slice(0, 1000)  # a control that differs there is no copy: skip the full pass
    for j, column in enumerate(controls.T):
        for k, t in enumerate(treat.T):
            if not (
                np.array_equal(column[head], t[head]) or np.array_equal(column[head], 1 - t[head])
            ):
                continue
            copies[j, k] = np.array_equal(column, t) or np.array_equal(column, 1 - t)
    return copies


def reject_treatment_copies(control_names: list, copies: np.ndarray) -> None:
    for j, name in enumerate(control_names):
        if copies[j].any():
            raise ValueError(
                f"column {name!r} of X is the treatment itself; it would be a control "
                "perfectly collinear with the treatment. Drop it from X."
            )


def warn_prior_scale(spec: ModelSpec, scale: float, stacklevel: int) -> None:
    """The default priors suit an outcome near unit scale: say so when it is far from it."""
    if scale > 0 and not (0.1 <= scale <= 10.0):
        priors = spec.priors
        warnings.warn(
            f"y has standard deviation {scale:.3g}, but the prior scales "
            f"(coefficients {priors.coef}, sds {priors.sd}, sigma {priors.sigma}) are in y's "
            "units and suit outcomes near unit scale. Standardise y or set the prior scales "
            "in its units.",
            UserWarning,
            stacklevel=stacklevel,
        )
