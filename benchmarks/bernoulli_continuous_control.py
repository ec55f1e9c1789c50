"""Bernoulli outcomes with a continuous control: exact cells against the Laplace approximation.

With a continuous control (a pre-period covariate, as in CUPED) no two rows
collapse, so the exact likelihood's cost grows with the rows; the Laplace
approximation reduces them to per-group statistics. The data: 120 groups
(two modifiers of 12 and 10 levels), a randomised binary treatment, one
standard-normal control, logit-scale group intercepts around -0.5 (sd 0.5)
and effects around 0.3 (sd 0.3).

Two tables:

1. time and peak memory of ``approximation="auto"`` (the Laplace
   approximation at these sizes) at each size, 4 chains x 1,000 draws after
   1,000 warm-up (first fit in a fresh process, then a second, warm fit), with
   the check's Pareto k;
2. at ``--compare-rows`` rows, the exact fit (``approximation="none"``) and
   the approximate fit of the same data, group by group on the link scale:
   the difference of posterior means in exact posterior sds, and the ratios of
   the 95% interval widths and of the posterior sds; and the same figures for
   a second exact fit with another seed, which measure the Monte Carlo noise
   of two fits of one posterior.

Run with ``python benchmarks/bernoulli_continuous_control.py [--sizes 100000
1000000 10000000] [--compare-rows 100000] [--compare-draws 1000]``.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd


def simulate(n_rows: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    m0 = rng.integers(0, 12, n_rows)
    m1 = rng.integers(0, 10, n_rows)
    group = m0 * 10 + m1
    group_rng = np.random.default_rng(1000 + seed)
    intercept = group_rng.normal(-0.5, 0.5, 120)
    effect = group_rng.normal(0.3, 0.3, 120)
    treatment = rng.integers(0, 2, n_rows).astype(np.int8)
    control = rng.normal(size=n_rows)
    eta = intercept[group] + effect[group] * treatment + 0.8 * control
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int8)
    X = pd.DataFrame({"m0": m0.astype(np.int8), "m1": m1.astype(np.int8), "pre": control})
    return X, y, treatment


def estimator(approximation: str, draws: int):
    from sklearn_hier import HierarchicalHTE, NUTSSampler

    return HierarchicalHTE(
        modifiers=["m0", "m1"], group_predictors=None, family="bernoulli",
        approximation=approximation,
        sampler=NUTSSampler(num_warmup=draws, num_samples=draws, num_chains=4),
        random_state=0,
    )  # fmt: skip


def one_size(n_rows: int, draws: int) -> dict:
    """Run in a fresh process: a first fit, then a second (warm) fit of the same data."""
    from sklearn_hier import SamplingWarning

    warnings.simplefilter("ignore", SamplingWarning)
    X, y, t = simulate(n_rows)
    times = []
    for _ in range(2):
        started = time.perf_counter()
        est = estimator("auto", draws).fit(X, y, treatment=t)
        times.append(time.perf_counter() - started)
    check = est.approximation_check_
    return {
        "rows": n_rows,
        "method": est.approximation_,
        "first_s": times[0],
        "warm_s": times[1],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pareto_k": None if check is None else check.pareto_k,
        "rhat_max": float(est.diagnostics_["r_hat_max"].max()),
    }


def _gaps(fit, reference) -> dict:
    """Group by group on the link scale: mean difference in the reference's sds, and the
    ratios of interval widths and sds."""
    a, b = fit.effect_by_group(scale="link"), reference.effect_by_group(scale="link")
    gap = (a["mean"] - b["mean"]).abs() / b["sd"]
    width = (a["upper"] - a["lower"]) / (b["upper"] - b["lower"])
    sd = a["sd"] / b["sd"]
    return {
        "max_mean_gap_sd": gap.max(), "mean_mean_gap_sd": gap.mean(),
        "width_ratio_min": width.min(), "width_ratio_max": width.max(),
        "sd_ratio_min": sd.min(), "sd_ratio_max": sd.max(),
    }  # fmt: skip


def compare(n_rows: int, draws: int) -> pd.DataFrame:
    """The exact fit (seed 0) against the Laplace fit and against a second exact fit (seed
    1): the second row is the Monte Carlo noise of two fits of the same posterior."""
    from sklearn_hier import SamplingWarning

    warnings.simplefilter("ignore", SamplingWarning)
    X, y, t = simulate(n_rows)
    fits, seconds = {}, {}
    for name, method, seed in (("exact", "none", 0), ("laplace", "laplace", 0),
                               ("exact, another seed", "none", 1)):  # fmt: skip
        started = time.perf_counter()
        fits[name] = estimator(method, draws).set_params(random_state=seed).fit(X, y, treatment=t)
        seconds[name] = time.perf_counter() - started
    rows = []
    for name in ("laplace", "exact, another seed"):
        check = fits[name].approximation_check_
        rows.append({
            "fit": name, "seconds": seconds[name], "exact_seconds": seconds["exact"],
            **_gaps(fits[name], fits["exact"]),
            "pareto_k": None if check is None else check.pareto_k,
        })  # fmt: skip
    return pd.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--compare-rows", type=int, default=100_000)
    parser.add_argument("--compare-draws", type=int, default=1000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process's size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.draws)))
        return
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--draws", str(args.draws)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(f"\nBernoulli, 120 groups, one continuous control, 4 chains x {args.draws} draws")
        print(table.to_string(index=False))
        if args.compare_rows:
            print(f"\nexact against Laplace at {args.compare_rows} rows, group effects (link)")
            print(compare(args.compare_rows, args.compare_draws).to_string(index=False))


if __name__ == "__main__":
    main()
