"""Heterogeneous treatment effects with Bayesian hierarchical models, scikit-learn style."""

from ._base.sampler_settings import NUTSSampler, SVISampler
from ._base.version import __version__
from ._data.laplace import ApproximationCheck, ApproximationWarning
from ._estimator import HierarchicalHTE
from ._moved_modules import alias_moved_modules
from ._results.draw_summaries import HeterogeneitySummary
from .comparison import compare, compare_replications, summarize_comparison
from .diagnostics import SamplingWarning
from .model_selection import HierarchicalHTECV

alias_moved_modules()

__all__ = [
    "ApproximationCheck",
    "ApproximationWarning",
    "HierarchicalHTE",
    "HierarchicalHTECV",
    "HeterogeneitySummary",
    "NUTSSampler",
    "SVISampler",
    "SamplingWarning",
    "__version__",
    "compare",
    "compare_replications",
    "summarize_comparison",
]
