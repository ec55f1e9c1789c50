"""How the posterior is drawn, as one object: :class:`NUTSSampler` or :class:`SVISampler`.

``HierarchicalHTE(sampler=...)`` takes one of them, the way scikit-learn's Gaussian
process takes ``kernel=``: grid searches reach their settings as
``sampler__num_samples``, and a setting that belongs to the other method (a tree
depth for variational inference, optimisation steps for NUTS) cannot be written.
The estimator's flat sampler parameters (``num_samples=...``, ``inference="svi"``)
are deprecated; :func:`resolve_sampler` turns them into the object, and
:func:`sampler_from_flat` reads the files saved before the object existed.
"""

import warnings
from numbers import Integral, Real

from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import Interval, StrOptions

#: The value of a deprecated flat sampler parameter that was not passed.
DEPRECATED = "deprecated"


class _SamplerSettings(BaseEstimator):
    """Shared behaviour: validation and the flat settings the model specification freezes."""

    #: the method's name in the model specification
    inference: str = ""

    def __eq__(self, other) -> bool:
        # settings are values: two samplers with the same settings sample alike
        return type(other) is type(self) and other.get_params() == self.get_params()

    __hash__ = None

    def spec_settings(self) -> dict:
        """Every sampling field of the model specification, validated and frozen."""
        self._validate_params()
        return {**_SPEC_DEFAULTS, **self._own_settings(), "inference": self.inference}

    def _own_settings(self) -> dict:
        raise NotImplementedError


class NUTSSampler(_SamplerSettings):
    """Draw the exact posterior with the No-U-Turn sampler (NumPyro), the default.

    Parameters
    ----------
    num_warmup : int or "auto", default="auto"
        Warm-up iterations per chain. ``"auto"`` uses 1,000 (Stan's default) when all
        parameters are sampled jointly, and 500 when NUTS samples the marginal model's
        variance parameters alone (Gaussian, ``marginalize=True``, or the Laplace path):
        a few parameters, started (and their mass matrix) at the data's own scales,
        whose draws after 500 warm-up iterations (300 in the nested structure) take the
        leapfrog steps and reach the effective sample size per draw of those after
        1,000 (nested and additive structures, 2,000 to 400,000 rows, with and without
        heterogeneity; the Laplace path on 100,000 Bernoulli rows). Every warm-up
        iteration costs about as much as a kept draw. A fit records the number it ran
        in ``idata_.sample_stats.attrs["num_warmup"]``.
    num_samples, num_chains : int, default=1000, 4
        Kept draws per chain, and chains.
    target_accept : float, default=None
        Target acceptance probability (Stan's ``adapt_delta``); higher values take
        smaller steps and avoid divergences. ``None`` uses 0.8 (Stan's default) for
        the nested structure and 0.9 for the additive one when the linear parameters
        are marginalized: the variance parameters alone have no funnel to guard
        against. Sampling jointly it uses 0.95 (the note's setting) for the nested
        structure and 0.99 for the additive one, whose few-level modifiers make a
        harder posterior.
    max_tree_depth : int, default=10
        Maximum tree depth of the kept draws.
    warmup_max_tree_depth : int, "auto" or None, default="auto"
        Maximum tree depth during warm-up. Early in warm-up the mass matrix is still
        the identity, and unbounded trajectories run to the full depth (1,023
        leapfrog steps) for dozens of iterations: half of a small fit's cost.
        ``"auto"`` caps warm-up at depth 7 (127 steps) for the nested structure,
        whose adapted draws need 31-63 steps, and leaves the additive structure,
        whose draws need 100-200, at ``max_tree_depth``. The kept draws always use
        ``max_tree_depth``; ``None`` uses it throughout, as Stan does.
    dense_mass : bool, default=False
        Adapt a dense rather than diagonal mass matrix.
    chain_method : {"parallel", "vectorized"}, default="parallel"
        ``"parallel"`` runs chains in threads, one per CPU core (fastest on CPUs);
        ``"vectorized"`` batches them into one program (best on GPUs).
    marginalize : bool, default=True
        Gaussian family with ``reduce_data``: integrate the intercept, the
        coefficients and the group offsets out analytically (the model is
        linear-Gaussian given the variance parameters), sample only the group sds,
        their correlation and sigma, and complete each draw with an exact draw of
        the rest from its conditional normal. The posterior is the same as sampling
        everything jointly, at a few leapfrog steps per draw whatever the number of
        rows or groups. ``False`` samples all parameters jointly, as brms does
        (``parameterization`` then applies). Other families always sample jointly.
    parameterization : {"auto", "centered", "noncentered"}, default="auto"
        How the nested structure's group offsets are sampled when they are sampled
        (``marginalize=False``, or a non-Gaussian family). Non-centred (a standard
        normal, scaled) suits groups whose data say little, the usual survey case;
        centred suits groups with thousands of rows, where the non-centred form
        needs hundreds of leapfrog steps per draw. ``"auto"`` (Gaussian family)
        centres each group whose treated-control difference has a standard error
        below half the between-group spread of effects that the group-level
        predictors leave unexplained, or below 0.02 x ``prior_sd_scale``, and
        leaves the others non-centred. The posterior is the same; only the
        sampler's efficiency changes.
    progress_bar : bool or "auto", default="auto"
        Show a progress bar while sampling. ``"auto"`` shows one where a person is
        watching (stderr is a terminal, or a Jupyter kernel) and never in logs,
        pipes or CI; it is resolved at each fit. The compiled sampler is the same
        with and without the bar.

    See Also
    --------
    SVISampler : a faster normal approximation by variational inference.

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE, NUTSSampler
    >>> est = HierarchicalHTE(modifiers=["white"], sampler=NUTSSampler(num_samples=500))
    >>> est.get_params()["sampler__num_samples"]
    500
    """

    inference = "nuts"

    _parameter_constraints: dict = {
        "num_warmup": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "num_samples": [Interval(Integral, 1, None, closed="left")],
        "num_chains": [Interval(Integral, 1, None, closed="left")],
        "target_accept": [Interval(Real, 0, 1, closed="neither"), None],
        "max_tree_depth": [Interval(Integral, 1, 20, closed="both")],
        "warmup_max_tree_depth": [
            Interval(Integral, 1, 20, closed="both"),
            StrOptions({"auto"}),
            None,
        ],  # fmt: skip
        "dense_mass": ["boolean"],
        "chain_method": [StrOptions({"parallel", "vectorized"})],
        "marginalize": ["boolean"],
        "parameterization": [StrOptions({"auto", "centered", "noncentered"})],
        "progress_bar": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        num_warmup="auto",
        num_samples=1000,
        num_chains=4,
        target_accept=None,
        max_tree_depth=10,
        warmup_max_tree_depth="auto",
        dense_mass=False,
        chain_method="parallel",
        marginalize=True,
        parameterization="auto",
        progress_bar="auto",
    ):
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.num_chains = num_chains
        self.target_accept = target_accept
        self.max_tree_depth = max_tree_depth
        self.warmup_max_tree_depth = warmup_max_tree_depth
        self.dense_mass = dense_mass
        self.chain_method = chain_method
        self.marginalize = marginalize
        self.parameterization = parameterization
        self.progress_bar = progress_bar

    def _own_settings(self) -> dict:
        settings = self.get_params()
        for name in ("num_warmup", "num_samples", "num_chains", "max_tree_depth"):
            if settings[name] != "auto":
                settings[name] = int(settings[name])
        if settings["target_accept"] is not None:
            settings["target_accept"] = float(settings["target_accept"])
        return settings


class SVISampler(_SamplerSettings):
    """Fit a normal approximation of the posterior by stochastic variational inference.

    Much faster than NUTS with thousands of groups, with group-effect means close to
    NUTS, but the scale parameters' uncertainty (and so interval widths) can be
    understated. No R-hat or ESS exist for it; a ``SamplingWarning`` says when the
    optimisation had not converged.

    Parameters
    ----------
    steps : int, default=10000
        Optimisation steps (Adam).
    guide : {"auto", "mvn", "lowrank"}, default="auto"
        Normal approximation with a full covariance (``"mvn"``: closest to NUTS, but
        (2 x groups)^2 parameters) or a low-rank plus diagonal one (``"lowrank"``:
        scales to thousands of groups, coarser). ``"auto"`` uses the full one up to
        200 groups.
    learning_rate : float, default=0.01
        Adam step size.
    num_samples, num_chains : int, default=1000, 4
        The approximation's ``num_samples * num_chains`` independent draws are shaped
        as ``num_chains`` chains, as the NUTS draws are.
    parameterization : {"auto", "centered", "noncentered"}, default="auto"
        How the nested structure's group offsets enter the model (see
        :class:`NUTSSampler`).

    See Also
    --------
    NUTSSampler : the exact posterior, the default.

    Examples
    --------
    >>> from sklearn_hier import HierarchicalHTE, SVISampler
    >>> est = HierarchicalHTE(modifiers=["white"], sampler=SVISampler(steps=2000))
    >>> est.get_params()["sampler__steps"]
    2000
    """

    inference = "svi"

    _parameter_constraints: dict = {
        "steps": [Interval(Integral, 10, None, closed="left")],
        "guide": [StrOptions({"auto", "mvn", "lowrank"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "num_samples": [Interval(Integral, 1, None, closed="left")],
        "num_chains": [Interval(Integral, 1, None, closed="left")],
        "parameterization": [StrOptions({"auto", "centered", "noncentered"})],
    }

    def __init__(
        self,
        *,
        steps=10_000,
        guide="auto",
        learning_rate=0.01,
        num_samples=1000,
        num_chains=4,
        parameterization="auto",
    ):
        self.steps = steps
        self.guide = guide
        self.learning_rate = learning_rate
        self.num_samples = num_samples
        self.num_chains = num_chains
        self.parameterization = parameterization

    def _own_settings(self) -> dict:
        return {
            "svi_steps": int(self.steps),
            "svi_guide": self.guide,
            "svi_learning_rate": float(self.learning_rate),
            "num_samples": int(self.num_samples),
            "num_chains": int(self.num_chains),
            "parameterization": self.parameterization,
            "marginalize": False,  # the approximation is fitted to the joint model
            "progress_bar": False,
        }


SAMPLERS = {cls.__name__: cls for cls in (NUTSSampler, SVISampler)}

#: The fields of the model specification that say how to sample, at their defaults; the
#: other method's fields keep these values (they are not read).
_SPEC_DEFAULTS = {
    **NUTSSampler()._own_settings(),
    "svi_steps": 10_000,
    "svi_guide": "auto",
    "svi_learning_rate": 0.01,
    "inference": "nuts",
}
#: The estimator's deprecated flat parameters: each one's name on the sampler object.
FLAT_NUTS = {name: name for name in NUTSSampler().get_params()}
FLAT_SVI = {
    "num_samples": "num_samples",
    "num_chains": "num_chains",
    "parameterization": "parameterization",
    "svi_steps": "steps",
    "svi_guide": "guide",
    "svi_learning_rate": "learning_rate",
}
FLAT_PARAMS = tuple(dict.fromkeys([*FLAT_NUTS, "inference", *FLAT_SVI]))


def sampler_from_flat(flat: dict) -> _SamplerSettings:
    """The sampler object the flat parameters describe (those absent take their defaults).

    ``inference="svi"`` makes an :class:`SVISampler`, which drops the NUTS-only
    settings (the estimator ignored them with SVI before the object existed)."""
    if flat.get("inference", "nuts") == "svi":
        return SVISampler(**{FLAT_SVI[k]: v for k, v in flat.items() if k in FLAT_SVI})
    return NUTSSampler(**{k: v for k, v in flat.items() if k in FLAT_NUTS})


def resolve_sampler(params: dict, *, stacklevel: int = 3) -> dict:
    """``params`` (the estimator's) with ``sampler`` set to a private copy of the sampler
    object they describe and the deprecated flat names removed.

    A flat name that was passed warns (``FutureWarning``) and says what to write
    instead; flat names together with ``sampler`` are an error, since either could be
    meant. The copy makes the fitted state independent of later changes to the object.
    """
    params = dict(params)
    flat = {name: params.pop(name) for name in FLAT_PARAMS if name in params}
    passed = {name: value for name, value in flat.items() if not _is_unset(value)}
    sampler = params.get("sampler")
    if passed and sampler is not None:
        raise ValueError(
            f"{', '.join(passed)} and sampler= both say how to sample; pass the settings "
            f"in the sampler object only, e.g. sampler={_suggestion(passed)}."
        )
    if passed:
        warnings.warn(
            f"The flat sampler parameters ({', '.join(passed)}) are deprecated and will be "
            f"removed; pass sampler={_suggestion(passed)} instead.",
            FutureWarning,
            stacklevel=stacklevel,
        )
        sampler = sampler_from_flat(passed)
    if sampler is None:
        sampler = NUTSSampler()
    if not isinstance(sampler, _SamplerSettings):
        raise TypeError(
            f"sampler must be a NUTSSampler or an SVISampler (from sklearn_hier), got "
            f"{type(sampler).__name__}: {sampler!r}."
        )
    params["sampler"] = clone(sampler)
    return params


def sampler_to_plain(sampler: _SamplerSettings) -> dict:
    """A JSON-ready description of a sampler object (for saved models)."""
    return {"class": type(sampler).__name__, "params": sampler.get_params()}


def sampler_from_plain(plain: dict) -> _SamplerSettings:
    return SAMPLERS[plain["class"]](**plain["params"])


def _is_unset(value) -> bool:
    return isinstance(value, str) and value == DEPRECATED


def _suggestion(passed: dict) -> str:
    sampler = sampler_from_flat(passed)
    changed = {
        k: v for k, v in sampler.get_params().items() if v != type(sampler)().get_params()[k]
    }
    arguments = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    return f"{type(sampler).__name__}({arguments})"
