"""Checks of the priors: what they allow before the data, and whether a conclusion
rests on them after.

- :meth:`HierarchicalHTE.sample_prior` draws every parameter from its prior and one
  outcome per row (NumPyro's ``Predictive``): the prior predictive check.
  :func:`prior_effect_summary` tabulates the group effects the priors allow, and
  :func:`sklearn_hier.plotting.plot_prior_effects` draws them.
- :func:`prior_sensitivity` is power-scaling sensitivity analysis (Kallioinen et al.
  2024, R's ``priorsense``) through ``arviz_stats.psense_summary``: each reported
  quantity's posterior is importance-reweighted as if the prior (or the likelihood)
  were raised to a power near 1, and the distance it moves says how much it depends on
  it. A fit holds the log prior density of every draw (group ``log_prior``, brms's
  ``lprior``: the priors of the coefficients, the intercept, the sds, the correlations
  and the family's own parameters).
"""

import arviz_stats
import numpy as np
import pandas as pd

from ._estimator import HierarchicalHTE

#: The quantities the reports are about, as ``idata_`` names them.
REPORTED_QUANTITIES = ("b_treatment", "lambda", "sd_effect", "group_effect")


def prior_sensitivity(estimator: HierarchicalHTE, X, y, treatment, *, var_names=None,
                      threshold: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """Which conclusions depend on the priors: power-scaling sensitivity of the reported
    quantities (``arviz_stats.psense_summary``).

    Parameters
    ----------
    estimator : HierarchicalHTE
        Fitted to ``X``, ``y``, ``treatment`` (the likelihood's power-scaling needs each
        row's log-likelihood: one more pass over the rows).
    X, y, treatment
        The rows it was fitted to.
    var_names : list of str, optional
        Posterior quantities to check; by default the effect ``b_treatment``, its
        predictors' ``lambda``, the unexplained spread ``sd_effect`` (unless the model
        fixes it at zero, ``varying_slopes=False``) and every group's ``group_effect``.
    threshold : float, default=0.05
        The sensitivity (cumulative Jensen-Shannon distance per unit of log power)
        above which a quantity is flagged, priorsense's default.

    Returns
    -------
    table : pandas.DataFrame
        One row per quantity (and group, effect...): ``prior`` and ``likelihood``
        sensitivities and ``diagnosis``: "potential prior-data conflict" (both above
        the threshold), "potential strong prior / weak likelihood" (the prior's alone),
        or a check mark.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.prior_checks import prior_sensitivity
    >>> d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
    >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=2)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # short chains may warn
    ...     est = HierarchicalHTE(modifiers=d.modifiers, sampler=short, random_state=0)
    ...     est = est.fit(d.X, d.y, d.treatment)
    >>> table = prior_sensitivity(est, d.X, d.y, d.treatment)
    >>> list(table.columns)
    ['prior', 'likelihood', 'diagnosis']
    """
    if not isinstance(estimator, HierarchicalHTE) or not hasattr(estimator, "idata_"):
        raise TypeError("estimator must be a fitted HierarchicalHTE.")
    if "log_prior" not in estimator.idata_.children:
        raise ValueError(
            "this fit holds no log prior density of its draws (it was saved in file format "
            "5 or earlier); refit it with this version to check prior sensitivity."
        )
    posterior = estimator.idata_.posterior
    if var_names is None:  # what the fit estimates (sd_effect is fixed at zero without
        # varying slopes: a constant has no sensitivity to measure)
        var_names = [name for name in REPORTED_QUANTITIES
                     if name in posterior and posterior[name].size > 0
                     and float(posterior[name].std()) > 0]  # fmt: skip
    missing = [name for name in var_names if name not in posterior]
    if missing:
        raise ValueError(f"var_names {missing} are not in the posterior; it holds "
                         f"{sorted(posterior.data_vars)}.")  # fmt: skip
    tree = estimator.inference_data(X, y, treatment)
    table = arviz_stats.psense_summary(tree, var_names=list(var_names), threshold=threshold,
                                       round_to=6)  # fmt: skip
    return table.astype({"prior": float, "likelihood": float})


def prior_effect_summary(prior, *, prob: float = 0.95, scale: str = "response") -> pd.DataFrame:
    """The group effects the priors allow: from :meth:`HierarchicalHTE.sample_prior`'s
    draws, each group's central ``prob`` interval and the share of draws beyond the
    range of the observed outcome (an effect larger than anything the outcome can show).

    Parameters
    ----------
    prior : xarray.DataTree
        What :meth:`HierarchicalHTE.sample_prior` returns.
    prob : float, default=0.95
        Mass of the central interval.
    scale : {"response", "link"}, default="response"
        The outcome's scale (off the Gaussian family: ``group_effect_response``) or the
        linear predictor's.

    Returns
    -------
    table : pandas.DataFrame
        One row per group (and effect): ``lower``, ``median``, ``upper`` and
        ``beyond_outcome_range`` (share of draws whose absolute effect exceeds the
        observed outcome's max minus min; on the link scale, NaN).

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.prior_checks import prior_effect_summary
    >>> d = make_grouped_hte(200, n_levels=(2, 2), random_state=0)
    >>> est = HierarchicalHTE(modifiers=d.modifiers, random_state=0)
    >>> table = prior_effect_summary(est.sample_prior(d.X, d.y, d.treatment, n_draws=300))
    >>> list(table.columns)
    ['lower', 'median', 'upper', 'beyond_outcome_range']
    """
    if scale not in ("response", "link"):
        raise ValueError(f"scale must be 'response' or 'link'; got {scale!r}.")
    if "prior" not in getattr(prior, "children", {}):
        raise TypeError("prior must be the DataTree HierarchicalHTE.sample_prior returns.")
    draws = prior.prior
    name = "group_effect_response" if scale == "response" and "group_effect_response" in draws \
        else "group_effect"  # fmt: skip
    effect = draws[name].stack(sample=("chain", "draw"))
    tail = (1.0 - prob) / 2.0
    lower, median, upper = (effect.quantile(q, dim="sample") for q in (tail, 0.5, 1.0 - tail))
    table = pd.DataFrame({
        "lower": lower.to_series(), "median": median.to_series(), "upper": upper.to_series(),
    })  # fmt: skip
    table["beyond_outcome_range"] = np.nan
    if scale == "response":
        observed = prior.observed_data["y"].values
        if "group_effect_response" not in draws and "cutpoints" in draws:  # ordinal codes
            observed = np.arange(draws.sizes["cutpoints_dim_0"] + 1)
        span = float(np.ptp(observed))
        beyond = (np.abs(effect) > span).mean(dim="sample")
        table["beyond_outcome_range"] = beyond.to_series()
    table = table.drop(columns=["quantile"], errors="ignore")
    table.attrs["quantity"] = name
    return table
