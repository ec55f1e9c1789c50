"""The persistent compilation cache is written where configured, and can be switched off."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # new processes

SCRIPT = """
import numpy as np
from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import make_grouped_hte
import warnings
warnings.simplefilter("ignore")
d = make_grouped_hte(200, n_levels=(2, 2), random_state=0)
HierarchicalHTE(modifiers=["m0", "m1"], random_state=0,
                sampler=NUTSSampler(num_warmup=20, num_samples=20, num_chains=1),
                ).fit(d.X, d.y, treatment=d.treatment)
"""


def _run(env_extra, script=SCRIPT):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION")}
    env.update(JAX_PLATFORMS="cpu", **env_extra)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_import_leaves_jax_configuration_alone(tmp_path):
    cache = tmp_path / "cache"
    _run(
        {"SKLEARN_HIER_CACHE_DIR": str(cache)},
        "import jax\nbefore = dict(jax.config.values)\nimport sklearn_hier\n"
        "import sklearn_hier.baselines, sklearn_hier.metrics, sklearn_hier.model_selection\n"
        "import sklearn_hier.plotting, sklearn_hier.diagnostics, sklearn_hier.datasets\n"
        "assert dict(jax.config.values) == before",
    )
    assert not cache.exists()


def test_compiled_sampler_is_kept_on_disk(tmp_path):
    cache = tmp_path / "cache"
    _run({"SKLEARN_HIER_CACHE_DIR": str(cache)})
    assert cache.is_dir() and any(cache.iterdir())
    assert (cache.stat().st_mode & 0o077) == 0  # only the owner may write compiled code


def test_cache_can_be_switched_off(tmp_path):
    cache = tmp_path / "cache"
    _run({"SKLEARN_HIER_CACHE_DIR": str(cache), "SKLEARN_HIER_COMPILATION_CACHE": "0"})
    assert not cache.exists()


def test_a_fit_and_its_reports_leave_dask_unloaded(tmp_path):
    # xarray imports dask (and dask.array: half a second) the first time it checks an
    # array for Dask; the fit's arrays are NumPy's, so a process that never uses Dask
    # never pays it
    pytest.importorskip("dask.array")
    _run(
        {"SKLEARN_HIER_CACHE_DIR": str(tmp_path / "cache")},
        SCRIPT.replace("HierarchicalHTE(", "est = HierarchicalHTE(", 1)
        + "est.effect_by_group(); est.predict_effect(d.X); est.diagnostics()\n"
        "import sys\nassert not [m for m in sys.modules if m.startswith('dask')]\n",
    )
