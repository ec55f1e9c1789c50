"""The marginal model's programs are compiled for padded coefficients, so nearby models share them.

A sampler's program is compiled for its inputs' shapes. Group counts are padded already
(:data:`~sklearn_hier._data.sufficient_statistics.GROUP_PADDING`); here the Gaussian
marginal model's population-level coefficients are padded too, with coefficients whose
design columns are zero: up to at least :data:`MIN_PREDICTORS` group-level predictors, and
then to a multiple of :data:`COEFFICIENT_PADDING` coefficients with controls. Models whose
controls encode to a few columns more or fewer (a fold missing a categorical level,
another set of controls), or which compare groupings by one or two modifiers, then run one
program.

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


def _layouts(sizes: ModelSizes, data: ModelData) -> tuple[CoefficientLayout, CoefficientLayout]:
    """The model's coefficient layout and the padded one. The additive structure has no
    group-level regression in its likelihood: every coefficient is a column of its dense
    system, so its padding goes with the controls."""
    n_effects = sizes.n_effects
    n_predictors = 0
    if sizes.structure == "nested":
        n_predictors = np.shape(data.regression.zt)[1] - 1
    layout = CoefficientLayout.of_size(sizes.n_coef, n_predictors=n_predictors,
                                       n_effects=n_effects)  # fmt: skip
    predictors = max(n_predictors, MIN_PREDICTORS) if sizes.structure == "nested" else 0
    unpadded = CoefficientLayout(layout.n_controls, predictors, n_effects).size
    extra = -(-unpadded // COEFFICIENT_PADDING) * COEFFICIENT_PADDING - unpadded
    return layout, CoefficientLayout(layout.n_controls + extra, predictors, n_effects)


def _positions(layout: CoefficientLayout, padded: CoefficientLayout) -> np.ndarray:
    """Where each of ``layout``'s coefficients sits in ``padded``'s (in increasing order)."""
    q = layout.n_predictors
    return np.concatenate([
        np.arange(layout.n_controls),
        padded.group.start + np.arange(q),
        padded.treatment.start + np.arange(layout.n_effects),
        *[padded.interactions_of(k).start + np.arange(q) for k in range(layout.n_effects)],
    ]).astype(np.int64)  # fmt: skip


def with_padded_coefficients(sizes: ModelSizes, data: ModelData) -> tuple[ModelSizes, ModelData]:
    """The Gaussian marginal model's sizes and data with its coefficients padded (see the
    module), and ``data.coef_kept`` marking the model's own: 1.0, else 0.0."""
    layout, padded = _layouts(sizes, data)
    positions, size = _positions(layout, padded), padded.size
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
        Z = np.asarray(regression.zt)[:, 1:]
        Z = spread_along(Z, np.arange(Z.shape[1]), padded.n_predictors, axes=(1,))
        regression = group_regression(Z, padded.n_controls, padded.n_effects, stats.xbar)
    units = data.prior_units
    if units is not None:
        units = units._replace(coef=spread_along(units.coef, positions, size, fill=1.0))
    data = data._replace(
        likelihood=stats, start=start, levels=levels, regression=regression, prior_units=units,
        coef_kept=spread_along(np.ones(sizes.n_coef), positions, size),
    )  # fmt: skip
    return sizes._replace(n_coef=size), data
