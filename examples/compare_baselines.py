"""
The hierarchical model beside causal forests (EconML and Bayesian), metalearners and interactions
=================================================================================================

One simulated survey experiment in the note's setting (three modifiers, 20
groups, 1,500 respondents, effects that follow the modifiers plus group noise)
fitted by every method with the same interface. ``compare`` tabulates how close
each comes to the true group effects and how well its 95% intervals cover
them; the figure shows every method's group effects against the truth. Then, as in
a real study without the truth, the held-out checks of ``validate`` compare them.
``benchmarks/compare_baselines.py`` repeats this over scenarios and replications.

Run ``python examples/compare_baselines.py --draws 500`` (needs the ``baselines``
and ``plot`` extras); ``--out figure.png`` saves the figure.
"""

# %%
import argparse
import sys
import warnings

import pandas as pd

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning, compare
from sklearn_hier.baselines import (
    BayesianCausalForestHTE,
    CausalForestHTE,
    InteractionHTE,
    MetaLearnerHTE,
)
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.plotting import plot_calibration, plot_comparison
from sklearn_hier.validation import validate

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--draws", type=int, default=1000, help="warm-up and kept draws per chain")
parser.add_argument("--quick", action="store_true", help="smaller forest, fewer methods")
parser.add_argument("--out", default=None, help="save the figure here")
args, _ = parser.parse_known_args()


def show(table):
    """A table: HTML in the gallery (the value of a cell's last line), text on a terminal."""
    return table if "sphinx_gallery" in sys.modules else print(table.to_string())


warnings.simplefilter("ignore", SamplingWarning)  # few draws in --quick runs

# %%
# Data with known truth: every row's effect and every group's.
data = make_grouped_hte(1500, n_levels=(2, 2, 5), sigma_theta=0.15, random_state=11)
common = dict(modifiers=data.modifiers)
estimators = {
    "HierarchicalHTE": HierarchicalHTE(
        **common,
        sampler=NUTSSampler(num_warmup=args.draws, num_samples=args.draws),
        random_state=0,
    ),
    "Interaction OLS": InteractionHTE(**common),
    "Causal forest": CausalForestHTE(
        **common, n_estimators=100 if args.quick else 400, random_state=0
    ),
    "Bayesian causal forest": BayesianCausalForestHTE(
        **common, num_mcmc=100 if args.quick else 500, random_state=0
    ),
    "DR-learner": MetaLearnerHTE(kind="DR", **common, random_state=0),
}
if not args.quick:
    estimators["T-learner"] = MetaLearnerHTE(kind="T", **common, random_state=0)

# %%
# One call fits every method and measures it against the truth.
table = compare(estimators, data.X, data.y, data.treatment, true_effect=data.true_effect)
show(table.drop(columns="r_score").round(3))

# %%
# Group effects by method, groups ordered by their true effect (black crosses).
ax = plot_comparison(table)  # a figure sized to the number of groups, every label inside
ax.set_title("Group effects by method against the truth")
fig = ax.figure
if args.out:
    fig.savefig(args.out, dpi=120)

# %%
# Choosing without the truth: checks on held-out data
# ---------------------------------------------------
# In a real study there is no ``true_effect``. ``validate`` cross-fits each method
# and doubly-robust pseudo-outcomes, then asks whether the estimates predict who
# responds (the BLP slope: 0 means no, 1 means calibrated), group by group
# (calibration) and for targeting (uplift). The hierarchical model's checks use
# its posterior draws, so its intervals carry its own uncertainty too.
candidates = ["HierarchicalHTE", "Bayesian causal forest", "Causal forest", "DR-learner"]
reports = {
    name: validate(estimators[name], data.X, data.y, treatment=data.treatment,
                   cv=3 if args.quick else 5)
    for name in candidates
}  # fmt: skip
slopes = pd.DataFrame({name: report.blp.loc["heterogeneity"] for name, report in reports.items()})
show(slopes.T[["estimate", "lower", "upper"]].round(3))

# %%
# With 1,500 rows the pseudo-outcomes are noisy, so wide slope intervals are the
# honest answer; choose the method whose slope is nearest 1 with an interval that
# excludes 0, and check its calibration: here the hierarchical model's, predicted
# against observed effect by quartile of its estimates, on rows it never saw.
ax = plot_calibration(reports["HierarchicalHTE"])
