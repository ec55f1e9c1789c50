"""Fast cross-validation of prior scales for the Gaussian model.

A grid search over prior scales with ``GridSearchCV`` fits the model once per
fold and grid point. For the Gaussian family, whose linear parameters are
integrated out analytically (``NUTSSampler(marginalize=True)``), every one of those
posteriors is a reweighting of a single one: the posterior of the few variance
parameters phi given one training fold and one set of prior scales is

    p_j(phi | y_train) ∝ p_j(phi) p_j(y_train | phi),

and both factors are exact closed forms that are cheap to evaluate for every
draw of phi. :class:`HierarchicalHTECV` fits the model once on all the data,
evaluates these densities for every fold and grid point at the draws of that
fit, and estimates each held-out score by Pareto-smoothed importance sampling
(PSIS; ArviZ's ``psislw``). Where the Pareto k diagnostic says the weights
cannot be trusted (k above ``pareto_k_threshold``), that fold and grid point is
fitted afresh by NUTS instead, with the compiled sampler reused. Given phi,
the held-out data's predictive density is exact too, so the score needs no
draws of the thousands of group offsets at all.

The score is the held-out log predictive density of each test fold (jointly
over its rows, so the within-group dependence counts), divided by the fold's
size: the log score, a proper scoring rule of the whole model.
"""

import functools
import time
from numbers import Real

import jax
import numpy as np
from arviz_stats.base import array_stats
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base.input_checks import as_frame, is_partitioned
from ._base.spec import ModelSpec, Priors, PriorUnits, in_units
from ._data.sufficient_statistics import RowDesign, gaussian_statistics
from ._estimator import HierarchicalHTE
from ._modeling.hierarchical import ModelSizes
from ._modeling.inputs import prepare
from ._modeling.marginal_gaussian import (
    additive_normal_equations,
    marginal_loglik,
    variance_log_prior,
)
from ._modeling.model_data import ModelData
from ._sampling.draws import as_jax
from ._sampling.run import run_inference
from .diagnostics import pareto_smoothed_log_weights

#: The parameters a grid may hold: those that change only the priors, which is
#: what importance weights can move between.
PRIOR_PARAMETERS = (
    "prior_intercept_scale",
    "prior_coef_scale",
    "prior_sd_scale",
    "prior_sigma_scale",
    "lkj_concentration",
)

#: Draws evaluated at once (bounds the memory of the per-draw systems).
EVAL_BATCH = 64


@functools.lru_cache(maxsize=16)
def _compiled_densities(sizes: ModelSizes):
    """log p(y | phi) and log p(phi) for a batch of draws, jitted once per model structure."""

    def loglik(data, priors, phi):
        # batched: each draw's system holds groups x columns numbers
        one = functools.partial(marginal_loglik, data, priors, sizes)
        return jax.lax.map(one, phi, batch_size=EVAL_BATCH)

    def log_prior(priors, phi):
        return jax.vmap(functools.partial(variance_log_prior, priors, sizes))(phi)

    return jax.jit(loglik), jax.jit(log_prior)


class _Densities:
    """The densities PSIS needs at one set of draws, each data set's likelihood computed once.

    The likelihood p(y | phi) depends on the prior scales of the intercept and
    coefficients only (they are integrated out with the linear parameters), so
    grid points that differ in the other scales share it.
    """

    def __init__(self, sizes: ModelSizes, phi: dict, units: PriorUnits | None = None):
        self.sizes = sizes
        self.units = units  # the data's multipliers of the prior scales (a dose's units)
        self._loglik, self._log_prior = _compiled_densities(sizes)
        with jax.enable_x64(True):
            self.phi = as_jax(phi)
        self._cache = {}

    def loglik(self, name, data: ModelData, priors: Priors) -> np.ndarray:
        key = (name, priors.intercept, priors.coef)
        if key not in self._cache:
            with jax.enable_x64(True):
                jdata = as_jax(data.without_start())
                self._cache[key] = np.asarray(self._loglik(jdata, as_jax(priors), self.phi))
        return self._cache[key]

    def log_prior(self, priors: Priors) -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(self._log_prior(as_jax(in_units(priors, self.units)), self.phi))


def _widest(grid_priors: list[Priors]) -> Priors:
    """Prior scales at least as wide as every grid point's (LKJ: the least concentrated)."""
    return grid_priors[0]._replace(
        intercept=max(p.intercept for p in grid_priors),
        coef=max(p.coef for p in grid_priors),
        sd=max(p.sd for p in grid_priors),
        sigma=max(p.sigma for p in grid_priors),
        lkj=min(p.lkj for p in grid_priors),
    )


def _check_every_arm_trains(prepared, folds) -> None:
    """Every arm (the reference included) needs rows in every training fold: a fold without
    one would score that arm's effect from its prior alone."""
    coding = prepared.treatment
    if coding.single_binary:
        return
    treatment, start = prepared.rows.treatment, 0
    for column in coding.columns:
        block = treatment[:, start : start + column.n_effects]
        start += column.n_effects
        if column.kind != "categorical":
            continue
        members = np.column_stack([1.0 - block.sum(axis=1), block])  # reference first
        total = members.sum(axis=0)
        for index, test in enumerate(folds):
            missing = total - members[test].sum(axis=0) == 0
            if missing.any():
                arms = [str(column.levels[j]) for j in np.flatnonzero(missing)]
                raise ValueError(
                    f"training fold {index} has no rows of arm(s) {arms} of treatment "
                    f"{column.name!r}; every arm must be seen in every fold. Stratify the "
                    "folds by arm (e.g. cv=list(StratifiedKFold(5).split(X, treatment))) or "
                    "use fewer folds."
                )


def _variance_phi(draws: dict) -> dict:
    """The variance parameters' draws from a sampler result, chains concatenated."""
    return {
        key: value.reshape((-1,) + value.shape[2:])
        for key, value in draws.items()
        if key.startswith(("sd_", "L_")) or key == "sigma"
    }


def _ess(draws: np.ndarray) -> float:
    """Bulk ESS of one scalar's ``(chain, draw)`` draws."""
    return float(array_stats.ess(draws, chain_axis=0, draw_axis=1))


def _relative_efficiency(draws: dict) -> float:
    """ESS / draws of the variance parameters (the smallest): how long a tail PSIS smooths."""
    sigma = draws["sigma"]  # (chain, draw)
    ess = [_ess(sigma)]
    for key, value in draws.items():
        if key.startswith("sd_"):
            ess += [_ess(value[..., i]) for i in range(value.shape[-1])]
    return float(np.clip(min(ess) / sigma.size, 0.05, 1.0))


class HierarchicalHTECV(BaseEstimator):
    """Cross-validated prior scales for :class:`HierarchicalHTE`, at the cost of about two fits.

    Chooses the prior scales of a Gaussian :class:`HierarchicalHTE` by K-fold
    cross-validation of the held-out log predictive density, as
    ``GridSearchCV`` would, but without fitting the model once per fold and
    grid point: one fit on all the data is reweighted to every fold and grid
    point by Pareto-smoothed importance sampling, which is exact in the limit
    because the model's linear parameters are integrated out analytically
    (see ``marginalize``). That one fit samples a proposal wider than every
    fold's posterior: the grid's widest prior scales, and the likelihood
    raised to the power (K - 1) / K, the share of rows a training fold holds.
    A fold and grid point whose importance weights are unreliable (Pareto k
    above ``pareto_k_threshold``) is fitted by NUTS instead. The chosen scales
    are then refitted on all the data: two NUTS runs in all, whatever the
    size of the grid.

    Parameters
    ----------
    estimator : HierarchicalHTE, default=None
        The model to tune (Gaussian family, ``NUTSSampler(marginalize=True)``);
        ``None`` uses ``HierarchicalHTE()``. Its settings (modifiers, sampler)
        serve every fit; its prior scales are replaced by the grid's.
    param_grid : dict or list of dict
        Prior scales to try: keys among ``prior_intercept_scale``,
        ``prior_coef_scale``, ``prior_sd_scale``, ``prior_sigma_scale`` and
        ``lkj_concentration``, as for ``GridSearchCV``.
    cv : int, cross-validation generator or iterable, default=5
        Folds, as for ``GridSearchCV`` (an int means ``KFold`` without shuffling).
    pareto_k_threshold : float, default=0.7
        Importance sampling is trusted for a fold and grid point while the
        Pareto k diagnostic of its weights stays below this (0.7 is the
        PSIS authors' bound); above it, that posterior is sampled by NUTS. A
        negative value samples every fold and grid point by NUTS (a check).
    refit : bool, default=True
        Refit the best prior scales on all the data as ``best_estimator_``.

    Attributes
    ----------
    cv_results_ : dict of numpy arrays
        As ``GridSearchCV``'s: ``params``, ``param_<name>``,
        ``split<k>_test_score``, ``mean_test_score``, ``std_test_score``,
        ``rank_test_score``; also ``max_pareto_k`` (over the folds) and
        ``n_nuts_refits`` (folds sampled by NUTS instead of reweighted).
    best_index_ : int
        Index of the best grid point in ``cv_results_``.
    best_params_ : dict
        The best prior scales.
    best_score_ : float
        Their mean held-out log predictive density per row.
    best_estimator_ : HierarchicalHTE
        The model with the best scales, fitted on all the data.
    n_splits_ : int
        Number of folds.
    fit_seconds_ : float
        Wall time of ``fit``.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : the general search, one fit per fold and grid point.

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE, HierarchicalHTECV
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> d = make_grouped_hte(1000, n_levels=(2, 3), random_state=0)
    >>> search = HierarchicalHTECV(
    ...     estimator=HierarchicalHTE(modifiers=d.modifiers, random_state=0),
    ...     param_grid={"prior_sd_scale": [0.1, 0.5, 1.0]},
    ... ).fit(d.X, d.y, treatment=d.treatment)
    >>> sorted(search.best_params_)
    ['prior_sd_scale']
    >>> search.effect_by_group().shape[0]
    6
    """

    _parameter_constraints: dict = {
        "estimator": [HierarchicalHTE, None],
        "param_grid": [dict, list, None],
        "cv": ["cv_object"],
        "pareto_k_threshold": [Interval(Real, None, None, closed="neither")],
        "refit": ["boolean"],
    }

    def __init__(self, *, estimator=None, param_grid=None, cv=5, pareto_k_threshold=0.7,
                 refit=True):  # fmt: skip
        self.estimator = estimator
        self.param_grid = param_grid
        self.cv = cv
        self.pareto_k_threshold = pareto_k_threshold
        self.refit = refit

    def _candidates(self, base: HierarchicalHTE) -> list[dict]:
        if self.param_grid is None:
            raise ValueError("param_grid is required: a dict of prior scales to try.")
        candidates = list(ParameterGrid(self.param_grid))
        for params in candidates:
            unknown = sorted(set(params) - set(PRIOR_PARAMETERS))
            if unknown:
                raise ValueError(
                    f"param_grid holds {unknown}, which are not prior scales; only "
                    f"{list(PRIOR_PARAMETERS)} can be tuned by reweighting. Use "
                    "sklearn.model_selection.GridSearchCV for other parameters."
                )
            clone(base).set_params(**params)._validate_params()
        return candidates

    @staticmethod
    def _check_base(base: HierarchicalHTE) -> None:
        spec = ModelSpec.from_params(base.get_params(deep=False))
        if not spec.marginalized:
            raise ValueError(
                "HierarchicalHTECV reweights the marginal Gaussian model: it needs "
                "family='gaussian', reduce_data=True and sampler=NUTSSampler(marginalize=True) "
                f"(got family={spec.family!r}, reduce_data={spec.reduce_data}, "
                f"inference={spec.inference!r}, marginalize={spec.marginalize}). "
                "Use sklearn.model_selection.GridSearchCV for other models."
            )

    def fit(self, X, y, treatment=None, groups=None):
        """Fit once, score every fold and grid point, refit the best.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Modifiers, group-level predictors and controls.
        y : array-like of shape (n_samples,)
            Outcome.
        treatment : array-like of shape (n_samples,), or DataFrame of treatment columns
            The treatment, of any kind ``HierarchicalHTE`` takes.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group splitter (``cv=GroupKFold(...)`` or
            ``LeaveOneGroupOut()``), as ``GridSearchCV.fit`` takes them. Labels that
            hold out whole groups of the model (its modifiers' combinations) score
            how well each prior predicts new groups: the held-out density of a group
            the training fold never saw is exact given the variance parameters, as
            for any fold.

        Returns
        -------
        self : HierarchicalHTECV
            The fitted search.
        """
        self._validate_params()
        if is_partitioned(X, y, treatment):
            raise TypeError(
                "HierarchicalHTECV scores held-out rows fold by fold, which needs the rows "
                "in memory; X, y or treatment is a Dask collection. Search on an in-memory "
                "sample (df.sample(frac=...).compute()), then fit HierarchicalHTE with the "
                "chosen scales on the Dask data."
            )
        started = time.perf_counter()
        base = HierarchicalHTE() if self.estimator is None else clone(self.estimator)
        self._check_base(base)
        candidates = self._candidates(base)
        spec = ModelSpec.from_params(base.get_params(deep=False))
        prepared = prepare(spec, X, y, treatment)
        sizes, data, rows = prepared.sizes, prepared.data, prepared.rows
        # as GridSearchCV splits: with y, so that stratified and other y-aware splitters work
        folds = [test for _, test in check_cv(self.cv, y).split(as_frame(X), y, groups)]
        _check_every_arm_trains(prepared, folds)
        self.n_splits_ = len(folds)
        train_data = [self._training_fold(sizes, data, rows, test) for test in folds]
        grid_priors = [
            ModelSpec.from_params(clone(base).set_params(**params).get_params(deep=False)).priors
            for params in candidates
        ]

        # The proposal: the widest priors of the grid, and the likelihood raised to
        # the share of rows a training fold holds, so that it is at least as wide as
        # every fold's posterior and the importance weights stay bounded.
        proposal = _widest(grid_priors)._replace(temper=1.0 - 1.0 / len(folds))
        seed = int(check_random_state(base.random_state).randint(np.iinfo(np.int32).max))
        result = run_inference(spec, sizes, data, n_rows=rows.n_rows, seed=seed,
                               priors=proposal)  # fmt: skip
        phi = _variance_phi(result.draws)
        densities = _Densities(sizes, phi, data.prior_units)
        log_proposal = densities.log_prior(proposal) + proposal.temper * densities.loglik(
            "all", data, proposal
        )
        reff = _relative_efficiency(result.draws)

        scores = np.zeros((len(candidates), len(folds)))
        pareto_k = np.zeros_like(scores)
        refits = np.zeros(len(candidates), dtype=int)
        for j, priors in enumerate(grid_priors):
            full_j, prior_j = densities.loglik("all", data, priors), densities.log_prior(priors)
            for k, (test, fold_data) in enumerate(zip(folds, train_data, strict=True)):
                train_j = densities.loglik(k, fold_data, priors)
                log_ratios = prior_j + train_j - log_proposal
                log_weights, khat = pareto_smoothed_log_weights(log_ratios, reff)
                pareto_k[j, k] = float(khat)
                if khat <= self.pareto_k_threshold:
                    # held-out density p(y_test | y_train, phi) = p(y | phi) / p(y_train | phi)
                    elpd = logsumexp(log_weights + full_j - train_j)
                else:
                    refits[j] += 1
                    elpd = self._sampled_elpd(spec, sizes, data, fold_data, priors,
                                              seed=seed + 1 + k)  # fmt: skip
                scores[j, k] = elpd / len(test)

        self.cv_results_ = self._results(candidates, scores, pareto_k, refits)
        self.best_index_ = int(np.argmax(scores.mean(axis=1)))
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(scores.mean(axis=1)[self.best_index_])
        if self.refit:
            best = clone(base).set_params(**self.best_params_)
            self.best_estimator_ = best.fit(X, y, treatment=treatment)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    @staticmethod
    def _training_fold(
        sizes: ModelSizes, data: ModelData, rows: RowDesign, test: np.ndarray
    ) -> ModelData:
        """The statistics of all rows but ``test``, centred as the whole data are."""
        held_out = RowDesign(rows.controls[test], rows.Z, rows.group[test],
                             rows.treatment[test], rows.outcome[test])  # fmt: skip
        stats = data.likelihood
        test_stats, _, _ = gaussian_statistics(held_out, centre=(stats.xbar, stats.ybar))
        fold = data._replace(likelihood=stats.minus(test_stats.pad(sizes.n_groups)))
        if sizes.structure == "additive":
            mtm, mty = additive_normal_equations(
                fold.likelihood, fold.levels, sizes.level_dims, sizes.varying_width
            )
            fold = fold._replace(levels=fold.levels._replace(mtm=mtm, mty=mty))
        return fold

    @staticmethod
    def _sampled_elpd(spec, sizes, data, fold_data, priors, *, seed) -> float:
        """Held-out log density from a NUTS fit of the training fold itself."""
        result = run_inference(spec, sizes, fold_data, n_rows=int(fold_data.likelihood.n_rows),
                               seed=seed, priors=priors)  # fmt: skip
        densities = _Densities(sizes, _variance_phi(result.draws))
        full = densities.loglik("all", data, priors)
        train = densities.loglik("train", fold_data, priors)
        return float(logsumexp(full - train) - np.log(full.size))

    def _results(self, candidates, scores, pareto_k, refits) -> dict:
        results = {"params": candidates}
        for name in sorted({key for params in candidates for key in params}):
            results[f"param_{name}"] = np.array([p.get(name) for p in candidates], dtype=object)
        for k in range(scores.shape[1]):
            results[f"split{k}_test_score"] = scores[:, k]
        mean = scores.mean(axis=1)
        results["mean_test_score"] = mean
        results["std_test_score"] = scores.std(axis=1)
        results["rank_test_score"] = np.argsort(np.argsort(-mean, kind="stable")) + 1
        results["max_pareto_k"] = pareto_k.max(axis=1)
        results["n_nuts_refits"] = refits
        return results

    # -------------------------------------------------- the best model's outputs
    def _best(self) -> HierarchicalHTE:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def predict_effect(self, X, *args, **kwargs):
        """``best_estimator_.predict_effect``: each row's treatment effect."""
        return self._best().predict_effect(X, *args, **kwargs)

    def effect_by_group(self, *args, **kwargs):
        """``best_estimator_.effect_by_group``: one row per group, with intervals."""
        return self._best().effect_by_group(*args, **kwargs)

    def heterogeneity_summary(self, *args, **kwargs):
        """``best_estimator_.heterogeneity_summary``: how much the effect varies."""
        return self._best().heterogeneity_summary(*args, **kwargs)

    def coefficients(self, *args, **kwargs):
        """``best_estimator_.coefficients``: population-level terms and scales."""
        return self._best().coefficients(*args, **kwargs)

    def predict(self, X, treatment=None):
        """``best_estimator_.predict``: the expected outcome under ``treatment``."""
        return self._best().predict(X, treatment)

    def score(self, X, y, treatment=None, sample_weight=None):
        """``best_estimator_.score``."""
        return self._best().score(X, y, treatment=treatment, sample_weight=sample_weight)
