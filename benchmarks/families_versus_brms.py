"""The Student-t and negative-binomial families against brms's fits of the same models.

Two comparisons, each with the default priors of both (brms's own for the
families' extra parameters: nu ~ gamma(2, 0.1) above 1, shape ~ gamma(0.01, 0.01)):

- ``student``: Tomz & Weeks with ``family="student"``, the one-treatment
  specification of ``two_treatments_versus_brms.py``; in brms
  ``force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl
  + hawk) + (1 + alliance | group)``, ``family = student()``, the group being the
  combination of the four modifiers.
- ``negbinomial``: brms's ``epilepsy`` data (Thall & Vail 1990: seizure counts of 59
  patients at 4 visits, 236 rows), ``family="negbinomial"``: outcome ``count``,
  treatment ``Trt``, groups the combinations of age and baseline count each cut in
  thirds (``age3``, ``base3``: tertile codes 0, 1, 2, which are also the group-level
  predictors); in brms ``count ~ 1 + Trt * (age3 + base3) + (1 + Trt | group)``,
  ``family = negbinomial()``. The effects are compared on the log scale
  (``effect_by_group(scale="link")``, brms's ``b_Trt`` + interactions + ``r_group``).
  The model ignores the repeated visits of each patient (no patient term): the
  comparison is of one model fitted by both, not of the best model for these data.

For each: the largest and mean absolute difference between sklearn_hier's and
brms's posterior medians of the group effects, and of the family's parameters
(sigma and nu; shape). brms runs with ``--brms-seeds`` seeds (2 by default), so
that its own seed-to-seed Monte Carlo noise (the same differences between two
brms runs) is the yardstick for the agreement. Both use 4 chains x ``--draws``
warm-up and kept draws; sklearn_hier's fit time includes its compilation.

Setup for brms: see ``versus_brms_bambi.py``. Run with
``python benchmarks/families_versus_brms.py [--draws 1000] [--brms-seeds 2]
[--only student|negbinomial]``.
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
from typing import NamedTuple

import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import load_tomz_weeks

HERE = Path(__file__).parent
TOMZ_MODIFIERS = ["white", "male", "intl", "hawk"]
EPILEPSY_MODIFIERS = ["age3", "base3"]


class Comparison(NamedTuple):
    """One model fitted by both: the data, who is who, and brms's script."""

    family: str
    data: pd.DataFrame
    outcome: str
    treatment: str
    modifiers: list[str]
    controls: list[str]
    r_script: str
    parameters: list[str]  # the family's parameters, named alike in both
    scale: str  # of the group effects compared


class BrmsRun(NamedTuple):
    timing: dict
    groups: pd.DataFrame
    parameters: pd.Series


def tomz_weeks() -> pd.DataFrame:
    columns = ["force", "alliance", "regime", "stakes", "costs", "region"] + TOMZ_MODIFIERS
    return load_tomz_weeks()[columns]


def epilepsy(work: Path) -> pd.DataFrame:
    """brms's epilepsy data, exported by R, with age and baseline count in tertiles."""
    csv = work / "epilepsy_raw.csv"
    subprocess.run(
        ["Rscript", "-e", "write.csv(brms::epilepsy, commandArgs(TRUE)[1], row.names = FALSE)",
         str(csv)], check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    df = pd.read_csv(csv)
    # each patient's age and baseline appear on 4 rows, so row tertiles are patient tertiles
    df["age3"] = pd.qcut(df["Age"], 3, labels=False)
    df["base3"] = pd.qcut(df["Base"], 3, labels=False)
    return df[["count", "Trt"] + EPILEPSY_MODIFIERS]


def fit_ours(c: Comparison, draws: int) -> tuple[HierarchicalHTE, float]:
    est = HierarchicalHTE(modifiers=c.modifiers, family=c.family, random_state=1,
                          sampler=NUTSSampler(num_warmup=draws, num_samples=draws))  # fmt: skip
    started = time.perf_counter()
    est.fit(c.data[c.modifiers + c.controls], c.data[c.outcome], treatment=c.data[c.treatment])
    return est, time.perf_counter() - started


def brms_runs(c: Comparison, draws: int, seeds: int, work: Path) -> list[BrmsRun] | str:
    csv = work / f"{c.family}.csv"
    c.data.to_csv(csv, index=False)
    runs = []
    for seed in range(1, seeds + 1):
        out = str(work / f"{c.family}_brms_{seed}")
        command = ["Rscript", str(HERE / c.r_script), str(csv), out, str(draws), str(seed),
                   c.family]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:120]
        parameters = pd.read_csv(f"{out}_parameters.csv").set_index("parameter")["median"]
        runs.append(BrmsRun(
            timing=pd.read_csv(f"{out}_timing.csv").iloc[0].to_dict(),
            groups=pd.read_csv(f"{out}_groups.csv")[c.modifiers + ["median"]],
            parameters=parameters,
        ))  # fmt: skip
    return runs


def differences(a: pd.DataFrame, b: pd.DataFrame, key: list[str]) -> tuple[float, float]:
    merged = a.merge(b, on=key, suffixes=("_a", "_b"))
    assert len(merged) == len(a) == len(b)
    gap = (merged["median_a"] - merged["median_b"]).abs()
    return float(gap.max()), float(gap.mean())


def agreement(ours: pd.DataFrame, runs: list[BrmsRun], key: list[str]) -> pd.DataFrame:
    rows = []
    for k, run in enumerate(runs, start=1):
        gap_max, gap_mean = differences(ours, run.groups, key)
        rows.append({"comparison": f"sklearn_hier vs brms seed {k}", "max_abs_diff": gap_max,
                     "mean_abs_diff": gap_mean})  # fmt: skip
    for (i, a), (j, b) in combinations(enumerate(runs, start=1), 2):
        gap_max, gap_mean = differences(a.groups, b.groups, key)
        rows.append({"comparison": f"brms seed {i} vs brms seed {j}", "max_abs_diff": gap_max,
                     "mean_abs_diff": gap_mean})  # fmt: skip
    pooled = pd.concat([run.groups for run in runs]).groupby(key, as_index=False)["median"]
    gap_max, gap_mean = differences(ours, pooled.mean(), key)
    rows.append({"comparison": f"sklearn_hier vs mean of {len(runs)} brms runs",
                 "max_abs_diff": gap_max, "mean_abs_diff": gap_mean})  # fmt: skip
    return pd.DataFrame(rows)


def parameter_table(est: HierarchicalHTE, c: Comparison, runs: list[BrmsRun]) -> pd.DataFrame:
    rows = []
    for name in c.parameters:
        row = {"parameter": name, "sklearn_hier": float(est.idata_.posterior[name].median())}
        brms = [float(run.parameters[name]) for run in runs]
        row |= {f"brms seed {k}": value for k, value in enumerate(brms, start=1)}
        row["max |ours - brms|"] = max(abs(row["sklearn_hier"] - value) for value in brms)
        row["max |brms - brms|"] = max(
            (abs(a - b) for a, b in combinations(brms, 2)), default=float("nan")
        )
        rows.append(row)
    return pd.DataFrame(rows)


def compare(c: Comparison, draws: int, seeds: int, work: Path) -> None:
    est, fit_s = fit_ours(c, draws)
    ours = est.effect_by_group(scale=c.scale)[c.modifiers + ["median"]]
    diagnostics = est.diagnostics()
    print(f"\n## family={c.family}: {len(c.data)} rows, {est.n_groups_} groups, effects on "
          f"the {c.scale} scale")  # fmt: skip
    print(f"sklearn_hier: fit {fit_s:.1f} s (with compilation); divergences "
          f"{diagnostics.attrs['divergences']}, max R-hat {diagnostics['r_hat_max'].max():.4f}, "
          f"min bulk ESS {diagnostics['ess_bulk_min'].min():.0f}")  # fmt: skip
    runs = brms_runs(c, draws, seeds, work)
    if isinstance(runs, str):
        print(f"brms: {runs}")
        return
    brms_time = pd.DataFrame([run.timing for run in runs])
    print(f"brms per run: compile {brms_time['compile_s'].mean():.1f} s + sampling "
          f"{brms_time['sampling_s'].mean():.1f} s; max R-hat {brms_time['max_rhat'].max():.4f}; "
          f"min bulk ESS {brms_time['min_ess_bulk'].min():.0f}")  # fmt: skip
    print(f"\nagreement of the {len(ours)} group effects' posterior medians")
    print(agreement(ours, runs, c.modifiers).round(4).to_string(index=False))
    print("\nposterior medians of the family's parameters")
    print(parameter_table(est, c, runs).round(4).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--brms-seeds", type=int, default=2)
    parser.add_argument("--only", choices=["student", "negbinomial"])
    args = parser.parse_args()
    warnings.simplefilter("ignore", SamplingWarning)
    pd.set_option("display.width", 200)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; 4 chains x {args.draws} "
          f"draws; brms seeds 1..{args.brms_seeds}")  # fmt: skip
    if not shutil.which("Rscript"):
        print("brms: not installed (apt-get install r-cran-brms r-cran-posterior)")
        return
    work = Path(tempfile.mkdtemp())
    comparisons = {
        "student": lambda: Comparison(
            family="student", data=tomz_weeks(), outcome="force", treatment="alliance",
            modifiers=TOMZ_MODIFIERS, controls=["regime", "stakes", "costs", "region"],
            r_script="tomz_weeks_brms.R", parameters=["sigma", "nu"], scale="response",
        ),
        "negbinomial": lambda: Comparison(
            family="negbinomial", data=epilepsy(work), outcome="count", treatment="Trt",
            modifiers=EPILEPSY_MODIFIERS, controls=[], r_script="epilepsy_brms.R",
            parameters=["shape"], scale="link",
        ),
    }  # fmt: skip
    for name, comparison in comparisons.items():
        if args.only in (None, name):
            compare(comparison(), args.draws, args.brms_seeds, work)


if __name__ == "__main__":
    main()
