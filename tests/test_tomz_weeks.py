"""The note's reanalysis of Tomz & Weeks (2021): same specification, same answers.

The note reports its brms estimates to two decimals, so a value printed as 0.20
lies within 0.005 of the truth. Both fits are Monte Carlo estimates: with our
Monte Carlo standard error (MCSE, from ArviZ) and brms's of the same size, the
difference of the two has standard deviation sqrt(2) * MCSE. Each check allows
the rounding half-width plus three of those standard deviations.
"""

from pathlib import Path

import arviz_stats
import numpy as np
import pandas as pd
import pytest
from conftest import TW_COLUMNS, TW_MODIFIERS

from sklearn_hier import HierarchicalHTE, NUTSSampler

pytestmark = pytest.mark.slow  # the full replication, 4 chains x 1,000 draws

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def reanalysis(tomz_weeks):
    est = HierarchicalHTE(
        modifiers=TW_MODIFIERS,
        prior_intercept_scale=1.0,
        prior_coef_scale=0.5,
        prior_sd_scale=1.0,
        prior_sigma_scale=1.0,
        lkj_concentration=1.0,
        sampler=NUTSSampler(target_accept=0.95, num_warmup=1000, num_samples=1000, num_chains=4),
        random_state=0,
    )
    # no SamplingWarning may be raised: the suite turns warnings into errors
    return est.fit(tomz_weeks[TW_COLUMNS], tomz_weeks["force"], treatment=tomz_weeks["alliance"])


def _tolerance(draws: np.ndarray) -> float:
    mcse = float(arviz_stats.mcse(draws.reshape(4, -1), method="median"))
    return 0.005 + 3 * np.sqrt(2) * mcse


def _check(draws, reported):
    median = float(np.median(draws))
    assert abs(median - reported) <= _tolerance(draws), (median, reported)


def test_population_level_effects(reanalysis):
    post = reanalysis.idata_.posterior
    _check(post["b_treatment"].values, 0.20)
    _check(post["lambda"].sel(group_predictor="white").values, 0.12)
    _check(post["lambda"].sel(group_predictor="intl").values, 0.04)
    table = reanalysis.coefficients()
    male = table.loc["alliance:male"]
    assert male["lower"] < 0 < male["upper"]  # "positive, negative and zero values"
    assert abs(male["median"]) < 0.1
    hawk = table.loc["alliance:hawk"]
    assert hawk["median"] < 0 and hawk["upper"] > 0  # slightly negative, interval spans 0


def test_group_effect_extremes(reanalysis):
    summary = reanalysis.heterogeneity_summary()
    post = reanalysis.idata_.posterior["group_effect"]
    for which, reported in [("smallest", 0.05), ("median", 0.31), ("largest", 0.53)]:
        label = summary.extremes.loc[which, "label"]
        _check(post.sel(group=label).values, reported)
    groups = reanalysis.effect_by_group().set_index(["white", "male", "intl", "hawk"])
    smallest = groups["median"].idxmin()
    largest = groups["median"].idxmax()
    # non-white women, low internationalism, high hawkishness
    assert smallest[0] == 0 and smallest[1] == 0 and smallest[2] <= 2 and smallest[3] >= 4
    # white men, high internationalism, low hawkishness
    assert largest[0] == 1 and largest[1] == 1 and largest[2] >= 4 and largest[3] <= 2
    # "no overlap in the posteriors of these estimates" at the 95% level
    assert groups.loc[smallest, "upper"] < groups.loc[largest, "lower"] + 0.1


def test_spread_of_effects(reanalysis):
    summary = reanalysis.heterogeneity_summary()
    ess = float(arviz_stats.ess(reanalysis.idata_.posterior["group_effect"]).min())
    # the sd of a sample has standard error sd / sqrt(2 * n)
    assert abs(summary.sd_all_draws - 0.13) <= 0.005 + 3 * np.sqrt(2) * 0.13 / np.sqrt(2 * ess)
    _check(reanalysis.idata_.posterior["sd_effect"].values, 0.05)


def test_sampling_is_clean(reanalysis):
    table = reanalysis.diagnostics()
    assert table.attrs["divergences"] == 0
    assert (table["r_hat_max"] <= 1.01).all()
    assert (table["ess_bulk_min"] >= 400).all()


def test_two_treatments_agree_with_brms_group_by_group(tomz_weeks):
    """alliance and regime both varying by group, as brms's
    ``force ~ 1 + stakes + costs + region + (alliance + regime) * (white + male + intl + hawk)
    + (1 + alliance + regime | group)``; the reference holds the mean over three brms runs
    (seeds 1-3, 4 chains x 1,000 draws, from benchmarks/tomz_weeks_two_treatments_brms.R)
    of each group's posterior median of each effect."""
    reference = pd.read_csv(DATA / "tomz_weeks_two_treatments_brms.csv")
    est = HierarchicalHTE(modifiers=TW_MODIFIERS, random_state=0)
    X = tomz_weeks[TW_MODIFIERS + ["stakes", "costs", "region"]]
    est.fit(X, tomz_weeks["force"], treatment=tomz_weeks[["alliance", "regime"]])
    table = est.diagnostics()
    assert table.attrs["divergences"] == 0 and (table["r_hat_max"] <= 1.01).all()
    draws = est.idata_.posterior["group_effect"]
    mcse = arviz_stats.mcse(draws.to_dataset(), method="median")["group_effect"].to_series()
    ours = est.effect_by_group().assign(
        mcse=lambda t: [mcse[(g, e)] for g, e in zip(est.posterior_.group_labels * 2,
                                                     t["treatment"], strict=True)]
    )  # fmt: skip
    merged = ours.merge(reference, on=TW_MODIFIERS + ["treatment"], suffixes=("", "_brms"))
    assert len(merged) == 2 * est.n_groups_ == len(reference)
    # the difference of our median and the mean of three brms medians has sd
    # mcse * sqrt(1 + 1/3) (brms's MCSE taken as ours); 4.5 of those for 200 groups
    tolerance = 4.5 * merged["mcse"] * np.sqrt(1 + 1 / 3)
    gap = (merged["median"] - merged["median_brms"]).abs()
    assert (gap <= tolerance).all(), merged.loc[gap > tolerance]
    assert gap.mean() < 0.003  # brms against itself: 0.0017-0.0018 between two seeds
