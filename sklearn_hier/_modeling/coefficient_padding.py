"""The marginal model's programs are compiled for padded coefficients, so nearby models share them.

A sampler's program is compiled for its inputs' shapes. Group counts are padded already
(:data:`~sklearn_hier._data.sufficient_statistics.GROUP_PADDING`); here the Gaussian
marginal model's population-level coefficients are padded too, with coefficients whose
design columns are zero: in the nested structure up to at least :data:`MIN_PREDICTORS`
group-level predictors, and then to a multiple of :data:`COEFFICIENT_PADDING` coefficients
with controls (in the additive structure, at the end). Models whose controls encode to a
few columns more or fewer (a fold missing a categorical level, another set of controls),
or which compare groupings by one or two modifiers, then run one program.

A coefficient no row loads on leaves the posterior of every other parameter exactly as it
was: integrated out, its prior's normalising constant and the log determinant it adds to
the precision cancel (``-0.5 log v + 0.5 log v``, to rounding). Its conditional draw is a
draw from its prior, which the sampling stage drops (``ModelData.coef_kept``), and the
log prior density leaves it out.
"""

import numpy as np

from .._base.coefficient_layout import CoefficientLayout
from .._data.sufficient_statistics import group_regression, spread_along
from .hierarchical import ModelSizes
from .model_data import ModelData

#: Coefficients are padded up to a multiple of this.
COEFFICIENT_PADDING = 8

#: The nested structure's group-level predictors are padded up to this many (each adds a
#: coefficient per term that varies: the intercept's and every effect's). Above it the
#: predictors are as many as the model has: more would make every gradient dearer.
MIN_PREDICTORS = 2


def _padded_count(n_coef: int) -> int:
    return -(-n_coef // COEFFICIENT_PADDING) * COEFFICIENT_PADDING


def _nested_layouts(sizes: ModelSizes, data: ModelData
                    ) -> tuple[CoefficientLayout, CoefficientLayout]:  # fmt: skip
    """The nested model's coefficient layout and the padded one: its likelihood reads the
    group-level predictors' terms through the group-level regression, and every coefficient
    between the constant and them as a control, so the padding goes there."""
    n_predictors = np.shape(data.regression.zt)[1] - 1
    layout = CoefficientLayout.of_size(sizes.n_coef, n_predictors=n_predictors,
                                       n_effects=sizes.n_effects)  # fmt: skip
    predictors = max(n_predictors, MIN_PREDICTORS)
    unpadded = CoefficientLayout(layout.n_controls, predictors, sizes.n_effects).size
    n_controls = layout.n_controls + _padded_count(unpadded) - unpadded
    return layout, CoefficientLayout(n_controls, predictors, sizes.n_effects)


def _positions(sizes: ModelSizes, data: ModelData
               ) -> tuple[np.ndarray, int, CoefficientLayout | None]:  # fmt: skip
    """Where each of the model's coefficients sits among the padded ones (in increasing
    order), how many those are, and (nested structure) their layout. The additive
    structure's dense system treats every coefficient alike: its padding goes at the end."""
    if sizes.structure != "nested":
        return np.arange(sizes.n_coef), _padded_count(sizes.n_coef), None
    layout, padded = _nested_layouts(sizes, data)
    q = layout.n_predictors
    positions = np.concatenate([
        np.arange(layout.n_controls),
        padded.group.start + np.arange(q),
        padded.treatment.start + np.arange(layout.n_effects),
        *[padded.interactions_of(k).start + np.arange(q) for k in range(layout.n_effects)],
    ]).astype(np.int64)  # fmt: skip
    return positions, padded.size, padded


def with_padded_coefficients(sizes: ModelSizes, data: ModelData) -> tuple[ModelSizes, ModelData]:
    """The Gaussian marginal model's sizes and data with its coefficients padded (see the
    module), and ``data.coef_kept`` marking the model's own: 1.0, else 0.0."""
    positions, size, padded = _positions(sizes, data)
    stats = data.likelihood
    # the design's columns: the constant, then the coefficients'
    columns = np.concatenate([[0], 1 + positions])
    start = data.start
    if "b" in start.loc:
        start = type(start)(
            {**start.loc, "b": spread_along(start.loc["b"], positions, size)},
            {**start.spread, "b": spread_along(start.spread["b"], positions, size, fill=1.0)},
        )
    levels = data.levels
    if levels is not None and levels.mtm is not None:  # (w, level coordinates): w's part
        n_coords = np.shape(levels.mty)[0] - 1 - sizes.n_coef
        rows = np.concatenate([columns, 1 + size + np.arange(n_coords)])
        levels = levels._replace(
            mtm=spread_along(levels.mtm, rows, 1 + size + n_coords, axes=(0, 1)),
            mty=spread_along(levels.mty, rows, 1 + size + n_coords),
        )
    regression = data.regression
    stats = stats.in_wider_design(columns, 1 + size)
    if regression is not None:
        # the padding predictors are zero in every group: their terms' columns are zero
        zt = np.asarray(regression.zt)
        zt = spread_along(zt, np.arange(zt.shape[1]), 1 + padded.n_predictors, axes=(1,))
        to_w = group_regression(zt[:, 1:], padded.n_controls, padded.n_effects, stats.xbar).to_w
        regression = regression._replace(zt=zt, to_w=to_w)  # the padding groups' rows stay zero
    units = data.prior_units
    if units is not None:
        units = units._replace(coef=spread_along(units.coef, positions, size, fill=1.0))
    data = data._replace(
        likelihood=stats, start=start, levels=levels, regression=regression, prior_units=units,
        coef_kept=spread_along(np.ones(sizes.n_coef), positions, size),
    )  # fmt: skip
    return sizes._replace(n_coef=size), data
