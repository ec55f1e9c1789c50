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

For ``HierarchicalHTE`` every check is computed for each posterior draw of the
effects (rankings and slopes included) and combined with the pseudo-outcomes'
sampling error, so the intervals carry the model's uncertainty too.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.model_selection import StratifiedKFold

from ._nuisance import PROPENSITY_CLIP, default_nuisance
from ._summary import check_prob
from ._treatment import TreatmentCoding
from ._validation import as_frame, numeric_outcome

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
        ``b``): ``estimate``, ``std_error``, ``lower``, ``upper``, ``p_value`` (of
        ``b = 0`` and ``a = 0``).
    calibration : pandas.DataFrame
        One row per quantile group of the estimates (smallest first): ``n``,
        ``predicted`` (mean estimate), ``observed`` (mean pseudo-outcome) with its
        interval.
    uplift : pandas.DataFrame
        One row per fraction treated first: ``toc`` (their mean effect minus the
        average effect, from the pseudo-outcomes) with its interval.
    effect : ndarray of shape (n_samples,)
        Out-of-fold effect estimates (posterior means for ``HierarchicalHTE``).
    pseudo_outcome : ndarray of shape (n_samples,)
        Cross-fitted doubly-robust pseudo-outcomes.
    fold : ndarray of shape (n_samples,)
        The fold each row was held out in.
    prob : float
        Mass of every interval.
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
        The treatment, coded as the estimator expects (``treated_value`` included).
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
        Posterior draws of the effects used per fold for Bayesian models (thinned
        evenly); point estimators use their estimates.
    random_state : int, default=0
        Seed of the folds and of the Monte Carlo combination of draws and sampling error.

    Returns
    -------
    report : ValidationReport
        ``blp``, ``calibration`` and ``uplift`` tables with intervals.

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
    >>> list(report.blp.columns)
    ['estimate', 'std_error', 'lower', 'upper', 'p_value']
    >>> bool(report.blp.loc["heterogeneity", "lower"] > 0)
    True
    """
    prob = check_prob(prob)
    frame = as_frame(X)
    n_rows = frame.shape[0]
    outcome = numeric_outcome(y, n_rows=n_rows)
    treated_value = estimator.get_params().get("treated_value")
    _, treat = TreatmentCoding.learn_binary(
        treatment, n_rows=n_rows, treated_value=treated_value, who="validate"
    )
    labels = np.asarray(treatment)
    if n_groups < 2 or n_rows < 2 * cv * n_groups:
        raise ValueError(
            f"n_groups={n_groups} quantile groups over {cv} folds need n_groups >= 2 and at "
            f"least {2 * cv * n_groups} rows; {n_rows} given."
        )
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    fold = np.empty(n_rows, dtype=np.int64)
    psi = np.empty(n_rows)
    effect_draws = None
    for k, (train, test) in enumerate(folds.split(frame, treat)):
        fold[test] = k
        model = clone(estimator).fit(frame.iloc[train], outcome[train], treatment=labels[train])
        draws = _effect_draws(model, frame.iloc[test], n_draws)
        if effect_draws is None:
            effect_draws = np.empty((draws.shape[0], n_rows))
        effect_draws[:, test] = draws
        psi[test] = _pseudo_outcomes(
            frame, outcome, treat, train, test, outcome_model, propensity_model
        )
    rng = np.random.default_rng(random_state)
    return ValidationReport(
        blp=_blp(effect_draws, psi, prob, rng),
        calibration=_calibration(effect_draws, psi, n_groups, prob),
        uplift=_uplift(effect_draws, psi, prob, rng),
        effect=effect_draws.mean(axis=0),
        pseudo_outcome=psi,
        fold=fold,
        prob=prob,
        draws_used=effect_draws.shape[0],
    )


def _effect_draws(model, X, n_draws: int) -> np.ndarray:
    """(S, n) draws of the rows' effects; S = 1 (the estimates) for point estimators."""
    if hasattr(model, "effect_draws"):
        draws = model.effect_draws(X)
        keep = np.unique(np.linspace(0, draws.shape[0] - 1, min(n_draws, draws.shape[0])).round())
        return draws[keep.astype(int)]
    return np.asarray(model.predict_effect(X), dtype=float)[None, :]


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
    return (
        mu[1] - mu[0]
        + t_test * (y_test - mu[1]) / e
        - (1 - t_test) * (y_test - mu[0]) / (1 - e)
    )


def _mixture(estimates, std_errors, prob, rng) -> tuple[float, float, float, float]:
    """Estimate, se, interval of a quantity estimated once per posterior draw, each with
    sampling error: the mixture of normals N(estimate_s, se_s^2) over the draws."""
    estimates, std_errors = np.asarray(estimates), np.asarray(std_errors)
    if estimates.size == 1:
        z = stats.norm.ppf((1 + prob) / 2)
        m, s = float(estimates[0]), float(std_errors[0])
        return m, s, m - z * s, m + z * s
    # 20 normal draws per posterior draw: Monte Carlo error of the bounds well under se/10
    sample = (estimates[:, None] + std_errors[:, None] * rng.standard_normal((estimates.size, 20)))
    lower, upper = np.quantile(sample, [(1 - prob) / 2, (1 + prob) / 2])
    se = float(np.sqrt(np.mean(std_errors**2) + np.var(estimates)))
    return float(estimates.mean()), se, float(lower), float(upper)


def _blp(effect_draws, psi, prob, rng) -> pd.DataFrame:
    """OLS of psi on [1, tau - mean(tau)] per draw, heteroskedasticity-robust (HC1) errors."""
    n = psi.size
    coefficients, errors = [], []
    for tau in effect_draws:
        centred = tau - tau.mean()
        design = np.column_stack([np.ones(n), centred])
        bread = np.linalg.pinv(design.T @ design)
        beta = bread @ design.T @ psi
        residual = psi - design @ beta
        meat = (design * residual[:, None] ** 2).T @ design
        covariance = bread @ meat @ bread * n / (n - 2)
        coefficients.append(beta)
        errors.append(np.sqrt(np.diag(covariance)))
    coefficients, errors = np.array(coefficients), np.array(errors)
    rows = {}
    for j, name in enumerate(["average_effect", "heterogeneity"]):
        estimate, se, lower, upper = _mixture(coefficients[:, j], errors[:, j], prob, rng)
        p_value = 2 * stats.norm.sf(abs(estimate) / se) if se > 0 else np.nan
        rows[name] = {"estimate": estimate, "std_error": se, "lower": lower, "upper": upper,
                      "p_value": p_value}  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index")


def _calibration(effect_draws, psi, n_groups, prob) -> pd.DataFrame:
    """Quantile groups of the estimate (posterior mean): mean estimate and mean psi."""
    mean_effect = effect_draws.mean(axis=0)
    ranks = stats.rankdata(mean_effect, method="ordinal") - 1
    group = (ranks * n_groups) // psi.size
    z = stats.norm.ppf((1 + prob) / 2)
    rows = []
    for g in range(n_groups):
        members = group == g
        predicted = effect_draws[:, members].mean(axis=1)  # one group mean per draw
        observed = psi[members].mean()
        se = psi[members].std(ddof=1) / np.sqrt(members.sum())
        rows.append({
            "group": g + 1, "n": int(members.sum()),
            "predicted": float(predicted.mean()),
            "predicted_lower": float(np.quantile(predicted, (1 - prob) / 2)),
            "predicted_upper": float(np.quantile(predicted, (1 + prob) / 2)),
            "observed": float(observed), "std_error": float(se),
            "lower": float(observed - z * se), "upper": float(observed + z * se),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("group")


def _uplift(effect_draws, psi, prob, rng) -> pd.DataFrame:
    """TOC(q): mean psi of the top fraction q by the estimate minus mean psi, per draw.

    As a mean of ``psi_i (1{i in top} / q - 1)``, its standard error is that of a mean.
    """
    n = psi.size
    rows = []
    order = np.argsort(-effect_draws, axis=1, kind="stable")  # per draw: largest first
    for q in UPLIFT_FRACTIONS:
        k = max(int(round(q * n)), 1)
        estimates, errors = [], []
        for ranking in order:
            weight = np.full(n, -1.0)
            weight[ranking[:k]] += n / k
            contribution = psi * weight
            estimates.append(contribution.mean())
            errors.append(contribution.std(ddof=1) / np.sqrt(n))
        estimate, se, lower, upper = _mixture(estimates, errors, prob, rng)
        rows.append({"fraction": q, "n_treated_first": k, "toc": estimate, "std_error": se,
                     "lower": lower, "upper": upper})  # fmt: skip
    return pd.DataFrame(rows).set_index("fraction")
