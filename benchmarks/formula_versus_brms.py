"""The note's formula through ``HierarchicalHTE.from_formula`` against brms fitting what
``to_brms()`` writes, on Tomz & Weeks.

One run: our fit from the formula (two seeds), and brms running the exact R code that
``est.to_brms()`` returns (two seeds). Each group's alliance effect is summarised by its
posterior median; the table compares ours with brms's against brms's own seed-to-seed
differences. It also checks that the formula fit's draws equal those of the X/treatment
call with the same seed.

    python benchmarks/formula_versus_brms.py            # needs Rscript with brms
"""

import argparse
import re
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import load_tomz_weeks

FORMULA = (
    "force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl + hawk)"
    " + (1 + alliance | white:male:intl:hawk)"
)
MODIFIERS = ["white", "male", "intl", "hawk"]

#: Appended to to_brms()'s code: each group's effect draws (alliance 1 minus 0 at the first
#: row's controls: the model is linear, so that is the group's effect), medians to a CSV.
EPILOGUE = """
groups <- unique(data[, c("white", "male", "intl", "hawk")])
at <- function(a) {{ d <- data[rep(1, nrow(groups)), ]; d[, names(groups)] <- groups;
                     d$alliance <- a; d }}
effect <- posterior_epred(fit, newdata = at(1)) - posterior_epred(fit, newdata = at(0))
groups$median <- apply(effect, 2, median)
write.csv(groups, "{out}", row.names = FALSE)
"""


def ours(df: pd.DataFrame, seed: int, draws: int) -> tuple[pd.DataFrame, HierarchicalHTE, float]:
    sampler = NUTSSampler(num_warmup=draws, num_samples=draws, num_chains=4)
    started = time.perf_counter()
    est, X, y, t = HierarchicalHTE.from_formula(FORMULA, df, sampler=sampler, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y, treatment=t)
    seconds = time.perf_counter() - started
    table = est.effect_by_group()[[*MODIFIERS, "median"]]
    return table, est, seconds


def brms(code: str, data_csv: Path, seed: int, folder: Path) -> tuple[pd.DataFrame, float]:
    out = folder / f"brms_{seed}.csv"
    code = re.sub(r"seed = \d+", f"seed = {seed}", code)
    script = folder / f"fit_{seed}.R"
    script.write_text(f'data <- read.csv("{data_csv}")\n' + code + EPILOGUE.format(out=out))
    started = time.perf_counter()
    subprocess.run(["Rscript", str(script)], check=True, capture_output=True, text=True)
    return pd.read_csv(out), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000, help="warm-up and draws per chain")
    args = parser.parse_args()
    df = load_tomz_weeks()
    ours_a, est, seconds_a = ours(df, 0, args.draws)
    ours_b, _, seconds_b = ours(df, 1, args.draws)
    # the formula route and the X / treatment route: the same draws with the same seed
    same = HierarchicalHTE(modifiers=MODIFIERS, sampler=est.sampler, random_state=0).fit(
        df[MODIFIERS + ["regime", "stakes", "costs", "region"]], df["force"],
        treatment=df["alliance"],
    )  # fmt: skip
    identical = np.array_equal(
        same.idata_.posterior["group_effect"].values, est.idata_.posterior["group_effect"].values
    )
    code = est.to_brms(chains=4, iter=2 * args.draws)
    print("to_brms():\n" + code + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data_csv = folder / "tomz_weeks.csv"
        df.to_csv(data_csv, index=False)
        brms_a, brms_seconds_a = brms(code, data_csv, 11, folder)
        brms_b, brms_seconds_b = brms(code, data_csv, 12, folder)

    def medians(table):
        return table.set_index(MODIFIERS)["median"].sort_index()

    a, b, r1, r2 = (medians(t) for t in (ours_a, ours_b, brms_a, brms_b))
    rows = {
        "ours (seed 0) vs brms (seed 11)": (a - r1).abs(),
        "ours (seed 0) vs brms (seed 12)": (a - r2).abs(),
        "ours: seed 0 vs seed 1": (a - b).abs(),
        "brms: seed 11 vs seed 12": (r1 - r2).abs(),
    }
    table = pd.DataFrame(
        {"max |diff| of group medians": {k: v.max() for k, v in rows.items()},
         "mean |diff|": {k: v.mean() for k, v in rows.items()}}
    ).round(4)  # fmt: skip
    print(table.to_string())
    print(f"\n{len(a)} groups; formula fit draws equal the X/treatment fit's: {identical}")
    print(f"seconds per fit (4 x {args.draws} draws): ours {seconds_a:.1f} / {seconds_b:.1f} "
          f"(first includes compiling), brms {brms_seconds_a:.1f} / {brms_seconds_b:.1f} "
          "(each compiles)")  # fmt: skip


if __name__ == "__main__":
    main()
