"""HierarchicalHTE: heterogeneous treatment effects from a Bayesian varying-slopes model.

The estimator keeps its parameters and a short ``fit`` that runs the stages in
order: the parameters are frozen into a :class:`ModelSpec`, the data are
prepared (:func:`prepare`), the posterior is sampled (:func:`run_inference`)
and assembled into a :class:`FittedPosterior`, which answers every method below.
"""

import functools
import time
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base.effect_vocabulary import EffectVocabularyMixin
from ._base.families import FAMILIES
from ._base.input_checks import check_aligned, is_partitioned, numeric_outcome
from ._base.sampler_settings import (
    DEPRECATED,
    FLAT_PARAMS,
    NUTSSampler,
    SVISampler,
    resolve_sampler,
    sampler_from_flat,
)
from ._base.spec import UNKNOWN_LEVEL_POLICIES, ModelSpec
from ._data.partitioned import map_predictions
from ._evaluation.routing import ESTIMATOR_REQUEST, require_metadata
from ._modeling.inputs import prepare
from ._results import comparisons
from ._results.draw_summaries import HeterogeneitySummary, check_prob, effects_by_column, interval
from ._results.persistence import load_model, save_model
from ._results.pointwise import prior_tree, with_observations
from ._results.posterior import FittedPosterior, assemble_posterior, posterior_from_draws
from ._sampling.prior import sample_prior
from ._sampling.run import run_inference

#: A deprecated flat sampler parameter that was not passed.
UNSET = Hidden(StrOptions({DEPRECATED}))


class HierarchicalHTE(EffectVocabularyMixin, BaseEstimator):
    """Heterogeneous treatment effects from a Bayesian hierarchical (varying-slopes) model.

    Rows are divided into groups, one per unique combination of the
    ``modifiers``' values. Each group g gets its own intercept alpha_g and
    treatment effect theta_g, drawn from a common bivariate normal with an LKJ
    prior on their correlation. The means of both are linear in group-level
    predictors Z (by default the modifiers themselves), so
    ``theta_g = b_treatment + Z_g . lambda + u_g`` with ``u_g ~ Normal(0, sd_effect)``
    (``sd_effect`` in ``idata_``, ``coefficients()`` and ``heterogeneity_summary()``).
    Every other column of ``X`` is a control with a fixed coefficient. The
    posterior is sampled with NUTS (NumPyro) and kept as an ArviZ 1.x ``DataTree``.

    Parameters
    ----------
    modifiers : list of str or int
        Columns of ``X`` whose level combinations define the groups. Numeric
        columns are used as given (each distinct value is a level), categorical
        or string columns by category; continuous columns can be binned with ``bins``.
    group_predictors : "modifiers", list of str or int, or None, default="modifiers"
        Group-level predictors Z of the intercepts and effects. ``"modifiers"``
        uses the modifiers (numeric as given, categorical one-hot, binned as the
        mean of each bin); a list names columns (modifiers, or other columns
        that are constant within each group); ``None`` uses none, so the effects
        shrink towards one common mean.
    bins : dict, default=None
        ``{column: n_bins}`` cuts a continuous modifier at quantiles,
        ``{column: edges}`` at the given edges. Values outside the outer edges
        fall into the outermost bins. Edges are kept in ``bin_edges_``.
    structure : {"nested", "additive"}, default="nested"
        ``"nested"``: one varying intercept and slope per group,
        ``(1 + treat | group)``. ``"additive"``: one varying intercept and slope
        per level of each modifier, ``(1 + treat | v1) + (1 + treat | v2) + ...``,
        each with its own scales and LKJ prior; a group's effect is the sum over
        its levels.
    varying_slopes : bool, default=True
        Whether the treatment effects vary by group beyond what the group-level
        predictors explain. ``False`` lets only the intercept vary, brms's
        ``(1 | group)`` (or ``(1 | v1) + (1 | v2) + ...`` in the additive structure):
        each group's effect is then ``b_treatment + Z . lambda`` exactly, ``sd_effect``
        is zero by assumption, and the model is the candidate "no unexplained
        heterogeneity" to compare against (see :mod:`sklearn_hier.model_comparison`).
    family : {"gaussian", "bernoulli", "binomial", "poisson", "ordinal", "student", \
"negbinomial"}, default="gaussian"
        Outcome likelihood: normal (identity link), Bernoulli or binomial
        (logit link), Poisson (log link), cumulative logit for ordered
        categories, Student-t (identity link; brms's ``student()``: sigma with the
        Gaussian's prior, degrees of freedom ``nu ~ gamma(2, 0.1)`` above 1) or
        negative binomial (log link; brms's ``negbinomial()``: variance
        ``mu + mu^2 / shape``, ``shape ~ gamma(0.01, 0.01)``). Effects are reported
        on the response scale by default (see ``effect_by_group``). Rows with
        identical predictors are collapsed into exact binomial, Poisson or
        multinomial cells before sampling; the Student-t and negative binomial
        likelihoods have no such summary, so only rows identical in the outcome too
        are merged (their fits touch every distinct row and are slower). The
        Laplace approximation (``approximation``) is for the binomial, Bernoulli
        and Poisson families; Dask input works for every family.
    trials : int or column name, default=None
        Binomial family: the number of trials, one number for all rows or a
        column of ``X`` (which is then not a control).
    exposure : column name, default=None
        Poisson and negative binomial families: a column of ``X`` with each row's
        exposure (the rate is ``exposure * exp(eta)``); it is then not a control.
    treated_value : scalar, default=None
        For a treatment with two values other than 0/1 (e.g. "ally"/"none"),
        the value that means treated. The coding learned in ``fit`` applies
        everywhere after it (``predict``, the scorers, saved files): only the
        labels seen in fit are accepted.
    control_value : scalar or dict, default=None
        The reference arm: for a multi-arm (categorical) treatment, every other
        arm's effect is against it (default: the first category of a pandas
        Categorical, else the first level in sorted order); for a binary
        treatment with two labels, the control label. With several treatment
        columns, a dict ``{column: control value}``.
    treatment_type : {"auto", "binary", "categorical", "continuous"}, default="auto"
        How each treatment column is read. ``"auto"``: 0/1 or boolean columns
        (or two labels with ``treated_value``/``control_value``) are binary;
        text or categorical columns with more than two levels are multi-arm;
        numbers with more than two distinct values are a continuous dose, whose
        effect is the slope per unit. The other values force one reading.
    handle_unknown : {"error", "population"}, default="error"
        What to do with a modifier level never seen in training, numeric or
        categorical alike: ``"error"`` raises, naming the column and levels;
        ``"population"`` treats the row's group as a new group whose effect is
        drawn from the population model (the group-level predictors, an
        unseen category counting as the average of the known ones, plus the
        unexplained spread sd_effect). New combinations of seen levels always
        use the population model. The draws of a new group depend only on the
        fit and the group's levels, so the same group gets the same draws in
        any call. Values beyond a numeric modifier's training range warn.
    prior_intercept_scale : float, default=1.0
        Scale of the normal prior on the intercept, which (as in brms) is the
        expected outcome at the mean of the population-level columns.
    prior_coef_scale : float, default=0.5
        Scale of the normal prior on every population-level coefficient: the
        controls, the treatment effect and each lambda.
    prior_sd_scale : float, default=1.0
        Scale of the half-normal prior on the group-level standard deviations
        (sd_intercept and sd_effect).
    prior_sigma_scale : float, default=1.0
        Scale of the half-normal prior on the residual standard deviation.
    lkj_concentration : float, default=1.0
        LKJ shape eta for the intercept-effect correlation (1 is uniform).
    prior_cutpoint_scale : float, default=2.5
        Ordinal family: scale of the normal prior on the ordered cutpoints.
    reduce_data : bool, default=True
        Fit from an exact reduction of the data: per-group sufficient
        statistics (Gaussian) or collapsed cells (other families). The same
        posterior at a lower cost; ``False`` evaluates the likelihood row by
        row (for checking).
    approximation : {"auto", "none", "laplace"}, default="auto"
        Bernoulli, binomial and Poisson families: how the likelihood meets the
        data. ``"none"`` is exact: rows with identical predictors are collapsed
        into cells, and each gradient touches every cell, so with continuous
        controls (no two rows alike) the cost grows with the rows.
        ``"laplace"`` expands each row's log-likelihood to second order
        around a pilot fit (each group's own intercept and effects): the
        expansion is a Gaussian likelihood with known noise, so the rows reduce
        to per-group statistics in a few passes and the sampler's cost no
        longer depends on the rows. Every such fit is checked against the exact
        likelihood on a subsample of rows (the importance weights' Pareto k and
        how far they move each group's posterior means, ``approximation_check_``)
        and warns when the approximation is not close enough. ``"auto"`` stays
        exact up to 20,000 cells (or with ``reduce_data=False``,
        ``sampler=SVISampler()`` or the ordinal family) and uses ``"laplace"``
        beyond, unless a group's arm has fewer than 20 events.
    sampler : NUTSSampler, SVISampler or None, default=None
        How the posterior is drawn, with every setting of that method:
        :class:`~sklearn_hier.NUTSSampler` (the exact posterior; ``None`` is
        ``NUTSSampler()``: 4 chains of 1,000 draws, the linear parameters of the
        Gaussian family marginalized, after 500 warm-up iterations where NUTS samples
        the marginal model (the Gaussian family's, or the Laplace approximation's) and
        1,000 where all parameters are sampled jointly)
        or :class:`~sklearn_hier.SVISampler` (a variational normal
        approximation). Grid searches reach its settings as
        ``sampler__num_samples`` and can compare ``sampler=[NUTSSampler(),
        SVISampler()]``. The object is copied at fit, so changing it afterwards
        changes nothing until the next fit.
    num_warmup, num_samples, num_chains, target_accept, max_tree_depth, \
warmup_max_tree_depth, dense_mass, chain_method, marginalize, parameterization, \
progress_bar, inference, svi_steps, svi_guide, svi_learning_rate : deprecated
        The sampler's settings as flat parameters: deprecated (a
        ``FutureWarning`` says what to write instead). Pass
        ``sampler=NUTSSampler(...)`` (``inference="svi"`` is
        ``sampler=SVISampler(steps=..., guide=..., learning_rate=...)``).
    random_state : int, RandomState instance or None, default=None
        Seed of the sampler. An int makes fits reproducible.

    Attributes
    ----------
    posterior_ : FittedPosterior
        Everything the fit produced, frozen: draws, design, the specification
        made from the parameters at fit time, and the treatment coding. Every
        fitted output is computed from it, so ``set_params`` after ``fit``
        changes nothing until the next fit.
    idata_ : xarray.DataTree
        The ArviZ 1.x posterior: groups ``posterior``, ``sample_stats`` and
        ``constant_data``, with labelled coordinates (``group``, ``control``,
        ``group_predictor``). Every ArviZ function takes it.
    groups_ : pandas.DataFrame
        One row per group seen in training: the modifiers' levels, ``n`` and
        ``n_treated``.
    n_groups_ : int
        Number of groups.
    bin_edges_ : dict
        Bin edges of every binned modifier.
    design_ : Design
        The learned design (levels, categories, bins, predictor encodings).
    diagnostics_ : pandas.DataFrame
        R-hat and effective sample sizes of the key parameters.
    treatment_name_ : str
        Name of the treatment (the Series name when one was passed).
    treatment_coding_ : TreatmentCoding
        The treatment's coding learned in fit (which label is treated, the arms,
        which columns are doses).
    effect_names_ : list of str
        One name per effect: the treatment's name for one binary treatment, the
        arm labels of a multi-arm treatment, the columns of several treatments.
        Tables carry them in a ``treatment`` column when there is more than one.
    prior_scales_ : pandas.DataFrame
        The prior of every parameter block (``parameter`` as named in ``idata_``,
        ``treatment`` for an effect's blocks, ``prior``, ``scale``) with the scale
        the model used: the constructor's, except that a continuous dose's
        ``b_treatment``, ``lambda`` and ``sd_effect`` are per unit of the dose's
        training sd (the constructor's scale divided by that sd).
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit, when they are all strings.
    fit_seconds_ : float
        Wall time of the last fit.
    approximation_ : str
        How the likelihood met the data: ``"none"`` (exact) or ``"laplace"``.
    approximation_check_ : ApproximationCheck or None
        With ``approximation_ == "laplace"``: the check against the exact
        likelihood (``pareto_k``, ``max_shift``, ``fewest_events``,
        ``rows_checked``, ``reliable``, ...; see the user guide's "Big data").
    categories_ : list
        Ordinal family: the outcome's ordered categories.

    See Also
    --------
    sklearn_hier.diagnostics.SamplingWarning : warning raised for sampling problems.

    Notes
    -----
    With the default priors (intercept 1, coefficients 0.5, group sds 1, sigma 1,
    LKJ 1) the model is exactly the brms specification of Alley (2024)::

        y ~ 1 + controls + treat * (z1 + z2 + ...) + (1 + treat | group)

    These scales suit outcomes measured in units near 1 (proportions, binary
    or standardised outcomes): a warning says so when ``y`` has a standard
    deviation far from 1. Rescale ``y`` or pass scales in its units otherwise.
    Prior scales are traced inputs of the compiled sampler, so grid searches
    over them do not recompile.

    References
    ----------
    Alley, J. (2024). Using Hierarchical Models to Estimate Heterogeneous Effects.

    Feller, A. and Gelman, A. (2015). Hierarchical Models for Causal Effects.

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE
    >>> from sklearn_hier.datasets import load_tomz_weeks
    >>> df = load_tomz_weeks()
    >>> X = df[["white", "male", "intl", "regime", "stakes"]]
    >>> est = HierarchicalHTE(modifiers=["white", "male", "intl"], random_state=0)
    >>> est.fit(X, df["force"], treatment=df["alliance"]).n_groups_
    20
    >>> est.effect_by_group()[["white", "male", "intl", "n"]].shape
    (20, 4)
    """

    _parameter_constraints: dict = {
        "modifiers": [list, tuple],
        "group_predictors": [StrOptions({"modifiers"}), list, tuple, None],
        "bins": [dict, None],
        "structure": [StrOptions({"nested", "additive"})],
        "varying_slopes": ["boolean"],
        "family": [StrOptions(set(FAMILIES))],
        "trials": "no_validation",  # a count, or a column name of any type
        "exposure": "no_validation",
        "prior_cutpoint_scale": [Interval(Real, 0, None, closed="neither")],
        "treated_value": "no_validation",
        "control_value": "no_validation",
        "treatment_type": [StrOptions({"auto", "binary", "categorical", "continuous"})],
        "handle_unknown": [StrOptions(set(UNKNOWN_LEVEL_POLICIES))],
        "prior_intercept_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_coef_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_sd_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_sigma_scale": [Interval(Real, 0, None, closed="neither")],
        "lkj_concentration": [Interval(Real, 0, None, closed="neither")],
        "reduce_data": ["boolean"],
        "approximation": [StrOptions({"auto", "none", "laplace"})],
        "sampler": [NUTSSampler, SVISampler, None],
        "num_warmup": [UNSET, Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "num_samples": [UNSET, Interval(Integral, 1, None, closed="left")],
        "num_chains": [UNSET, Interval(Integral, 1, None, closed="left")],
        "target_accept": [UNSET, Interval(Real, 0, 1, closed="neither"), None],
        "max_tree_depth": [UNSET, Interval(Integral, 1, 20, closed="both")],
        "warmup_max_tree_depth": [
            UNSET,
            Interval(Integral, 1, 20, closed="both"),
            StrOptions({"auto"}),
            None,
        ],  # fmt: skip
        "dense_mass": [UNSET, "boolean"],
        "chain_method": [UNSET, StrOptions({"parallel", "vectorized"})],
        "progress_bar": [UNSET, "boolean", StrOptions({"auto"})],
        "parameterization": [UNSET, StrOptions({"auto", "centered", "noncentered"})],
        "inference": [UNSET, StrOptions({"nuts", "svi"})],
        "svi_steps": [UNSET, Interval(Integral, 10, None, closed="left")],
        "svi_guide": [UNSET, StrOptions({"auto", "mvn", "lowrank"})],
        "svi_learning_rate": [UNSET, Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "marginalize": [UNSET, "boolean"],
    }

    def __init__(
        self,
        *,
        modifiers=(),
        group_predictors="modifiers",
        bins=None,
        structure="nested",
        varying_slopes=True,
        family="gaussian",
        trials=None,
        exposure=None,
        treated_value=None,
        control_value=None,
        treatment_type="auto",
        handle_unknown="error",
        prior_intercept_scale=1.0,
        prior_coef_scale=0.5,
        prior_sd_scale=1.0,
        prior_sigma_scale=1.0,
        lkj_concentration=1.0,
        prior_cutpoint_scale=2.5,
        reduce_data=True,
        approximation="auto",
        sampler=None,
        random_state=None,
        num_warmup=DEPRECATED,
        num_samples=DEPRECATED,
        num_chains=DEPRECATED,
        target_accept=DEPRECATED,
        max_tree_depth=DEPRECATED,
        warmup_max_tree_depth=DEPRECATED,
        dense_mass=DEPRECATED,
        chain_method=DEPRECATED,
        marginalize=DEPRECATED,
        parameterization=DEPRECATED,
        progress_bar=DEPRECATED,
        inference=DEPRECATED,
        svi_steps=DEPRECATED,
        svi_guide=DEPRECATED,
        svi_learning_rate=DEPRECATED,
    ):
        self.modifiers = modifiers
        self.group_predictors = group_predictors
        self.bins = bins
        self.structure = structure
        self.varying_slopes = varying_slopes
        self.family = family
        self.trials = trials
        self.exposure = exposure
        self.treated_value = treated_value
        self.control_value = control_value
        self.treatment_type = treatment_type
        self.handle_unknown = handle_unknown
        self.prior_intercept_scale = prior_intercept_scale
        self.prior_coef_scale = prior_coef_scale
        self.prior_sd_scale = prior_sd_scale
        self.prior_sigma_scale = prior_sigma_scale
        self.lkj_concentration = lkj_concentration
        self.prior_cutpoint_scale = prior_cutpoint_scale
        self.reduce_data = reduce_data
        self.approximation = approximation
        self.sampler = sampler
        self.random_state = random_state
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.num_chains = num_chains
        self.target_accept = target_accept
        self.max_tree_depth = max_tree_depth
        self.warmup_max_tree_depth = warmup_max_tree_depth
        self.dense_mass = dense_mass
        self.chain_method = chain_method
        self.marginalize = marginalize
        self.parameterization = parameterization
        self.progress_bar = progress_bar
        self.inference = inference
        self.svi_steps = svi_steps
        self.svi_guide = svi_guide
        self.svi_learning_rate = svi_learning_rate

    def __setstate__(self, state):
        state.setdefault("varying_slopes", True)  # pickled before the option existed
        # estimators pickled before the sampler object existed hold flat settings
        if "sampler" not in state:
            flat = {name: state.get(name, DEPRECATED) for name in FLAT_PARAMS}
            state["sampler"] = sampler_from_flat({k: v for k, v in flat.items() if v != DEPRECATED})
            state.update(dict.fromkeys(FLAT_PARAMS, DEPRECATED))
        super().__setstate__(state)

    def set_params(self, **params):
        """Set the parameters; ``sampler__num_samples=...`` and the like also work while
        ``sampler`` is ``None``, by starting from the default ``NUTSSampler()``."""
        nested = any(key.startswith("sampler__") for key in params)
        if nested and self.sampler is None and "sampler" not in params:
            self.sampler = NUTSSampler()
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = False
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, treatment=None):
        """Fit the hierarchical model by NUTS.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Modifiers, group-level predictors and controls. Every column that
            is not a modifier or group predictor is a control.
        y : array-like of shape (n_samples,)
            Outcome.
        treatment : array-like of shape (n_samples,), or DataFrame of treatment columns
            The treatment: binary (0/1 or bool; see ``treated_value``
            otherwise), multi-arm (labels; see ``control_value``) or a
            continuous dose (see ``treatment_type``). A DataFrame of several
            columns fits every column's effects at once, each varying by group,
            all correlated through one LKJ prior.

        Returns
        -------
        self : HierarchicalHTE
            The fitted estimator.
        """
        started = time.perf_counter()
        params = resolve_sampler(self.get_params(deep=False), stacklevel=4)
        spec = ModelSpec.from_params(params)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        prepared = prepare(spec, X, y, treatment, seed=seed)
        result = run_inference(
            spec, prepared.sizes, prepared.data, n_rows=prepared.n_rows, seed=seed
        )
        posterior = assemble_posterior(params, spec, prepared, result, seed=seed)
        posterior.fit_seconds = time.perf_counter() - started
        name = getattr(y, "name", None)  # a Series' name labels the figures (and is saved)
        if name is not None:
            posterior.idata.posterior.attrs["outcome"] = str(name)
        self._set_fitted(posterior)
        return self

    def _set_fitted(self, posterior: FittedPosterior) -> None:
        """The fitted attributes, all views of the one frozen posterior."""
        self.posterior_ = posterior
        self.idata_ = posterior.idata
        self.design_ = posterior.design
        self.groups_ = posterior.groups
        self.n_groups_ = posterior.n_groups
        self.bin_edges_ = {m.name: m.edges for m in posterior.design.modifiers
                           if m.kind == "binned"}  # fmt: skip
        self.diagnostics_ = posterior.diagnostics
        self.treatment_coding_ = posterior.treatment
        self.treatment_name_ = posterior.treatment.name
        self.effect_names_ = list(posterior.effect_names)
        self.prior_scales_ = posterior.prior_scales
        self.seed_ = posterior.seed
        self.fit_seconds_ = posterior.fit_seconds
        self.approximation_ = posterior.approximation
        self.approximation_check_ = posterior.approximation_check
        self.n_features_in_ = posterior.n_features_in
        if posterior.feature_names_in is not None:
            self.feature_names_in_ = posterior.feature_names_in
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if posterior.categories is not None:
            self.categories_ = posterior.categories
        elif hasattr(self, "categories_"):
            del self.categories_
        if posterior.svi_losses is not None:
            self.svi_losses_ = posterior.svi_losses
        elif hasattr(self, "svi_losses_"):
            del self.svi_losses_

    def _fitted(self) -> FittedPosterior:
        check_is_fitted(self, "posterior_")
        return self.posterior_

    # -------------------------------------------------------------- effects
    def predict_effect(
        self, X, *, return_interval=False, prob=0.95, scale="response", category=None
    ):
        """Posterior mean treatment effect for each row of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Must contain the modifier columns (and any group predictors that are
            not modifiers, for groups unseen in training); for non-Gaussian
            families on the response scale also the controls (and exposure).
        return_interval : bool, default=False
            Also return the lower and upper bounds of the credible interval.
        prob : float, default=0.95
            Mass of the equal-tailed credible interval.
        scale : {"response", "link"}, default="response"
            ``"response"``: the change in the expected outcome, E[y | treated] -
            E[y | control], for the row's covariates (a probability for
            bernoulli/binomial, a count for poisson, the expected category for
            ordinal). ``"link"``: the group's slope on the link scale (logit,
            log, cumulative logit). The two coincide for the Gaussian family.
        category : scalar, default=None
            Ordinal family only: report the change in P(y >= category) instead.

        Returns
        -------
        effect : ndarray of shape (n_samples,) or (n_samples, n_effects)
            Posterior mean effect. A Dask DataFrame ``X`` gives a Dask Series
            ``effect`` (a Dask DataFrame for several effects, or with intervals:
            columns ``effect``, ``lower``, ``upper``), computed partition by
            partition. Rows whose group was not in training get an
            effect drawn from the population model (``Z lambda`` plus sd_effect
            noise), so their intervals are wider. With more than one effect (a
            multi-arm treatment, several treatments) one column per effect: a
            DataFrame with the effect names as columns when ``X`` is a DataFrame.
        lower, upper : same shape as ``effect``
            Only with ``return_interval=True``.
        """
        posterior = self._fitted()
        prob = check_prob(prob)
        if is_partitioned(X):
            predict = functools.partial(self.predict_effect, return_interval=return_interval,
                                        prob=prob, scale=scale, category=category)  # fmt: skip
            return map_predictions(X, predict, list(posterior.effect_names),
                                   with_interval=return_interval)  # fmt: skip
        per_effect = [
            posterior.predict_effect(X, return_interval=return_interval, prob=prob, scale=scale,
                                     category=category, effect=k)
            for k in range(posterior.n_effects)
        ]  # fmt: skip
        return effects_by_column(per_effect, posterior.effect_names, X,
                                 with_interval=return_interval)  # fmt: skip

    def average_effect_draws(self, X=None, *, scale="response", category=None,
                             treatment=None) -> np.ndarray:  # fmt: skip
        """Posterior draws of the average treatment effect over the rows of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like, default=None
            Rows to average over; ``None`` averages over the training rows
            (each group weighted by its ``n``).
        scale, category
            As in :meth:`predict_effect`.
        treatment : str, default=None
            Which effect, when the model has more than one (an arm label or a
            treatment column; see ``effect_names_``).

        Returns
        -------
        draws : ndarray of shape (n_draws,)
            One average per posterior draw (chains stacked), so any summary of
            the average effect (mean, interval, probability of being positive)
            is exact up to Monte Carlo error.
        """
        posterior = self._fitted()
        return posterior.average_effect_draws(
            X, scale=scale, category=category, effect=posterior.effect_index(treatment)
        )

    def effect_draws(self, X, *, scale="response", category=None, treatment=None) -> np.ndarray:
        """Posterior draws of every row's treatment effect.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Rows with the columns seen in ``fit``.
        scale, category
            As in :meth:`predict_effect`.
        treatment : str, default=None
            Which effect, when the model has more than one.

        Returns
        -------
        draws : ndarray of shape (n_draws, n_samples)
            One row per posterior draw (chains stacked); the mean over draws is
            :meth:`predict_effect`. Any function of the effects (a ranking, a
            calibration slope) computed per draw carries the model's uncertainty.

        Examples
        --------
        >>> from sklearn_hier import HierarchicalHTE
        >>> from sklearn_hier.datasets import make_grouped_hte
        >>> d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
        >>> from sklearn_hier import NUTSSampler
        >>> fast = NUTSSampler(num_warmup=100, num_samples=100, num_chains=2)
        >>> est = HierarchicalHTE(modifiers=d.modifiers, sampler=fast, random_state=0)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # a short run, for the example only
        ...     _ = est.fit(d.X, d.y, treatment=d.treatment)
        >>> est.effect_draws(d.X[:5]).shape
        (200, 5)
        """
        posterior = self._fitted()
        return posterior.row_effect_draws(
            X, scale=scale, category=category, effect=posterior.effect_index(treatment)
        )

    def _average_effect(self, X, prob, effect: int = 0) -> tuple[float, float, float]:
        draws = self._fitted().average_effect_draws(X, effect=effect)
        if prob is None:
            return float(draws.mean()), np.nan, np.nan
        lower, upper = interval(draws, prob)
        return float(draws.mean()), float(lower), float(upper)

    def predict(self, X, treatment=None):
        """Posterior mean of the outcome for each row under the given treatment.

        The estimator is an outcome model too: ``predict(X, 1) - predict(X, 0)``
        is the effect of each row's group.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Modifiers and controls, as in ``fit``.
        treatment : array-like of shape (n_samples,), scalar, DataFrame or dict
            Treatment of each row, coded as in ``fit`` (0/1 or bool, the two
            labels when ``treated_value`` was given, an arm, a dose; other values
            are an error); a scalar applies to every row. Several treatment
            columns: a DataFrame, or a dict ``{column: value}`` whose values are
            scalars or one value per row (``{"arm": arms, "dose": 0.5}``).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Posterior mean of the outcome's expectation on the response scale
            (probability, count, expected category). Rows of groups unseen in
            training use the population model's intercept and effect.
        """
        require_metadata(who="HierarchicalHTE.predict", request=ESTIMATOR_REQUEST,
                         treatment=treatment)  # fmt: skip
        columns = treatment.items() if isinstance(treatment, Mapping) else ()
        check_aligned(X, treatment=treatment, **{f"treatment[{k!r}]": v for k, v in columns})
        return self._fitted().predict_outcome(X, treatment)

    def score(self, X, y, treatment=None, sample_weight=None):
        """R^2 of the predicted outcome: higher is better.

        The coefficient of determination of ``predict(X, treatment)`` against
        ``y``, as scikit-learn's regressors report. It measures the model as an
        outcome model; to choose among effect models use
        :func:`sklearn_hier.metrics.r_loss_scorer`, which scores the effects.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Modifiers and controls.
        y : array-like of shape (n_samples,)
            Observed outcome.
        treatment : array-like of shape (n_samples,)
            Observed treatment.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the R^2 (e.g. survey weights).

        Returns
        -------
        score : float
            ``1 - sum(w (y - y_pred)^2) / sum(w (y - mean_w(y))^2)``.
        """
        from sklearn.metrics import r2_score

        require_metadata(who="HierarchicalHTE.score", request=ESTIMATOR_REQUEST,
                         treatment=treatment)  # fmt: skip
        check_aligned(X, y=y, treatment=treatment, sample_weight=sample_weight)
        frame = self._fitted().frame(X)
        outcome = numeric_outcome(y, n_rows=frame.shape[0])
        # X's own labels were checked above; the frame of an array has new ones
        predicted = self._fitted().predict_outcome(frame, treatment)
        return float(r2_score(outcome, predicted, sample_weight=sample_weight))

    # -------------------------------------------------------------- reports
    def effect_by_group(self, prob=0.95, *, scale="response", category=None) -> pd.DataFrame:
        """The treatment effect in every group seen in training.

        Parameters
        ----------
        prob : float, default=0.95
            Mass of the equal-tailed credible interval.
        scale : {"response", "link"}, default="response"
            ``"response"``: each group's average over its rows of E[y | treated] -
            E[y | control] (what ``marginaleffects::avg_comparisons(by=group)``
            reports for brms); ``"link"``: the group's slope on the link scale.
        category : scalar, default=None
            Ordinal family only: effects on P(y >= category).

        Returns
        -------
        table : pandas.DataFrame
            One row per group: the modifier columns, ``n``, ``n_treated``, and the
            posterior ``mean``, ``median``, ``sd``, ``lower``, ``upper`` and
            ``prob_positive`` (posterior probability that the effect is positive).
            Groups with no treated or no control rows are estimated by pooling
            alone; ``n_treated`` shows which.
        """
        return self._fitted().effect_by_group(check_prob(prob), scale=scale, category=category)

    def heterogeneity_summary(
        self, prob=0.95, *, scale="response", category=None, treatment=None
    ) -> HeterogeneitySummary | dict:
        """How much the effect varies across groups, and which groups respond most and least.

        Parameters
        ----------
        prob : float, default=0.95
            Mass of the equal-tailed credible intervals.
        scale : {"response", "link"}, default="response"
            Scale of the group effects summarised (sd_effect and the
            unexplained share are always on the link scale, and say so).
        category : scalar, default=None
            Ordinal family only: summarise effects on P(y >= category).
        treatment : str, default=None
            With more than one effect: summarise this one only.

        Returns
        -------
        summary : HeterogeneitySummary, or dict of effect name -> HeterogeneitySummary
            Smallest, median and largest group effects, the sd of all draws,
            the between-group sd, sd_effect and the unexplained share of the
            effect's variance. ``print(summary)`` gives a readable report. A
            model with more than one effect gives one summary per effect (a
            dict) unless ``treatment`` names one.
        """
        posterior = self._fitted()
        prob = check_prob(prob)
        if posterior.n_effects > 1 and treatment is None:
            return {
                name: posterior.heterogeneity_summary(prob, scale=scale, category=category,
                                                      effect=k)
                for k, name in enumerate(posterior.effect_names)
            }  # fmt: skip
        return posterior.heterogeneity_summary(
            prob, scale=scale, category=category, effect=posterior.effect_index(treatment)
        )

    def coefficients(self, prob=0.95) -> pd.DataFrame:
        """Population-level effects: the note's Figure 1 and the rest of the fixed part.

        Parameters
        ----------
        prob : float, default=0.95
            Mass of the equal-tailed credible intervals.

        Returns
        -------
        table : pandas.DataFrame
            Indexed by term, with a ``role`` column: ``effect`` (the treatment
            effect when all group-level predictors are 0), ``lambda`` (treatment
            x group predictor), ``sd`` (``sd_effect[<treatment>]`` and
            ``sd_intercept``, named as in ``idata_``), ``correlation``,
            ``control`` (beta), ``intercept`` (the intercept and the group
            predictors' shifts of it) and ``residual`` (sigma); then
            ``mean``, ``median``, ``sd``, ``lower``, ``upper``, ``prob_positive``.
        """
        return self._fitted().coefficients(check_prob(prob))

    def compare_groups(self, a, b=None, *, prob=0.95, scale="response", category=None):
        """Posterior of the difference in effect between two groups (or many pairs).

        Parameters
        ----------
        a, b : dict of modifier -> level
            The two groups, e.g. ``{"white": 1, "male": 1, "intl": 5, "hawk": 1}``.
            For many pairs pass a list of ``(a, b)`` tuples as ``a`` and leave ``b``.
        prob : float, default=0.95
            Mass of the credible interval.
        scale, category
            As in :meth:`effect_by_group`.

        Returns
        -------
        table : pandas.DataFrame
            One row per pair: ``a`` and ``b`` (group labels), then the posterior
            ``mean``, ``median``, ``sd``, ``lower``, ``upper`` of effect(a) -
            effect(b), and ``prob_a_greater`` = P(effect(a) > effect(b)).

        Examples
        --------
        >>> from sklearn_hier import HierarchicalHTE
        >>> from sklearn_hier.datasets import load_tomz_weeks
        >>> df = load_tomz_weeks()
        >>> X = df[["white", "male", "intl", "regime", "stakes"]]
        >>> est = HierarchicalHTE(modifiers=["white", "male", "intl"], random_state=0)
        >>> est = est.fit(X, df["force"], treatment=df["alliance"])
        >>> diff = est.compare_groups({"white": 1, "male": 1, "intl": 5},
        ...                           {"white": 0, "male": 0, "intl": 1})
        >>> diff[["a", "b"]].values.tolist()
        [['white=1, male=1, intl=5', 'white=0, male=0, intl=1']]
        """
        return comparisons.compare_groups(
            self._fitted(), a, b, prob=check_prob(prob), scale=scale, category=category
        )

    def compare_arms(self, a, b, *, prob=0.95, scale="response", category=None):
        """Within every group, the effect of arm ``a`` against arm ``b`` (multi-arm treatments).

        Parameters
        ----------
        a, b : scalar
            Two arms (levels of the treatment, the reference arm included,
            matched by value as ``predict`` matches them: ``1`` and ``1.0`` are one
            arm) or two effect names (``effect_names_``).
        prob, scale, category
            As in :meth:`compare_groups`.

        Returns
        -------
        table : pandas.DataFrame
            One row per group: the modifiers and ``n``, ``a`` and ``b``, then the
            posterior ``mean``, ``median``, ``sd``, ``lower``, ``upper`` of
            effect(a) - effect(b) and ``prob_a_greater``.
        """
        return comparisons.compare_arms(
            self._fitted(), a, b, prob=check_prob(prob), scale=scale, category=category
        )

    def contrast(self, modifier, level, reference, *, prob=0.95, scale="response", category=None):
        """Effect at ``level`` minus effect at ``reference`` of one modifier, within every
        combination of the other modifiers (e.g. white vs non-white in each other group).

        Parameters
        ----------
        modifier : str
            The modifier to contrast along.
        level, reference : scalar
            Its two levels; the difference is effect(level) - effect(reference).
        prob, scale, category
            As in :meth:`compare_groups`.

        Returns
        -------
        table : pandas.DataFrame
            One row per combination of the other modifiers in which both groups
            were seen in training: those modifiers, then as :meth:`compare_groups`.
        """
        return comparisons.contrast(
            self._fitted(), modifier, level, reference, prob=check_prob(prob), scale=scale,
            category=category,
        )  # fmt: skip

    def population_effect(
        self, X=None, *, weights=None, population=None, by=None, prob=0.95, scale="response",
        return_draws=False,
    ):  # fmt: skip
        """Average treatment effect in a population: sample-weighted or poststratified.

        Parameters
        ----------
        X : pandas.DataFrame, default=None
            Rows to average over (e.g. the survey sample), with the modifiers
            (and, off the Gaussian family, the controls). ``None`` with no
            ``population`` uses the training groups weighted by their sizes.
        weights : array-like of shape (n_samples,) or column name, default=None
            Row weights (e.g. the survey's ``weight``); with ``X``.
        population : pandas.DataFrame, default=None
            Poststratification table: one row per group with its modifiers and a
            ``count`` column (population counts or shares). Groups not seen in
            training get effects drawn from the population model.
        by : str or list of str, default=None
            Also report the average within each level of these modifiers
            (sub-populations).
        prob : float, default=0.95
            Mass of the credible interval.
        scale : {"response", "link"}, default="response"
            As in :meth:`predict_effect`; poststratification tables carry no
            controls, so off the Gaussian family they use the link scale or
            each group's response-scale effect over its training rows.
        return_draws : bool, default=False
            Also return the draws (n_draws, n_rows of the table).

        Returns
        -------
        table : pandas.DataFrame
            The population row first (``by`` columns empty), then one row per
            level of ``by``: ``weight`` (total), ``mean``, ``median``, ``sd``,
            ``lower``, ``upper``, ``prob_positive``.
        draws : ndarray
            Only with ``return_draws=True``.
        """
        return comparisons.population_effect(
            self._fitted(), X, weights=weights, population=population, by=by,
            prob=check_prob(prob), scale=scale, return_draws=return_draws,
        )  # fmt: skip

    # ----------------------------------------------------------- persistence
    def inference_data(self, X, y, treatment, *, posterior_predictive=False):
        """The fit's ArviZ ``DataTree`` with the rows' ``observed_data`` and per-row
        ``log_likelihood``: what ``arviz_stats.loo``, ``compare`` and ``loo_pit`` read.

        A fit keeps per-group draws, so the per-row log-likelihoods take one more pass
        over the rows (block by block; an error says so when rows x draws would not fit
        in memory). Pass the training rows for PSIS-LOO; every row is its own unit, so
        models with different groupings compare on the same units.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            The rows, with the columns fit saw.
        y : array-like of shape (n_samples,)
            Their outcomes (an ordinal outcome's categories as in fit).
        treatment : array-like or DataFrame
            Their treatment, coded as in fit.
        posterior_predictive : bool, default=False
            Also draw one replicated outcome per row and posterior draw (the group
            ``posterior_predictive``, which posterior predictive checks and
            ``arviz_stats.loo_pit`` read), seeded by the fit. An ordinal outcome is
            coded 0..K-1 in order of ``categories_``, as in ``observed_data``.

        Returns
        -------
        idata : xarray.DataTree
            A copy of ``idata_`` with ``observed_data`` (``y`` on dimension ``obs``)
            and ``log_likelihood`` (``y`` on ``chain``, ``draw``, ``obs``), and
            ``posterior_predictive`` when asked for.

        Examples
        --------
        >>> import arviz_stats
        >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
        >>> from sklearn_hier.datasets import make_grouped_hte
        >>> d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
        >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=2)
        >>> est = HierarchicalHTE(modifiers=d.modifiers, sampler=short, random_state=0)
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # short chains may warn
        ...     est = est.fit(d.X, d.y, treatment=d.treatment)
        >>> loo = arviz_stats.loo(est.inference_data(d.X, d.y, d.treatment))
        >>> int(loo.n_data_points), bool((loo.pareto_k < 0.7).all())
        (300, True)
        """
        posterior = self._fitted()
        if is_partitioned(X):
            raise TypeError(
                "inference_data needs the rows in memory (a pandas DataFrame or array); "
                "pass a random sample of the partitions' rows, e.g. ddf.sample(frac=...)."
                "compute()."
            )
        return with_observations(posterior, X, y, treatment,
                                 predictive=posterior_predictive, seed=posterior.seed)  # fmt: skip

    def sample_prior(self, X, y, treatment=None, *, n_draws=1000):
        """Draw from the model's priors before fitting: the prior predictive check.

        The model is set up on these rows as ``fit`` would set it up (groups, controls,
        prior scales, a dose's units), and every parameter is drawn from its prior by
        NumPyro's ``Predictive``, without the outcome; then one outcome per row and
        draw. ``prior`` answers "what effects do my priors allow?" (for example
        ``prior_sd_scale`` on an outcome between 0 and 1) and ``prior_predictive`` "what
        data would they generate?". Nothing is fitted: the estimator is unchanged.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            The rows, as for ``fit``.
        y : array-like of shape (n_samples,)
            The outcome, as for ``fit``: it sets what the priors are relative to (an
            ordinal outcome's categories) and is kept as ``observed_data`` to compare
            with; it does not inform the draws.
        treatment : array-like or DataFrame
            The treatment, as for ``fit``.
        n_draws : int, default=1000
            Draws from the priors.

        Returns
        -------
        idata : xarray.DataTree
            Groups ``prior`` (the quantities ``idata_.posterior`` holds after a fit:
            ``group_effect``, ``b_treatment``, ``lambda``, ``sd_effect``... and, off the
            Gaussian family, ``group_effect_response``), ``prior_predictive`` (``y`` on
            ``chain``, ``draw``, ``obs``; an ordinal outcome as category codes),
            ``observed_data`` and ``constant_data``.

        Examples
        --------
        >>> from sklearn_hier import HierarchicalHTE
        >>> from sklearn_hier.datasets import make_grouped_hte
        >>> d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
        >>> est = HierarchicalHTE(modifiers=d.modifiers, prior_sd_scale=0.5, random_state=0)
        >>> prior = est.sample_prior(d.X, d.y, d.treatment, n_draws=400)
        >>> sorted(prior.children)
        ['constant_data', 'observed_data', 'prior', 'prior_predictive']
        >>> prior.prior["group_effect"].sizes["group"], prior.prior_predictive["y"].shape
        (4, (1, 400, 300))
        """
        if is_partitioned(X, y, treatment):
            raise TypeError(
                "sample_prior needs the rows in memory; pass a sample of the partitions' "
                "rows, e.g. ddf.sample(frac=...).compute()."
            )
        if not isinstance(n_draws, Integral) or n_draws < 1:
            raise ValueError(f"n_draws must be a positive integer; got {n_draws!r}.")
        self._validate_params()
        params = resolve_sampler(self.get_params(deep=False), stacklevel=3)
        spec = ModelSpec.from_params(params)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        prepared = prepare(spec, X, y, treatment, seed=seed)
        draws = sample_prior(prepared.sizes, prepared.data, spec.priors, n_draws=int(n_draws),
                             seed=seed)  # fmt: skip
        prior = posterior_from_draws(params, spec, prepared, draws, seed=seed)
        return prior_tree(prior, X, y, treatment, seed=seed)

    @classmethod
    def from_formula(cls, formula: str, data, *, family: str = "gaussian", treatment=None,
                     **params):  # fmt: skip
        """An estimator, and the ``X``, ``y`` and treatment, from a brms formula.

        Parameters
        ----------
        formula : str
            A brms formula of the note's forms (see :mod:`sklearn_hier.formula`):
            ``y ~ 1 + controls + t * (z1 + z2) + (1 + t | g1:g2)``, the additive
            ``(1 + t | v1) + (1 + t | v2)``, several treatments ``(1 + t1 + t2 | g)``,
            varying intercepts only ``(1 | g)``, ``y | trials(n)`` for the binomial.
            ``factor(arm)`` or a text column is a multi-arm treatment, a 0/1 column a
            binary one, other numbers a dose. A term the model cannot express is an error
            naming it.
        data : pandas.DataFrame
            The formula's columns.
        family : str, default="gaussian"
            brms's family name (``"cumulative"`` for ordered outcomes) or the estimator's.
        treatment : str or list of str, optional
            The treatment column(s) when no group term has a slope (``(1 | g)``).
        **params
            Other parameters of the estimator (priors, sampler, random_state...).

        Returns
        -------
        model : FormulaModel
            ``(estimator, X, y, treatment)``: fit with ``estimator.fit(X, y, treatment)``.
            The estimator is a plain :class:`HierarchicalHTE`, so grid searches and
            pipelines treat it as any other.

        Examples
        --------
        >>> import warnings
        >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
        >>> from sklearn_hier.datasets import load_tomz_weeks
        >>> df = load_tomz_weeks()
        >>> f = ("force ~ 1 + regime + stakes + costs + region + alliance * (white + male"
        ...      " + intl + hawk) + (1 + alliance | white:male:intl:hawk)")
        >>> short = NUTSSampler(num_warmup=200, num_samples=200, num_chains=2)
        >>> est, X, y, t = HierarchicalHTE.from_formula(f, df, sampler=short, random_state=0)
        >>> est.modifiers, est.structure
        (['white', 'male', 'intl', 'hawk'], 'nested')
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")  # short chains may warn
        ...     est = est.fit(X, y, treatment=t)
        >>> est.formula_ == f
        True
        """
        from .formula import FormulaModel, estimator_params, model_frame, parse_formula

        terms = parse_formula(formula, treatment=treatment)
        implied = estimator_params(terms, family)
        clash = sorted(k for k in implied if k in params and k != "family")
        if clash:
            raise ValueError(f"the formula sets {clash}; do not pass them as well.")
        X, y, t = model_frame(terms, data)
        return FormulaModel(cls(**implied, **params), X, y, t)

    @property
    def formula_(self) -> str:
        """The fitted model as a brms formula (however it was built)."""
        check_is_fitted(self, "posterior_")
        from .formula import fitted_formula

        return fitted_formula(self)

    def to_brms(self, *, data: str = "data", chains=None, iter=None) -> str:  # noqa: A002
        """R code that fits the same model with brms: the formula, the family and every
        prior at the scale resolved at fit (a dose's per unit of its spread), the LKJ
        included; comments say where the model here differs from what brms can write.

        Parameters
        ----------
        data : str, default="data"
            The R data frame's name.
        chains, iter : int, optional
            brms's sampler settings, written if given.

        Returns
        -------
        code : str
        """
        check_is_fitted(self, "posterior_")
        from .formula import brms_call

        return brms_call(self, data=data, chains=chains, iter=iter)

    def save(self, path) -> None:
        """Save the fitted model to ``path`` as plain data (netCDF), never as code.

        The file holds the posterior (ArviZ netCDF, readable by
        ``xarray.open_datatree``), the parameters, the learned design (levels,
        bin edges, column names) and a format version; :meth:`load` reads it
        back. Pickle works too, for those who prefer it.

        Parameters
        ----------
        path : str or path-like
            File to write (conventionally ``*.nc``).
        """
        save_model(self._fitted(), path)

    @classmethod
    def load(cls, path) -> "HierarchicalHTE":
        """Load a model written by :meth:`save`.

        Raises ``ValueError`` for a file that is not a saved model, comes from an
        incompatible version, or was changed after saving.

        Examples
        --------
        >>> import tempfile, os
        >>> from sklearn_hier import HierarchicalHTE
        >>> from sklearn_hier.datasets import load_tomz_weeks
        >>> df = load_tomz_weeks()
        >>> X = df[["white", "male", "intl", "regime", "stakes"]]
        >>> est = HierarchicalHTE(modifiers=["white", "male", "intl"], random_state=0)
        >>> est = est.fit(X, df["force"], treatment=df["alliance"])
        >>> path = os.path.join(tempfile.mkdtemp(), "model.nc")
        >>> est.save(path)
        >>> HierarchicalHTE.load(path).effect_by_group().equals(est.effect_by_group())
        True
        """
        posterior = load_model(path, cls().get_params(deep=False))
        est = cls(**posterior.params)
        est._set_fitted(posterior)
        return est

    def diagnostics(self) -> pd.DataFrame:
        """Convergence table of the key parameters: worst R-hat, lowest bulk and tail ESS.

        Returns
        -------
        table : pandas.DataFrame
            One row per key parameter, plus the sampler's divergences and
            tree-depth hits in ``attrs``.
        """
        posterior = self._fitted()
        table = posterior.diagnostics.copy()
        if posterior.spec.inference == "svi":  # no sampler statistics: the final ELBO loss
            return table
        stats = posterior.idata.sample_stats
        table.attrs["divergences"] = int(stats["diverging"].values.sum())
        table.attrs["max_treedepth_hits"] = int(stats["reached_max_treedepth"].values.sum())
        return table
