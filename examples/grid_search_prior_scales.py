"""
Tuning prior scales by cross-validated R-loss
=============================================

How strongly should group effects be pooled? The prior scale of the group-level
standard deviations (``prior_sd_scale``) and of the coefficients
(``prior_coef_scale``) are hyper-parameters, and ``GridSearchCV`` can choose
them. With the truth unknown, the R-loss scorer (Nie & Wager) scores each
candidate on held-out folds by how well its effects explain the outcome left
after cross-fitted models of the outcome and the treatment.

For normal outcomes, ``HierarchicalHTECV`` scores the same grid from a single
sampler run (last section).

Run ``python examples/grid_search_prior_scales.py --draws 300 --quick`` for a quick look.
"""

# %%
import argparse
import sys
import warnings

import pandas as pd
import sklearn
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.metrics import r_loss_scorer

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--draws", type=int, default=500, help="warm-up and kept draws per chain")
parser.add_argument("--quick", action="store_true", help="a 2 x 2 grid and 2 folds")
args, _ = parser.parse_known_args()


def show(table):
    """A table: HTML in the gallery (the value of a cell's last line), text on a terminal."""
    return table if "sphinx_gallery" in sys.modules else print(table.to_string())


if args.draws < 400:  # short runs are for smoke tests; their ESS warnings are expected
    warnings.simplefilter("ignore", SamplingWarning)

# %%
# Route the treatment to ``fit`` and to the scorer
# ------------------------------------------------
# With metadata routing on, ``treatment`` is a per-row argument like
# ``sample_weight``: cross-validation slices it with the rows.
sklearn.set_config(enable_metadata_routing=True)
df = load_tomz_weeks()
modifiers = ["white", "male", "intl", "hawk"]
X = df[modifiers + ["regime", "stakes", "costs", "region"]]
sampler = NUTSSampler(num_warmup=args.draws, num_samples=args.draws)
est = HierarchicalHTE(modifiers=modifiers, sampler=sampler, random_state=0).set_fit_request(
    treatment=True
)

# %%
# Search
# ------
grid = {"prior_sd_scale": [0.1, 0.3, 1.0], "prior_coef_scale": [0.25, 0.5, 1.0]}
if args.quick:
    grid = {key: values[1:] for key, values in grid.items()}
search = GridSearchCV(
    est,
    grid,
    scoring=r_loss_scorer(random_state=0),
    cv=KFold(2 if args.quick else 5, shuffle=True, random_state=0),
)
search.fit(X, df["force"], treatment=df["alliance"])

scores = pd.DataFrame(search.cv_results_["params"]).assign(
    r_score=search.cv_results_["mean_test_score"], sd=search.cv_results_["std_test_score"]
)
print(f"Cross-validated R-loss score (higher is better); chosen: {search.best_params_}")
show(scores.sort_values("r_score", ascending=False).round(4))

# %%
# The chosen model's group effects
# --------------------------------
best = search.best_estimator_
print(best.heterogeneity_summary())
show(best.effect_by_group().sort_values("median").round(3))

# %%
# The fast route for normal outcomes: ``HierarchicalHTECV``
# ----------------------------------------------------------
# For the Gaussian family the same folds and grid can be scored from a single
# NUTS run: the variance parameters are sampled once from a proposal wider than
# every fold's posterior, and their draws are importance-reweighted to every fold
# and grid point (exact in the limit, since everything else is integrated out in
# closed form). The score is the held-out log predictive density per row; folds
# whose weights fail the Pareto k check are sampled by NUTS instead.
from sklearn_hier import HierarchicalHTECV  # noqa: E402

fast = HierarchicalHTECV(
    estimator=HierarchicalHTE(modifiers=modifiers, sampler=sampler, random_state=0),
    param_grid=grid,
    cv=KFold(2 if args.quick else 5, shuffle=True, random_state=0),
).fit(X, df["force"], treatment=df["alliance"])
fast_scores = pd.DataFrame(fast.cv_results_["params"]).assign(
    log_density=fast.cv_results_["mean_test_score"],
    max_pareto_k=fast.cv_results_["max_pareto_k"],
    nuts_refits=fast.cv_results_["n_nuts_refits"],
)
print("Held-out log predictive density per row (higher is better); ")
print(f"chosen: {fast.best_params_} in {fast.fit_seconds_:.1f} s")
show(fast_scores.sort_values("log_density", ascending=False).round(4))
