"""The treatment coding: which value the user means by "treated", learned once at fit.

Every path that reads a treatment (``fit``, ``predict``, the scorers,
``compare``, the baselines, saved files) asks the one :class:`TreatmentCoding`
learned from the training data, so the user's coding means the same thing
everywhere. A value that was not seen in fit is an error naming the known ones:
after fitting on ``"ally"``/``"none"``, a ``1`` is never silently read as
"not ally".
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import column_vector

_NUMERIC_ARMS = (0.0, 1.0)


def _as_indicator(array: np.ndarray) -> np.ndarray | None:
    """0/1 floats when every value is 0/1 or False/True, else None."""
    try:
        coded = np.asarray(array).astype(np.float64)
    except (TypeError, ValueError):
        return None
    return coded if np.isin(coded, _NUMERIC_ARMS).all() else None


def _check_missing(array: np.ndarray) -> None:
    missing = pd.isna(array)
    if missing.any():
        raise ValueError(
            f"treatment has {int(missing.sum())} missing value(s); drop those rows first."
        )


@dataclass(frozen=True)
class TreatmentCoding:
    """A binary treatment's coding, as the user wrote it in ``fit``.

    Attributes
    ----------
    name : str
        The treatment's name (the Series name, or ``"treatment"``).
    treated_value, control_value : scalar or None
        The labels that mean treated and control when the treatment was given
        as two labels with ``treated_value`` (e.g. ``"ally"`` and ``"none"``);
        ``None`` for a 0/1 or boolean treatment.
    """

    name: str = "treatment"
    treated_value: object = None
    control_value: object = None

    @property
    def labelled(self) -> bool:
        """Whether the arms are labels other than 0/1 (then only those labels are accepted)."""
        return self.treated_value is not None

    def describe(self) -> str:
        if self.labelled:
            return f"{self.treated_value!r} (treated) and {self.control_value!r} (control)"
        return "0/1 or False/True (1 = treated)"

    # ---------------------------------------------------------------- fit
    @classmethod
    def learn(cls, treatment, *, n_rows: int, treated_value=None) -> "TreatmentCoding":
        """The coding of a training treatment; both arms must be present."""
        return cls.learn_and_encode(treatment, n_rows=n_rows, treated_value=treated_value)[0]

    @classmethod
    def learn_and_encode(
        cls, treatment, *, n_rows: int, treated_value=None
    ) -> tuple["TreatmentCoding", np.ndarray]:
        """The coding of a training treatment and the treatment as 0/1 under it, from
        one pass over the rows; both arms must be present."""
        array = column_vector(treatment, name="treatment", n_rows=n_rows)
        _check_missing(array)
        name = (
            str(treatment.name)
            if isinstance(treatment, pd.Series) and treatment.name is not None
            else "treatment"
        )
        values = pd.unique(array)
        shown = sorted(map(str, values))[:10]
        if treated_value is not None:
            if len(values) > 2 or treated_value not in set(values.tolist()):
                raise ValueError(
                    f"treated_value={treated_value!r} needs a treatment with two values, "
                    f"one of them {treated_value!r}; found {shown}."
                )
            others = [v for v in values.tolist() if v != treated_value]
            if not others:
                raise ValueError(
                    f"treatment has only one value ({treated_value!r}, all treated); both "
                    "treated and control rows are needed to estimate an effect."
                )
            control = others[0]
            plain = _as_indicator(np.asarray([treated_value, control], dtype=object))
            if plain is None or float(treated_value) != 1.0:  # labels (two values: both arms)
                coding = cls(name=name, treated_value=treated_value, control_value=control)
                return coding, (array == treated_value).astype(np.float64)
        coded = _as_indicator(array)  # 0/1 or False/True (treated_value=1 changes nothing)
        if coded is None:
            raise ValueError(
                f"treatment must be binary, coded 0/1 or False/True; found values {shown}. "
                "Recode it (e.g. treatment == 'yes'), or pass treated_value=<the treated "
                "value> when it has exactly two values."
            )
        n_treated = int(coded.sum())
        if n_treated in (0, coded.size):
            raise ValueError(
                f"treatment has only one value ({'all treated' if n_treated else 'all control'}); "
                "both treated and control rows are needed to estimate an effect."
            )
        return cls(name=name), coded

    # ---------------------------------------------------- every other path
    def encode(self, treatment, *, n_rows: int, allow_scalar: bool = False) -> np.ndarray:
        """The treatment as float64 0/1 under this coding.

        ``allow_scalar``: one value (``1``, ``"ally"``) applies to every row.
        """
        if allow_scalar and np.ndim(treatment) == 0 and treatment is not None:
            treatment = np.full(n_rows, treatment, dtype=object)
        array = column_vector(treatment, name="treatment", n_rows=n_rows)
        _check_missing(array)
        if not self.labelled:
            coded = _as_indicator(array)
            if coded is None:
                raise ValueError(
                    f"treatment values {sorted(map(str, pd.unique(array)))[:10]} are not among "
                    f"those seen in fit: {self.describe()}."
                )
            return coded
        treated = array == self.treated_value
        unknown = ~(treated | (array == self.control_value))
        if unknown.any():
            raise ValueError(
                f"treatment values {sorted(map(str, pd.unique(array[unknown])))[:10]} are not "
                f"among those seen in fit: {self.describe()}. Pass those labels."
            )
        return treated.astype(np.float64)

    def to_plain(self) -> dict:
        return {
            "name": self.name,
            "treated_value": _plain_scalar(self.treated_value),
            "control_value": _plain_scalar(self.control_value),
        }

    @classmethod
    def from_plain(cls, plain: dict) -> "TreatmentCoding":
        return cls(plain["name"], plain["treated_value"], plain["control_value"])


def _plain_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def coding_of(estimator) -> TreatmentCoding | None:
    """The fitted treatment coding of an effect model (or a Pipeline ending in one)."""
    steps = getattr(estimator, "steps", None)
    if steps:
        return coding_of(steps[-1][1])
    for name in ("treatment_coding_", "best_estimator_"):
        found = getattr(estimator, name, None)
        if isinstance(found, TreatmentCoding):
            return found
        if found is not None:
            return coding_of(found)
    return None


def encode_for(estimator, treatment, *, n_rows: int) -> np.ndarray:
    """The treatment as 0/1 under ``estimator``'s fitted coding (0/1 or bool when it has none)."""
    coding = coding_of(estimator) or TreatmentCoding()
    return coding.encode(treatment, n_rows=n_rows)
