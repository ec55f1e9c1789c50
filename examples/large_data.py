"""
A million rows: the cost of a fit does not grow with the data
=============================================================

For a Gaussian outcome the likelihood depends on the rows only through
per-group sums (counts, treated counts, sums of the controls, of the outcome,
and their cross-products), so ``HierarchicalHTE`` reduces the data to those in
one chunked pass and the sampler never sees the rows. This example simulates
an experiment with one million respondents in 40 groups, fits it, and times
the reduction, the sampling and the row-level predictions.

Run ``python examples/large_data.py --rows 1000000``; ``--quick`` uses 100,000 rows.
"""

# %%
import argparse
import time
import warnings

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--draws", type=int, default=1000, help="warm-up and kept draws per chain")
parser.add_argument("--rows", type=int, default=1_000_000)
parser.add_argument("--quick", action="store_true", help="100,000 rows")
args, _ = parser.parse_known_args()
n_rows = 100_000 if args.quick else args.rows
warnings.simplefilter("ignore", SamplingWarning)  # few draws in --quick runs

# %%
# Simulate: four modifiers with 2 x 2 x 2 x 5 = 40 groups, two controls.
data = make_grouped_hte(n_rows, n_levels=(2, 2, 2, 5), sigma_theta=0.1, random_state=0)
print(f"{n_rows:,} rows, {data.X.memory_usage().sum() / 2**20:.0f} MiB of input")

# %%
# Fit: the rows are reduced to per-group statistics, then NUTS runs on those.
est = HierarchicalHTE(
    modifiers=data.modifiers,
    sampler=NUTSSampler(num_warmup=args.draws, num_samples=args.draws),
    random_state=0,
)
started = time.perf_counter()
est.fit(data.X, data.y, treatment=data.treatment)
print(f"fit: {time.perf_counter() - started:.1f} s for {est.n_groups_} groups")

# %%
# Recovery: the true group effects against the posterior.
table = est.effect_by_group().merge(data.group_effects, on=data.modifiers)
error = (table["mean"] - table["effect"]).abs()
inside = ((table["lower"] <= table["effect"]) & (table["effect"] <= table["upper"])).mean()
print(f"largest error {error.max():.3f}; {inside:.0%} of true effects inside the 95% intervals")

# %%
# Row-level effects for every respondent, with intervals.
started = time.perf_counter()
effect, lower, upper = est.predict_effect(data.X, return_interval=True)
seconds = time.perf_counter() - started
print(f"predict_effect with intervals: {n_rows / seconds / 1e6:.1f} million rows/s")
