"""Compare fitted models (groupings, structures, families) by how well they predict
new rows (PSIS-LOO) or new groups (leave-one-group-out), through ``arviz_stats``.

The methods note calls the choice of groups the most important decision of an
analysis. :func:`compare_models` puts candidate fits side by side on the same rows: each
row's log-likelihood under each fit (one more pass over the rows,
:meth:`HierarchicalHTE.inference_data`), then either Pareto-smoothed importance sampling
leave-one-out (``arviz_stats.loo``) or exact K-fold cross-validation over groups
(``arviz_stats.loo_kfold`` refitting the model without each fold's groups), and
``arviz_stats.compare``'s table.

The two answer different questions. PSIS-LOO asks how well a model predicts a new row
of a group it has seen: the question for the groups of this study. Leave-one-group-out
asks how well it predicts the rows of a group it has never seen, from the population
model alone: the question when the findings are meant for new combinations of the
modifiers (a new country, a new version of a treatment), and the one on which a
grouping that only memorises its groups' means gains nothing.
"""

import warnings
from collections.abc import Mapping

import arviz_stats
import numpy as np
import pandas as pd
from sklearn.base import clone

from ._base.input_checks import as_frame, take_rows
from ._estimator import HierarchicalHTE
from ._results.pointwise import fits_in_memory
from ._results.subsampled_loo import subsampled_loo

#: Rows whose exact PSIS-LOO corrects the approximation when the rows are subsampled.
DEFAULT_SUBSAMPLE = 10_000

#: Pareto k above which a row's importance weights are unreliable (Vehtari et al. 2024,
#: the threshold for the draw counts used here).
PARETO_K_MAX = 0.7


class ComparisonWarning(UserWarning):
    """PSIS-LOO was unreliable for some rows of a compared model (high Pareto k)."""


class _Refits(arviz_stats.SamplingWrapper):
    """How ``arviz_stats.loo_kfold`` refits one model without a fold's rows: a clone with
    the same settings fitted to the rest, and the held-out rows' log-likelihood under it
    (rows of groups the refit never saw are predicted from the population model, as
    :meth:`HierarchicalHTE.predict_effect` predicts them)."""

    def __init__(self, estimator: HierarchicalHTE, X, y, treatment):
        super().__init__(model=estimator)
        self.data = (as_frame(X), y, treatment)
        self.n_rows = self.data[0].shape[0]

    def sel_observations(self, idx):
        held_out = np.zeros(self.n_rows, dtype=bool)
        held_out[np.asarray(idx)] = True
        return tuple(
            tuple(take_rows(value, np.flatnonzero(rows)) for value in self.data)
            for rows in (~held_out, held_out)
        )

    def sample(self, modified_observed_data):
        X, y, treatment = modified_observed_data
        # a held-out fold may hold a modifier's only rows of a level: predicting its
        # groups from the population model is the point of holding groups out
        refit = clone(self.model).set_params(handle_unknown="population")
        return refit.fit(X, y, treatment=treatment)

    def get_inference_data(self, fitted_model):
        return fitted_model

    def log_likelihood__i(self, excluded_obs, idata__i):
        X, y, treatment = excluded_obs
        with warnings.catch_warnings():
            # held-out groups beyond the training range of a numeric group-level predictor
            # are extrapolated: what holding out the extreme groups asks for
            warnings.filterwarnings("ignore", message=".*outside its training range")
            return idata__i.inference_data(X, y, treatment).log_likelihood["y"]


def held_out_groups(models: Mapping, X, groups=None) -> np.ndarray:
    """Each row's held-out unit (codes 0..U-1): ``groups`` given as labels per row or as
    columns of ``X`` (each combination of their values one unit), or by default the
    finest grouping every model agrees on (the combinations of all the models' groups),
    so that every candidate is scored on the same units."""
    frame = as_frame(X)
    if groups is None:
        codes = np.column_stack([est.posterior_.assign(frame).row_group for est in models.values()])
    elif isinstance(groups, str) or (
        isinstance(groups, list | tuple) and all(isinstance(c, str) for c in groups)
    ):
        columns = [groups] if isinstance(groups, str) else list(groups)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"groups names columns {missing} that X does not have.")
        codes = np.column_stack([pd.factorize(frame[c])[0] for c in columns])
    else:
        labels = np.asarray(groups)
        if labels.shape != (frame.shape[0],):
            raise ValueError(
                f"groups must hold one label per row of X ({frame.shape[0]}), or name "
                f"columns of X; got an array of shape {labels.shape}."
            )
        codes = pd.factorize(pd.Series(labels))[0][:, None]
    return np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)


def group_folds(units: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold 1..K of every row, whole units at a time: one unit per fold when there are at
    most ``n_folds`` units (exact leave-one-group-out), else the units dealt at random
    into ``n_folds`` folds of nearly equal numbers of units."""
    n_units = int(units.max()) + 1
    if n_units < 2:
        raise ValueError("leave-one-group-out needs at least two groups to hold out.")
    if n_units <= n_folds:
        return units + 1
    order = np.random.default_rng(seed).permutation(n_units)
    fold_of_unit = np.empty(n_units, dtype=int)
    fold_of_unit[order] = np.arange(n_units) % n_folds
    return fold_of_unit[units] + 1


def leave_one_group_out(estimator: HierarchicalHTE, X, y, treatment, *, groups=None,
                        n_folds: int = 10, seed: int = 0):  # fmt: skip
    """Exact K-fold cross-validation over groups: how well the model predicts new groups.

    The model is refitted once per fold without that fold's groups (a clone with the
    same settings), and each held-out row's log predictive density is taken under the
    refit, whose population model predicts the unseen group (``arviz_stats.loo_kfold``,
    the same per-row units as PSIS-LOO and as brms's ``kfold(..., group = )``).

    Parameters
    ----------
    estimator : HierarchicalHTE
        Fitted to ``X``, ``y``, ``treatment``.
    X, y, treatment
        The rows it was fitted to.
    groups : None, str, list of str or array-like of shape (n_samples,), default=None
        The units held out together: ``None`` the estimator's own groups; column names
        of ``X`` (each combination of their values one unit); or a label per row.
    n_folds : int, default=10
        At most this many refits: with more units than folds, units are dealt at
        random into ``n_folds`` folds.
    seed : int, default=0
        Seeds the dealing of units into folds.

    Returns
    -------
    arviz_stats.ELPDDataLOOKFold
        ``elpd`` (its ``se``), ``p`` and per-row ``elpd_i``, as ``arviz_stats.loo_kfold``
        returns them.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.model_comparison import leave_one_group_out
    >>> d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
    >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=1)
    >>> est = HierarchicalHTE(modifiers=d.modifiers, sampler=short, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # short chains may warn
    ...     logo = leave_one_group_out(est.fit(d.X, d.y, d.treatment), d.X, d.y, d.treatment)
    >>> int(logo.n_folds), int(logo.n_data_points)
    (4, 300)
    """
    _check_fitted({"estimator": estimator})
    units = held_out_groups({"estimator": estimator}, X, groups)
    return _group_kfold(estimator, X, y, treatment, units, n_folds, seed)


def _group_kfold(estimator, X, y, treatment, units, n_folds, seed):
    folds = group_folds(units, n_folds, seed)
    idata = estimator.inference_data(X, y, treatment)
    wrapper = _Refits(estimator, X, y, treatment)
    # k as well: arviz-stats 1.0.0 reports (and loops over) k, not the folds given
    return arviz_stats.loo_kfold(idata, wrapper, pointwise=True, k=int(folds.max()), folds=folds)


def psis_loo(estimator: HierarchicalHTE, X, y, treatment, *, subsample=None, seed: int = 0):
    """PSIS-LOO of a fitted model: every row's log predictive density for a new row of
    its group, from the fit alone, with its Pareto k diagnostics.

    With every row's log-likelihood under every draw in memory, this is
    ``arviz_stats.loo`` of :meth:`HierarchicalHTE.inference_data`. When that array would
    not fit (millions of rows), or when ``subsample`` asks for it, it is
    ``arviz_stats.loo_subsample``: exact PSIS-LOO on a random subsample of rows corrects
    an approximation of every row (its log-likelihood at the posterior means, one pass
    over the rows), the difference estimator of Magnusson et al. (2019). Memory stays at
    subsample x draws numbers plus a few vectors of one number per row.

    Parameters
    ----------
    estimator : HierarchicalHTE
        Fitted to ``X``, ``y``, ``treatment``.
    X, y, treatment
        The rows it was fitted to.
    subsample : int, optional
        Rows to subsample. ``None``: all rows when their log-likelihoods fit in memory,
        else 10,000.
    seed : int, default=0
        Seeds the subsample (the same seed picks the same rows for every model of a
        comparison).

    Returns
    -------
    arviz_stats.ELPDData
        ``elpd``, ``se``, ``p`` and per-row ``elpd_i`` and ``pareto_k``; when subsampled,
        also ``subsample_size`` and ``subsampling_se`` (the part of ``se`` the subsample
        adds), and ``elpd_i`` and ``pareto_k`` only for the subsampled rows.

    Examples
    --------
    >>> import warnings
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.model_comparison import psis_loo
    >>> d = make_grouped_hte(2000, n_levels=(2, 2), random_state=0)
    >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=4)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # short chains may warn
    ...     est = HierarchicalHTE(modifiers=d.modifiers, sampler=short, random_state=0)
    ...     est = est.fit(d.X, d.y, d.treatment)
    >>> loo = psis_loo(est, d.X, d.y, d.treatment, subsample=500)
    >>> int(loo.subsample_size), int(loo.n_data_points)
    (500, 2000)
    """
    _check_fitted({"estimator": estimator})
    n_rows = as_frame(X).shape[0]
    sizes = estimator.idata_.posterior.sizes
    n_draws = sizes["chain"] * sizes["draw"]
    if subsample is None and fits_in_memory(n_draws, n_rows):
        return arviz_stats.loo(estimator.inference_data(X, y, treatment), pointwise=True)
    observations = DEFAULT_SUBSAMPLE if subsample is None else int(subsample)
    if observations < 2:
        raise ValueError(f"subsample must be at least 2 rows; got {subsample!r}.")
    return subsampled_loo(estimator.posterior_, X, y, treatment, observations=observations,
                          seed=seed)  # fmt: skip


def _check_fitted(models: Mapping) -> None:
    if not isinstance(models, Mapping) or not models:
        raise TypeError("models must be a non-empty dict of name -> fitted HierarchicalHTE.")
    for name, est in models.items():
        if not isinstance(est, HierarchicalHTE):
            raise TypeError(f"models[{name!r}] is a {type(est).__name__}, not a HierarchicalHTE.")
        if not hasattr(est, "posterior_"):
            raise ValueError(f"models[{name!r}] is not fitted; fit it to X, y, treatment first.")


def compare_models(models: Mapping, X, y, treatment, *, method: str = "loo", groups=None,
                   n_folds: int = 10, subsample=None, seed: int = 0,
                   **compare_kwargs) -> pd.DataFrame:  # fmt: skip
    """Rank fitted models by their expected log predictive density for new rows (PSIS-LOO)
    or for new groups (leave-one-group-out).

    Parameters
    ----------
    models : dict of str -> HierarchicalHTE
        Fitted candidates, e.g. different ``modifiers``, ``bins``, ``structure`` or
        ``family``, all fitted to the same rows.
    X, y, treatment
        The rows they were fitted to (every row is one unit of the comparison, so
        groupings that differ compare on the same units).
    method : {"loo", "logo"}, default="loo"
        ``"loo"``: Pareto-smoothed importance-sampling leave-one-out from the fits
        themselves (new rows of the groups seen). ``"logo"``: exact K-fold
        cross-validation over groups (see :func:`leave_one_group_out`), refitting every
        model once per fold (new groups). The module's docstring says when each is the
        right question.
    groups, n_folds
        ``method="logo"`` only: the units held out together (by default the finest
        grouping all the models share, so they are scored on the same folds) and the
        most refits per model; see :func:`leave_one_group_out`.
    subsample : int, optional
        ``method="loo"`` only: estimate PSIS-LOO from this many random rows (the same
        rows for every model); by default all rows when they fit in memory, else 10,000
        (see :func:`psis_loo`).
    seed : int, default=0
        Seeds the fold assignment (``"logo"``) or the subsample (``"loo"``).
    **compare_kwargs
        Passed to ``arviz_stats.compare`` (for example ``reference="name"``); its
        ``method`` of weighting models is called ``weight_method`` here (for example
        ``weight_method="BB-pseudo-BMA"``).

    Returns
    -------
    table : pandas.DataFrame
        ``arviz_stats.compare``'s table, best model first (``rank`` 0): ``elpd``
        (PSIS-LOO or K-fold) and its ``se``, ``p`` (effective number of parameters),
        ``elpd_diff`` (the model's elpd less the best's, or the ``reference``'s: 0 or
        negative, as R's ``loo_compare`` gives it) and ``dse`` (its standard error),
        ``weight``.

    Warns
    -----
    ComparisonWarning
        When some rows' Pareto k exceed 0.7 in a model (PSIS-LOO): its elpd is then
        unreliable. Refit with more draws, or compare by ``method="logo"`` (exact
        refits, no importance sampling).

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.model_comparison import compare_models
    >>> d = make_grouped_hte(400, n_levels=(2, 3), sigma_theta=0.1, random_state=0)
    >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=4)
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
    _check_fitted(models)
    if method not in ("loo", "logo"):
        raise ValueError(f"method must be 'loo' or 'logo'; got {method!r}.")
    if "weight_method" in compare_kwargs:
        compare_kwargs["method"] = compare_kwargs.pop("weight_method")
    if method == "loo":
        elpds = {name: psis_loo(est, X, y, treatment, subsample=subsample, seed=seed)
                 for name, est in models.items()}  # fmt: skip
    else:
        units = held_out_groups(models, X, groups)
        elpds = {name: _group_kfold(est, X, y, treatment, units, n_folds, seed)
                 for name, est in models.items()}  # fmt: skip
    compare_kwargs.setdefault("round_to", "none")  # full precision; round when printing
    table = arviz_stats.compare(elpds, **compare_kwargs)
    # one sign whatever the arviz_stats version (its convention changed): as R's
    # loo_compare, the elpd of each model less that of the best (or the reference)
    reference = compare_kwargs.get("reference") or table["elpd"].idxmax()
    table["elpd_diff"] = table["elpd"] - table.loc[reference, "elpd"]
    flagged = [name for name, elpd in elpds.items() if bool(elpd.warning)]
    if flagged:
        warnings.warn(
            f"PSIS-LOO is unreliable for some rows of {flagged} (Pareto k > {PARETO_K_MAX}): "
            "their elpd may be off. Refit with more draws, or compare by exact refits "
            "(method='logo' for new groups).",
            ComparisonWarning,
            stacklevel=2,
        )
    return table
