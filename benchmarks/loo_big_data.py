"""PSIS-LOO of a fit to millions of rows, in bounded memory.

A Gaussian model on ``--rows`` rows (10 million by default; 40 groups from two
modifiers, one continuous control, a binary treatment) is fitted as usual (its data
reduced to per-group statistics), then scored by :func:`model_comparison.psis_loo`.
Every row's log-likelihood under every draw would need rows x draws x 8 bytes (160 GB
at 10 million rows and 2,000 draws); instead ``arviz_stats.loo_subsample`` corrects a
one-pass approximation of every row (its log-likelihood at the posterior means) by exact
PSIS-LOO on ``--subsample`` random rows (Magnusson et al. 2019). Two seeds of the
subsample show its own noise beside the reported ``subsampling_se``.

The table gives the elpd, its se and subsampling se, the seconds of the fit and of the
LOO, and the process's peak resident memory after each step (``ru_maxrss``).

Run with ``python benchmarks/loo_big_data.py [--rows 10000000] [--subsample 10000]``.
"""

import argparse
import platform
import resource
import time
import warnings

import numpy as np
import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.model_comparison import psis_loo


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def simulate(n_rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 5, n_rows), rng.integers(0, 8, n_rows)
    group_effect = rng.normal(0.3, 0.2, (5, 8))
    group_level = rng.normal(0.0, 0.5, (5, 8))
    control = rng.normal(size=n_rows)
    treatment = rng.integers(0, 2, n_rows)
    y = (group_level[a, b] + 0.4 * control + group_effect[a, b] * treatment
         + rng.normal(size=n_rows))  # fmt: skip
    X = pd.DataFrame({"a": a, "b": b, "control": control})
    return X, y, treatment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--subsample", type=int, default=10_000)
    parser.add_argument("--draws", type=int, default=500, help="kept draws per chain (4 chains)")
    args = parser.parse_args()
    print(f"{platform.machine()}, {platform.platform()}; {args.rows:,} rows")
    X, y, treatment = simulate(args.rows)
    after_data = peak_gib()
    sampler = NUTSSampler(num_warmup=args.draws, num_samples=args.draws, num_chains=4)
    est = HierarchicalHTE(modifiers=["a", "b"], group_predictors=None, sampler=sampler,
                          random_state=0)  # fmt: skip
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        est.fit(X, y, treatment=treatment)
    fit_seconds = time.perf_counter() - started
    after_fit = peak_gib()
    n_draws = 4 * args.draws
    rows = [("data", np.nan, np.nan, np.nan, np.nan, after_data),
            ("fit", np.nan, np.nan, np.nan, fit_seconds, after_fit)]  # fmt: skip
    for seed in (0, 1):
        started = time.perf_counter()
        loo = psis_loo(est, X, y, treatment, subsample=args.subsample, seed=seed)
        seconds = time.perf_counter() - started
        rows.append((f"psis_loo, subsample seed {seed}", loo.elpd, loo.se,
                     loo.subsampling_se, seconds, peak_gib()))  # fmt: skip
    table = pd.DataFrame(rows, columns=["step", "elpd", "se", "subsampling_se", "seconds",
                                        "peak_rss_gib"]).set_index("step")  # fmt: skip
    print(table.round(3).to_string())
    full = args.rows * n_draws * 8 / 2**30
    print(
        f"A full rows x draws log-likelihood array would need {full:,.1f} GiB "
        f"({args.rows:,} rows x {n_draws:,} draws)."
    )


if __name__ == "__main__":
    main()
