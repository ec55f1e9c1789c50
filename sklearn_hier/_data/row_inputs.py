"""The user's outcome and its companions (trials, exposure) as the model codes them.

Shared by the in-memory preparation and the reduction of partitioned data, so a
partition's rows are coded exactly as the same rows in memory.
"""

import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._base.families import family_of
from .._base.input_checks import check_no_missing, column_vector, find_columns, numeric_outcome
from .._base.spec import ModelSpec
from .sufficient_statistics import CHUNK_ROWS, ControlsFit
from .treatment import NEAR_COLLINEAR


def is_count(value) -> bool:
    """A number (not a column name): ``trials=10``."""
    return isinstance(value, Integral | Real) and not isinstance(value, bool | np.bool_)


#: Bins of the controls' score per group when the training rows do not repeat.
PATTERN_BINS = 256

#: A Gaussian fit leaving less than this share of the outcome's sum of squares unexplained
#: (residual sd a millionth of the outcome's) is exact up to rounding.
EXACT_FIT_SHARE = 1e-12


def auxiliary_columns(spec: ModelSpec) -> list:
    """Columns of X that describe the outcome (trials, exposure), not predictors."""
    return [c for c in (spec.trials, spec.exposure) if c is not None and not is_count(c)]


def _check_unambiguous(frame: pd.DataFrame, value, name: str) -> None:
    """A number that is also a column label could mean either: say so, never guess."""
    if is_count(value) and any(is_count(c) and c == value for c in frame.columns):
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
    family = family_of(spec.family)
    if spec.trials is not None and not family.takes_trials:
        raise ValueError(f"trials is for family='binomial'; family is {spec.family!r}.")
    if spec.exposure is not None and not family.takes_exposure:
        raise ValueError(
            f"exposure is for the count families ('poisson', 'negbinomial'); family is "
            f"{spec.family!r}."
        )
    if family.takes_trials:
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
    family = family_of(spec.family)
    if family.categorical_outcome:
        column_vector(y, name="y", n_rows=n_rows)  # the length and shape checks
        return family.code_outcome(y, n_rows, trials)
    return family.code_outcome(numeric_outcome(y, n_rows=n_rows), n_rows, trials)


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


class CentredMoments(NamedTuple):
    """Centred sums of squares and products of the treatment columns and the controls:
    all that the check of controls against the treatment needs. Computed from the rows
    in memory, or from the pooled moments of partitioned rows, so both paths run one
    check."""

    sscp: np.ndarray  # (E + p, E + p): the effect columns first, then the controls
    means: np.ndarray  # (E + p,)
    n_rows: float

    @classmethod
    def of_rows(cls, controls: np.ndarray, treat: np.ndarray) -> "CentredMoments":
        means = np.concatenate([treat.mean(axis=0), controls.mean(axis=0)])
        k = means.size
        sscp = np.zeros((k, k))
        for start in range(0, treat.shape[0], CHUNK_ROWS):  # a loop over chunks, not rows
            rows = slice(start, start + CHUNK_ROWS)
            centred = np.hstack([treat[rows], controls[rows]]) - means
            sscp += centred.T @ centred
        return cls(sscp, means, float(treat.shape[0]))

    @classmethod
    def of_moments(cls, moments, cbar: np.ndarray) -> "CentredMoments":
        """From group moments (:class:`._statistics.GroupMoments`, unweighted) of
        ``v = [1, t]`` and of the controls centred at ``cbar``."""
        vv, vc = moments.vv.sum(axis=0), moments.vc.sum(axis=0)
        n = vv[0, 0]
        tbar = vv[0, 1:] / n
        shift = vc[0] / n  # the controls' sum about cbar (0 when cbar is their mean)
        tt = vv[1:, 1:] - n * np.outer(tbar, tbar)
        tc = vc[1:] - np.outer(vv[0, 1:], shift)
        cc = moments.ctc - n * np.outer(shift, shift)
        sscp = np.block([[tt, tc], [tc.T, cc]])
        return cls(sscp, np.concatenate([tbar, cbar + shift]), float(n))


def _residual_share(corr: np.ndarray, target: int, others: np.ndarray) -> tuple[float, np.ndarray]:
    """Share of column ``target``'s variance that the columns ``others`` leave unexplained
    (1 - R^2), from their correlation matrix, and the standardised coefficients. Collinear
    regressors are handled by dropping the directions they do not span."""
    if others.size == 0:
        return 1.0, np.zeros(0)
    block = corr[np.ix_(others, others)]
    values, vectors = np.linalg.eigh(block)
    keep = values > 1e-9 * max(values.max(), 1.0)
    r = corr[others, target]
    projected = vectors[:, keep].T @ r
    coef = vectors[:, keep] @ (projected / values[keep])
    return max(1.0 - float(projected @ (projected / values[keep])), 0.0), coef


def _treatment_called(effect: str) -> str:
    return "the treatment" if effect == "treatment" else f"treatment {effect!r}"


def reject_collinear_controls(control_names: list, coding, moments: CentredMoments) -> None:
    """Refuse controls that are (nearly) a linear function of the treatment columns: a copy
    of the treatment, ``1 - t``, the dose in other units or shifted. As controls they would
    take the treatment's effect (the prior, not the data, would split it between them).
    Also refuse a treatment column that the controls span together (a treatment given by
    site beside the sites as controls)."""
    E = coding.n_effects
    sscp, means = moments.sscp, moments.means
    spread = np.sqrt(np.clip(np.diag(sscp), 0.0, None))
    # a constant control is the intercept's business, not the treatment's
    varying = spread > 1e-9 * np.maximum(np.abs(means), 1e-300)
    varying[:E] = True
    scale = np.where(varying, spread, 1.0)
    corr = sscp / np.outer(scale, scale)
    effects, columns = coding.effect_names, coding.effect_columns
    treatments = np.arange(E)
    controls = np.flatnonzero(varying[E:]) + E
    for j in controls if moments.n_rows > E + 2 else ():  # else a fit through the points
        share, coef = _residual_share(corr, j, treatments)
        if share < NEAR_COLLINEAR:
            followed = list(dict.fromkeys(
                c.name for c, b in zip(columns, coef, strict=True) if abs(b) > 1e-6
            ))  # fmt: skip
            raise ValueError(
                f"column {control_names[j - E]!r} of X is the treatment itself up to a linear "
                f"function (R^2 = {1 - share:.6f} on treatment {followed}: a copy, 1 - t, or "
                "the dose in other units or shifted). As a control it would take the "
                "treatment's effect. Drop it from X."
            )
    if moments.n_rows <= E + controls.size + 1:
        return  # as many columns as rows: any column is spanned, the priors decide
    for k in treatments:
        others = np.concatenate([np.delete(treatments, k), controls])
        share, coef = _residual_share(corr, k, others)
        if share < NEAR_COLLINEAR:
            used = [control_names[i - E] for i, b in zip(others, coef, strict=True)
                    if i >= E and abs(b) > 1e-6]  # fmt: skip
            raise ValueError(
                f"{_treatment_called(effects[k])} is (nearly) a linear function of the controls "
                f"{used} (R^2 = {1 - share:.6f}): the controls account for the treatment, "
                "so its effect cannot be estimated (e.g. a treatment given by site beside "
                "the sites as controls). Drop those controls from X, or make them modifiers."
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


def reject_exact_fit(fit: ControlsFit, family) -> None:
    """Refuse an outcome that the groups and controls reproduce exactly, with rows to
    spare, for a family with a noise scale (``family.improper_at_exact_fit``): a constant
    outcome, or one equal within every group and arm (a copy of a modifier, say). The
    likelihood then grows without bound as sigma shrinks, faster than any prior on sigma
    falls, so the posterior is improper: sampling piles up at sigma = 0, where every
    group's interval collapses or is undefined."""
    if not family.improper_at_exact_fit:
        return
    if fit.residual_dof >= 1 and fit.residual_share <= EXACT_FIT_SHARE:
        raise ValueError(
            "y is reproduced exactly by the groups (each group's intercept and treatment "
            f"slopes) and the controls, with {fit.residual_dof} rows to spare: its residual "
            "sum of squares is 0 (a constant outcome, or y equal within every group and arm, "
            f"such as a copy of a modifier). The {family.name!r} family's noise scale sigma "
            "then has no lower bound and its posterior is improper. Check that y is the "
            "outcome meant, and that no modifier or control is computed from it."
        )
