"""The fitted posterior: draws, the design and the specification frozen at fit.

:class:`FittedPosterior` is made once by ``HierarchicalHTE.fit`` and never
changes. It answers every question about effects from its own state: group
draws on the link or response scale, effects and outcomes of new rows, groups
unseen in training (from the population model), weighted averages. Summaries,
plots, persistence and cross-validation talk to it through its public methods;
the estimator is a thin scikit-learn façade over it.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse

from .._base.families import family_of
from .._base.input_checks import frame_as_in_fit
from .._base.sampling_checks import SamplingWarning, check_sampling
from .._base.spec import ModelSpec, PriorUnits, effect_units, prior_scale_table
from .._data.design import Design, as_shown, group_labels, label_seed_words
from .._data.laplace import ApproximationCheck, check_approximation
from .._data.row_inputs import positive_column
from .._data.row_patterns import RowPatterns
from .._data.treatment import TreatmentCoding
from .._modeling.inputs import PreparedData
from .._modeling.prior_density import log_prior
from .._sampling.draws import SamplerResult
from .._sampling.variational import converged
from .draw_summaries import HeterogeneitySummary, heterogeneity, interval, summarize
from .inference_data import (
    EXTRA_PARAMETERS,
    SAMPLE_DIMS,
    add_group_draws,
    build_inference_data,
    flat,
    numpy_coordinates,
    numpy_variable,
)

#: Draw-by-row values evaluated at once (bounds memory to a few hundred MB).
BLOCK_VALUES = 4_000_000

#: Parameters whose convergence decides whether a fit is trustworthy.
KEY_PARAMETERS = (
    "b_treatment", "lambda", "sd_effect", "sd_intercept", *EXTRA_PARAMETERS, "group_effect"
)  # fmt: skip

_PARTS = {"effect": ("b_treatment", "lambda"), "intercept": ("Intercept", "b_group")}


@dataclass(frozen=True)
class GroupAssignment:
    """Rows of new data mapped to groups: ``row_group`` indexes the training groups
    (``< n_groups``) and then ``new_groups``, the groups unseen in training."""

    row_group: np.ndarray
    new_groups: pd.DataFrame


@dataclass
class FittedPosterior:
    """Everything a fit produced, frozen: the answers of a fitted HierarchicalHTE."""

    params: dict  # the estimator's parameters at fit, from which ``spec`` was frozen
    spec: ModelSpec
    design: Design
    treatment: TreatmentCoding
    idata: object
    n: np.ndarray
    n_treated: np.ndarray
    seed: int
    n_features_in: int
    feature_names_in: np.ndarray | None = None
    categories: list | None = None
    patterns: RowPatterns | None = None
    diagnostics: pd.DataFrame | None = None
    fit_seconds: float = 0.0
    svi_losses: np.ndarray | None = None
    #: how the likelihood met the data ("none": exact) and, when approximate, its check
    approximation: str = "none"
    approximation_check: ApproximationCheck | None = None
    _draw_cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------ basics
    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def n_groups(self) -> int:
        return self.design.n_groups

    @property
    def prior_scales(self) -> pd.DataFrame:
        """The prior of every parameter block with its scale in the data's units (a dose's
        effect, lambda and group sd per unit of the dose's training sd)."""
        p, q = len(self.design.control_names), len(self.design.predictor_names)
        units = PriorUnits.of(
            effect_units(self.treatment),
            n_controls=p,
            n_predictors=q,
            varying_slopes=self.spec.varying_slopes,
        )
        return prior_scale_table(self.spec.priors, units, effect_names=self.effect_names,
                                 n_controls=p, n_predictors=q, family=self.family)  # fmt: skip

    @property
    def groups(self) -> pd.DataFrame:
        """One row per training group: the modifiers' levels, ``n`` and (one effect)
        ``n_treated``."""
        design = self.design
        shown = as_shown(design.groups[design.modifier_names], design.modifiers)
        if self.n_effects > 1:
            return shown.assign(n=self.n)
        return shown.assign(n=self.n, n_treated=self.treated_rows(0))

    def treated_rows(self, effect: int) -> np.ndarray:
        """Rows per group in effect ``effect``'s arm (a dose's: with a non-zero dose)."""
        return np.asarray(self.n_treated).reshape(len(self.n), -1)[:, effect]

    @property
    def group_labels(self) -> list[str]:
        return self.design.group_labels

    def draws(self, name: str) -> np.ndarray:
        """Posterior variable ``name`` as ``(n_draws, ...)``, chains concatenated."""
        if name not in self._draw_cache:
            self._draw_cache[name] = flat(self.idata, name)
        return self._draw_cache[name]

    # ----------------------------------------------------------- effects
    @property
    def effect_names(self) -> list[str]:
        """One name per effect: the treatment column, or the arm label."""
        return self.treatment.effect_names

    @property
    def n_effects(self) -> int:
        return self.treatment.n_effects

    def effect_index(self, treatment) -> int:
        """The position of effect ``treatment`` (a name or an arm, matched by the treatment
        coding; None for a one-effect model)."""
        return self.treatment.effect_index(treatment)

    def effect_draws_of(self, name: str, effect: int) -> np.ndarray:
        """Draws of an effect quantity for one effect (its last axis is the effect)."""
        values = self.draws(name)
        return values if self.n_effects == 1 else values[..., effect]

    def all_effect_draws(self, name: str) -> np.ndarray:
        """Draws of an effect quantity with its effect axis last, also for one effect."""
        values = self.draws(name)
        return values[..., None] if self.n_effects == 1 else values

    def with_effect_column(self, tables: list[pd.DataFrame], position: int = 0) -> pd.DataFrame:
        """Per-effect tables stacked, with a ``treatment`` column naming the effect when
        there is more than one (a one-effect model's table is returned as it was)."""
        if self.n_effects == 1:
            return tables[0]
        for name, table in zip(self.effect_names, tables, strict=True):
            table.insert(position, "treatment", name)
        out = pd.concat(tables, ignore_index=True)
        out.attrs.update(tables[0].attrs)
        return out

    def frame(self, X) -> pd.DataFrame:
        """New data as a frame with the fitted columns: DataFrames by name, arrays by position."""
        return frame_as_in_fit(
            X, n_features_in=self.n_features_in, feature_names_in=self.feature_names_in,
            owner="HierarchicalHTE",
        )  # fmt: skip

    # ------------------------------------------------------------ scales
    def on_link_scale(self, scale: str, category=None) -> bool:
        if scale not in ("response", "link"):
            raise ValueError(f"scale must be 'response' or 'link'; got {scale!r}.")
        family = family_of(self.family)
        if category is not None and (scale == "link" or not family.categorical_outcome):
            raise ValueError("category is for family='ordinal' on the response scale.")
        return family.identity_link or scale == "link"

    def scale_name(self, scale: str, category=None) -> str:
        """What effects on this scale are measured in (tables carry it in ``attrs``)."""
        if self.on_link_scale(scale, category):
            family = family_of(self.family)
            return "outcome" if family.identity_link else f"link ({family.link})"
        if category is not None:
            return f"P(y >= {category})"
        return family_of(self.family).response_scale

    def category_values(self) -> np.ndarray:
        """An ordinal outcome's categories as numbers: their values when numeric, else
        their ranks 1..K (what the expected category is measured in)."""
        values = list(self.categories)
        numeric = all(isinstance(v, int | float | np.number) for v in values)
        return np.asarray(values if numeric else np.arange(1, len(values) + 1), float)

    def response_mean(self, eta: np.ndarray, exposure=None, category=None) -> np.ndarray:
        """Expected outcome (ordinal with ``category``: P(y >= category)) for draws of eta."""
        family = family_of(self.family)
        params = {name: self.draws(name) for name in family.extra_parameters}
        kwargs = {}
        if family.categorical_outcome:
            values = list(self.categories)
            kwargs["category_values"] = self.category_values()
            if category is not None:
                if category not in values:
                    raise ValueError(f"category {category!r} is not one of {values}.")
                kwargs["exceed_index"] = values.index(category)
        elif category is not None:
            raise ValueError("category is for family='ordinal' (effects on P(y >= category)).")
        return family.response_mean(eta, exposure=exposure, params=params, **kwargs)

    def response_effect_draws(self, intercepts, effects, controls, exposure, category=None,
                              effect: int = 0):  # fmt: skip
        """(S, n) response-scale effects of rows with these inputs; ``effects`` (S, n, E).

        Every treatment sits at its reference: the control arm, or a dose's training
        mean. An arm's effect is ``h(eta0 + theta) - h(eta0)``; a dose's is the change per
        unit across its mean, ``h(eta0 + theta / 2) - h(eta0 - theta / 2)``.
        """
        reference = self.treatment.reference_doses
        eta0 = intercepts + (controls @ self.draws("b_control").T).T + effects @ reference
        theta = effects[..., effect]
        if self.treatment.continuous[effect]:
            low, high = eta0 - theta / 2.0, eta0 + theta / 2.0
        else:
            low, high = eta0, eta0 + theta
        return self.response_mean(high, exposure, category) - self.response_mean(
            low, exposure, category
        )

    # ------------------------------------------------------ group draws
    def training_response_draws(self, category=None, effect: int = 0) -> np.ndarray:
        """(S, n_groups) response-scale effects averaged over each group's training rows."""
        pat = self.patterns
        intercepts = self.draws("group_intercept")
        effects = self.all_effect_draws("group_effect")
        n_draws = intercepts.shape[0]
        total = np.zeros((n_draws, self.n_groups))
        block = max(1, BLOCK_VALUES // (n_draws * self.n_effects))
        for start in range(0, pat.group.size, block):
            part = slice(start, start + block)
            g = pat.group[part]
            exposure = None if pat.exposure is None else pat.exposure[part]
            draws = self.response_effect_draws(
                intercepts[:, g], effects[:, g], pat.controls[part], exposure, category, effect
            )
            np.add.at(total.T, g, (draws * pat.weight[part]).T)
        weights = np.bincount(pat.group, weights=pat.weight, minlength=self.n_groups)
        return total / weights

    def group_effect_draws(self, scale: str = "response", category=None,
                           effect: int = 0) -> np.ndarray:  # fmt: skip
        """(S, n_groups) draws of every training group's effect ``effect`` on ``scale``."""
        if self.on_link_scale(scale, category):
            return self.effect_draws_of("group_effect", effect)
        if category is None:
            return self.effect_draws_of("group_effect_response", effect)
        return self.training_response_draws(category, effect)

    # --------------------------------------------------------- new rows
    def assign(self, X) -> GroupAssignment:
        """Each row's group (training groups first, then groups unseen in training)."""
        row_group, new_groups = self.design.assign(
            self.frame(X), handle_unknown=self.spec.handle_unknown
        )
        return GroupAssignment(row_group, new_groups)

    def part_draws(self, assignment: GroupAssignment, part: str, effect: int = 0) -> np.ndarray:
        """(S, n_groups + n_new) draws of the groups' ``"effect"`` ``effect`` or
        ``"intercept"``."""
        draws = self._part("group_" + part, part, effect)
        if len(assignment.new_groups):
            new = self.new_group_draws(assignment.new_groups, part, effect)
            draws = np.concatenate([draws, new], axis=1)
        return draws

    def _noise(self, part: str, key: str, n_draws: int, effect: int = 0) -> np.ndarray:
        """Standard normal draws that depend on nothing but the fit, the part and the key:
        the same unseen group gets the same draws in any call and any position."""
        term = 0 if part != "effect" else 1 + effect
        rng = np.random.default_rng([self.seed, term, *label_seed_words(key)])
        return rng.standard_normal(n_draws)

    def _joint_offsets(self, keys: list[str], n_draws: int) -> np.ndarray:
        """(S, n_new, 1 + effects) offsets of unseen groups in the nested structure: per
        draw, every term's offset together from ``N(0, Sigma)``, ``Sigma`` that draw's
        sds and correlations, so an unseen group's effects are correlated as the model
        says (its arm-against-arm contrasts included). The standard normals depend on
        the fit and the group's key alone."""
        sds = np.column_stack([self.draws("sd_intercept"), self.all_effect_draws("sd_effect")])
        width = sds.shape[1]
        corr = self.draws("corr")
        if corr.ndim == 1:  # one effect: the correlation itself
            corr = np.stack([np.ones_like(corr), corr, corr, np.ones_like(corr)], -1)
            corr = corr.reshape(-1, 2, 2)
        # a correlation matrix at the edge (|rho| -> 1) is only semi-definite
        factor = np.linalg.cholesky(corr + 1e-12 * np.eye(width))
        noise = np.stack(
            [np.random.default_rng([self.seed, width, *label_seed_words(key)]).standard_normal(
                (n_draws, width)) for key in keys], axis=1,
        )  # fmt: skip
        return sds[:, None, :] * np.einsum("sij,snj->sni", factor, noise)

    def _part(self, name: str, part: str, effect: int) -> np.ndarray:
        return self.effect_draws_of(name, effect) if part == "effect" else self.draws(name)

    def new_group_draws(self, new_groups: pd.DataFrame, part: str, effect: int = 0) -> np.ndarray:
        """Effects (or intercepts) of groups unseen in training, from the population model.

        In the nested structure a new group's terms are drawn jointly (see
        :meth:`_joint_offsets`). In the additive one an unseen level's offset is drawn
        for each term on its own: each term's draws are right, not their correlation."""
        design = self.design
        base, slopes = _PARTS[part]
        Z_new = design.predictors_of(new_groups)
        value = self._part(base, part, effect)[:, None] + self._part(slopes, part, effect) @ Z_new.T
        sd = self._part(f"sd_{part}", part, effect)
        n_draws = value.shape[0]
        if self.spec.structure == "nested":
            keys = group_labels(new_groups, design.modifier_names)
            term = 0 if part != "effect" else 1 + effect
            return value + self._joint_offsets(keys, n_draws)[:, :, term]
        codes = design.level_codes_of(new_groups)
        level = self._part(f"level_{part}", part, effect)
        varying = list(self.idata.posterior[f"sd_{part}"].coords["varying_modifier"].values)
        start = 0
        for k, levels in enumerate(design.modifier_levels):
            known = codes[:, k] >= 0
            seen = level[:, start + np.where(known, codes[:, k], 0)]
            name = str(design.modifier_names[k])
            unseen = np.zeros_like(value)
            if name in varying and not known.all():  # a fresh draw of an unseen level's offset
                column = new_groups[design.modifier_names[k]]
                scale = sd[:, varying.index(name)]
                for j in np.flatnonzero(~known):
                    key = group_labels(column.iloc[[j]].to_frame(), [column.name])[0]
                    unseen[:, j] = scale * self._noise(part, key, n_draws, effect)
            value = value + np.where(known[None, :], seen, unseen)
            start += len(levels)
        return value

    def controls_and_exposure(self, frame: pd.DataFrame):
        controls = self.design.control_matrix(frame)
        exposure = None
        if self.spec.exposure is not None:
            exposure = positive_column(frame, self.spec.exposure, "exposure")
        return controls, exposure

    def row_blocks(self, frame: pd.DataFrame, assignment: GroupAssignment | None = None):
        """Yield (rows, intercept draws (S, n), effect draws (S, n, E), controls, exposure)
        per block of rows."""
        assignment = self.assign(frame) if assignment is None else assignment
        intercepts = self.part_draws(assignment, "intercept")
        effects = np.stack(
            [self.part_draws(assignment, "effect", k) for k in range(self.n_effects)], axis=-1
        )
        controls, exposure = self.controls_and_exposure(frame)
        block = max(1, BLOCK_VALUES // (intercepts.shape[0] * self.n_effects))
        for start in range(0, frame.shape[0], block):
            rows = slice(start, start + block)
            g = assignment.row_group[rows]
            yield (
                rows,
                intercepts[:, g],
                effects[:, g],
                controls[rows],
                None if exposure is None else exposure[rows],
            )

    def predict_effect(self, X, *, return_interval=False, prob=0.95, scale="response",
                       category=None, effect: int = 0):  # fmt: skip
        """Posterior mean effect ``effect`` of each row (and interval bounds); see
        HierarchicalHTE."""
        if self.on_link_scale(scale, category):
            assignment = self.assign(X)
            draws = self.part_draws(assignment, "effect", effect)
            g = assignment.row_group
            mean = draws.mean(axis=0)[g]
            if not return_interval:
                return mean
            lower, upper = interval(draws, prob)
            return mean, lower[g], upper[g]
        frame = self.frame(X)
        mean, lower, upper = (np.empty(frame.shape[0]) for _ in range(3))
        for rows, intercepts, effects, controls, exposure in self.row_blocks(frame):
            draws = self.response_effect_draws(
                intercepts, effects, controls, exposure, category, effect
            )
            mean[rows] = draws.mean(axis=0)
            if return_interval:
                lower[rows], upper[rows] = interval(draws, prob)
        return (mean, lower, upper) if return_interval else mean

    def row_effect_draws(self, X, *, scale="response", category=None,
                         effect: int = 0) -> np.ndarray:  # fmt: skip
        """(S, n) posterior draws of each row's effect ``effect`` on ``scale``."""
        if self.on_link_scale(scale, category):
            assignment = self.assign(X)
            return self.part_draws(assignment, "effect", effect)[:, assignment.row_group]
        frame = self.frame(X)
        out = np.empty((self.draws("group_intercept").shape[0], frame.shape[0]))
        for rows, intercepts, effects, controls, exposure in self.row_blocks(frame):
            out[:, rows] = self.response_effect_draws(
                intercepts, effects, controls, exposure, category, effect
            )
        return out

    def predict_outcome(self, X, treatment) -> np.ndarray:
        """Posterior mean of E[y] for each row under ``treatment`` (the fit's coding)."""
        frame = self.frame(X)
        treat = self.treatment.encode_matrix(treatment, n_rows=frame.shape[0], allow_scalar=True)
        if family_of(self.family).identity_link:  # linear: the plug-in of means is exact
            assignment = self.assign(frame)
            g = assignment.row_group
            intercepts = self.part_draws(assignment, "intercept").mean(0)[g]
            effects = np.stack(
                [self.part_draws(assignment, "effect", k).mean(0)[g]
                 for k in range(self.n_effects)], axis=1,
            )  # fmt: skip
            controls = self.design.control_matrix(frame) @ self.draws("b_control").mean(0)
            return intercepts + controls + np.sum(effects * treat, axis=1)
        out = np.empty(frame.shape[0])
        for rows, intercepts, effects, controls, exposure in self.row_blocks(frame):
            eta = (
                intercepts + (controls @ self.draws("b_control").T).T
                + np.sum(effects * treat[rows], axis=-1)
            )  # fmt: skip
            out[rows] = self.response_mean(eta, exposure).mean(axis=0)
        return out

    def weighted_group_draws(self, X, weights: np.ndarray, scale="response", category=None,
                             effect: int = 0):  # fmt: skip
        """Rows collapsed to their groups: total weight, the groups' levels, and draws
        (S, groups present) of each group's weighted mean effect over its rows."""
        frame = self.frame(X)
        assignment = self.assign(frame)
        row_group = assignment.row_group
        n_all = self.n_groups + len(assignment.new_groups)
        totals = np.bincount(row_group, weights=weights, minlength=n_all)
        present = np.flatnonzero(np.bincount(row_group, minlength=n_all))
        if self.on_link_scale(scale, category):  # one effect per group
            group_draws = self.part_draws(assignment, "effect", effect)[:, present]
        else:  # row effects differ within a group (controls): weighted sums per group
            indicator = sparse.csr_matrix(
                (weights, (np.arange(len(frame)), row_group)), shape=(len(frame), n_all)
            )
            sums = 0.0
            for rows, intercepts, effects, controls, exposure in self.row_blocks(frame, assignment):
                block = self.response_effect_draws(
                    intercepts, effects, controls, exposure, category, effect
                )
                sums = sums + (indicator[rows].T @ block.T).T
            safe = np.where(totals[present] > 0, totals[present], 1.0)
            group_draws = np.asarray(sums)[:, present] / safe
        names = self.design.modifier_names
        levels = pd.concat(
            [self.design.groups[names], assignment.new_groups[names]], ignore_index=True
        )
        shown = as_shown(levels.iloc[present].reset_index(drop=True), self.design.modifiers)
        return totals[present], shown, group_draws

    def average_effect_draws(self, X=None, *, scale="response", category=None,
                             effect: int = 0) -> np.ndarray:  # fmt: skip
        """Draws of the average effect over the rows of ``X`` (None: the training rows)."""
        if X is None:
            weights = self.n.astype(float)
            return self.group_effect_draws(scale, category, effect) @ (weights / weights.sum())
        frame = self.frame(X)
        totals, _, draws = self.weighted_group_draws(
            frame, np.ones(len(frame)), scale, category, effect
        )
        return draws @ (totals / totals.sum())

    # ----------------------------------------------------------- tables
    def effect_by_group(self, prob: float, *, scale="response", category=None) -> pd.DataFrame:
        tables = []
        for k in range(self.n_effects):
            summary = summarize(self.group_effect_draws(scale, category, k), prob)
            groups = self.groups.reset_index(drop=True)
            if self.n_effects > 1:
                groups["n_treated"] = self.treated_rows(k)
            tables.append(pd.concat([groups, summary], axis=1))
        table = self.with_effect_column(tables)
        table.attrs["scale"] = self.scale_name(scale, category)
        return table

    def heterogeneity_summary(self, prob: float, *, scale="response", category=None,
                              effect: int = 0) -> HeterogeneitySummary:  # fmt: skip
        effects = self.group_effect_draws(scale, category, effect)
        explained = self.effect_draws_of("lambda", effect) @ self.design.Z.T
        sd = self.effect_draws_of("sd_effect", effect)
        if sd.ndim == 2:  # additive: one sd per modifier; their variances add up
            sd = np.sqrt((sd**2).sum(axis=1))
        return heterogeneity(
            effects, explained, sd, self.group_labels, prob,
            scale=self.scale_name(scale, category), link_scale=self.scale_name("link"),
            treatment=self.effect_names[effect] if self.n_effects > 1 else None,
        )  # fmt: skip

    def _correlation_blocks(self, names: list[str], mods: list[str]) -> list:
        """The varying terms' correlations: one per pair of (intercept, effects)."""
        corr = self.draws("corr")
        if self.spec.structure == "nested":
            corr, mods = corr[:, None], [""]
        terms = ["Intercept", *names]
        if self.n_effects == 1:
            values = {(1, 0): corr}
        else:
            values = {(i, j): corr[:, :, i, j] for i in range(len(terms)) for j in range(i)}
        return [
            ("correlation", [f"cor({terms[j]}, {terms[i]}{f' | {m}' if m else ''})"
                             for m in mods], draws)
            for (i, j), draws in values.items()
        ]  # fmt: skip

    def coefficients(self, prob: float) -> pd.DataFrame:
        names = [self.treatment.name] if self.n_effects == 1 else self.effect_names
        design = self.design
        nested = self.spec.structure == "nested"
        mods = (
            [] if nested
            else [str(m) for m in self.idata.posterior.coords["varying_modifier"].values]
        )  # fmt: skip
        blocks = []
        for k, t in enumerate(names):
            blocks += [
                ("effect", [t], self.effect_draws_of("b_treatment", k).reshape(-1, 1)),
                ("lambda", [f"{t}:{z}" for z in design.predictor_names],
                 self.effect_draws_of("lambda", k)),
            ]  # fmt: skip
        # the group scales under their idata_ names (the names saved files keep), with
        # the coordinates ArviZ's summary writes: sd_effect[alliance], sd_effect[white, alliance]
        for k, t in enumerate(names):
            sd_e = self.effect_draws_of("sd_effect", k)
            labels = [f"sd_effect[{t}]"] if nested else [f"sd_effect[{m}, {t}]" for m in mods]
            blocks.append(("sd", labels, sd_e.reshape(sd_e.shape[0], -1)))
        sd_i = self.draws("sd_intercept")
        labels = ["sd_intercept"] if nested else [f"sd_intercept[{m}]" for m in mods]
        blocks.append(("sd", labels, sd_i.reshape(sd_i.shape[0], -1)))
        blocks += self._correlation_blocks(names, mods)
        blocks += [
            ("control", design.control_names, self.draws("b_control")),
            ("intercept", ["Intercept"], self.draws("Intercept")[:, None]),
            ("intercept", list(design.predictor_names), self.draws("b_group")),
        ]
        posterior = self.idata.posterior
        for name in ("sigma", "nu", "shape"):
            if name in posterior:
                blocks.append(("residual", [name], self.draws(name)[:, None]))
        if "cutpoints" in posterior:
            pairs = zip(self.categories[:-1], self.categories[1:], strict=True)
            cuts = [f"cutpoint[{a}|{b}]" for a, b in pairs]
            blocks.append(("cutpoint", cuts, self.draws("cutpoints")))
        tables = []
        for role, names, draws in blocks:
            if draws.shape[1] == 0:
                continue
            table = summarize(draws, prob)
            table.insert(0, "role", role)
            table.index = names
            tables.append(table)
        out = pd.concat(tables)
        out.index.name = "term"
        out.attrs["scale"] = self.scale_name("link")
        return out


def _svi_diagnostics(losses: np.ndarray) -> pd.DataFrame:
    if not converged(losses):
        warnings.warn(
            f"variational inference had not converged after {losses.size} steps (the loss "
            "was still falling, or is not finite). Try more steps or a smaller learning_rate "
            "in SVISampler(...), or sampler=NUTSSampler().",
            SamplingWarning,
            stacklevel=4,
        )
    tenth = max(1, losses.size // 10)
    return pd.DataFrame(
        {"final_loss": [float(losses[-tenth:].mean())], "steps": [losses.size]},
        index=pd.Index(["svi"], name="parameter"),
    )


def posterior_from_draws(
    params: dict, spec: ModelSpec, prepared: PreparedData, result: SamplerResult, *, seed: int
) -> FittedPosterior:
    """Draws (a fit's, or the priors') as a :class:`FittedPosterior`: the labelled ArviZ
    DataTree and, off the Gaussian family, each group's effect on the response scale."""
    design = prepared.design
    idata = build_inference_data(
        result,
        design=design,
        layout=design.layout(prepared.treatment.n_effects),
        xbar=prepared.xbar,
        level_dims=prepared.sizes.level_dims,
        group_counts=(prepared.n, prepared.n_treated),
        effect_names=prepared.treatment.effect_names,
    )
    posterior = FittedPosterior(
        params=params,
        spec=spec,
        design=design,
        treatment=prepared.treatment,
        idata=idata,
        n=prepared.n,
        n_treated=prepared.n_treated,
        seed=seed,
        n_features_in=prepared.n_features_in,
        feature_names_in=prepared.feature_names_in,
        categories=prepared.categories,
        svi_losses=result.losses,
    )
    if not family_of(spec.family).identity_link:  # else the response scale is the link's
        posterior.patterns = prepared.patterns
        response = [posterior.training_response_draws(effect=k) for k in range(posterior.n_effects)]
        add_group_draws(
            idata, "group_effect_response",
            response[0] if len(response) == 1 else np.stack(response, axis=-1),
        )  # fmt: skip
    return posterior


def assemble_posterior(
    params: dict, spec: ModelSpec, prepared: PreparedData, result: SamplerResult, *, seed: int
) -> FittedPosterior:
    """The fitted posterior from the sampler's draws (:func:`posterior_from_draws`), with
    the log prior density of every draw and the convergence checks."""
    posterior = posterior_from_draws(params, spec, prepared, result, seed=seed)
    idata = posterior.idata
    # the prior density of every draw, for power-scaling prior sensitivity (psense)
    lprior = result.log_prior
    if lprior is None:
        lprior = log_prior(result.draws, spec.priors, prepared.sizes, prepared.data.prior_units)
    sample = numpy_coordinates({dim: idata.posterior[dim].values for dim in SAMPLE_DIMS})
    idata["log_prior"] = xr.DataTree(
        xr.Dataset({"lprior": numpy_variable(SAMPLE_DIMS, lprior)}, coords=sample)
    )
    if prepared.expansion is not None:
        posterior.approximation = "laplace"
        posterior.approximation_check = check_approximation(
            prepared.expansion, {k: result.flat(k) for k in ("Intercept", "b", "u")},
            xbar=prepared.xbar, seed=seed, stacklevel=5,
        )  # fmt: skip
    if spec.inference == "svi":
        posterior.diagnostics = _svi_diagnostics(result.losses)
    else:
        # without varying slopes the effects' sds are zero by construction
        checked = [v for v in KEY_PARAMETERS if spec.varying_slopes or v != "sd_effect"]
        posterior.diagnostics = check_sampling(
            idata, checked, max_tree_depth=spec.max_tree_depth, stacklevel=5
        )
    return posterior
