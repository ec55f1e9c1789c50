"""The Tomz & Weeks reanalysis in bambi (called by versus_brms_bambi.py).

Usage: python tomz_weeks_bambi.py data.csv out_prefix draws sampler  (sampler: nutpie | pymc)
Needs bambi (and nutpie); bambi's group-level effects are uncorrelated (no LKJ term).
"""

import sys
import time

import arviz as az
import bambi as bmb
import numpy as np
import pandas as pd
from bambi_priors import default_priors

path, out, draws, sampler = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = pd.read_csv(path)
data["region"] = data["region"].astype("category")
data["group"] = (
    data[["white", "male", "intl", "hawk"]].astype(str).agg("_".join, axis=1).astype("category")
)
priors = default_priors("alliance")
model = bmb.Model(
    "force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl + hawk)"
    " + (1 + alliance | group)",
    data, priors=priors,
)  # fmt: skip
started = time.perf_counter()
idata = model.fit(
    draws=draws, tune=draws, chains=4, cores=2, target_accept=0.95, random_seed=1,
    inference_method="nutpie" if sampler == "nutpie" else "pymc", progressbar=False,
)  # fmt: skip
total = time.perf_counter() - started
# ArviZ 1.x (bambi >= 0.16) returns a DataTree whose nodes are not Datasets; 0.x Datasets
post = idata.posterior
post = post.to_dataset() if hasattr(post, "to_dataset") else post
groups = data[["group", "white", "male", "intl", "hawk"]].drop_duplicates().sort_values("group")
u = post["alliance|group"]
theta = []
for _, g in groups.iterrows():
    value = post["alliance"] + u.sel({u.dims[-1]: g["group"]})
    for k in ("white", "male", "intl", "hawk"):
        value = value + post[f"alliance:{k}"] * g[k]
    theta.append(value)
theta = np.stack([t.values for t in theta], axis=-1)  # chain, draw, group
groups["median"] = np.median(theta.reshape(-1, theta.shape[-1]), axis=0)
groups.to_csv(f"{out}_groups.csv", index=False)
theta_set = az.convert_to_dataset({"theta": theta})


def _as_dataset(result):
    return result.to_dataset() if hasattr(result, "to_dataset") else result


ess = min(float(_as_dataset(az.ess(theta_set))["theta"].min()),
          float(_as_dataset(az.ess(post)).to_array().min()))  # fmt: skip
rhat = max(float(_as_dataset(az.rhat(theta_set))["theta"].max()),
           float(_as_dataset(az.rhat(post)).to_array().max()))  # fmt: skip
pd.DataFrame(
    {"compile_s": [np.nan], "sampling_s": [total], "min_ess_bulk": [ess], "max_rhat": [rhat]}
).to_csv(f"{out}_timing.csv", index=False)
