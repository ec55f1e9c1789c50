"""Cost of tuning prior scales: one fit against a 5-fold x 6-value grid search.

Every refit in the search has the same shapes (group counts are padded), so all
30 fits reuse the sampler compiled for the first. Prints a table; run with
``python benchmarks/grid_search.py [--draws N]``.
"""

import argparse
import os
import platform
import time
import warnings

import sklearn
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier._inference import compiled_sampler
from sklearn_hier.datasets import load_tomz_weeks
from sklearn_hier.metrics import r_loss_scorer

parser = argparse.ArgumentParser()
parser.add_argument("--draws", type=int, default=1000)
args = parser.parse_args()

df = load_tomz_weeks()
modifiers = ["white", "male", "intl", "hawk"]
X = df[modifiers + ["regime", "stakes", "costs", "region"]]
y, t = df["force"], df["alliance"]
grid = {"prior_sd_scale": [0.05, 0.1, 0.25, 0.5, 1.0, 2.0]}
sklearn.set_config(enable_metadata_routing=True)
warnings.simplefilter("ignore", SamplingWarning)


def estimator():
    est = HierarchicalHTE(
        modifiers=modifiers, num_warmup=args.draws, num_samples=args.draws, random_state=0
    )
    return est.set_fit_request(treatment=True).set_score_request(treatment=True)


rows = []
started = time.perf_counter()
estimator().fit(X, y, treatment=t)
rows.append(("first fit in the process (compile + sample)", time.perf_counter() - started))
started = time.perf_counter()
estimator().fit(X, y, treatment=t)
one_fit = time.perf_counter() - started
rows.append(("one fit, compiled sampler reused", one_fit))
compiled_before = compiled_sampler.cache_info().misses
search = GridSearchCV(
    estimator(), grid, scoring=r_loss_scorer(), cv=KFold(5, shuffle=True, random_state=0)
)
started = time.perf_counter()
search.fit(X, y, treatment=t)
search_time = time.perf_counter() - started
rows.append(("grid search: 5 folds x 6 values + refit (31 fits)", search_time))
new_compilations = compiled_sampler.cache_info().misses - compiled_before

print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
      f"{args.draws} warm-up + {args.draws} draws x 4 chains")  # fmt: skip
print(f"{'what':<52} {'seconds':>8}")
for what, seconds in rows:
    print(f"{what:<52} {seconds:8.1f}")
print(f"{'search / one fit':<52} {search_time / one_fit:8.1f}")
print(f"{'search per fit / one fit':<52} {search_time / 31 / one_fit:8.2f}")
print(f"new compilations during the search: {new_compilations}")
print(f"best prior_sd_scale: {search.best_params_['prior_sd_scale']}")
print(search.cv_results_["mean_test_score"].round(4))
