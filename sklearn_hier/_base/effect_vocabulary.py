"""EconML's effect vocabulary, so scripts written for EconML learners run unchanged.

EconML estimators answer ``effect``, ``effect_interval``, ``ate`` and
``ate_interval``; ours answer ``predict_effect`` and ``effect_by_group``. The
mapping (binary treatment, so ``T0=0, T1=1``):

========================================  ===========================================
EconML                                    sklearn_hier
========================================  ===========================================
``est.fit(Y, T, X=X)``                    ``est.fit(X, y, treatment=T)``
``est.effect(X)``                         ``est.predict_effect(X)``
``est.effect_interval(X, alpha=0.05)``    ``est.predict_effect(X, return_interval=True,
                                          prob=0.95)[1:]``
``est.ate(X)``                            the average effect over the rows of ``X``
``est.ate_interval(X, alpha=0.05)``       its 95% interval
========================================  ===========================================

Note the argument order of ``fit``: EconML takes the outcome first, scikit-learn
(and this library) takes ``X`` first and the treatment as a keyword.
"""


class NoIntervalsError(ValueError):
    """An interval was asked of a method (with these parameters) that gives none."""


def _contrast_sign(T0, T1) -> float:
    values = {T0, T1}
    if not values <= {0, 1}:
        raise ValueError(
            f"the treatment is binary (0 = control, 1 = treated); T0 and T1 must be 0 or 1, "
            f"got T0={T0!r}, T1={T1!r}."
        )
    return float(T1) - float(T0)


def _check_alpha(alpha) -> float:
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number strictly between 0 and 1; got {alpha!r}.")
    return float(alpha)


class EffectVocabularyMixin:
    """``effect``, ``effect_interval``, ``ate`` and ``ate_interval`` as EconML names them.

    Subclasses provide ``predict_effect(X, return_interval=..., prob=...)`` and
    ``_average_effect(X, prob, effect)`` returning the average effect over the rows of
    ``X`` (``None``: the training rows) and its interval.
    """

    def effect(self, X=None, *, T0=0, T1=1):
        """Effect of moving each row of ``X`` from treatment ``T0`` to ``T1`` (EconML's name).

        Parameters
        ----------
        X : pandas.DataFrame or array-like
            Rows to evaluate, with the columns seen in ``fit``.
        T0, T1 : {0, 1}, default=0, 1
            Baseline and target treatment.

        Returns
        -------
        effect : ndarray of shape (n_samples,)
        """
        return self._sign(T0, T1) * self.predict_effect(self._rows(X))

    def effect_interval(self, X=None, *, T0=0, T1=1, alpha=0.05):
        """Lower and upper ``1 - alpha`` interval bounds of each row's effect (EconML's name).

        Returns
        -------
        lower, upper : ndarray of shape (n_samples,)
        """
        sign = self._sign(T0, T1)
        _, lower, upper = self.predict_effect(
            self._rows(X), return_interval=True, prob=1 - _check_alpha(alpha)
        )
        return (lower, upper) if sign >= 0 else (-upper, -lower)

    def ate(self, X=None, *, T0=0, T1=1) -> float:
        """Average effect over the rows of ``X`` (the training rows when ``None``)."""
        sign = self._sign(T0, T1)
        estimate, _, _ = self._average_effect(X, None)
        return sign * estimate

    def ate_interval(self, X=None, *, T0=0, T1=1, alpha=0.05) -> tuple[float, float]:
        """``1 - alpha`` interval of the average effect over the rows of ``X``."""
        sign = self._sign(T0, T1)
        _, lower, upper = self._average_effect(X, 1 - _check_alpha(alpha))
        return (lower, upper) if sign >= 0 else (-upper, -lower)

    def _sign(self, T0, T1) -> float:
        coding = getattr(self, "treatment_coding_", None)
        if coding is not None and coding.n_effects > 1:
            raise ValueError(
                f"effect, effect_interval, ate and ate_interval speak of one binary treatment; "
                f"this model has {coding.n_effects} effects {coding.effect_names}. Use "
                "predict_effect(X) (one column per effect), compare_arms or population_effect."
            )
        return _contrast_sign(T0, T1)

    def _rows(self, X):
        if X is None:
            raise ValueError(
                f"{type(self).__name__}.effect needs X: the effect varies with the modifiers."
            )
        return X

    def _average_effect(self, X, prob, effect: int = 0) -> tuple[float, float, float]:
        raise NotImplementedError  # pragma: no cover

    def average_effect(self, X=None, *, prob=0.95, treatment=None) -> tuple[float, float, float]:
        """The average effect over the rows of ``X`` and its interval, for any treatment.

        Parameters
        ----------
        X : pandas.DataFrame or array-like, default=None
            Rows to average over; ``None`` uses the training rows.
        prob : float, default=0.95
            Mass of the interval.
        treatment : str or scalar, default=None
            The effect, when the model has more than one: its name (see
            ``effect_names_``) or its arm, as ``predict`` takes it (``1`` and ``1.0``
            name one arm).

        Returns
        -------
        mean, lower, upper : float
            The bounds are NaN for a method that gives no intervals.
        """
        coding = getattr(self, "treatment_coding_", None)
        if coding is not None:  # names and arms matched by value, as predict matches them
            effect = coding.effect_index(treatment)
        else:
            names = list(getattr(self, "effect_names_", None) or [None])
            if treatment is None and len(names) > 1:
                raise ValueError(f"the model has {len(names)} effects {names}; pass treatment=.")
            if treatment is not None and str(treatment) not in names:
                raise ValueError(f"treatment={treatment!r} is not one of the effects {names}.")
            effect = 0 if treatment is None else names.index(str(treatment))
        try:
            return self._average_effect(X, prob, effect)
        except NoIntervalsError:
            return self._average_effect(X, None, effect)
