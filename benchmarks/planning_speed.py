"""Study planning speed on the Tomz & Weeks design, and the exact mode's sampler check.

Prints one table:

- the exact mode's plan of the note's design (1,200 rows, 100 groups, the
  Gaussian model, 2 chains x 500 draws per fit), ``--simulations`` studies, with
  the first fit's compilation timed apart;
- the fast mode's curve over 10 sample sizes (a first call, then a warm one);
- the exact mode's median interval widths at 2 x 500 draws against 4 x 1,000
  draws on the same simulated studies (common random numbers): the largest and
  the median relative difference over the groups;
- the fast mode's widths against the exact mode's, by rows per group.

Run: ``python benchmarks/planning_speed.py [--simulations 200] [--check 40]``.
"""

import argparse
import os
import platform
import time

import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.planning import Assumptions, plan_study

MODIFIERS = ["white", "male", "intl", "hawk"]
#: The note's fit (posterior medians, rounded): the effect at the average group, the
#: lambdas, sd_effect, the baselines' spread and the residual sd.
ASSUMPTIONS = Assumptions(
    average_effect=0.15, lambdas={"white": 0.13, "male": 0.05, "intl": 0.04, "hawk": -0.035},
    sd_effect=0.05, sd_intercept=0.03, noise_sd=0.42, baseline=0.63,
)  # fmt: skip
SIZES = [1200, 1800, 2400, 3600, 4800, 7200, 9600, 14400, 19200, 28800]


def estimator(warmup: int, draws: int, chains: int) -> HierarchicalHTE:
    sampler = NUTSSampler(num_warmup=warmup, num_samples=draws, num_chains=chains,
                          progress_bar=False)  # fmt: skip
    return HierarchicalHTE(modifiers=MODIFIERS, sampler=sampler)


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=200)
    parser.add_argument("--check", type=int, default=40, help="studies in the sampler check")
    args = parser.parse_args()
    frame = load_tomz_weeks()[MODIFIERS]
    short = estimator(500, 500, 2)

    def exact(est, n_sims, seed=0):
        return plan_study(frame, ASSUMPTIONS, [1200], estimator=est, mode="exact",
                          n_simulations=n_sims, random_state=seed, progress=False)  # fmt: skip

    _, first = timed(lambda: exact(short, 1, seed=99))  # compiles the sampler
    plan, seconds = timed(lambda: exact(short, args.simulations))
    fast_args = dict(estimator=short, n_simulations=20, random_state=0, progress=False)
    _, fast_first = timed(lambda: plan_study(frame, ASSUMPTIONS, SIZES, **fast_args))
    fast, fast_warm = timed(lambda: plan_study(frame, ASSUMPTIONS, SIZES, **fast_args))

    check_short = exact(short, args.check, seed=1)
    check_long = exact(estimator(1000, 1000, 4), args.check, seed=1)
    widths = check_short.groups.merge(check_long.groups, on="group", suffixes=("_2x500", "_4x1000"))
    relative = (widths["width_2x500"] / widths["width_4x1000"] - 1).abs()

    at_1200 = fast.groups.query("n_rows == 1200").merge(plan.groups, on="group",
                                                         suffixes=("_fast", "_exact"))  # fmt: skip
    at_1200["rows"] = pd.cut(at_1200["rows_exact"], [-1, 5, 10, 19, 10_000],
                             labels=["0-5", "6-10", "11-19", "20+"])  # fmt: skip
    ratio = (at_1200["width_fast"] / at_1200["width_exact"]).groupby(at_1200["rows"],
                                                                     observed=True)  # fmt: skip
    print(f"{platform.machine()}, {os.cpu_count()} CPUs")
    rows = [
        ("exact: first fit (compiles)", f"{first:.1f} s", ""),
        (f"exact: {args.simulations} simulations, 1,200 rows, 2 x 500", f"{seconds:.1f} s",
         "target <= 60 s"),
        ("exact: per simulated fit", f"{seconds / args.simulations:.3f} s", ""),
        ("fast: 10 sizes x 20 simulations, first call", f"{fast_first:.2f} s", ""),
        ("fast: 10 sizes x 20 simulations, warm", f"{fast_warm:.2f} s", "target <= 2 s"),
        (f"2 x 500 vs 4 x 1000 median widths ({args.check} studies), max |rel. diff|",
         f"{relative.max():.3f}", "target <= 0.05"),
        ("... median |rel. diff|", f"{relative.median():.3f}", ""),
    ]  # fmt: skip
    for label, group in ratio:
        rows.append((f"fast / exact width, groups of {label} rows (n={group.size})",
                     f"{group.median():.3f} ({group.min():.3f}-{group.max():.3f})",
                     ""))  # fmt: skip
    table = pd.DataFrame(rows, columns=["measure", "value", "note"])
    with pd.option_context("display.width", 160, "display.max_colwidth", 80):
        print(table.to_string(index=False))
    print(plan.study.round(3).to_string(index=False))
    print(f"smallest group's rows for a +-0.15 interval (fast): {fast.n_for_width(0.30):,.0f}")


if __name__ == "__main__":
    main()
