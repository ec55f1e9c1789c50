"""Sphinx configuration: numpydoc API pages and a gallery built by running examples/."""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(Path(__file__).parent.parent))

import sklearn_hier  # noqa: E402

project = "sklearn_hier"
author = "sklearn_hier developers"
release = sklearn_hier.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]  # class pages list every public method (autosummary/class.rst)
autodoc_member_order = "groupwise"
html_theme = "pydata_sphinx_theme"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
html_static_path = []
suppress_warnings = ["config.cache"]


def _example_arguments(gallery_conf, script_vars):
    # the gallery runs every example; small samples keep the build to minutes
    # the gallery shows the figures itself: nothing saved beside the sources
    return ["--draws", os.environ.get("SKLEARN_HIER_DOCS_DRAWS", "150"), "--quick", "--figures", ""]


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/",
    "reset_argv": _example_arguments,
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
}
