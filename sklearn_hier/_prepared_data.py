"""From the user's ``X, y, treatment`` and a frozen :class:`ModelSpec` to what the sampler needs.

This stage validates the input, learns the design (groups, encodings), codes
the treatment once, reduces the rows to exact statistics (Gaussian) or
collapsed cells (other families), and pads the groups so that refits of the
same shape reuse the compiled sampler. Its result, :class:`PreparedData`, is
handed to inference and then to the fitted posterior.
"""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

from ._approximation import (
    APPROXIMABLE_FAMILIES,
    AUTO_EXACT_CELLS,
    LaplaceExpansion,
    OutcomeRows,
    laplace_expansion,
)
from ._centring import centred_groups
from ._collapsed import additive_normal_equations
from ._design import MANY_GROUPS, Design
from ._families import check_outcome, family_data, ordinal_levels, padded_cell_count
from ._memory import check_fit_memory
from ._model import Likelihood, ModelSizes
from ._model_data import AdditiveLevels, CentredGroups, ModelData
from ._spec import ModelSpec
from ._statistics import (
    RowDesign,
    StartValues,
    gaussian_row_data,
    gaussian_statistics,
    padded_group_count,
    start_centred,
)
from ._treatment import TreatmentCoding
from ._validation import as_frame, check_no_missing, column_vector, find_columns, numeric_outcome


def is_count(value) -> bool:
    """A number (not a column name): ``trials=10``."""
    return isinstance(value, Integral | Real) and not isinstance(value, bool | np.bool_)


#: Bins of the controls' score per group when the training rows do not repeat.
PATTERN_BINS = 256


@dataclass(frozen=True)
class RowPatterns:
    """Distinct (group, controls, exposure) rows of the training data, with counts.

    Off the Gaussian family the linear predictor without treatment depends on a
    row only through these, so response-scale group averages are computed once
    per pattern rather than once per row.
    """

    group: np.ndarray
    controls: np.ndarray
    exposure: np.ndarray | None
    weight: np.ndarray

    @classmethod
    def of_rows(cls, controls, row_group, exposure) -> "RowPatterns":
        parts = [row_group[:, None], controls]
        if exposure is not None:
            parts.append(exposure[:, None])
        unique, counts = np.unique(np.hstack(parts), axis=0, return_counts=True)
        order = np.argsort(unique[:, 0], kind="stable")
        unique, counts = unique[order], counts[order]
        return cls(
            group=unique[:, 0].astype(np.int64),
            controls=unique[:, 1 : 1 + controls.shape[1]],
            exposure=unique[:, -1] if exposure is not None else None,
            weight=counts.astype(float),
        )

    @classmethod
    def binned(cls, controls, row_group, exposure, score, n_groups: int) -> "RowPatterns":
        """Each group's rows summarised by bins of ``score``, the part of the linear
        predictor the controls make (at the pilot fit): a bin's mean controls and exposure
        stand for its rows, with its row count as weight.

        For rows that hardly ever repeat (continuous controls) the distinct patterns are the
        rows themselves. A response-scale average over a bin's rows then differs from the
        value at the bin's mean by the curvature times the score's spread within the bin:
        with 256 quantile bins, far below the posterior uncertainty of any group average.
        """
        n = row_group.size
        probe = score[:: max(1, n // 200_000)]
        edges = np.unique(np.quantile(probe, np.linspace(0.0, 1.0, PATTERN_BINS + 1)[1:-1]))
        cell = row_group * (edges.size + 1) + np.searchsorted(edges, score)
        n_cells = n_groups * (edges.size + 1)
        counts = np.bincount(cell, minlength=n_cells).astype(float)
        kept = np.flatnonzero(counts)

        def mean(values):
            return np.bincount(cell, weights=values, minlength=n_cells)[kept] / counts[kept]

        means = [mean(controls[:, j]) for j in range(controls.shape[1])]
        return cls(
            group=kept // (edges.size + 1),
            controls=np.stack(means, axis=1) if means else np.zeros((kept.size, 0)),
            exposure=None if exposure is None else mean(exposure),
            weight=counts[kept],
        )


@dataclass
class PreparedData:
    """Everything fit learned from the data before sampling."""

    rows: RowDesign
    design: Design
    treatment: TreatmentCoding
    xbar: np.ndarray
    data: ModelData
    sizes: ModelSizes
    n: np.ndarray
    n_treated: np.ndarray  # (G, E): rows per group in each effect's arm (non-zero dose)
    exposure: np.ndarray | None
    categories: list | None
    n_features_in: int
    feature_names_in: np.ndarray | None
    expansion: LaplaceExpansion | None = None  # the approximate likelihood's, if any

    @property
    def n_rows(self) -> int:
        return self.rows.n_rows

    def row_patterns(self) -> RowPatterns:
        rows = self.rows
        if self.expansion is None:
            return RowPatterns.of_rows(rows.controls, rows.group, self.exposure)
        score = (rows.controls - self.xbar[: rows.controls.shape[1]]) @ (
            self.expansion.control_direction
        )
        return RowPatterns.binned(
            rows.controls, rows.group, self.exposure, score, self.design.n_groups
        )


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


def _trials_and_exposure(spec: ModelSpec, frame: pd.DataFrame):
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


def _outcome(spec: ModelSpec, y, n_rows: int, trials):
    """The outcome as the model codes it, and the ordinal family's categories."""
    if spec.family == "ordinal":
        column_vector(y, name="y", n_rows=n_rows)  # the length and shape checks
        codes, categories = ordinal_levels(y)
        return codes.astype(np.float64), categories
    return check_outcome(spec.family, numeric_outcome(y, n_rows=n_rows), trials), None


def _reject_treatment_as_control(design: Design, frame: pd.DataFrame, controls, treatment,
                                 treat: np.ndarray) -> None:  # fmt: skip
    """A treatment column also in X would be a control collinear with the treatment."""
    named = (
        [treatment.name] if isinstance(treatment, pd.Series)
        else list(treatment.columns) if isinstance(treatment, pd.DataFrame) else []
    )  # fmt: skip
    for name in named:
        if name is not None and name in frame.columns:
            raise ValueError(
                f"column {name!r} of X is also a treatment column; as a control (or "
                "modifier) it would be collinear with the treatment. Drop it from X."
            )
    head = slice(0, 1000)  # a control that differs there is no copy: skip the full pass
    for j, name in enumerate(design.control_names):
        column = controls[:, j]
        for t in treat.T:
            if not (
                np.array_equal(column[head], t[head])
                or np.array_equal(column[head], 1 - t[head])
            ):
                continue
            if np.array_equal(column, t) or np.array_equal(column, 1 - t):
                raise ValueError(
                    f"column {name!r} of X is the treatment itself; it would be a control "
                    "perfectly collinear with the treatment. Drop it from X."
                )


def _warn_prior_scale(spec: ModelSpec, outcome: np.ndarray) -> None:
    scale = float(outcome.std())
    if scale > 0 and not (0.1 <= scale <= 10.0):
        priors = spec.priors
        warnings.warn(
            f"y has standard deviation {scale:.3g}, but the prior scales "
            f"(coefficients {priors.coef}, sds {priors.sd}, sigma {priors.sigma}) are in y's "
            "units and suit outcomes near unit scale. Standardise y or set the prior scales "
            "in its units.",
            UserWarning,
            stacklevel=4,
        )


def _centered_groups(spec: ModelSpec, n, group_start, outcome, Z) -> np.ndarray:
    """1 for the groups sampled centred, 0 for non-centred."""
    if spec.parameterization == "centered":
        return np.ones(n.shape)  # the padding groups added later stay non-centred
    if spec.parameterization == "noncentered" or spec.family != "gaussian":
        return np.zeros(n.shape)
    # the outcome's total sd overstates the noise: conservative in both rules
    se = float(outcome.std()) * group_start.unit_se[:, 1:]
    return centred_groups(
        group_start.estimate[:, 1:], se, Z, prior_sd_scale=spec.priors.sd
    )


def approximation_method(spec: ModelSpec, rows: RowDesign) -> str:
    """``"laplace"`` or ``"none"`` (exact), as ``spec.approximation`` asks for these rows."""
    asked = spec.approximation or "auto"
    exact_only = (
        spec.family not in APPROXIMABLE_FAMILIES or not spec.reduce_data
        or spec.inference != "nuts"
    )  # fmt: skip
    if asked == "laplace" and exact_only:
        raise ValueError(
            f"approximation='laplace' is for the {', '.join(APPROXIMABLE_FAMILIES)} families "
            f"with reduce_data=True and inference='nuts'; got family={spec.family!r}, "
            f"reduce_data={spec.reduce_data}, inference={spec.inference!r}. Use "
            "approximation='none' (or 'auto')."
        )
    if asked != "auto":
        return asked
    if exact_only or rows.n_rows <= AUTO_EXACT_CELLS:
        return "none"
    return "laplace" if distinct_rows_exceed(rows, AUTO_EXACT_CELLS) else "none"


def distinct_rows_exceed(rows: RowDesign, limit: int) -> bool:
    """Whether more than ``limit`` rows differ in (group, treatment, controls): the cells
    of the exact likelihood. The first ``2 * limit`` rows are looked at first, so data
    that are clearly too many cells are never hashed in full."""
    for stop in (2 * limit, rows.n_rows):
        part = slice(0, stop)
        key = pd.DataFrame(
            np.column_stack([rows.group[part], rows.treatment[part], rows.controls[part]])
        )
        if (~key.duplicated()).sum() > limit:
            return True
    return False


def prepare(spec: ModelSpec, X, y, treatment, *, seed: int = 0) -> PreparedData:
    """Validate the input, learn the design and reduce the data: all of fit but sampling."""
    frame = as_frame(X)
    n_rows = frame.shape[0]
    feature_names = (
        np.asarray(frame.columns, dtype=object)
        if all(isinstance(c, str) for c in frame.columns)
        else None
    )
    coding, treat = TreatmentCoding.learn_and_encode(
        treatment, n_rows=n_rows, treated_value=spec.treated_value,
        control_value=spec.control_value, treatment_type=spec.treatment_type,
    )  # fmt: skip
    trials, exposure = _trials_and_exposure(spec, frame)
    outcome, categories = _outcome(spec, y, n_rows, trials)
    n_features = frame.shape[1]
    frame = frame.drop(columns=auxiliary_columns(spec))
    design, row_group = Design.learn(
        frame,
        modifiers=spec.modifiers,
        group_predictors=spec.group_predictors,
        bins=spec.bins_dict,
    )
    if design.n_groups > MANY_GROUPS:
        raise ValueError(
            f"the modifiers define {design.n_groups} groups, more than the {MANY_GROUPS} "
            "this sampler handles well; bin continuous modifiers (bins={...}) or use "
            "fewer modifiers."
        )
    q, n_effects = len(design.predictor_names), coding.n_effects
    check_fit_memory(
        n_rows=n_rows,
        n_coef=len(design.control_names) + q + n_effects * (1 + q),
        n_groups=design.n_groups,
        n_draws=spec.n_draws,
        row_level=not (spec.family == "gaussian" and spec.reduce_data),
    )
    controls = design.control_matrix(frame)
    _reject_treatment_as_control(design, frame, controls, treatment, treat)
    if spec.family == "gaussian":
        _warn_prior_scale(spec, outcome)

    rows = RowDesign(controls, design.Z, row_group, treat, outcome)
    xbar = rows.column_means()
    n_categories = len(categories) if categories is not None else 0
    group_start = expansion = None
    start = StartValues.stan()
    if spec.family != "gaussian":
        outcome_rows = OutcomeRows(spec.family, outcome, trials, exposure)
        likelihood = None
        if approximation_method(spec, rows) == "laplace":
            expansion = laplace_expansion(
                rows, outcome_rows, xbar=xbar, priors=spec.priors, seed=seed
            )
            likelihood, kind = expansion.statistics, Likelihood.GAUSSIAN_MARGINAL
        else:
            likelihood = family_data(
                spec.family, rows.columns(slice(None)) - xbar, row_group, treat, outcome,
                trials=trials, exposure=exposure, n_categories=n_categories,
                collapse=spec.reduce_data,
            )  # fmt: skip
            likelihood = likelihood.pad(padded_cell_count(likelihood.x.shape[0]))
            kind = Likelihood.CELLS
    elif spec.reduce_data:
        likelihood, start, group_start = gaussian_statistics(rows)
        kind = Likelihood.GAUSSIAN_MARGINAL if spec.marginalized else Likelihood.GAUSSIAN_CELLS
    else:
        likelihood = gaussian_row_data(rows)
        group_start = gaussian_statistics(rows)[2]  # the groups' own estimates, for centring
        kind = Likelihood.GAUSSIAN_ROWS
    n = rows.group_counts.astype(np.int64)
    n_treated = rows.treated_counts.astype(np.int64)
    centred = levels = None
    level_dims = ()
    if spec.structure == "nested" and kind != Likelihood.GAUSSIAN_MARGINAL:
        flag = _centered_groups(spec, n, group_start, outcome, design.Z)
        if flag.any():  # else the cheaper all-non-centred model
            centred = CentredGroups(flag=flag, Z=design.Z, xbar=xbar)
            if kind == Likelihood.GAUSSIAN_CELLS:
                start = start.merged(start_centred(group_start, flag))
    if spec.structure == "additive":
        bases = tuple(design.level_bases())
        levels = AdditiveLevels(
            codes=design.level_codes_of(design.groups).astype(np.int32), bases=bases
        )
        level_dims = tuple(basis.shape for basis in bases)
    n_padded = padded_group_count(design.n_groups)
    data = ModelData(likelihood=likelihood, centred=centred, levels=levels, start=start)
    data = data.pad(n_padded)
    if kind == Likelihood.GAUSSIAN_MARGINAL and spec.structure == "additive":
        mtm, mty = additive_normal_equations(data.likelihood, data.levels, level_dims)
        data = data._replace(levels=data.levels._replace(mtm=mtm, mty=mty))
    sizes = ModelSizes(
        structure=spec.structure,
        likelihood=kind,
        n_groups=n_padded,
        n_coef=rows.n_coef,
        level_dims=level_dims,
        family=spec.family,
        n_categories=n_categories if spec.family == "ordinal" else 0,
        n_effects=n_effects,
    )
    return PreparedData(
        rows=rows, design=design, treatment=coding, xbar=xbar, data=data, sizes=sizes, n=n,
        n_treated=n_treated, exposure=exposure, categories=categories,
        n_features_in=n_features, feature_names_in=feature_names, expansion=expansion,
    )  # fmt: skip
