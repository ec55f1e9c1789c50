"""Study planning: how precise would each group's effect be, before the data exist?

Simulate the planned study at several sample sizes and find every group's
interval as :class:`~sklearn_hier.HierarchicalHTE` would report it:

- :func:`plan_study` from assumptions (the population's groups, the treatment's
  assignment, and :class:`Assumptions` about the effects and the noise);
- :func:`plan_from` from a fitted pilot or earlier study, drawing the
  parameters from its posterior (Bayesian assurance).

Both return a :class:`StudyPlan`: a per-group table at each size (expected
interval width and its spread, the probability that the interval excludes 0,
RMSE, coverage), study-level quantities (telling the most and least responsive
groups apart, sd_effect, each lambda), the width-by-size curve with its plot,
and the size needed for a target width in the k-th smallest group.
"""

from ._assumptions import Assumptions, Treatment
from ._plan import StudyPlan, plan_study
from ._posterior_assumptions import plan_from, prior_assumptions

__all__ = ["Assumptions", "StudyPlan", "Treatment", "plan_from", "plan_study", "prior_assumptions"]
