"""Fit time and peak memory from 1,000 to 10 million rows, and predict_effect throughput.

Each size runs in its own process (so peak memory is that fit's alone) on data
from ``make_grouped_hte`` with 40 groups and two controls. Reported: the time to
reduce and fit (first fit in the process, which may compile unless the
persistent compilation cache already holds the sampler; and a second, warm
fit), the process's peak resident memory, and predict_effect's rows per second
(point estimates, and with 95% intervals). Run with
``python benchmarks/scaling.py [--sizes 1000 10000 ...] [--draws 1000]``.
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

import pandas as pd


def one_size(n_rows: int, draws: int) -> dict:
    from sklearn_hier import HierarchicalHTE, SamplingWarning
    from sklearn_hier.datasets import make_grouped_hte

    warnings.simplefilter("ignore", SamplingWarning)
    data = make_grouped_hte(n_rows, n_levels=(2, 2, 2, 5), sigma_theta=0.1, random_state=0)
    input_mb = data.X.memory_usage().sum() / 2**20
    est = HierarchicalHTE(modifiers=data.modifiers, num_warmup=draws, num_samples=draws,
                          random_state=0)  # fmt: skip
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        est.fit(data.X, data.y, treatment=data.treatment)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    est.predict_effect(data.X)
    point = time.perf_counter() - started
    started = time.perf_counter()
    est.predict_effect(data.X, return_interval=True)
    with_interval = time.perf_counter() - started
    return {
        "rows": n_rows,
        "input_MB": round(input_mb, 1),
        "first_fit_s": timings[0],
        "warm_fit_s": timings[1],
        "peak_RSS_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "predict_Mrows_per_s": n_rows / point / 1e6,
        "predict_interval_Mrows_per_s": n_rows / with_interval / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*",
                        default=[1_000, 10_000, 100_000, 1_000_000, 10_000_000])  # fmt: skip
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one_size(args.child, args.draws)))
        return
    rows = []
    for n in args.sizes:
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--draws", str(args.draws)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    table["warm_fit_vs_1k"] = table["warm_fit_s"] / table["warm_fit_s"].iloc[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 4 chains x {args.draws} draws")
    pd.set_option("display.width", 200)
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
