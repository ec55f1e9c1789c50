"""Coverage of BayesianCausalForestHTE's 95% group intervals on the package's scenarios.

For each scenario of ``compare_baselines.py`` and each seed, fits the Bayesian causal
forest and prints, on the simulation's true groups, the group-effect RMSE, the share of
group intervals that cover the true group effect, their mean width and the fit time;
then the mean coverage per scenario. ``--setting before`` fits plain BCF
(``group_effects=False``: the effect forest alone, as the wrapper used to); ``after``
fits the default (the forest plus a random treatment slope per group). Run with
``python benchmarks/bcf_coverage.py [--setting before|after] [--seeds 5]
[--scenarios use_case_20 use_case_100 ...]``.
"""

import argparse
import functools
import os
import platform
import sys
import time

import pandas as pd

from sklearn_hier import compare
from sklearn_hier.baselines import BayesianCausalForestHTE
from sklearn_hier.datasets import make_grouped_hte

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_baselines import SCENARIOS  # noqa: E402

SETTINGS = {"before": dict(group_effects=False), "after": dict(group_effects=True)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setting", choices=list(SETTINGS), default="after")
    parser.add_argument("--seeds", type=int, default=5, help="data sets per scenario")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; setting {args.setting}: "
        f"{SETTINGS[args.setting]}",
        flush=True,
    )
    records = []
    for name in args.scenarios:
        simulate = functools.partial(make_grouped_hte, **SCENARIOS[name])
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            data = simulate(random_state=seed)
            est = BayesianCausalForestHTE(
                modifiers=data.modifiers, bins=data.bins or None, random_state=0,
                **SETTINGS[args.setting],
            )  # fmt: skip
            started = time.perf_counter()
            table = compare(
                {"BCF": est}, data.X, data.y, data.treatment, true_effect=data.true_effect,
                groups=data.group,
            )  # fmt: skip
            record = table.iloc[0][["n_groups", "group_rmse", "coverage", "interval_width",
                                    "fit_seconds"]].to_dict()  # fmt: skip
            record.update(scenario=name, seed=seed, seconds=time.perf_counter() - started)
            records.append(record)
            print(
                f"{name:22s} seed {seed}: groups {record['n_groups']:.0f}, rmse "
                f"{record['group_rmse']:.3f}, coverage {record['coverage']:.3f}, width "
                f"{record['interval_width']:.3f}, fit {record['fit_seconds']:.0f} s",
                flush=True,
            )
    table = pd.DataFrame(records)
    summary = table.groupby("scenario", sort=False).agg(
        seeds=("seed", "size"), group_rmse=("group_rmse", "mean"),
        coverage=("coverage", "mean"), min_coverage=("coverage", "min"),
        interval_width=("interval_width", "mean"), fit_seconds=("fit_seconds", "mean"),
    )  # fmt: skip
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
