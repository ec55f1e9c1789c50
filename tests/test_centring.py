"""Which groups are sampled centred: the moment estimate of sigma_theta and the rule."""

import numpy as np
import pytest
from conftest import fast

from sklearn_hier import HierarchicalHTE
from sklearn_hier._modeling.geometry import centred_groups, unexplained_spread
from sklearn_hier.datasets import make_grouped_hte


def test_moment_estimate_recovers_the_unexplained_spread():
    rng = np.random.default_rng(0)
    n_groups, tau = 2000, 0.3
    Z = rng.normal(size=(n_groups, 2))
    se = rng.uniform(0.05, 0.4, n_groups)
    effect = 0.5 + Z @ [0.4, -0.2] + rng.normal(0, tau, n_groups) + rng.normal(0, se)
    estimate = unexplained_spread(effect, se, Z)
    # the variance estimate's sd is about sqrt(2 / G) * (tau^2 + mean se^2) = 0.0047
    # here, i.e. about 0.008 on tau's scale: allow four of those
    assert estimate == pytest.approx(tau, abs=0.032)


def test_moment_estimate_is_zero_without_spread_or_groups():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(500, 1))
    se = np.full(500, 0.2)
    # no spread beyond the noise: never negative, and its square (the variance
    # estimate, sd about sqrt(2 / 500) * 0.2^2 = 0.0025) within four sds of zero
    estimate = unexplained_spread(Z[:, 0] + rng.normal(0, se), se, Z)
    assert 0.0 <= estimate and estimate**2 < 4 * 0.0025
    # a spread fully explained by Z leaves nothing
    assert unexplained_spread(Z[:, 0] * 2.0, np.full(500, 1e-3), Z) < 1e-3
    # too few groups (or single-arm groups, nan) to estimate anything
    assert unexplained_spread(np.array([1.0, 2.0, 3.0]), np.ones(3), np.zeros((3, 1))) == 0
    assert unexplained_spread(np.full(20, np.nan), np.ones(20), np.zeros((20, 1))) == 0


def test_rule_centres_groups_pinned_down_relative_to_the_spread():
    rng = np.random.default_rng(2)
    n_groups, tau = 40, 0.3
    truth = rng.normal(0, tau, n_groups)
    big, small = np.full(n_groups, 2500), np.full(n_groups, 25)  # se 0.04 and 0.4
    effect = np.concatenate([truth + rng.normal(0, 0.04, n_groups),
                             truth + rng.normal(0, 0.4, n_groups)])  # fmt: skip
    n = np.concatenate([big, small])
    se = _balanced_se(n, n // 2)
    centred = centred_groups(effect[:, None], se, np.zeros((2 * n_groups, 1)), prior_sd_scale=1.0)
    # half of sigma_theta (0.15) sits between the two standard errors
    assert centred[:n_groups].all() and not centred[n_groups:].any()
    # without any spread only the absolute bar, 0.02 x prior_sd_scale, applies
    zeros = np.zeros((2 * n_groups, 1))
    assert not centred_groups(zeros, se, zeros, prior_sd_scale=1.0).any()
    assert centred_groups(zeros, se, zeros, prior_sd_scale=3.0)[:n_groups].all()
    # a group with one arm has no standard error and is never centred
    one_arm = centred_groups(
        np.zeros((2, 1)),
        _balanced_se(np.array([5000, 5000]), np.array([0, 2500])),
        np.zeros((2, 1)),
        prior_sd_scale=3.0,
    )
    assert one_arm.tolist() == [0.0, 1.0]
    # with two effects a group is centred only when both are pinned down
    both = np.column_stack([se[:, 0], se[::-1, 0]])
    two = centred_groups(np.zeros((2 * n_groups, 2)), both, zeros, prior_sd_scale=3.0)
    assert not two.any()


def _balanced_se(n, m):
    """Standard errors of a difference of two arm means (unit noise sd), (G, 1)."""
    with np.errstate(divide="ignore"):
        return np.sqrt(1.0 / m + 1.0 / (n - m))[:, None]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_auto_centres_large_groups_in_a_fit(monkeypatch):
    import sklearn_hier._sampling.run as inference_module

    seen = {}
    real = inference_module.run_nuts

    def spy(sizes, settings, data, priors, **kwargs):
        centred = data.centred
        seen["centered"] = np.zeros(sizes.n_groups) if centred is None else np.asarray(centred.flag)
        seen["settings"] = settings
        return real(sizes, settings, data, priors, **kwargs)

    monkeypatch.setattr(inference_module, "run_nuts", spy)
    d = make_grouped_hte(60_000, n_levels=(2, 2, 5), sigma_theta=0.2, random_state=3)
    # centring is a choice of the joint sampler (the marginal one samples no offsets)
    HierarchicalHTE(modifiers=d.modifiers, random_state=0, **fast(marginalize=False)).fit(
        d.X, d.y, treatment=d.treatment
    )
    # 20 groups of 3,000 rows: se about 0.04, well under half of sigma_theta = 0.2
    assert seen["centered"][:20].all()
    # with this many rows the mass-matrix estimates are used unregularised
    assert not seen["settings"].regularize_mass_matrix
    small = make_grouped_hte(400, n_levels=(2, 2), sigma_theta=0.2, random_state=3)
    HierarchicalHTE(modifiers=small.modifiers, random_state=0, **fast(marginalize=False)).fit(
        small.X, small.y, treatment=small.treatment
    )
    assert not seen["centered"].any()
    assert seen["settings"].regularize_mass_matrix


def test_heterogeneity_is_dersimonian_laird():
    """Without moderators the estimate is the textbook one, (Q - (k - 1)) / (sum w -
    sum w^2 / sum w), and its noise term is the harmonic-mean se^2 over sqrt(k)."""
    from sklearn_hier._modeling.geometry import heterogeneity

    rng = np.random.default_rng(5)
    k = 30
    se = rng.uniform(0.1, 0.5, k)
    y = 0.2 + rng.normal(0, 0.3, k) + rng.normal(0, se)
    w = 1 / se**2
    mean = (w @ y) / w.sum()
    q = w @ (y - mean) ** 2
    expected = max(q - (k - 1), 0) / (w.sum() - (w**2).sum() / w.sum())
    term = heterogeneity(y, se, np.zeros((k, 0)))
    assert term.tau2 == pytest.approx(expected, rel=1e-10)
    assert term.dof == k - 1
    assert term.noise == pytest.approx(k / w.sum() / np.sqrt(k))
