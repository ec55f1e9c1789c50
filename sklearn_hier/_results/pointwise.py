"""Per-row log-likelihoods and observed outcomes: the ArviZ groups that LOO and its
relatives read (``observed_data``, ``log_likelihood``).

A fit keeps per-group draws, not per-row ones, so these come from one more pass over
the rows, block by block: each row's linear predictor from its group's draws, then the
family's exact log density (:meth:`Family.row_loglik`). Collapsed cells are never
involved: every row is its own unit, so models with different groupings are compared on
the same units.
"""

import numpy as np
import pandas as pd
import xarray as xr

from .._base.families import family_of
from .._base.input_checks import column_vector, numeric_outcome
from .._data.memory import FLOAT, USABLE_FRACTION, available_memory_bytes
from .._data.row_inputs import trials_and_exposure
from .posterior import FittedPosterior


def coded_outcome(posterior: FittedPosterior, y, n_rows: int) -> np.ndarray:
    """``y`` coded as the fit coded it: an ordinal outcome by the fitted categories (a
    subset of rows may lack some), every other family as numbers, checked as in fit."""
    family = family_of(posterior.family)
    if family.categorical_outcome:
        values = column_vector(y, name="y", n_rows=n_rows)
        codes = pd.Index(list(posterior.categories)).get_indexer(pd.Series(values).tolist())
        if (codes < 0).any():
            unknown = pd.Series(values)[codes < 0].unique()[:3].tolist()
            raise ValueError(
                f"y holds categories the model was not fitted on (e.g. {unknown}); the fitted "
                f"categories are {list(posterior.categories)}."
            )
        return codes.astype(np.float64)
    return numeric_outcome(y, n_rows=n_rows)


def fits_in_memory(n_draws: int, n_rows: int) -> bool:
    """Whether a rows x draws array of floats fits in this machine's free memory."""
    available = available_memory_bytes()
    return available is None or n_draws * n_rows * FLOAT <= USABLE_FRACTION * available


def _check_memory(n_draws: int, n_rows: int, what: str) -> None:
    if not fits_in_memory(n_draws, n_rows):
        needed = n_draws * n_rows * FLOAT
        raise MemoryError(
            f"{what} of {n_rows:,} rows x {n_draws:,} draws need {needed / 2**30:.1f} GiB, "
            "more than this machine has free. model_comparison.psis_loo and compare_models "
            "estimate PSIS-LOO from a subsample of the rows instead (subsample=...); or pass "
            "a random subsample of the rows here."
        )


def _family_parameters(posterior: FittedPosterior) -> dict:
    """The family's own parameters' draws, shaped to broadcast over rows."""
    params = {}
    for name in family_of(posterior.family).extra_parameters:
        draws = posterior.draws(name)
        params[name] = draws if draws.ndim > 1 else draws[:, None]
    return params


def _linear_predictors(posterior: FittedPosterior, frame: pd.DataFrame, treatment):
    """Yield (rows, eta (draws, rows in block), trials, exposure) block by block."""
    n_rows = frame.shape[0]
    treat = posterior.treatment.encode_matrix(treatment, n_rows=n_rows)
    trials, _ = trials_and_exposure(posterior.spec, frame)
    b_control = posterior.draws("b_control")
    for rows, intercepts, effects, controls, exposure in posterior.row_blocks(frame):
        eta = intercepts + (controls @ b_control.T).T + np.sum(effects * treat[rows], axis=-1)
        yield rows, eta, None if trials is None else trials[rows], exposure


def pointwise_log_likelihood(posterior: FittedPosterior, X, y, treatment) -> np.ndarray:
    """(chains * draws, rows): each row's log-likelihood under each posterior draw."""
    frame = posterior.frame(X)
    n_rows = frame.shape[0]
    n_draws = posterior.draws("group_intercept").shape[0]
    _check_memory(n_draws, n_rows, "per-row log-likelihoods")
    family = family_of(posterior.family)
    outcome = coded_outcome(posterior, y, n_rows)
    params = _family_parameters(posterior)
    out = np.empty((n_draws, n_rows))
    for rows, eta, trials, exposure in _linear_predictors(posterior, frame, treatment):
        if trials is not None:
            family.check_outcome(outcome[rows], trials)
        out[:, rows] = family.row_loglik(
            outcome[rows], eta, trials=trials, exposure=exposure, params=params
        )
    return out


def replicated_outcomes(posterior: FittedPosterior, X, treatment, *, seed: int) -> np.ndarray:
    """(chains * draws, rows): one outcome drawn for each row under each posterior draw
    (the posterior predictive distribution; an ordinal outcome as category codes)."""
    frame = posterior.frame(X)
    n_rows = frame.shape[0]
    n_draws = posterior.draws("group_intercept").shape[0]
    _check_memory(n_draws, n_rows, "replicated outcomes")
    family = family_of(posterior.family)
    params = _family_parameters(posterior)  # every draw at once, over (draws, rows)
    rng = np.random.default_rng(seed)
    out = np.empty((n_draws, n_rows))
    for rows, eta, trials, exposure in _linear_predictors(posterior, frame, treatment):
        out[:, rows] = family.simulate(eta, rng, trials=trials, exposure=exposure, params=params)
    return out


def with_observations(
    posterior: FittedPosterior, X, y, treatment, *, predictive: bool = False, seed: int = 0
) -> xr.DataTree:
    """A copy of the fit's ``DataTree`` with ``observed_data`` (the coded outcome, one
    entry per row on dimension ``obs``) and ``log_likelihood`` (per row and draw); with
    ``predictive``, also ``posterior_predictive`` (one replicated outcome per row and
    draw)."""
    loglik = pointwise_log_likelihood(posterior, X, y, treatment)
    idata = posterior.idata.copy()
    n_rows = loglik.shape[1]
    observed = coded_outcome(posterior, y, n_rows)
    rows = {"obs": np.arange(n_rows)}
    idata["observed_data"] = xr.DataTree(xr.Dataset({"y": ("obs", observed)}, coords=rows))
    coords = {"chain": idata.posterior["chain"].values,
              "draw": idata.posterior["draw"].values, **rows}  # fmt: skip
    shape = (coords["chain"].size, coords["draw"].size, n_rows)

    def per_draw(values: np.ndarray) -> xr.DataTree:
        dataset = xr.Dataset({"y": (("chain", "draw", "obs"), values.reshape(shape))}, coords)
        return xr.DataTree(dataset)

    idata["log_likelihood"] = per_draw(loglik)
    if predictive:
        idata["posterior_predictive"] = per_draw(
            replicated_outcomes(posterior, X, treatment, seed=seed)
        )
    return idata


def group_difference_table(
    posterior: FittedPosterior, X, y, treatment, *, prob: float, effect: int, seed: int
) -> pd.DataFrame:
    """The methods note's check: in every group, the observed difference between the
    mean outcome of the rows in effect ``effect``'s arm and of the control rows, against
    its distribution over replicated data sets (one per posterior draw)."""
    if posterior.treatment.continuous[effect]:
        raise ValueError(
            "the treated-minus-control check compares arms; "
            f"{posterior.effect_names[effect]!r} is a continuous dose."
        )
    frame = posterior.frame(X)
    n_rows = frame.shape[0]
    observed = coded_outcome(posterior, y, n_rows)
    if family_of(posterior.family).categorical_outcome:  # compare category values
        observed = posterior.category_values()[observed.astype(int)]
    treat = posterior.treatment.encode_matrix(treatment, n_rows=n_rows)
    group = posterior.assign(frame).row_group
    n_groups = posterior.n_groups
    if (group >= n_groups).any():
        raise ValueError(
            "X has rows of groups the model was not fitted on; the check compares each "
            "fitted group's observed difference with its replications: pass training rows."
        )
    arm = treat[:, effect] == 1
    control = ~treat.any(axis=1)
    replicated = replicated_outcomes(posterior, frame, treatment, seed=seed)
    if family_of(posterior.family).categorical_outcome:
        replicated = posterior.category_values()[replicated.astype(int)]

    def arm_means(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.bincount(group[rows], minlength=n_groups).astype(float)
        one_hot = np.zeros((rows.sum(), n_groups))
        one_hot[np.arange(rows.sum()), group[rows]] = 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            return (values[..., rows] @ one_hot) / counts, counts

    observed_treated, n_treated = arm_means(observed, arm)
    observed_control, n_control = arm_means(observed, control)
    replicated_treated, _ = arm_means(replicated, arm)
    replicated_control, _ = arm_means(replicated, control)
    difference = observed_treated - observed_control
    draws = replicated_treated - replicated_control  # (draws, groups)
    lower, upper = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    below = (draws <= difference).mean(axis=0)
    above = (draws >= difference).mean(axis=0)
    table = posterior.groups.reset_index(drop=True)
    table = table.drop(columns=[c for c in ("n", "n_treated") if c in table])
    table["n_treated"] = n_treated.astype(int)
    table["n_control"] = n_control.astype(int)
    table["observed"] = difference
    table["replicated_mean"] = draws.mean(axis=0)
    table["lower"], table["upper"] = lower, upper
    # two-sided posterior predictive p-value; undefined where an arm has no rows
    table["p_value"] = np.minimum(1.0, 2 * np.minimum(below, above))
    table.loc[(n_treated == 0) | (n_control == 0), ["observed", "p_value"]] = np.nan
    return table


def prior_tree(prior: FittedPosterior, X, y, treatment, *, seed: int) -> xr.DataTree:
    """The prior predictive ``DataTree``: ``prior`` (every quantity a fit reports, drawn
    from the priors; ``prior`` holds the draws of a :class:`FittedPosterior` built from
    prior draws), ``prior_predictive`` (one outcome per row and draw) and
    ``observed_data``."""
    n_rows = prior.frame(X).shape[0]
    rows = {"obs": np.arange(n_rows)}
    replicated = replicated_outcomes(prior, X, treatment, seed=seed)
    sizes = prior.idata.posterior.sizes
    coords = {"chain": prior.idata.posterior["chain"].values,
              "draw": prior.idata.posterior["draw"].values, **rows}  # fmt: skip
    shape = (sizes["chain"], sizes["draw"], n_rows)
    return xr.DataTree.from_dict({
        "prior": prior.idata.posterior.to_dataset(),
        "prior_predictive": xr.Dataset(
            {"y": (("chain", "draw", "obs"), replicated.reshape(shape))}, coords
        ),
        "observed_data": xr.Dataset({"y": ("obs", coded_outcome(prior, y, n_rows))}, rows),
        "constant_data": prior.idata.constant_data.to_dataset(),
    })  # fmt: skip
