"""HierarchicalHTE: heterogeneous treatment effects from a Bayesian varying-slopes model."""

import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._centring import centred_groups
from ._collapsed import additive_normal_equations
from ._design import MANY_GROUPS, Design
from ._effect_vocabulary import EffectVocabularyMixin
from ._families import (
    FAMILIES,
    LINKS,
    RESPONSE_SCALE,
    check_outcome,
    family_data,
    ordinal_levels,
    response_mean,
)
from ._inference import UNREGULARIZED_MASS_ROWS, SamplerSettings, run_nuts
from ._memory import check_fit_memory
from ._model import ModelSizes
from ._persistence import load_model, save_model
from ._posterior import CoefficientLayout, build_inference_data, flat
from ._reporting import ReportingMixin
from ._statistics import (
    RowDesign,
    gaussian_cell_statistics,
    gaussian_row_data,
    pad_groups,
    padded_group_count,
    start_centred,
)
from ._summary import HeterogeneitySummary, check_prob, heterogeneity, interval, summarize
from ._validation import (
    as_frame,
    binary_treatment,
    check_no_missing,
    column_vector,
    find_columns,
    frame_as_in_fit,
    numeric_outcome,
    treatment_for_rows,
)
from ._variational import FULL_RANK_MAX_GROUPS, SVISettings, converged, run_svi
from .diagnostics import SamplingWarning, check_sampling


def _is_count(value) -> bool:
    return isinstance(value, Integral | Real) and not isinstance(value, bool)


#: warmup_max_tree_depth="auto" for the nested structure (see its docstring).
NESTED_WARMUP_TREE_DEPTH = 7

#: Parameters whose convergence decides whether a fit is trustworthy.
#: NUTS target acceptance for the marginal model: without the offsets the
#: variance parameters' posterior has no funnel, and at Stan's default 0.8 the
#: nested model takes about half the leapfrog steps of 0.95 with no divergences.
#: The additive model's few-level modifiers leave their sds weakly identified
#: (long tails): 0.9 there.
MARGINAL_TARGET_ACCEPT = {"nested": 0.8, "additive": 0.9}

KEY_PARAMETERS = (
    "b_treatment", "lambda", "sd_effect", "sd_intercept", "sigma", "cutpoints", "group_effect"
)  # fmt: skip


@dataclass
class _Prepared:
    """What fit hands the sampler, and keeps for its outputs."""

    rows: RowDesign
    design: Design
    xbar: np.ndarray
    data: dict
    sizes: ModelSizes
    n: np.ndarray
    n_treated: np.ndarray
    exposure: np.ndarray | None


class HierarchicalHTE(ReportingMixin, EffectVocabularyMixin, BaseEstimator):
    """Heterogeneous treatment effects from a Bayesian hierarchical (varying-slopes) model.

    Rows are divided into groups, one per unique combination of the
    ``modifiers``' values. Each group g gets its own intercept alpha_g and
    treatment effect theta_g, drawn from a common bivariate normal with an LKJ
    prior on their correlation. The means of both are linear in group-level
    predictors Z (by default the modifiers themselves), so
    ``theta_g = b_treatment + Z_g . lambda + u_g`` with ``u_g ~ Normal(0, sigma_theta)``.
    Every other column of ``X`` is a control with a fixed coefficient. The
    posterior is sampled with NUTS (NumPyro) and kept as ArviZ ``InferenceData``.

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
    family : {"gaussian", "bernoulli", "binomial", "poisson", "ordinal"}, default="gaussian"
        Outcome likelihood: normal (identity link), Bernoulli or binomial
        (logit link), Poisson (log link) or cumulative logit for ordered
        categories. Effects are reported on the response scale by default
        (see ``effect_by_group``); rows with identical predictors are collapsed
        into exact binomial, Poisson or multinomial cells before sampling.
    trials : int or column name, default=None
        Binomial family: the number of trials, one number for all rows or a
        column of ``X`` (which is then not a control).
    exposure : column name, default=None
        Poisson family: a column of ``X`` with each row's exposure (the rate is
        ``exposure * exp(eta)``); it is then not a control.
    treated_value : scalar, default=None
        For a treatment with two values other than 0/1 (e.g. "ally"/"none"),
        the value that means treated.
    prior_intercept_scale : float, default=1.0
        Scale of the normal prior on the intercept, which (as in brms) is the
        expected outcome at the mean of the population-level columns.
    prior_coef_scale : float, default=0.5
        Scale of the normal prior on every population-level coefficient: the
        controls, the treatment effect and each lambda.
    prior_sd_scale : float, default=1.0
        Scale of the half-normal prior on the group-level standard deviations
        (sigma_alpha and sigma_theta).
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
    marginalize : bool, default=True
        Gaussian family with ``reduce_data``: integrate the intercept, the
        coefficients and the group offsets out analytically (the model is
        linear-Gaussian given the variance parameters), sample only the group
        sds, their correlation and sigma with NUTS, and complete each draw with
        an exact draw of the rest from its conditional normal. The posterior
        is the same as sampling everything jointly, at a few leapfrog steps per
        draw whatever the number of rows or groups. ``False`` samples all
        parameters jointly, as brms does (``parameterization`` then applies).
        Ignored for other families and for ``inference="svi"``.
    num_warmup, num_samples, num_chains : int, default=1000, 1000, 4
        NUTS warm-up iterations, kept draws per chain, and chains.
    target_accept : float, default=None
        NUTS target acceptance probability (Stan's ``adapt_delta``); higher
        values take smaller steps and avoid divergences. ``None`` uses 0.8
        (Stan's default) for the nested structure and 0.9 for the additive one
        when the linear parameters are marginalized: the variance parameters
        alone have no funnel to guard against. Sampling
        jointly it uses 0.95 (the note's setting) for the nested structure and
        0.99 for the additive one, whose few-level modifiers make a harder
        posterior.
    max_tree_depth : int, default=10
        Maximum NUTS tree depth of the kept draws.
    warmup_max_tree_depth : int, "auto" or None, default="auto"
        Maximum NUTS tree depth during warm-up. Early in warm-up the mass
        matrix is still the identity, and unbounded trajectories run to the
        full depth (1,023 leapfrog steps) for dozens of iterations: half of a
        small fit's cost. ``"auto"`` caps warm-up at depth 7 (127 steps) for the
        nested structure, whose adapted draws need 31-63 steps, and leaves
        the additive structure, whose draws need 100-200, at
        ``max_tree_depth``. The kept draws always use ``max_tree_depth``;
        ``None`` uses it throughout, as Stan does.
    dense_mass : bool, default=False
        Adapt a dense rather than diagonal mass matrix.
    chain_method : {"parallel", "vectorized"}, default="parallel"
        ``"parallel"`` runs chains in threads, one per CPU core (fastest on
        CPUs); ``"vectorized"`` batches them into one program (best on GPUs).
    progress_bar : bool, default=False
        Show a progress bar while sampling.
    parameterization : {"auto", "centered", "noncentered"}, default="auto"
        How the nested structure's group offsets are sampled when they are
        sampled (``marginalize=False``, or a non-Gaussian family). Non-centred
        (a standard normal, scaled) suits groups whose data say little, the
        usual survey case; centred suits groups with thousands of rows, where
        the non-centred form needs hundreds of leapfrog steps per draw.
        ``"auto"`` (Gaussian family) centres each group whose treated-control
        difference has a standard error below half the between-group spread
        of effects that the group-level predictors leave unexplained (a
        moment estimate of sigma_theta from the groups' raw effects), or below
        0.02 x ``prior_sd_scale``, and leaves the others non-centred. The
        posterior is the same; only the sampler's efficiency changes.
    inference : {"nuts", "svi"}, default="nuts"
        ``"nuts"`` samples the exact posterior. ``"svi"`` fits a multivariate
        normal approximation by stochastic variational inference and draws
        ``num_chains * num_samples`` values from it: much faster with thousands
        of groups, with group-effect means close to NUTS, but the scale
        parameters' uncertainty (and so interval widths) can be understated.
        No R-hat or ESS exist for it; a ``SamplingWarning`` says when the
        optimisation had not converged.
    svi_steps : int, default=10000
        Optimisation steps for ``inference="svi"``.
    svi_guide : {"auto", "mvn", "lowrank"}, default="auto"
        Normal approximation with a full covariance (``"mvn"``: closest to
        NUTS, but (2 x groups)^2 parameters) or a low-rank plus diagonal one
        (``"lowrank"``: scales to thousands of groups, coarser). ``"auto"``
        uses the full one up to 200 groups.
    svi_learning_rate : float, default=0.01
        Adam step size for ``inference="svi"``.
    random_state : int, RandomState instance or None, default=None
        Seed of the sampler. An int makes fits reproducible.

    Attributes
    ----------
    idata_ : arviz.InferenceData
        Posterior draws with labelled coordinates (``group``, ``control``,
        ``group_predictor``) and sampler statistics.
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
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit, when they are all strings.
    fit_seconds_ : float
        Wall time of the last fit.
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
        "family": [StrOptions(set(FAMILIES))],
        "trials": "no_validation",  # a count, or a column name of any type
        "exposure": "no_validation",
        "prior_cutpoint_scale": [Interval(Real, 0, None, closed="neither")],
        "treated_value": "no_validation",
        "prior_intercept_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_coef_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_sd_scale": [Interval(Real, 0, None, closed="neither")],
        "prior_sigma_scale": [Interval(Real, 0, None, closed="neither")],
        "lkj_concentration": [Interval(Real, 0, None, closed="neither")],
        "reduce_data": ["boolean"],
        "marginalize": ["boolean"],
        "num_warmup": [Interval(Integral, 1, None, closed="left")],
        "num_samples": [Interval(Integral, 1, None, closed="left")],
        "num_chains": [Interval(Integral, 1, None, closed="left")],
        "target_accept": [Interval(Real, 0, 1, closed="neither"), None],
        "max_tree_depth": [Interval(Integral, 1, 20, closed="both")],
        "warmup_max_tree_depth": [
            Interval(Integral, 1, 20, closed="both"),
            StrOptions({"auto"}),
            None,
        ],  # fmt: skip
        "dense_mass": ["boolean"],
        "chain_method": [StrOptions({"parallel", "vectorized"})],
        "progress_bar": ["boolean"],
        "parameterization": [StrOptions({"auto", "centered", "noncentered"})],
        "inference": [StrOptions({"nuts", "svi"})],
        "svi_steps": [Interval(Integral, 10, None, closed="left")],
        "svi_guide": [StrOptions({"auto", "mvn", "lowrank"})],
        "svi_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        modifiers=(),
        group_predictors="modifiers",
        bins=None,
        structure="nested",
        family="gaussian",
        trials=None,
        exposure=None,
        treated_value=None,
        prior_intercept_scale=1.0,
        prior_coef_scale=0.5,
        prior_sd_scale=1.0,
        prior_sigma_scale=1.0,
        lkj_concentration=1.0,
        prior_cutpoint_scale=2.5,
        reduce_data=True,
        marginalize=True,
        num_warmup=1000,
        num_samples=1000,
        num_chains=4,
        target_accept=None,
        max_tree_depth=10,
        warmup_max_tree_depth="auto",
        dense_mass=False,
        chain_method="parallel",
        progress_bar=False,
        parameterization="auto",
        inference="nuts",
        svi_steps=10_000,
        svi_guide="auto",
        svi_learning_rate=0.01,
        random_state=None,
    ):
        self.modifiers = modifiers
        self.group_predictors = group_predictors
        self.bins = bins
        self.structure = structure
        self.family = family
        self.trials = trials
        self.exposure = exposure
        self.treated_value = treated_value
        self.prior_intercept_scale = prior_intercept_scale
        self.prior_coef_scale = prior_coef_scale
        self.prior_sd_scale = prior_sd_scale
        self.prior_sigma_scale = prior_sigma_scale
        self.lkj_concentration = lkj_concentration
        self.prior_cutpoint_scale = prior_cutpoint_scale
        self.reduce_data = reduce_data
        self.marginalize = marginalize
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.num_chains = num_chains
        self.target_accept = target_accept
        self.max_tree_depth = max_tree_depth
        self.warmup_max_tree_depth = warmup_max_tree_depth
        self.dense_mass = dense_mass
        self.chain_method = chain_method
        self.progress_bar = progress_bar
        self.parameterization = parameterization
        self.inference = inference
        self.svi_steps = svi_steps
        self.svi_guide = svi_guide
        self.svi_learning_rate = svi_learning_rate
        self.random_state = random_state

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
        treatment : array-like of shape (n_samples,)
            Binary treatment (0/1 or bool; see ``treated_value`` otherwise).

        Returns
        -------
        self : HierarchicalHTE
            The fitted estimator.
        """
        started = time.perf_counter()
        prepared = self._prepare(X, y, treatment)
        sizes, data, n_rows = prepared.sizes, prepared.data, prepared.rows.n_rows
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if self.inference == "svi":
            result = self._run_svi(sizes, data, seed)
        else:
            result = self._sample(sizes, data, self._priors(), n_rows=n_rows, seed=seed)
        design, n, n_treated = prepared.design, prepared.n, prepared.n_treated
        self.design_ = design
        self.idata_ = build_inference_data(
            result,
            design=design,
            layout=CoefficientLayout(len(design.control_names), len(design.predictor_names)),
            xbar=prepared.xbar,
            level_dims=sizes.level_dims,
            group_counts=(n, n_treated),
        )
        self.groups_ = design.groups[design.modifier_names].assign(n=n, n_treated=n_treated)
        self.n_groups_ = design.n_groups
        self.bin_edges_ = {m.name: m.edges for m in design.modifiers if m.kind == "binned"}
        self.seed_ = seed
        if self.family != "gaussian":  # response scale = link scale for the Gaussian
            self._patterns = self._row_patterns(
                prepared.rows.controls, prepared.rows.group, prepared.exposure
            )
            self.idata_.posterior["group_effect_response"] = (
                ("chain", "draw", "group"),
                self._group_response_draws().reshape(
                    self.idata_.posterior.sizes["chain"], self.idata_.posterior.sizes["draw"], -1
                ),
            )
        if self.inference == "svi":
            self.diagnostics_ = self._svi_diagnostics()
        else:
            self.diagnostics_ = check_sampling(
                self.idata_, KEY_PARAMETERS, max_tree_depth=self.max_tree_depth, stacklevel=4
            )
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _prepare(self, X, y, treatment) -> "_Prepared":
        """Validate the input, learn the design and reduce the data: all of fit but sampling."""
        frame = as_frame(X)
        n_rows = frame.shape[0]
        self.n_features_in_ = frame.shape[1]
        if all(isinstance(c, str) for c in frame.columns):
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        treat = binary_treatment(treatment, n_rows=n_rows, treated_value=self.treated_value)
        trials, exposure = self._trials_and_exposure(frame)
        outcome = self._outcome(y, n_rows, trials)
        frame = frame.drop(columns=self._auxiliary_columns())
        self.treatment_name_ = (
            str(treatment.name)
            if isinstance(treatment, pd.Series) and treatment.name is not None
            else "treatment"
        )
        design, row_group = Design.learn(
            frame,
            modifiers=self.modifiers,
            group_predictors=self.group_predictors,
            bins=self.bins,
        )
        if design.n_groups > MANY_GROUPS:
            raise ValueError(
                f"the modifiers define {design.n_groups} groups, more than the {MANY_GROUPS} "
                "this sampler handles well; bin continuous modifiers (bins={...}) or use "
                "fewer modifiers."
            )
        check_fit_memory(
            n_rows=n_rows,
            n_coef=len(design.control_names) + 2 * len(design.predictor_names) + 1,
            n_groups=design.n_groups,
            n_draws=int(self.num_samples) * int(self.num_chains),
            row_level=not (self.family == "gaussian" and self.reduce_data),
        )
        controls = design.control_matrix(frame)
        self._reject_treatment_as_control(design, controls, treat)
        if self.family == "gaussian":
            self._warn_prior_scale(outcome)

        rows = RowDesign(controls, design.Z, row_group, treat, outcome)
        xbar = rows.column_means()
        if self.family != "gaussian":
            data = family_data(
                self.family, rows.columns(slice(None)) - xbar, row_group, treat, outcome,
                trials=trials, exposure=exposure, n_categories=len(self._categories()),
                collapse=self.reduce_data,
            )  # fmt: skip
            likelihood = "cells"
        elif self.reduce_data:
            data = gaussian_cell_statistics(rows)
            likelihood = "gaussian_marginal" if self._marginalized() else "gaussian_cells"
        else:
            data = gaussian_row_data(rows)
            likelihood = "gaussian_rows"
        level_dims = ()
        n = rows.group_counts.astype(np.int64)
        n_treated = rows.treated_counts.astype(np.int64)
        start = {k: data.pop(k) for k in ("group_start", "group_start_se") if k in data}
        if self.structure == "nested" and likelihood != "gaussian_marginal":
            # the groups' raw effects: least-squares cell estimates, or arm means
            effect = start["group_start"][:, 1] if start else np.diff(rows.arm_means())[:, 0]
            centered = self._centered_groups(n, n_treated, outcome, effect, design.Z)
            if centered.any():  # else the cheaper all-non-centred model
                data.update(centered=centered, Z=design.Z, xbar=xbar)
                if start:
                    data.update(start_centred(start, centered))
        if self.structure == "additive":
            data["level_codes"] = design.level_codes_of(design.groups).astype(np.int32)
            bases = design.level_bases()
            for k, basis in enumerate(bases):
                data[f"level_basis_{k}"] = basis
            level_dims = tuple(basis.shape for basis in bases)
        n_padded = padded_group_count(design.n_groups)
        data = pad_groups(data, design.n_groups, n_padded)
        if likelihood == "gaussian_marginal" and self.structure == "additive":
            data.update(additive_normal_equations(data, level_dims))
        sizes = ModelSizes(
            structure=self.structure,
            likelihood=likelihood,
            n_groups=n_padded,
            n_coef=rows.n_coef,
            level_dims=level_dims,
            family=self.family,
            n_categories=len(self._categories()) if self.family == "ordinal" else 0,
        )
        return _Prepared(
            rows=rows, design=design, xbar=xbar, data=data, sizes=sizes, n=n,
            n_treated=n_treated, exposure=exposure,
        )  # fmt: skip

    def _sample(self, sizes, data, priors, *, n_rows: int, seed: int):
        """NUTS with this estimator's sampler settings (shared by fit and fast CV refits)."""
        settings = SamplerSettings(
            num_warmup=int(self.num_warmup),
            num_samples=int(self.num_samples),
            max_tree_depth=int(self.max_tree_depth),
            warmup_max_tree_depth=self._warmup_tree_depth(),
            dense_mass=bool(self.dense_mass),
            regularize_mass_matrix=n_rows < UNREGULARIZED_MASS_ROWS,
            vectorized=self.chain_method == "vectorized",
            progress_bar=bool(self.progress_bar),
        )
        return run_nuts(
            sizes,
            settings,
            data,
            priors,
            num_chains=int(self.num_chains),
            target_accept=self._target_accept(),
            seed=seed,
        )

    def _run_svi(self, sizes, data, seed):
        priors = self._priors()
        guide = self.svi_guide
        if guide == "auto":
            guide = "mvn" if sizes.n_groups <= FULL_RANK_MAX_GROUPS else "lowrank"
        settings = SVISettings(
            num_steps=int(self.svi_steps),
            guide=guide,
            rank=None,
            learning_rate=float(self.svi_learning_rate),
            num_draws=int(self.num_samples) * int(self.num_chains),
        )
        result, self.svi_losses_ = run_svi(
            sizes, settings, data, priors, num_chains=int(self.num_chains), seed=seed
        )
        return result

    def _svi_diagnostics(self) -> pd.DataFrame:
        losses = self.svi_losses_
        if not converged(losses):
            warnings.warn(
                f"variational inference had not converged after {losses.size} steps (the loss "
                "was still falling, or is not finite). Try more svi_steps, a smaller "
                "svi_learning_rate, or inference='nuts'.",
                SamplingWarning,
                stacklevel=4,
            )
        tenth = max(1, losses.size // 10)
        return pd.DataFrame(
            {"final_loss": [float(losses[-tenth:].mean())], "steps": [losses.size]},
            index=pd.Index(["svi"], name="parameter"),
        )

    def _centered_groups(self, n, m, outcome, effect, Z) -> np.ndarray:
        """1 for the groups (``n`` rows, ``m`` treated) sampled centred, 0 for non-centred."""
        if self.parameterization == "centered":
            return np.ones(n.shape)  # the padding groups added later stay non-centred
        if self.parameterization == "noncentered" or self.family != "gaussian":
            return np.zeros(n.shape)
        return centred_groups(
            n, m, effect, Z, outcome_sd=float(outcome.std()),
            prior_sd_scale=float(self.prior_sd_scale),
        )  # fmt: skip

    def _marginalized(self) -> bool:
        """Whether NUTS samples the variance parameters alone (Gaussian, reduced, NUTS)."""
        return (
            self.family == "gaussian"
            and self.reduce_data
            and self.marginalize
            and self.inference == "nuts"
        )

    def _warmup_tree_depth(self) -> int:
        depth = self.warmup_max_tree_depth
        if depth == "auto" and self.structure == "nested":
            return min(NESTED_WARMUP_TREE_DEPTH, int(self.max_tree_depth))
        return int(self.max_tree_depth if depth in ("auto", None) else depth)

    def _target_accept(self) -> float:
        if self.target_accept is not None:
            return float(self.target_accept)
        if self._marginalized():
            return MARGINAL_TARGET_ACCEPT[self.structure]
        return 0.99 if self.structure == "additive" else 0.95

    def _priors(self) -> dict:
        return {
            "intercept": float(self.prior_intercept_scale),
            "coef": float(self.prior_coef_scale),
            "sd": float(self.prior_sd_scale),
            "sigma": float(self.prior_sigma_scale),
            "lkj": float(self.lkj_concentration),
            # power of the likelihood in the marginal model: 1 in fit; cross-validation's
            # importance-sampling proposal uses the share of rows in a training fold
            "temper": 1.0,
            "cutpoint": float(self.prior_cutpoint_scale),
        }

    # ------------------------------------------------------------ families
    def _auxiliary_columns(self) -> list:
        """Columns of X that describe the outcome (trials, exposure), not predictors."""
        return [c for c in (self.trials, self.exposure) if c is not None and not _is_count(c)]

    def _trials_and_exposure(self, frame: pd.DataFrame):
        trials = exposure = None
        if self.trials is not None and self.family != "binomial":
            raise ValueError(f"trials is for family='binomial'; family is {self.family!r}.")
        if self.exposure is not None and self.family != "poisson":
            raise ValueError(f"exposure is for family='poisson'; family is {self.family!r}.")
        if self.family == "binomial":
            if self.trials is None:
                raise ValueError(
                    "family='binomial' needs trials: a column of X with each row's number of "
                    "trials, or one number for all rows (trials=10)."
                )
            trials = self._positive_column(frame, self.trials, "trials")
        if self.exposure is not None:
            exposure = self._positive_column(frame, self.exposure, "exposure")
        return trials, exposure

    @staticmethod
    def _positive_column(frame, spec, name) -> np.ndarray:
        if _is_count(spec):
            values = np.full(frame.shape[0], float(spec))
        else:
            find_columns(frame, [spec], param=name)
            check_no_missing(frame, [spec], what=name)
            values = frame[spec].to_numpy(dtype=float)
        if (values <= 0).any():
            raise ValueError(f"{name} must be positive in every row; found {values.min():g}.")
        if name == "trials" and not np.all(np.mod(values, 1) == 0):
            raise ValueError("trials must be whole numbers.")
        return values

    def _outcome(self, y, n_rows: int, trials) -> np.ndarray:
        if self.family == "ordinal":
            codes, self.categories_ = ordinal_levels(column_vector(y, name="y", n_rows=n_rows))
            return codes.astype(np.float64)
        return check_outcome(self.family, numeric_outcome(y, n_rows=n_rows), trials)

    def _categories(self) -> list:
        return getattr(self, "categories_", [])

    def _row_patterns(self, controls, row_group, exposure) -> dict:
        """Distinct (group, controls, exposure) rows of the training data, with counts.

        The linear predictor without treatment depends on a row only through
        these, so response-scale group averages are computed once per pattern.
        """
        parts = [row_group[:, None], controls]
        if exposure is not None:
            parts.append(exposure[:, None])
        unique, counts = np.unique(np.hstack(parts), axis=0, return_counts=True)
        order = np.argsort(unique[:, 0], kind="stable")
        unique, counts = unique[order], counts[order]
        return {
            "group": unique[:, 0].astype(np.int64),
            "controls": unique[:, 1 : 1 + controls.shape[1]],
            "exposure": unique[:, -1] if exposure is not None else None,
            "weight": counts.astype(float),
        }

    def _response_effect_draws(
        self, intercepts, effects, controls, exposure, category=None
    ) -> np.ndarray:
        """(S, n) response-scale effects h(eta0 + theta) - h(eta0) of rows with these inputs."""
        eta0 = intercepts + (controls @ flat(self.idata_, "b_control").T).T
        treated = self._response_mean(eta0 + effects, exposure, category)
        return treated - self._response_mean(eta0, exposure, category)

    def _group_response_draws(self, category=None) -> np.ndarray:
        """(S, n_groups) response-scale effects averaged over each group's training rows."""
        pat = self._patterns
        intercepts = flat(self.idata_, "group_intercept")
        effects = flat(self.idata_, "group_effect")
        n_draws = intercepts.shape[0]
        total = np.zeros((n_draws, self.n_groups_))
        block = max(1, 4_000_000 // n_draws)  # bounds memory to a few hundred MB
        for start in range(0, pat["group"].size, block):
            part = slice(start, start + block)
            g = pat["group"][part]
            exposure = None if pat["exposure"] is None else pat["exposure"][part]
            draws = self._response_effect_draws(
                intercepts[:, g], effects[:, g], pat["controls"][part], exposure, category
            )
            np.add.at(total.T, g, (draws * pat["weight"][part]).T)
        weights = np.bincount(pat["group"], weights=pat["weight"], minlength=self.n_groups_)
        return total / weights

    @staticmethod
    def _reject_treatment_as_control(design, controls, treat) -> None:
        head = slice(0, 1000)  # a control that differs there is no copy: skip the full pass
        for j, name in enumerate(design.control_names):
            column = controls[:, j]
            if not (
                np.array_equal(column[head], treat[head])
                or np.array_equal(column[head], 1 - treat[head])
            ):
                continue
            if np.array_equal(column, treat) or np.array_equal(column, 1 - treat):
                raise ValueError(
                    f"column {name!r} of X is the treatment itself; it would be a control "
                    "perfectly collinear with the treatment. Drop it from X."
                )

    def _warn_prior_scale(self, outcome: np.ndarray) -> None:
        scale = float(outcome.std())
        if scale > 0 and not (0.1 <= scale <= 10.0):
            warnings.warn(
                f"y has standard deviation {scale:.3g}, but the prior scales "
                f"(coefficients {self.prior_coef_scale}, sds {self.prior_sd_scale}, sigma "
                f"{self.prior_sigma_scale}) are in y's units and suit outcomes near unit "
                "scale. Standardise y or set the prior scales in its units.",
                UserWarning,
                stacklevel=3,
            )

    # -------------------------------------------------------------- effects
    def _group_draws(self, X, *parts: str) -> tuple[np.ndarray, ...]:
        """Each row's group column, then draws (S, n_known + n_new) of each requested part.

        ``parts`` are ``"effect"`` and/or ``"intercept"``; rows are assigned to
        groups once, whatever the number of parts.
        """
        row_group, new_groups = self._assign(X)
        return (row_group, *(self._part_draws(new_groups, part) for part in parts))

    def _assign(self, X) -> tuple[np.ndarray, pd.DataFrame]:
        """Each row's group (known groups first, then new ones) and the new groups' table."""
        check_is_fitted(self)
        return self.design_.assign(self._frame_for_predict(X))

    def _part_draws(self, new_groups: pd.DataFrame, part: str) -> np.ndarray:
        """(S, n_known + n_new) draws of the groups' ``"effect"`` or ``"intercept"``."""
        draws = flat(self.idata_, f"group_{part}")
        if len(new_groups):
            draws = np.concatenate([draws, self._new_group_draws(new_groups, part)], axis=1)
        return draws

    def _new_group_draws(self, new_groups: pd.DataFrame, part: str) -> np.ndarray:
        """Effects (or intercepts) of groups unseen in training, from the population model."""
        design = self.design_
        Z_new = design.predictors_of(new_groups)
        base, slopes = ("b_treatment", "lambda") if part == "effect" else ("Intercept", "b_group")
        value = flat(self.idata_, base)[:, None] + flat(self.idata_, slopes) @ Z_new.T
        # one stream per part, so intercepts and effects of a new group get their own noise
        rng = np.random.default_rng([self.seed_, part == "effect"])
        sd = flat(self.idata_, f"sd_{part}")
        if self.structure == "nested":
            return value + sd[:, None] * rng.standard_normal(value.shape)
        codes = design.level_codes_of(new_groups)
        level = flat(self.idata_, f"level_{part}")
        varying = list(self.idata_.posterior[f"sd_{part}"].coords["varying_modifier"].values)
        start = 0
        for k, levels in enumerate(design.modifier_levels):
            known = codes[:, k] >= 0
            seen = level[:, start + np.where(known, codes[:, k], 0)]
            name = str(design.modifier_names[k])
            if name in varying:  # an unseen numeric level: a fresh draw of its offset
                unseen = sd[:, varying.index(name), None] * rng.standard_normal(value.shape)
            else:
                unseen = np.zeros_like(value)
            value = value + np.where(known[None, :], seen, unseen)
            start += len(levels)
        return value

    def _frame_for_predict(self, X) -> pd.DataFrame:
        return frame_as_in_fit(X, self)

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
        effect : ndarray of shape (n_samples,)
            Posterior mean effect. Rows whose group was not in training get an
            effect drawn from the population model (``Z lambda`` plus sigma_theta
            noise), so their intervals are wider.
        lower, upper : ndarray of shape (n_samples,)
            Only with ``return_interval=True``.
        """
        prob = check_prob(prob)
        if self._on_link_scale(scale, category):
            row_group, draws = self._group_draws(X, "effect")
            mean = draws.mean(axis=0)[row_group]
            if not return_interval:
                return mean
            lower, upper = interval(draws, prob)
            return mean, lower[row_group], upper[row_group]
        frame = self._frame_for_predict(X)
        mean, lower, upper = (np.empty(frame.shape[0]) for _ in range(3))
        for rows, intercepts, effects, controls, exposure in self._row_blocks(frame):
            draws = self._response_effect_draws(intercepts, effects, controls, exposure, category)
            mean[rows] = draws.mean(axis=0)
            if return_interval:
                lower[rows], upper[rows] = interval(draws, prob)
        return (mean, lower, upper) if return_interval else mean

    def average_effect_draws(self, X=None, *, scale="response", category=None) -> np.ndarray:
        """Posterior draws of the average treatment effect over the rows of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like, default=None
            Rows to average over; ``None`` averages over the training rows
            (each group weighted by its ``n``).
        scale, category
            As in :meth:`predict_effect`.

        Returns
        -------
        draws : ndarray of shape (n_draws,)
            One average per posterior draw (chains stacked), so any summary of
            the average effect (mean, interval, probability of being positive)
            is exact up to Monte Carlo error.
        """
        check_is_fitted(self)
        if X is None:
            weights = self.groups_["n"].to_numpy(float)
            return self._group_effect_draws(scale, category) @ (weights / weights.sum())
        frame = self._frame_for_predict(X)
        totals, _, draws = self._weighted_group_draws(frame, np.ones(len(frame)), scale, category)
        return draws @ (totals / totals.sum())

    def _average_effect(self, X, prob) -> tuple[float, float, float]:
        draws = self.average_effect_draws(X)
        lower, upper = interval(draws, prob)
        return float(draws.mean()), float(lower), float(upper)

    def _on_link_scale(self, scale, category) -> bool:
        if scale not in ("response", "link"):
            raise ValueError(f"scale must be 'response' or 'link'; got {scale!r}.")
        if category is not None and (scale == "link" or self.family != "ordinal"):
            raise ValueError("category is for family='ordinal' on the response scale.")
        return self.family == "gaussian" or scale == "link"

    def _row_blocks(self, frame: pd.DataFrame, block_rows: int | None = None, assigned=None):
        """Yield (rows, intercept draws, effect draws, controls, exposure) per block of rows.

        ``assigned``: the frame's ``(row_group, new_groups)`` when already known.
        """
        row_group, new_groups = self._assign(frame) if assigned is None else assigned
        intercepts = self._part_draws(new_groups, "intercept")
        effects = self._part_draws(new_groups, "effect")
        controls = self.design_.control_matrix(frame)
        exposure = None
        if self.exposure is not None:
            exposure = self._positive_column(frame, self.exposure, "exposure")
        block = block_rows or max(1, 4_000_000 // intercepts.shape[0])
        for start in range(0, frame.shape[0], block):
            rows = slice(start, start + block)
            g = row_group[rows]
            yield (
                rows,
                intercepts[:, g],
                effects[:, g],
                controls[rows],
                None if exposure is None else exposure[rows],
            )

    def _response_mean(self, eta, exposure, category=None):
        """Expected outcome (or, ordinal with ``category``, P(y >= category)) for draws of eta."""
        kwargs = {"exposure": exposure}
        if self.family == "ordinal":
            values = list(self.categories_)
            kwargs["cutpoints"] = flat(self.idata_, "cutpoints")
            numeric = all(isinstance(v, int | float | np.number) for v in values)
            kwargs["category_values"] = np.asarray(
                values if numeric else np.arange(1, len(values) + 1), float
            )
            if category is not None:
                if category not in values:
                    raise ValueError(f"category {category!r} is not one of {values}.")
                kwargs["exceed_index"] = values.index(category)
        elif category is not None:
            raise ValueError("category is for family='ordinal' (effects on P(y >= category)).")
        return response_mean(self.family, eta, **kwargs)

    def _effect_scale_name(self, scale, category) -> str:
        if self._on_link_scale(scale, category):
            return "outcome" if self.family == "gaussian" else f"link ({LINKS[self.family]})"
        if category is not None:
            return f"P(y >= {category})"
        return RESPONSE_SCALE[self.family]

    def _group_effect_draws(self, scale, category) -> np.ndarray:
        if self._on_link_scale(scale, category):
            return flat(self.idata_, "group_effect")
        if category is None:
            return flat(self.idata_, "group_effect_response")
        return self._group_response_draws(category)

    def predict(self, X, treatment):
        """Posterior mean of the outcome for each row under the given treatment.

        The estimator is an outcome model too: ``predict(X, 1) - predict(X, 0)``
        is the effect of each row's group.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Modifiers and controls, as in ``fit``.
        treatment : array-like of shape (n_samples,) or scalar
            Treatment of each row (0/1, bool, or ``treated_value``); a scalar
            applies to every row.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Posterior mean of the outcome's expectation on the response scale
            (probability, count, expected category). Rows of groups unseen in
            training use the population model's intercept and effect.
        """
        check_is_fitted(self)
        frame = self._frame_for_predict(X)
        n_rows = frame.shape[0]
        treat = treatment_for_rows(treatment, n_rows=n_rows, treated_value=self.treated_value)
        if self.family == "gaussian":  # linear: the plug-in of posterior means is exact
            row_group, intercepts, effects = self._group_draws(frame, "intercept", "effect")
            controls = self.design_.control_matrix(frame) @ flat(self.idata_, "b_control").mean(0)
            return intercepts.mean(0)[row_group] + controls + effects.mean(0)[row_group] * treat
        out = np.empty(n_rows)
        for rows, intercepts, effects, controls, exposure in self._row_blocks(frame):
            eta = intercepts + (controls @ flat(self.idata_, "b_control").T).T
            eta = eta + effects * treat[rows]
            out[rows] = self._response_mean(eta, exposure).mean(axis=0)
        return out

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

        frame = self._frame_for_predict(X)
        outcome = numeric_outcome(y, n_rows=frame.shape[0])
        predicted = self.predict(frame, treatment)
        return float(r2_score(outcome, predicted, sample_weight=sample_weight))

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
        check_is_fitted(self)
        summary = summarize(self._group_effect_draws(scale, category), check_prob(prob))
        table = pd.concat([self.groups_.reset_index(drop=True), summary], axis=1)
        table.attrs["scale"] = self._effect_scale_name(scale, category)
        return table

    def heterogeneity_summary(
        self, prob=0.95, *, scale="response", category=None
    ) -> HeterogeneitySummary:
        """How much the effect varies across groups, and which groups respond most and least.

        Parameters
        ----------
        prob : float, default=0.95
            Mass of the equal-tailed credible intervals.
        scale : {"response", "link"}, default="response"
            Scale of the group effects summarised (sigma_theta and the
            unexplained share are always on the link scale, and say so).
        category : scalar, default=None
            Ordinal family only: summarise effects on P(y >= category).

        Returns
        -------
        summary : HeterogeneitySummary
            Smallest, median and largest group effects, the sd of all draws,
            the between-group sd, sigma_theta and the unexplained share of the
            effect's variance. ``print(summary)`` gives a readable report.
        """
        check_is_fitted(self)
        effects = self._group_effect_draws(scale, category)
        explained = flat(self.idata_, "lambda") @ self.design_.Z.T
        sd = flat(self.idata_, "sd_effect")
        if sd.ndim == 2:  # additive: one sd per modifier; their variances add up
            sd = np.sqrt((sd**2).sum(axis=1))
        return heterogeneity(
            effects, explained, sd, self.design_.group_labels, check_prob(prob),
            scale=self._effect_scale_name(scale, category),
            link_scale=self._effect_scale_name("link", None),
        )  # fmt: skip

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
            x group predictor), ``sd`` (sigma_theta and sigma_alpha),
            ``correlation``, ``control`` (beta), ``intercept`` (the intercept and
            the group predictors' shifts of it) and ``residual`` (sigma); then
            ``mean``, ``median``, ``sd``, ``lower``, ``upper``, ``prob_positive``.
        """
        check_is_fitted(self)
        prob = check_prob(prob)
        t = self.treatment_name_
        design = self.design_
        blocks = [
            ("effect", [t], flat(self.idata_, "b_treatment")[:, None]),
            ("lambda", [f"{t}:{z}" for z in design.predictor_names], flat(self.idata_, "lambda")),
        ]
        sd_e, sd_i, corr = (flat(self.idata_, v) for v in ("sd_effect", "sd_intercept", "corr"))
        if self.structure == "nested":
            blocks += [
                ("sd", [f"sd({t})"], sd_e[:, None]),
                ("sd", ["sd(Intercept)"], sd_i[:, None]),
                ("correlation", [f"cor(Intercept, {t})"], corr[:, None]),
            ]
        else:
            mods = [str(m) for m in self.idata_.posterior.coords["varying_modifier"].values]
            blocks += [
                ("sd", [f"sd({t} | {m})" for m in mods], sd_e),
                ("sd", [f"sd(Intercept | {m})" for m in mods], sd_i),
                ("correlation", [f"cor(Intercept, {t} | {m})" for m in mods], corr),
            ]
        blocks += [
            ("control", design.control_names, flat(self.idata_, "b_control")),
            ("intercept", ["Intercept"], flat(self.idata_, "Intercept")[:, None]),
            ("intercept", list(design.predictor_names), flat(self.idata_, "b_group")),
        ]
        if "sigma" in self.idata_.posterior:
            blocks.append(("residual", ["sigma"], flat(self.idata_, "sigma")[:, None]))
        if "cutpoints" in self.idata_.posterior:
            pairs = zip(self.categories_[:-1], self.categories_[1:], strict=True)
            cuts = [f"cutpoint[{a}|{b}]" for a, b in pairs]
            blocks.append(("cutpoint", cuts, flat(self.idata_, "cutpoints")))
        tables = []
        for role, names, draws in blocks:
            if draws.shape[1] == 0:
                continue
            table = summarize(draws, prob)
            table.insert(0, "role", role)
            table.index = names
            tables.append(table)
        out = pd.concat(tables)
        out.index.name = "term"
        out.attrs["scale"] = self._effect_scale_name("link", None)
        return out

    def save(self, path) -> None:
        """Save the fitted model to ``path`` as plain data (netCDF), never as code.

        The file holds the posterior (ArviZ netCDF, readable by
        ``arviz.from_netcdf``), the parameters, the learned design (levels,
        bin edges, column names) and a format version; :meth:`load` reads it
        back. Pickle works too, for those who prefer it.

        Parameters
        ----------
        path : str or path-like
            File to write (conventionally ``*.nc``).
        """
        check_is_fitted(self)
        save_model(self, path)

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
        return load_model(cls, path)

    def diagnostics(self) -> pd.DataFrame:
        """Convergence table of the key parameters: worst R-hat, lowest bulk and tail ESS.

        Returns
        -------
        table : pandas.DataFrame
            One row per key parameter, plus the sampler's divergences and
            tree-depth hits in ``attrs``.
        """
        check_is_fitted(self)
        table = self.diagnostics_.copy()
        if self.inference == "svi":  # no sampler statistics: the final ELBO loss instead
            return table
        stats = self.idata_.sample_stats
        table.attrs["divergences"] = int(stats["diverging"].values.sum())
        table.attrs["max_treedepth_hits"] = int(stats["reached_max_treedepth"].values.sum())
        return table
