"""
Who responds to alliances? The Tomz & Weeks (2021) reanalysis
==============================================================

Alley (2024) reanalyses a survey experiment in which respondents read about a
country under attack that was, or was not, a US ally. The hierarchical model
lets the alliance effect vary across 100 demographic groups (race x gender x
internationalism x hawkishness), with those four variables predicting the
effect, and the other experimental factors as controls. This script fits the
note's exact specification and prints the group effects, the population-level
coefficients and the heterogeneity summary, draws the note's three figures,
compares the note's grouping with two others by PSIS-LOO and checks each group's
effect against replicated data (a fourth figure), saved as PNG files in
``tomz_weeks_figures/`` (``--figures DIR`` to choose the
folder, ``--figures ''`` to save none).

Run ``python examples/tomz_weeks_reanalysis.py --draws 200`` for a quick look.
"""

# %%
import argparse
import os
import sys
import time

import matplotlib.pyplot as plt
import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.model_comparison import compare_models
from sklearn_hier.plotting import (
    plot_coefficients,
    plot_effect_distribution,
    plot_group_difference_check,
    plot_group_effects,
)
from sklearn_hier.predictive_checks import group_difference_check

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--draws", type=int, default=1000, help="warm-up and kept draws per chain")
parser.add_argument("--quick", action="store_true", help="accepted by every example; no effect")
parser.add_argument(
    "--figures", default="tomz_weeks_figures",
    help="folder for the three figures as PNG files ('' saves none)",
)  # fmt: skip
args, _ = parser.parse_known_args()  # sphinx-gallery passes its own arguments


def show(table):
    """A table: HTML in the gallery (the value of a cell's last line), text on a terminal."""
    return table if "sphinx_gallery" in sys.modules else print(table.to_string())


pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)

# %%
# The data and the note's specification
# --------------------------------------
# Modifiers define the groups and, by default, predict the effect; every other
# column of ``X`` (the other experimental factors) is a control. The priors
# are the note's: normal(0, 1) intercept, normal(0, 0.5) coefficients,
# half-normal(0, 1) group sds and residual sd, LKJ(1) correlation.
df = load_tomz_weeks()
modifiers = ["white", "male", "intl", "hawk"]
X = df[modifiers + ["regime", "stakes", "costs", "region"]]

est = HierarchicalHTE(
    modifiers=modifiers,
    prior_intercept_scale=1.0,
    prior_coef_scale=0.5,
    prior_sd_scale=1.0,
    prior_sigma_scale=1.0,
    lkj_concentration=1.0,
    sampler=NUTSSampler(
        target_accept=0.95, num_warmup=args.draws, num_samples=args.draws, num_chains=4
    ),
    random_state=0,
)
started = time.perf_counter()
est.fit(X, df["force"], treatment=df["alliance"])
first_fit = time.perf_counter() - started

# %%
# The alliance effect in every group
# ----------------------------------
table = est.effect_by_group()
print(f"Alliance effect in {len(table)} groups (95% intervals), largest first:")
show(table.sort_values("median", ascending=False).round(3))

# %%
# What predicts the effect (Figure 1)
# -----------------------------------
# The first row is the alliance effect where every group predictor is 0: white and
# male respondents coded 0, and intl and hawk at 0, below their 1-5 scales. It is
# the intercept of the effect's regression, not the average effect, printed below.
figure_1 = plot_coefficients(est).figure
print("average alliance effect over the respondents (mean, lower, upper):",
      [round(v, 3) for v in est.average_effect()])  # fmt: skip
print("\nPopulation-level effects:")
show(est.coefficients()[["role", "median", "lower", "upper"]].round(3))

# %%
# How much the effect varies (Figure 2)
# -------------------------------------
print()
print(est.heterogeneity_summary())
figure_2 = plot_effect_distribution(est).figure

# %%
# Effects by group (Figure 3)
# ---------------------------
# Panels by race and gender, internationalism along the axis, hawkishness by colour.
figure_3 = plot_group_effects(est, rows="white", cols="male", x="intl", hue="hawk")

# %%
# Comparisons the note's readers ask for
# --------------------------------------
# The most and least responsive groups against each other, white against
# non-white respondents within every other combination, and the average effect
# in the population the survey weights represent.
show(
    est.compare_groups(
        {"white": 1, "male": 1, "intl": 5, "hawk": 1}, {"white": 0, "male": 0, "intl": 1, "hawk": 5}
    ).round(3)
)  # fmt: skip

# %%
show(est.contrast("white", 1, 0)[["mean", "lower", "upper"]].describe().round(3))

# %%
show(est.population_effect(df, weights="weight", by="white").round(3))

# %%
# Which grouping do the data support?
# -----------------------------------
# The note's model gives every combination of the four modifiers its own effect. Its
# footnote 8 varies the effect by each modifier separately instead (the additive
# structure). Without varying slopes, only the intercept varies by group, brms's
# ``(1 | white:male:intl:hawk)``: each group's effect is what the four modifiers predict
# (lambda), with no heterogeneity beyond them. A coarser analysis would group by
# hawkishness alone. All four are fitted to the same respondents and compared by how
# well they predict new ones (PSIS-LOO; the best first, ``elpd_diff`` in elpd units with
# its standard error ``dse``).
candidates = {
    "note's model (nested)": est,
    "additive (footnote 8)": HierarchicalHTE(
        modifiers=modifiers, structure="additive", sampler=est.sampler, random_state=0
    ),
    "no varying slopes": HierarchicalHTE(
        modifiers=modifiers, varying_slopes=False, sampler=est.sampler, random_state=0
    ),
    "hawkishness alone": HierarchicalHTE(
        modifiers=["hawk"], group_predictors=["hawk"], sampler=est.sampler, random_state=0
    ),
}
for candidate in candidates.values():
    if candidate is not est:
        candidate.fit(X, df["force"], treatment=df["alliance"])
ranking = compare_models(candidates, X, df["force"], df["alliance"])
show(ranking[["elpd", "se", "p", "elpd_diff", "dse", "weight"]].round(2))
# a gap of less than about two standard errors (dse) does not separate two models
best = ranking.index[0]
close = [n for n in ranking.index[1:] if ranking.loc[n, "elpd_diff"] > -2 * ranking.loc[n, "dse"]]
print(f"The data favour the {best}" + (f"; within two standard errors of it: {', '.join(close)}"
                                       if close else "") + ".")  # fmt: skip

# %%
# PSIS-LOO asks how well each model predicts new respondents of the groups the survey
# has. Whether what a grouping learns carries over to respondents of a kind the survey
# did not see is another question: hold out each level of hawkishness in turn, refit
# every model without it, and score the held-out respondents under the refit, whose
# population model predicts the groups it never saw (exact K-fold over groups, five
# refits per model).
new_groups = compare_models(candidates, X, df["force"], df["alliance"], method="logo",
                            groups="hawk")  # fmt: skip
show(new_groups[["elpd", "se", "elpd_diff", "dse"]].round(2))
print(f"For respondents of an unseen hawkishness level the data favour the {new_groups.index[0]}.")

# %%
# Does the note's model reproduce each group's alliance effect? Each group's observed
# difference between allied and non-allied scenarios, against the same difference in
# data replicated from the posterior (Figure 4): a group outside its interval is one
# the model does not reproduce; at 95%, about one group in twenty is by chance.
check = group_difference_check(est, X, df["force"], df["alliance"])
print(f"{int(check['outside'].sum())} of {len(check)} groups outside their 95% replications")
figure_4 = plot_group_difference_check(check).figure

# %%
if args.figures:
    os.makedirs(args.figures, exist_ok=True)
    names = ("figure_1_coefficients", "figure_2_effect_distribution", "figure_3_group_effects",
             "figure_4_group_difference_check")  # fmt: skip
    figures = (figure_1, figure_2, figure_3, figure_4)
    for name, figure in zip(names, figures, strict=True):
        figure.savefig(os.path.join(args.figures, f"{name}.png"), dpi=150, bbox_inches="tight")
    print(f"\nthe note's three figures and the check are in {os.path.abspath(args.figures)}/")
plt.close("all")

# %%
# Sampling diagnostics and timing
# -------------------------------
print("\nConvergence of the key parameters:")
show(est.diagnostics().round(3))

# %%
started = time.perf_counter()
est.fit(X, df["force"], treatment=df["alliance"])  # same shapes: the compiled sampler is reused
second_fit = time.perf_counter() - started
print(f"\nfit wall time: first {first_fit:.1f} s (includes compilation), second {second_fit:.1f} s")
