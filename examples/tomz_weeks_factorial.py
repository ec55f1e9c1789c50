"""
A factorial experiment: every randomised treatment's effect, by group, at once
==============================================================================

Tomz & Weeks randomised five features of the hypothetical crisis: an alliance,
the regime type, the stakes, the costs and the region. The note's reanalysis
studies one of them (alliance) and treats the others as controls. Here two
treatments, alliance and regime, vary by demographic group at once: each group
gets its own intercept and two slopes, correlated through one LKJ prior, and
both slopes are predicted by the four modifiers. In brms this is

``force ~ 1 + stakes + costs + region + (alliance + regime) * (white + male + intl + hawk)
+ (1 + alliance + regime | group)``

and ``benchmarks/two_treatments_versus_brms.py`` shows the two agree within
brms's own Monte Carlo noise. Then region, a four-arm treatment, gets its three
arm effects by group, and two arms are compared within every group.

Run ``python examples/tomz_weeks_factorial.py --draws 300`` for a quick look.
"""

# %%
import argparse
import sys
import time
import warnings

import matplotlib

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.plotting import plot_group_effects

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--draws", type=int, default=1000, help="warm-up and kept draws per chain")
parser.add_argument("--quick", action="store_true", help="accepted by every example; no effect")
args, _ = parser.parse_known_args()
if "sphinx_gallery" not in sys.modules:
    matplotlib.use("Agg")  # a script writes its figures to files


def show(table):
    """A table: HTML in the gallery (the value of a cell's last line), text on a terminal."""
    return table if "sphinx_gallery" in sys.modules else print(table.to_string())


if args.draws < 400:  # short runs are for smoke tests; their ESS warnings are expected
    warnings.simplefilter("ignore", SamplingWarning)

df = load_tomz_weeks()
modifiers = ["white", "male", "intl", "hawk"]
settings = dict(modifiers=modifiers, random_state=0,
                sampler=NUTSSampler(num_warmup=args.draws, num_samples=args.draws))  # fmt: skip

# %%
# Two treatments, each varying by group
# -------------------------------------
# ``treatment`` is a DataFrame of the two columns; the controls are the other
# randomised features.
est = HierarchicalHTE(**settings)
started = time.perf_counter()
est.fit(df[modifiers + ["stakes", "costs", "region"]], df["force"],
        treatment=df[["alliance", "regime"]])  # fmt: skip
diag = est.diagnostics()
print(f"fitted in {time.perf_counter() - started:.1f} s: {diag.attrs['divergences']} divergences, "
      f"max R-hat {diag['r_hat_max'].max():.3f}; effects {est.effect_names_}")  # fmt: skip

# %%
# The population-level terms: each treatment's effect at zero modifiers, its
# lambdas, the three group-level sds and their correlations.
show(est.coefficients().round(3))

# %%
# Every group's two effects (a ``treatment`` column names which).
show(est.effect_by_group().round(3).head(8))

# %%
# How much each effect varies between groups, and who responds most and least.
for summary in est.heterogeneity_summary().values():
    print(summary, end="\n\n")

# %%
# The two effects in the same layout, one figure each: intl along the x axis,
# panels by race and gender, colour by hawkishness (the note's Figure 3).
for name in est.effect_names_:
    fig = plot_group_effects(est, x="intl", rows="white", cols="male", hue="hawk",
                             treatment=name)  # fmt: skip
    fig.suptitle(f"Effect of {name} on support for force, by group")
    if "sphinx_gallery" not in sys.modules:
        fig.savefig(f"tomz_weeks_effect_of_{name}.png", dpi=150)
        print(f"figure written to tomz_weeks_effect_of_{name}.png")

# %%
# Does the alliance effect exceed the regime effect within a group? Both
# effects live in the same posterior, so the comparison is draw by draw.
show(est.compare_arms("alliance", "regime").round(3).head(6))

# %%
# Region: a four-arm treatment
# ----------------------------
# Every arm's effect against the reference arm (Africa, the first in sorted
# order; ``control_value`` picks another).
arms = HierarchicalHTE(**settings)
arms.fit(df[modifiers + ["alliance", "regime", "stakes", "costs"]], df["force"],
         treatment=df["region"])  # fmt: skip
diag = arms.diagnostics()
print(f"region arms {arms.effect_names_} against {arms.treatment_coding_.control_value!r}: "
      f"{diag.attrs['divergences']} divergences, max R-hat {diag['r_hat_max'].max():.3f}")
show(arms.population_effect().round(3))

# %%
# Asia against Eastern Europe within every group.
show(arms.compare_arms("Asia", "Eastern Europe").round(3).head(6))
