"""The model specification, frozen from the estimator's parameters when ``fit`` starts.

Everything computed after fit (effects, summaries, plots, saved files, the
cross-validation's refits) reads this object, never the estimator's live
parameters: ``set_params`` on a fitted model changes nothing until the next
fit, as in scikit-learn.
"""

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np
import pandas as pd

from .coefficient_layout import CoefficientLayout
from .families import family_of
from .sampler_settings import resolve_sampler

#: warmup_max_tree_depth="auto" for the nested structure (see HierarchicalHTE).
NESTED_WARMUP_TREE_DEPTH = 7

#: NUTS target acceptance for the marginal model: without the offsets the
#: variance parameters' posterior has no funnel, and at Stan's default 0.8 the
#: nested model takes about half the leapfrog steps of 0.95 with no divergences.
#: The additive model's few-level modifiers leave their sds weakly identified
#: (long tails): 0.9 there.
MARGINAL_TARGET_ACCEPT = {"nested": 0.8, "additive": 0.9}

#: num_warmup="auto": Stan's 1,000 for the joint model; 500 for the marginal model,
#: whose variance parameters start from the data's scales (its draws after 500 and 1,000
#: warm-up iterations have the same leapfrog steps and effective sample size per draw,
#: and after 300 in the nested structure; see NUTSSampler).
NUM_WARMUP = {"joint": 1000, "marginal": 500}

#: What the model does with modifier levels never seen in training.
UNKNOWN_LEVEL_POLICIES = ("error", "population")


class Priors(NamedTuple):
    """Prior scales: traced inputs of the compiled sampler (a JAX pytree).

    ``temper`` is the power of the likelihood in the marginal model: 1 in a
    fit; cross-validation's importance-sampling proposal uses the share of
    rows in a training fold.
    """

    intercept: float = 1.0
    coef: float = 0.5
    sd: float = 1.0
    sigma: float = 1.0
    lkj: float = 1.0
    cutpoint: float = 2.5
    temper: float = 1.0


class PriorUnits(NamedTuple):
    """Multipliers of the prior scales that the data set: part of the model's data (a pytree).

    A continuous dose's effect is a slope per unit of dose, so a prior scale in the
    outcome's units alone would mean something else for a dose in g than in kg. As
    rstanarm's autoscaling does, the priors of a dose's slope ``b_treatment``, of its
    ``lambda`` (the group-level predictors' terms of its effect) and of its group sd
    ``sd_effect`` are per unit of the dose's own spread: their scales are divided by the
    dose's training sd. Every other entry (binary and arm effects included) is exactly 1,
    so those priors are the constructor's.
    """

    coef: np.ndarray  # (n_coef,): multiplies Priors.coef, in the layout of ``b``
    sd: np.ndarray  # multiplies Priors.sd: the intercept's, then each varying effect's

    @classmethod
    def of(
        cls, effect_units, *, n_controls: int, n_predictors: int, varying_slopes: bool = True
    ) -> "PriorUnits":
        """From each effect's multiplier (:func:`effect_units`); ``b`` is laid out as
        ``[controls, Z, t, t (x) Z]``, the last effect by effect. Without varying slopes
        only the intercept has a group sd."""
        units = np.asarray(effect_units, dtype=np.float64)
        layout = CoefficientLayout(n_controls, n_predictors, units.size)
        sd = np.concatenate([[1.0], units if varying_slopes else []])
        return cls(coef=layout.per_effect(units), sd=sd)

    def apply(self, priors: Priors) -> Priors:
        """``priors`` with per-parameter coefficient and group-sd scales."""
        return priors._replace(coef=priors.coef * self.coef, sd=priors.sd * self.sd)


def in_units(priors: Priors, units: PriorUnits | None) -> Priors:
    """The prior scales the model uses: ``priors`` in the data's units (as given without)."""
    return priors if units is None else units.apply(priors)


def effect_units(coding) -> np.ndarray:
    """Per effect of a treatment coding, the multiplier of its prior scales: one over the
    training sd of a continuous dose, 1 for binary and arm effects."""
    return np.array([1.0 / c.sd if c.kind == "continuous" else 1.0 for c in coding.effect_columns])


def prior_scale_table(priors: Priors, units: PriorUnits, *, effect_names, n_controls: int,
                      n_predictors: int, family: str) -> pd.DataFrame:  # fmt: skip
    """The prior of every parameter block, with its resolved scale (``prior_scales_``).

    Columns ``parameter`` (as named in ``idata_``), ``treatment`` (the effect, for the
    effect's blocks), ``prior`` and ``scale``.
    """
    rows = []
    family = family_of(family)
    if family.has_intercept:
        rows.append(("Intercept", None, "normal", priors.intercept))
    if n_controls:
        rows.append(("b_control", None, "normal", priors.coef))
    if n_predictors:
        rows.append(("b_group", None, "normal", priors.coef))
    layout = CoefficientLayout(n_controls, n_predictors, len(effect_names))
    for k, name in enumerate(effect_names):
        scale = priors.coef * units.coef[layout.effect(k)]
        rows.append(("b_treatment", name, "normal", scale))
        if n_predictors:
            rows.append(("lambda", name, "normal", scale))
    rows.append(("sd_intercept", None, "half-normal", priors.sd * units.sd[0]))
    if units.sd.size > 1:  # the slopes vary by group
        for k, name in enumerate(effect_names):
            rows.append(("sd_effect", name, "half-normal", priors.sd * units.sd[1 + k]))
        rows.append(("corr", None, "LKJ", priors.lkj))
    rows.extend(family.prior_rows(priors))
    table = pd.DataFrame(rows, columns=["parameter", "treatment", "prior", "scale"])
    return table.astype({"scale": float})


#: The estimator's parameter behind each field of :class:`Priors`.
PRIOR_PARAMS = {
    "intercept": "prior_intercept_scale",
    "coef": "prior_coef_scale",
    "sd": "prior_sd_scale",
    "sigma": "prior_sigma_scale",
    "lkj": "lkj_concentration",
    "cutpoint": "prior_cutpoint_scale",
}


@dataclass(frozen=True)
class ModelSpec:
    """What was asked for at fit time: the model, its priors and how to sample it."""

    modifiers: tuple
    group_predictors: object
    bins: tuple  # ((column, bins), ...): hashable
    structure: str
    varying_slopes: bool
    family: str
    trials: object
    exposure: object
    treated_value: object
    control_value: object
    treatment_type: str
    handle_unknown: str
    priors: Priors
    reduce_data: bool
    marginalize: bool
    approximation: str
    num_warmup: object  # an int, or "auto" (resolved with the model)
    num_samples: int
    num_chains: int
    target_accept: float | None
    max_tree_depth: int
    warmup_max_tree_depth: object
    dense_mass: bool
    chain_method: str
    progress_bar: object  # True, False or "auto" (resolved when sampling)
    parameterization: str
    inference: str
    svi_steps: int
    svi_guide: str
    svi_learning_rate: float

    @classmethod
    def from_params(cls, params: dict) -> "ModelSpec":
        """Freeze ``HierarchicalHTE.get_params()`` (already validated); the sampler's
        settings come from its ``sampler`` object (or the deprecated flat names)."""
        params = resolve_sampler(params, stacklevel=4)
        priors = Priors(**{field: float(params[name]) for field, name in PRIOR_PARAMS.items()})
        group_predictors = params["group_predictors"]
        if isinstance(group_predictors, list | tuple):
            group_predictors = tuple(group_predictors)
        values = {f.name: params.get(f.name) for f in fields(cls)}
        values.update(
            modifiers=tuple(params["modifiers"])
            if not isinstance(params["modifiers"], str)
            else params["modifiers"],
            group_predictors=group_predictors,
            bins=tuple((params["bins"] or {}).items()),
            priors=priors,
            **params["sampler"].spec_settings(),
        )
        return cls(**values)

    @property
    def bins_dict(self) -> dict:
        return dict(self.bins)

    @property
    def marginalized(self) -> bool:
        """Whether NUTS samples the variance parameters alone (Gaussian, reduced, NUTS)."""
        return (
            family_of(self.family).sufficient_statistics
            and self.reduce_data
            and self.marginalize
            and self.inference == "nuts"
        )

    @property
    def n_draws(self) -> int:
        return self.num_samples * self.num_chains

    def resolved_target_accept(self, *, marginal: bool) -> float:
        """The NUTS target acceptance; ``marginal``: whether the sampled model is the
        marginal one (decided by the model-input stage: the marginal Gaussian model, or
        the Laplace approximation's)."""
        if self.target_accept is not None:
            return float(self.target_accept)
        if marginal:
            return MARGINAL_TARGET_ACCEPT[self.structure]
        return 0.99 if self.structure == "additive" else 0.95

    def resolved_num_warmup(self, *, marginal: bool) -> int:
        """Warm-up iterations per chain; ``marginal`` as for :meth:`resolved_target_accept`."""
        if self.num_warmup == "auto":
            return NUM_WARMUP["marginal" if marginal else "joint"]
        return int(self.num_warmup)

    def resolved_warmup_tree_depth(self) -> int:
        depth = self.warmup_max_tree_depth
        if depth == "auto" and self.structure == "nested":
            return min(NESTED_WARMUP_TREE_DEPTH, self.max_tree_depth)
        return int(self.max_tree_depth if depth in ("auto", None) else depth)
