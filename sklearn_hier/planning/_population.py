"""The population a planned study samples, and one simulated study drawn from it.

A :class:`GroupFrame` holds the groups (every combination of the modifiers'
levels the population has), each group's share of the population and its
group-level predictors. :func:`simulate_study` draws a study of ``n`` rows
from it: group sizes multinomial, the treatment completely randomised, the
true group offsets from their assumed distribution, and the outcome from the
family's own simulator.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._base.families import family_of
from .._data.design import group_labels
from ._assumptions import ResolvedAssumptions, Treatment

#: Name of the standard-normal control that carries ``controls_r2``.
CONTROL = "control"


@dataclass(frozen=True)
class GroupFrame:
    """The groups of the population: their modifier levels, shares and predictors."""

    modifiers: list
    table: pd.DataFrame  # one row per group: the modifiers' levels
    shares: np.ndarray  # (G,) summing to one
    predictors: list
    Z: np.ndarray  # (G, q) group-level predictors

    @property
    def n_groups(self) -> int:
        return len(self.shares)

    @property
    def labels(self) -> list[str]:
        return group_labels(self.table, self.modifiers)

    @property
    def centred_Z(self) -> np.ndarray:
        """The predictors minus their population means (lambdas act on these)."""
        return self.Z - self.shares @ self.Z

    @classmethod
    def from_frame(cls, frame, modifiers: list, predictors: list, weights=None) -> "GroupFrame":
        """Groups from a sample frame: one row per unit (a pilot, a census, a panel),
        optionally weighted by the column ``weights``."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("frame must be a pandas DataFrame with one column per modifier.")
        missing = [m for m in modifiers + predictors if m not in frame.columns]
        if missing:
            raise ValueError(f"frame has no column {missing[0]!r}; it needs every modifier "
                             f"and group predictor ({modifiers + predictors}).")  # fmt: skip
        extra = [c for c in frame.columns if c not in modifiers + predictors + [weights]]
        if extra:
            raise ValueError(
                f"frame column {extra[0]!r} is neither a modifier nor a group predictor; "
                "controls are planned through Assumptions(controls_r2=...), so drop it."
            )
        w = np.ones(len(frame)) if weights is None else frame[weights].to_numpy(float)
        if len(frame) == 0 or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("frame needs rows, and weights that are finite, >= 0, not all 0.")
        if frame[modifiers].isna().any().any():
            raise ValueError("frame has missing modifier values; drop or fill them first.")
        codes = frame.groupby(modifiers, sort=True, observed=True).ngroup().to_numpy()
        shares = np.bincount(codes, weights=w)
        first = np.unique(codes, return_index=True)[1]
        table = frame[modifiers].iloc[first].reset_index(drop=True)
        Z = _predictors(frame, predictors, codes, w, shares)
        keep = shares > 0
        return cls(modifiers=list(modifiers), table=table[keep].reset_index(drop=True),
                   shares=shares[keep] / shares.sum(), predictors=list(predictors),
                   Z=Z[keep])  # fmt: skip

    @classmethod
    def from_shares(cls, shares: dict, predictors: list) -> "GroupFrame":
        """Groups from each modifier's level shares, the modifiers independent:
        ``{"intl": {1: 0.1, 2: 0.2, ...}, "male": {0: 0.5, 1: 0.5}}``."""
        names = list(shares)
        levels = [list(shares[m]) for m in names]
        index = pd.MultiIndex.from_product(levels, names=names)
        table = index.to_frame(index=False)
        probs = np.ones(len(table))
        for m in names:
            p = pd.Series(shares[m], dtype=float)
            if np.any(p <= 0):
                raise ValueError(f"shares[{m!r}] has a level with share <= 0.")
            probs = probs * (p / p.sum()).reindex(table[m]).to_numpy()
        frame = table.assign(_weight=probs)
        return cls.from_frame(frame, names, predictors, weights="_weight")


def _predictors(frame, predictors, codes, w, shares) -> np.ndarray:
    """(G, q): each group's (weighted) mean of every predictor, which must be numeric."""
    columns = []
    for name in predictors:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values):  # booleans count as numbers
            raise ValueError(f"group predictor {name!r} is not numeric; planning needs "
                             "numeric group predictors (code it as numbers).")  # fmt: skip
        total = np.bincount(codes, weights=w * values.to_numpy(float), minlength=shares.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns.append(total / shares)
    return np.column_stack(columns) if columns else np.zeros((shares.size, 0))


@dataclass
class SimulatedStudy:
    """One simulated data set and the truth it was drawn from."""

    X: pd.DataFrame
    treatment: pd.Series
    y: np.ndarray
    group: np.ndarray  # (n,) each row's group in the frame
    rows: np.ndarray  # (G,) rows per group
    truth_link: np.ndarray  # (G, E) true group effects on the link scale
    truth_response: np.ndarray  # (G, E) ... averaged over the group's rows on the response scale
    lam: np.ndarray  # (E, q)
    sd_effect: np.ndarray  # (E,)


def _offsets(truth: ResolvedAssumptions, n_groups: int, rng) -> np.ndarray:
    """(G, 1 + E) offsets: scales times correlated standard normals (zero sds allowed)."""
    chol = np.linalg.cholesky(truth.correlation)
    return (rng.standard_normal((n_groups, chol.shape[0])) @ chol.T) * truth.scales


def simulate_study(
    frame: GroupFrame, treatment: Treatment, truth: ResolvedAssumptions, family: str,
    n_rows: int, rng,
) -> SimulatedStudy:  # fmt: skip
    """Draw one study of ``n_rows`` rows: who is sampled, who is treated, the groups'
    true offsets and the outcome."""
    fam = family_of(family)
    G = frame.n_groups
    offsets = _offsets(truth, G, rng)  # first: the same at every size for one seed
    rows = rng.multinomial(n_rows, frame.shares)
    group = np.repeat(np.arange(G), rows)
    labels, t = treatment.assign(n_rows, rng)
    theta = truth.average[None, :] + frame.centred_Z @ truth.lam.T + offsets[:, 1:]
    alpha = truth.base_link + frame.centred_Z @ truth.gamma + offsets[:, 0]
    X = frame.table.iloc[group].reset_index(drop=True)
    base = alpha[group]
    if truth.control_coef:
        control = rng.standard_normal(n_rows)
        X[CONTROL] = control
        base = base + truth.control_coef * control
    eta = base + np.sum(t * theta[group], axis=1)
    trials = np.full(n_rows, truth.trials) if fam.takes_trials else None
    y = fam.simulate(eta, rng, trials=trials, params=truth.params)
    if fam.identity_link:
        truth_response = theta
    else:
        truth_response = _response_effects(fam, base, theta, group, rows, truth)
    return SimulatedStudy(
        X=X, treatment=pd.Series(labels, name=treatment.column_name), y=y, group=group,
        rows=rows, truth_link=theta, truth_response=truth_response, lam=truth.lam,
        sd_effect=truth.sd_effect,
    )  # fmt: skip


def _response_effects(fam, base, theta, group, rows, truth) -> np.ndarray:
    """(G, E): each group's effect on the response scale, averaged over its rows, as the
    fitted model reports it."""
    params = {k: np.asarray(v)[None, ...] for k, v in truth.params.items()}
    values = None
    if "cutpoints" in truth.params:
        values = np.arange(np.size(truth.params["cutpoints"]) + 1, dtype=float)

    def mean(eta):
        return fam.response_mean(eta[None, :], params=params, category_values=values)[0]

    low = mean(base)
    out = np.empty(theta.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for e in range(theta.shape[1]):  # one pass over the rows per effect
            diff = mean(base + theta[group, e]) - low
            out[:, e] = np.bincount(group, weights=diff, minlength=rows.size) / rows
    return out
