"""Rank-normalised split R-hat and bulk/tail ESS for many quantities at once.

The definitions are ArviZ's (Vehtari et al. 2021, as in ``arviz_stats``), and the
results equal ``arviz_stats.rhat`` and ``arviz_stats.ess(method="bulk"/"tail")`` to
rounding. ArviZ computes them one scalar quantity at a time in Python (a rank
transform, an FFT and Geyer's loop per element), which took about 5 ms per quantity:
half a second per fit for the 108 quantities of the Tomz & Weeks model, more than
the sampler's own warm run. Here every step is one array operation over all
quantities: ranks along an axis, a batched FFT, and Geyer's initial positive and
monotone sequences as a first-crossing index and a running minimum.

Arrays are ``(quantities, chains, draws)``.
"""

import numpy as np
from arviz_base import rcParams
from scipy import fft, special

#: Blom's offset in the normal scores of the ranks (ArviZ's ``c = 3 / 8``).
_BLOM = 3.0 / 8.0


def _split_chains(draws: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as two chains (a middle draw of an odd count
    is dropped, as ArviZ does)."""
    half = draws.shape[-1] // 2
    return np.concatenate([draws[..., :half], draws[..., -half:]], axis=1)


def _average_ranks(flat: np.ndarray) -> np.ndarray:
    """Ranks (1-based, ties averaged) along the last axis of a 2-d array: one sort and a
    few linear passes (``scipy.stats.rankdata`` along an axis costs six times more)."""
    n_rows, size = flat.shape
    order = np.argsort(flat, axis=-1)  # ties share one mean rank: any order among them serves
    ordered = np.take_along_axis(flat, order, axis=-1)
    starts = np.ones((n_rows, size), dtype=bool)  # where a run of equal values begins
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ranks = np.empty((n_rows, size))
    if starts.all():  # no ties (continuous draws): each value's rank is its sorted position
        np.put_along_axis(ranks, order, np.arange(1.0, size + 1.0)[None, :], axis=-1)
        return ranks
    run = np.cumsum(starts.ravel()) - 1  # each sorted value's run, numbered over all rows
    first = np.flatnonzero(starts.ravel())
    length = np.diff(np.append(first, starts.size))
    # a run of length L starting at (0-based) position s holds ranks s+1 .. s+L: mean s+(L+1)/2
    mean_rank = (first % size) + (length + 1) / 2.0
    np.put_along_axis(ranks, order, mean_rank[run].reshape(n_rows, size), axis=-1)
    return ranks


def _normal_scores(draws: np.ndarray) -> np.ndarray:
    """Ranks over all chains and draws of each quantity (ties averaged), as normal scores."""
    flat = draws.reshape(draws.shape[0], -1)
    ranks = _average_ranks(flat)
    size = flat.shape[1]
    return special.ndtri((ranks - _BLOM) / (size - 2.0 * _BLOM + 1.0)).reshape(draws.shape)


def _rhat_basic(draws: np.ndarray) -> np.ndarray:
    n_draws = draws.shape[-1]
    between = n_draws * np.var(np.mean(draws, axis=-1), axis=-1, ddof=1)
    within = np.mean(np.var(draws, axis=-1, ddof=1), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((between / within + n_draws - 1) / n_draws)


def _ess(draws: np.ndarray) -> np.ndarray:
    """ESS of each quantity's (already split) chains: Geyer's initial monotone sequence."""
    draws = np.asarray(draws, dtype=float)
    n_quantities, n_chains, n_draws = draws.shape
    total = n_chains * n_draws
    centred = draws - draws.mean(axis=-1, keepdims=True)
    size = fft.next_fast_len(2 * n_draws)
    transformed = fft.rfft(centred, n=size, axis=-1)
    acov = fft.irfft(transformed * np.conjugate(transformed), n=size, axis=-1)[..., :n_draws]
    acov /= n_draws
    mean_var = acov[:, :, 0].mean(axis=-1) * n_draws / (n_draws - 1.0)
    var_plus = mean_var * (n_draws - 1.0) / n_draws
    if n_chains > 1:
        var_plus = var_plus + np.var(draws.mean(axis=-1), axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]
    rho[:, 0] = 1.0
    # Pairs P_j = rho_2j + rho_2j+1. The initial positive sequence keeps pairs while they
    # are positive: it stops at the first pair j that is not, or after ``n_pairs`` pairs
    # (ArviZ's bound t < n - 3 on its loop).
    n_pairs = max(0, (n_draws - 3) // 2)
    n_even = n_draws // 2
    pairs = rho[:, 0 : 2 * n_even : 2] + rho[:, 1 : 2 * n_even : 2]
    checked = pairs[:, : n_pairs + 1] if n_pairs + 1 <= n_even else pairs
    not_positive = ~(checked > 0.0)
    first = np.where(not_positive.any(axis=1), not_positive.argmax(axis=1), checked.shape[1])
    kept = np.minimum(first, n_pairs)  # m: the pairs 0 .. m-1 enter the sum
    # the initial monotone sequence: each kept pair at most the one before it
    monotone = np.minimum.accumulate(pairs[:, : max(n_pairs, 1)], axis=1)
    index = np.arange(monotone.shape[1])
    pair_sum = np.sum(np.where(index[None, :] < kept[:, None], monotone, 0.0), axis=1)
    # and the even term after them, where it is positive (or its pair was kept)
    rows = np.arange(n_quantities)
    last_even = rho[rows, np.minimum(2 * kept, n_draws - 1)]
    last_pair = pairs[rows, np.minimum(kept, pairs.shape[1] - 1)]
    tail = np.where((last_even > 0.0) | ((kept > 0) & (last_pair >= 0.0)), last_even, 0.0)
    tau = -1.0 + 2.0 * pair_sum + tail
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho).any(axis=1)] = np.nan
    constant = (draws.max(axis=(1, 2)) - draws.min(axis=(1, 2))) < np.finfo(float).resolution
    ess[constant] = total
    return ess


def ess_tail(draws: np.ndarray, prob: float | None = None) -> np.ndarray:
    """Tail ESS of each quantity: the smaller ESS of the indicators of lying at or below its
    ``1 - prob`` and ``prob`` quantiles (``prob`` is ArviZ's ``stats.ci_prob`` setting by
    default, as ``arviz_stats.ess`` takes it)."""
    draws = np.asarray(draws, dtype=float)
    out = np.full(draws.shape[0], np.nan)
    if draws.shape[2] < 4:
        return out
    prob = rcParams["stats.ci_prob"] if prob is None else prob
    low, high = sorted((prob, 1.0 - prob))
    valid = ~np.isnan(draws).any(axis=(1, 2))
    if not valid.any():
        return out
    kept = draws[valid]
    flat = kept.reshape(kept.shape[0], -1)
    quantiles = np.quantile(flat, [low, high], axis=-1)  # (2, quantities)
    below = [(kept <= q[:, None, None]).astype(float) for q in quantiles]
    out[valid] = np.minimum(_ess(_split_chains(below[0])), _ess(_split_chains(below[1])))
    return out


def convergence_summary(draws: np.ndarray, prob: float | None = None) -> dict:
    """``{"r_hat", "ess_bulk", "ess_tail"}`` of each quantity, with the normal scores of
    the split chains computed once for R-hat and bulk ESS."""
    draws = np.asarray(draws, dtype=float)
    n_quantities, n_chains, n_draws = draws.shape
    out = {name: np.full(n_quantities, np.nan) for name in ("r_hat", "ess_bulk", "ess_tail")}
    if n_draws < 4:
        return out
    valid = ~np.isnan(draws).any(axis=(1, 2))
    if not valid.any():  # every quantity has a NaN draw: nothing to summarise
        return out
    kept = draws[valid]
    split = _split_chains(kept)
    scores = _normal_scores(split)
    out["ess_bulk"][valid] = _ess(scores)
    out["ess_tail"][valid] = ess_tail(kept, prob)
    if n_chains >= 2:
        median = np.median(split.reshape(split.shape[0], -1), axis=-1)[:, None, None]
        folded = _normal_scores(np.abs(split - median))
        out["r_hat"][valid] = np.maximum(_rhat_basic(scores), _rhat_basic(folded))
    return out
