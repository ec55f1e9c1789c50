"""The data stage: from the user's ``X, y, treatment`` and a frozen :class:`ModelSpec` to
:class:`ReducedData`.

It validates the input, learns the design (groups, encodings), codes the treatment
once and reduces the rows to exact statistics (Gaussian), collapsed cells or
approximate statistics (other families). Rows in memory are reduced here; rows split
into partitions (Dask) are reduced where they live, by :mod:`._partitioned`. The
model-input stage (:mod:`._prepared_data`) takes it from there.
"""

import numpy as np

from ._approximation import (
    AUTO_EXACT_CELLS,
    CHECK_ROWS,
    MIN_EVENTS,
    EventCounts,
    OutcomeRows,
    approximation_method,
    distinct_rows_exceed,
    laplace_expansion,
)
from ._design import Design, check_group_count
from ._families import family_of, padded_cell_count
from ._memory import check_fit_memory
from ._partitioned import prepare_partitioned
from ._reduced import LearnedInput, ReducedData
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
from ._spec import ModelSpec, effect_units
from ._statistics import RowDesign, gaussian_row_data, gaussian_statistics
from ._treatment import TreatmentCoding
from ._validation import as_frame, check_aligned, check_row_count, feature_names_of, is_partitioned


def reduce_input(spec: ModelSpec, X, y, treatment, *, seed: int = 0
                 ) -> tuple[LearnedInput, ReducedData]:  # fmt: skip
    """Validate the input, learn the design and reduce the rows, in memory or partition by
    partition (Dask): everything fit learns from the data before the model."""
    if is_partitioned(X, y, treatment):
        learned, reduced = prepare_partitioned(spec, X, y, treatment, seed=seed)
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
    learned = LearnedInput(
        design=design, treatment=coding, categories=categories, n_features_in=n_features,
        feature_names_in=feature_names, rows=rows,
    )  # fmt: skip
    return learned, reduced


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
            return ReducedData(gaussian_row_data(rows), group_start=group_start, **counts)
        stats, start, group_start = gaussian_statistics(rows)
        return ReducedData(stats, start=start, group_start=group_start, **counts)
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
            expansion.statistics, patterns=expansion.patterns, expansion=expansion, **counts,
        )  # fmt: skip
    cells = family.cells(
        rows.columns(slice(None)) - xbar, rows.group, rows.treatment, outcome.y,
        trials=outcome.trials, exposure=outcome.exposure, n_categories=n_categories,
        collapse=spec.reduce_data,
    )  # fmt: skip
    return ReducedData(
        cells.pad(padded_cell_count(cells.x.shape[0])),
        patterns=RowPatterns.of_rows(rows.controls, rows.group, outcome.exposure), **counts,
    )  # fmt: skip
