"""What every baseline shares with HierarchicalHTE: inputs, groups, and the effect surface."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._base.effect_vocabulary import EffectVocabularyMixin, NoIntervalsError
from .._base.input_checks import as_frame, frame_as_in_fit, numeric_outcome
from .._data.design import Design, as_shown
from .._data.treatment import TreatmentCoding
from .._results.draw_summaries import check_prob, effects_by_column


@dataclass
class BaselineRows:
    """Rows of X in the forms the baselines use."""

    features: np.ndarray  # (n, k): modifiers as raw numbers (categoricals one-hot)
    Z: np.ndarray  # (n, q): group-level predictors as HierarchicalHTE encodes them
    controls: np.ndarray  # (n, p)
    group: np.ndarray  # (n,) group index; >= n_groups for groups unseen in training
    new_groups: pd.DataFrame  # levels of the unseen groups

    def take(self, rows) -> "BaselineRows":
        return BaselineRows(
            self.features[rows], self.Z[rows], self.controls[rows], self.group[rows],
            self.new_groups,
        )  # fmt: skip


class BaselineHTE(EffectVocabularyMixin, BaseEstimator):
    """Base class: fit validation, groups from ``modifiers``, and the shared effect surface.

    Subclasses implement ``_fit_rows(rows, y, t)`` (``t``: 0/1 for one binary
    treatment, else the (n, effects) matrix of arm indicators or doses),
    ``_row_effects(rows, prob, effect)`` (mean, or mean, lower, upper when
    ``prob`` is given) and ``_mean_effect(rows, prob, effect)`` (the average
    effect over ``rows`` and its interval), and say in ``TREATMENT_KINDS`` and
    ``SEVERAL_TREATMENTS`` which treatments they take.
    """

    #: Kinds of treatment column the method takes.
    TREATMENT_KINDS: tuple = ("binary",)
    #: Whether it takes several treatment columns at once.
    SEVERAL_TREATMENTS: bool = False

    #: Whether this method gives intervals (possibly depending on its parameters).
    def _gives_intervals(self) -> bool:
        return True

    def fit(self, X, y, treatment=None):
        """Fit the baseline.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Modifiers and controls, as for :class:`~sklearn_hier.HierarchicalHTE`.
        y : array-like of shape (n_samples,)
            Outcome.
        treatment : array-like of shape (n_samples,), or DataFrame of treatment columns
            The treatment, read as :class:`~sklearn_hier.HierarchicalHTE` reads it
            (``treated_value``, ``control_value`` and ``treatment_type`` mean the
            same); each method says which kinds it takes.

        Returns
        -------
        self
        """
        return self._fit(X, y, treatment)

    def _fit(self, X, y, treatment, **row_arguments):
        """Validate, learn groups and coding, then ``_fit_rows(rows, y, t, **row_arguments)``
        (per-row inputs of one method, such as BCF's propensities)."""
        self._validate_params()
        frame = as_frame(X)
        n_rows = frame.shape[0]
        coding, treat = TreatmentCoding.learn_and_encode(
            treatment, n_rows=n_rows, treated_value=self.treated_value,
            control_value=getattr(self, "control_value", None),
            treatment_type=getattr(self, "treatment_type", "auto"),
        )  # fmt: skip
        self._check_treatment(coding)
        self.treatment_coding_ = coding
        self.effect_names_ = list(coding.effect_names)
        if coding.single_binary:
            treat = treat[:, 0]
        outcome = numeric_outcome(y, n_rows=n_rows)
        self.n_features_in_ = frame.shape[1]
        if all(isinstance(c, str) for c in frame.columns):
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.design_, _ = Design.learn(
            frame, modifiers=self.modifiers, group_predictors="modifiers", bins=self.bins
        )
        rows = self._rows_of(frame)
        self._fit_rows(rows, outcome, treat, **row_arguments)
        self._training_rows = rows
        n = np.bincount(rows.group, minlength=self.design_.n_groups)
        shown = as_shown(self.design_.groups[self.design_.modifier_names], self.design_.modifiers)
        self.groups_ = shown.assign(n=n)
        if coding.single_binary:
            n_treated = np.bincount(rows.group, weights=treat, minlength=self.design_.n_groups)
            self.groups_["n_treated"] = n_treated.astype(int)
        self.n_groups_ = self.design_.n_groups
        return self

    def _check_treatment(self, coding: TreatmentCoding) -> None:
        name = type(self).__name__
        if len(coding.columns) > 1 and not self.SEVERAL_TREATMENTS:
            raise ValueError(
                f"{name} takes one treatment column; got {len(coding.columns)} "
                f"({coding.describe()}). HierarchicalHTE and InteractionHTE take several."
            )
        for column in coding.columns:
            if column.kind not in self.TREATMENT_KINDS:
                raise ValueError(
                    f"{name} takes {' or '.join(self.TREATMENT_KINDS)} treatments; "
                    f"{column.name!r} is {column.kind} ({column.describe()})."
                )

    # ----------------------------------------------------------- row forms
    def _rows_of(self, frame: pd.DataFrame) -> BaselineRows:
        design = self.design_
        # a baseline predicts any row from its features: unseen levels are new groups
        group, new_groups = design.assign(frame, handle_unknown="population")
        Z_groups = np.vstack([design.Z, design.predictors_of(new_groups)])
        features = []
        for coding in design.modifiers:
            column = frame[coding.name]
            if coding.kind == "categorical":
                features.append(coding.encode(column))
            else:  # numeric, or binned: the forest and metalearners see the raw values
                features.append(column.to_numpy(dtype=float)[:, None])
        return BaselineRows(
            features=np.hstack(features),
            Z=Z_groups[group],
            controls=design.control_matrix(frame),
            group=group,
            new_groups=new_groups,
        )

    def _frame(self, X) -> pd.DataFrame:
        check_is_fitted(self)
        return frame_as_in_fit(
            X, n_features_in=self.n_features_in_,
            feature_names_in=getattr(self, "feature_names_in_", None), owner=type(self).__name__,
        )  # fmt: skip

    def _check_intervals(self) -> None:
        if not self._gives_intervals():
            raise NoIntervalsError(
                f"{type(self).__name__} with these parameters gives no intervals; "
                f"{self._interval_advice()}"
            )

    def _interval_advice(self) -> str:  # pragma: no cover - overridden where needed
        return "use a method that gives them."

    # ------------------------------------------------------ effect surface
    def predict_effect(self, X, *, return_interval=False, prob=0.95):
        """Estimated treatment effect for each row of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Rows with the columns seen in ``fit``.
        return_interval : bool, default=False
            Also return the interval bounds (where the method gives intervals).
        prob : float, default=0.95
            Coverage of the interval.

        Returns
        -------
        effect : ndarray of shape (n_samples,) or (n_samples, n_effects)
            One column per effect when there is more than one (a DataFrame with
            ``effect_names_`` as columns when ``X`` is a DataFrame).
        lower, upper : same shape as ``effect``
            Only with ``return_interval=True``.
        """
        prob = check_prob(prob)
        rows = self._rows_of(self._frame(X))
        if return_interval:
            self._check_intervals()
        per_effect = [
            self._row_effects(rows, prob if return_interval else None, k)
            for k in range(len(self.effect_names_))
        ]
        return effects_by_column(per_effect, self.effect_names_, X, with_interval=return_interval)

    def _average_effect(self, X, prob, effect: int = 0) -> tuple[float, float, float]:
        check_is_fitted(self)
        rows = self._training_rows if X is None else self._rows_of(self._frame(X))
        if prob is None:  # the point estimate only
            return float(self._row_effects(rows, None, effect).mean()), np.nan, np.nan
        if not self._gives_intervals():
            self._check_intervals()
        return self._average_effect_of(rows, check_prob(prob), effect)

    def ate_interval(self, X=None, *, T0=0, T1=1, alpha=0.05):
        self._check_intervals()
        return super().ate_interval(X, T0=T0, T1=T1, alpha=alpha)

    ate_interval.__doc__ = EffectVocabularyMixin.ate_interval.__doc__

    def effect_by_group(self, X=None, prob=0.95) -> pd.DataFrame:
        """The average effect in every group, with its interval where the method gives one.

        Parameters
        ----------
        X : pandas.DataFrame, default=None
            Rows to aggregate; ``None`` uses the training rows. Groups are the
            level combinations of ``modifiers`` (binned as in ``bins``), exactly
            as :class:`~sklearn_hier.HierarchicalHTE` defines them.
        prob : float, default=0.95
            Coverage of the intervals.

        Returns
        -------
        table : pandas.DataFrame
            One row per group: the modifiers, ``n`` (rows aggregated) and the
            group's ``mean`` effect, with ``lower`` and ``upper`` (NaN when the
            method gives no intervals). With more than one effect, one block of
            rows per effect, named in a leading ``treatment`` column.
        """
        check_is_fitted(self)
        prob = check_prob(prob)
        rows = self._training_rows if X is None else self._rows_of(self._frame(X))
        design = self.design_
        levels = pd.concat(
            [design.groups[design.modifier_names], rows.new_groups[design.modifier_names]],
            ignore_index=True,
        )
        present, counts = np.unique(rows.group, return_counts=True)
        order = np.argsort(rows.group, kind="stable")
        blocks = np.split(order, np.cumsum(counts)[:-1])
        tables = []
        for k, name in enumerate(self.effect_names_):
            estimates = np.array([self._average_effect_of(rows.take(b), prob, k) for b in blocks])
            table = as_shown(levels.iloc[present].reset_index(drop=True), design.modifiers)
            table["n"] = counts
            table["mean"], table["lower"], table["upper"] = estimates.T
            if len(self.effect_names_) > 1:
                table.insert(0, "treatment", name)
            tables.append(table)
        return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]

    def _average_effect_of(self, rows: BaselineRows, prob, effect) -> tuple[float, float, float]:
        if self._gives_intervals():
            return self._mean_effect(rows, prob, effect)
        return float(self._row_effects(rows, None, effect).mean()), np.nan, np.nan

    # ------------------------------------------------------------- hooks
    def _fit_rows(self, rows: BaselineRows, y: np.ndarray, t: np.ndarray) -> None:
        raise NotImplementedError  # pragma: no cover

    def _row_effects(self, rows: BaselineRows, prob, effect: int = 0):
        raise NotImplementedError  # pragma: no cover

    def _mean_effect(self, rows: BaselineRows, prob, effect: int = 0) -> tuple[float, float, float]:
        raise NotImplementedError  # pragma: no cover
