"""The one owner of the population-level coefficient layout ``[controls, Z, t, t (x) Z]``.

Every stage lays out the coefficient vector ``b``, the design columns and their means
``xbar`` the same way: the controls, the group-level predictors ``Z``, one column per
treatment effect, then the effects' interactions with ``Z``, effect by effect. Only this
class knows the order; the data, model and result stages ask it for slices and blocks.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class CoefficientBlocks(NamedTuple):
    """``b`` (or ``xbar``) split by :meth:`CoefficientLayout.blocks`; NumPy or JAX arrays."""

    controls: object  # (..., p)
    group: object  # (..., q): gamma, the predictors' effect on the intercept
    treatment: object  # (..., E): the effects at Z = 0
    interactions: object  # (..., E, q): lambda, effect by effect


@dataclass(frozen=True)
class CoefficientLayout:
    """Where each block sits in the population-level coefficient vector ``b``:
    ``[controls, group predictors, treatment columns, treatment x predictor]``."""

    n_controls: int
    n_predictors: int
    n_effects: int = 1

    @classmethod
    def of_size(cls, size: int, *, n_predictors: int, n_effects: int) -> "CoefficientLayout":
        """The layout of a vector of ``size`` coefficients (the controls are the rest)."""
        return cls(size - n_predictors - n_effects * (1 + n_predictors), n_predictors, n_effects)

    @property
    def size(self) -> int:
        return self.n_controls + self.n_predictors + self.n_effects * (1 + self.n_predictors)

    @property
    def controls(self) -> slice:
        return slice(0, self.n_controls)

    @property
    def group(self) -> slice:
        return slice(self.n_controls, self.n_controls + self.n_predictors)

    @property
    def treatment(self) -> slice:
        start = self.n_controls + self.n_predictors
        return slice(start, start + self.n_effects)

    @property
    def interactions(self) -> slice:
        """Effect-major: effect k's interactions with every predictor, then effect k + 1's."""
        start = self.treatment.stop
        return slice(start, start + self.n_effects * self.n_predictors)

    def effect(self, k: int) -> int:
        """The position of effect ``k``'s treatment column."""
        return self.treatment.start + k

    def interactions_of(self, k: int) -> slice:
        """Effect ``k``'s interactions with the predictors."""
        start = self.interactions.start + k * self.n_predictors
        return slice(start, start + self.n_predictors)

    def blocks(self, b) -> CoefficientBlocks:
        """``b`` (last axis in this layout) split into its blocks."""
        lam = b[..., self.interactions]
        return CoefficientBlocks(
            b[..., self.controls], b[..., self.group], b[..., self.treatment],
            lam.reshape(lam.shape[:-1] + (self.n_effects, self.n_predictors)),
        )  # fmt: skip

    def per_effect(self, effect_values, common: float = 1.0) -> np.ndarray:
        """A vector in this layout holding ``common`` on the controls and predictors and
        each effect's value on its treatment column and its interactions (prior scales in
        a dose's units)."""
        values = np.asarray(effect_values, dtype=np.float64)
        return np.concatenate([
            np.full(self.n_controls + self.n_predictors, common), values,
            np.repeat(values, self.n_predictors),
        ])  # fmt: skip
