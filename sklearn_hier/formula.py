"""brms formulas in and out: fit the note's models from their formulas, and write any fit
back as the brms call that fits the same model in R.

The methods note writes its models as brms formulas, for example::

    force ~ 1 + regime + stakes + costs + region + alliance * (white + male + intl + hawk)
            + (1 + alliance | white:male:intl:hawk)

Each part maps onto one setting of :class:`~sklearn_hier.HierarchicalHTE`:

=====================================  ===============================================
brms                                   HierarchicalHTE
=====================================  ===============================================
``(1 + t | g1:g2)``                    ``modifiers=["g1", "g2"]``, ``structure="nested"``
``(1 + t | v1) + (1 + t | v2)``        ``modifiers=["v1", "v2"]``, ``structure="additive"``
``(1 | g1:g2)``                        ``varying_slopes=False`` (name the treatment)
``(1 + t1 + t2 | g)``                  ``treatment=df[["t1", "t2"]]``
``t * (z1 + z2)``                      ``group_predictors=["z1", "z2"]``
``t`` and ``(1 + t | g)`` alone        ``group_predictors=None``
other population-level terms           controls: the other columns of ``X``
``factor(arm)`` / a text column        arms, the first level (sorted) the reference
a 0/1 column; other numbers            a binary treatment; a dose (slope per unit)
``y | trials(n)``                      ``family="binomial"``, ``trials="n"``
``family = cumulative``                ``family="ordinal"``
=====================================  ===============================================

The formula is parsed by ``formulae`` (bambi's parser; the ``formula`` extra), which
reads brms's syntax except the response's ``| trials(n)``, handled here before it. What
the model cannot express is refused with the term and the reason, never fitted as a
different model.
"""

import re
from typing import NamedTuple

import numpy as np
import pandas as pd

#: brms's family names and the estimator's.
BRMS_FAMILIES = {
    "gaussian": "gaussian",
    "bernoulli": "bernoulli",
    "binomial": "binomial",
    "poisson": "poisson",
    "cumulative": "ordinal",
    "student": "student",
    "negbinomial": "negbinomial",
}
FAMILY_TO_BRMS = {ours: brms for brms, ours in BRMS_FAMILIES.items()}

_RESPONSE = re.compile(
    r"^\s*([A-Za-z_.][\w.]*)\s*(?:\|\s*(\w+)\s*\(\s*([A-Za-z_.][\w.]*)\s*\))?\s*$"
)
_FACTOR = re.compile(r"^factor\(\s*([A-Za-z_.][\w.]*)\s*\)$")


class FormulaTerms(NamedTuple):
    """What a brms formula says, in the estimator's terms."""

    response: str
    trials: str | None
    treatments: tuple  # column names, in the formula's order
    factor_treatments: frozenset  # those written factor(...): always arms
    modifiers: tuple
    group_predictors: tuple
    controls: tuple
    structure: str
    varying_slopes: bool


class FormulaModel(NamedTuple):
    """What :meth:`HierarchicalHTE.from_formula` returns: the estimator and its data."""

    estimator: object
    X: pd.DataFrame
    y: pd.Series
    treatment: object  # a Series, or a DataFrame of several treatments


def _refuse(term: str, why: str) -> ValueError:
    return ValueError(f"formula term {term!r}: {why}")


def _variable(component, term_name: str) -> tuple[str, bool]:
    """A component's column and whether it was written ``factor(...)``."""
    kind = type(component).__name__
    if kind == "Variable":
        return component.name, False
    match = _FACTOR.match(component.name)
    if match:
        return match.group(1), True
    raise _refuse(
        term_name,
        f"{component.name} is a transformation; only factor() is read. "
        "Compute the column first and name it in the formula.",
    )


def parse_formula(formula: str, *, treatment=None) -> FormulaTerms:
    """Read a brms formula into the estimator's settings (no data needed).

    ``treatment``: the treatment column(s), needed only when no group term has a slope
    (``(1 | g)``, varying intercepts only); otherwise the slopes name the treatments.
    """
    try:
        from formulae import model_description
    except ImportError as error:  # pragma: no cover - the extra is installed with tests
        raise ImportError(
            "formulas need the 'formulae' package: pip install 'sklearn_hier[formula]'"
        ) from error
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ValueError(f"a formula is one string 'response ~ terms'; got {formula!r}.")
    left, right = formula.split("~")
    if "||" in right:
        raise _refuse(
            "||",
            "uncorrelated group terms are not part of the model: its "
            "intercept and effects are correlated (LKJ prior). Write '|'.",
        )
    match = _RESPONSE.match(left)
    if not match:
        raise _refuse(
            left.strip(),
            "the response must be a column, optionally with brms's '| trials(n)' (binomial).",
        )
    response, addition, trials = match.groups()
    if addition is not None and addition != "trials":
        raise _refuse(
            f"{response} | {addition}({trials})",
            f"the response addition {addition}() is not supported; only trials().",
        )
    try:
        description = model_description(f"{response} ~ {right}")
    except Exception as error:  # the parser's own message, with the formula
        raise ValueError(f"cannot parse the formula {formula!r}: {error}") from error
    common = [t for t in description.terms if type(t).__name__ != "GroupSpecificTerm"]
    if not any(type(t).__name__ == "Intercept" for t in common):
        raise _refuse(
            "0", "the model always has a population-level intercept; drop '0 +' or '- 1'."
        )
    bars = _bars(description.group_terms)
    if not bars:
        raise ValueError(
            f"the formula {formula!r} has no group term such as (1 + t | g): "
            "the hierarchical model needs one."
        )
    slopes = {factor: expr for factor, expr in bars.items()}
    slope_sets = {tuple(sorted(s)) for s in slopes.values()}
    if len(slope_sets) > 1:
        shown = " + ".join(
            f"(1 + {' + '.join(s) or '0'} | {':'.join(f)})" for f, s in slopes.items()
        )
        raise _refuse(
            shown, "every group term must vary the same slopes; the model has one set of effects."
        )
    varying = list(next(iter(slopes.values())))
    factors = list(bars)
    structure, modifiers = _structure(factors)
    population, factor_treatments = _population_terms(common)
    if varying:
        treatments = varying
    elif treatment is None:
        raise ValueError(
            "the group terms vary the intercept only ((1 | g)), so the formula "
            "does not say which term is the treatment: pass treatment=<column> "
            "(or a list)."
        )
    else:
        treatments = [treatment] if isinstance(treatment, str) else list(treatment)
    factor_treatments = frozenset(
        v for term in population for v in term if v in factor_treatments and v in treatments
    )
    main = {term[0] for term in population if len(term) == 1}
    for t in treatments:
        if t not in main:
            raise _refuse(
                t,
                "varies by group but has no population-level term; add it "
                f"(e.g. '{t} * (...)' or '+ {t}').",
            )
    interactions = [term for term in population if len(term) > 1]
    predictors = []
    for term in interactions:
        with_treatment = [v for v in term if v in treatments]
        others = [v for v in term if v not in treatments]
        if len(with_treatment) != 1 or len(others) != 1:
            raise _refuse(
                ":".join(term),
                "only a treatment times one group-level predictor is part of the model.",
            )
        if others[0] not in predictors:
            predictors.append(others[0])
    for t in treatments:
        missing = [z for z in predictors if (t, z) not in _pairs(interactions)]
        if missing:
            raise _refuse(
                t,
                f"interacts with some group-level predictors but not with "
                f"{missing}; every treatment interacts with every group-level "
                f"predictor (write '{t} * ({' + '.join(predictors)})').",
            )
    for z in predictors:
        if z not in main:
            raise _refuse(
                z,
                "is a group-level predictor of the effect but has no main effect; "
                "the model's predictors enter the intercept too: add it.",
            )
    used = set(treatments) | set(predictors)
    controls = [term[0] for term in population if len(term) == 1 and term[0] not in used]
    for c in controls:
        if c in modifiers:
            raise _refuse(
                c,
                "is a grouping variable entered as a population-level term "
                "without the treatment's interaction; the model's group-level "
                f"predictors enter both: write the treatment times {c}, or drop "
                "it.",
            )
    return FormulaTerms(
        response=response,
        trials=trials,
        treatments=tuple(treatments),
        factor_treatments=factor_treatments,
        modifiers=tuple(modifiers),
        group_predictors=tuple(predictors),
        controls=tuple(controls),
        structure=structure,
        varying_slopes=bool(varying),
    )


def _pairs(interactions) -> set:
    return {(a, b) for term in interactions for a in term for b in term if a != b}


def _bars(group_terms) -> dict:
    """``{grouping variables: [slopes]}`` from formulae's group terms (one per expression
    term), refusing what the model cannot vary."""
    bars: dict = {}
    intercepts = set()
    for term in group_terms:
        factor = tuple(_variable(c, term.name)[0] for c in term.factor.components)
        bars.setdefault(factor, [])
        if type(term.expr).__name__ == "Intercept":
            intercepts.add(factor)
            continue
        components = term.expr.components
        if len(components) != 1:
            raise _refuse(
                term.name,
                "an interaction cannot vary by group here; the varying slopes are the treatments.",
            )
        name, _ = _variable(components[0], term.name)
        bars[factor].append(name)
    for factor in bars:
        if factor not in intercepts:
            raise _refuse(
                f"(0 + ... | {':'.join(factor)})",
                "the model's intercept always varies with its slopes; write (1 + ... | g).",
            )
    return bars


def _structure(factors: list) -> tuple[str, list]:
    if len(factors) == 1:
        return "nested", list(factors[0])
    if all(len(f) == 1 for f in factors):
        return "additive", [f[0] for f in factors]
    combined = [":".join(f) for f in factors if len(f) > 1]
    raise _refuse(
        " + ".join(f"(... | {':'.join(f)})" for f in factors),
        "group terms over single variables and their combinations together "
        f"({combined}; footnote 8's full form, or a nested '/') are neither "
        "structure: write one term over the combination (structure='nested') "
        "or one per variable (structure='additive').",
    )


def _population_terms(common) -> tuple[list, set]:
    """The population-level terms as tuples of column names, and the columns written
    ``factor(...)``."""
    terms, factors = [], set()
    for term in common:
        if type(term).__name__ == "Intercept":
            continue
        names = []
        for component in term.components:
            name, is_factor = _variable(component, term.name)
            names.append(name)
            if is_factor:
                factors.add(name)
        terms.append(tuple(names))
    return terms, factors


def model_frame(terms: FormulaTerms, data: pd.DataFrame):
    """``X``, ``y`` and the treatment a formula's terms take from ``data``, with each
    treatment read as brms reads it (arms for factors and text, a dose for numbers other
    than 0/1)."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame holding the formula's columns.")
    columns = [
        terms.response,
        *terms.treatments,
        *terms.modifiers,
        *terms.group_predictors,
        *terms.controls,
        *([terms.trials] if terms.trials else []),
    ]
    missing = [c for c in dict.fromkeys(columns) if c not in data.columns]
    if missing:
        raise ValueError(
            f"the formula names columns {missing} that data does not have; "
            f"it has {list(data.columns)}."
        )
    features = list(
        dict.fromkeys(
            [
                *terms.modifiers,
                *terms.group_predictors,
                *terms.controls,
                *([terms.trials] if terms.trials else []),
            ]
        )
    )
    X = data[features].copy()
    y = data[terms.response]
    treatment = pd.DataFrame(
        {t: _as_brms_reads(data[t], t in terms.factor_treatments) for t in terms.treatments},
        index=data.index,
    )
    return X, y, treatment[terms.treatments[0]] if len(terms.treatments) == 1 else treatment


def _as_brms_reads(column: pd.Series, factor: bool) -> pd.Series:
    if (
        not factor
        and pd.api.types.is_numeric_dtype(column)
        and not pd.api.types.is_bool_dtype(column)
    ):
        values = pd.unique(column.dropna())
        if set(values.tolist()) <= {0, 1}:
            return column  # binary: 1 treated, 0 control
        return column.astype(float)  # a dose: the slope per unit
    if isinstance(column.dtype, pd.CategoricalDtype) and not factor:
        return column  # its categories' order, the first the reference (as R's factor)
    if pd.api.types.is_bool_dtype(column):
        return column
    levels = sorted(pd.unique(column.dropna()).tolist())
    return pd.Series(
        pd.Categorical(column, categories=levels), index=column.index, name=column.name
    )


def estimator_params(terms: FormulaTerms, family: str) -> dict:
    """The estimator's parameters a formula implies."""
    if family not in BRMS_FAMILIES and family not in FAMILY_TO_BRMS:
        raise ValueError(
            f"family={family!r} is not one of brms's families the model fits: "
            f"{sorted(BRMS_FAMILIES)}."
        )
    ours = BRMS_FAMILIES.get(family, family)
    if terms.trials and ours != "binomial":
        raise _refuse(
            f"{terms.response} | trials({terms.trials})",
            f"trials() is for family='binomial', not {family!r}.",
        )
    if ours == "binomial" and not terms.trials:
        raise _refuse(
            terms.response,
            f"family='binomial' needs the trials: write '{terms.response} | trials(n) ~ ...'.",
        )
    params = {
        "modifiers": list(terms.modifiers),
        "group_predictors": list(terms.group_predictors) or None,
        "structure": terms.structure,
        "varying_slopes": terms.varying_slopes,
        "family": ours,
    }
    if terms.trials:
        params["trials"] = terms.trials
    return params


# ---------------------------------------------------------------- writing brms
def fitted_formula(estimator) -> str:
    """The brms formula of a fitted :class:`~sklearn_hier.HierarchicalHTE`."""
    posterior = estimator.posterior_
    spec, design, coding = posterior.spec, posterior.design, posterior.treatment
    response = posterior.idata.posterior.attrs.get("outcome", "y")  # y's name, if it had one
    if spec.trials is not None and isinstance(spec.trials, str):
        response = f"{response} | trials({spec.trials})"
    treatments = [_treatment_term(column) for column in coding.columns]
    predictors = [c.name for c in design.predictors]
    controls = [c.name for c in design.controls]
    population = ["1", *map(str, controls)]
    if predictors:
        joined = " + ".join(map(str, predictors))
        for t in treatments:
            population.append(f"{t} * ({joined})" if len(predictors) > 1 else f"{t} * {joined}")
    else:
        population.extend(treatments)
    varying = " + ".join(["1", *treatments]) if spec.varying_slopes else "1"
    modifiers = [str(m) for m in design.modifier_names]
    if spec.structure == "nested":
        groups = [f"({varying} | {':'.join(modifiers)})"]
    else:
        groups = [f"({varying} | {m})" for m in modifiers]
    return f"{response} ~ " + " + ".join(population + groups)


def _treatment_term(column) -> str:
    return f"factor({column.name})" if column.kind == "categorical" else str(column.name)


def brms_call(
    estimator, *, data: str = "data", chains: int | None = None, iter: int | None = None
) -> str:  # noqa: A002 - brms's own argument name
    """R code that fits the same model with brms (see :meth:`HierarchicalHTE.to_brms`)."""
    posterior = estimator.posterior_
    spec, coding = posterior.spec, posterior.treatment
    family = FAMILY_TO_BRMS[spec.family]
    table = estimator.prior_scales_
    modifiers = [str(m) for m in posterior.design.modifier_names]
    group = ":".join(modifiers) if spec.structure == "nested" else None
    priors = []
    notes = []
    for row in table.itertuples(index=False):
        scale = f"{row.scale:.6g}"
        name = row.parameter
        if name == "Intercept":
            priors.append(f"prior(normal(0, {scale}), class = Intercept)")
        elif name in ("b_control", "b_group"):
            continue  # the common coefficient prior below
        elif name in ("b_treatment", "lambda"):
            continue
        elif name == "sd_intercept":
            groups = [group] if group else modifiers
            priors += [
                f"prior(normal(0, {scale}), class = sd, group = {g}, coef = Intercept)"
                for g in groups
            ]
        elif name == "sd_effect":
            groups = [group] if group else modifiers
            coef = _brms_coef(coding, row.treatment)
            priors += [
                f"prior(normal(0, {scale}), class = sd, group = {g}, coef = {c})"
                for g in groups
                for c in coef
            ]
        elif name == "corr":
            priors.append(f"prior(lkj({scale}), class = cor)")
        elif name == "sigma":
            priors.append(f"prior(normal(0, {scale}), class = sigma)")
        elif name == "nu":
            priors.append("prior(gamma(2, 0.1), class = nu)")
        elif name == "shape":
            priors.append("prior(gamma(0.01, 0.01), class = shape)")
        elif name == "cutpoints":
            priors.append(f"prior(normal(0, {scale}), class = Intercept)")
            notes.append(
                "# cutpoints: brms puts normal priors on the ordered thresholds; the "
                "model here on the first threshold and the log gaps"
            )
    coef_scale = f"{spec.priors.coef:.6g}"
    priors.insert(
        1 if priors and "Intercept)" in priors[0] else 0,
        f"prior(normal(0, {coef_scale}), class = b)",
    )
    # a dose's slope and lambdas are per unit of its spread: their own scales
    dose_rows = table[(table["parameter"] == "b_treatment") & (table["scale"] != spec.priors.coef)]
    predictors = posterior.design.predictors
    for row in dose_rows.itertuples(index=False):
        for c in _brms_coef(coding, row.treatment):
            priors.append(f"prior(normal(0, {row.scale:.6g}), class = b, coef = {c})")
            # its lambdas (brms's c:z) have the same scale; brms names a one-column
            # predictor's by the column, a categorical's by its levels
            for z in predictors:
                if z.feature_names == [str(z.name)]:
                    priors.append(
                        f"prior(normal(0, {row.scale:.6g}), class = b, coef = {c}:{z.name})"
                    )
                else:
                    notes.append(f"# {c}:{z.name}: give its levels' prior the scale of {c}'s")
            notes.append(f"# {c}: its slope's prior is per unit of the dose's spread")
    if spec.structure == "additive":
        notes.append(
            "# additive structure: each modifier's level offsets here are restricted "
            "to what its group-level predictors cannot express; brms's are not, so "
            "its sds differ where levels are few"
        )
    notes.append(
        "# controls enter as given: brms dummy-codes factors against the first "
        "level, as the model here does"
    )
    settings = []
    if chains is not None:
        settings.append(f"  chains = {chains},")
    if iter is not None:
        settings.append(f"  iter = {iter},")
    lines = [
        "library(brms)",
        *notes,
        "fit <- brm(",
        f"  {fitted_formula(estimator)},",
        f"  data = {data},",
        f"  family = {family}(),",
        "  prior = c(",
        ",\n".join(f"    {p}" for p in priors),
        "  ),",
        *settings,
        f"  seed = {int(estimator.seed_) % (2**31 - 1)}",
        ")",
    ]
    return "\n".join(lines)


def _brms_coef(coding, effect) -> list[str]:
    """brms's coefficient names of an effect: the column, or factor(arm) and the level."""
    for column in coding.columns:
        names = column.effect_names(alone=len(coding.columns) == 1)
        if effect in names or len(coding.columns) == 1:
            if column.kind == "categorical":
                arm = names.index(effect) if effect in names else 0
                level = column.levels[1 + arm]
                return [f"factor{column.name}{_r_name(level)}"]
            return [str(column.name)]
    return [str(effect)]


def _r_name(value) -> str:
    """R's make.names of a level as brms writes it in coefficient names."""
    text = str(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        text = str(int(value))
    return re.sub(r"[^\w.]", "", text)
