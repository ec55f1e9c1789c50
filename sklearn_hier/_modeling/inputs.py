"""The model-input stage: from the data stage's :class:`ReducedData` to what the sampler needs.

It decides, once, which likelihood the sampler evaluates (:func:`likelihood_kind`),
how the groups enter (centred groups, additive level bases), where warm-up starts,
and pads the groups so that refits of the same shape reuse the compiled sampler. Its
result, :class:`PreparedData`, is handed to inference and then to the fitted
posterior. :func:`prepare` runs both stages: all of fit but sampling.
"""

from dataclasses import dataclass

import numpy as np

from .._base.compilation_cache import ensure_persistent_cache
from .._base.families import FamilyCells, family_of
from .._base.spec import ModelSpec, PriorUnits, effect_units, in_units
from .._data.design import Design
from .._data.laplace import LaplaceExpansion
from .._data.reduced import LearnedInput, ReducedData
from .._data.reduction import reduce_input
from .._data.row_patterns import RowPatterns
from .._data.sufficient_statistics import (
    GaussianRows,
    RowDesign,
    group_regression,
    padded_group_count,
)
from .._data.treatment import TreatmentCoding
from .geometry import centred_groups, least_squares_start, scale_start, start_centred
from .hierarchical import Likelihood, ModelSizes
from .marginal_gaussian import additive_normal_equations
from .model_data import AdditiveLevels, CentredGroups, ModelData


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
    if (
        spec.parameterization == "noncentered"
        or not family_of(spec.family).sufficient_statistics
        or not spec.varying_slopes  # the rule reads the effects' spread
    ):
        return np.zeros(n.shape)
    # the outcome's total sd overstates the noise: conservative in both rules
    group_start = reduced.group_start
    se = reduced.outcome_sd * group_start.unit_se[:, 1:]
    return centred_groups(group_start.estimate[:, 1:], se, Z, prior_sd_scale=prior_sd[1:])


def prepare(spec: ModelSpec, X, y, treatment, *, seed: int = 0) -> PreparedData:
    """Validate the input, learn the design, reduce the data and form the model's inputs:
    all of fit but sampling."""
    ensure_persistent_cache()  # before anything of the fit compiles
    learned, reduced = reduce_input(spec, X, y, treatment, seed=seed)
    return model_inputs(spec, reduced, learned)


def likelihood_kind(spec: ModelSpec, reduced: ReducedData) -> str:
    """The likelihood the sampler evaluates (a :class:`Likelihood`), from what the data
    reduced to: the one place that decides whether the sampled model is marginal."""
    if isinstance(reduced.likelihood, FamilyCells):
        return Likelihood.CELLS
    if isinstance(reduced.likelihood, GaussianRows):
        return Likelihood.GAUSSIAN_ROWS
    if reduced.expansion is not None or spec.marginalized:  # the Laplace path is marginal
        return Likelihood.GAUSSIAN_MARGINAL
    return Likelihood.GAUSSIAN_CELLS


def model_inputs(spec: ModelSpec, reduced: ReducedData, learned: LearnedInput) -> PreparedData:
    """The model's data and sizes from the reduced rows: the likelihood, how the groups
    enter (centred groups, additive level bases), padded for compiled-sampler reuse."""
    design, treatment, categories = learned.design, learned.treatment, learned.categories
    kind, xbar = likelihood_kind(spec, reduced), reduced.xbar
    n_controls = len(design.control_names)
    start = least_squares_start(
        reduced.controls_fit, n_controls=n_controls, n_group_terms=xbar.size - n_controls
    )
    # every fit carries the multipliers (ones but for a dose's terms): one pytree layout,
    # so refits of any treatment kind reuse the compiled sampler
    units = PriorUnits.of(effect_units(treatment), n_controls=len(design.control_names),
                          n_predictors=len(design.predictor_names),
                          varying_slopes=spec.varying_slopes)  # fmt: skip
    width = units.sd.size  # the terms that vary by group
    priors = in_units(spec.priors, units)
    centred = levels = None
    level_dims = ()
    if spec.structure == "nested" and kind != Likelihood.GAUSSIAN_MARGINAL:
        flag = _centered_groups(spec, reduced, design.Z, priors.sd)
        if flag.any():  # else the cheaper all-non-centred model
            centred = CentredGroups(flag=flag, Z=design.Z, xbar=xbar)
            if kind == Likelihood.GAUSSIAN_CELLS:
                start = start.merged(start_centred(reduced.group_start, flag, width))
    if spec.structure == "additive":
        bases = tuple(design.level_bases())
        levels = AdditiveLevels(
            codes=design.level_codes_of(design.groups).astype(np.int32), bases=bases
        )
        level_dims = tuple(basis.shape for basis in bases)
        if not any(dims for _, dims in level_dims):
            raise ValueError(
                f"structure='additive' has nothing to vary: the group-level predictors "
                f"{design.predictor_names} explain every level of the modifiers "
                f"{design.modifier_names} (two-level modifiers used as their own predictors "
                "leave no level offsets). Use structure='nested', or fewer group_predictors "
                "(group_predictors=None lets every level vary)."
            )
    regression = signed_scales = None
    if spec.structure == "nested" and kind == Likelihood.GAUSSIAN_MARGINAL:
        regression = group_regression(
            design.Z, len(design.control_names), treatment.n_effects, xbar
        )
        scales = scale_start(reduced.group_start, design.Z, priors.sd, width)
        start, signed_scales = start.merged(scales.start), scales.signed
    n_padded = padded_group_count(design.n_groups)
    data = ModelData(likelihood=reduced.likelihood, centred=centred, levels=levels, start=start,
                     prior_units=units,
                     regression=regression, signed_scales=signed_scales)  # fmt: skip
    data = data.pad(n_padded)
    if kind == Likelihood.GAUSSIAN_MARGINAL and spec.structure == "additive":
        mtm, mty = additive_normal_equations(data.likelihood, data.levels, level_dims, width)
        data = data._replace(levels=data.levels._replace(mtm=mtm, mty=mty))
    sizes = ModelSizes(
        structure=spec.structure,
        likelihood=kind,
        n_groups=n_padded,
        n_coef=design.layout(treatment.n_effects).size,
        level_dims=level_dims,
        family=spec.family,
        n_categories=len(categories) if categories is not None else 0,
        n_effects=treatment.n_effects,
        varying_slopes=spec.varying_slopes,
    )
    return PreparedData(
        rows=learned.rows, design=design, treatment=treatment, xbar=xbar, data=data,
        sizes=sizes, n=reduced.n, n_treated=reduced.n_treated, n_rows=reduced.n_rows,
        patterns=reduced.patterns, categories=categories, n_features_in=learned.n_features_in,
        feature_names_in=learned.feature_names_in, expansion=reduced.expansion,
    )  # fmt: skip
