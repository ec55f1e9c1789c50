"""The marginal (collapsed) Gaussian model: its likelihood, conditional draws and posterior."""

import warnings

import jax
import numpy as np
import pytest
import sklearn.base
from conftest import FAST, fast
from scipy.stats import multivariate_normal

from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._base.spec import Priors
from sklearn_hier._data.design import Design
from sklearn_hier._data.sufficient_statistics import (
    RowDesign,
    gaussian_statistics,
    group_regression,
)
from sklearn_hier._modeling.coefficient_padding import with_padded_coefficients
from sklearn_hier._modeling.hierarchical import ModelSizes
from sklearn_hier._modeling.marginal_gaussian import (
    additive_normal_equations,
    complete_draw,
    log_det_and_quadratic,
    marginal_loglik,
)
from sklearn_hier._modeling.model_data import AdditiveLevels, ModelData
from sklearn_hier._sampling.draws import as_jax
from sklearn_hier.datasets import make_grouped_hte

PRIORS = Priors(intercept=1.0, coef=0.5)


def _tril(sd, rho):
    return np.asarray(sd)[:, None] * np.array([[1.0, 0.0], [rho, np.sqrt(1 - rho**2)]])


def _factor(sd, rho):
    """Scale factor of the varying terms: one effect's (rho a number), or a random one's."""
    if np.ndim(rho) == 0:
        return _tril(sd, rho)
    return np.asarray(sd)[:, None] * rho


def _random_correlation_factor(size, seed):
    a = np.random.default_rng(seed).normal(size=(size, 3 * size))
    corr = np.corrcoef(a)
    return np.linalg.cholesky(corr)


def _problem(seed, n=150, n_groups=6, p=2, q=1, n_effects=1):
    rng = np.random.default_rng(seed)
    g = np.concatenate([np.arange(n_groups), rng.integers(0, n_groups, n - n_groups)])
    t = rng.integers(0, 2, n).astype(float)
    if n_effects == 2:  # an arm indicator and a continuous dose
        t = np.column_stack([t, rng.normal(0.5, 1.0, n)])
    rows = RowDesign(
        rng.normal(size=(n, p)), rng.normal(size=(n_groups, q)), g, t, rng.normal(1.0, 1.0, n)
    )
    stats, _, _ = gaussian_statistics(rows)
    regression = group_regression(rows.Z, p, n_effects, stats.xbar)
    return rows, ModelData(stats, regression=regression)


def _dense(rows, offsets_design, offsets_cov, sigma):
    """Brute force: the full design M over (w, offsets), prior mean and covariance."""
    n = rows.n_rows
    x = np.hstack([np.ones((n, 1)), rows.columns(slice(None)) - rows.column_means()])
    k = x.shape[1]
    M = np.hstack([x, offsets_design])
    D = np.zeros((M.shape[1], M.shape[1]))
    D[0, 0] = PRIORS.intercept**2
    D[1:k, 1:k] = np.eye(k - 1) * PRIORS.coef**2
    D[k:, k:] = offsets_cov
    m0 = np.zeros(M.shape[1])
    m0[0] = -rows.outcome.mean()
    y = rows.outcome - rows.outcome.mean()
    return M, D, m0, y, sigma**2


def _nested_offsets(rows, sd, rho):
    n, G = rows.n_rows, rows.Z.shape[0]
    width = 1 + rows.n_effects
    A = np.zeros((n, width * G))
    A[np.arange(n), width * rows.group] = 1.0
    for k in range(rows.n_effects):
        A[np.arange(n), width * rows.group + 1 + k] = rows.treatment[:, k]
    cov = _factor(sd, rho) @ _factor(sd, rho).T
    return A, np.kron(np.eye(G), cov)


# one program per model shape: operation by operation, a new process would compile each of
# the likelihood's hundreds of operations on its own
_compiled_marginal_loglik = jax.jit(marginal_loglik, static_argnames=("sizes", "factored"))


@pytest.mark.parametrize("seed, n_effects", [(0, 1), (1, 1), (2, 2)])
def test_nested_marginal_likelihood_is_the_integrated_normal_density(seed, n_effects):
    rows, data = _problem(seed, n_effects=n_effects)
    if n_effects == 1:
        sd, rho = [0.6, 0.3], 0.4 - 0.6 * seed
    else:  # three varying terms with a random correlation
        sd, rho = [0.6, 0.3, 0.2], _random_correlation_factor(3, seed)
    sigma = 0.9
    sizes = ModelSizes("nested", "gaussian_marginal", rows.Z.shape[0], rows.n_coef,
                       n_effects=n_effects)  # fmt: skip
    phi = {"sd_group": np.asarray(sd), "L_group": _factor(np.ones(len(sd)), rho), "sigma": sigma}
    M, D, m0, y, s2 = _dense(rows, *_nested_offsets(rows, sd, rho), sigma)
    exact = multivariate_normal(M @ m0, M @ D @ M.T + s2 * np.eye(rows.n_rows)).logpdf(y)
    # the draws' path (the blocks factored) and the sampler's (inverted from cofactors), the
    # latter also as the sampler runs it: with coefficients of zero columns padded in (a
    # group-level predictor and controls), which cancel
    padded_sizes, padded_data = with_padded_coefficients(sizes, data)
    assert padded_sizes.n_coef > sizes.n_coef
    for sizes_, data_, factored in [(sizes, data, True), (sizes, data, False),
                                    (padded_sizes, padded_data, False)]:  # fmt: skip
        with jax.enable_x64(True):
            value = float(_compiled_marginal_loglik(
                as_jax(data_), as_jax(PRIORS), sizes_, as_jax(phi), factored=factored
            ))  # fmt: skip
        assert value == pytest.approx(exact, rel=1e-10, abs=1e-8)


def _nested_conditional_moments(rows, sd, rho, sigma):
    M, D, m0, y, s2 = _dense(rows, *_nested_offsets(rows, sd, rho), sigma)
    precision = M.T @ M / s2 + np.linalg.inv(D)
    cov = np.linalg.inv(precision)
    return cov @ (M.T @ y / s2 + np.linalg.solve(D, m0)), cov


@pytest.mark.parametrize("n_effects", [1, 2])
def test_nested_conditional_draws_have_the_exact_normal_moments(n_effects):
    rows, data = _problem(2, n_groups=4, n_effects=n_effects)
    if n_effects == 1:
        sd, rho = np.array([0.5, 0.4]), 0.3
    else:
        sd, rho = np.array([0.5, 0.4, 0.3]), _random_correlation_factor(3, 4)
    sigma = 0.8
    sizes = ModelSizes("nested", "gaussian_marginal", 4, rows.n_coef, n_effects=n_effects)
    # drawn as the sampler's completion draws them: coefficients of zero columns padded in,
    # whose draws are dropped
    sizes, data = with_padded_coefficients(sizes, data)
    kept = data.coef_kept.astype(bool)
    assert not kept.all()
    phi = {"sd_group": sd, "L_group": _factor(np.ones(len(sd)), rho), "sigma": sigma}
    n_draws = 20_000
    with jax.enable_x64(True):
        data = as_jax(data)
        keys = jax.random.split(jax.random.PRNGKey(0), n_draws)
        draws = jax.jit(jax.vmap(lambda key: complete_draw(key, data, PRIORS, sizes, phi)))(keys)
    b = np.asarray(draws["b"])[:, kept]
    w = np.hstack([np.asarray(draws["Intercept"])[:, None] - rows.outcome.mean(), b])
    beta = np.hstack([w, np.asarray(draws["u"]).reshape(n_draws, -1)])
    mean, cov = _nested_conditional_moments(rows, sd, rho, sigma)
    se = np.sqrt(np.diag(cov) / n_draws)
    # every coordinate's mean within 4.5 Monte Carlo standard errors (about 30 of them)
    assert np.all(np.abs(beta.mean(axis=0) - mean) < 4.5 * se)
    # variances: the sample variance's relative sd is sqrt(2 / n) = 1%; allow 5%
    np.testing.assert_allclose(beta.var(axis=0), np.diag(cov), rtol=0.05)
    # and the coupling between the coefficients and the offsets is reproduced
    # and so are the correlations, the offsets' coupling to the coefficients
    # included (a sample correlation's sd is below 1 / sqrt(n) = 0.007)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(np.corrcoef(beta.T), cov / np.outer(sd, sd), atol=0.035)


def test_additive_marginal_likelihood_is_the_integrated_normal_density():
    d = make_grouped_hte(300, n_levels=(3, 4), n_controls=1, random_state=5)
    design, row_group = Design.learn(d.X, modifiers=d.modifiers, group_predictors="modifiers",
                                     bins=None)  # fmt: skip
    rows = RowDesign(design.control_matrix(d.X), design.Z, row_group, d.treatment.astype(float),
                     d.y)  # fmt: skip
    stats, _, _ = gaussian_statistics(rows)
    codes = design.level_codes_of(design.groups)
    bases = design.level_bases()
    level_dims = tuple(basis.shape for basis in bases)
    assert all(dims > 0 for _, dims in level_dims)
    levels = AdditiveLevels(codes=codes, bases=tuple(bases))
    mtm, mty = additive_normal_equations(stats, levels, level_dims, width=2)
    data = ModelData(stats, levels=levels._replace(mtm=mtm, mty=mty))
    sizes = ModelSizes("additive", "gaussian_marginal", design.n_groups, rows.n_coef, level_dims)
    sds, rhos, sigma = [[0.5, 0.2], [0.3, 0.6]], [0.2, -0.5], 1.1
    phi = {"sigma": sigma}
    for k, (sd, rho) in enumerate(zip(sds, rhos, strict=True)):
        phi[f"sd_m{k}"], phi[f"L_m{k}"] = np.asarray(sd), _tril([1.0, 1.0], rho)
    padded_sizes, padded_data = with_padded_coefficients(sizes, data)
    assert padded_sizes.n_coef > sizes.n_coef
    with jax.enable_x64(True):
        value = float(_compiled_marginal_loglik(as_jax(data), as_jax(PRIORS), sizes, as_jax(phi)))
        padded = _compiled_marginal_loglik(as_jax(padded_data), as_jax(PRIORS), padded_sizes,
                                           as_jax(phi))  # fmt: skip
    assert float(padded) == pytest.approx(value, rel=1e-12, abs=1e-10)
    # brute force: coordinates c_k (dims_k x 2) iid N(0, Sigma_k); a row's offsets sum over k
    blocks, covs = [], []
    for k, basis in enumerate(bases):
        level_of_row = codes[row_group, k]
        per_row = basis[level_of_row]  # (n, dims)
        design_k = np.zeros((rows.n_rows, 2 * basis.shape[1]))
        design_k[:, 0::2] = per_row
        design_k[:, 1::2] = per_row * rows.treatment[:, :1]
        blocks.append(design_k)
        cov = _tril(sds[k], rhos[k]) @ _tril(sds[k], rhos[k]).T
        covs.append(np.kron(np.eye(basis.shape[1]), cov))
    offsets_cov = np.zeros((sum(c.shape[0] for c in covs),) * 2)
    start = 0
    for c in covs:
        offsets_cov[start : start + c.shape[0], start : start + c.shape[0]] = c
        start += c.shape[0]
    M, D, m0, y, s2 = _dense(rows, np.hstack(blocks), offsets_cov, sigma)
    exact = multivariate_normal(M @ m0, M @ D @ M.T + s2 * np.eye(rows.n_rows)).logpdf(y)
    assert value == pytest.approx(exact, rel=1e-10, abs=1e-8)


def _fit(marginalize, d, structure="nested", seed=0):
    sampler = NUTSSampler(marginalize=marginalize)
    est = HierarchicalHTE(modifiers=d.modifiers, structure=structure, sampler=sampler,
                          random_state=seed)  # fmt: skip
    return est.fit(d.X, d.y, treatment=d.treatment)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # counted below
@pytest.mark.parametrize("structure", ["nested", "additive"])
def test_marginal_and_joint_sampling_give_the_same_posterior(structure):
    d = make_grouped_hte(800, n_levels=(2, 4), sigma_theta=0.25, random_state=11)
    marginal, joint = _fit(True, d, structure), _fit(False, d, structure, seed=1)
    # the joint sampler may diverge once in thousands of draws (it did once in 4,000 for
    # the nested structure); the marginal one has no funnel and never should
    assert int(joint.idata_.sample_stats["diverging"].sum()) <= 4
    assert int(marginal.idata_.sample_stats["diverging"].sum()) == 0
    a = marginal.effect_by_group().set_index(d.modifiers)
    b = joint.effect_by_group().set_index(d.modifiers)
    # each mean has Monte Carlo se below sd / sqrt(ESS >= 400) = 0.05 sd per fit;
    # their difference below 0.07 sd: 0.3 sd is over four of those
    assert np.all(np.abs(a["mean"] - b["mean"]) < 0.3 * b["sd"])
    np.testing.assert_allclose(a["sd"], b["sd"], rtol=0.15)
    for name in ("sd_effect", "sigma"):
        x = marginal.idata_.posterior[name].values.ravel()
        z = joint.idata_.posterior[name].values.ravel()
        assert abs(np.median(x) - np.median(z)) < 0.3 * z.std()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_marginal_sampler_needs_few_steps_and_stays_flat_in_the_rows():
    """The sampled space does not grow with the data: steps per draw stay low at many rows."""
    steps = {}
    for n in (2_000, 200_000):
        d = make_grouped_hte(n, n_levels=(2, 2, 5), sigma_theta=0.1, random_state=0)
        est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
        est.fit(d.X, d.y, treatment=d.treatment)
        steps[n] = float(est.idata_.sample_stats["n_steps"].mean())
        assert int(est.idata_.sample_stats["diverging"].sum()) == 0
    # the joint model needs 30-60 steps here; the 4 variance parameters well under 20
    assert max(steps.values()) < 20


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_row_level_and_unmarginalized_fits_sample_jointly(monkeypatch):
    import sklearn_hier._sampling.run as inference_module

    seen = []
    real = inference_module.run_nuts

    def spy(sizes, settings, data, priors, **kwargs):
        seen.append(sizes.likelihood)
        return real(sizes, settings, data, priors, **kwargs)

    monkeypatch.setattr(inference_module, "run_nuts", spy)
    d = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
    for kwargs in (FAST, fast(marginalize=False), {**FAST, "reduce_data": False}):
        HierarchicalHTE(modifiers=d.modifiers, random_state=0, **kwargs).fit(
            d.X, d.y, treatment=d.treatment
        )
    assert seen == ["gaussian_marginal", "gaussian_cells", "gaussian_rows"]


# ---------------------------------------------------------------- sampling coordinates
def test_signed_scales_give_the_covariance_and_a_proper_factor():
    """A negative sampled scale flips its term's correlations, which the recorded factor
    absorbs: the recorded (sd, L) give the same covariance and L stays a Cholesky factor."""
    from numpyro import handlers

    from sklearn_hier._modeling.marginal_gaussian import _marginal_scales

    signed = np.array([0.7, -0.4, 0.25])
    partial = np.array([0.3, -0.5, 0.6])
    with jax.enable_x64(True):
        every_term = np.ones(3, dtype=bool)
        values = {"scale_group": signed, "corr_group": partial}
        model = handlers.substitute(_marginal_scales, values)
        trace = handlers.trace(handlers.seed(model, 0)).get_trace("group", PRIORS, 3, every_term)
        unsigned = handlers.substitute(
            _marginal_scales, {"scale_group": np.abs(signed), "corr_group": partial}
        )
        raw_factor = handlers.trace(handlers.seed(unsigned, 0)).get_trace(
            "group", PRIORS, 3, every_term
        )
    sd, factor = np.asarray(trace["sd_group"]["value"]), np.asarray(trace["L_group"]["value"])
    np.testing.assert_allclose(sd, PRIORS.sd * np.abs(signed))
    assert (np.diag(factor) > 0).all() and np.allclose(np.triu(factor, 1), 0.0)
    raw = np.asarray(raw_factor["L_group"]["value"])
    correlation = raw @ raw.T
    covariance = np.outer(signed, signed) * correlation * PRIORS.sd**2  # diag(s) R diag(s)
    np.testing.assert_allclose((sd[:, None] * factor) @ (sd[:, None] * factor).T, covariance)


@pytest.mark.parametrize("signed", [None, [True, False, True]])
def test_scale_coordinates_keep_the_half_normal_prior(signed):
    """Whichever coordinate a term's scale is sampled in (log scale, or signed), the law of
    its sd is the half-normal prior: the site's density plus the correction factor, mapped
    back to the sd, is the half-normal density (its log-density up to one constant)."""
    from numpyro import handlers

    from sklearn_hier._modeling.marginal_gaussian import _marginal_scales

    rng = np.random.default_rng(5)
    flags = np.zeros(3, bool) if signed is None else np.asarray(signed)
    gaps = []
    with jax.enable_x64(True):
        for _ in range(6):
            u = rng.normal(size=3)
            model = handlers.substitute(_marginal_scales, {"scale_group": u,
                                                           "corr_group": np.zeros(3)})  # fmt: skip
            trace = handlers.trace(handlers.seed(model, 0)).get_trace("group", PRIORS, 3, signed)
            sd = np.asarray(trace["sd_group"]["value"])
            site = float(trace["scale_group"]["fn"].log_prob(u).sum())
            correction = float(trace["scale_density_group"]["fn"].log_factor)
            # the density of the sd on its own scale: divide by |d sd / d u|
            log_jacobian = np.where(flags, np.log(PRIORS.sd), np.log(sd))
            half_normal = -0.5 * (sd / PRIORS.sd) ** 2 - np.log(PRIORS.sd)
            gaps.append(site + correction - log_jacobian.sum() - half_normal.sum())
            expected_sd = PRIORS.sd * np.where(flags, np.abs(u), np.exp(u))
            np.testing.assert_allclose(sd, expected_sd)
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-10)


def _meta_analysis(G, sd, se=0.1, seed=3):
    """Group estimates around a regression on Z with true heterogeneity ``sd`` per term."""
    from sklearn_hier._data.sufficient_statistics import GroupStart

    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(G, 1))
    truth = np.column_stack([1.0 + 2.0 * Z[:, 0] + sd[0] * rng.normal(size=G),
                             0.5 * Z[:, 0] + sd[1] * rng.normal(size=G)])  # fmt: skip
    ses = np.full((G, 2), se)
    return GroupStart(truth + ses * rng.normal(size=(G, 2)), ses, ses / 0.5), Z


def test_scale_start_recovers_a_known_heterogeneity():
    """A term's rough scale is a moment estimate of its sd around the group-level
    regression (plus the noise term): 400 groups with sd 0.3 around a slope in Z, standard
    errors 0.1, so the estimate's own sd is about 0.3 / sqrt(2 * 400) = 0.011. That sd is
    far from zero: sampled on the log scale, starting at the log of the estimate. The
    effect has no heterogeneity beyond its regression on Z: signed, starting at zero,
    spread by the noise term alone."""
    from sklearn_hier._modeling.geometry import scale_start

    G = 400
    group_start, Z = _meta_analysis(G, sd=(0.3, 0.0))
    scales = scale_start(group_start, Z, prior_sd=1.0, width=2)
    start = scales.start
    noise = 0.1**2 / np.sqrt(G)  # the noise term for standard errors of 0.1
    assert scales.signed.tolist() == [False, True]
    first = np.exp(start.loc["scale_group"][0])
    assert np.sqrt(first**2 - noise) == pytest.approx(0.3, abs=0.04)
    assert 0.05 <= start.spread["scale_group"][0] <= 0.1  # noise / (sqrt(2) tau^2) = 0.04
    assert start.loc["scale_group"][1] == 0.0
    assert start.spread["scale_group"][1] <= np.sqrt(noise + 0.04**2)
    # without estimates: every term on the log scale, at Stan's start (spelled out)
    none = scale_start(None, Z, prior_sd=1.0, width=2)
    assert none.signed.tolist() == [False, False]
    assert none.start.loc["scale_group"].tolist() == [0.0, 0.0]
    assert none.start.spread["scale_group"].tolist() == [1.0, 1.0]


def test_few_groups_sample_every_scale_on_the_log_scale():
    """With fewer groups than SIGNED_SCALE_MIN_GROUPS even a term with no detectable
    heterogeneity is sampled on the log scale, starting near the log of its noise term."""
    from sklearn_hier._modeling.geometry import SIGNED_SCALE_MIN_GROUPS, scale_start

    few = SIGNED_SCALE_MIN_GROUPS - 1
    group_start, Z = _meta_analysis(few, sd=(0.0, 0.0))
    scales = scale_start(group_start, Z, prior_sd=1.0, width=2)
    assert not scales.signed.any()
    assert np.isfinite(scales.start.loc["scale_group"]).all()
    many = scale_start(
        *_meta_analysis(SIGNED_SCALE_MIN_GROUPS, sd=(0.0, 0.0)), prior_sd=1.0, width=2
    )
    assert many.signed.all()


def test_entrywise_block_algebra_gives_what_numpy_gives_block_by_block():
    """The marginal model's per-group algebra of tiny matrices, held entry by entry and
    compiled, gives the Cholesky factors, triangular inverses and products NumPy gives
    block by block."""
    from sklearn_hier._modeling import marginal_gaussian as mg

    rng = np.random.default_rng(0)
    root = rng.normal(size=(112, 3, 3))
    spd = root @ np.swapaxes(root, -1, -2) + 0.1 * np.eye(3)
    b = rng.normal(size=(112, 3, 6))

    def algebra(spd, b):
        like = spd[..., 0, 0]
        factor = mg._entry_cholesky(mg._entries(spd))
        inverse = mg._entry_inverse_lower(factor)
        square = mg._entry_product(mg._entry_transpose(inverse), inverse)  # spd^-1
        return (mg._assembled(factor, like), mg._assembled(square, like),
                mg._entry_matrix_product(mg._entries(spd), b))  # fmt: skip

    with jax.enable_x64(True):
        factor, inverse, product = jax.jit(algebra)(spd, b)
    np.testing.assert_allclose(factor, np.linalg.cholesky(spd), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(inverse, np.linalg.inv(spd), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(product, spd @ b, rtol=1e-12)


@pytest.mark.parametrize("condition", [1e2, 1e10])
def test_the_dense_systems_written_gradient_is_the_traced_one(condition):
    """log|A| and v'A^-1 v carry a gradient written by hand (one inverse of the factor):
    it must equal JAX's derivative through the factorisation and the solve, on a
    well-conditioned system and on one as ill-conditioned as a tiny sigma makes it."""
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    matrix = basis @ np.diag(np.geomspace(1.0, 1.0 / condition, 6)) @ basis.T
    vector = rng.normal(size=6)
    weights = np.array([0.7, -1.3])  # any combination of the two outputs

    def traced(a, v):
        chol = jax.numpy.linalg.cholesky(a)
        half = jax.scipy.linalg.solve_triangular(chol, v, lower=True)
        return 2.0 * jax.numpy.sum(jax.numpy.log(jax.numpy.diag(chol))), half @ half

    # the values, plain and from the rule that also keeps what the gradient needs
    truth = (np.linalg.slogdet(matrix)[1], vector @ np.linalg.solve(matrix, vector))
    with jax.enable_x64(True):
        plain = log_det_and_quadratic(matrix, vector)
        ruled, _ = jax.vjp(log_det_and_quadratic, matrix, vector)
        # a solve of condition kappa is exact to about kappa x 1.1e-16 relative: 10x that
        for values in (plain, ruled):
            np.testing.assert_allclose(values, truth, rtol=1.1e-15 * condition + 1e-12)
        written = jax.grad(lambda a, v: weights @ jax.numpy.stack(log_det_and_quadratic(a, v)),
                           argnums=(0, 1))(matrix, vector)  # fmt: skip
        expected = jax.grad(lambda a, v: weights @ jax.numpy.stack(traced(a, v)),
                            argnums=(0, 1))(matrix, vector)  # fmt: skip
    for got, want in zip(written, expected, strict=True):
        scale = np.max(np.abs(want))
        np.testing.assert_allclose(got, want, atol=1e-7 * scale, rtol=1e-6)


def test_completion_in_short_batches_gives_the_draws_of_one_batch(gaussian_fit, monkeypatch):
    """The draws are completed a batch at a time, each draw from its own row of its
    chain's normals: batches of 64 (200 draws: three whole, and a last one of 8 padded
    with copies of its last draw) give the draws, and their log prior, of the one padded
    batch of 250 the fixture's fit ran."""
    from sklearn_hier import SamplingWarning
    from sklearn_hier._sampling import run

    fitted, simulated = gaussian_fit
    monkeypatch.setattr(run, "COMPLETION_BATCH", 64)
    again = sklearn.base.clone(fitted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        again.fit(simulated.X, simulated.y, treatment=simulated.treatment)
    for group, name in [("posterior", "group_effect"), ("posterior", "Intercept"),
                        ("posterior", "b_treatment"), ("log_prior", "lprior")]:  # fmt: skip
        np.testing.assert_allclose(
            again.idata_[group][name].values, fitted.idata_[group][name].values, atol=1e-10
        )


@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_fits_with_a_few_controls_more_or_fewer_share_one_sampler():
    """The marginal model's programs are compiled for the coefficients padded up to a
    multiple of eight: a fit without controls (5 coefficients) and one with three (8)
    run the same sampler, and each reports its own coefficients alone."""
    from sklearn_hier._sampling.run import compiled_sampler

    before = compiled_sampler.cache_info()
    for n_controls in (0, 3):
        d = make_grouped_hte(200, n_levels=(2, 3), n_controls=n_controls, random_state=0)
        est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
        est.fit(d.X, d.y, treatment=d.treatment)
        assert est.idata_.posterior["b_control"].shape[-1] == n_controls
        assert est.idata_.posterior["b_group"].shape[-1] == 2
    after = compiled_sampler.cache_info()
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 1
