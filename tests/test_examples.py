"""Every example runs, with few draws and its --quick settings, so the examples never rot."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # replications, new processes, clusters or examples

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(path), "--draws", "60", "--quick"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the example printed nothing"
    if path.stem == "tomz_weeks_reanalysis":  # the main job leaves its figures on disk
        figures = sorted(p.name for p in (tmp_path / "tomz_weeks_figures").glob("*.png"))
        assert len(figures) == 4, figures  # the note's three and the group check
