"""A new user's first hour: progress where a person watches, figures that say what they
show, one name per quantity, README snippets that run as pasted, and a docs extra that
holds what the gallery runs."""

import ast
import builtins
import inspect
import re
import sys
import tomllib
import types
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from conftest import FAST, FAST_SETTINGS, TW_COLUMNS, TW_MODIFIERS, fast

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sklearn_hier import HierarchicalHTE, NUTSSampler  # noqa: E402
from sklearn_hier._sampling import run as inference  # noqa: E402
from sklearn_hier.plotting import (  # noqa: E402
    central_range,
    plot_coefficients,
    plot_effect_distribution,
    plot_group_effects,
)

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
pytestmark = pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def tomz(tomz_fit):
    return tomz_fit


# ------------------------------------------------------------------ progress


class _Stream:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def test_progress_is_auto_by_default_and_shown_only_where_a_person_watches(monkeypatch):
    assert NUTSSampler().progress_bar == "auto"
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stderr", _Stream(tty=True))
    assert inference.show_progress("auto") is True
    assert inference.show_progress(False) is False  # forced off, even on a terminal
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))  # a log file, a pipe, CI
    assert inference.show_progress("auto") is False
    assert inference.show_progress(True) is True


def test_progress_is_shown_in_a_jupyter_kernel(monkeypatch):
    """A kernel's stderr is no terminal, but a person reads the notebook."""
    monkeypatch.setattr(sys, "stderr", _Stream(tty=False))
    shell = types.SimpleNamespace(kernel=object())
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert inference.show_progress("auto") is True
    shell.kernel = None  # a plain IPython terminal shell whose stderr is redirected
    assert inference.show_progress("auto") is False


def test_progress_bar_is_validated():
    from sklearn_hier.datasets import make_grouped_hte

    d = make_grouped_hte(60, n_levels=(2,), random_state=0)
    with pytest.raises(ValueError, match="progress_bar"):
        HierarchicalHTE(modifiers=d.modifiers, sampler=NUTSSampler(progress_bar="yes")).fit(
            d.X, d.y, treatment=d.treatment
        )


def test_a_progress_bar_changes_not_the_draws(tomz, tomz_weeks, capsys):
    """The bar is the host's business: its program (the only one calling back to the host)
    is compiled once, and gives the same draws as the program without a bar."""
    capsys.readouterr()
    before = inference.compiled_sampler.cache_info()
    for _ in range(2):
        shown = HierarchicalHTE(modifiers=TW_MODIFIERS, random_state=0, **fast(progress_bar=True))
        shown.fit(tomz_weeks[TW_COLUMNS], tomz_weeks["force"], treatment=tomz_weeks["alliance"])
    after = inference.compiled_sampler.cache_info()
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 1
    settings = FAST_SETTINGS
    total = settings["num_chains"] * (settings["num_warmup"] + settings["num_samples"])
    assert f"{total}/{total}" in capsys.readouterr().err
    np.testing.assert_array_equal(
        shown.idata_.posterior["sd_effect"].values, tomz.idata_.posterior["sd_effect"].values
    )


# ------------------------------------------------------------------ figures


def test_figure_1_names_outcome_treatment_and_where_the_first_row_is_evaluated(tomz):
    ax = plot_coefficients(tomz)
    assert "force" in ax.get_xlabel()
    assert "alliance" in ax.get_title(loc="right")
    first = ax.get_yticklabels()[0].get_text()
    # not "alliance" alone, which reads as the average effect (intl and hawk run 1..5)
    assert first == "alliance\nat white = male = intl = hawk = 0"


def test_figure_2_names_both_and_follows_the_draws_central_mass(tomz):
    ax = plot_effect_distribution(tomz)
    assert "alliance" in ax.get_xlabel() and "force" in ax.get_xlabel()
    draws = tomz.posterior_.group_effect_draws("response", None, 0).ravel()
    low, high = ax.get_xlim()
    q_low, q_high = np.quantile(draws, [0.005, 0.995])
    assert low <= q_low and high >= q_high  # the central 99% in view
    # and not much more: the full range of the draws is wider than the axis
    assert high - low < 1.5 * (q_high - q_low) < draws.max() - draws.min()
    marks = [t.get_text() for t in ax.texts if t.get_bbox_patch() is None]
    assert any(f"min {draws.min():.2f}" in m for m in marks)
    assert any(f"max {draws.max():.2f}" in m for m in marks)


def test_figure_2_range_is_the_central_mass_with_the_extremes_beyond():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.3, 0.1, 100_000), [-0.75, 1.25]])
    low, high = central_range(values, keep=[0.3])
    # 0.5%..99.5% of N(0.3, 0.1) is 0.04..0.56; a tenth of the width as margin each side
    assert -0.05 < low < 0.04 and 0.56 < high < 0.65
    # the annotated groups always stay in view, and the range never passes the data
    low, high = central_range(values, keep=[-0.5])
    assert low <= -0.5 and central_range(np.full(10, 2.0)) == (1.5, 2.5)


def test_figure_3_names_outcome_and_treatment(tomz):
    fig = plot_group_effects(tomz, rows="white", cols="male", x="intl", hue="hawk")
    assert fig.axes[0].get_ylabel() == "effect of alliance on force"
    assert "alliance" in fig.get_suptitle() and "force" in fig.get_suptitle()


def test_an_unnamed_outcome_is_called_the_outcome_and_auto_progress_stays_silent(
    tomz_weeks, capsys
):
    """pytest's captured stderr is no terminal, as in CI: "auto" shows no bar there."""
    capsys.readouterr()
    est = HierarchicalHTE(modifiers=TW_MODIFIERS, random_state=1, **FAST)
    y = tomz_weeks["force"].to_numpy()
    est.fit(tomz_weeks[TW_COLUMNS], y, treatment=tomz_weeks["alliance"])
    assert capsys.readouterr().err == ""
    assert "effect on the outcome" in plot_coefficients(est).get_xlabel()


def test_the_outcome_name_survives_save_and_load(tomz, tmp_path):
    tomz.save(tmp_path / "model.nc")
    loaded = HierarchicalHTE.load(tmp_path / "model.nc")
    assert "force" in plot_coefficients(loaded).get_xlabel()


# ------------------------------------------------------------------ one name per quantity


def test_the_unexplained_spread_has_one_name_in_idata_tables_and_summary(tomz):
    table = tomz.coefficients()
    assert "sd_effect" in tomz.idata_.posterior
    assert {"sd_effect[alliance]", "sd_intercept"} <= set(table.index)
    assert not any(term.startswith("sd(") for term in table.index)
    text = str(tomz.heterogeneity_summary())
    assert "sd_effect" in text and "sigma_theta" not in text
    # one quantity: the three places report the same posterior median
    median = float(np.median(tomz.idata_.posterior["sd_effect"].values))
    assert table.loc["sd_effect[alliance]", "median"] == pytest.approx(median)
    assert tomz.heterogeneity_summary().sd_effect[0] == pytest.approx(median)


def test_saved_models_of_earlier_formats_use_the_same_name():
    """Files saved before keep loading: idata_ kept its variable names."""
    loaded = HierarchicalHTE.load(ROOT / "tests" / "data" / "model_format1.nc")
    terms = loaded.coefficients().index
    assert any(t.startswith("sd_effect[") for t in terms) and "sd_intercept" in terms


def test_readme_and_docs_name_the_spread_as_the_package_does():
    built = {"_build", "auto_examples", "generated"}  # what the docs build writes
    pages = [p for p in (ROOT / "docs").rglob("*.rst") if not built & set(p.parts)]
    texts = [README] + [p.read_text() for p in pages]
    for text in texts:
        assert "sigma_theta" not in text and "sd(Intercept)" not in text
    assert "89%" in (ROOT / "docs" / "user_guide" / "diagnostics.rst").read_text()


# ------------------------------------------------------------------ the README


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


class _Names(ast.NodeVisitor):
    """Names a block reads before any block (or itself, earlier) has defined them."""

    def __init__(self, defined):
        self.defined = defined
        self.missing = []

    def visit_Import(self, node):
        for alias in node.names:
            self.defined.add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import

    def visit_Assign(self, node):
        self.visit(node.value)
        for target in node.targets:
            self._bind(target)

    def visit_With(self, node):
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind(item.optional_vars)
        for statement in node.body:
            self.visit(statement)

    def _bind(self, target):
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                self.defined.add(node.id)
            elif isinstance(node, ast.Attribute | ast.Subscript):
                self.visit(node.value)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id not in self.defined:
            self.missing.append(node.id)


def test_every_readme_block_uses_only_names_defined_before_it():
    defined = set(dir(builtins))
    for number, block in enumerate(_python_blocks(), 1):
        names = _Names(defined)
        names.visit(ast.parse(block))
        assert not names.missing, f"README block {number} uses undefined {names.missing}"


def test_readme_blocks_keep_the_fitted_model_for_the_reports():
    """The Reports block reads `est`: no block between the first fit and it rebinds `est`
    to an unfitted (or another) model."""
    blocks = _python_blocks()
    reports = next(k for k, b in enumerate(blocks) if "plot_coefficients(est)" in b)
    for block in blocks[1:reports]:
        assert not re.search(r"^est\s*=", block, flags=re.M), block


def _calls(code: str):
    """The ``est.method(...)`` calls in a snippet of code."""
    try:
        tree = ast.parse(code.strip())
    except SyntaxError:
        return []
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "est"
    ]  # fmt: skip


def test_the_vocabulary_table_calls_bind_to_our_signatures():
    """`ate_interval(X, alpha)` passed alpha by position, which is keyword-only."""
    rows = [line for line in README.splitlines() if line.startswith("| `est.")]
    assert rows
    checked = 0
    for row in rows:
        econml = row.split("|")[1]
        for code in re.findall(r"`([^`]+)`", econml):
            for call in _calls(code):
                if call.func.attr == "fit":  # X first, as the row itself says
                    continue
                method = getattr(HierarchicalHTE, call.func.attr)
                args = [None] * len(call.args)
                kwargs = {k.arg: None for k in call.keywords}
                inspect.signature(method).bind(None, *args, **kwargs)
                checked += 1
    assert checked >= 3


# ------------------------------------------------------------------ the docs extra

#: Distributions that a gallery example needs beyond the core dependencies, by what it
#: imports: third-party modules, and the baselines that load their engine when fitted.
NEEDS = {
    "matplotlib": "matplotlib",
    "dask": "dask",
    "pyarrow": "pyarrow",
    "econml": "econml",
    "stochtree": "stochtree",
    "CausalForestHTE": "econml",
    "BayesianCausalForestHTE": "stochtree",
}


def _distribution(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower()


def test_the_docs_extra_holds_what_every_gallery_example_runs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    have = {_distribution(r) for r in project["dependencies"]}
    have |= {_distribution(r) for r in project["optional-dependencies"]["docs"]}
    for example in sorted((ROOT / "examples").glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(example.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names |= {(node.module or "").split(".")[0]} | {a.name for a in node.names}
        needed = {NEEDS[name] for name in names if name in NEEDS}
        lacking = sorted(needed - have)
        assert not lacking, f"{example.name} needs {lacking}; the docs extra lacks it"
