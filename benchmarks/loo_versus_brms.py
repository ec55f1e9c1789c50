"""PSIS-LOO of the Tomz & Weeks models: sklearn_hier against brms's ``loo()``.

Two models, each fitted by both with the note's priors and 4 chains x ``--draws``
warm-up and kept draws:

- ``nested``: the note's model, one group per combination of the four modifiers; in brms
  ``force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl +
  hawk) + (1 + alliance | group)``.
- ``additive``: footnote 8's per-modifier terms; in brms the same fixed part with
  ``(1 + alliance | white) + (1 + alliance | male) + (1 + alliance | intl) +
  (1 + alliance | hawk)``. sklearn_hier's additive structure is not exactly this model
  (its level offsets are projected out of the fixed part, and binary modifiers get
  none), so its elpd is reported beside brms's rather than required to equal it.

brms runs ``--brms-seeds`` seeds (2 by default): their spread is its own Monte Carlo
noise, the yardstick for the agreement. The table gives elpd_loo with its standard
error, p_loo, the largest Pareto k, each fit's seconds and the seconds LOO adds (for
sklearn_hier: the pass over the rows for the per-row log-likelihoods plus
``arviz_stats.loo``). The nested-minus-additive elpd difference is printed for both.

Setup for brms: see ``versus_brms_bambi.py``. Run with
``python benchmarks/loo_versus_brms.py [--draws 1000] [--brms-seeds 2] [--no-brms]``.
"""

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import arviz_stats
import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import load_tomz_weeks

HERE = Path(__file__).parent
MODIFIERS = ["white", "male", "intl", "hawk"]
CONTROLS = ["regime", "stakes", "costs", "region"]


def ours(data: pd.DataFrame, structure: str, draws: int) -> dict:
    X = data[MODIFIERS + CONTROLS]
    sampler = NUTSSampler(target_accept=0.95, num_warmup=draws, num_samples=draws)
    est = HierarchicalHTE(modifiers=MODIFIERS, structure=structure, sampler=sampler,
                          random_state=1)  # fmt: skip
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)  # reported in the table instead
        est.fit(X, data["force"], treatment=data["alliance"])
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    loo = arviz_stats.loo(est.inference_data(X, data["force"], data["alliance"]))
    loo_s = time.perf_counter() - started
    return {
        "tool": "sklearn_hier", "model": structure, "seed": 1, "elpd_loo": float(loo.elpd),
        "se": float(loo.se), "p_loo": float(loo.p), "max_pareto_k": float(loo.pareto_k.max()),
        "fit_s": fit_s, "loo_s": loo_s,
    }  # fmt: skip


def brms(data: pd.DataFrame, structure: str, draws: int, seed: int, work: Path) -> dict:
    path = work / "data.csv"
    data.to_csv(path, index=False)
    out = work / f"{structure}_{seed}"
    subprocess.run(
        ["Rscript", str(HERE / "tomz_weeks_loo_brms.R"), str(path), str(out), str(draws),
         str(seed), structure], check=True,
    )  # fmt: skip
    row = pd.read_csv(f"{out}_loo.csv").iloc[0]
    return {
        "tool": "brms", "model": structure, "seed": seed, "elpd_loo": row["elpd_loo"],
        "se": row["se"], "p_loo": row["p_loo"], "max_pareto_k": row["max_pareto_k"],
        "fit_s": row["compile_s"] + row["sampling_s"], "loo_s": row["loo_s"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--brms-seeds", type=int, default=2)
    parser.add_argument("--no-brms", action="store_true", help="sklearn_hier's rows only")
    args = parser.parse_args()
    data = load_tomz_weeks()[["force", "alliance"] + MODIFIERS + CONTROLS]
    rows = [ours(data, structure, args.draws) for structure in ("nested", "additive")]
    if not args.no_brms and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as work:
            for structure in ("nested", "additive"):
                seeds = range(1, args.brms_seeds + 1) if structure == "nested" else [1]
                rows += [brms(data, structure, args.draws, s, Path(work)) for s in seeds]
    table = pd.DataFrame(rows)
    print(f"{platform.machine()}, {os.cpu_count()} CPUs; 4 chains x {args.draws} draws")
    print(table.round(2).to_string(index=False))
    for tool, part in table.groupby("tool"):
        elpd = part.groupby("model")["elpd_loo"].mean()
        if {"nested", "additive"} <= set(elpd.index):
            print(f"{tool}: nested - additive elpd = {elpd['nested'] - elpd['additive']:+.2f}")
    brms_nested = table[(table.tool == "brms") & (table.model == "nested")]["elpd_loo"]
    if len(brms_nested) >= 2:
        ours_nested = table[(table.tool == "sklearn_hier") & (table.model == "nested")]
        gap = abs(float(ours_nested["elpd_loo"].iloc[0]) - brms_nested.mean())
        spread = brms_nested.max() - brms_nested.min()
        print(f"nested: |sklearn_hier - brms mean| = {gap:.2f} elpd; brms seed-to-seed "
              f"spread {spread:.2f}; within spread + 1: {gap <= spread + 1}")  # fmt: skip


if __name__ == "__main__":
    main()
