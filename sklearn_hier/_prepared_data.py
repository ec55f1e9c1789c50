"""From the user's ``X, y, treatment`` and a frozen :class:`ModelSpec` to what the sampler needs.

This stage validates the input, learns the design (groups, encodings), codes
the treatment once, reduces the rows to exact statistics (Gaussian), collapsed
cells or approximate statistics (other families), and pads the groups so that
refits of the same shape reuse the compiled sampler. Rows in memory are reduced
here; rows split into partitions (Dask) are reduced where they live, by
:mod:`._partitioned`. Its result, :class:`PreparedData`, is handed to inference
and then to the fitted posterior.
"""

from dataclasses import dataclass

import numpy as np

from ._approximation import (
    AUTO_EXACT_CELLS,
    CHECK_ROWS,
    MIN_EVENTS,
    EventCounts,
    LaplaceExpansion,
    OutcomeRows,
    approximation_method,
    distinct_rows_exceed,
    laplace_expansion,
)
from ._centring import centred_groups
from ._collapsed import additive_normal_equations
from ._design import Design, check_group_count
from ._families import family_of, padded_cell_count
from ._memory import check_fit_memory
from ._model import Likelihood, ModelSizes
from ._model_data import AdditiveLevels, CentredGroups, ModelData, ReducedData
from ._partitioned import prepare_partitioned
from ._row_inputs import (
    CentredMoments,
    auxiliary_columns,
    model_outcome,
    reject_collinear_controls,
    reject_treatment_named_in_x,
    trials_and_exposure,
    warn_prior_scale,
)
from ._row_patterns import RowPatterns
from ._spec import ModelSpec, PriorUnits, effect_units, in_units
from ._statistics import (
    RowDesign,
    gaussian_row_data,
    gaussian_statistics,
    group_regression,
    padded_group_count,
    scale_start,
    start_centred,
)
from ._treatment import TreatmentCoding
from ._validation import (
    as_frame,
    check_aligned,
    check_row_count,
    feature_names_of,
    is_partitioned,
)


@dataclass
class PreparedData:
    """Everything fit learned from the data before sampling."""

    rows: RowDesign | None  # None when the rows stayed in their partitions
    design: Design
    treatment: TreatmentCoding
    xbar: np.ndarray
    data: ModelData
    sizes: ModelSizes
    n: np.ndarray
    n_treated: np.ndarray  # (G, E): rows per group in each effect's arm (non-zero dose)
    n_rows: int
    patterns: RowPatterns | None  # off the Gaussian family: for response-scale averages
    categories: list | None
    n_features_in: int
    feature_names_in: np.ndarray | None
    expansion: LaplaceExpansion | None = None  # the approximate likelihood's, if any


def _centered_groups(spec: ModelSpec, reduced: ReducedData, Z, prior_sd) -> np.ndarray:
    """1 for the groups sampled centred, 0 for non-centred (``prior_sd``: per term, the
    group sds' prior scale in the data's units)."""
    n = reduced.n
    if spec.parameterization == "centered":
        return np.ones(n.shape)  # the padding groups added later stay non-centred
    if spec.parameterization == "noncentered" or not family_of(spec.family).sufficient_statistics:
        return np.zeros(n.shape)
    # the outcome's total sd overstates the noise: conservative in both rules
    group_start = reduced.group_start
    se = reduced.outcome_sd * group_start.unit_se[:, 1:]
    return centred_groups(group_start.estimate[:, 1:], se, Z, prior_sd_scale=prior_sd[1:])


def prepare(spec: ModelSpec, X, y, treatment, *, seed: int = 0) -> PreparedData:
    """Validate the input, learn the design and reduce the data: all of fit but sampling."""
    if is_partitioned(X, y, treatment):
        learned, reduced = prepare_partitioned(spec, X, y, treatment, seed=seed)
        # the rows stay in their partitions: this process holds at most the approximation's
        # check sample of them, besides the posterior
        _check_memory(spec, learned["design"], learned["treatment"].n_effects,
                      n_rows=min(reduced.n_rows, CHECK_ROWS))  # fmt: skip
        return model_inputs(spec, reduced, rows=None, **learned)
    frame = as_frame(X)
    n_rows = frame.shape[0]
    check_row_count(n_rows)
    check_aligned(X, y=y, treatment=treatment)
    feature_names = feature_names_of(frame.columns)
    coding, treat = TreatmentCoding.learn_and_encode(
        treatment, n_rows=n_rows, treated_value=spec.treated_value,
        control_value=spec.control_value, treatment_type=spec.treatment_type,
    )  # fmt: skip
    trials, exposure = trials_and_exposure(spec, frame)
    outcome, categories = model_outcome(spec, y, n_rows, trials)
    n_features = frame.shape[1]
    frame = frame.drop(columns=auxiliary_columns(spec))
    design, row_group = Design.learn(
        frame,
        modifiers=spec.modifiers,
        group_predictors=spec.group_predictors,
        bins=spec.bins_dict,
    )
    check_group_count(design)
    _check_memory(spec, design, coding.n_effects, n_rows=n_rows)
    controls = design.control_matrix(frame)
    reject_treatment_named_in_x(frame.columns, treatment)
    reject_collinear_controls(design.control_names, coding, CentredMoments.of_rows(controls, treat))
    if family_of(spec.family).identity_link:
        warn_prior_scale(spec, float(outcome.std()), stacklevel=4)
    rows = RowDesign(controls, design.Z, row_group, treat, outcome)
    n_categories = len(categories) if categories is not None else 0
    reduced = reduce_rows(
        spec, rows, OutcomeRows(spec.family, outcome, trials, exposure),
        n_categories=n_categories, seed=seed, effect_units=effect_units(coding),
    )  # fmt: skip
    return model_inputs(
        spec, reduced, rows=rows, design=design, treatment=coding, categories=categories,
        n_features_in=n_features, feature_names_in=feature_names,
    )  # fmt: skip


def _check_memory(spec: ModelSpec, design: Design, n_effects: int, *, n_rows: int) -> None:
    """The pre-flight memory check of both paths (``n_rows``: the rows held in memory)."""
    q = len(design.predictor_names)
    check_fit_memory(
        n_rows=n_rows,
        n_coef=len(design.control_names) + q + n_effects * (1 + q),
        n_groups=design.n_groups,
        n_draws=spec.n_draws,
        row_level=not (family_of(spec.family).sufficient_statistics and spec.reduce_data),
    )


def reduce_rows(spec: ModelSpec, rows: RowDesign, outcome: OutcomeRows, *, n_categories: int,
                seed: int, effect_units: np.ndarray | None = None) -> ReducedData:  # fmt: skip
    """Rows in memory reduced to what the likelihood needs (``effect_units``: each effect's
    prior-scale multiplier, for the Laplace approximation's expansion point)."""
    counts = dict(
        n_rows=rows.n_rows, n=rows.group_counts.astype(np.int64),
        n_treated=rows.treated_counts.astype(np.int64), xbar=rows.column_means(),
        outcome_sd=float(rows.outcome.std()),
    )  # fmt: skip
    xbar = counts["xbar"]
    family = family_of(spec.family)
    if family.sufficient_statistics:
        if not spec.reduce_data:
            group_start = gaussian_statistics(rows)[2]  # the groups' own estimates, for centring
            return ReducedData(gaussian_row_data(rows), Likelihood.GAUSSIAN_ROWS,
                               group_start=group_start, **counts)  # fmt: skip
        stats, start, group_start = gaussian_statistics(rows)
        kind = Likelihood.GAUSSIAN_MARGINAL if spec.marginalized else Likelihood.GAUSSIAN_CELLS
        return ReducedData(stats, kind, start=start, group_start=group_start, **counts)
    method = approximation_method(
        spec, rows.n_rows, lambda: distinct_rows_exceed(rows, AUTO_EXACT_CELLS),
        few_events=lambda: EventCounts.of_rows(rows, outcome).fewest(family) < MIN_EVENTS,
    )  # fmt: skip
    if method == "laplace":
        rng = np.random.default_rng(seed)
        index = np.sort(rng.choice(rows.n_rows, size=min(CHECK_ROWS, rows.n_rows), replace=False))
        expansion = laplace_expansion(
            lambda chunk: chunk(rows, outcome), (rows.take(index), outcome.take(index)),
            n_rows=rows.n_rows, pooled_link=family.pooled_link(outcome.totals()),
            xbar=xbar, priors=spec.priors, effect_units=effect_units,
        )  # fmt: skip
        return ReducedData(
            expansion.statistics, Likelihood.GAUSSIAN_MARGINAL, patterns=expansion.patterns,
            expansion=expansion, **counts,
        )  # fmt: skip
    cells = family.cells(
        rows.columns(slice(None)) - xbar, rows.group, rows.treatment, outcome.y,
        trials=outcome.trials, exposure=outcome.exposure, n_categories=n_categories,
        collapse=spec.reduce_data,
    )  # fmt: skip
    return ReducedData(
        cells.pad(padded_cell_count(cells.x.shape[0])), Likelihood.CELLS,
        patterns=RowPatterns.of_rows(rows.controls, rows.group, outcome.exposure), **counts,
    )  # fmt: skip


def model_inputs(spec: ModelSpec, reduced: ReducedData, *, rows: RowDesign | None,
                 design: Design, treatment: TreatmentCoding, categories,
                 n_features_in: int, feature_names_in) -> PreparedData:  # fmt: skip
    """The model's data and sizes from the reduced rows: how the groups enter (centred
    groups, additive levels), padded for compiled-sampler reuse."""
    kind, xbar, start = reduced.kind, reduced.xbar, reduced.start
    # every fit carries the multipliers (ones but for a dose's terms): one pytree layout,
    # so refits of any treatment kind reuse the compiled sampler
    units = PriorUnits.of(effect_units(treatment), n_controls=len(design.control_names),
                          n_predictors=len(design.predictor_names))  # fmt: skip
    priors = in_units(spec.priors, units)
    centred = levels = None
    level_dims = ()
    if spec.structure == "nested" and kind != Likelihood.GAUSSIAN_MARGINAL:
        flag = _centered_groups(spec, reduced, design.Z, priors.sd)
        if flag.any():  # else the cheaper all-non-centred model
            centred = CentredGroups(flag=flag, Z=design.Z, xbar=xbar)
            if kind == Likelihood.GAUSSIAN_CELLS:
                start = start.merged(start_centred(reduced.group_start, flag))
    if spec.structure == "additive":
        bases = tuple(design.level_bases())
        levels = AdditiveLevels(
            codes=design.level_codes_of(design.groups).astype(np.int32), bases=bases
        )
        level_dims = tuple(basis.shape for basis in bases)
    regression = signed_scales = None
    if spec.structure == "nested" and kind == Likelihood.GAUSSIAN_MARGINAL:
        regression = group_regression(
            design.Z, len(design.control_names), treatment.n_effects, xbar
        )
        scales = scale_start(reduced.group_start, design.Z, priors.sd)
        start, signed_scales = start.merged(scales.start), scales.signed
    n_padded = padded_group_count(design.n_groups)
    data = ModelData(likelihood=reduced.likelihood, centred=centred, levels=levels, start=start,
                     prior_units=units,
                     regression=regression, signed_scales=signed_scales)  # fmt: skip
    data = data.pad(n_padded)
    if kind == Likelihood.GAUSSIAN_MARGINAL and spec.structure == "additive":
        mtm, mty = additive_normal_equations(data.likelihood, data.levels, level_dims)
        data = data._replace(levels=data.levels._replace(mtm=mtm, mty=mty))
    q, p = len(design.predictor_names), len(design.control_names)
    sizes = ModelSizes(
        structure=spec.structure,
        likelihood=kind,
        n_groups=n_padded,
        n_coef=p + q + treatment.n_effects * (1 + q),
        level_dims=level_dims,
        family=spec.family,
        n_categories=len(categories) if categories is not None else 0,
        n_effects=treatment.n_effects,
    )
    return PreparedData(
        rows=rows, design=design, treatment=treatment, xbar=xbar, data=data, sizes=sizes,
        n=reduced.n, n_treated=reduced.n_treated, n_rows=reduced.n_rows,
        patterns=reduced.patterns, categories=categories, n_features_in=n_features_in,
        feature_names_in=feature_names_in, expansion=reduced.expansion,
    )  # fmt: skip
