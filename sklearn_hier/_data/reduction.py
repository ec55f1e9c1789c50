"""The data stage: from the user's ``X, y, treatment`` and a frozen :class:`ModelSpec` to
:class:`ReducedData`.

It validates the input, learns the design (groups, encodings), codes the treatment
once and reduces the rows to exact statistics (Gaussian), collapsed cells or
approximate statistics (other families). Rows in memory are one chunk, rows split
into partitions (Dask) many, of the same reduction (:mod:`.row_reduction`); the survey
of partitioned rows is :mod:`.partitioned`'s. The model-input stage
(:mod:`sklearn_hier._modeling.inputs`) takes it from there.
"""

import numpy as np

from .._base.families import family_of, padded_cell_count
from .._base.input_checks import (
    as_frame,
    check_aligned,
    check_row_count,
    feature_names_of,
    is_partitioned,
)
from .._base.spec import ModelSpec
from .design import Design, check_group_count
from .laplace import CHECK_ROWS, OutcomeRows
from .memory import check_fit_memory
from .partitioned import prepare_partitioned
from .reduced import LearnedInput, ReducedData
from .row_inputs import (
    CentredMoments,
    auxiliary_columns,
    model_outcome,
    reject_collinear_controls,
    reject_exact_fit,
    reject_treatment_named_in_x,
    trials_and_exposure,
    warn_prior_scale,
)
from .row_patterns import RowPatterns
from .row_reduction import CellPlan, MemoryRows, reduce_source
from .sufficient_statistics import RowDesign, gaussian_row_data, gaussian_statistics
from .treatment import TreatmentCoding


def reduce_input(spec: ModelSpec, X, y, treatment, *, seed: int = 0
                 ) -> tuple[LearnedInput, ReducedData]:  # fmt: skip
    """Validate the input, learn the design and reduce the rows, in memory or partition by
    partition (Dask): everything fit learns from the data before the model."""
    # warnings name the estimator's fit: reduce_input <- prepare <- fit
    stacklevel = 3
    if is_partitioned(X, y, treatment):
        learned, reduced = prepare_partitioned(
            spec, X, y, treatment, seed=seed, stacklevel=stacklevel + 1
        )
        # the rows stay in their partitions: this process holds at most the approximation's
        # check sample of them, besides the posterior
        _check_memory(spec, learned.design, learned.treatment.n_effects,
                      n_rows=min(reduced.n_rows, CHECK_ROWS))  # fmt: skip
        return learned, reduced
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
    # the controls come coded with the design, each column read once; the reduction reads
    # the codes, and the (rows x columns) matrix is formed only if the rows are used as rows
    design, row_group, controls = Design.learn_coded(
        frame,
        modifiers=spec.modifiers,
        group_predictors=spec.group_predictors,
        bins=spec.bins_dict,
    )
    check_group_count(design)
    _check_memory(spec, design, coding.n_effects, n_rows=n_rows)
    reject_treatment_named_in_x(frame.columns, treatment)
    rows = RowDesign(controls, design.Z, row_group, treat, outcome)
    reduced = reduce_rows(
        spec, rows, OutcomeRows(spec.family, outcome, trials, exposure), design=design,
        coding=coding, n_categories=len(categories) if categories is not None else 0,
        seed=seed, stacklevel=stacklevel + 1,
    )  # fmt: skip
    learned = LearnedInput(
        design=design, treatment=coding, categories=categories, n_features_in=n_features,
        feature_names_in=feature_names, rows=rows,
    )  # fmt: skip
    return learned, reduced


def _check_memory(spec: ModelSpec, design: Design, n_effects: int, *, n_rows: int) -> None:
    """The pre-flight memory check of both paths (``n_rows``: the rows held in memory)."""
    check_fit_memory(
        n_rows=n_rows,
        n_coef=design.layout(n_effects).size,
        n_groups=design.n_groups,
        n_draws=spec.n_draws,
        row_level=not (family_of(spec.family).sufficient_statistics and spec.reduce_data),
    )


def reduce_rows(spec: ModelSpec, rows: RowDesign, outcome: OutcomeRows, *, design: Design,
                coding: TreatmentCoding, n_categories: int, seed: int,
                stacklevel: int) -> ReducedData:  # fmt: skip
    """Rows in memory reduced to what the likelihood needs: the one reduction of
    :mod:`.row_reduction` over a single chunk, or, with ``reduce_data=False``, the rows
    themselves (``stacklevel``: the user's call, counted from here)."""
    if spec.reduce_data:
        return reduce_source(
            spec, MemoryRows(rows, outcome), design=design, coding=coding,
            n_categories=n_categories, seed=seed, stacklevel=stacklevel + 1,
        )  # fmt: skip
    # row by row: the same checks and counts as the reduction, and the rows
    CellPlan.of(spec, rows.n_rows)  # refuses an approximation asked for
    reject_collinear_controls(design.control_names, coding,
                              CentredMoments.of_rows(rows.controls, rows.treatment))  # fmt: skip
    xbar = rows.column_means()
    counts = dict(
        n_rows=rows.n_rows, n=rows.group_counts.astype(np.int64),
        n_treated=rows.treated_counts.astype(np.int64), xbar=xbar,
        outcome_sd=float(rows.outcome.std()),
    )  # fmt: skip
    family = family_of(spec.family)
    if family.identity_link:
        warn_prior_scale(spec, counts["outcome_sd"], stacklevel=stacklevel + 1)
    if family.sufficient_statistics or family.improper_at_exact_fit:
        _, controls_fit, group_start = gaussian_statistics(rows)  # the groups' own estimates
        reject_exact_fit(controls_fit, family)
    if family.sufficient_statistics:
        return ReducedData(gaussian_row_data(rows), group_start=group_start, **counts)
    cells = family.cells(
        rows.columns(slice(None)) - xbar, rows.group, rows.treatment, outcome.y,
        trials=outcome.trials, exposure=outcome.exposure, n_categories=n_categories,
        collapse=False,
    )  # fmt: skip
    return ReducedData(
        cells.pad(padded_cell_count(cells.x.shape[0])),
        patterns=RowPatterns.of_rows(rows.controls, rows.group, outcome.exposure), **counts,
    )  # fmt: skip
