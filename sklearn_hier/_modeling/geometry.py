"""The sampler's geometry and where warm-up starts, decided once from the data's summaries.

Everything here changes how efficiently the same posterior is sampled, never the
posterior. One estimate of the between-group heterogeneity (:func:`heterogeneity`,
DerSimonian and Laird's moment estimate around the group-level regression) serves
both decisions that need it:

- which groups the nested structure samples centred (:func:`centred_groups`). A group
  whose own data pin its effect down (standard error well below the spread of effects
  between groups) is better sampled centred: non-centred, its offset and the group sds
  form a ridge that costs NUTS hundreds of leapfrog steps per draw. A group the data
  leave uncertain relative to that spread is better non-centred: centred, it recreates
  the funnel between the offsets and their sd (divergences);
- the coordinate and start of each group term's scale in the marginal model
  (:func:`scale_start`).

The start values of the parameters the data pin down come from the pooled
least-squares fit (:func:`least_squares_start`) and the groups' own estimates
(:func:`start_centred`).
"""

from typing import NamedTuple

import numpy as np

from .._data.sufficient_statistics import ControlsFit, GroupStart, pad_rows


class StartValues(NamedTuple):
    """Where warm-up starts: per sample site, a centre and a spread on the unconstrained
    scale (the start is ``centre + spread * uniform(-2, 2)``; Stan's is centre 0, spread 1)."""

    loc: dict
    spread: dict

    @classmethod
    def stan(cls) -> "StartValues":
        return cls({}, {})

    def of_site(self, name: str):
        return self.loc.get(name, 0.0), self.spread.get(name, 1.0)

    def merged(self, other: "StartValues") -> "StartValues":
        return StartValues({**self.loc, **other.loc}, {**self.spread, **other.spread})

    def pad(self, n_groups: int) -> "StartValues":
        """The padding groups (the per-group site ``z_group``) start as Stan would."""
        if "z_group" not in self.loc:
            return self
        extra = n_groups - np.shape(self.loc["z_group"])[0]
        return StartValues(
            {**self.loc, "z_group": pad_rows(self.loc["z_group"], extra, 0.0)},
            {**self.spread, "z_group": pad_rows(self.spread["z_group"], extra, 1.0)},
        )


class Heterogeneity(NamedTuple):
    """One term's between-group heterogeneity, as the groups' own estimates show it."""

    tau2: float  # moment estimate of the variance the group-level regression leaves
    noise: float  # the typical se^2 over groups^(1/2): how far tau2 strays with none
    dof: int  # groups used less the regression's rank


def heterogeneity(estimate: np.ndarray, se: np.ndarray, Z: np.ndarray) -> Heterogeneity:
    """DerSimonian and Laird's moment estimate of ``tau^2`` in the meta-regression
    ``estimate_g ~ Normal([1, Z_g] beta, tau^2 + se_g^2)`` (Raudenbush's form for
    moderators): ``(Q - dof) / (tr W - tr((X'WX)^+ X'W^2X))``, floored at 0, with
    ``Q`` the inverse-variance weighted residual sum of squares. Groups without an
    estimate (not finite) are left out; ``dof`` < 1 means nothing could be estimated
    (then ``tau2`` is 0)."""
    usable = np.isfinite(estimate) & np.isfinite(se)
    n_usable = int(usable.sum())
    if n_usable == 0:
        return Heterogeneity(0.0, 0.0, 0)
    X = np.column_stack([np.ones(n_usable), Z[usable]])
    y = estimate[usable]
    w = 1.0 / np.maximum(se[usable], 1e-12) ** 2
    noise = float(n_usable / w.sum() / np.sqrt(n_usable))
    dof = n_usable - int(np.linalg.matrix_rank(X))
    if dof < 1:
        return Heterogeneity(0.0, noise, dof)
    inverse = np.linalg.pinv(X.T @ (w[:, None] * X))
    residual = y - X @ (inverse @ (X.T @ (w * y)))
    q = float(w @ residual**2)
    c = float(w.sum() - np.trace(inverse @ (X.T @ ((w**2)[:, None] * X))))
    return Heterogeneity(max(q - dof, 0.0) / c if c > 0 else 0.0, noise, dof)


def unexplained_spread(estimate: np.ndarray, se: np.ndarray, Z: np.ndarray) -> float:
    """The heterogeneity's sd, ``sqrt(tau^2)``; 0.0 with fewer than
    :data:`MIN_SPREAD_DOF` residual degrees of freedom."""
    term = heterogeneity(estimate, se, Z)
    return float(np.sqrt(term.tau2)) if term.dof >= MIN_SPREAD_DOF else 0.0


#: A group is centred when its effect's standard error is below this share of
#: prior_sd_scale. Small on purpose: sd_effect is often far below the prior's
#: scale, and thousands of rows per group clear this bar whatever sd_effect is.
CENTERING_SE_RATIO = 0.02

#: ... or below this share of the between-group spread of effects that the
#: group-level predictors leave unexplained (a moment estimate of sd_effect);
#: there the posterior of each group effect is at least 80% its own data.
CENTERING_SPREAD_RATIO = 0.5

#: Fewest residual degrees of freedom for the moment estimate of that spread.
MIN_SPREAD_DOF = 8


def centred_groups(
    effect: np.ndarray, se: np.ndarray, Z: np.ndarray, *, prior_sd_scale
) -> np.ndarray:
    """1.0 for each group sampled centred: every one of its raw effects (``effect``, (G, E),
    with standard errors ``se``; not finite where its rows cannot estimate one) is
    pinned down by its own data. ``prior_sd_scale``: the effects' sd prior scale, one for
    all or one per effect (a dose's is in its units)."""
    se = np.where(np.isfinite(se), se, np.inf)
    centred = np.ones(se.shape[0], dtype=bool)
    prior_sd_scale = np.broadcast_to(np.asarray(prior_sd_scale, dtype=float), se.shape[1:])
    for k in range(se.shape[1]):
        estimate = np.where(np.isfinite(se[:, k]), effect[:, k], np.nan)
        spread = unexplained_spread(estimate, se[:, k], Z)
        bar = max(CENTERING_SE_RATIO * prior_sd_scale[k], CENTERING_SPREAD_RATIO * spread)
        centred &= se[:, k] < bar
    return centred.astype(float)


def least_squares_start(fit: ControlsFit | None, *, n_controls: int, n_group_terms: int
                        ) -> StartValues:  # fmt: skip
    """Where warm-up starts the parameters the data pin down.

    Stan starts every parameter uniformly in (-2, 2) on the unconstrained scale.
    With many rows, sigma, the control coefficients and the groups sampled
    centred have posterior sds of 1e-4 to 1e-2, so such a start lies thousands
    of sds away, and warm-up spends its first iterations travelling there.
    These start at the pooled least-squares fit (``fit``), jittered uniformly by
    +-2 standard errors so that chains still start apart; every other parameter
    (the ``n_group_terms`` group-level coefficients among them) keeps Stan's start.

    Without a usable fit (other families, degenerate controls) every parameter keeps
    Stan's start, spelled out: the start values have the same sites and shapes whatever
    the data, so fits of one model shape share one compiled program.
    """
    if fit is None or not fit.usable:
        size = n_controls + n_group_terms
        return StartValues(loc={"sigma": 0.0, "b": np.zeros(size)},
                           spread={"sigma": 1.0, "b": np.ones(size)})  # fmt: skip
    return StartValues(
        # b = [controls, group-level terms]: the group-level terms keep Stan's start
        loc={"sigma": np.log(fit.sigma), "b": np.concatenate([fit.beta, np.zeros(n_group_terms)])},
        spread={
            "sigma": min(1.0, 1.0 / np.sqrt(2.0 * fit.n_rows)),
            "b": np.concatenate([np.clip(fit.beta_se, 1e-12, 1.0), np.ones(n_group_terms)]),
        },
    )


#: A group term's scale is sampled signed only where the moment estimate of its variance is
#: at most this many times the noise term (about two of its own sds under no heterogeneity;
#: above, the data place the sd away from zero, where the log scale samples better) ...
SIGNED_SCALE_BELOW = 3.0
#: ... and at least this many groups have estimates. With few groups the sd's posterior has
#: a long right tail (the likelihood falls off only like a power of the sd), short on the
#: log scale: on simulated data, 6 groups sampled signed gave half the effective sample
#: size per draw of the log scale, 12 the same, 20 to 100 (Tomz & Weeks) more.
SIGNED_SCALE_MIN_GROUPS = 12


class ScaleStart(NamedTuple):
    """How the nested marginal model samples its group terms' scales: the coordinate of each
    (``signed``, see ``marginal_gaussian``) and where warm-up starts them."""

    start: StartValues
    signed: np.ndarray  # (D,) bool: which terms are sampled signed (else on the log scale)


def scale_start(group_start: GroupStart | None, Z: np.ndarray, prior_sd, width: int) -> ScaleStart:
    """The coordinate in which each group term's scale (``scale_group``) is sampled, its
    start and its spread, the scale warm-up first moves it on (``width``: how many terms
    vary, the intercept first; ``prior_sd``: their sd priors' scales).

    Per term, the groups' own estimates are a random-effects meta-analysis: their
    spread around the group-level regression on ``[1, Z]``, beyond what their standard
    errors explain, estimates the heterogeneity ``tau^2`` (DerSimonian and Laird's moment
    estimate, :func:`heterogeneity`); with none, that estimate still varies by about the
    typical standard error squared over ``groups^(1/2)`` (the noise term). Together they
    give a rough scale of the sd, ``sqrt(tau^2 + noise)``. A term whose ``tau^2`` is at most
    :data:`SIGNED_SCALE_BELOW` noise terms, in a model with at least
    :data:`SIGNED_SCALE_MIN_GROUPS` estimated groups, is sampled signed, starting at zero
    with that scale as its spread; any other on the log scale, starting at the log of that
    scale with spread ``noise / (sqrt(2) (tau^2 + noise))``, the delta method's sd of
    ``log tau``. Without usable group estimates every term is on the log scale with Stan's
    start (spelled out, so that the sampler's inputs have the same layout whatever the
    data). Only warm-up depends on the start; the coordinate changes how efficiently the
    same posterior is sampled, not the posterior.
    """
    stan = ScaleStart(
        StartValues(loc={"scale_group": np.zeros(width)}, spread={"scale_group": np.ones(width)}),
        np.zeros(width, dtype=bool),
    )
    if group_start is None:
        return stan
    usable = np.isfinite(group_start.unit_se).all(axis=1)
    n_usable = int(usable.sum())
    terms = [
        heterogeneity(group_start.estimate[usable, d], group_start.se[usable, d], Z[usable])
        for d in range(width)
    ]
    if not terms or terms[0].dof < 1:
        return stan
    tau2 = np.array([term.tau2 for term in terms])
    noise = np.array([term.noise for term in terms])
    signed = (tau2 <= SIGNED_SCALE_BELOW * noise) & (n_usable >= SIGNED_SCALE_MIN_GROUPS)
    scale = np.clip(np.sqrt(tau2 + noise) / prior_sd, 1e-3, 1.0)
    spread_log = np.clip(noise / (np.sqrt(2.0) * (tau2 + noise)), 0.05, 1.0)
    start = StartValues(
        loc={"scale_group": np.where(signed, 0.0, np.log(scale))},
        spread={"scale_group": np.where(signed, scale, spread_log)},
    )
    return ScaleStart(start, signed)


def start_centred(group_start: GroupStart, centered: np.ndarray, width: int) -> StartValues:
    """Start the centred groups at their cell estimates of the ``width`` terms that vary
    (Stan's start for the others)."""
    flag = centered.astype(bool)[:, None]
    estimate, se = group_start.estimate[:, :width], group_start.se[:, :width]
    return StartValues(
        loc={"z_group": np.where(flag, estimate, 0.0)},
        spread={"z_group": np.where(flag, np.clip(se, 1e-12, 1.0), 1.0)},
    )
