"""Baselines with HierarchicalHTE's interface, for side-by-side comparison.

``InteractionHTE`` needs nothing beyond the core dependencies; ``CausalForestHTE``
and ``MetaLearnerHTE`` wrap EconML, installed with ``pip install 'sklearn-hier[baselines]'``
(their ``fit`` raises an ImportError naming that extra when EconML is missing).
"""

from ._base import BaselineHTE
from ._econml import CausalForestHTE, MetaLearnerHTE
from ._interaction import InteractionHTE

__all__ = ["BaselineHTE", "CausalForestHTE", "InteractionHTE", "MetaLearnerHTE"]
