"""Same data and random_state: identical results in this process and in a fresh one."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import FAST

from sklearn_hier import HierarchicalHTE, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte

SCRIPT = """
import json, warnings
from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte

warnings.simplefilter("ignore", SamplingWarning)
d = make_grouped_hte(500, n_levels=(2, 3), random_state=3)
est = HierarchicalHTE(modifiers=d.modifiers, random_state=11, **{fast})
est.fit(d.X, d.y, treatment=d.treatment)
print(json.dumps(est.effect_by_group()["mean"].tolist()))
"""


@pytest.mark.slow  # a new process
def test_identical_across_processes():
    d = make_grouped_hte(500, n_levels=(2, 3), random_state=3)
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=11, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        here = est.fit(d.X, d.y, treatment=d.treatment).effect_by_group()["mean"].to_numpy()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(fast=FAST)], capture_output=True, text=True,
        env=env, timeout=300, check=True,
    )  # fmt: skip
    there = np.asarray(json.loads(out.stdout.strip().splitlines()[-1]))
    np.testing.assert_array_equal(here, there)
