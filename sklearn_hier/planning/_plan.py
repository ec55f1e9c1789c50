"""Study plans: simulate the planned study at each sample size, fit it, and summarise
how precise every group's effect would be."""

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from .._base.families import family_of
from .._sampling.run import person_watching
from ._assumptions import Assumptions, Treatment
from ._evaluation import ClosedFormEvaluator, ExactEvaluator, StudyOutcome
from ._population import GroupFrame, simulate_study

MODES = ("fast", "exact")
#: Simulations per sample size when ``n_simulations`` is not given.
DEFAULT_SIMULATIONS = {"fast": 20, "exact": 200}


@dataclass
class StudyPlan:
    """How precise a planned study's group effects would be, at each sample size.

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per sample size, effect and group: the group's modifiers, its
        ``share`` of the population, its median ``rows``, the median interval
        ``width`` with its 10% and 90% points over simulations (``width_q10``,
        ``width_q90``), ``p_excludes_zero`` (the probability that the interval
        excludes 0), ``rmse`` of the posterior mean against the true effect,
        ``coverage`` of the true effect (a check: the nominal rate is promised
        only on average over the prior), and ``p_empty``, the share of
        simulations in which the group had no rows (left out of the rest).
    study : pandas.DataFrame
        One row per sample size and effect: ``p_extremes_differ`` (the interval
        of the difference between the groups with the largest and smallest true
        effects excludes 0, as ``compare_groups`` reports it),
        ``p_sd_effect_above`` (sd_effect's interval lies above ``small_sd``;
        NaN in the fast mode, which fixes sd_effect), ``p_lambda_excludes_zero[<predictor>]``,
        the overall ``coverage``, fits with divergent transitions and seconds.
    simulations : pandas.DataFrame
        Every simulation's every group: rows, posterior mean, interval and truth.
    mode, prob, scale : str, float, str
        How the plan was made.
    """

    groups: pd.DataFrame
    study: pd.DataFrame
    simulations: pd.DataFrame
    mode: str
    prob: float
    scale: str
    modifiers: list = field(default_factory=list)

    @property
    def n_rows(self) -> list[int]:
        return sorted(self.groups["n_rows"].unique())

    def _effect(self, effect) -> pd.DataFrame:
        effects = list(dict.fromkeys(self.groups["effect"]))
        effect = effects[0] if effect is None else effect
        if effect not in effects:
            raise ValueError(f"effect {effect!r} is not planned; choose one of {effects}.")
        return self.groups[self.groups["effect"] == effect]

    def curve(self, effect=None, statistic: str = "width") -> pd.DataFrame:
        """``statistic`` (a column of :attr:`groups`) by sample size (rows) and group
        (columns, smallest share first)."""
        table = self._effect(effect)
        wide = table.pivot(index="n_rows", columns="group", values=statistic)
        order = table.drop_duplicates("group").sort_values("share")["group"]
        return wide[list(order)]

    def smallest_groups(self, k: int = 3, effect=None) -> list[str]:
        """The ``k`` groups with the smallest population shares."""
        table = self._effect(effect).drop_duplicates("group")
        return list(table.sort_values(["share", "group"])["group"].head(k))

    def n_for_width(self, width: float, k: int = 1, effect=None) -> float:
        """Rows needed for the ``k``-th smallest group's median interval width to fall to
        ``width``: interpolated on the log-log curve between planned sample sizes, or
        extrapolated from its last two points (with a warning) beyond them."""
        group = self.smallest_groups(k, effect)[-1]
        curve = self.curve(effect)[group].dropna()
        n, w = np.log(curve.index.to_numpy(float)), np.log(curve.to_numpy(float))
        if n.size < 2:
            raise ValueError("n_for_width needs a plan at two or more sample sizes.")
        target = np.log(width)
        below = np.flatnonzero(w <= target)
        if below.size and below[0] > 0:
            i = below[0]
            slope = (w[i] - w[i - 1]) / (n[i] - n[i - 1])
            return float(np.exp(n[i - 1] + (target - w[i - 1]) / slope))
        if below.size:  # already narrow enough at the smallest size planned
            i = 0
            warnings.warn(
                "the target width is reached at the smallest planned size; plan smaller "
                "sizes to find the threshold.", UserWarning, stacklevel=2,
            )  # fmt: skip
        else:
            i = n.size - 1
            warnings.warn(
                f"group {group!r} does not reach width {width} at the planned sizes; the "
                "answer is extrapolated from the last two: plan at that size to confirm.",
                UserWarning, stacklevel=2,
            )  # fmt: skip
        j = 1 if i == 0 else i - 1
        slope = (w[i] - w[j]) / (n[i] - n[j])
        if below.size and not slope < 0:
            # narrow enough already, and no fall below it to extrapolate along (the
            # smallest sizes' widths tie, as where the prior alone sets them)
            return float(np.exp(n[0]))
        if not slope < 0:
            raise ValueError(f"the width of group {group!r} does not fall with n.")
        return float(np.exp(n[i] + (target - w[i]) / slope))

    def plot(self, effect=None, *, highlight: int = 3, target: float | None = None, ax=None):
        """Median interval width against sample size, one line per group; the
        ``highlight`` smallest groups coloured and labelled, ``target`` a dashed line."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter

        curve = self.curve(effect)
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        for group in curve.columns:
            ax.plot(curve.index, curve[group], color="0.75", lw=0.8, zorder=1)
        for group in self.smallest_groups(highlight, effect):
            ax.plot(curve.index, curve[group], lw=2, marker="o", ms=3, label=group, zorder=2)
        if target is not None:
            ax.axhline(target, ls="--", color="k", lw=1, label=f"target {target:g}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # the planned sizes as ticks (log scale's own minor labels overlap)
        ax.set_xticks(curve.index, [f"{n:,}" for n in curve.index], rotation=45, fontsize=7)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("rows in the study")
        ax.set_ylabel(f"median {self.prob:.0%} interval width")
        ax.set_title(f"Group effects' precision ({self.mode} mode)")
        ax.legend(fontsize=7, title="smallest groups", title_fontsize=8)
        return ax

    def __repr__(self) -> str:
        sizes = ", ".join(str(n) for n in self.n_rows)
        return (f"StudyPlan(mode={self.mode!r}, n_rows=[{sizes}], "
                f"groups={self.groups['group'].nunique()}, prob={self.prob})")  # fmt: skip


# --------------------------------------------------------------------- driver
def modifiers_and_predictors(params: dict, frame) -> tuple[list, list]:
    modifiers = list(params["modifiers"]) or (
        list(frame) if isinstance(frame, dict) else list(frame.columns)
    )
    predictors = params["group_predictors"]
    if isinstance(predictors, str) and predictors == "modifiers":
        predictors = list(modifiers)
    predictors = [] if predictors is None else list(predictors)
    return modifiers, predictors


def group_frame_of(frame, modifiers, predictors, weights) -> GroupFrame:
    if isinstance(frame, GroupFrame):
        return frame
    if isinstance(frame, dict):
        unknown = [p for p in predictors if p not in frame]
        if unknown:
            raise ValueError(f"group predictor {unknown[0]!r} has no shares in the frame.")
        if set(frame) != set(modifiers):
            raise ValueError(f"the shares name {sorted(frame)}, the modifiers are {modifiers}.")
        return GroupFrame.from_shares({m: frame[m] for m in modifiers}, predictors)
    return GroupFrame.from_frame(frame, modifiers, predictors, weights=weights)


def estimator_params_for(estimator, family, treatment: Treatment, assumptions) -> dict:
    from .._base.sampler_settings import NUTSSampler
    from .._estimator import HierarchicalHTE

    if estimator is None:
        sampler = NUTSSampler(num_warmup=500, num_samples=500, num_chains=2, progress_bar=False)
        estimator = HierarchicalHTE(family=family or "gaussian", sampler=sampler)
    elif family is not None and family != estimator.family:
        raise ValueError(f"family={family!r} but the estimator's family is "
                         f"{estimator.family!r}; give one of them.")  # fmt: skip
    params = dict(estimator.get_params(deep=False))
    if params.get("bins"):
        raise ValueError("planning groups are the frame's levels: bin the frame's columns "
                         "(pandas.cut) and leave the estimator's bins=None.")  # fmt: skip
    params.update(treatment.estimator_params())
    if family_of(params["family"]).takes_trials:
        params["trials"] = getattr(assumptions, "trials", 1)
    params["exposure"] = None
    params["handle_unknown"] = "population"
    return params


class _Progress:
    """A one-line counter on stderr where a person watches (off in logs and CI)."""

    def __init__(self, setting, total: int):
        self.on = person_watching() if setting == "auto" else bool(setting)
        self.total, self.done, self.started = total, 0, time.perf_counter()

    def step(self):
        self.done += 1
        if self.on:
            elapsed = time.perf_counter() - self.started
            sys.stderr.write(f"\rplanning: {self.done}/{self.total} simulations, {elapsed:.0f} s")
            if self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _assumption_source(assumptions) -> Callable:
    if isinstance(assumptions, Assumptions):
        return lambda rng: assumptions
    if callable(assumptions):
        return assumptions
    raise TypeError("assumptions must be an Assumptions or a function rng -> Assumptions.")


def plan_study(
    frame, assumptions, n_rows, *, treatment: Treatment | None = None, estimator=None,
    family: str | None = None, mode: str = "fast", n_simulations: int | None = None,
    prob: float = 0.95, scale: str = "response", small_sd: float | None = None,
    weights: str | None = None, random_state=None, progress="auto",
) -> StudyPlan:  # fmt: skip
    """Plan a study: how precise each group's effect would be at each sample size.

    Each simulation draws a study of ``n`` rows from the population (group sizes
    multinomial, the treatment completely randomised), the groups' true offsets
    from the assumed distribution, and the outcome from the family's simulator;
    then finds every group's interval as the estimator would (see ``mode``).

    Parameters
    ----------
    frame : DataFrame or dict
        The population: a sample frame with one row per unit and a column per
        modifier (a pilot, a census extract; ``weights`` names a weight column),
        or each modifier's level shares, ``{"intl": {1: 0.2, ...}, ...}``
        (modifiers independent). Every combination present is a group.
    assumptions : Assumptions or callable
        The parameters the outcome is simulated from, or a function of a NumPy
        ``Generator`` returning one :class:`Assumptions` per simulation (to carry
        uncertainty about them: Bayesian assurance).
    n_rows : int or sequence of int
        The sample sizes to plan.
    treatment : Treatment, optional
        The treatment's assignment (default: half the rows treated).
    estimator : HierarchicalHTE, optional
        The model to plan for: its modifiers, group predictors, structure, priors
        and sampler (default: the frame's columns as modifiers and group
        predictors, 2 chains x 500 draws).
    family : str, optional
        The outcome's family when ``estimator`` is not given (default Gaussian).
    mode : {"fast", "exact"}, default="fast"
        ``"exact"`` fits the full model to every simulated study (any family).
        ``"fast"`` (Gaussian, nested) uses the closed-form normal posterior of the
        group effects given the variance parameters at their assumed values: it
        leaves out their uncertainty, which widens the smallest groups most.
    n_simulations : int, optional
        Simulations per sample size (default 20 fast, 200 exact).
    prob : float, default=0.95
        Interval probability.
    scale : {"response", "link"}, default="response"
        The scale of the effects (the same for the Gaussian family).
    small_sd : float, optional
        ``p_sd_effect_above`` is the probability that sd_effect's interval lies
        above this (default: a quarter of each simulation's true sd_effect).
    random_state : int, RandomState or None
        Makes the plan reproducible.
    progress : "auto" or bool
        A counter on stderr; ``"auto"`` shows it where a person is watching.

    Returns
    -------
    StudyPlan

    Examples
    --------
    >>> from sklearn_hier.planning import Assumptions, plan_study
    >>> shares = {"young": {0: 0.7, 1: 0.3}, "urban": {0: 0.4, 1: 0.6}}
    >>> plan = plan_study(shares, Assumptions(average_effect=0.3, sd_effect=0.1),
    ...                   n_rows=[200, 800], n_simulations=5, random_state=0)
    >>> plan.curve().shape
    (2, 4)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
    if not 0.0 < prob < 1.0:
        raise ValueError(f"prob must be in (0, 1); got {prob!r}.")
    if scale not in ("response", "link"):
        raise ValueError(f"scale must be 'response' or 'link'; got {scale!r}.")
    sizes = sorted({int(n) for n in np.atleast_1d(n_rows)})
    if not sizes or sizes[0] < 2:
        raise ValueError(f"n_rows must be sample sizes of at least 2 rows; got {n_rows!r}.")
    treatment = Treatment.binary(0.5) if treatment is None else treatment
    source = _assumption_source(assumptions)
    fixed = assumptions if isinstance(assumptions, Assumptions) else None
    params = estimator_params_for(estimator, family, treatment, fixed)
    modifiers, predictors = modifiers_and_predictors(params, frame)
    if not modifiers:
        raise ValueError("the plan needs modifiers: give the estimator's modifiers or a frame.")
    params["modifiers"] = modifiers
    groups = group_frame_of(frame, modifiers, predictors, weights)
    n_sims = DEFAULT_SIMULATIONS[mode] if n_simulations is None else int(n_simulations)
    if n_sims < 1:
        raise ValueError(f"n_simulations must be at least 1; got {n_simulations!r}.")
    evaluator = (ClosedFormEvaluator if mode == "fast" else ExactEvaluator)(params, prob, scale)
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    effect_names = treatment.effect_names
    progress_bar = _Progress(progress, n_sims * len(sizes))
    records, study_rows, seen_warnings = [], [], {}
    # common random numbers: simulation s has the same parameters and the same true group
    # offsets at every size, so the curves over n differ by the sample size alone
    seeds = rng.integers(2**31 - 1, size=n_sims)
    truths_drawn = [
        source(np.random.default_rng([int(seed), 0])).resolved(
            params["family"], effect_names, predictors
        )
        for seed in seeds
    ]
    for n in sizes:
        started = time.perf_counter()
        outcomes, truths, thresholds, empties = [], [], [], []
        for seed, truth in zip(seeds, truths_drawn, strict=True):
            study_rng = np.random.default_rng([int(seed), 1])
            study = simulate_study(groups, treatment, truth, params["family"], n, study_rng)
            fit_seed = int(study_rng.integers(2**31 - 1))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outcome = evaluator(study, truth, effect_names, predictors, fit_seed)
            for w in caught:  # said once per plan, with how often, not once per fit
                key = (w.category, str(w.message))
                seen_warnings[key] = seen_warnings.get(key, 0) + 1
            outcomes.append(outcome)
            truths.append(evaluator.truth(study))
            empties.append(study.rows)
            thresholds.append(truth.sd_effect / 4.0 if small_sd is None
                              else np.full(len(effect_names), small_sd))  # fmt: skip
            progress_bar.step()
        seconds = time.perf_counter() - started
        records.append(_simulation_table(n, outcomes, truths, empties, groups, effect_names))
        study_rows += _study_rows(n, outcomes, truths, thresholds, effect_names, predictors,
                                  seconds)  # fmt: skip
    total = n_sims * len(sizes)
    for (category, message), count in seen_warnings.items():
        warnings.warn(f"in {count} of {total} simulated fits: {message}", category, stacklevel=2)
    simulations = pd.concat(records, ignore_index=True)
    return StudyPlan(
        groups=_group_table(simulations, groups), study=pd.DataFrame(study_rows),
        simulations=simulations, mode=mode, prob=prob, scale=scale, modifiers=modifiers,
    )  # fmt: skip


def _simulation_table(n, outcomes: list[StudyOutcome], truths, rows, groups: GroupFrame,
                      effect_names) -> pd.DataFrame:  # fmt: skip
    """Long table: simulation x effect x group."""
    S, G, E = len(outcomes), groups.n_groups, len(effect_names)

    def stack(name):
        return np.stack([getattr(o, name) for o in outcomes])  # (S, G, E)

    shape = (S, G, E)
    index = np.indices(shape).reshape(3, -1)
    return pd.DataFrame({
        "n_rows": n,
        "simulation": index[0],
        "effect": np.asarray(effect_names, dtype=object)[index[2]],
        "group_index": index[1],
        "rows": np.broadcast_to(np.stack(rows)[:, :, None], shape).ravel(),
        "mean": stack("mean").ravel(),
        "lower": stack("lower").ravel(),
        "upper": stack("upper").ravel(),
        "truth": np.stack(truths).ravel(),
    })  # fmt: skip


def _group_table(sims: pd.DataFrame, groups: GroupFrame) -> pd.DataFrame:
    seen = sims["rows"] > 0
    s = sims.assign(
        width=(sims["upper"] - sims["lower"]).where(seen),
        excludes=(((sims["lower"] > 0) | (sims["upper"] < 0)).astype(float)).where(seen),
        error2=((sims["mean"] - sims["truth"]) ** 2).where(seen),
        covered=(((sims["lower"] <= sims["truth"]) & (sims["truth"] <= sims["upper"]))
                 .astype(float)).where(seen),
        empty=(~seen).astype(float),
    )  # fmt: skip
    keys = ["n_rows", "effect", "group_index"]
    by = s.groupby(keys, sort=True)
    table = pd.DataFrame({
        "rows": by["rows"].median(),
        "width": by["width"].median(),
        "width_q10": by["width"].quantile(0.1),
        "width_q90": by["width"].quantile(0.9),
        "p_excludes_zero": by["excludes"].mean(),
        "rmse": np.sqrt(by["error2"].mean()),
        "coverage": by["covered"].mean(),
        "p_empty": by["empty"].mean(),
    }).reset_index()  # fmt: skip
    index = table["group_index"].to_numpy()
    labels = np.asarray(groups.labels, dtype=object)
    levels = groups.table.iloc[index].reset_index(drop=True)
    out = pd.concat(
        [table[["n_rows", "effect"]], pd.DataFrame({"group": labels[index]}), levels,
         pd.DataFrame({"share": groups.shares[index]}), table.drop(columns=["n_rows", "effect",
                                                                             "group_index"])],
        axis=1,
    )  # fmt: skip
    return out


def _study_rows(n, outcomes, truths, thresholds, effect_names, predictors, seconds) -> list:
    rows = []
    for e, name in enumerate(effect_names):
        lower = np.stack([o.lower[:, e] for o in outcomes])
        upper = np.stack([o.upper[:, e] for o in outcomes])
        truth = np.stack([t[:, e] for t in truths])
        seen = np.isfinite(lower)
        covered = (lower <= truth) & (truth <= upper)
        sd_lower = np.array([o.sd_effect_lower[e] for o in outcomes])
        small = np.array([t[e] for t in thresholds])
        row = {
            "n_rows": n, "effect": name,
            "p_extremes_differ": float(np.mean([o.extremes_differ[e] for o in outcomes])),
            "p_sd_effect_above": float(np.mean(sd_lower > small))
            if np.all(np.isfinite(sd_lower)) else np.nan,
        }  # fmt: skip
        for j, p in enumerate(predictors):
            row[f"p_lambda_excludes_zero[{p}]"] = float(
                np.mean([o.lambda_excludes_zero[e, j] for o in outcomes])
            )
        row["coverage"] = float(covered[seen].mean())
        row["divergent_fits"] = int(sum(o.divergences > 0 for o in outcomes))
        row["seconds"] = round(seconds, 2)
        rows.append(row)
    return rows
