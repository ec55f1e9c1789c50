"""From raw sampler draws to a labelled ArviZ ``DataTree`` (arviz-base, ArviZ 1.x).

The posterior holds the quantities users read, named as in the documentation:

- ``Intercept``: expected outcome when every population-level column is 0.
- ``b_control`` (dim ``control``): control coefficients (beta).
- ``b_group`` (dim ``group_predictor``): group-level predictors' effect on the intercept.
- ``b_treatment``: the treatment effect when every group-level predictor is 0.
- ``lambda`` (dim ``group_predictor``): how group-level predictors shift the effect.
- ``sd_intercept``, ``sd_effect``, ``corr``: the varying part's scales (``sd_effect``, the
  spread of the effect the group-level predictors leave unexplained, keeps this name in
  ``coefficients()`` and ``heterogeneity_summary()``)
  and correlation (dim ``varying_modifier`` in the additive structure: the
  modifiers whose levels vary beyond what the group-level predictors express).

With more than one effect (a multi-arm treatment, several treatments, ...) every
effect quantity gains a last dimension ``effect`` (the arm labels or treatment
columns), and ``corr`` becomes the full correlation matrix of the varying terms
(dims ``term``, ``other_term``: the intercept, then the effects). With one
effect the shapes are those of a single binary treatment.
- ``sigma``: residual standard deviation (Gaussian family).
- ``cutpoints`` (dim ``cutpoints_dim_0``): ordered thresholds of the ordinal family,
  on the scale of the linear predictor.
- ``group_effect_response`` (dim ``group``, non-Gaussian families): each group's
  effect on the response scale, averaged over its rows.
- ``group_intercept``, ``group_effect`` (dim ``group``): alpha_g (at controls 0) and theta_g.
- additive structure only: ``level_intercept``, ``level_effect`` (dim ``modifier_level``).
"""

import arviz_base
import numpy as np
import pandas as pd
import xarray as xr
from xarray.indexes import PandasIndex

from .._base.coefficient_layout import CoefficientLayout
from .._base.families import FAMILIES, family_of

#: Every family's parameters beyond the linear predictor, as the posterior names them.
EXTRA_PARAMETERS = tuple(
    dict.fromkeys(name for f in FAMILIES for name in family_of(f).extra_parameters)
)


def _effects_last(values: np.ndarray, single: bool) -> np.ndarray:
    """Drop the trailing effect axis of a one-effect model (its shapes stay as they were)."""
    return values[..., 0] if single else values


def _with_fixed_slopes(draws: dict, n_effects: int) -> dict:
    """The scales over all of (intercept, effects): where only the intercept varies, the
    effects' sds are zero and their correlations too (the model's assumption, reported as
    such, so that every table has the same columns)."""
    full = 1 + n_effects
    draws = dict(draws)
    for name in [key for key in draws if key.startswith("sd_")]:
        sd, factor = draws[name], draws["L_" + name[3:]]
        if sd.shape[-1] == full:
            continue
        draws[name] = np.concatenate([sd, np.zeros(sd.shape[:-1] + (full - 1,))], axis=-1)
        draws["L_" + name[3:]] = np.broadcast_to(np.eye(full), factor.shape[:-2] + (full, full))
    return draws


def build_inference_data(
    result,
    *,
    design,
    layout: CoefficientLayout,
    xbar: np.ndarray,
    level_dims: tuple,
    group_counts: tuple[np.ndarray, np.ndarray],
    effect_names: list[str] | None = None,
) -> xr.DataTree:
    E = layout.n_effects
    draws = _with_fixed_slopes(result.draws, E)
    b = draws["b"]
    Z = design.Z
    single = E == 1
    effect_names = effect_names or ["treatment"]
    blocks = layout.blocks(b)
    tau = blocks.treatment  # (..., E)
    lam = np.swapaxes(blocks.interactions, -1, -2)
    gamma = blocks.group
    # ordinal models have no intercept (the cutpoints carry the location)
    intercept = draws.get("Intercept", np.zeros(b.shape[:-1])) - b @ xbar
    u = draws["u"][..., : design.n_groups, :]  # drop the empty padding groups
    effects = tau[..., None, :] + np.einsum("...qe,gq->...ge", lam, Z) + u[..., 1:]
    posterior = {
        "Intercept": intercept,
        "b_control": blocks.controls,
        "b_group": gamma,
        "b_treatment": _effects_last(tau, single),
        "lambda": _effects_last(lam, single),
        "group_intercept": intercept[..., None] + gamma @ Z.T + u[..., 0],
        "group_effect": _effects_last(effects, single),
    }
    for name in EXTRA_PARAMETERS:  # the family's own parameters (sigma, cutpoints, ...)
        if name in draws:
            posterior[name] = draws[name]
    coords = {
        "control": design.control_names,
        "group_predictor": design.predictor_names,
        "group": design.group_labels,
    }
    per_effect = [] if single else ["effect"]
    if not single:
        coords["effect"] = list(effect_names)
        coords["term"] = ["Intercept", *effect_names]
        coords["other_term"] = ["Intercept", *effect_names]
    dims = {
        "b_control": ["control"],
        "b_group": ["group_predictor"],
        "b_treatment": per_effect,
        "lambda": ["group_predictor", *per_effect],
        "group_intercept": ["group"],
        "group_effect": ["group", *per_effect],
    }

    def correlation(factor):
        if single:
            return factor[..., 1, 0]
        return factor @ np.swapaxes(factor, -1, -2)

    correlation_dims = [] if single else ["term", "other_term"]
    if not level_dims:  # nested
        posterior["sd_intercept"] = draws["sd_group"][..., 0]
        posterior["sd_effect"] = _effects_last(draws["sd_group"][..., 1:], single)
        posterior["corr"] = correlation(draws["L_group"])
        dims["sd_effect"] = per_effect
        dims["corr"] = correlation_dims
    else:
        varying = [k for k, (_, dims) in enumerate(level_dims) if dims > 0]
        n_draws = intercept.shape
        width = 1 + E

        def stacked(fn, trailing=()):
            parts = [fn(k) for k in varying]
            return np.stack(parts, len(n_draws)) if parts else np.zeros(n_draws + (0,) + trailing)

        posterior["sd_intercept"] = stacked(lambda k: draws[f"sd_m{k}"][..., 0])
        posterior["sd_effect"] = _effects_last(
            stacked(lambda k: draws[f"sd_m{k}"][..., 1:], (E,)), single
        )
        posterior["corr"] = stacked(
            lambda k: correlation(draws[f"L_m{k}"]), () if single else (width, width)
        )
        offsets = np.concatenate(
            [
                draws[f"u_m{k}"] if dims > 0 else np.zeros(n_draws + (n_levels, width))
                for k, (n_levels, dims) in enumerate(level_dims)
            ],
            axis=-2,
        )
        posterior["level_intercept"] = offsets[..., 0]
        posterior["level_effect"] = _effects_last(offsets[..., 1:], single)
        coords["varying_modifier"] = [str(design.modifier_names[k]) for k in varying]
        coords["modifier_level"] = level_labels(design)
        dims["sd_intercept"] = ["varying_modifier"]
        dims["sd_effect"] = ["varying_modifier", *per_effect]
        dims["corr"] = ["varying_modifier", *correlation_dims]
        dims["level_intercept"] = ["modifier_level"]
        dims["level_effect"] = ["modifier_level", *per_effect]
    n, n_treated = group_counts
    constant_data = {
        "Z": Z,
        "group_n": n,
        "group_n_treated": _effects_last(np.asarray(n_treated).reshape(len(n), -1), single),
    }
    tree = labelled_tree(
        {"posterior": posterior, "sample_stats": result.stats, "constant_data": constant_data},
        coords=coords,
        dims={
            **dims,
            "Z": ["group", "group_predictor"],
            "group_n": ["group"],
            "group_n_treated": ["group", *per_effect],
        },
    )
    if result.num_warmup is not None:  # what num_warmup="auto" resolved to, on record
        tree["sample_stats"].attrs["num_warmup"] = int(result.num_warmup)
    return tree


def numpy_variable(dims, values) -> xr.Variable:
    """An xarray Variable holding a NumPy array as it is.

    For every array it is handed, xarray asks whether it is a Dask array, and asking
    imports ``dask.array`` where Dask is installed: half a second of a new process's
    first fit, for arrays that are NumPy's by construction. ``fastpath`` skips that
    question and the conversions that only other kinds of array need; arrays of objects
    (which xarray may convert, dates among them) take the usual path.
    """
    values = np.asarray(values)
    return xr.Variable(dims, values, fastpath=values.dtype.kind in "biufcUS")


def numpy_coordinates(coords: dict) -> xr.Coordinates:
    """Indexed coordinates (``{dim: labels}``) made from their pandas indexes, which keep
    the labels' NumPy dtype; xarray's own path from an array to an index asks the Dask
    question of :func:`numpy_variable` too (importing ``dask``)."""
    indexes = {}
    for dim, labels in coords.items():
        labels = np.asarray(labels)
        indexes[dim] = PandasIndex(pd.Index(labels), dim, coord_dtype=labels.dtype)
    variables = {dim: index.create_variables()[dim] for dim, index in indexes.items()}
    return xr.Coordinates(variables, indexes)


#: The leading dimensions of every variable in a group of draws.
SAMPLE_DIMS = ("chain", "draw")


def labelled_tree(groups: dict, *, coords: dict, dims: dict) -> xr.DataTree:
    """A DataTree laid out as :func:`arviz_base.from_dict` lays it out (the same
    dimensions, default dimension names and integer coordinates, and attributes), built
    as one Dataset per group.

    ``from_dict`` makes a labelled DataArray per variable and then aligns them all into
    a Dataset; here each group is a single Dataset of ``(dims, values)`` pairs over one
    set of coordinates, which is several times cheaper (a fit pays it every time, a
    study plan once per simulated study). A group whose name holds ``"data"`` has no
    sample dimensions, as in ArviZ.
    """
    tree = {}
    for group, variables in groups.items():
        sample_dims = () if "data" in group else SAMPLE_DIMS
        data_vars, used = {}, {}
        for name, values in variables.items():
            values = np.asarray(values)
            named = (*sample_dims, *dims.get(name, ()))
            named += tuple(f"{name}_dim_{i}" for i in range(values.ndim - len(named)))
            data_vars[name] = numpy_variable(named, values)
            for dim, length in zip(named, values.shape, strict=True):
                used[dim] = length
        labels = {dim: coords.get(dim, np.arange(length)) for dim, length in used.items()}
        group_coords = numpy_coordinates(labels)
        # the attributes ArviZ gives a group, taken from ArviZ itself: make_attrs records
        # the sample dimensions only from arviz-base 1.1 on, dict_to_dataset in every version
        attrs = arviz_base.dict_to_dataset({}, sample_dims=list(sample_dims)).attrs
        tree[group] = xr.Dataset(data_vars, coords=group_coords, attrs=attrs)
    return xr.DataTree.from_dict(tree)


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
    """Add ``(n_draws_total, n_groups)`` draws as posterior variable ``name`` (dim ``group``),
    or ``(n_draws_total, n_groups, n_effects)`` (dims ``group``, ``effect``)."""
    sizes = idata.posterior.sizes
    dims = ("chain", "draw", "group") + (("effect",) if draws.ndim == 3 else ())
    # a DataTree node takes DataArrays (it stores a bare (dims, values) tuple as an object)
    idata.posterior[name] = xr.DataArray(
        numpy_variable(dims, draws.reshape((sizes["chain"], sizes["draw"]) + draws.shape[1:]))
    )
