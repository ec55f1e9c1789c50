"""Two treatments at once on Tomz & Weeks, against brms, and against the one-treatment fit.

The model: alliance and regime both vary by group (white x male x intl x hawk),
with every treatment's effect predicted by the four modifiers, controls
stakes, costs and region, and the note's priors; in brms

    force ~ 1 + stakes + costs + region + (alliance + regime) * (white + male + intl + hawk)
            + (1 + alliance + regime | group)

brms runs with ``--brms-seeds`` seeds (3 by default), so that its own
seed-to-seed Monte Carlo noise (the largest and mean difference of group
medians between two brms runs) is the yardstick for the agreement. Then the
time of sklearn_hier's two-treatment fit against its one-treatment fit
(alliance the treatment, regime a control), first fit (with compilation) and
warm, in the same run.

Setup for brms: see ``versus_brms_bambi.py``. Run with
``python benchmarks/two_treatments_versus_brms.py [--draws 1000] [--brms-seeds 3]``.
"""

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from itertools import combinations
from pathlib import Path

import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import load_tomz_weeks

HERE = Path(__file__).parent
MODIFIERS = ["white", "male", "intl", "hawk"]
KEY = MODIFIERS + ["treatment"]


def timed_fits(X, y, treatment, draws: int) -> tuple[HierarchicalHTE, float, float]:
    est = HierarchicalHTE(modifiers=MODIFIERS, random_state=1,
                          sampler=NUTSSampler(num_warmup=draws, num_samples=draws))  # fmt: skip
    times = []
    for _ in range(2):  # the second reuses the compiled sampler
        started = time.perf_counter()
        est.fit(X, y, treatment=treatment)
        times.append(time.perf_counter() - started)
    return est, times[0], times[1]


def brms_runs(df: pd.DataFrame, draws: int, seeds: int) -> list[tuple[dict, pd.DataFrame]] | str:
    if not shutil.which("Rscript"):
        return "not installed (apt-get install r-cran-brms r-cran-posterior)"
    work = Path(tempfile.mkdtemp())
    csv = work / "tomz_weeks.csv"
    df.to_csv(csv, index=False)
    runs = []
    for seed in range(1, seeds + 1):
        out = str(work / f"brms_{seed}")
        command = ["Rscript", str(HERE / "tomz_weeks_two_treatments_brms.R"), str(csv), out,
                   str(draws), str(seed)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:120]
        timing = pd.read_csv(f"{out}_timing.csv").iloc[0].to_dict()
        runs.append((timing, pd.read_csv(f"{out}_groups.csv")[KEY + ["median"]]))
    return runs


def differences(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    merged = a.merge(b, on=KEY, suffixes=("_a", "_b"))
    assert len(merged) == len(a) == len(b)
    gap = (merged["median_a"] - merged["median_b"]).abs()
    return float(gap.max()), float(gap.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--brms-seeds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", SamplingWarning)
    df = load_tomz_weeks()[["force", "alliance", "regime", "stakes", "costs", "region"]
                           + MODIFIERS]  # fmt: skip
    y = df["force"]
    two, two_first, two_warm = timed_fits(
        df[MODIFIERS + ["stakes", "costs", "region"]], y, df[["alliance", "regime"]], args.draws
    )
    _, one_first, one_warm = timed_fits(
        df[MODIFIERS + ["regime", "stakes", "costs", "region"]], y, df["alliance"], args.draws
    )
    ours = two.effect_by_group()[KEY + ["median"]]
    diagnostics = two.diagnostics()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 4 chains x {args.draws} draws")
    pd.set_option("display.width", 200)
    speed = pd.DataFrame([
        {"fit": "two treatments", "first_fit_s": two_first, "warm_fit_s": two_warm},
        {"fit": "one treatment", "first_fit_s": one_first, "warm_fit_s": one_warm},
    ])  # fmt: skip
    speed.loc[2] = ["ratio two / one", two_first / one_first, two_warm / one_warm]
    print("\nsklearn_hier: two treatments against one (same run)")
    print(speed.round(2).to_string(index=False))
    print(f"two-treatment fit: divergences {diagnostics.attrs['divergences']}, max R-hat "
          f"{diagnostics['r_hat_max'].max():.4f}, min bulk ESS "
          f"{diagnostics['ess_bulk_min'].min():.0f}")  # fmt: skip
    runs = brms_runs(df, args.draws, args.brms_seeds)
    if isinstance(runs, str):
        print(f"\nbrms: {runs}")
        return
    rows = []
    for k, (_, groups) in enumerate(runs, start=1):
        gap_max, gap_mean = differences(ours, groups)
        rows.append({"comparison": f"sklearn_hier vs brms seed {k}", "max_abs_diff": gap_max,
                     "mean_abs_diff": gap_mean})  # fmt: skip
    for (i, (_, a)), (j, (_, b)) in combinations(enumerate(runs, start=1), 2):
        gap_max, gap_mean = differences(a, b)
        rows.append({"comparison": f"brms seed {i} vs brms seed {j}", "max_abs_diff": gap_max,
                     "mean_abs_diff": gap_mean})  # fmt: skip
    pooled = pd.concat([groups for _, groups in runs]).groupby(KEY, as_index=False)["median"]
    pooled = pooled.mean()
    gap_max, gap_mean = differences(ours, pooled)
    rows.append({"comparison": f"sklearn_hier vs mean of {len(runs)} brms runs",
                 "max_abs_diff": gap_max, "mean_abs_diff": gap_mean})  # fmt: skip
    print(
        f"\nagreement of the {len(ours)} group effects' posterior medians (2 effects x "
        f"{two.n_groups_} groups)"
    )
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    brms_time = pd.DataFrame([timing for timing, _ in runs])
    total = brms_time["compile_s"] + brms_time["sampling_s"]
    print(f"\nbrms per run: compile {brms_time['compile_s'].mean():.1f} s + sampling "
          f"{brms_time['sampling_s'].mean():.1f} s; max R-hat {brms_time['max_rhat'].max():.4f}; "
          f"min bulk ESS {brms_time['min_ess_bulk'].min():.0f}")  # fmt: skip
    print(
        f"speed-up over brms: first fit {total.mean() / two_first:.1f}x, warm "
        f"{brms_time['sampling_s'].mean() / two_warm:.1f}x (brms sampling only)"
    )


if __name__ == "__main__":
    main()
