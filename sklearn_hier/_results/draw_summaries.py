"""Tables and summaries computed from posterior draws only."""

from dataclasses import dataclass

import numpy as np
import pandas as pd


def check_prob(prob: float) -> float:
    if not (isinstance(prob, int | float) and 0.0 < float(prob) < 1.0):
        raise ValueError(f"prob must be a number strictly between 0 and 1; got {prob!r}.")
    return float(prob)


def interval(draws: np.ndarray, prob: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval (the quantile interval brms reports)."""
    tail = (1.0 - prob) / 2.0
    lower, upper = np.quantile(draws, [tail, 1.0 - tail], axis=axis)
    return lower, upper


def summarize(draws: np.ndarray, prob: float) -> pd.DataFrame:
    """Columns mean, median, sd, lower, upper, prob_positive for draws of shape (S, K)."""
    lower, upper = interval(draws, prob)
    return pd.DataFrame(
        {
            "mean": draws.mean(axis=0),
            "median": np.median(draws, axis=0),
            "sd": draws.std(axis=0, ddof=1),
            "lower": lower,
            "upper": upper,
            "prob_positive": (draws > 0).mean(axis=0),
        }
    )


def effects_by_column(per_effect: list, names: list, X, *, with_interval: bool):
    """Row effects of every effect side by side: each effect's (n,) values, or its
    (mean, lower, upper), as (n, effects) arrays (DataFrames named by effect when ``X`` is a
    DataFrame). One effect keeps its (n,) shape."""
    if len(per_effect) == 1:
        return per_effect[0]
    parts = zip(*per_effect, strict=True) if with_interval else [per_effect]
    stacked = []
    for part in parts:
        values = np.column_stack(part)
        if isinstance(X, pd.DataFrame):
            values = pd.DataFrame(values, index=X.index, columns=list(names))
        stacked.append(values)
    return tuple(stacked) if with_interval else stacked[0]


def point_and_interval(draws: np.ndarray, prob: float) -> tuple[float, float, float]:
    lower, upper = interval(draws, prob)
    return float(np.median(draws)), float(lower), float(upper)


@dataclass(frozen=True)
class HeterogeneitySummary:
    """How much the treatment effect varies across groups, and where.

    Attributes
    ----------
    extremes : pandas.DataFrame
        The groups with the smallest, median and largest posterior-median effect
        (index ``smallest``, ``median``, ``largest``), with their labels, medians
        and intervals.
    sd_all_draws : float
        Standard deviation of all posterior draws of all group effects pooled
        together: the spread of the effect across groups plus the uncertainty
        about each group.
    sd_between_groups : tuple of float
        Posterior (median, lower, upper) of the standard deviation of the group
        effects across the fitted groups, computed draw by draw (divisor G, the
        number of groups: the fitted groups are the whole population described).
    sd_effect : tuple of float
        Posterior (median, lower, upper) of ``sd_effect`` (the name it has in
        ``idata_`` and ``coefficients()``), the standard deviation of group
        effects left unexplained by the group-level predictors. In the
        additive structure, the root of the summed per-modifier variances.
    unexplained_share : tuple of float
        Posterior (median, lower, upper) of
        ``sd_effect^2 / (Var_g(Z_g lambda) + sd_effect^2)``: the share of the
        effect's variance across groups that the group-level predictors leave
        unexplained.
    prob : float
        Probability mass of the intervals.
    scale : str
        Scale of the group effects (extremes, sd of draws, between-group sd).
    link_scale : str
        Scale of sd_effect and the unexplained share: the model's link scale.
    treatment : str or None
        The effect summarised, when the model has more than one.
    """

    extremes: pd.DataFrame
    sd_all_draws: float
    sd_between_groups: tuple[float, float, float]
    sd_effect: tuple[float, float, float]
    unexplained_share: tuple[float, float, float]
    prob: float
    scale: str = "outcome"
    link_scale: str = "outcome"
    treatment: str | None = None

    def __str__(self) -> str:
        pct = f"{100 * self.prob:g}%"
        which = "Treatment effect" if self.treatment is None else f"Effect of {self.treatment}:"
        lines = [f"{which} heterogeneity ({pct} intervals; effects on the {self.scale} scale)"]
        for which, row in self.extremes.iterrows():
            lines.append(
                f"  {which:<8} group effect {row['median']:.3f} "
                f"({row['lower']:.3f}, {row['upper']:.3f})  [{row['label']}]"
            )
        fmt = "{:.3f} ({:.3f}, {:.3f})"
        lines += [
            f"  sd of all draws of group effects: {self.sd_all_draws:.3f}",
            "  sd of effects between groups:     " + fmt.format(*self.sd_between_groups),
            f"  sd_effect (unexplained sd, {self.link_scale}): " + fmt.format(*self.sd_effect),
            "  share of variance unexplained:    " + fmt.format(*self.unexplained_share),
        ]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):  # IPython display
        printer.text(str(self))


def heterogeneity(
    effects: np.ndarray,
    explained: np.ndarray,
    sd_effect: np.ndarray,
    labels: list[str],
    prob: float,
    *,
    scale: str = "outcome",
    link_scale: str = "outcome",
    treatment: str | None = None,
) -> HeterogeneitySummary:
    """Summarise group effects ``effects`` (S, G).

    ``explained`` (S, G) is the systematic part Z_g lambda of each group's effect
    and ``sd_effect`` (S,) the residual scale of the effect across groups.
    """
    medians = np.median(effects, axis=0)
    order = np.argsort(medians, kind="stable")
    picks = {
        "smallest": order[0],
        "median": order[(len(order) - 1) // 2],
        "largest": order[-1],
    }
    rows = []
    for which, g in picks.items():
        lower, upper = interval(effects[:, g], prob)
        rows.append(
            {
                "which": which,
                "label": labels[g],
                "median": medians[g],
                "lower": lower,
                "upper": upper,
            }
        )
    extremes = pd.DataFrame(rows).set_index("which")
    var_explained = explained.var(axis=1)
    share = sd_effect**2 / (var_explained + sd_effect**2)
    return HeterogeneitySummary(
        extremes=extremes,
        sd_all_draws=float(effects.std()),
        sd_between_groups=point_and_interval(effects.std(axis=1), prob),
        sd_effect=point_and_interval(sd_effect, prob),
        unexplained_share=point_and_interval(share, prob),
        prob=prob,
        scale=scale,
        link_scale=link_scale,
        treatment=treatment,
    )
