"""Posterior predictive checks that fit this model: does it reproduce each group's
treated-minus-control difference?

The methods note's quantity is the effect in every group, so the natural check compares
each group's observed difference in mean outcome between treated and control rows with
the same difference in data sets replicated from the posterior (one per draw). A group
whose observed difference sits in the tails of its replications is one the model does
not reproduce: too much pooling (a prior scale too tight for the spread of effects), a
grouping that hides variation, or a family that misfits. For the usual density or bar
checks of the outcome, and ``arviz_stats.loo_pit``, use
``est.inference_data(X, y, treatment, posterior_predictive=True)`` with ArviZ.
"""

import pandas as pd

from ._base.input_checks import is_partitioned
from ._results.draw_summaries import check_prob
from ._results.pointwise import group_difference_table


def group_difference_check(est, X, y, treatment, *, prob=0.95, treatment_name=None):
    """Each group's observed treated-minus-control difference against its replications.

    Parameters
    ----------
    est : HierarchicalHTE
        A fitted estimator.
    X, y, treatment
        The training rows (the groups the model was fitted on).
    prob : float, default=0.95
        Mass of the replicated interval; a group's difference outside it is flagged.
    treatment_name : str, default=None
        With more than one effect: which arm or column (vs the control rows, where no
        treatment column is on). A continuous dose has no treated-minus-control
        difference and is refused.

    Returns
    -------
    table : pandas.DataFrame
        One row per fitted group: its modifiers' levels, ``n_treated`` and
        ``n_control`` (rows in the arm and in control), ``observed`` (the difference in
        mean outcome; an ordinal outcome's categories by value, or rank when they are
        labels), ``replicated_mean``, ``lower`` and ``upper`` (the central ``prob``
        interval of the replicated differences), ``p_value`` (two-sided posterior
        predictive p-value; NaN where an arm has no rows) and ``outside`` (the observed
        difference is outside the interval).

    Examples
    --------
    >>> import warnings
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.predictive_checks import group_difference_check
    >>> d = make_grouped_hte(600, n_levels=(2, 3), random_state=0)
    >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=4)
    >>> est = HierarchicalHTE(modifiers=d.modifiers, sampler=short, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # short chains may warn
    ...     est = est.fit(d.X, d.y, treatment=d.treatment)
    >>> table = group_difference_check(est, d.X, d.y, d.treatment)
    >>> table.shape[0], int(table["outside"].sum()) <= 1
    (6, True)
    """
    posterior = est.posterior_
    if is_partitioned(X):
        raise TypeError(
            "group_difference_check needs the rows in memory; pass a pandas DataFrame "
            "(for a Dask frame, a random sample of its rows keeps every group's check)."
        )
    prob = check_prob(prob)
    effect = posterior.effect_index(treatment_name)
    table = group_difference_table(
        posterior, X, y, treatment, prob=prob, effect=effect, seed=posterior.seed
    )
    table["outside"] = (table["observed"] < table["lower"]) | (table["observed"] > table["upper"])
    return pd.DataFrame(table)
