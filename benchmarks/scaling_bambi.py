"""The scaling benchmark's model in bambi with nutpie (called by scaling.py --external).

Usage: python scaling_bambi.py data.csv out_prefix draws. Same specification and
priors as HierarchicalHTE's defaults, except that bambi's group-level intercepts
and slopes are uncorrelated (no LKJ term).
"""

import sys
import time

import bambi as bmb
import pandas as pd
from bambi_priors import default_priors

path, out, draws = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = pd.read_csv(path)
data["group"] = data[["m0", "m1", "m2", "m3"]].astype(str).agg("_".join, axis=1)
data["group"] = data["group"].astype("category")
priors = default_priors("t")
model = bmb.Model("y ~ 1 + c0 + c1 + t * (m0 + m1 + m2 + m3) + (1 + t | group)", data,
                  priors=priors)  # fmt: skip
started = time.perf_counter()
model.fit(draws=draws, tune=draws, chains=4, cores=2, target_accept=0.95, random_seed=1,
          inference_method="nutpie", progressbar=False)  # fmt: skip
pd.DataFrame({"compile_s": [float("nan")], "sampling_s": [time.perf_counter() - started]}).to_csv(
    f"{out}_timing.csv", index=False
)
