"""
Before the data: how many respondents for a ±0.15 interval in every group?
==========================================================================

The methods note warns that hierarchical models "will not make powerful
comparisons between every group": small groups have wide intervals. This script
plans a Tomz & Weeks (2021)-style study before fielding it. It asks how many
respondents would make the smallest demographic group's 95% interval for the
alliance effect narrower than ±0.15 (a width of 0.30), and how the answer changes
when internationalism and hawkishness are binned in three levels instead of five
(36 groups instead of 100).

The assumptions come from the published study, used as a pilot. ``plan_from``
draws the parameters from its posterior (Bayesian assurance), and ``plan_study``
plans the binned design at the posterior medians. The fast mode's closed-form
intervals give each curve in seconds. The exact mode, which fits the full model
to every simulated study, checks it at the published size.

Run ``python examples/plan_tomz_weeks.py`` (``--quick`` for fewer simulations).
"""

# %%
import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.planning import Assumptions, plan_from, plan_study

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--draws", type=int, default=500, help="warm-up and kept draws per chain")
parser.add_argument("--quick", action="store_true", help="fewer simulations")
parser.add_argument("--figures", default="planning_figures", help="folder for the figure ('' none)")
args, _ = parser.parse_known_args()


def show(table):
    return table if "sphinx_gallery" in sys.modules else print(table.to_string())


pd.set_option("display.width", 120)
simulations = 4 if args.quick else 20
sizes = [1200, 1800, 2400, 3600, 4800, 7200, 9600, 14400, 19200, 28800]
target = 0.30  # a 95% interval of +-0.15

# %%
# The pilot: the note's model fitted to the published study
# ----------------------------------------------------------
df = load_tomz_weeks()
modifiers = ["white", "male", "intl", "hawk"]
sampler = NUTSSampler(num_warmup=args.draws, num_samples=args.draws, num_chains=2,
                      progress_bar=False)  # fmt: skip
pilot = HierarchicalHTE(modifiers=modifiers, prior_coef_scale=0.5, sampler=sampler,
                        random_state=0)  # fmt: skip
pilot.fit(df[modifiers + ["regime", "stakes", "costs", "region"]], df["force"],
          treatment=df["alliance"])  # fmt: skip
show(pilot.coefficients().round(3))

# %%
# Five levels of intl and hawk: 100 groups
# -----------------------------------------
# Each simulated study samples respondents as the published one did (its groups'
# shares), assigns the alliance vignette to half of them, draws the parameters
# from the pilot's posterior and finds every group's interval.
started = time.perf_counter()
plan5 = plan_from(pilot, sizes, mode="fast", n_simulations=simulations, random_state=0)
print(f"fast plan, {len(sizes)} sizes x {simulations} simulations: "
      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
show(plan5.curve().iloc[:, :4].round(3))
n5 = plan5.n_for_width(target, k=1)
print(f"100 groups: the smallest group's interval reaches +-0.15 at about {n5:,.0f} respondents")

# %%
# Three levels: 36 groups
# ------------------------
# Binning 1-2, 3 and 4-5 (each bin coded by the mean of its levels, so the lambdas
# keep their units) triples the rows per group. The parameters are the pilot's
# posterior medians.
post = pilot.idata_.posterior
median = {name: float(post[name].median()) for name in ("b_treatment", "sd_effect",
                                                        "sd_intercept", "sigma")}  # fmt: skip
lambdas = dict(zip(modifiers, post["lambda"].median(("chain", "draw")).values.tolist(),
                   strict=True))  # fmt: skip
zbar = df[modifiers].mean().to_numpy()
assumptions = Assumptions(
    average_effect=median["b_treatment"] + float(np.dot(list(lambdas.values()), zbar)),
    lambdas=lambdas, sd_effect=median["sd_effect"], sd_intercept=median["sd_intercept"],
    noise_sd=median["sigma"], baseline=float(df["force"].mean()),
)  # fmt: skip
bins = {1: 1.5, 2: 1.5, 3: 3.0, 4: 4.5, 5: 4.5}
binned = df[modifiers].assign(intl=df["intl"].map(bins), hawk=df["hawk"].map(bins))
estimator = HierarchicalHTE(modifiers=modifiers, sampler=sampler)
plan3 = plan_study(binned, assumptions, sizes, estimator=estimator, n_simulations=simulations,
                   random_state=0)  # fmt: skip
plan5_fixed = plan_study(df[modifiers], assumptions, sizes, estimator=estimator,
                         n_simulations=simulations, random_state=0)  # fmt: skip
answers = pd.DataFrame({
    "groups": [100, 100, 36],
    "parameters": ["pilot's posterior", "posterior medians", "posterior medians"],
    "rows for +-0.15, smallest group": [n5, plan5_fixed.n_for_width(target),
                                        plan3.n_for_width(target)],
    "width at 1,200 rows, smallest group": [
        plan5.curve().iloc[0, 0], plan5_fixed.curve().iloc[0, 0], plan3.curve().iloc[0, 0]],
}, index=["5 levels (assurance)", "5 levels", "3 levels"]).round(3)  # fmt: skip
show(answers)

# %%
# The curves
# ----------
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
plan5.plot(ax=axes[0], target=target)
axes[0].set_title("intl and hawk in 5 levels (100 groups)")
plan3.plot(ax=axes[1], target=target)
axes[1].set_title("in 3 levels (36 groups)")
fig.tight_layout()
if args.figures:
    os.makedirs(args.figures, exist_ok=True)
    fig.savefig(os.path.join(args.figures, "planning_curves.png"), dpi=120)

# %%
# The fast mode against the full fit
# ----------------------------------
# The fast mode fixes the variance parameters at each simulation's values; the exact
# mode samples them, as a fit would, so its intervals are wider where sd_effect is
# uncertain, above all in the smallest groups. Here both run at the published size.
started = time.perf_counter()
exact = plan_study(df[modifiers], assumptions, [1200], estimator=estimator, mode="exact",
                   n_simulations=max(2, simulations // 2), random_state=1)  # fmt: skip
print(f"exact plan at 1,200 rows: {time.perf_counter() - started:.1f} s")
both = plan5_fixed.groups.query("n_rows == 1200").merge(
    exact.groups, on="group", suffixes=("_fast", "_exact"))  # fmt: skip
both["rows"] = pd.cut(both["rows_exact"], [-1, 5, 10, 20, 100],
                      labels=["0-5", "6-10", "11-20", "21+"])  # fmt: skip
ratio = (both["width_fast"] / both["width_exact"]).groupby(both["rows"], observed=True)
show(ratio.describe()[["count", "mean", "min", "max"]].round(3))
show(exact.study.round(3))
