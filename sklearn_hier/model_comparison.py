"""Compare fitted models (groupings, structures, families) by how well they predict
new rows: PSIS-LOO through ``arviz_stats``.

The methods note calls the choice of groups the most important decision of an
analysis. :func:`compare_models` puts candidate fits side by side on the same rows: each
row's log-likelihood under each fit (one more pass over the rows,
:meth:`HierarchicalHTE.inference_data`), Pareto-smoothed importance sampling
leave-one-out (``arviz_stats.loo``) and ``arviz_stats.compare``'s table.
"""

import warnings
from collections.abc import Mapping

import arviz_stats
import pandas as pd

from ._estimator import HierarchicalHTE

#: Pareto k above which a row's importance weights are unreliable (Vehtari et al. 2024,
#: the threshold for the draw counts used here).
PARETO_K_MAX = 0.7


class ComparisonWarning(UserWarning):
    """PSIS-LOO was unreliable for some rows of a compared model (high Pareto k)."""


def compare_models(models: Mapping, X, y, treatment, **compare_kwargs) -> pd.DataFrame:
    """Rank fitted models by their expected log predictive density for new rows (PSIS-LOO).

    Parameters
    ----------
    models : dict of str -> HierarchicalHTE
        Fitted candidates, e.g. different ``modifiers``, ``bins``, ``structure`` or
        ``family``, all fitted to the same rows.
    X, y, treatment
        The rows they were fitted to (every row is one unit of the comparison, so
        groupings that differ compare on the same units).
    **compare_kwargs
        Passed to ``arviz_stats.compare`` (for example ``method="BB-pseudo-BMA"``).

    Returns
    -------
    table : pandas.DataFrame
        ``arviz_stats.compare``'s table, best model first (``rank`` 0): ``elpd``
        (PSIS-LOO) and its ``se``, ``p`` (effective number of parameters),
        ``elpd_diff`` (the model's elpd less the best's, or the ``reference``'s: 0 or
        negative, as R's ``loo_compare`` gives it) and ``dse`` (its standard error),
        ``weight``.

    Warns
    -----
    ComparisonWarning
        When some rows' Pareto k exceed 0.7 in a model: its elpd is then unreliable.
        Refit with more draws, or compare by K-fold cross-validation over rows.

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.model_comparison import compare_models
    >>> d = make_grouped_hte(400, n_levels=(2, 3), sigma_theta=0.1, random_state=0)
    >>> short = NUTSSampler(num_warmup=500, num_samples=500, num_chains=2)
    >>> models = {
    ...     "groups": HierarchicalHTE(modifiers=d.modifiers, sampler=short, random_state=0),
    ...     "one group": HierarchicalHTE(modifiers=["m0"], sampler=short, random_state=0),
    ... }
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # short chains may warn
    ...     for est in models.values():
    ...         _ = est.fit(d.X, d.y, treatment=d.treatment)
    >>> table = compare_models(models, d.X, d.y, d.treatment)
    >>> {"elpd", "se", "p", "elpd_diff", "dse", "weight"} <= set(table.columns)
    True
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict of name -> fitted HierarchicalHTE.")
    loos = {}
    for name, est in models.items():
        if not isinstance(est, HierarchicalHTE):
            raise TypeError(f"models[{name!r}] is a {type(est).__name__}, not a HierarchicalHTE.")
        loos[name] = arviz_stats.loo(est.inference_data(X, y, treatment))
    compare_kwargs.setdefault("round_to", "none")  # full precision; round when printing
    table = arviz_stats.compare(loos, **compare_kwargs)
    # one sign whatever the arviz_stats version (its convention changed): as R's
    # loo_compare, the elpd of each model less that of the best (or the reference)
    reference = compare_kwargs.get("reference") or table["elpd"].idxmax()
    table["elpd_diff"] = table["elpd"] - table.loc[reference, "elpd"]
    flagged = [name for name, loo in loos.items() if bool(loo.warning)]
    if flagged:
        warnings.warn(
            f"PSIS-LOO is unreliable for some rows of {flagged} (Pareto k > {PARETO_K_MAX}): "
            "their elpd may be off. Refit with more draws, or compare by K-fold "
            "cross-validation over the rows.",
            ComparisonWarning,
            stacklevel=2,
        )
    return table
