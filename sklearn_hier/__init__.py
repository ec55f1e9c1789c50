"""Heterogeneous treatment effects with Bayesian hierarchical models, scikit-learn style."""

from importlib.metadata import PackageNotFoundError, version

from ._approximation import ApproximationCheck, ApproximationWarning
from ._estimator import HierarchicalHTE
from ._summary import HeterogeneitySummary
from .comparison import compare, compare_replications, summarize_comparison
from .diagnostics import SamplingWarning
from .model_selection import HierarchicalHTECV

try:
    __version__ = version("sklearn-hier")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = [
    "ApproximationCheck",
    "ApproximationWarning",
    "HierarchicalHTE",
    "HierarchicalHTECV",
    "HeterogeneitySummary",
    "SamplingWarning",
    "__version__",
    "compare",
    "compare_replications",
    "summarize_comparison",
]
