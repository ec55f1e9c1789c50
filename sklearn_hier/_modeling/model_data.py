"""What the compiled model is handed: typed JAX pytrees, padded for compiled-sampler reuse.

:class:`ModelData` bundles the likelihood's data (Gaussian statistics, Gaussian
rows, or the collapsed cells of another family), how the group offsets enter
(the centred groups of the nested structure, the level bases of the additive
one) and where warm-up starts. Every part knows how to pad its groups, so
refits whose data have a few groups fewer reuse the compiled program.
"""

from typing import NamedTuple

import numpy as np

from .._base.families import FamilyCells
from .._base.spec import PriorUnits
from .._data.sufficient_statistics import (
    GaussianRows,
    GaussianStatistics,
    GroupRegression,
    pad_rows,
)
from .geometry import StartValues


class CentredGroups(NamedTuple):
    """The nested structure's groups sampled centred (see ``correlated_offsets``)."""

    flag: np.ndarray  # (G,) 1.0 centred, 0.0 non-centred
    Z: np.ndarray  # (G, q) group-level predictors
    xbar: np.ndarray  # the design's centring, to predict each group's terms

    def pad(self, n_groups: int) -> "CentredGroups":
        extra = n_groups - self.flag.shape[0]  # the padding groups stay non-centred
        return self._replace(flag=pad_rows(self.flag, extra), Z=pad_rows(self.Z, extra))


class AdditiveLevels(NamedTuple):
    """The additive structure: each group's level of every modifier, and per modifier an
    orthonormal basis of the level offsets the population-level terms cannot express.

    ``mtm`` and ``mty`` are the marginal model's normal equations over (w, level-basis
    coordinates), formed once from the statistics (None for the joint model).
    """

    codes: np.ndarray  # (G, n_modifiers) int32
    bases: tuple  # per modifier, (n_levels, dims)
    mtm: np.ndarray | None = None
    mty: np.ndarray | None = None

    def pad(self, n_groups: int) -> "AdditiveLevels":
        return self._replace(codes=pad_rows(self.codes, n_groups - self.codes.shape[0]))


class ModelData(NamedTuple):
    """Everything data-dependent the model function reads."""

    likelihood: GaussianStatistics | GaussianRows | FamilyCells
    centred: CentredGroups | None = None
    levels: AdditiveLevels | None = None
    start: StartValues = StartValues({}, {})
    regression: GroupRegression | None = None  # the nested Gaussian marginal model's
    # (D,) per term of the nested marginal model: is its scale sampled signed (else on the
    # log scale)? None: every term on the log scale. See ``scale_start``.
    signed_scales: np.ndarray | None = None
    # per-parameter multipliers of the prior scales (a dose's priors follow its units);
    # None: the scales as given
    prior_units: PriorUnits | None = None
    # (n_coef,) 1.0 for the fit's coefficients, 0.0 for those the marginal model's programs
    # are padded with (see ``coefficient_padding``); None: unpadded
    coef_kept: np.ndarray | None = None

    def pad(self, n_groups: int) -> "ModelData":
        """Append empty groups up to ``n_groups``: an empty group adds nothing to the
        likelihood, its offsets are drawn from the prior alone and are dropped from
        every output."""
        likelihood = self.likelihood
        if isinstance(likelihood, GaussianStatistics):
            likelihood = likelihood.pad(n_groups)
        return ModelData(
            likelihood=likelihood,
            centred=None if self.centred is None else self.centred.pad(n_groups),
            levels=None if self.levels is None else self.levels.pad(n_groups),
            start=self.start.pad(n_groups),
            regression=None if self.regression is None else self.regression.pad(n_groups),
            signed_scales=self.signed_scales,
            prior_units=self.prior_units,
            coef_kept=self.coef_kept,
        )

    def without_start(self) -> "ModelData":
        return self._replace(start=StartValues.stan())
