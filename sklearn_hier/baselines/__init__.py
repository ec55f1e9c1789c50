"""Baselines with HierarchicalHTE's interface, for side-by-side comparison.

``InteractionHTE`` needs nothing beyond the core dependencies; ``CausalForestHTE``
and ``MetaLearnerHTE`` wrap EconML and ``BayesianCausalForestHTE`` wraps stochtree, both
installed with ``pip install 'sklearn-hier[baselines]'`` (their ``fit`` raises an
ImportError naming that extra when the package is missing).
"""

from ._base import BaselineHTE
from ._bcf import BayesianCausalForestHTE
from ._econml import CausalForestHTE, MetaLearnerHTE
from ._interaction import InteractionHTE

__all__ = [
    "BaselineHTE", "BayesianCausalForestHTE", "CausalForestHTE", "InteractionHTE",
    "MetaLearnerHTE",
]  # fmt: skip
