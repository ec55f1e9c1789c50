"""Machine-learning baselines from EconML behind the HierarchicalHTE interface."""

import copy
import importlib
from numbers import Integral

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaselineHTE, BaselineRows


def _econml(module: str):
    """Import ``econml.<module>``, or say which extra installs it."""
    try:
        return importlib.import_module(f"econml.{module}")
    except ImportError as error:
        raise ImportError(
            "the causal-forest and metalearner baselines need EconML, which is not installed; "
            "install the extra: pip install 'sklearn-hier[baselines]'."
        ) from error


def _seeded(model, random_state):
    """A fresh clone of ``model`` with its ``random_state`` set, when it has one."""
    model = clone(model)
    if "random_state" in model.get_params() and random_state is not None:
        model.set_params(random_state=random_state)
    return model


def _default_regressor():
    # shallow boosting: fast and flexible on survey-experiment sized data (1e3-1e5 rows)
    return HistGradientBoostingRegressor(max_iter=100, learning_rate=0.1, min_samples_leaf=20)


def _default_classifier():
    # treatment is randomised in the target designs; a logistic model is well calibrated there
    return LogisticRegression(max_iter=1000)


def _matrix(*blocks: np.ndarray) -> np.ndarray:
    return np.hstack([b for b in blocks if b.shape[1]])


_TREATMENT_PARAMETERS = {
    "treated_value": "no_validation",
    "control_value": "no_validation",
    "treatment_type": [StrOptions({"auto", "binary", "categorical", "continuous"})],
}


class _EconMLBaseline(BaselineHTE):
    """Shared plumbing: rows to EconML's X/W, the treatment as EconML codes it, and
    EconML's inference results back."""

    def _econml_inputs(self, rows: BaselineRows) -> dict:
        raise NotImplementedError  # pragma: no cover

    @property
    def _discrete(self) -> bool:
        return self.treatment_coding_.columns[0].kind != "continuous"

    def _econml_treatment(self, t: np.ndarray) -> np.ndarray:
        """EconML's T: arm labels 0 (control, the reference arm), 1, ..., or the dose."""
        if not self._discrete:
            return t.reshape(len(t), -1)[:, 0]
        t = t.reshape(len(t), -1)
        return (t @ np.arange(1, t.shape[1] + 1)).astype(int)

    def _contrast(self, effect: int) -> dict:
        """EconML's ``T0, T1`` of an effect: the reference against the arm, or a unit dose."""
        return {"T0": 0, "T1": effect + 1} if self._discrete else {"T0": 0.0, "T1": 1.0}

    def _row_effects(self, rows, prob, effect=0):
        inputs = self._econml_inputs(rows)
        contrast = self._contrast(effect)
        estimate = np.ravel(self.model_.effect(inputs["X"], **contrast))
        if prob is None:
            return estimate
        lower, upper = self.model_.effect_interval(inputs["X"], alpha=1 - prob, **contrast)
        return estimate, np.ravel(lower), np.ravel(upper)

    def _mean_effect(self, rows, prob, effect=0):
        X = self._econml_inputs(rows)["X"]
        contrast = self._contrast(effect)
        lower, upper = self.model_.ate_interval(X, alpha=1 - prob, **contrast)
        return (
            float(np.ravel(self.model_.ate(X, **contrast))[0]),
            float(np.ravel(lower)[0]),
            float(np.ravel(upper)[0]),
        )


class CausalForestHTE(_EconMLBaseline):
    """Causal forest (EconML's ``CausalForestDML``) with the HierarchicalHTE interface.

    The forest splits on the modifiers (continuous ones at their raw values,
    even when ``bins`` groups them for ``effect_by_group``); the other columns
    are controls, partialled out of outcome and treatment by cross-fitted
    nuisance models (double machine learning). Intervals come from the forest's
    bootstrap-of-little-bags variance.

    Parameters
    ----------
    modifiers : list of str
        Columns the effect may vary with; their level combinations are the groups.
    bins : dict, default=None
        Binning of continuous modifiers for ``effect_by_group``, as in ``HierarchicalHTE``.
    n_estimators : int, default=400
        Trees (rounded up to a multiple of 4, EconML's sub-forest size).
    min_samples_leaf : int, default=10
        Smallest leaf; larger values give smoother, less noisy effects.
    max_depth : int, default=None
        Maximum tree depth.
    model_y, model_t : estimator, default=None
        Nuisance models of the outcome and of the treatment (a classifier, or
        a regressor for a dose); ``None`` uses gradient boosting and logistic
        regression (gradient boosting for a dose).
    cv : int, default=2
        Cross-fitting folds of the nuisance models.
    n_jobs : int, default=1
        Parallel jobs of the forest.
    treated_value, control_value, treatment_type
        The treatment's coding, as in ``HierarchicalHTE``: one column, binary,
        multi-arm (each arm against the reference) or a continuous dose (the
        effect per unit).
    random_state : int or None, default=None
        Seed of the forest and the nuisance models.

    Attributes
    ----------
    model_ : econml.dml.CausalForestDML
        The fitted EconML estimator.
    groups_ : pandas.DataFrame
        Training groups with ``n`` and ``n_treated``.

    Examples
    --------
    >>> from sklearn_hier.baselines import CausalForestHTE
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> X, y, t, tau, groups = make_grouped_hte(600, random_state=0)
    >>> forest = CausalForestHTE(modifiers=["m0", "m1", "m2"], n_estimators=100, random_state=0)
    >>> forest.fit(X, y, treatment=t).predict_effect(X).shape
    (600,)
    """

    _parameter_constraints: dict = {
        "modifiers": [list, tuple],
        "bins": [dict, None],
        "n_estimators": [Interval(Integral, 4, None, closed="left")],
        "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "model_y": "no_validation",
        "model_t": "no_validation",
        "cv": [Interval(Integral, 2, None, closed="left")],
        "n_jobs": [Integral, None],
        **_TREATMENT_PARAMETERS,
        "random_state": ["random_state"],
    }
    TREATMENT_KINDS = ("binary", "categorical", "continuous")

    def __init__(
        self, *, modifiers=(), bins=None, n_estimators=400, min_samples_leaf=10,
        max_depth=None, model_y=None, model_t=None, cv=2, n_jobs=1, treated_value=None,
        control_value=None, treatment_type="auto", random_state=None,
    ):  # fmt: skip
        self.modifiers = modifiers
        self.bins = bins
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.model_y = model_y
        self.model_t = model_t
        self.cv = cv
        self.n_jobs = n_jobs
        self.treated_value = treated_value
        self.control_value = control_value
        self.treatment_type = treatment_type
        self.random_state = random_state

    def _econml_inputs(self, rows):
        return {"X": rows.features, "W": rows.controls if rows.controls.shape[1] else None}

    def _fit_rows(self, rows, y, t):
        dml = _econml("dml")
        seed = self.random_state if isinstance(self.random_state, Integral) else None
        default_t = _default_classifier() if self._discrete else _default_regressor()
        self.model_ = dml.CausalForestDML(
            model_y=_seeded(self.model_y or _default_regressor(), seed),
            model_t=_seeded(self.model_t or default_t, seed),
            discrete_treatment=self._discrete,
            n_estimators=-(-int(self.n_estimators) // 4) * 4,
            min_samples_leaf=self.min_samples_leaf,
            max_depth=self.max_depth,
            cv=self.cv,
            n_jobs=self.n_jobs,
            random_state=seed,
        )
        inputs = self._econml_inputs(rows)
        self.model_.fit(y, self._econml_treatment(t), X=inputs["X"], W=inputs["W"])


class MetaLearnerHTE(_EconMLBaseline):
    """S-, T-, X- or doubly-robust learner (EconML) with the HierarchicalHTE interface.

    - ``"S"``: one outcome model with the treatment as a feature.
    - ``"T"``: one outcome model per arm; the effect is their difference.
    - ``"X"``: T-learner imputed effects regressed on the features, blended by the propensity.
    - ``"DR"``: doubly-robust pseudo-outcomes regressed linearly on the modifiers
      (EconML's ``LinearDRLearner``, controls as nuisance covariates), with
      analytic intervals.

    S, T and X use the modifiers and controls as features (EconML's
    metalearners have no separate controls) and give intervals only with
    ``n_bootstrap > 0``: normal intervals, the estimate plus or minus z times
    the standard deviation over that many refits on bootstrap samples
    (resampled within each arm), so fitting is that many times slower. A
    group's interval uses the replicates' means over the group's rows.

    Parameters
    ----------
    kind : {"S", "T", "X", "DR"}, default="T"
        Which learner.
    modifiers : list of str
        Columns whose level combinations define the groups.
    bins : dict, default=None
        Binning of continuous modifiers for ``effect_by_group``.
    model : regressor, default=None
        Outcome model (S, T, X, and DR's regression); ``None`` uses gradient boosting.
    propensity_model : classifier, default=None
        Propensity model (X, DR); ``None`` uses logistic regression.
    cate_model : regressor, default=None
        X-learner's second-stage model; ``None`` uses ``model``.
    n_bootstrap : int, default=0
        Bootstrap refits for intervals (S, T, X); 0 gives point estimates only.
        Ignored by DR, whose intervals are analytic.
    cv : int, default=2
        Cross-fitting folds (DR).
    treated_value, control_value, treatment_type
        The treatment's coding, as in ``HierarchicalHTE``: one column, binary or
        multi-arm (each arm against the reference).
    random_state : int or None, default=None
        Seed of the models that take one.

    Attributes
    ----------
    model_ : econml estimator
        The fitted EconML learner.
    bootstrap_models_ : list
        The bootstrap refits (empty when ``n_bootstrap=0`` or for DR).

    Examples
    --------
    >>> from sklearn_hier.baselines import MetaLearnerHTE
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> X, y, t, tau, groups = make_grouped_hte(600, random_state=0)
    >>> learner = MetaLearnerHTE(kind="DR", modifiers=["m0", "m1", "m2"], random_state=0)
    >>> effect, lower, upper = learner.fit(X, y, treatment=t).predict_effect(
    ...     X, return_interval=True)
    >>> bool((lower <= effect).all() and (effect <= upper).all())
    True
    """

    _parameter_constraints: dict = {
        "kind": [StrOptions({"S", "T", "X", "DR"})],
        "modifiers": [list, tuple],
        "bins": [dict, None],
        "model": "no_validation",
        "propensity_model": "no_validation",
        "cate_model": "no_validation",
        "n_bootstrap": [Interval(Integral, 0, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        **_TREATMENT_PARAMETERS,
        "random_state": ["random_state"],
    }
    TREATMENT_KINDS = ("binary", "categorical")

    def __init__(
        self, *, kind="T", modifiers=(), bins=None, model=None, propensity_model=None,
        cate_model=None, n_bootstrap=0, cv=2, treated_value=None, control_value=None,
        treatment_type="auto", random_state=None,
    ):  # fmt: skip
        self.kind = kind
        self.modifiers = modifiers
        self.bins = bins
        self.model = model
        self.propensity_model = propensity_model
        self.cate_model = cate_model
        self.n_bootstrap = n_bootstrap
        self.cv = cv
        self.treated_value = treated_value
        self.control_value = control_value
        self.treatment_type = treatment_type
        self.random_state = random_state

    def _gives_intervals(self) -> bool:
        return self.kind == "DR" or self.n_bootstrap > 0

    def _interval_advice(self) -> str:
        return f"the {self.kind}-learner gives intervals with n_bootstrap > 0 (e.g. 100)."

    def _econml_inputs(self, rows):
        if self.kind == "DR":
            return {"X": rows.features, "W": rows.controls if rows.controls.shape[1] else None}
        return {"X": _matrix(rows.features, rows.controls)}

    def _fit_rows(self, rows, y, t):
        seed = self.random_state if isinstance(self.random_state, Integral) else None
        regressor = _seeded(self.model or _default_regressor(), seed)
        classifier = _seeded(self.propensity_model or _default_classifier(), seed)
        inputs = self._econml_inputs(rows)
        labels = self._econml_treatment(t)
        if self.kind == "DR":
            self.model_ = _econml("dr").LinearDRLearner(
                model_propensity=classifier, model_regression=regressor, cv=self.cv,
                random_state=seed,
            )  # fmt: skip
            self.model_.fit(y, labels, X=inputs["X"], W=inputs["W"])
            return
        metalearners = _econml("metalearners")
        if self.kind == "S":
            self.model_ = metalearners.SLearner(overall_model=regressor)
        elif self.kind == "T":
            self.model_ = metalearners.TLearner(models=regressor)
        else:
            cate = _seeded(self.cate_model, seed) if self.cate_model is not None else None
            self.model_ = metalearners.XLearner(
                models=regressor, cate_models=cate, propensity_model=classifier
            )
        self.bootstrap_models_ = []
        rng = check_random_state(self.random_state)
        for _ in range(int(self.n_bootstrap)):
            # resample within each arm so every replicate has them all
            resample = np.concatenate(
                [rng.choice(arm, arm.size)
                 for arm in (np.flatnonzero(labels == k) for k in np.unique(labels))]
            )  # fmt: skip
            replicate = copy.deepcopy(self.model_)  # EconML learners are not clonable
            replicate.fit(y[resample], labels[resample], X=inputs["X"][resample])
            self.bootstrap_models_.append(replicate)
        self.model_.fit(y, labels, X=inputs["X"])

    def _bootstrap_draws(self, rows, effect) -> np.ndarray:
        X = self._econml_inputs(rows)["X"]
        contrast = self._contrast(effect)
        return np.stack([np.ravel(m.effect(X, **contrast)) for m in self.bootstrap_models_])

    def _row_effects(self, rows, prob, effect=0):
        if self.kind == "DR" or prob is None:
            return super()._row_effects(rows, prob, effect)
        X = self._econml_inputs(rows)["X"]
        estimate = np.ravel(self.model_.effect(X, **self._contrast(effect)))
        return self._normal_interval(estimate, self._bootstrap_draws(rows, effect), prob)

    def _mean_effect(self, rows, prob, effect=0):
        if self.kind == "DR":
            return super()._mean_effect(rows, prob, effect)
        X = self._econml_inputs(rows)["X"]
        estimate = np.ravel(self.model_.effect(X, **self._contrast(effect))).mean()
        draws = self._bootstrap_draws(rows, effect).mean(axis=1, keepdims=True)
        return tuple(float(v[0]) for v in self._normal_interval(np.array([estimate]), draws, prob))

    @staticmethod
    def _normal_interval(estimate, draws, prob):
        # estimate +- z * bootstrap sd: centred on the full-data fit, stable with few refits
        half = stats.norm.ppf(0.5 + prob / 2) * draws.std(axis=0, ddof=1)
        return estimate, estimate - half, estimate + half
