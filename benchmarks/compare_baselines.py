"""HierarchicalHTE against the interaction regression, causal forests (frequentist and
Bayesian) and metalearners.

Each scenario simulates fresh data sets with known group effects and compares
every method on the true groups: group-effect RMSE, row-level PEHE, coverage
and width of 95% group intervals, and fit time, averaged over replications
(± Monte Carlo standard errors). Needs the ``baselines`` extra. Run with
``python benchmarks/compare_baselines.py [--replications 20] [--draws 1000]
[--scenarios use_case_20 ...] [--methods HierarchicalHTE BCF ...]``.
"""

import argparse
import functools
import os
import platform
import time
import warnings

import pandas as pd

from sklearn_hier import (
    HierarchicalHTE,
    NUTSSampler,
    SamplingWarning,
    compare_replications,
    summarize_comparison,
)
from sklearn_hier.baselines import (
    BayesianCausalForestHTE,
    CausalForestHTE,
    InteractionHTE,
    MetaLearnerHTE,
)
from sklearn_hier.datasets import make_grouped_hte

SCENARIOS = {
    # the note's use case: three or four modifiers, 20-100 groups, N in the thousands
    "use_case_20": dict(n_samples=1500, n_levels=(2, 2, 5), sigma_theta=0.15),
    "use_case_100": dict(n_samples=4000, n_levels=(2, 2, 5, 5), sigma_theta=0.15, imbalance=0.2),
    # few modifiers, one strong interaction
    "strong_interaction": dict(
        n_samples=2000, n_levels=(2, 4), effect_slopes=(0.6, 0.0), sigma_theta=0.05
    ),
    # heterogeneity along a continuous modifier that a group model cannot express
    "nonlinear_continuous": dict(
        n_samples=3000,
        n_levels=(2,),
        n_continuous=1,
        continuous_bins=4,
        nonlinear=0.5,
        sigma_theta=0.0,
    ),  # fmt: skip
    # a binary outcome: hierarchical logit against linear-probability baselines
    "binary_outcome": dict(n_samples=3000, n_levels=(2, 2, 5), sigma_theta=0.3, family="bernoulli"),
}


def estimators(data, family: str, draws: int) -> dict:
    common = dict(modifiers=data.modifiers, bins=data.bins or None)
    return {
        "HierarchicalHTE": HierarchicalHTE(
            **common,
            family=family,
            sampler=NUTSSampler(num_warmup=draws, num_samples=draws),
            random_state=0,
        ),
        "Interaction OLS": InteractionHTE(**common),
        "Causal forest": CausalForestHTE(**common, random_state=0),
        "BCF": BayesianCausalForestHTE(**common, random_state=0),
        "S-learner": MetaLearnerHTE(kind="S", **common, random_state=0),
        "T-learner": MetaLearnerHTE(kind="T", **common, random_state=0),
        "X-learner": MetaLearnerHTE(kind="X", **common, random_state=0),
        "DR-learner": MetaLearnerHTE(kind="DR", **common, random_state=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--methods", nargs="*", default=None, help="names as in estimators()")
    args = parser.parse_args()
    warnings.simplefilter("ignore", SamplingWarning)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    pd.set_option("display.width", 200)
    summaries = []
    for name in args.scenarios:
        spec = SCENARIOS[name]
        simulate = functools.partial(make_grouped_hte, **spec)
        family = spec.get("family", "gaussian")
        started = time.perf_counter()
        methods = estimators(simulate(random_state=0), family, args.draws)
        if args.methods:
            methods = {name: methods[name] for name in args.methods}
        table = compare_replications(
            methods, simulate,
            n_replications=args.replications, random_state=1000,
        )  # fmt: skip
        summary = summarize_comparison(table).reset_index()
        summary.insert(0, "scenario", name)
        summaries.append(summary)
        print(
            f"\n## {name} ({args.replications} replications, {time.perf_counter() - started:.0f} s)"
        )
        shown = ["estimator", "group_rmse", "group_rmse_se", "pehe", "coverage", "coverage_se",
                 "interval_width", "fit_seconds"]  # fmt: skip
        print(summary[[c for c in shown if c in summary]].round(3).to_string(index=False))
    pd.concat(summaries).to_csv(os.environ.get("COMPARE_CSV", "/dev/null"), index=False)


if __name__ == "__main__":
    main()
