"""Assumptions drawn at random: from a fitted study's posterior (:func:`plan_from`,
Bayesian assurance) or from the model's priors (:func:`prior_assumptions`, the
calibration check of a plan: with parameters drawn from the prior, intervals
cover at their nominal rate on average)."""

import numpy as np
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted

from .._base.families import family_of
from .._base.spec import ModelSpec
from .._sbc import lkj_cholesky
from ._assumptions import Assumptions, Treatment
from ._plan import estimator_params_for, group_frame_of, modifiers_and_predictors, plan_study
from ._population import GroupFrame


def _response_baseline(family: str, eta: float, params: dict):
    """The baseline as :class:`Assumptions` takes it, from its link-scale value."""
    if family in ("gaussian", "student"):
        return float(eta)
    if family in ("bernoulli", "binomial"):
        return float(expit(eta))
    if family in ("poisson", "negbinomial"):
        return float(np.exp(eta))
    below = expit(np.asarray(params["cutpoints"]) - eta)  # P(y <= k)
    return np.diff(np.concatenate([[0.0], below, [1.0]]))


def _family_fields(family: str, params: dict) -> dict:
    fields = {}
    if "sigma" in params:
        fields["noise_sd"] = float(params["sigma"])
    if "nu" in params:
        fields["nu"] = float(params["nu"])
    if "shape" in params:
        fields["shape"] = float(params["shape"])
    return fields


def _as_assumptions(family, effect_names, predictors, zbar, intercept, b_t, lam, gamma,
                    sd, corr, params, trials) -> Assumptions:  # fmt: skip
    """Assumptions from one draw of the model's parameters (effects at Z = 0)."""
    average = b_t + lam @ zbar
    base_eta = intercept + gamma @ zbar
    return Assumptions(
        average_effect=dict(zip(effect_names, map(float, average), strict=True)),
        lambdas={name: {p: float(lam[e, j]) for j, p in enumerate(predictors)}
                 for e, name in enumerate(effect_names)},
        sd_effect=dict(zip(effect_names, map(float, sd[1:]), strict=True)),
        sd_intercept=float(sd[0]), correlation=corr,
        baseline_slopes={p: float(gamma[j]) for j, p in enumerate(predictors)},
        baseline=_response_baseline(family, base_eta, params), trials=trials,
        **_family_fields(family, params),
    )  # fmt: skip


def _fitted_treatment(posterior) -> Treatment:
    coding = posterior.treatment
    n = np.asarray(posterior.n, dtype=float)
    if coding.single_binary:
        share = float(np.sum(posterior.treated_rows(0)) / n.sum())
        return Treatment.binary(share)
    raise ValueError("plan_from reads the treatment's assignment from a single binary "
                     "treatment only; pass treatment=Treatment.arms(...) or "
                     "Treatment.dose(...) as the new study assigns it.")  # fmt: skip


def plan_from(fitted, n_rows, *, treatment: Treatment | None = None, frame=None,
              weights=None, mode: str = "exact", **plan_params):  # fmt: skip
    """Plan a study from a fitted pilot or earlier study (Bayesian assurance).

    Every simulation draws one set of parameters from ``fitted``'s posterior
    (the average effect, lambdas, sd_effect, the baselines' spread, their
    correlation, the noise) and simulates the new study from it, so the plan
    carries today's uncertainty about them. The new study is fitted with
    ``fitted``'s own settings (priors, sampler, structure).

    Parameters
    ----------
    fitted : HierarchicalHTE
        A fitted estimator (nested structure).
    n_rows : int or sequence of int
        The new study's sample sizes.
    treatment : Treatment, optional
        The new study's assignment (default: the fitted one's treated share; required
        for arms and doses).
    frame : DataFrame or dict, optional
        The new study's population (default: the fitted groups, with their shares of
        the fitted rows).
    mode : {"exact", "fast"}, default="exact"
        As in :func:`plan_study`.
    **plan_params
        ``n_simulations``, ``prob``, ``scale``, ``small_sd``, ``random_state``,
        ``progress``: as in :func:`plan_study`.

    Notes
    -----
    The fitted controls are not simulated: the plan assumes the new study measures
    the same controls, whose effect on precision the fitted noise already carries.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> from sklearn_hier.planning import plan_from
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"site": rng.integers(0, 4, 400)})
    >>> t = rng.integers(0, 2, 400)
    >>> y = 0.3 * t + rng.normal(size=400)
    >>> pilot = HierarchicalHTE(modifiers=["site"], random_state=0,
    ...     sampler=NUTSSampler(num_warmup=500, num_samples=500, num_chains=2,
    ...                         target_accept=0.95)).fit(X, y, t)
    >>> plan = plan_from(pilot, [400, 1600], mode="fast", n_simulations=5, random_state=0)
    >>> list(plan.study["n_rows"])
    [400, 1600]
    """
    check_is_fitted(fitted, "posterior_")
    posterior = fitted.posterior_
    if posterior.spec.structure != "nested":
        raise ValueError("plan_from draws each group's offsets from the nested structure's "
                         "population; refit the pilot with structure='nested'.")  # fmt: skip
    treatment = _fitted_treatment(posterior) if treatment is None else treatment
    if frame is None:
        groups = posterior.groups
        modifiers = list(posterior.design.modifier_names)
        frame = groups[modifiers].assign(_pilot_rows=groups["n"].to_numpy(float))
        weights = "_pilot_rows"
    params = fitted.get_params(deep=False)
    modifiers, predictors = modifiers_and_predictors(params, frame)
    fitted_predictors = list(posterior.design.predictor_names)
    if predictors != fitted_predictors:
        raise ValueError(f"the pilot's group predictors are {fitted_predictors}; a frame for "
                         "plan_from must give every one of them.")  # fmt: skip
    groups = group_frame_of(frame, modifiers, predictors, weights)
    source = _posterior_source(fitted, groups, treatment)
    estimator = fitted.__class__(**params)
    return plan_study(groups, source, n_rows, treatment=treatment, estimator=estimator,
                      mode=mode, **plan_params)  # fmt: skip


def _posterior_source(fitted, groups: GroupFrame, treatment: Treatment):
    post = fitted.posterior_
    family = post.family
    names = treatment.effect_names
    E, q = len(names), len(groups.predictors)
    fitted_names = list(post.effect_names)
    if len(fitted_names) != E:
        raise ValueError(f"the pilot estimated {fitted_names}; the planned treatment has "
                         f"{list(names)}: plan the same effects.")  # fmt: skip
    draws = {name: post.draws(name) for name in ("b_treatment", "sd_effect", "sd_intercept")}
    S = draws["b_treatment"].shape[0]
    b_t = draws["b_treatment"].reshape(S, E)
    lam = post.draws("lambda").reshape(S, q, E).transpose(0, 2, 1) if q else np.zeros((S, E, 0))
    gamma = post.draws("b_group").reshape(S, q) if q else np.zeros((S, 0))
    intercept = post.draws("Intercept") if "Intercept" in post.idata.posterior else np.zeros(S)
    sd = np.column_stack([draws["sd_intercept"].reshape(S), draws["sd_effect"].reshape(S, E)])
    corr = post.draws("corr").reshape(S, 1 + E, 1 + E) if E > 1 else None
    rho = post.draws("corr").reshape(S) if E == 1 else None
    extra = {name: post.draws(name) for name in family_of(family).extra_parameters}
    zbar = groups.shares @ groups.Z

    def draw(rng) -> Assumptions:
        s = int(rng.integers(S))
        correlation = float(rho[s]) if corr is None else corr[s]
        params = {k: v[s] for k, v in extra.items()}
        return _as_assumptions(family, names, groups.predictors, zbar, float(intercept[s]),
                               b_t[s], lam[s], gamma[s], sd[s], correlation, params,
                               trials=_trials(fitted))  # fmt: skip

    return draw


def _trials(fitted) -> int:
    trials = fitted.get_params(deep=False).get("trials")
    return int(trials) if isinstance(trials, int | np.integer) else 1


def prior_assumptions(estimator, frame, *, treatment: Treatment | None = None, weights=None,
                      n_categories: int = 4):  # fmt: skip
    """A function ``rng -> Assumptions`` drawing every parameter from ``estimator``'s priors.

    Handed to :func:`plan_study` as its ``assumptions``, it makes the plan's
    coverage a calibration check: averaged over the prior, a correct model's
    intervals cover the true group effects at their nominal rate. The intercept's
    prior is the model's (on the centred design); here it is placed at the
    predictors' population means, which differs from the model's only by the
    centring of the treatment columns (negligible beside the data at a plan's sizes).

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE
    >>> from sklearn_hier.planning import prior_assumptions
    >>> draw = prior_assumptions(HierarchicalHTE(modifiers=["site"]), {"site": {0: .5, 1: .5}})
    >>> import numpy as np
    >>> draw(np.random.default_rng(0)).sd_intercept >= 0
    True
    """
    treatment = Treatment.binary(0.5) if treatment is None else treatment
    params = estimator_params_for(estimator, None, treatment, None)
    modifiers, predictors = modifiers_and_predictors(params, frame)
    groups = group_frame_of(frame, modifiers, predictors, weights)
    priors = ModelSpec.from_params(params).priors
    family = params["family"]
    fam = family_of(family)
    names = treatment.effect_names
    E, q = len(names), len(predictors)
    # a dose's effect, lambdas and group sd have priors per unit of the dose's spread
    unit = 1.0 / np.std(treatment.doses) if treatment.kind == "dose" else 1.0
    zbar = groups.shares @ groups.Z

    def draw(rng) -> Assumptions:
        intercept = rng.normal(0.0, priors.intercept) if fam.has_intercept else 0.0
        b_t = rng.normal(0.0, priors.coef * unit, E)
        lam = rng.normal(0.0, priors.coef * unit, (E, q))
        gamma = rng.normal(0.0, priors.coef, q)
        scales = priors.sd * np.concatenate([[1.0], np.full(E, unit)])
        sd = np.abs(rng.normal(0.0, scales))
        chol = lkj_cholesky(1 + E, priors.lkj, rng)
        corr = chol @ chol.T
        extra = fam.draw_parameters(priors, rng, n_categories=n_categories)
        trials = int(params["trials"]) if fam.takes_trials else 1
        return _as_assumptions(family, names, predictors, zbar, intercept, b_t, lam, gamma, sd,
                               corr if E > 1 else float(corr[0, 1]), extra, trials)  # fmt: skip

    return draw
