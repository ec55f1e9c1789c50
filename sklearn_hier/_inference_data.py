"""From raw sampler draws to a labelled ArviZ ``DataTree`` (arviz-base, ArviZ 1.x).

The posterior holds the quantities users read, named as in the documentation:

- ``Intercept``: expected outcome when every population-level column is 0.
- ``b_control`` (dim ``control``): control coefficients (beta).
- ``b_group`` (dim ``group_predictor``): group-level predictors' effect on the intercept.
- ``b_treatment``: the treatment effect when every group-level predictor is 0.
- ``lambda`` (dim ``group_predictor``): how group-level predictors shift the effect.
- ``sd_intercept``, ``sd_effect`` (sigma_theta), ``corr``: the varying part's scales
  and correlation (dim ``varying_modifier`` in the additive structure: the
  modifiers whose levels vary beyond what the group-level predictors express).
- ``sigma``: residual standard deviation (Gaussian family).
- ``cutpoints`` (dim ``cutpoints_dim_0``): ordered thresholds of the ordinal family,
  on the scale of the linear predictor.
- ``group_effect_response`` (dim ``group``, non-Gaussian families): each group's
  effect on the response scale, averaged over its rows.
- ``group_intercept``, ``group_effect`` (dim ``group``): alpha_g (at controls 0) and theta_g.
- additive structure only: ``level_intercept``, ``level_effect`` (dim ``modifier_level``).
"""

from dataclasses import dataclass

import arviz_base
import numpy as np
import xarray as xr


@dataclass(frozen=True)
class CoefficientLayout:
    """Where each block sits in the population-level coefficient vector ``b``."""

    n_controls: int
    n_predictors: int

    @property
    def controls(self) -> slice:
        return slice(0, self.n_controls)

    @property
    def group(self) -> slice:
        return slice(self.n_controls, self.n_controls + self.n_predictors)

    @property
    def treatment(self) -> int:
        return self.n_controls + self.n_predictors

    @property
    def interactions(self) -> slice:
        start = self.treatment + 1
        return slice(start, start + self.n_predictors)


def build_inference_data(
    result,
    *,
    design,
    layout: CoefficientLayout,
    xbar: np.ndarray,
    level_dims: tuple,
    group_counts: tuple[np.ndarray, np.ndarray],
) -> xr.DataTree:
    draws = result.draws
    b = draws["b"]
    Z = design.Z
    tau = b[..., layout.treatment]
    lam = b[..., layout.interactions]
    gamma = b[..., layout.group]
    # ordinal models have no intercept (the cutpoints carry the location)
    intercept = draws.get("Intercept", np.zeros(b.shape[:-1])) - b @ xbar
    u = draws["u"][..., : design.n_groups, :]  # drop the empty padding groups
    posterior = {
        "Intercept": intercept,
        "b_control": b[..., layout.controls],
        "b_group": gamma,
        "b_treatment": tau,
        "lambda": lam,
        "group_intercept": intercept[..., None] + gamma @ Z.T + u[..., 0],
        "group_effect": tau[..., None] + lam @ Z.T + u[..., 1],
    }
    if "sigma" in draws:
        posterior["sigma"] = draws["sigma"]
    if "cutpoints" in draws:
        posterior["cutpoints"] = draws["cutpoints"]
    coords = {
        "control": design.control_names,
        "group_predictor": design.predictor_names,
        "group": design.group_labels,
    }
    dims = {
        "b_control": ["control"],
        "b_group": ["group_predictor"],
        "lambda": ["group_predictor"],
        "group_intercept": ["group"],
        "group_effect": ["group"],
    }
    if not level_dims:  # nested
        posterior["sd_intercept"] = draws["sd_group"][..., 0]
        posterior["sd_effect"] = draws["sd_group"][..., 1]
        posterior["corr"] = draws["L_group"][..., 1, 0]
    else:
        varying = [k for k, (_, dims) in enumerate(level_dims) if dims > 0]
        n_draws = intercept.shape

        def stacked(fn):
            parts = [fn(k) for k in varying]
            return np.stack(parts, -1) if parts else np.zeros(n_draws + (0,))

        posterior["sd_intercept"] = stacked(lambda k: draws[f"sd_m{k}"][..., 0])
        posterior["sd_effect"] = stacked(lambda k: draws[f"sd_m{k}"][..., 1])
        posterior["corr"] = stacked(lambda k: draws[f"L_m{k}"][..., 1, 0])
        offsets = np.concatenate(
            [
                draws[f"u_m{k}"] if dims > 0 else np.zeros(n_draws + (n_levels, 2))
                for k, (n_levels, dims) in enumerate(level_dims)
            ],
            axis=-2,
        )
        posterior["level_intercept"] = offsets[..., 0]
        posterior["level_effect"] = offsets[..., 1]
        coords["varying_modifier"] = [str(design.modifier_names[k]) for k in varying]
        coords["modifier_level"] = level_labels(design)
        for name in ("sd_intercept", "sd_effect", "corr"):
            dims[name] = ["varying_modifier"]
        dims["level_intercept"] = ["modifier_level"]
        dims["level_effect"] = ["modifier_level"]
    n, n_treated = group_counts
    constant_data = {
        "Z": Z,
        "group_n": n,
        "group_n_treated": n_treated,
    }
    return arviz_base.from_dict(
        {"posterior": posterior, "sample_stats": result.stats, "constant_data": constant_data},
        coords=coords,
        dims={
            **dims,
            "Z": ["group", "group_predictor"],
            "group_n": ["group"],
            "group_n_treated": ["group"],
        },
    )


def level_labels(design) -> list[str]:
    """``"name=level"`` for every level of every modifier, in model order."""
    labels = []
    for coding, levels in zip(design.modifiers, design.modifier_levels, strict=True):
        for level in levels:
            shown = f"{level:g}" if coding.kind == "numeric" else str(level)
            labels.append(f"{coding.name}={shown}")
    return labels


def flat(idata, name: str) -> np.ndarray:
    """A posterior variable as ``(n_draws_total, ...)``, chains concatenated."""
    values = idata.posterior[name].values
    return values.reshape((values.shape[0] * values.shape[1],) + values.shape[2:])


def add_group_draws(idata, name: str, draws: np.ndarray) -> None:
    """Add ``(n_draws_total, n_groups)`` draws as posterior variable ``name`` (dim ``group``)."""
    sizes = idata.posterior.sizes
    # a DataTree node takes DataArrays (it stores a bare (dims, values) tuple as an object)
    idata.posterior[name] = xr.DataArray(
        draws.reshape(sizes["chain"], sizes["draw"], -1), dims=("chain", "draw", "group")
    )
