"""Is the estimated heterogeneity real, and calibrated? Checks on held-out data.

:func:`validate` cross-fits any effect model of this library (``HierarchicalHTE`` and
every baseline) together with nuisance models of the outcome and of the treatment.
Each row then has an out-of-fold effect estimate ``tau_i`` and a doubly-robust
pseudo-outcome ``psi_i`` (an unbiased, noisy measurement of its effect), and three
checks compare them (Chernozhukov, Demirer, Duflo & Fernández-Val 2018; Yadlowsky et
al. 2025 for the TOC; EconML's ``DRTester`` computes the same three on one split):

- **BLP**: the regression ``psi = a + b (tau - mean(tau))``. ``b = 0``: the estimates
  carry no information about who responds; ``b = 1``: they are calibrated; the
  interval says which holds.
- **Calibration (GATES)**: rows cut into quantile groups of ``tau``; in each, the mean
  predicted effect beside the mean pseudo-outcome with its interval.
- **Uplift (TOC)**: treating the fraction ``q`` of rows with the largest estimates,
  how much larger their effect is than the average effect, with intervals.

For a Bayesian model (``HierarchicalHTE``) ``tau_i`` is the posterior mean, which is
the calibrated predictor when the model is right: ``E[effect | tau] = tau``, so the
BLP slope is 1. Every check regresses on, groups by and ranks by it. A single
posterior draw is the posterior mean plus posterior noise, so a slope fitted on draws
is attenuated (errors in variables) and a ranking by draws is worse than the model's
own: per-draw checks would say a correct model overstates the heterogeneity. The model's
uncertainty is reported beside the observed values instead, where it biases nothing:
each calibration group and each uplift fraction carries the posterior of the model's
own prediction of that quantity (from the draws), to set against the pseudo-outcomes'
estimate and its sampling interval; and the slope's error adds the model's doubt about
its own calibration (the posterior sd of the slope of its drawn effects on its
estimates, whose mean is 1).

The treatment is read with the coding the estimator learns in ``fit``
(``treated_value``, ``control_value``): each fold's fitted model encodes the treatment
for the nuisance models and the pseudo-outcomes, so the checks mean by "treated" what
the estimator means.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.model_selection import StratifiedKFold

from ._base.input_checks import as_frame, by_position, check_aligned, column_vector, numeric_outcome
from ._data.treatment import TreatmentCoding, coding_of
from ._evaluation.nuisance import PROPENSITY_CLIP, default_nuisance
from ._results.draw_summaries import check_prob

__all__ = ["ValidationReport", "validate"]

#: Fractions of rows treated first in the uplift (TOC) table.
UPLIFT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass
class ValidationReport:
    """What :func:`validate` found; each table has ``lower`` and ``upper`` columns.

    Attributes
    ----------
    blp : pandas.DataFrame
        Rows ``average_effect`` (the intercept ``a``) and ``heterogeneity`` (the slope
        ``b`` on the out-of-fold estimates, posterior means for Bayesian models):
        ``estimate``, ``std_error``, ``lower``, ``upper``, ``p_value`` (of ``b = 0``
        and ``a = 0``, by the sampling error alone), ``sampling_std_error`` (the
        pseudo-outcomes', heteroskedasticity-robust) and ``model_std_error`` (the
        posterior sd of the model's own slope of its drawn effects on its estimates,
        0 for point estimators and for ``a``); ``std_error`` combines the two.
    calibration : pandas.DataFrame
        One row per quantile group of the estimates (smallest first): ``n``,
        ``predicted`` (the model's mean effect in the group) with its posterior
        interval ``predicted_lower``, ``predicted_upper`` (equal to ``predicted`` for
        point estimators), and ``observed`` (mean pseudo-outcome) with its
        ``std_error`` and sampling interval ``lower``, ``upper``.
    uplift : pandas.DataFrame
        One row per fraction treated first: ``toc`` (their mean effect minus the
        average effect, from the pseudo-outcomes) with its ``std_error`` and interval,
        and ``predicted`` (the same quantity by the model's own effects) with its
        posterior interval ``predicted_lower``, ``predicted_upper``.
    effect : ndarray of shape (n_samples,)
        Out-of-fold effect estimates (posterior means for Bayesian models): what
        every check regresses on, groups by and ranks by.
    pseudo_outcome : ndarray of shape (n_samples,)
        Cross-fitted doubly-robust pseudo-outcomes.
    fold : ndarray of shape (n_samples,)
        The fold each row was held out in.
    prob : float
        Mass of every interval.
    draws_used : int
        Posterior draws per fold behind the ``predicted`` intervals (1 for point
        estimators).
    """

    blp: pd.DataFrame
    calibration: pd.DataFrame
    uplift: pd.DataFrame
    effect: np.ndarray
    pseudo_outcome: np.ndarray
    fold: np.ndarray
    prob: float
    draws_used: int = field(default=1)

    def __repr__(self) -> str:
        slope = self.blp.loc["heterogeneity"]
        return (
            f"ValidationReport(heterogeneity slope {slope['estimate']:.2f} "
            f"({slope['lower']:.2f}, {slope['upper']:.2f}); {len(self.effect)} rows, "
            f"{self.fold.max() + 1} folds, {self.draws_used} draw(s) of the effects)"
        )


def validate(
    estimator, X, y, *, treatment, cv=5, n_groups=4, prob=0.95, outcome_model=None,
    propensity_model=None, n_draws=200, random_state=0,
) -> ValidationReport:  # fmt: skip
    """Cross-fit an effect model and nuisance models; test its heterogeneity on held-out rows.

    Parameters
    ----------
    estimator : effect model
        Unfitted; any estimator of this library (cloned for every fold).
    X, y
        The data, as for ``fit``.
    treatment : array-like of shape (n_samples,)
        One binary treatment, as for ``fit``: the estimator's own ``treated_value``
        and ``control_value`` say which value is treated, exactly as in ``fit``. A
        multi-arm treatment or a dose is refused; check one arm against the
        reference at a time (keep those two arms' rows).
    cv : int, default=5
        Folds: every row's effect and pseudo-outcome come from models fitted without it.
    n_groups : int, default=4
        Quantile groups of the calibration table.
    prob : float, default=0.95
        Mass of every interval.
    outcome_model : regressor, default=None
        Model of ``E[y | X]`` in each arm; gradient boosting (categoricals one-hot) when
        ``None``.
    propensity_model : classifier, default=None
        Model of ``P(treatment | X)``; logistic regression (randomised designs) when
        ``None``.
    n_draws : int, default=200
        Posterior draws of the effects kept per fold (thinned evenly) for the
        ``predicted`` intervals of Bayesian models; the estimates themselves are the
        posterior means over every draw.
    random_state : int, default=0
        Seed of the folds.

    Returns
    -------
    report : ValidationReport
        ``blp``, ``calibration`` and ``uplift`` tables with intervals.

    Notes
    -----
    Every check uses the out-of-fold estimate ``tau_i``: for a Bayesian model the
    posterior mean, the calibrated predictor when the model is right (its BLP slope is
    1). A check computed per posterior draw would regress on, or rank by, the posterior
    mean plus posterior noise: its slope is attenuated towards 0 (errors in variables)
    and its ranking is noisier than the model's best one, so a correctly specified
    model would seem to overstate the heterogeneity. Its own uncertainty is shown where it
    biases nothing: beside each observed group mean and uplift, the posterior interval
    of what the model predicts for it, and in the slope's error: per draw, the slope of
    the drawn effects on the posterior means has mean 1, and its posterior sd
    (``model_std_error``: group-shared errors, the uncertain scale of the group
    effects) is added in quadrature to the pseudo-outcomes' heteroskedasticity-robust
    (HC1) error, so a correct model's interval covers 1 at its nominal rate. The
    ``p_value`` of ``b = 0`` uses the sampling error alone, the whole error when the
    effect is constant. For point estimators the intervals are the normal intervals
    with HC1 errors of Chernozhukov et al. (2018).

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> from sklearn_hier.baselines import InteractionHTE
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> from sklearn_hier.validation import validate
    >>> d = make_grouped_hte(2000, n_levels=(2, 3), sigma_theta=0.0, random_state=0)
    >>> report = validate(InteractionHTE(modifiers=d.modifiers), d.X, d.y,
    ...                   treatment=d.treatment, cv=3, outcome_model=LinearRegression(),
    ...                   propensity_model=LogisticRegression())
    >>> list(report.blp.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['estimate', 'std_error', 'lower', 'upper', 'p_value', 'sampling_std_error',
     'model_std_error']
    >>> bool(report.blp.loc["heterogeneity", "lower"] > 0)
    True
    """
    prob = check_prob(prob)
    check_aligned(X, y=y, treatment=treatment)
    frame, treatment = by_position(as_frame(X)), by_position(treatment)
    n_rows = frame.shape[0]
    outcome = numeric_outcome(y, n_rows=n_rows)
    strata = _binary_strata(treatment, n_rows)
    if n_groups < 2 or n_rows < 2 * cv * n_groups:
        raise ValueError(
            f"n_groups={n_groups} quantile groups over {cv} folds need n_groups >= 2 and at "
            f"least {2 * cv * n_groups} rows; {n_rows} given."
        )
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    fold = np.empty(n_rows, dtype=np.int64)
    psi = np.empty(n_rows)
    effect = np.empty(n_rows)
    effect_draws = treat = None
    for k, (train, test) in enumerate(folds.split(frame, strata)):
        fold[test] = k
        model = clone(estimator).fit(
            frame.iloc[train], outcome[train], treatment=_rows(treatment, train)
        )
        coded = _treated(model, treatment, n_rows)
        if treat is None:
            treat = coded
        elif not np.array_equal(coded, treat):
            raise ValueError(
                f"{type(estimator).__name__} coded the treatment differently in different "
                "folds; pass treated_value (or control_value) to the estimator so which "
                "value is treated does not depend on the rows."
            )
        mean, draws = _effects(model, frame.iloc[test], n_draws)
        if effect_draws is None:
            effect_draws = np.empty((draws.shape[0], n_rows))
        effect[test] = mean
        effect_draws[:, test] = draws
        psi[test] = _pseudo_outcomes(
            frame, outcome, treat, train, test, outcome_model, propensity_model
        )
    return ValidationReport(
        blp=_blp(effect, effect_draws, psi, prob),
        calibration=_calibration(effect, effect_draws, psi, n_groups, prob),
        uplift=_uplift(effect, effect_draws, psi, prob),
        effect=effect,
        pseudo_outcome=psi,
        fold=fold,
        prob=prob,
        draws_used=effect_draws.shape[0],
    )


def _binary_strata(treatment, n_rows: int) -> np.ndarray:
    """Integer codes of the treatment's values (the folds keep its arms' shares); refuses
    several columns and more than two values before anything is fitted."""
    if isinstance(treatment, pd.DataFrame):
        if treatment.shape[1] != 1:
            raise ValueError(
                f"validate takes one binary treatment; got {treatment.shape[1]} treatment "
                f"columns {[str(c) for c in treatment.columns]}. Check one column at a time."
            )
        treatment = treatment.iloc[:, 0]
    values = column_vector(treatment, name="treatment", n_rows=n_rows)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    if len(uniques) > 2:
        shown = sorted(map(str, uniques))[:10]
        raise ValueError(
            f"validate takes a binary treatment (two values); the treatment has "
            f"{len(uniques)} ({shown}): a multi-arm treatment or a dose. Check one arm "
            "against the control at a time: keep the rows of those two arms."
        )
    return codes


def _rows(treatment, rows: np.ndarray):
    """The treatment of some rows, in the type it was given (a Series keeps its name)."""
    if isinstance(treatment, pd.Series | pd.DataFrame):
        return treatment.iloc[rows]
    return np.asarray(treatment)[rows]


def _treated(model, treatment, n_rows: int) -> np.ndarray:
    """Every row's treatment as 0/1 under the fitted model's own coding (0/1 or bool when
    the model keeps none), as its ``fit`` read it."""
    coding = coding_of(model) or TreatmentCoding()
    if not coding.single_binary:
        raise ValueError(
            f"validate takes one binary treatment; {type(model).__name__} reads this one as "
            f"{coding.describe()} ({coding.n_effects} effects). Check a multi-arm treatment "
            "one arm against the reference at a time (keep those two arms' rows), and fit "
            "a 0/1 treatment with treatment_type='auto' or 'binary'."
        )
    return coding.encode(treatment, n_rows=n_rows)


def _effects(model, X, n_draws: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows' estimates (posterior means over every draw for Bayesian models) and up to
    ``n_draws`` evenly thinned draws (the estimates alone for point estimators)."""
    if hasattr(model, "effect_draws"):
        draws = model.effect_draws(X)
        keep = np.unique(np.linspace(0, draws.shape[0] - 1, min(n_draws, draws.shape[0])).round())
        return draws.mean(axis=0), draws[keep.astype(int)]
    estimate = np.asarray(model.predict_effect(X), dtype=float)
    return estimate, estimate[None, :]


def _pseudo_outcomes(frame, y, t, train, test, outcome_model, propensity_model):
    """psi = mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e) on the test rows,
    every model fitted on the training rows only."""
    X_train, X_test = frame.iloc[train], frame.iloc[test]
    mu = {}
    for arm in (0, 1):
        rows = train[t[train] == arm]
        model = clone(outcome_model or default_nuisance("outcome"))
        mu[arm] = model.fit(frame.iloc[rows], y[rows]).predict(X_test)
    propensity = clone(propensity_model or default_nuisance("randomised_propensity"))
    if not is_classifier(propensity):
        raise ValueError("propensity_model must be a classifier with predict_proba.")
    e = propensity.fit(X_train, t[train].astype(int)).predict_proba(X_test)[:, 1]
    e = np.clip(e, *PROPENSITY_CLIP)
    y_test, t_test = y[test], t[test]
    return mu[1] - mu[0] + t_test * (y_test - mu[1]) / e - (1 - t_test) * (y_test - mu[0]) / (1 - e)


def _normal_interval(estimate: float, se: float, prob: float) -> tuple[float, float]:
    z = stats.norm.ppf((1 + prob) / 2)
    return estimate - z * se, estimate + z * se


def _blp(effect, effect_draws, psi, prob) -> pd.DataFrame:
    """OLS of psi on [1, tau - mean(tau)] with heteroskedasticity-robust (HC1) errors; the
    slope's error adds the model's posterior uncertainty about its own calibration."""
    n = psi.size
    centred = effect - effect.mean()
    design = np.column_stack([np.ones(n), centred])
    bread = np.linalg.pinv(design.T @ design)
    beta = bread @ design.T @ psi
    residual = psi - design @ beta
    meat = (design * residual[:, None] ** 2).T @ design
    sampling = np.sqrt(np.diag(bread @ meat @ bread * n / (n - 2)))
    # The slope of the true effects on the estimates, by the model: one value per draw,
    # mean 1 (the draws average to the estimates), spread = how sure the model is
    # of its calibration (errors shared by a group's rows, the unknown scale of the group
    # effects). The pseudo-outcomes measure that slope, so a correct model's slope differs
    # from 1 by both errors. The intercept is mean(psi) whatever the estimates: none.
    spread = centred @ centred
    own_slopes = (effect_draws - effect_draws.mean(axis=1, keepdims=True)) @ centred
    own_slopes = own_slopes / spread if spread > 0 else np.zeros(len(effect_draws))
    model = [0.0, float(own_slopes.std(ddof=1)) if own_slopes.size > 1 else 0.0]
    rows = {}
    for j, name in enumerate(["average_effect", "heterogeneity"]):
        estimate = float(beta[j])
        se = float(np.hypot(sampling[j], model[j]))
        lower, upper = _normal_interval(estimate, se, prob)
        # under b = 0 (a = 0) the true effects are constant (zero): only sampling error
        p_value = 2 * stats.norm.sf(abs(estimate) / sampling[j]) if sampling[j] > 0 else np.nan
        rows[name] = {"estimate": estimate, "std_error": se, "lower": lower, "upper": upper,
                      "p_value": p_value, "sampling_std_error": float(sampling[j]),
                      "model_std_error": model[j]}  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index")


def _calibration(effect, effect_draws, psi, n_groups, prob) -> pd.DataFrame:
    """Quantile groups of the estimate: the model's group mean (its posterior from the draws)
    beside the mean psi (its sampling interval)."""
    ranks = stats.rankdata(effect, method="ordinal") - 1
    group = (ranks * n_groups) // psi.size
    rows = []
    for g in range(n_groups):
        members = group == g
        predicted = effect_draws[:, members].mean(axis=1)  # one group mean per draw
        observed = float(psi[members].mean())
        se = float(psi[members].std(ddof=1) / np.sqrt(members.sum()))
        lower, upper = _normal_interval(observed, se, prob)
        rows.append({
            "group": g + 1, "n": int(members.sum()),
            "predicted": float(effect[members].mean()),
            "predicted_lower": float(np.quantile(predicted, (1 - prob) / 2)),
            "predicted_upper": float(np.quantile(predicted, (1 + prob) / 2)),
            "observed": observed, "std_error": se, "lower": lower, "upper": upper,
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("group")


def _uplift(effect, effect_draws, psi, prob) -> pd.DataFrame:
    """TOC(q): mean psi of the top fraction q by the estimate minus mean psi, beside the
    model's own TOC(q) for the same rows (its posterior from the draws).

    As a mean of ``psi_i (1{i in top} / q - 1)``, its standard error is that of a mean.
    """
    n = psi.size
    order = np.argsort(-effect, kind="stable")  # largest estimate first
    rows = []
    for q in UPLIFT_FRACTIONS:
        k = max(int(round(q * n)), 1)
        weight = np.full(n, -1.0)
        weight[order[:k]] += n / k
        contribution = psi * weight
        estimate = float(contribution.mean())
        se = float(contribution.std(ddof=1) / np.sqrt(n))
        lower, upper = _normal_interval(estimate, se, prob)
        predicted = effect_draws @ weight / n  # the model's TOC of these rows, per draw
        rows.append({
            "fraction": q, "n_treated_first": k, "toc": estimate, "std_error": se,
            "lower": lower, "upper": upper, "predicted": float(effect @ weight / n),
            "predicted_lower": float(np.quantile(predicted, (1 - prob) / 2)),
            "predicted_upper": float(np.quantile(predicted, (1 + prob) / 2)),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("fraction")
