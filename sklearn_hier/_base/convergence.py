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


def _sorted_normal_scores(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks over all chains and draws of each quantity (ties averaged), as normal scores,
    and each quantity's draws sorted (``(quantities, values)``): one sort serves both.

    Without ties a value's rank is its sorted position, so every quantity's scores are
    one table of ``size`` normal quantiles put in place; rows with ties take their runs'
    mean ranks (``scipy.stats.rankdata`` along an axis costs six times more, and the
    normal quantile of every value once more again)."""
    flat = draws.reshape(draws.shape[0], -1)
    n_rows, size = flat.shape
    order = np.argsort(flat, axis=-1)  # ties share one mean rank: any order among them serves
    ordered = np.take_along_axis(flat, order, axis=-1)
    starts = np.ones((n_rows, size), dtype=bool)  # where a run of equal values begins
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    # in sorted order, an untied row's ranks are 1 .. size: one table of scores for all
    sorted_scores = np.broadcast_to(_scores_of_ranks(np.arange(1.0, size + 1.0), size),
                                    (n_rows, size))  # fmt: skip
    tied = np.flatnonzero(~starts.all(axis=1))
    if tied.size:
        runs = starts[tied]
        run = np.cumsum(runs.ravel()) - 1  # each sorted value's run, numbered over the rows
        first = np.flatnonzero(runs.ravel())
        length = np.diff(np.append(first, runs.size))
        # a run of length L starting at (0-based) position s holds ranks s+1 .. s+L: mean
        # s + (L+1)/2
        mean_rank = (first % size) + (length + 1) / 2.0
        sorted_scores = np.array(sorted_scores)
        sorted_scores[tied] = _scores_of_ranks(mean_rank[run].reshape(tied.size, size), size)
    scores = np.empty((n_rows, size))
    np.put_along_axis(scores, order, sorted_scores, axis=-1)
    return scores.reshape(draws.shape), ordered


def _scores_of_ranks(ranks: np.ndarray, size: int) -> np.ndarray:
    return special.ndtri((ranks - _BLOM) / (size - 2.0 * _BLOM + 1.0))


def _sorted_quantile(ordered: np.ndarray, prob: float) -> np.ndarray:
    """Each row's ``prob`` quantile from its sorted values, as ``np.quantile`` interpolates
    (its default, linear, and its arithmetic: from the upper value where the fraction is
    at least a half)."""
    size = ordered.shape[-1]
    position = (size - 1) * prob
    below = int(np.floor(position))
    above = min(below + 1, size - 1)
    fraction = position - below
    low, high = ordered[:, below], ordered[:, above]
    step = high - low
    return high - step * (1.0 - fraction) if fraction >= 0.5 else low + step * fraction


def _sorted_median(ordered: np.ndarray) -> np.ndarray:
    """Each row's median from its sorted values, as ``np.median`` takes it."""
    size = ordered.shape[-1]
    middle = size // 2
    if size % 2:
        return ordered[:, middle]
    return (ordered[:, middle - 1] + ordered[:, middle]) / 2.0


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


def _tail_indicators(kept: np.ndarray, quantiles) -> np.ndarray:
    """The split chains of the indicators of lying at or below each of two quantiles,
    stacked: ``(2 * quantities, chains, draws)``."""
    below = [(kept <= q[:, None, None]).astype(float) for q in quantiles]
    return _split_chains(np.concatenate(below))


def _tail_probabilities(prob: float | None) -> tuple[float, float]:
    prob = rcParams["stats.ci_prob"] if prob is None else prob
    low, high = sorted((prob, 1.0 - prob))
    return low, high


def ess_tail(draws: np.ndarray, prob: float | None = None) -> np.ndarray:
    """Tail ESS of each quantity: the smaller ESS of the indicators of lying at or below its
    ``1 - prob`` and ``prob`` quantiles (``prob`` is ArviZ's ``stats.ci_prob`` setting by
    default, as ``arviz_stats.ess`` takes it)."""
    draws = np.asarray(draws, dtype=float)
    out = np.full(draws.shape[0], np.nan)
    if draws.shape[2] < 4:
        return out
    valid = ~np.isnan(draws).any(axis=(1, 2))
    if not valid.any():
        return out
    kept = draws[valid]
    flat = kept.reshape(kept.shape[0], -1)
    quantiles = np.quantile(flat, _tail_probabilities(prob), axis=-1)  # (2, quantities)
    low, high = np.split(_ess(_tail_indicators(kept, quantiles)), 2)
    out[valid] = np.minimum(low, high)
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
    n_kept = kept.shape[0]
    split = _split_chains(kept)
    scores, ordered = _sorted_normal_scores(split)
    # the tail's quantiles are of all draws: those the split chains hold, unless a middle
    # draw was dropped from an odd count
    if n_draws % 2 == 0:
        quantiles = [_sorted_quantile(ordered, p) for p in _tail_probabilities(prob)]
    else:
        quantiles = np.quantile(kept.reshape(n_kept, -1), _tail_probabilities(prob), axis=-1)
    # bulk and both tails' ESS in one batch of FFTs
    ess = _ess(np.concatenate([scores, _tail_indicators(kept, quantiles)]))
    out["ess_bulk"][valid] = ess[:n_kept]
    out["ess_tail"][valid] = np.minimum(ess[n_kept : 2 * n_kept], ess[2 * n_kept :])
    if n_chains >= 2:
        median = _sorted_median(ordered)[:, None, None]
        folded, _ = _sorted_normal_scores(np.abs(split - median))
        out["r_hat"][valid] = np.maximum(_rhat_basic(scores), _rhat_basic(folded))
    return out
