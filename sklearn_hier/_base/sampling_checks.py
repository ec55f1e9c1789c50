"""Sampling diagnostics from ArviZ, and the warning raised when sampling went wrong.

Public through :mod:`sklearn_hier.diagnostics`; the fitting stages use it directly.
"""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats

from .convergence import convergence_summary

__all__ = ["SamplingWarning", "diagnostics_table", "check_sampling", "pareto_smoothed_log_weights"]

#: Largest acceptable rank-normalised split R-hat (Vehtari et al. 2021).
RHAT_MAX = 1.01
#: Bulk and tail ESS wanted per chain; 400 in all for the usual four chains.
ESS_PER_CHAIN = 100
#: Draws summarised at once by the convergence checks (bounds their memory: 16 MB each).
SUMMARY_VALUES = 2_000_000


class SamplingWarning(UserWarning):
    """The sampler reported divergences, unconverged chains, low ESS or tree-depth hits."""


def diagnostics_table(idata, var_names) -> pd.DataFrame:
    """One row per parameter: worst R-hat and lowest bulk/tail ESS over its elements."""
    # parameters with no elements (e.g. lambda without group predictors) have nothing to check
    var_names = [v for v in var_names if v in idata.posterior and idata.posterior[v].size > 0]
    columns = ["size", "r_hat_max", "ess_bulk_min", "ess_tail_min"]
    if not var_names:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="parameter"))
    posterior = idata.posterior
    n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
    # every element of every parameter as one (quantities, chain, draw) array, summarised
    # a block of quantities at a time (each block's ranks and FFTs take a few copies of
    # it), the blocks shared among the machine's cores (NumPy's sorts and FFTs release the
    # GIL: half the time on two cores): a few passes of array operations, not one per
    # parameter
    values = {name: np.asarray(posterior[name].values).reshape(n_chains, n_draws, -1)
              for name in var_names}  # fmt: skip
    sizes = {name: v.shape[-1] for name, v in values.items()}
    bounds = np.cumsum([0] + list(sizes.values()))
    total = int(bounds[-1])
    workers = max(1, min(os.cpu_count() or 1, total))
    block = max(1, min(SUMMARY_VALUES // (n_chains * n_draws), -(-total // workers)))

    def summarised(start: int) -> dict:
        """The quantities ``start .. start + block`` of all the parameters, in order."""
        pieces = []
        for name, first in zip(var_names, bounds[:-1], strict=True):
            low, high = max(start - first, 0), min(start + block - first, sizes[name])
            if low < high:
                pieces.append(values[name][..., low:high])
        return convergence_summary(np.moveaxis(np.concatenate(pieces, axis=-1), -1, 0))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(summarised, range(0, total, block)))
    summary = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    rows = []
    for name, start, stop in zip(var_names, bounds[:-1], bounds[1:], strict=True):
        part = {key: values[start:stop] for key, values in summary.items()}
        rows.append(
            {
                "parameter": name,
                "size": sizes[name],
                # NaN (e.g. a chain that never moved) counts as the worst value
                "r_hat_max": float(np.max(np.nan_to_num(part["r_hat"], nan=np.inf))),
                "ess_bulk_min": float(np.min(np.nan_to_num(part["ess_bulk"], nan=0.0))),
                "ess_tail_min": float(np.min(np.nan_to_num(part["ess_tail"], nan=0.0))),
            }
        )
    return pd.DataFrame(rows).set_index("parameter")


def check_sampling(idata, var_names, *, max_tree_depth: int, stacklevel: int = 3) -> pd.DataFrame:
    """Warn with :class:`SamplingWarning` about every sampling problem found; return the table."""
    table = diagnostics_table(idata, var_names)
    stats = idata.sample_stats
    n_chains = idata.posterior.sizes["chain"]
    n_draws = n_chains * idata.posterior.sizes["draw"]
    ess_min = ESS_PER_CHAIN * n_chains
    problems = []
    n_div = int(stats["diverging"].values.sum())
    if n_div:
        problems.append(
            f"{n_div} of {n_draws} draws diverged: the posterior has regions the sampler "
            "cannot explore, so estimates may be biased. Try "
            "sampler=NUTSSampler(target_accept=0.99), tighter prior scales (prior_sd_scale), "
            "fewer or binned modifiers, or structure='additive'."
        )
    bad_rhat = table.index[table["r_hat_max"] > RHAT_MAX].tolist()
    if bad_rhat:
        worst = float(table["r_hat_max"].max())
        problems.append(
            f"R-hat up to {worst:.3f} > {RHAT_MAX} for {bad_rhat}: the chains disagree. "
            "Try more warm-up and draws (NUTSSampler(num_warmup=..., num_samples=...)), or "
            "stronger priors."
        )
    low_ess = table.index[
        (table["ess_bulk_min"] < ess_min) | (table["ess_tail_min"] < ess_min)
    ].tolist()
    if low_ess:
        lowest = float(table[["ess_bulk_min", "ess_tail_min"]].min().min())
        problems.append(
            f"effective sample size as low as {lowest:.0f} (< {ess_min}) for {low_ess}: "
            "intervals are unreliable. Increase the NUTSSampler's num_samples (or num_chains)."
        )
    n_deep = int(stats["reached_max_treedepth"].values.sum())
    if n_deep:
        problems.append(
            f"{n_deep} of {n_draws} draws hit the maximum tree depth ({max_tree_depth}): "
            "sampling is inefficient. Try sampler=NUTSSampler(max_tree_depth=12) or rescale the "
            "predictors."
        )
    for message in problems:
        warnings.warn(message, SamplingWarning, stacklevel=stacklevel)
    return table


def pareto_smoothed_log_weights(log_ratios: np.ndarray, reff: float) -> tuple[np.ndarray, float]:
    """Pareto-smoothed, normalised log importance weights and their Pareto k (ArviZ's PSIS).

    ``log_ratios`` are log importance ratios, target over proposal, one per draw. ArviZ
    smooths weights in the LOO convention, ``w = 1 / p(y_i | theta)``: it takes the
    log-likelihood and negates it. These ratios are already the log weights, hence the sign.
    """
    log_weights, khat = array_stats.psislw(-np.asarray(log_ratios), r_eff=reff)
    return log_weights, float(khat)
