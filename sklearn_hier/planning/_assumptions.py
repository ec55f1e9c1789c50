"""What a plan assumes: the treatment's design and the model's parameters.

:class:`Treatment` says how the planned study assigns the treatment (a share
treated, arms with their shares, or doses); :class:`Assumptions` gives the
parameters the outcome is simulated from, in the terms a researcher states
them: the average effect, the group-level slopes (lambda), the unexplained
spread of the effects (sd_effect), the spread of the groups' baselines, the
baseline itself and the noise of the family.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logit

from .._base.families import family_of

#: The families whose baseline is a probability (the logit link).
_LOGIT = ("bernoulli", "binomial", "ordinal")
#: The families whose baseline is an expected count (the log link).
_LOG = ("poisson", "negbinomial")


@dataclass(frozen=True)
class Treatment:
    """How the planned study assigns its treatment.

    Use the constructors: :meth:`binary` (a share of the rows treated),
    :meth:`arms` (labels with their shares, one of them the control) or
    :meth:`dose` (doses drawn from the values given). Rows are assigned by
    complete randomisation: exactly the planned share of the rows, up to
    rounding, gets each arm.

    Examples
    --------
    >>> from sklearn_hier.planning import Treatment
    >>> Treatment.binary(0.5).effect_names
    ('treatment',)
    >>> Treatment.arms({"placebo": 0.4, "low": 0.3, "high": 0.3}, control="placebo").effect_names
    ('low', 'high')
    """

    kind: str
    labels: tuple = ()
    shares: tuple = ()
    control: object = None
    doses: tuple = ()

    @classmethod
    def binary(cls, share: float = 0.5) -> "Treatment":
        """A 0/1 treatment given to ``share`` of the rows."""
        if not 0.0 < share < 1.0:
            raise ValueError(f"the treated share must be in (0, 1); got {share!r}.")
        return cls(kind="binary", labels=(0, 1), shares=(1.0 - share, share), control=0)

    @classmethod
    def arms(cls, shares: dict, control=None) -> "Treatment":
        """Arms with their shares of the rows (``{label: share}``, normalised to sum to
        one); ``control`` (default: the first label) is the reference arm."""
        if len(shares) < 2:
            raise ValueError("arms need at least two labels (one of them the control).")
        values = np.asarray(list(shares.values()), dtype=float)
        if np.any(values <= 0.0) or not np.all(np.isfinite(values)):
            raise ValueError(f"every arm's share must be positive; got {shares!r}.")
        labels = tuple(shares)
        control = labels[0] if control is None else control
        if control not in labels:
            raise ValueError(f"control {control!r} is not one of the arms {labels!r}.")
        return cls(kind="arms", labels=labels, shares=tuple(values / values.sum()),
                   control=control)  # fmt: skip

    @classmethod
    def dose(cls, values) -> "Treatment":
        """A continuous dose, each row's drawn (with replacement) from ``values``."""
        doses = np.asarray(values, dtype=float).ravel()
        if doses.size < 2 or not np.all(np.isfinite(doses)) or np.ptp(doses) == 0:
            raise ValueError("a dose needs at least two distinct finite values to draw from.")
        return cls(kind="dose", doses=tuple(doses))

    @property
    def effect_names(self) -> tuple:
        """One name per effect the model estimates, as the fitted estimator names them."""
        if self.kind == "binary":
            return ("treatment",)
        if self.kind == "dose":
            return ("dose",)
        return tuple(label for label in self.labels if label != self.control)

    @property
    def column_name(self) -> str:
        return {"binary": "treatment", "arms": "arm", "dose": "dose"}[self.kind]

    def estimator_params(self) -> dict:
        """The estimator parameters that read the simulated treatment as planned."""
        if self.kind == "arms":
            return {"control_value": self.control, "treatment_type": "auto"}
        if self.kind == "dose":
            return {"treatment_type": "continuous"}
        return {"treated_value": None, "control_value": None, "treatment_type": "auto"}

    def assign(self, n_rows: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """The treatment column (labels or doses) and the model's columns ``(n, E)``."""
        if self.kind == "dose":
            dose = rng.choice(np.asarray(self.doses), size=n_rows)
            return dose, dose[:, None]
        counts = np.floor(np.asarray(self.shares) * n_rows).astype(int)
        # the rows rounding leaves over go to the arms with the largest remainders
        left = n_rows - counts.sum()
        counts[np.argsort(-(np.asarray(self.shares) * n_rows - counts))[:left]] += 1
        arm = rng.permutation(np.repeat(np.arange(len(self.labels)), counts))
        labels = np.asarray(self.labels, dtype=object)[arm]
        effects = [i for i, label in enumerate(self.labels) if label != self.control]
        columns = (arm[:, None] == np.asarray(effects)[None, :]).astype(float)
        if self.kind == "binary":
            labels = arm.astype(float)
        return labels, columns


def _per_effect(value, names: tuple, what: str) -> np.ndarray:
    """A scalar for every effect, or a dict keyed by effect name (missing names: 0)."""
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"{what} names {sorted(map(str, unknown))}, which are not effects "
                             f"of the treatment ({list(names)}).")  # fmt: skip
        return np.array([float(value.get(name, 0.0)) for name in names])
    return np.full(len(names), float(value))


@dataclass(frozen=True)
class Assumptions:
    """The parameters a planned study's outcome is simulated from.

    Effects are on the model's link scale (the outcome's own for the Gaussian
    and Student-t families, log odds for binary, binomial and ordinal
    outcomes, the log rate for counts); a dose's per unit of dose.

    Parameters
    ----------
    average_effect : float or dict, default=0.0
        The effect averaged over the population's groups (a dict keyed by arm
        for several arms).
    lambdas : dict, default={}
        Group-level slopes: ``{predictor: slope}`` (every effect) or
        ``{effect: {predictor: slope}}``; predictors left out have slope 0. The
        effect of group ``g`` is ``average_effect + sum_j lambda_j (Z_gj -
        mean Z_j) + u_g`` (means over the population).
    sd_effect : float or dict, default=0.1
        sd_effect: the sd of the effects' group offsets ``u_g``, what the
        group-level predictors leave unexplained.
    sd_intercept : float, default=0.1
        The sd of the groups' baselines around the population's (link scale).
    correlation : float or array, default=0.0
        Correlation of each effect's offsets with the baselines' offsets (the
        effects' offsets uncorrelated with each other), or the whole ``(1 + E,
        1 + E)`` correlation matrix of (baseline, effects) offsets.
    baseline_slopes : dict, default={}
        ``{predictor: slope}``: how the groups' baselines move with the
        group-level predictors (link scale, around the population mean).
    baseline : float or sequence, optional
        The outcome under control on the response scale: its mean (Gaussian,
        Student-t; default 0), the probability of an event (binary, binomial;
        default 0.5), the expected count (Poisson, negative binomial; default
        1), or the shares of the ordered categories (ordinal; default equal).
    noise_sd : float, default=1.0
        The outcome's sd within a group and arm, before controls (Gaussian and
        Student-t scale).
    nu : float, default=5.0
        Student-t degrees of freedom.
    shape : float, default=2.0
        Negative binomial shape (variance ``mu + mu^2 / shape``).
    trials : int, default=1
        Trials per row (binomial).
    controls_r2 : float, default=0.0
        Share of the outcome's within-group variance that the study's controls
        explain (Gaussian and Student-t: of ``noise_sd**2``; logit families: of
        the latent logistic variance). One standard-normal control carries it.

    Examples
    --------
    >>> from sklearn_hier.planning import Assumptions
    >>> a = Assumptions(average_effect=0.1, lambdas={"intl": 0.03}, sd_effect=0.05)
    >>> a.sd_effect
    0.05
    """

    average_effect: object = 0.0
    lambdas: dict = field(default_factory=dict)
    sd_effect: object = 0.1
    sd_intercept: float = 0.1
    correlation: object = 0.0
    baseline_slopes: dict = field(default_factory=dict)
    baseline: object = None
    noise_sd: float = 1.0
    nu: float = 5.0
    shape: float = 2.0
    trials: int = 1
    controls_r2: float = 0.0

    def resolved(self, family: str, effect_names: tuple, predictors: list) -> "ResolvedAssumptions":
        """The assumptions as arrays for ``family``, the effects and the group predictors,
        checked (every error names the field and the fix)."""
        E, q = len(effect_names), len(predictors)
        average = _per_effect(self.average_effect, effect_names, "average_effect")
        sd_effect = _per_effect(self.sd_effect, effect_names, "sd_effect")
        lam = np.zeros((E, q))
        nested = any(isinstance(v, dict) for v in self.lambdas.values())
        for key, value in self.lambdas.items():
            rows = [effect_names.index(key)] if nested and key in effect_names else range(E)
            slopes = value if nested and key in effect_names else {key: value}
            if nested and key not in effect_names:
                raise ValueError(
                    f"lambdas[{key!r}]: {key!r} is not an effect ({list(effect_names)})."
                )
            for name, slope in slopes.items():
                if name not in predictors:
                    raise ValueError(
                        f"lambdas names {name!r}, which is not a group-level predictor "
                        f"({predictors}); give slopes only for the estimator's group_predictors."
                    )
                for e in rows:
                    lam[e, predictors.index(name)] = float(slope)
        if np.any(sd_effect < 0) or self.sd_intercept < 0:
            raise ValueError("sd_effect and sd_intercept must be non-negative.")
        corr = _correlation(self.correlation, E)
        gamma = np.zeros(q)
        for name, slope in self.baseline_slopes.items():
            if name not in predictors:
                raise ValueError(f"baseline_slopes names {name!r}, which is not a group-level "
                                 f"predictor ({predictors}).")  # fmt: skip
            gamma[predictors.index(name)] = float(slope)
        if not 0.0 <= self.controls_r2 < 1.0:
            raise ValueError(f"controls_r2 must be in [0, 1); got {self.controls_r2!r}.")
        base, params, control = _family_terms(self, family)
        return ResolvedAssumptions(
            average=average, lam=lam, sd_effect=sd_effect, sd_intercept=float(self.sd_intercept),
            correlation=corr, gamma=gamma, base_link=base, params=params,
            control_coef=control, trials=int(self.trials),
        )  # fmt: skip


def _correlation(value, n_effects: int) -> np.ndarray:
    """The (1 + E) correlation matrix of the (baseline, effects) offsets, checked."""
    if np.ndim(value) == 0:
        corr = np.eye(1 + n_effects)
        corr[0, 1:] = corr[1:, 0] = float(value)
    else:
        corr = np.asarray(value, dtype=float)
        if corr.shape != (1 + n_effects, 1 + n_effects) or not np.allclose(corr, corr.T):
            raise ValueError(f"a correlation matrix must be symmetric, ({1 + n_effects}, "
                             f"{1 + n_effects}): the baseline and each effect.")  # fmt: skip
    if np.any(np.abs(np.diag(corr) - 1.0) > 1e-9) or np.linalg.eigvalsh(corr)[0] <= 0.0:
        raise ValueError(f"correlation {value!r} is not a positive-definite correlation matrix "
                         f"for {n_effects} effect(s); shrink it toward 0.")  # fmt: skip
    return corr


def _family_terms(a: Assumptions, family: str) -> tuple[float, dict, float]:
    """The baseline on the link scale, the family's own parameters, and the control's
    coefficient that explains ``controls_r2`` of the within-group variance."""
    family_of(family)  # a clear error for an unknown family
    r2 = a.controls_r2
    if family in ("gaussian", "student"):
        if a.noise_sd <= 0:
            raise ValueError(f"noise_sd must be positive; got {a.noise_sd!r}.")
        sigma = a.noise_sd * np.sqrt(1.0 - r2)
        params = {"sigma": sigma} if family == "gaussian" else {"sigma": sigma, "nu": a.nu}
        base = 0.0 if a.baseline is None else float(a.baseline)
        return base, params, a.noise_sd * np.sqrt(r2)
    if family in _LOGIT:
        # the latent logistic variance pi^2 / 3 is what the control explains r2 of
        control = np.sqrt(r2 / (1.0 - r2) * np.pi**2 / 3.0)
        if family == "ordinal":
            shares = np.asarray(a.baseline if a.baseline is not None else [0.25] * 4, float)
            if shares.ndim != 1 or shares.size < 3 or np.any(shares <= 0):
                raise ValueError(
                    "an ordinal baseline is the (positive) shares of at least three ordered "
                    "categories, e.g. [0.2, 0.3, 0.3, 0.2]."
                )
            below = np.cumsum(shares / shares.sum())[:-1]
            return 0.0, {"cutpoints": logit(below)}, control
        rate = 0.5 if a.baseline is None else float(a.baseline)
        if not 0.0 < rate < 1.0:
            raise ValueError(f"a binary baseline is a probability in (0, 1); got {rate!r}.")
        return float(logit(rate)), {}, control
    if family in _LOG:
        if r2:
            raise ValueError("controls_r2 is defined for the Gaussian, Student-t and logit "
                             "families; leave it at 0 for counts.")  # fmt: skip
        mean = 1.0 if a.baseline is None else float(a.baseline)
        if mean <= 0:
            raise ValueError(f"a count baseline is an expected count > 0; got {mean!r}.")
        params = {"shape": a.shape} if family == "negbinomial" else {}
        return float(np.log(mean)), params, 0.0
    raise ValueError(f"family {family!r} cannot be planned for")


@dataclass(frozen=True)
class ResolvedAssumptions:
    """:class:`Assumptions` as the simulator reads them."""

    average: np.ndarray  # (E,)
    lam: np.ndarray  # (E, q)
    sd_effect: np.ndarray  # (E,)
    sd_intercept: float
    correlation: np.ndarray  # (1 + E, 1 + E)
    gamma: np.ndarray  # (q,) the baselines' slopes on the predictors
    base_link: float
    params: dict  # the family's own parameters (sigma, nu, shape, cutpoints)
    control_coef: float
    trials: int

    @property
    def scales(self) -> np.ndarray:
        """The sds of a group's (baseline, effects) offsets (their correlation:
        :attr:`correlation`)."""
        return np.concatenate([[self.sd_intercept], self.sd_effect])
