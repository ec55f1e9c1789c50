"""Cost of tuning prior scales: one fit against a 5-fold x 6-value grid search.

Two searches over the same grid and folds:

- ``HierarchicalHTECV``: one NUTS run on all the data, importance-reweighted to
  every fold and grid point (NUTS only where the Pareto k diagnostic fails),
  then a refit of the best scales; scored by held-out log predictive density.
- ``GridSearchCV`` (``--gridsearchcv``): 30 fits plus the refit, scored by the
  R-loss; every fit has the same shapes (group counts are padded), so all reuse
  the sampler compiled for the first.

``--scorers`` times what the scorer adds to a ``GridSearchCV`` (3 folds x 3 values,
300 + 300 draws, 2 chains): the estimator's own score (R^2), the R-loss scorer with its
nuisance models fitted once per fold (the default) and fitted for every candidate.

Prints a table; run with
``python benchmarks/grid_search.py [--draws N] [--gridsearchcv] [--scorers]``.
"""

import argparse
import os
import platform
import time
import warnings

import sklearn
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier import HierarchicalHTE, HierarchicalHTECV, NUTSSampler, SamplingWarning
from sklearn_hier._sampling.run import compiled_sampler
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.metrics import r_loss_scorer

parser = argparse.ArgumentParser()
parser.add_argument("--draws", type=int, default=1000)
parser.add_argument("--gridsearchcv", action="store_true", help="also time GridSearchCV")
parser.add_argument("--scorers", action="store_true", help="only time the scorers' cost")
args = parser.parse_args()

df = load_tomz_weeks()
modifiers = ["white", "male", "intl", "hawk"]
X = df[modifiers + ["regime", "stakes", "costs", "region"]]
y, t = df["force"], df["alliance"]
grid = {"prior_sd_scale": [0.05, 0.1, 0.25, 0.5, 1.0, 2.0]}
sklearn.set_config(enable_metadata_routing=True)
warnings.simplefilter("ignore", SamplingWarning)


def estimator(sampler=None):
    if sampler is None:
        sampler = NUTSSampler(num_warmup=args.draws, num_samples=args.draws)
    est = HierarchicalHTE(modifiers=modifiers, sampler=sampler, random_state=0)
    return est.set_fit_request(treatment=True).set_score_request(treatment=True)


def time_scorers() -> None:
    """A 3 x 3 search scored three ways, timed in one run (every fit reuses one sampler)."""
    sampler = NUTSSampler(num_warmup=300, num_samples=300, num_chains=2)
    small_grid = {"prior_sd_scale": [0.25, 0.5, 1.0]}
    folds = KFold(3, shuffle=True, random_state=0)
    # compile the sampler and every fold's prediction paths once, outside the timings
    GridSearchCV(estimator(sampler), small_grid, cv=folds).fit(X, y, treatment=t)
    started = time.perf_counter()
    estimator(sampler).fit(X, y, treatment=t)
    one = time.perf_counter() - started
    timings = []
    for name, scoring in [
        ("default scorer (R^2 of the outcome)", None),
        ("R-loss, nuisances once per fold (cached)", r_loss_scorer()),
        ("R-loss, nuisances per candidate (cache=False)", r_loss_scorer(cache=False)),
    ]:
        search = GridSearchCV(estimator(sampler), small_grid, scoring=scoring, cv=folds)
        started = time.perf_counter()
        search.fit(X, y, treatment=t)
        timings.append((name, time.perf_counter() - started, search.cv_results_))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          "3 folds x 3 prior_sd_scale values + refit, 300 + 300 draws x 2 chains")  # fmt: skip
    print(f"{'search scored by':<48} {'seconds':>8} {'/ one fit':>10} {'/ default':>10}")
    for name, seconds, _ in timings:
        print(f"{name:<48} {seconds:8.1f} {seconds / one:10.1f} {seconds / timings[0][1]:10.2f}")
    print(f"one fit: {one:.2f} s")
    cached, uncached = timings[1][2], timings[2][2]
    same = all(
        (cached[f"split{k}_test_score"] == uncached[f"split{k}_test_score"]).all()
        for k in range(3)
    )  # fmt: skip
    print(f"cached and uncached R-loss scores identical: {same}")


if args.scorers:
    time_scorers()
    raise SystemExit


rows = []
started = time.perf_counter()
estimator().fit(X, y, treatment=t)
rows.append(("first fit in the process (compile + sample)", time.perf_counter() - started))
started = time.perf_counter()
estimator().fit(X, y, treatment=t)
one_fit = time.perf_counter() - started
rows.append(("one fit, compiled sampler reused", one_fit))
folds = KFold(5, shuffle=True, random_state=0)
started = time.perf_counter()
fast = HierarchicalHTECV(estimator=estimator(), param_grid=grid, cv=folds).fit(X, y, treatment=t)
fast_time = time.perf_counter() - started
rows.append(("HierarchicalHTECV: 5 folds x 6 values + refit", fast_time))
search_time = None
compiled_before = compiled_sampler.cache_info().misses
if args.gridsearchcv:
    search = GridSearchCV(estimator(), grid, scoring=r_loss_scorer(), cv=folds)
    started = time.perf_counter()
    search.fit(X, y, treatment=t)
    search_time = time.perf_counter() - started
    rows.append(("GridSearchCV: 5 folds x 6 values + refit (31 fits)", search_time))
new_compilations = compiled_sampler.cache_info().misses - compiled_before

print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
      f"{args.draws} warm-up + {args.draws} draws x 4 chains")  # fmt: skip
print(f"{'what':<52} {'seconds':>8}")
for what, seconds in rows:
    print(f"{what:<52} {seconds:8.1f}")
print(f"{'HierarchicalHTECV / one fit':<52} {fast_time / one_fit:8.2f}")
results = fast.cv_results_
print(f"folds sampled by NUTS instead of reweighted: {int(results['n_nuts_refits'].sum())} of 30; "
      f"largest Pareto k {results['max_pareto_k'].max():.2f}")  # fmt: skip
print(f"best prior_sd_scale: {fast.best_params_['prior_sd_scale']}")
print("held-out log density per row:", results["mean_test_score"].round(5))
if search_time is not None:
    print(f"{'GridSearchCV / one fit':<52} {search_time / one_fit:8.1f}")
    print(f"new compilations during GridSearchCV: {new_compilations}")
    print(f"GridSearchCV's best prior_sd_scale: {search.best_params_['prior_sd_scale']}")
