"""sklearn_hier against brms and bambi on the Tomz & Weeks reanalysis, in one run.

Same data, same specification (the note's priors; bambi has no LKJ term, so its
group intercepts and slopes are uncorrelated), 4 chains x ``--draws`` kept draws. For
each tool: its warm-up iterations per chain, wall time split into compilation and
sampling, minimum bulk ESS over the key parameters and the 100 group effects, ESS per
second, maximum R-hat, and the largest difference between its group posterior medians
and brms's.

brms and bambi warm up for as many iterations as they keep (their defaults: 1,000 of
each). sklearn_hier is run twice: with its default warm-up (``num_warmup="auto"``: 500
for the marginal model it samples here) and with the others' 1,000, like for like; each
in this process, after a fit in a new process has left its programs on disk (a
returning user's first fit: ``compile_s`` is what the first fit adds to a warm one).

Setup (none of it is needed by the package or its tests):

- brms: ``apt-get install r-cran-brms r-cran-posterior`` (Debian), then ``Rscript`` on PATH.
  Debian's ``r-cran-bh`` is a virtual package that relies on the system Boost; if rstan
  reports "Boost not found", link it: ``ln -s /usr/include /usr/lib/R/site-library/BH/include``;
- bambi: ``pip install bambi nutpie`` into any Python, passed as ``--bambi-python``.

Run ``python benchmarks/versus_brms_bambi.py [--draws 1000] [--bambi-python PATH]``.
Tools that are not installed are reported as such.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import arviz_stats
import numpy as np
import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import load_tomz_weeks

HERE = Path(__file__).parent
MODIFIERS = ["white", "male", "intl", "hawk"]
COLUMNS = ["force", "alliance", "regime", "stakes", "costs", "region"] + MODIFIERS


def run_sklearn_hier(df: pd.DataFrame, draws: int, warmup) -> tuple[dict, pd.DataFrame]:
    X = df[MODIFIERS + ["regime", "stakes", "costs", "region"]]
    est = HierarchicalHTE(
        modifiers=MODIFIERS,
        sampler=NUTSSampler(num_warmup=warmup, num_samples=draws),
        random_state=1,
    )
    started = time.perf_counter()
    est.fit(X, df["force"], treatment=df["alliance"])
    first = time.perf_counter() - started
    started = time.perf_counter()
    est.fit(X, df["force"], treatment=df["alliance"])  # the compiled sampler is reused
    warm = time.perf_counter() - started
    post = est.idata_.posterior
    names = ["b_treatment", "lambda", "sd_effect", "sd_intercept", "sigma", "group_effect"]
    key = post.to_dataset()[names]
    table = est.effect_by_group()
    groups = table[MODIFIERS].assign(median=table["median"])
    return {
        "warmup": est.idata_.sample_stats.attrs["num_warmup"],
        "compile_s": first - warm,
        "sampling_s": warm,
        "min_ess_bulk": float(arviz_stats.ess(key, method="bulk").to_array().min()),
        "max_rhat": float(arviz_stats.rhat(key).to_array().max()),
    }, groups


COLD_FIT = """
import sys, time, warnings
import pandas as pd
from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
warnings.simplefilter("ignore", SamplingWarning)
df = pd.read_csv(sys.argv[1])
modifiers = ["white", "male", "intl", "hawk"]
X = df[modifiers + ["regime", "stakes", "costs", "region"]]
draws, warmup = int(sys.argv[2]), sys.argv[3]
est = HierarchicalHTE(modifiers=modifiers, random_state=1, sampler=NUTSSampler(
    num_samples=draws, num_warmup=warmup if warmup == "auto" else int(warmup)))
started = time.perf_counter()
est.fit(X, df["force"], treatment=df["alliance"])
print(time.perf_counter() - started)
"""


def first_fit_in_new_process(csv: Path, draws: int, cache_dir: Path | None,
                             warmup="auto") -> float:  # fmt: skip
    """Seconds of the first fit in a fresh Python process (imports excluded), with the
    on-disk compilation cache at ``cache_dir`` (an empty folder: a new user's first fit;
    None: this process's own cache, which the fit then leaves warm for this process)."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["SKLEARN_HIER_CACHE_DIR"] = str(cache_dir)
    result = subprocess.run([sys.executable, "-c", COLD_FIT, str(csv), str(draws), str(warmup)],
                            capture_output=True, text=True, env=env, check=True)  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def run_external(command: list, out: str) -> tuple[dict, pd.DataFrame] | str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"not run: {error}"
    if result.returncode != 0:
        return "failed: " + (result.stderr.strip().splitlines() or ["?"])[-1][:120]
    timing = pd.read_csv(f"{out}_timing.csv").iloc[0].to_dict()
    return timing, pd.read_csv(f"{out}_groups.csv")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--bambi-python", default=sys.executable)
    args = parser.parse_args()
    warnings.simplefilter("ignore", SamplingWarning)
    df = load_tomz_weeks()[COLUMNS]
    work = Path(tempfile.mkdtemp())
    csv = work / "tomz_weeks.csv"
    df.to_csv(csv, index=False)
    # a new user's first fit fills an empty cache; the next new process finds it warm
    new_user = first_fit_in_new_process(csv, args.draws, work / "cache")
    cached = first_fit_in_new_process(csv, args.draws, work / "cache")
    # both of the fits timed here find their programs on disk, as a returning user does
    # (each warm-up length is a program of its own)
    for warmup in ("auto", args.draws):
        first_fit_in_new_process(csv, args.draws, None, warmup)
    results = {
        "sklearn_hier": run_sklearn_hier(df, args.draws, "auto"),
        "sklearn_hier, brms's warm-up": run_sklearn_hier(df, args.draws, args.draws),
    }
    if shutil.which("Rscript"):
        out = str(work / "brms")
        results["brms"] = run_external(
            ["Rscript", str(HERE / "tomz_weeks_brms.R"), str(csv), out, str(args.draws)], out
        )
    else:
        results["brms"] = "not installed (apt-get install r-cran-brms r-cran-posterior)"
    for sampler in ("nutpie", "pymc"):
        out = str(work / f"bambi_{sampler}")
        results[f"bambi ({sampler})"] = run_external(
            [args.bambi_python, str(HERE / "tomz_weeks_bambi.py"), str(csv), out,
             str(args.draws), sampler], out,
        )  # fmt: skip
    reference = results["brms"][1] if isinstance(results["brms"], tuple) else None
    rows = []
    for name, result in results.items():
        if isinstance(result, str):
            rows.append({"tool": name, "status": result})
            continue
        timing, groups = result
        timing = {"warmup": args.draws, **timing}  # brms and bambi: as many as kept
        total = np.nansum([timing["compile_s"], timing["sampling_s"]])
        row = {"tool": name, "status": "ok", **timing, "total_s": total}
        row["ess_per_s"] = timing["min_ess_bulk"] / total
        if reference is not None:
            merged = groups.merge(reference, on=MODIFIERS, suffixes=("", "_brms"))
            row["max_median_diff_vs_brms"] = float(
                (merged["median"] - merged["median_brms"]).abs().max()
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    if reference is not None:
        brms_total = table.loc[table["tool"] == "brms", "total_s"].item()
        table["speedup_vs_brms"] = brms_total / table["total_s"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; "
        f"4 chains x {args.draws} kept draws after each tool's warm-up"
    )
    pd.set_option("display.width", 200)
    print(table.round(3).to_string(index=False))
    print(
        f"sklearn_hier's first fit in a new process: {cached:.2f} s with the on-disk cache "
        f"warm, {new_user:.2f} s with an empty cache (a new user)"
    )


if __name__ == "__main__":
    main()
