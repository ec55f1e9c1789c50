"""The README's Python blocks, pasted in order into one script, run without error.

Every block must work with only what the blocks before it define: the cluster block
starts a one-machine Dask cluster and the Parquet block writes its own small
``events/`` folder, both as written in the README. The test supplies one thing the
README does not: smaller sampler settings (the defaults of ``HierarchicalHTE``'s
``num_warmup``, ``num_samples`` and ``num_chains``), so the script runs in minutes.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"

#: Supplied by this test, not by the README: small samples for every model the
#: README builds (the README's own settings would only take longer), and the
#: short chains' sampling warnings silenced.
PREAMBLE = textwrap.dedent(
    """
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning

    NUTSSampler.__init__.__kwdefaults__.update(num_warmup=150, num_samples=150, num_chains=2)
    warnings.simplefilter("ignore", SamplingWarning)
    """
)


def readme_blocks(kind: str = "python") -> list[str]:
    """The README's fenced code blocks of one kind, in order."""
    return re.findall(rf"^```{kind}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def readme_script() -> str:
    """The README's Python blocks as one script, each block marked by its number."""
    parts = [f"# --- README block {k}\n{block}" for k, block in enumerate(readme_blocks(), 1)]
    return "\n".join(parts)


@pytest.mark.slow
def test_readme_python_blocks_run_in_order(tmp_path):
    script = tmp_path / "readme.py"
    script.write_text(PREAMBLE + "\n" + readme_script())
    env = dict(os.environ, MPLBACKEND="Agg", JAX_PLATFORMS="cpu")
    # the README's files (model.nc, events/) land in a folder of their own
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "model.nc").is_file() and (tmp_path / "events").is_dir()
