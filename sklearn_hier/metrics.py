"""Scores for treatment-effect models: against known truth, and without it (R-loss).

Plain functions take arrays; :func:`r_loss_scorer` returns a scorer for
``cross_validate`` and ``GridSearchCV`` that asks for ``treatment`` through
scikit-learn's metadata routing (``sklearn.set_config(enable_metadata_routing=True)``).
"""

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import MetadataRequest

from ._base.input_checks import as_frame, check_aligned, column_vector, numeric_outcome
from ._data.treatment import TreatmentCoding, coding_of, encode_for
from ._evaluation.nuisance import PROPENSITY_CLIP, default_nuisance
from ._evaluation.result_cache import CacheInfo, ResultCache, data_fingerprint, settings_key
from ._evaluation.routing import require_metadata

__all__ = [
    "tau_risk",
    "pehe",
    "group_effect_rmse",
    "interval_coverage",
    "interval_width",
    "r_loss",
    "r_score",
    "uplift_curve",
    "qini_coefficient",
    "auuc",
    "predict_effect",
    "r_loss_scorer",
    "pehe_scorer",
    "qini_scorer",
    "RLossScorer",
    "true_effect_matrix",
]


def _paired(values, other, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays of one value per row (or ``other`` a scalar), as float.

    Shapes must agree: NumPy would broadcast a column ``(n, 1)`` against a vector ``(n,)``
    into an ``(n, n)`` table of every pair and average that, silently. A column and a
    vector of the same values are both read as the vector.
    """
    values, other = np.asarray(values, float), np.asarray(other, float)
    if other.ndim == 0 or values.shape == other.shape:
        return values, other
    if values.size == other.size and np.squeeze(values).shape == np.squeeze(other).shape:
        return values.reshape(-1), other.reshape(-1)
    raise ValueError(
        f"{names[0]} has shape {values.shape} but {names[1]} has shape {other.shape}; pass "
        "one value per row for each (with several effects, true_effect as a DataFrame with "
        "one column per effect: see true_effect_matrix)."
    )


def tau_risk(true_effect, predicted_effect) -> float:
    """Mean squared error of predicted row effects against the true ones."""
    true_effect, predicted_effect = _paired(
        true_effect, predicted_effect, ("true_effect", "predicted_effect")
    )
    return float(np.mean((true_effect - predicted_effect) ** 2))


def true_effect_matrix(true_effect, effect_names, *, n_rows: int) -> np.ndarray:
    """The true effects as an ``(n_rows, n_effects)`` array in the order of ``effect_names``.

    Matched by name, never by position: with several effects (arms, several treatment
    columns) ``true_effect`` must be a DataFrame whose columns are exactly the effect
    names (``est.effect_names_``), in any order. With one effect it may also be a
    vector (array, list or Series) of one value per row.

    Raises
    ------
    ValueError
        When a column is missing or unknown, several effects come as an unnamed array, or
        the rows do not match.
    """
    names = [str(n) for n in effect_names]
    if isinstance(true_effect, pd.DataFrame):
        given = [str(c) for c in true_effect.columns]
        missing = [n for n in names if n not in given]
        unknown = [c for c in given if c not in names]
        if missing or unknown or len(set(given)) != len(given):
            raise ValueError(
                f"true_effect has columns {given}, but the model's effects are {names}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unknown {unknown})" if unknown else "")
                + ". Name exactly one column per effect, as in est.effect_names_."
            )
        if true_effect.shape[0] != n_rows:
            raise ValueError(
                f"true_effect has {true_effect.shape[0]} rows but X has {n_rows}; they must match."
            )
        return true_effect.set_axis(given, axis=1)[names].to_numpy(dtype=float)
    if len(names) > 1:
        raise ValueError(
            f"the model has {len(names)} effects {names}, so true_effect must be a DataFrame "
            f"with one column per effect, named as they are (got {type(true_effect).__name__} "
            f"of shape {np.shape(true_effect)}, which could only be matched by position). "
            f"For an array whose columns are in that order: pd.DataFrame(array, "
            f"columns={names})."
        )
    return column_vector(true_effect, name="true_effect", n_rows=n_rows).astype(float)[:, None]


def pehe(true_effect, predicted_effect) -> float:
    """Precision in estimating heterogeneous effects: the root of :func:`tau_risk`."""
    return float(np.sqrt(tau_risk(true_effect, predicted_effect)))


def group_effect_rmse(true_group_effect, estimated_group_effect) -> float:
    """Root mean squared error over groups (each group counts once, whatever its size)."""
    return pehe(true_group_effect, estimated_group_effect)


def interval_coverage(truth, lower, upper) -> float:
    """Share of true values inside their intervals."""
    truth, lower = _paired(truth, lower, ("truth", "lower"))
    truth, upper = _paired(truth, upper, ("truth", "upper"))
    return float(np.mean((lower <= truth) & (truth <= upper)))


def interval_width(lower, upper) -> float:
    """Mean width of the intervals."""
    lower, upper = _paired(lower, upper, ("lower", "upper"))
    return float(np.mean(upper - lower))


def r_loss(y_residual, treatment_residual, effect) -> float:
    """Nie & Wager's R-loss: ``mean(((y - m(X)) - (t - e(X)) * tau(X))^2)``.

    Parameters
    ----------
    y_residual : array-like
        Outcome minus its cross-fitted conditional mean ``m(X)``.
    treatment_residual : array-like
        Treatment minus its cross-fitted propensity ``e(X)``.
    effect : array-like or float
        Predicted effect of each row.
    """
    y_res, t_res = _paired(y_residual, treatment_residual, ("y_residual", "treatment_residual"))
    y_res, effect = _paired(y_res, effect, ("the residuals", "effect"))
    return float(np.mean((y_res - t_res * effect) ** 2))


def r_score(y_residual, treatment_residual, effect) -> float:
    """R-loss as an R^2 for heterogeneity: ``1 - loss(effect) / loss(best constant effect)``.

    The best constant effect is the least-squares fit of the outcome residuals on
    the treatment residuals, so 0 means "no better than one effect for all" and
    1 a perfect fit of the residual outcome; higher is better.
    """
    y_res, t_res = np.asarray(y_residual, float), np.asarray(treatment_residual, float)
    constant = float(y_res @ t_res / (t_res @ t_res))
    baseline = r_loss(y_res, t_res, constant)
    return 1.0 - r_loss(y_res, t_res, effect) / baseline


def uplift_curve(y, treatment, effect) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gains from treating the rows with the largest predicted effects first.

    Rows are sorted by predicted effect (largest first). For the top ``k`` rows,
    with ``n_t``/``n_c`` treated/control rows and outcome sums ``s_t``/``s_c``:

    - the Qini gain ``s_t - s_c * n_t / n_c`` (Radcliffe 2007), and
    - the cumulative uplift gain ``(s_t / n_t - s_c / n_c) * k``,

    both 0 where an arm is still empty.

    Returns
    -------
    fraction, qini, uplift : ndarray of shape (n_samples + 1,)
        Share of rows targeted (0 to 1) and the two gains there.
    """
    y = np.asarray(y, float)
    t = np.asarray(treatment, float)
    effect = np.asarray(effect, float)
    order = np.argsort(-effect, kind="stable")
    y, t = y[order], t[order]
    n_t = _tie_averaged(np.cumsum(t), effect[order])
    n_c = _tie_averaged(np.cumsum(1 - t), effect[order])
    s_t = _tie_averaged(np.cumsum(y * t), effect[order])
    s_c = _tie_averaged(np.cumsum(y * (1 - t)), effect[order])
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = np.where(n_c > 0, s_t - s_c * n_t / n_c, 0.0)
        k = np.arange(y.size + 1)
        uplift = np.where((n_t > 0) & (n_c > 0), (s_t / n_t - s_c / n_c) * k, 0.0)
    return k / y.size, qini, uplift


def _tie_averaged(cumulative: np.ndarray, sorted_effect: np.ndarray) -> np.ndarray:
    """Cumulative sums (with a leading 0) averaged over the orders of tied effects.

    Rows with equal predicted effects cannot be ranked against each other, so
    within a run of ties the sums move in a straight line from the run's start
    to its end: the expected value over every order of the tied rows, and the
    same whatever order the rows came in.
    """
    full = np.concatenate([[0.0], cumulative])
    ends = np.flatnonzero(np.diff(sorted_effect) != 0) + 1  # positions where a run ends
    ends = np.concatenate([[0], ends, [sorted_effect.size]])
    positions = np.arange(full.size)
    return np.interp(positions, ends, full[ends])


def qini_coefficient(y, treatment, effect) -> float:
    """Area between the Qini curve and random targeting, per row (higher is better).

    Random targeting gains in proportion to the share treated, so the
    coefficient is ``mean(qini(f) - f * qini(1)) / n``: positive when the
    predicted effects rank rows better than chance.
    """
    fraction, qini, _ = uplift_curve(y, treatment, effect)
    return float(np.mean(qini - fraction * qini[-1]) / (fraction.size - 1))


def auuc(y, treatment, effect) -> float:
    """Area under the cumulative uplift curve, per row, minus random targeting's."""
    fraction, _, uplift = uplift_curve(y, treatment, effect)
    return float(np.mean(uplift - fraction * uplift[-1]) / (fraction.size - 1))


def predict_effect(estimator, X) -> np.ndarray:
    """``estimator.predict_effect(X)``, also through a Pipeline ending in an effect model."""
    if hasattr(estimator, "predict_effect"):
        return estimator.predict_effect(X)
    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
        return predict_effect(estimator.steps[-1][1], X)
    raise TypeError(
        f"{type(estimator).__name__} has no predict_effect; effect scorers need an effect "
        "model (such as HierarchicalHTE) or a Pipeline ending in one."
    )


class _RoutedScorer:
    """A scorer that asks for per-row metadata through scikit-learn's routing."""

    requests: tuple[str, ...] = ("treatment",)

    def get_metadata_routing(self):
        request = MetadataRequest(owner=type(self).__name__)
        for param in self.requests:
            request.score.add_request(param=param, alias=True)
        return request

    def _require(self, **given) -> None:
        require_metadata(
            who=type(self).__name__,
            request=f"the scorer requests {', '.join(self.requests)} itself; the estimator "
            "needs est.set_fit_request(treatment=True)",
            **given,
        )


class QiniScorer(_RoutedScorer):
    """Scorer: :func:`qini_coefficient` of ``predict_effect(X)``; see :func:`qini_scorer`.

    The treatment is read with the estimator's own fitted coding (``treated_value``).
    """

    def __call__(self, estimator, X, y, treatment=None) -> float:
        self._require(treatment=treatment)
        check_aligned(X, y=y, treatment=treatment)
        treat = encode_for(estimator, treatment, n_rows=len(as_frame(X)))
        return qini_coefficient(y, treat, predict_effect(estimator, X))


class PEHEScorer(_RoutedScorer):
    """Scorer: minus :func:`pehe` against known true effects. Create with :func:`pehe_scorer`.

    The true effects are matched to the estimator's effects by name (see
    :func:`true_effect_matrix`); over several effects the PEHE pools every row and effect.
    """

    requests = ("true_effect",)

    def __call__(self, estimator, X, y, true_effect=None) -> float:
        self._require(true_effect=true_effect)
        check_aligned(X, y=y, true_effect=true_effect)
        predicted = np.asarray(predict_effect(estimator, X), dtype=float)
        names = (coding_of(estimator) or TreatmentCoding()).effect_names
        truth = true_effect_matrix(true_effect, names, n_rows=predicted.shape[0])
        return -pehe(truth, predicted.reshape(truth.shape))


def qini_scorer() -> QiniScorer:
    """A scorer ranking effect models by how well they target (needs ``treatment`` routed)."""
    return QiniScorer()


def pehe_scorer() -> PEHEScorer:
    """A scorer for simulations: minus the PEHE against ``true_effect`` (routed metadata).

    With several effects, route ``true_effect`` as a DataFrame with one column per effect
    name (``est.effect_names_``); the columns are matched by name.
    """
    return PEHEScorer()


class RLossScorer(_RoutedScorer):
    """Scorer that scores an effect model by the R-loss on held-out data.

    On the data it is called with (a test fold), it cross-fits the outcome model
    ``m(X) = E[y | X]`` and the propensity model ``e(X) = P(t = 1 | X)``, then
    returns :func:`r_score` of the estimator's ``predict_effect(X)``: effects on
    the response scale, the scale of ``y`` that the residuals are on. It
    requests ``treatment`` through metadata routing. Create it with
    :func:`r_loss_scorer`.

    The residuals depend on the scored rows only, not on the model scored, so they are
    computed once per distinct data and kept (``cache=True``): a grid search pays one
    nuisance fit per fold, not one per candidate and fold. ``cache_info()`` counts them.
    """

    def __init__(self, outcome_model=None, propensity_model=None, cv=5, random_state=0, cache=True):
        self.outcome_model = outcome_model
        self.propensity_model = propensity_model
        self.cv = cv
        self.random_state = random_state
        self.cache = cache

    def residuals(self, X, y, treatment, *, coding=None) -> tuple[np.ndarray, np.ndarray]:
        """Cross-fitted ``y - m(X)`` and ``t - e(X)``.

        ``coding``: the fitted :class:`TreatmentCoding` that says which value is
        treated; ``None`` accepts 0/1 or False/True.
        """
        check_aligned(X, y=y, treatment=treatment)
        frame = as_frame(X)
        outcome = numeric_outcome(y, n_rows=frame.shape[0])
        coding = TreatmentCoding() if coding is None else coding
        treat = coding.encode(treatment, n_rows=frame.shape[0])
        if not self.cache:
            return self._cross_fit(frame, outcome, treat)
        # the nuisance models' settings are part of the key: changing them misses the cache
        settings = settings_key(self.outcome_model, self.propensity_model, self.cv,
                                self.random_state)  # fmt: skip
        return self._residual_cache().get_or_compute(
            data_fingerprint(frame, outcome, treat, settings),
            lambda: self._cross_fit(frame, outcome, treat, read_only=True),
        )

    def cache_info(self) -> "CacheInfo":
        """Hits, misses (nuisance fits) and entries of the residual cache."""
        return self._residual_cache().info()

    def _residual_cache(self) -> "ResultCache":
        if getattr(self, "_cache", None) is None:
            self._cache = ResultCache(maxsize=32)
        return self._cache

    def __getstate__(self):
        # copies sent to worker processes start empty: cached arrays are not worth shipping
        return {k: v for k, v in vars(self).items() if k != "_cache"}

    def _cross_fit(self, frame, outcome, treat, *, read_only=False) -> tuple[np.ndarray, ...]:
        outcome_model = clone(self.outcome_model or default_nuisance("outcome"))
        propensity_model = clone(self.propensity_model or default_nuisance("propensity"))
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        strata = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        m = cross_val_predict(outcome_model, frame, outcome, cv=folds)
        e = cross_val_predict(
            propensity_model, frame, treat.astype(int), cv=strata, method="predict_proba"
        )[:, 1]
        residuals = outcome - m, treat - np.clip(e, *PROPENSITY_CLIP)
        for array in residuals if read_only else ():
            array.setflags(write=False)  # shared by every later call with the same data
        return residuals

    def __call__(self, estimator, X, y, treatment=None) -> float:
        self._require(treatment=treatment)
        y_res, t_res = self.residuals(X, y, treatment, coding=coding_of(estimator))
        return r_score(y_res, t_res, predict_effect(estimator, X))


def r_loss_scorer(outcome_model=None, propensity_model=None, cv=5, random_state=0, cache=True):
    """A scorer for choosing effect models (and prior scales) when the truth is unknown.

    Parameters
    ----------
    outcome_model : regressor, default=None
        Model of ``E[y | X]``; default gradient boosting with categoricals one-hot.
    propensity_model : classifier, default=None
        Model of ``P(treatment = 1 | X)`` (with ``predict_proba``); default
        gradient boosting. In a randomised experiment any well-calibrated model works.
    cv : int, default=5
        Folds for cross-fitting the two models on the scored data.
    random_state : int, default=0
        Seed of the fold split.
    cache : bool, default=True
        Keep the cross-fitted residuals of each distinct scored data set (keyed by a
        SHA-256 fingerprint of its rows, outcome and treatment), so a grid search fits
        the nuisance models once per fold. The scores are the same either way.

    Returns
    -------
    scorer : RLossScorer
        Call as ``scorer(estimator, X, y, treatment=t)``; higher is better.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn_hier.metrics import r_loss_scorer
    >>> scorer = r_loss_scorer(cv=3)
    >>> scorer.get_metadata_routing().score.requests
    {'treatment': True}
    """
    return RLossScorer(outcome_model, propensity_model, cv, random_state, cache)
