"""The treatment coding: what the user's treatment columns mean, learned once at fit.

A treatment is one column or several (a DataFrame). Each column is

- **binary**: 0/1, False/True, or two labels with ``treated_value`` /
  ``control_value`` naming which is which: one effect, treated against control;
- **categorical** (a multi-arm treatment): K > 2 levels, one effect per
  non-reference arm against the reference arm (``control_value``; by default
  the first category of a pandas Categorical, else the first level in sorted
  order);
- **continuous**: numbers with more than two distinct values: one effect, the
  slope per unit. Under ``treatment_type="auto"``, integer codes 0..k-1 or 1..k
  (3 <= k <= 10) are refused as ambiguous (arms or a dose): the user says which.

Labels are kept as values, never as their text: every label (the arms, the
two values of a labelled binary treatment, ``control_value``, the labels given
to ``predict`` and to the reports) goes through one canonical form
(:func:`canonical_labels`), so ``1`` and ``1.0`` name the same arm and a
``datetime64`` arm is the same pandas Timestamp whatever its unit. Column
names are kept as they were given (``0`` is not ``"0"``).

The model sees the treatment as a matrix with one column per effect (0/1
indicators of the arms, or the doses). Every path that reads a treatment
(``fit``, ``predict``, the scorers, ``compare``, the baselines, saved files)
asks the one :class:`TreatmentCoding` learned from the training data, so the
user's coding means the same thing everywhere. A value that was not seen in fit
is an error naming the known ones: after fitting on ``"ally"``/``"none"``, a
``1`` is never silently read as "not ally".
"""

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._base.input_checks import column_vector

TREATMENT_TYPES = ("auto", "binary", "categorical", "continuous")
_NUMERIC_ARMS = (0.0, 1.0)
#: Consecutive integer codes with this many values (0..k-1 or 1..k) read as arms as
#: readily as a dose: ``treatment_type="auto"`` asks instead of guessing.
CODE_COUNTS = range(3, 11)
#: Treatment columns (with an intercept) whose smallest share of unexplained variance is
#: below this are collinear: the data cannot tell their effects apart. The same bound
#: refuses a control that is (nearly) a linear function of the treatment columns.
NEAR_COLLINEAR = 1e-6


def _as_indicator(array: np.ndarray, distinct: np.ndarray | None = None) -> np.ndarray | None:
    """0/1 floats when every value is 0/1 or False/True, else None (``distinct``: the
    array's distinct values, when known: for numbers and booleans, whose conversion is
    value by value, checking them is checking every value)."""
    try:
        coded = np.asarray(array).astype(np.float64)
    except (TypeError, ValueError):
        return None
    if distinct is not None and coded.dtype == np.float64 and array.dtype.kind in "biuf":
        checked = np.asarray(distinct).astype(np.float64)
    else:
        checked = coded
    return coded if np.isin(checked, _NUMERIC_ARMS).all() else None


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
            f"{_called(name)} has {int(missing.sum())} missing value(s); drop those rows first."
        )


def _called(name: str) -> str:
    """How messages name a treatment column: "treatment", or "treatment 'alliance'"."""
    return "treatment" if name == "treatment" else f"treatment {name!r}"


def _shown(values) -> list[str]:
    return sorted(map(str, values))[:10]


def _plain_scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def canonical_labels(values) -> list:
    """Labels in one form, whatever container or dtype carried them.

    Numbers and booleans become Python's, datetimes of any unit (``datetime64[ns]``,
    ``[us]``, tz-aware, ``datetime.datetime``) pandas Timestamps, time spans
    Timedeltas; Periods, strings and tuples stay. Learned levels and looked-up labels
    both go through it, and pandas matches such values by value (``1 == 1.0``,
    Timestamps across units), so a label means the same at fit, predict and in
    reports.
    """
    return [_plain_scalar(v) for v in pd.Index(values).tolist()]


def canonical_label(value):
    """One label in the form of :func:`canonical_labels`."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return tuple(canonical_label(v) for v in value)
    return canonical_labels([value])[0]


def _label_positions(known, values) -> np.ndarray:
    """Position of each of ``values`` among the labels ``known`` (-1: not among them),
    matched by value as pandas does (never as text)."""
    try:
        return pd.Index(list(known)).get_indexer(pd.Index(values))
    except (TypeError, ValueError):  # labels of incomparable kinds: none match
        return np.full(len(values), -1)


def _same_name(name, label) -> bool:
    """Whether ``label`` is the column name ``name`` (its value, not its text)."""
    if np.ndim(label) != 0 and not isinstance(label, tuple):
        return False
    try:
        return bool(name == label)
    except (TypeError, ValueError):
        return False


#: Tags of the labels that JSON has no type for, in a saved file.
_LABEL_TAG = "__label__"


def plain_label(value):
    """A label (or column name) as JSON-ready data that :func:`label_from_plain` restores
    exactly: numbers, strings and None as they are; Timestamps (with their time zone and
    unit), Timedeltas, Periods and tuples as tagged objects."""
    value = canonical_label(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple):
        return {_LABEL_TAG: "tuple", "value": [plain_label(v) for v in value]}
    if isinstance(value, pd.Timestamp):
        tz = None if value.tz is None else str(value.tz)
        if tz is not None:  # the UTC instant, so daylight-saving folds restore exactly
            value = value.tz_convert("UTC").tz_localize(None)
        return {_LABEL_TAG: "timestamp", "value": value.isoformat(), "tz": tz, "unit": value.unit}
    if isinstance(value, pd.Timedelta):
        return {_LABEL_TAG: "timedelta", "value": int(value.as_unit("ns").value),
                "unit": value.unit}  # fmt: skip
    if isinstance(value, pd.Period):
        return {_LABEL_TAG: "period", "value": str(value), "freq": value.freqstr}
    raise ValueError(
        f"cannot save the treatment label {value!r} of type {type(value).__name__}: saved "
        "labels are numbers, strings, booleans, dates (Timestamps), Timedeltas, Periods "
        "and tuples of them. Recode the treatment to one of these before fitting."
    )


def is_plain_label(plain) -> bool:
    """Whether ``plain`` is a tagged label written by :func:`plain_label`."""
    return isinstance(plain, dict) and _LABEL_TAG in plain


def label_from_plain(plain):
    """The label :func:`plain_label` wrote."""
    if not is_plain_label(plain):
        return plain
    kind, value = plain[_LABEL_TAG], plain["value"]
    if kind == "tuple":
        return tuple(label_from_plain(v) for v in value)
    if kind == "timestamp":
        stamp = pd.Timestamp(value).as_unit(plain["unit"])
        tz = plain["tz"]
        return stamp if tz is None else stamp.tz_localize("UTC").tz_convert(_time_zone(tz))
    if kind == "timedelta":
        return pd.Timedelta(value, unit="ns").as_unit(plain["unit"])
    if kind == "period":
        return pd.Period(value, freq=plain["freq"])
    raise ValueError(f"unknown saved label kind {kind!r}; the file is from a newer version.")


def _time_zone(name: str):
    """A time zone from its saved name: an IANA name, or a fixed offset ``UTC+01:00``."""
    if name.startswith("UTC") and len(name) > 3:
        sign = 1 if name[3] == "+" else -1
        hours, minutes = name[4:].split(":")[:2]
        offset = datetime.timedelta(hours=int(hours), minutes=int(minutes))
        return datetime.timezone(sign * offset)
    return name


def _integer_codes(array: np.ndarray, labels: list) -> bool:
    """Integer-typed values 0..k-1 or 1..k with k in ``CODE_COUNTS``: arms or a dose?"""
    integers = array.dtype.kind in "iu" or (
        array.dtype == object
        and all(isinstance(v, int) and not isinstance(v, bool) for v in labels)
    )
    if not integers or len(labels) not in CODE_COUNTS:
        return False
    codes = np.sort(np.asarray(labels, dtype=np.int64))
    return codes[0] in (0, 1) and bool((np.diff(codes) == 1).all())


@dataclass(frozen=True)
class TreatmentColumn:
    """One treatment column's coding.

    Attributes
    ----------
    name : hashable
        The column's name as given (the Series or DataFrame column name, or
        ``"treatment"``); effect names are its text.
    kind : {"binary", "categorical", "continuous"}
    treated_value, control_value : scalar or None
        Binary: the labels meaning treated and control when the arms are labels
        other than 0/1 (``None`` for a 0/1 or boolean treatment). Categorical:
        ``control_value`` is the reference arm.
    levels : tuple
        Categorical: every arm, the reference first.
    mean : float
        Continuous: the training mean dose (where response-scale slopes are taken).
    sd : float
        Continuous: the training standard deviation of the dose, the unit of its prior
        scales (1 otherwise). A summary of the rows, not part of what the coding means,
        so it is left out of comparisons.
    """

    name: object = "treatment"
    kind: str = "binary"
    treated_value: object = None
    control_value: object = None
    levels: tuple = ()
    mean: float = 0.0
    sd: float = field(default=1.0, compare=False)

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
            return [str(self.name)]
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
    def learn(
        cls,
        array: np.ndarray,
        *,
        name: str,
        treatment_type: str,
        treated_value,
        control_value,
        declared,
        weights,
    ) -> tuple["TreatmentColumn", np.ndarray | None]:
        """The coding of one training column (``declared``: a Categorical's categories;
        ``weights``: the rows each value stands for, when the values are distinct
        combinations of rows rather than the rows themselves), and the column as 0/1
        floats when every value is 0/1 or False/True (None otherwise): a 0/1 column's
        encoding, found while learning."""
        _check_missing(array, name)
        values = pd.unique(array)
        labels = canonical_labels(values)
        treated_value = canonical_label(treated_value)
        control_value = canonical_label(control_value)
        if len(values) < 2:
            raise ValueError(
                f"{_called(name)} has only one value ({_shown(values)}); treated and "
                "control rows (or at least two doses) are needed to estimate an effect."
            )
        # the dose's values, converted only where a rule reads them
        numbers = functools.cache(lambda: _as_numbers(array))
        indicator = _as_indicator(array, values)
        kind = treatment_type
        if kind == "auto":
            if declared is not None:
                kind = "categorical" if len(declared) > 2 else "binary"
            elif indicator is not None or treated_value is not None:
                kind = "binary"
            elif len(values) > 2:
                if numbers() is not None and _integer_codes(array, labels):
                    raise ValueError(
                        f"{_called(name)} has the integer values {_shown(labels)}: codes of "
                        f"{len(labels)} arms or a dose, which treatment_type='auto' cannot tell "
                        "apart. Pass treatment_type='categorical' (one effect per arm against "
                        f"{min(labels)}) or treatment_type='continuous' (one slope per unit). "
                        "With several treatment columns of different kinds, pass the arms as a "
                        "pandas Categorical (always arms) or the dose as floats (always a dose)."
                    )
                kind = "continuous" if numbers() is not None else "categorical"
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
            return cls._binary(labels, indicator, name, treated_value, control_value), indicator
        if treated_value is not None:
            raise ValueError(
                f"treated_value is for a binary treatment; {name!r} is {kind} (one effect per "
                "arm, or a slope). Leave treated_value=None."
            )
        if kind == "continuous":
            numbers = numbers()
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
            mean = float(np.average(numbers, weights=weights))
            sd = float(np.sqrt(np.average((numbers - mean) ** 2, weights=weights)))
            return cls(name=name, kind="continuous", mean=mean, sd=sd), indicator
        levels = list(declared) if declared is not None else sorted_levels(labels)
        present = set(labels)
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
        column = cls(name=name, kind="categorical", control_value=reference, levels=ordered)
        return column, indicator

    @classmethod
    def _binary(cls, values, indicator, name, treated_value, control_value):
        labels = set(values)
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
            treated_value = next(v for v in values if v != control_value)
        control = next(v for v in values if v != treated_value)
        plain = _as_indicator(np.asarray([treated_value, control], dtype=object))
        if plain is not None and float(treated_value) == 1.0:  # 0/1 as usual
            return cls(name=name)
        return cls(name=name, treated_value=treated_value, control_value=control)

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
        index = _label_positions(known, array)
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

    def level_position(self, label) -> int:
        """A categorical column's level ``label`` (matched by value): its position among
        ``levels`` (0: the reference arm), or -1."""
        if self.kind != "categorical" or (np.ndim(label) != 0 and not isinstance(label, tuple)):
            return -1
        return int(_label_positions(self.levels, [canonical_label(label)])[0])

    def to_plain(self) -> dict:
        return {
            "name": plain_label(self.name), "kind": self.kind,
            "treated_value": plain_label(self.treated_value),
            "control_value": plain_label(self.control_value),
            "levels": [plain_label(v) for v in self.levels], "mean": self.mean,
            "sd": self.sd,
        }  # fmt: skip

    @classmethod
    def from_plain(cls, plain: dict) -> "TreatmentColumn":
        return cls(
            name=label_from_plain(plain["name"]), kind=plain.get("kind", "binary"),
            treated_value=label_from_plain(plain.get("treated_value")),
            control_value=label_from_plain(plain.get("control_value")),
            levels=tuple(label_from_plain(v) for v in plain.get("levels", ())),
            mean=float(plain.get("mean", 0.0)), sd=float(plain.get("sd", 1.0)),
        )  # fmt: skip


def sorted_levels(labels: list) -> list:
    """Levels in their own order (numbers, dates, periods, text); labels of mixed kinds
    numbers first, then the rest as text."""
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=_order)


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
        return " + ".join(str(c.name) for c in self.columns)

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

    # --------------------------------------------------------------- lookup
    def _matches(self, label) -> list:
        """The effects ``label`` names: an effect name as shown (``"b"``, ``"arm=b"``), a
        column's name, or an arm of a categorical column, matched by value (``1`` and
        ``1.0`` are one arm). None stands for a reference arm."""
        names = self.effect_names
        if isinstance(label, str) and label in names:
            return [names.index(label)]
        found, start = [], 0
        for column in self.columns:
            if column.kind == "categorical":
                position = column.level_position(label)
                if position >= 0:
                    found.append(None if position == 0 else start + position - 1)
            elif _same_name(column.name, label):
                found.append(start)
            start += column.n_effects
        return found

    def _arms(self) -> list:
        return [str(v) for c in self.columns if c.kind == "categorical" for v in c.levels]

    def effect_index(self, label) -> int:
        """The position of the effect ``label`` names (None: the one effect of a
        one-effect model). Every path that takes an effect by name (``predict_effect``'s
        columns, ``average_effect``, the plots, the tables) asks here."""
        names = self.effect_names
        if label is None:
            if len(names) > 1:
                raise ValueError(
                    f"the model has {len(names)} effects {names}; pass treatment=<one of them>."
                )
            return 0
        found = self._matches(label)
        if len(found) > 1:
            raise ValueError(
                f"treatment={label!r} is an arm of several treatment columns; pass the effect's "
                f"name, one of {names}."
            )
        if found == [None]:
            raise ValueError(
                f"treatment={label!r} is the reference arm, which every effect is measured "
                f"against; the effects are {names}."
            )
        if not found:
            raise ValueError(
                f"treatment={label!r} is not an effect of the model; its effects are {names}."
            )
        return found[0]

    def arm_index(self, label) -> int | None:
        """As :meth:`effect_index` for an arm of :meth:`compare_arms`: the position of its
        effect, or None for a reference arm (no effect against itself)."""
        found = self._matches(label)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"arm {label!r} is an arm of several treatment columns; pass the effect's "
                f"name, one of {self.effect_names}."
            )
        known = list(dict.fromkeys(self.effect_names + self._arms()))
        raise ValueError(f"arm {label!r} is not an arm of the treatment; its arms are {known}.")

    # ------------------------------------------------------------------ fit
    @classmethod
    def learn_and_encode(
        cls, treatment, *, n_rows: int, treated_value=None, control_value=None,
        treatment_type: str = "auto", weights=None,
    ) -> tuple["TreatmentCoding", np.ndarray]:  # fmt: skip
        """The coding of a training treatment and the (n, n_effects) matrix under it
        (``weights``: the rows each row of ``treatment`` stands for, if not one)."""
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
            names = [name for name, _, _ in parts]
            unknown = [k for k in controls if not any(_same_name(n, k) for n in names)]
            if unknown:
                raise ValueError(
                    f"control_value names column(s) {unknown} that are not treatment columns "
                    f"{[name for name, _, _ in parts]}."
                )
        columns, matrices = [], []
        for name, array, declared in parts:
            column, indicator = TreatmentColumn.learn(
                array, name=name, treatment_type=treatment_type, treated_value=treated_value,
                control_value=controls.get(name) if controls is not None else control_value,
                declared=declared, weights=weights,
            )  # fmt: skip
            columns.append(column)
            if column.kind == "binary" and not column.labelled and indicator is not None:
                matrices.append(indicator[:, None])  # what encode finds again: the 0/1 floats
            else:
                matrices.append(column.encode(array))
        coding = cls(tuple(columns))
        matrix = matrices[0] if len(matrices) == 1 else np.hstack(matrices)
        coding.check_rank(matrix)
        return coding, matrix

    def check_rank(self, matrix: np.ndarray) -> None:
        """Refuse treatment columns that are collinear (with the intercept): a copy of a
        column, ``1 - t`` beside ``t``, an "any arm" flag beside the arms. Their effects
        cannot be told apart, and a fit would split the effect between them at random.

        The rank of the distinct rows is the rank of all rows, so the check holds on a
        partitioned treatment's distinct combinations too.
        """
        if matrix.shape[1] < 2:  # one column of two or more values: never constant
            return
        centred = matrix - matrix.mean(axis=0)
        gram = centred.T @ centred
        scale = np.sqrt(np.diag(gram))
        values, vectors = np.linalg.eigh(gram / np.outer(scale, scale))
        null = vectors[:, values < NEAR_COLLINEAR]
        if null.shape[1] == 0:
            return
        involved = np.abs(null).max(axis=1) > 1e-3
        effects = [n for n, hit in zip(self.effect_names, involved, strict=True) if hit]
        names = []
        for column, hit in zip(self.effect_columns, involved, strict=True):
            if hit and column.name not in names:
                names.append(column.name)
        raise ValueError(
            f"treatment columns {names} are collinear: their effects {effects} are linearly "
            "dependent (a column copies another or is 1 minus it, or flags any of another "
            "column's arms), so the data cannot tell them apart. Drop the redundant column, "
            "or code the treatments as one categorical column."
        )

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
            # each column's value: one for every row, or one per row (an array or Series,
            # paired with the rows by position as a lone treatment column is; the caller
            # checks a Series' index against X's)
            treatment = pd.DataFrame({
                k: np.full(n_rows, v, dtype=object) if np.ndim(v) == 0
                else column_vector(v, name=f"treatment[{k!r}]", n_rows=n_rows)
                for k, v in treatment.items()
            })  # fmt: skip
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
            # by name, as given: a column 0 is not a column "0"; only a name with no match of
            # its own type is read as text (files before format 4 saved names as text)
            matched = [
                [a for g, a, _ in parts if _same_name(n, g)]
                or [a for g, a, _ in parts if isinstance(n, str) and str(g) == n]
                for n in names
            ]
            if len(given) != len(names) or any(len(m) != 1 for m in matched):
                raise ValueError(f"treatment has columns {given}; the model was fitted on {names}.")
            arrays = [m[0] for m in matched]
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


def _columns_of(treatment, n_rows: int) -> list[tuple[object, np.ndarray, list | None]]:
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
        # the names as given (an integer-named column keeps its integer name)
        return [_one_column(treatment.iloc[:, k], _plain_scalar(c), n_rows)
                for k, c in enumerate(treatment.columns)]  # fmt: skip
    name = (
        _plain_scalar(treatment.name)
        if isinstance(treatment, pd.Series) and treatment.name is not None
        else "treatment"
    )
    return [_one_column(treatment, name, n_rows)]


def _one_column(values, name, n_rows: int):
    declared = None
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        declared = canonical_labels(values.cat.categories)
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
