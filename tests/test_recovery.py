"""Recovery of known group effects from simulated experiments."""

import warnings

import numpy as np
import pytest
from conftest import TW_COLUMNS, TW_MODIFIERS

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
from sklearn_hier.datasets import make_grouped_hte

pytestmark = pytest.mark.slow  # replications, new processes, clusters or examples


def _coverage(seed, n_samples=3000, *, divergences=None):
    """Interval coverage of one simulated data set's group effects. ``divergences``: a list
    to append the fit's divergent draws to, for replications that bound their total
    (isolated divergences then do not stop the run); None: any sampling warning fails."""
    data = make_grouped_hte(
        n_samples, n_levels=(2, 2, 5), sigma_theta=0.15, effect_slopes=[0.2, -0.1, 0.05],
        random_state=seed,
    )  # fmt: skip
    est = HierarchicalHTE(
        modifiers=data.modifiers, random_state=seed,
    )  # fmt: skip
    with warnings.catch_warnings():
        if divergences is not None:
            warnings.filterwarnings("ignore", "[0-9]+ of [0-9]+ draws diverged",
                                    SamplingWarning)  # fmt: skip
        est.fit(data.X, data.y, treatment=data.treatment)
    if divergences is not None:
        divergences.append(int(est.idata_.sample_stats["diverging"].values.sum()))
    table = est.effect_by_group().merge(data.group_effects, on=data.modifiers)
    covered = (table["lower"] <= table["effect"]) & (table["effect"] <= table["upper"])
    frame = data.X.assign(y=data.y, t=data.treatment)
    means = frame.groupby(data.modifiers + ["t"])["y"].mean().unstack("t")
    raw = (means[1.0] - means[0.0]).rename("raw").reset_index()
    return covered.to_numpy(), table.merge(raw, on=data.modifiers)


def test_group_effects_recovered():
    covered, table = _coverage(seed=11)
    # 20 groups: if each interval covered with probability 0.95, at most 15 of
    # 20 would be covered with probability 0.003.
    assert covered.sum() >= 16
    # partial pooling beats each group's own difference in means
    rmse_pooled = np.sqrt(((table["median"] - table["effect"]) ** 2).mean())
    rmse_raw = np.sqrt(((table["raw"] - table["effect"]) ** 2).mean())
    assert rmse_pooled < 0.8 * rmse_raw


def test_interval_coverage_is_nominal():
    divergences = []
    covered = np.concatenate([_coverage(seed, divergences=divergences)[0] for seed in range(12)])
    # 240 intervals; nominal 0.95 has binomial sd 0.014: allow three of them
    # (group effects within a data set are correlated, so this is not overly strict)
    assert 0.95 - 3 * 0.014 <= covered.mean() <= 0.99
    # isolated divergences are rare, not absent: over 60 such data sets, 1 or 2 divergent
    # draws in one of them (of 240,000); a posterior the sampler cannot explore gives
    # hundreds. Every other sampling warning still fails the fit.
    assert sum(divergences) <= 10


def test_additive_structure_samples_cleanly_on_tomz_weeks(tomz_weeks):
    nested = HierarchicalHTE(modifiers=TW_MODIFIERS, random_state=0)
    additive = HierarchicalHTE(modifiers=TW_MODIFIERS, structure="additive", random_state=0)
    X, y, t = tomz_weeks[TW_COLUMNS], tomz_weeks["force"], tomz_weeks["alliance"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        nested.fit(X, y, treatment=t)
        additive.fit(X, y, treatment=t)
    table = additive.diagnostics()
    # isolated divergences can remain at target 0.99: 0-8 in 4000 draws were seen
    # over seeds 0-2, with and without the warm-up depth cap and least-squares start
    assert table.attrs["divergences"] <= 10
    assert (table["r_hat_max"] <= 1.01).all()
    assert table.attrs["max_treedepth_hits"] <= 4
    a = additive.effect_by_group().set_index(TW_MODIFIERS)
    b = nested.effect_by_group().set_index(TW_MODIFIERS)
    # the two structures agree within their uncertainty about most groups (they
    # differ by design for small groups that break the additive pattern) ...
    close = np.abs(a["median"] - b["median"]) < (b["upper"] - b["lower"]) / 2
    assert close.mean() >= 0.9
    # ... and on who responds least and most (non-white women with low
    # internationalism; white men with high internationalism)
    for table in (a, b):
        low, high = table["median"].idxmin(), table["median"].idxmax()
        assert low[:2] == (0, 0) and low[2] <= 2
        assert high[:2] == (1, 1) and high[2] >= 4


def test_centred_non_centred_and_marginal_sampling_give_the_same_posterior():
    # 40 groups of ~1,250 rows (effect standard errors ~0.06) with sigma_theta 0.3:
    # informative enough for the centred form, not so much that the non-centred fails
    d = make_grouped_hte(50_000, n_levels=(2, 4, 5), sigma_theta=0.3, random_state=21)
    settings = {
        "centered": NUTSSampler(parameterization="centered", marginalize=False),
        "noncentered": NUTSSampler(parameterization="noncentered", marginalize=False),
        "marginal": NUTSSampler(marginalize=True),
    }
    fits = {
        name: HierarchicalHTE(modifiers=d.modifiers, random_state=0, sampler=sampler)
        .fit(d.X, d.y, treatment=d.treatment)
        .effect_by_group()
        for name, sampler in settings.items()
    }
    for name in ("centered", "marginal"):
        gap = (fits[name]["mean"] - fits["noncentered"]["mean"]).abs()
        # each mean has Monte Carlo error about sd / sqrt(ESS) <= sd / 20; their
        # difference about sd / 14, so 4 of those bound every group's gap
        assert (gap < 0.3 * fits["noncentered"]["sd"]).all()
        ratio = fits[name]["sd"] / fits["noncentered"]["sd"]
        assert ratio.between(0.85, 1.15).all()
