"""The classic alternative: OLS with treatment-by-modifier interactions and robust intervals."""

import numpy as np
from scipy import stats
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._base.coefficient_layout import CoefficientLayout
from .._base.input_checks import numeric_outcome
from .._evaluation.routing import ESTIMATOR_REQUEST, require_metadata
from ._base import BaselineHTE, BaselineRows


class InteractionHTE(BaselineHTE):
    """Treatment effects from one regression with treatment x modifier interactions.

    Fits ``y ~ 1 + controls + Z + t + t:Z`` by least squares (one ``t`` and
    ``t:Z`` block per effect for multi-arm, continuous or several treatments),
    where ``Z`` are
    the modifiers encoded exactly as :class:`~sklearn_hier.HierarchicalHTE`
    encodes its group-level predictors (numeric as given, categoricals one-hot,
    binned columns as their bin means). A row's effect is ``b_t + Z . b_tZ``;
    intervals use a heteroskedasticity-robust (sandwich) covariance and the t
    distribution. This is the hierarchical model without the group offsets
    (sd_effect = 0) and without priors: it cannot show heterogeneity the
    modifiers' linear terms do not carry.

    Parameters
    ----------
    modifiers : list of str
        Columns whose level combinations define groups (for ``effect_by_group``)
        and whose interactions with the treatment carry the heterogeneity.
    bins : dict, default=None
        Binning of continuous modifiers, as in ``HierarchicalHTE``.
    cov_type : {"HC0", "HC1", "HC2", "HC3"}, default="HC3"
        Sandwich estimator; HC3 is the most reliable in small cells.
    treated_value : scalar, default=None
        The treated value of a two-valued treatment not coded 0/1.
    control_value : scalar or dict, default=None
        The reference arm, as in ``HierarchicalHTE``.
    treatment_type : {"auto", "binary", "categorical", "continuous"}, default="auto"
        How each treatment column is read, as in ``HierarchicalHTE``.

    Attributes
    ----------
    coef_ : ndarray
        Coefficients in the order of ``coef_names_``.
    coef_names_ : list of str
    cov_ : ndarray
        Robust covariance of ``coef_``.
    groups_ : pandas.DataFrame
        Training groups with ``n`` and ``n_treated``.

    Examples
    --------
    >>> from sklearn_hier.baselines import InteractionHTE
    >>> from sklearn_hier.datasets import make_grouped_hte
    >>> X, y, t, tau, groups = make_grouped_hte(800, random_state=0)
    >>> est = InteractionHTE(modifiers=["m0", "m1", "m2"]).fit(X, y, treatment=t)
    >>> est.effect_by_group().shape[0] == len(groups)
    True
    """

    _parameter_constraints: dict = {
        "modifiers": [list, tuple],
        "bins": [dict, None],
        "cov_type": [StrOptions({"HC0", "HC1", "HC2", "HC3"})],
        "treated_value": "no_validation",
        "control_value": "no_validation",
        "treatment_type": [StrOptions({"auto", "binary", "categorical", "continuous"})],
    }
    TREATMENT_KINDS = ("binary", "categorical", "continuous")
    SEVERAL_TREATMENTS = True

    def __init__(self, *, modifiers=(), bins=None, cov_type="HC3", treated_value=None,
                 control_value=None, treatment_type="auto"):  # fmt: skip
        self.modifiers = modifiers
        self.bins = bins
        self.cov_type = cov_type
        self.treated_value = treated_value
        self.control_value = control_value
        self.treatment_type = treatment_type

    @staticmethod
    def _design_matrix(rows: BaselineRows, t: np.ndarray) -> np.ndarray:
        t = t.reshape(t.shape[0], -1)  # (n, effects)
        interactions = (t[:, :, None] * rows.Z[:, None, :]).reshape(t.shape[0], -1)
        return np.hstack([np.ones((t.shape[0], 1)), rows.controls, rows.Z, t, interactions])

    def _fit_rows(self, rows, y, t) -> None:
        D = self._design_matrix(rows, t)
        n, k = D.shape
        coef, _, rank, _ = np.linalg.lstsq(D, y, rcond=None)
        if rank < k:
            raise ValueError(
                f"the interaction regression is rank-deficient ({rank} of {k} columns): some "
                "modifier level has no treated or no control rows, or controls repeat a "
                "modifier. Merge sparse levels or drop the duplicated columns."
            )
        residual = y - D @ coef
        bread = np.linalg.inv(D.T @ D)
        leverage = np.einsum("ij,jk,ik->i", D, bread, D)
        if self.cov_type == "HC0":
            weights = residual**2
        elif self.cov_type == "HC1":
            weights = residual**2 * n / (n - k)
        elif self.cov_type == "HC2":
            weights = residual**2 / (1 - leverage)
        else:
            weights = residual**2 / (1 - leverage) ** 2
        meat = (D * weights[:, None]).T @ D
        self.cov_ = bread @ meat @ bread
        self.coef_ = coef
        self.df_resid_ = n - k
        design = self.design_
        effects = ["treatment"] if self.treatment_coding_.single_binary else self.effect_names_
        self.coef_names_ = (
            ["Intercept"] + design.control_names + design.predictor_names + effects
            + [f"{e}:{name}" for e in effects for name in design.predictor_names]
        )  # fmt: skip

    def _effect_contrasts(self, rows: BaselineRows, effect: int) -> np.ndarray:
        """(n, k) rows c with effect = c . coef: 1 on the effect's treatment column, Z on its
        interactions."""
        n, q = rows.Z.shape
        contrasts = np.zeros((n, self.coef_.size))
        # the intercept, then the hierarchical model's layout
        layout = CoefficientLayout.of_size(
            self.coef_.size - 1, n_predictors=q, n_effects=len(self.effect_names_)
        )
        contrasts[:, 1 + layout.effect(effect)] = 1.0
        interactions = layout.interactions_of(effect)
        contrasts[:, 1 + interactions.start : 1 + interactions.stop] = rows.Z
        return contrasts

    def _estimate(self, contrasts: np.ndarray, prob):
        effect = contrasts @ self.coef_
        if prob is None:
            return effect
        se = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, self.cov_, contrasts))
        half = stats.t.ppf(0.5 + prob / 2, self.df_resid_) * se
        return effect, effect - half, effect + half

    def _row_effects(self, rows, prob, effect=0):
        return self._estimate(self._effect_contrasts(rows, effect), prob)

    def _mean_effect(self, rows, prob, effect=0):
        average = self._effect_contrasts(rows, effect).mean(axis=0, keepdims=True)
        return tuple(float(v[0]) for v in self._estimate(average, prob))

    def predict(self, X, treatment=None):
        """Fitted outcome for each row of ``X`` under the given treatment."""
        check_is_fitted(self)
        require_metadata(who="InteractionHTE.predict", request=ESTIMATOR_REQUEST,
                         treatment=treatment)  # fmt: skip
        frame = self._frame(X)
        t = self.treatment_coding_.encode_matrix(
            treatment, n_rows=frame.shape[0], allow_scalar=True
        )
        rows = self._rows_of(frame)
        return self._design_matrix(rows, t) @ self.coef_

    def score(self, X, y, treatment=None, sample_weight=None):
        """Outcome R^2 of :meth:`predict` (as ``HierarchicalHTE.score``)."""
        from sklearn.metrics import r2_score

        require_metadata(who="InteractionHTE.score", request=ESTIMATOR_REQUEST,
                         treatment=treatment)  # fmt: skip
        frame = self._frame(X)
        outcome = numeric_outcome(y, n_rows=frame.shape[0])
        predicted = self.predict(frame, treatment)
        return float(r2_score(outcome, predicted, sample_weight=sample_weight))


__all__ = ["InteractionHTE"]
