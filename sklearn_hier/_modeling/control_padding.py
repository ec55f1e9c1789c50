"""Zero control columns appended, so that models with a few controls fewer share a program.

The marginal model's compiled programs (the sampler and its completion) are specific to
the shapes of their arguments, and those follow the number of population-level columns:
a model with 5 controls and one with 6 compile separately, each for seconds. So the
marginal model's controls are padded with zero columns up to a multiple of
``CONTROL_PADDING`` (a model without controls gets none), and nearby models share one.

A zero column changes nothing but the program's shapes. It adds nothing to the data's
cross-products, so its coefficient is independent of everything else given the
variance parameters, with its prior as its conditional posterior, and it leaves the
marginal likelihood exactly as it was (its prior variance enters the prior's and the
posterior's log-determinants with opposite signs). The completion draws it from its
prior like any coefficient; :meth:`ControlPadding.drop` removes those draws before
anything reads them, and :meth:`ControlPadding.log_density` their prior density from
the draws' log prior.
"""

from dataclasses import dataclass

import numpy as np

from .._base.spec import PriorUnits
from .._data.sufficient_statistics import GaussianStatistics

#: The marginal model's control count is padded up to a multiple of this.
CONTROL_PADDING = 4


def padded_control_count(n_controls: int) -> int:
    return -(-n_controls // CONTROL_PADDING) * CONTROL_PADDING


@dataclass(frozen=True)
class ControlPadding:
    """``extra`` zero columns after a design's ``n_controls`` controls, which come first
    among the population-level coefficients ``b`` (and, after the constant, among the
    centred design's columns)."""

    n_controls: int
    extra: int = 0

    @classmethod
    def of(cls, n_controls: int) -> "ControlPadding":
        return cls(n_controls, padded_control_count(n_controls) - n_controls)

    def _inserted(self, values, axis: int, offset: int, fill: float):
        values = np.asarray(values)
        if not self.extra:
            return values
        at = offset + self.n_controls
        shape = list(values.shape)
        shape[axis] = self.extra
        filler = np.full(shape, fill, dtype=np.result_type(values, float))
        return np.concatenate(
            [np.take(values, np.arange(at), axis=axis), filler,
             np.take(values, np.arange(at, values.shape[axis]), axis=axis)], axis=axis,
        )  # fmt: skip

    def coefficients(self, values, fill: float = 0.0) -> np.ndarray:
        """A vector in the layout of ``b`` (controls first), with the padding's entries."""
        return self._inserted(values, -1, 0, fill)

    def statistics(self, stats: GaussianStatistics) -> GaussianStatistics:
        """The statistics of the design with the zero columns (after the constant)."""
        if not self.extra:
            return stats
        xtx = self._inserted(self._inserted(stats.xtx, 0, 1, 0.0), 1, 1, 0.0)
        return stats._replace(
            vx=self._inserted(stats.vx, -1, 1, 0.0), xtx=xtx,
            xty=self._inserted(stats.xty, -1, 1, 0.0), xbar=self.coefficients(stats.xbar),
        )  # fmt: skip

    def drop(self, values: np.ndarray) -> np.ndarray:
        """``values`` (the padded ``b`` along the last axis) without the padding's entries."""
        if not self.extra:
            return values
        return np.delete(values, np.s_[self.n_controls : self.n_controls + self.extra], axis=-1)

    def unpadded_sizes(self, sizes):
        """The model's :class:`~.hierarchical.ModelSizes` for the design's own coefficients."""
        return sizes._replace(n_coef=sizes.n_coef - self.extra) if self.extra else sizes

    def unpadded_units(self, units: PriorUnits | None) -> PriorUnits | None:
        """The prior scales' multipliers for the design's own coefficients."""
        if not self.extra or units is None:
            return units
        return units._replace(coef=self.drop(units.coef))

    def log_density(self, b: np.ndarray, scale) -> np.ndarray:
        """The normal(0, ``scale``) log density of the padding's entries of ``b`` (``(...,
        padded coefficients)``), summed: what they add to the draws' log prior."""
        if not self.extra:
            return np.zeros(np.shape(b)[:-1])
        padding = np.asarray(b)[..., self.n_controls : self.n_controls + self.extra]
        scale = np.broadcast_to(np.asarray(scale, dtype=float), np.shape(b)[-1:])
        scale = scale[self.n_controls : self.n_controls + self.extra]
        z = padding / scale
        return np.sum(-0.5 * z * z - np.log(scale) - 0.5 * np.log(2.0 * np.pi), axis=-1)
