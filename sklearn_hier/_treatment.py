"""The treatment coding: what the user's treatment columns mean, learned once at fit.

A treatment is one column or several (a DataFrame). Each column is

- **binary**: 0/1, False/True, or two labels with ``treated_value`` /
  ``control_value`` naming which is which: one effect, treated against control;
- **categorical** (a multi-arm treatment): K > 2 levels, one effect per
  non-reference arm against the reference arm (``control_value``; by default
  the first category of a pandas Categorical, else the first level in sorted
  order);
- **continuous**: numbers with more than two distinct values: one effect, the
  slope per unit.

The model sees the treatment as a matrix with one column per effect (0/1
indicators of the arms, or the doses). Every path that reads a treatment
(``fit``, ``predict``, the scorers, ``compare``, the baselines, saved files)
asks the one :class:`TreatmentCoding` learned from the training data, so the
user's coding means the same thing everywhere. A value that was not seen in fit
is an error naming the known ones: after fitting on ``"ally"``/``"none"``, a
``1`` is never silently read as "not ally".
"""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validation import column_vector

TREATMENT_TYPES = ("auto", "binary", "categorical", "continuous")
_NUMERIC_ARMS = (0.0, 1.0)


def _as_indicator(array: np.ndarray) -> np.ndarray | None:
    """0/1 floats when every value is 0/1 or False/True, else None."""
    try:
        coded = np.asarray(array).astype(np.float64)
    except (TypeError, ValueError):
        return None
    return coded if np.isin(coded, _NUMERIC_ARMS).all() else None


def _as_numbers(array: np.ndarray) -> np.ndarray | None:
    """Float64 values when every value is a number (not a bool or a label), else None."""
    if array.dtype.kind in "iuf":
        return array.astype(np.float64)
    if array.dtype == object and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in array[:1000]
    ):
        try:
            return array.astype(np.float64)
        except (TypeError, ValueError):
            return None
    return None


def _check_missing(array: np.ndarray, name: str) -> None:
    missing = pd.isna(array)
    if missing.any():
        raise ValueError(
            f"{_called(name)} has {int(missing.sum())} missing value(s); drop those rows "
            "first."
        )


def _called(name: str) -> str:
    """How messages name a treatment column: "treatment", or "treatment 'alliance'"."""
    return "treatment" if name == "treatment" else f"treatment {name!r}"


def _shown(values) -> list[str]:
    return sorted(map(str, values))[:10]


def _plain_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class TreatmentColumn:
    """One treatment column's coding.

    Attributes
    ----------
    name : str
        The column's name (the Series or DataFrame column name, or ``"treatment"``).
    kind : {"binary", "categorical", "continuous"}
    treated_value, control_value : scalar or None
        Binary: the labels meaning treated and control when the arms are labels
        other than 0/1 (``None`` for a 0/1 or boolean treatment). Categorical:
        ``control_value`` is the reference arm.
    levels : tuple
        Categorical: every arm, the reference first.
    mean : float
        Continuous: the training mean dose (where response-scale slopes are taken).
    """

    name: str = "treatment"
    kind: str = "binary"
    treated_value: object = None
    control_value: object = None
    levels: tuple = ()
    mean: float = 0.0

    @property
    def labelled(self) -> bool:
        """Binary with labels other than 0/1 (then only those labels are accepted)."""
        return self.kind == "binary" and self.treated_value is not None

    @property
    def arms(self) -> tuple:
        """The arms with an effect of their own (categorical: every arm but the reference)."""
        return self.levels[1:] if self.kind == "categorical" else ()

    @property
    def n_effects(self) -> int:
        return len(self.arms) if self.kind == "categorical" else 1

    def effect_names(self, *, alone: bool) -> list[str]:
        """Names of this column's effects; ``alone``: it is the only treatment column."""
        if self.kind != "categorical":
            return [self.name]
        return [str(a) if alone else f"{self.name}={a}" for a in self.arms]

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"arms {[str(v) for v in self.levels]} (reference {self.control_value!r})"
        if self.kind == "continuous":
            return "a continuous dose"
        if self.labelled:
            return f"{self.treated_value!r} (treated) and {self.control_value!r} (control)"
        return "0/1 or False/True (1 = treated)"

    # ------------------------------------------------------------ learning
    @classmethod
    def learn(cls, array: np.ndarray, *, name: str, treatment_type: str, treated_value=None,
              control_value=None, declared=None) -> "TreatmentColumn":  # fmt: skip
        """The coding of one training column (``declared``: a Categorical's categories)."""
        _check_missing(array, name)
        values = pd.unique(array)
        if len(values) < 2:
            raise ValueError(
                f"{_called(name)} has only one value ({_shown(values)}); treated and "
                "control rows (or at least two doses) are needed to estimate an effect."
            )
        numbers = _as_numbers(array)
        indicator = _as_indicator(array)
        kind = treatment_type
        if kind == "auto":
            if declared is not None:
                kind = "categorical" if len(declared) > 2 else "binary"
            elif indicator is not None or treated_value is not None:
                kind = "binary"
            elif len(values) > 2:
                kind = "continuous" if numbers is not None else "categorical"
            elif control_value is not None:
                kind = "binary"
            else:
                raise ValueError(
                    f"{_called(name)} has two values {_shown(values)} that are not 0/1, so "
                    "which one is treated is ambiguous. Pass treated_value=<the treated value> "
                    "(or control_value=<the control value>), or recode it (e.g. "
                    f"{name} == 'yes')."
                )
        if kind == "binary":
            return cls._binary(array, values, indicator, name, treated_value, control_value)
        if treated_value is not None:
            raise ValueError(
                f"treated_value is for a binary treatment; {name!r} is {kind} (one effect per "
                "arm, or a slope). Leave treated_value=None."
            )
        if kind == "continuous":
            if numbers is None:
                raise ValueError(
                    f"treatment_type='continuous' needs numbers; {name!r} has values "
                    f"{_shown(values)}."
                )
            if not np.isfinite(numbers).all():
                raise ValueError(
                    f"{_called(name)} has {int((~np.isfinite(numbers)).sum())} non-finite "
                    "dose(s) (inf); drop or fix those rows."
                )
            if control_value is not None:
                raise ValueError(
                    f"control_value is for a binary or categorical treatment; {name!r} is "
                    "continuous (its effect is the slope per unit)."
                )
            return cls(name=name, kind="continuous", mean=float(numbers.mean()))
        levels = list(declared) if declared is not None else sorted(values.tolist(), key=_order)
        present = set(values.tolist())
        empty = [v for v in levels if v not in present]
        if empty:
            raise ValueError(
                f"{_called(name)} has arm(s) {[str(v) for v in empty]} with no rows; every "
                "arm needs rows to estimate its effect. Drop the unused categories "
                f"({name}.cat.remove_unused_categories()) or add rows of those arms."
            )
        reference = levels[0] if control_value is None else control_value
        if reference not in present:
            raise ValueError(
                f"control_value={control_value!r} is not a level of treatment {name!r}; its "
                f"levels are {[str(v) for v in levels]}."
            )
        ordered = (reference, *[v for v in levels if v != reference])
        return cls(name=name, kind="categorical", control_value=_plain_scalar(reference),
                   levels=tuple(_plain_scalar(v) for v in ordered))  # fmt: skip

    @classmethod
    def _binary(cls, array, values, indicator, name, treated_value, control_value):
        labels = set(values.tolist())
        if len(values) > 2:
            raise ValueError(
                f"{_called(name)} must be binary (two values) here; it has {len(values)} "
                f"({_shown(values)}). HierarchicalHTE takes multi-arm treatments "
                "(treatment_type='categorical') and doses ('continuous')."
            )
        for given, what in ((treated_value, "treated_value"), (control_value, "control_value")):
            if given is not None and given not in labels:
                raise ValueError(
                    f"{what}={given!r} is not a value of treatment {name!r}; its values are "
                    f"{_shown(values)}."
                )
        if treated_value is None and control_value is None:
            if indicator is None:
                raise ValueError(
                    f"{_called(name)} must be binary, coded 0/1 or False/True; found values "
                    f"{_shown(values)}. Pass treated_value=<the treated value>."
                )
            return cls(name=name)
        if treated_value is None:
            treated_value = next(v for v in values.tolist() if v != control_value)
        control = next(v for v in values.tolist() if v != treated_value)
        plain = _as_indicator(np.asarray([treated_value, control], dtype=object))
        if plain is not None and float(treated_value) == 1.0:  # 0/1 as usual
            return cls(name=name)
        return cls(name=name, treated_value=_plain_scalar(treated_value),
                   control_value=_plain_scalar(control))  # fmt: skip

    # ------------------------------------------------------------ encoding
    def encode(self, array: np.ndarray) -> np.ndarray:
        """(n, n_effects) float64: arm indicators, or the dose."""
        _check_missing(array, self.name)
        if self.kind == "continuous":
            numbers = _as_numbers(array)
            if numbers is None or not np.isfinite(numbers).all():
                raise ValueError(
                    f"{_called(self.name)} is a continuous dose; found values "
                    f"{_shown(pd.unique(array))} that are not finite numbers."
                )
            return numbers[:, None]
        if self.kind == "binary" and not self.labelled:
            coded = _as_indicator(array)
            if coded is None:
                raise ValueError(
                    f"{_called(self.name)} values {_shown(pd.unique(array))} are not among "
                    f"those seen in fit: {self.describe()}."
                )
            return coded[:, None]
        known = (self.treated_value, self.control_value) if self.kind == "binary" else self.levels
        index = pd.Index(list(known)).get_indexer(pd.Index(array))
        if (index < 0).any():
            raise ValueError(
                f"{_called(self.name)} values {_shown(pd.unique(array[index < 0]))} are not "
                f"among those seen in fit: {self.describe()}. Pass those labels (an arm the "
                "training rows lacked, as in a cross-validation fold without it, is unknown "
                "to the model: stratify the folds by arm)."
            )
        if self.kind == "binary":
            return (index == 0).astype(np.float64)[:, None]
        return (index[:, None] == np.arange(1, len(self.levels))[None, :]).astype(np.float64)

    def to_plain(self) -> dict:
        return {
            "name": self.name, "kind": self.kind,
            "treated_value": _plain_scalar(self.treated_value),
            "control_value": _plain_scalar(self.control_value),
            "levels": [_plain_scalar(v) for v in self.levels], "mean": self.mean,
        }  # fmt: skip

    @classmethod
    def from_plain(cls, plain: dict) -> "TreatmentColumn":
        return cls(
            name=plain["name"], kind=plain.get("kind", "binary"),
            treated_value=plain.get("treated_value"), control_value=plain.get("control_value"),
            levels=tuple(plain.get("levels", ())), mean=float(plain.get("mean", 0.0)),
        )  # fmt: skip


def _order(value):
    """Sort key that orders numbers numerically and everything else as text."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


@dataclass(frozen=True)
class TreatmentCoding:
    """Every treatment column's coding, as the user wrote them in ``fit``.

    One binary column gives one effect, exactly as a single treatment always
    did; a categorical column gives one effect per non-reference arm; several
    columns give their effects side by side, in column order.
    """

    columns: tuple = (TreatmentColumn(),)

    @classmethod
    def binary(cls, name="treatment", treated_value=None, control_value=None):
        """One binary column (0/1, or the two labels given)."""
        return cls((TreatmentColumn(name, "binary", treated_value, control_value),))

    # ---------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """The treatment's name: its column's, or the columns' joined by ``+``."""
        return " + ".join(c.name for c in self.columns)

    @property
    def single_binary(self) -> bool:
        """One binary treatment (every output keeps its one-effect shape)."""
        return len(self.columns) == 1 and self.columns[0].kind == "binary"

    @property
    def treated_value(self):
        return self.columns[0].treated_value if self.single_binary else None

    @property
    def control_value(self):
        return self.columns[0].control_value if len(self.columns) == 1 else None

    @property
    def labelled(self) -> bool:
        return self.single_binary and self.columns[0].labelled

    @property
    def n_effects(self) -> int:
        return sum(c.n_effects for c in self.columns)

    @property
    def effect_names(self) -> list[str]:
        alone = len(self.columns) == 1
        return [n for c in self.columns for n in c.effect_names(alone=alone)]

    @property
    def effect_columns(self) -> list[TreatmentColumn]:
        """The column each effect belongs to, per effect."""
        return [c for c in self.columns for _ in range(c.n_effects)]

    @property
    def reference_doses(self) -> np.ndarray:
        """Per effect, the value where response-scale effects are taken: 0 (the control arm)
        for binary and categorical effects, the training mean for a continuous dose."""
        return np.array([c.mean if c.kind == "continuous" else 0.0 for c in self.effect_columns])

    @property
    def continuous(self) -> np.ndarray:
        """Per effect, whether it is a continuous dose's slope."""
        return np.array([c.kind == "continuous" for c in self.effect_columns])

    def describe(self) -> str:
        return "; ".join(f"{c.name}: {c.describe()}" for c in self.columns)

    # ------------------------------------------------------------------ fit
    @classmethod
    def learn_and_encode(
        cls, treatment, *, n_rows: int, treated_value=None, control_value=None,
        treatment_type: str = "auto",
    ) -> tuple["TreatmentCoding", np.ndarray]:  # fmt: skip
        """The coding of a training treatment and the (n, n_effects) matrix under it."""
        parts = _columns_of(treatment, n_rows)
        several = len(parts) > 1
        if several and treated_value is not None:
            raise ValueError(
                "treated_value is for a single treatment column; with several columns code "
                "each one 0/1 (or pass control_value={column: value, ...})."
            )
        if treatment_type not in TREATMENT_TYPES:
            raise ValueError(
                f"treatment_type must be one of {TREATMENT_TYPES}; got {treatment_type!r}."
            )
        controls = control_value if isinstance(control_value, Mapping) else None
        if several and control_value is not None and controls is None:
            raise ValueError(
                "with several treatment columns, control_value must be a dict "
                "{column: control value}."
            )
        if controls is not None:
            unknown = [k for k in controls if k not in [name for name, _, _ in parts]]
            if unknown:
                raise ValueError(
                    f"control_value names column(s) {unknown} that are not treatment columns "
                    f"{[name for name, _, _ in parts]}."
                )
        columns, matrices = [], []
        for name, array, declared in parts:
            column = TreatmentColumn.learn(
                array, name=name, treatment_type=treatment_type, treated_value=treated_value,
                control_value=controls.get(name) if controls is not None else control_value,
                declared=declared,
            )  # fmt: skip
            columns.append(column)
            matrices.append(column.encode(array))
        coding = cls(tuple(columns))
        return coding, np.hstack(matrices)

    @classmethod
    def learn_binary(cls, treatment, *, n_rows: int, treated_value=None,
                     who: str = "this method") -> tuple["TreatmentCoding", np.ndarray]:  # fmt: skip
        """One binary treatment's coding and its 0/1 vector (for methods that take only that)."""
        parts = _columns_of(treatment, n_rows)
        if len(parts) > 1:
            raise ValueError(
                f"{who} takes one binary treatment; got {len(parts)} treatment columns "
                f"{[name for name, _, _ in parts]}. Use HierarchicalHTE for several treatments."
            )
        name, array, declared = parts[0]
        if declared is not None and len(declared) > 2:
            raise ValueError(
                f"{who} takes one binary treatment; {_called(name)} has {len(declared)} arms. "
                "Use HierarchicalHTE for multi-arm treatments."
            )
        column = TreatmentColumn.learn(array, name=name, treatment_type="binary",
                                       treated_value=treated_value)  # fmt: skip
        return cls((column,)), column.encode(array)[:, 0]

    @classmethod
    def learn(cls, treatment, *, n_rows: int, **options) -> "TreatmentCoding":
        return cls.learn_and_encode(treatment, n_rows=n_rows, **options)[0]

    # ---------------------------------------------------- every other path
    def encode_matrix(self, treatment, *, n_rows: int, allow_scalar: bool = False) -> np.ndarray:
        """The treatment as the (n, n_effects) float64 matrix the model uses.

        ``allow_scalar``: one value (``1``, ``"ally"``; a dict of column -> value for
        several columns) applies to every row.
        """
        if allow_scalar and isinstance(treatment, Mapping):
            treatment = pd.DataFrame({k: [v] * n_rows for k, v in treatment.items()})
        elif allow_scalar and np.ndim(treatment) == 0 and treatment is not None:
            if len(self.columns) > 1:
                raise ValueError(
                    f"one value cannot set {len(self.columns)} treatment columns; pass a dict "
                    f"{{column: value}} for columns {[c.name for c in self.columns]}."
                )
            treatment = np.full(n_rows, treatment, dtype=object)
        parts = _columns_of(treatment, n_rows)
        names = [c.name for c in self.columns]
        if len(self.columns) > 1 or len(parts) > 1:
            given = [name for name, _, _ in parts]
            if sorted(map(str, given)) != sorted(map(str, names)):
                raise ValueError(
                    f"treatment has columns {given}; the model was fitted on {names}."
                )
            by_name = {str(name): array for name, array, _ in parts}
            arrays = [by_name[str(name)] for name in names]
        else:
            arrays = [parts[0][1]]
        return np.hstack([c.encode(a) for c, a in zip(self.columns, arrays, strict=True)])

    def encode(self, treatment, *, n_rows: int, allow_scalar: bool = False) -> np.ndarray:
        """A single binary treatment as float64 0/1 (the scorers' and baselines' view)."""
        if not self.single_binary:
            raise ValueError(
                f"this needs a single binary treatment; the model was fitted on "
                f"{self.describe()} ({self.n_effects} effects)."
            )
        return self.encode_matrix(treatment, n_rows=n_rows, allow_scalar=allow_scalar)[:, 0]

    def to_plain(self) -> dict:
        return {"columns": [c.to_plain() for c in self.columns]}

    @classmethod
    def from_plain(cls, plain: dict) -> "TreatmentCoding":
        if "columns" not in plain:  # files of format 2: one binary column
            return cls.binary(plain["name"], plain["treated_value"], plain["control_value"])
        return cls(tuple(TreatmentColumn.from_plain(c) for c in plain["columns"]))


def _columns_of(treatment, n_rows: int) -> list[tuple[str, np.ndarray, list | None]]:
    """(name, values, declared categories or None) per treatment column."""
    if isinstance(treatment, pd.DataFrame):
        if treatment.shape[1] == 0:
            raise ValueError("treatment is a DataFrame with no columns.")
        if treatment.columns.has_duplicates:
            raise ValueError("treatment has duplicate column names; rename them.")
        if treatment.shape[0] != n_rows:
            raise ValueError(
                f"treatment has {treatment.shape[0]} rows but X has {n_rows}; they must match."
            )
        return [_one_column(treatment[c], str(c), n_rows) for c in treatment.columns]
    name = (
        str(treatment.name)
        if isinstance(treatment, pd.Series) and treatment.name is not None
        else "treatment"
    )
    return [_one_column(treatment, name, n_rows)]


def _one_column(values, name: str, n_rows: int):
    declared = None
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        declared = list(values.cat.categories)
        values = values.astype(object)
    array = column_vector(values, name="treatment", n_rows=n_rows)
    return name, array, declared


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
