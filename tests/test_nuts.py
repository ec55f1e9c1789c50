"""The NUTS kernel (``sklearn_hier._sampling.nuts``): the same transition as NumPyro's,
exact draws from known targets, and its first call (the start's gradient)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer.hmc import hmc
from scipy import stats

from sklearn_hier._sampling.nuts import nuts

SCALES = np.array([0.5, 1.0, 1.5, 2.0])


def _potential(z):
    return 0.5 * jnp.sum((z / SCALES) ** 2)


def _transitions(sample, state, n):
    def body(state, _):
        state = sample(state)
        return state, (state.num_steps, state.z, state.accept_prob, state.diverging)

    return jax.lax.scan(body, state, None, length=n)[1]


@functools.lru_cache
def _our_chain(n, max_depth=10, potential=_potential):
    """A compiled ``(step_size, start, seed) -> transitions`` at a fixed step size and
    the identity mass matrix (one program per test module, not per call)."""
    init, sample = nuts(potential, num_warmup=0, max_tree_depth=(max_depth, max_depth),
                        dense_mass=False, target_accept_prob=0.8,
                        regularize_mass_matrix=True)  # fmt: skip

    @jax.jit
    def run(step_size, start, seed):
        state = sample(init(jnp.full(4, start), None, seed))  # gradient
        adapt = state.adapt_state._replace(step_size=step_size)
        return _transitions(sample, state._replace(adapt_state=adapt), n)

    return run


def _ours(step_size, n, seed, *, max_depth=10, potential=_potential, start=0.1):
    with jax.enable_x64(True):
        run = _our_chain(n, max_depth, potential)
        return jax.tree.map(np.asarray, run(jnp.float64(step_size), jnp.float64(start), seed))


@functools.lru_cache
def _numpyro_chain(n):
    init, sample = hmc(potential_fn=_potential, algo="NUTS")

    @jax.jit
    def run(step_size, seed):
        state = init(jnp.full(4, 0.1), 0, step_size=step_size, rng_key=jax.random.PRNGKey(seed))
        return _transitions(sample, state, n)

    return run


def _numpyro(step_size, n, seed):
    with jax.enable_x64(True):
        return jax.tree.map(np.asarray, _numpyro_chain(n)(jnp.float64(step_size), seed))


@pytest.mark.parametrize("step_size", [0.3, 0.9])
def test_the_transition_is_numpyros(step_size):
    """At one step size and mass matrix, the trajectories' lengths (the tree's whole
    logic: doublings, U-turns at every checkpoint, the last subtree's end) follow the
    same law as NumPyro's, and so do the acceptance statistics and the draws."""
    n = 6000
    steps_a, z_a, accept_a, _ = _ours(step_size, n, seed=1)
    steps_b, z_b, accept_b, _ = _numpyro(step_size, n, seed=2)
    lengths = np.union1d(steps_a, steps_b)
    table = np.array([[np.sum(s == k) for k in lengths] for s in (steps_a, steps_b)])
    table = table[:, table.min(axis=0) >= 5]  # the chi-square's cells need counts
    assert table.shape[1] >= 2
    assert stats.chi2_contingency(table)[1] > 1e-3
    # the mean acceptance: equal within Monte Carlo error (draws are autocorrelated,
    # but these trajectories mix in a step or two: 6 standard errors of iid draws)
    se = np.hypot(accept_a.std(), accept_b.std()) / np.sqrt(n)
    assert abs(accept_a.mean() - accept_b.mean()) < 6 * se
    # both sample the target: the variance of each coordinate within 10% of the truth
    # (about 5 standard errors of the variance of 6,000 near-independent draws)
    for z in (z_a, z_b):
        assert np.all(np.abs(z.var(axis=0) / SCALES**2 - 1) < 0.1)


def test_the_tree_depth_is_capped():
    steps, *_ = _ours(0.01, 200, seed=0, max_depth=5)  # far too short to U-turn
    assert np.all(steps == 2**5 - 1)


def test_the_first_call_computes_the_start_and_moves_nothing():
    with jax.enable_x64(True):
        init, sample = nuts(_potential, num_warmup=10, max_tree_depth=(10, 10),
                            dense_mass=False, target_accept_prob=0.8,
                            regularize_mass_matrix=True)  # fmt: skip
        z = jnp.array([0.3, -1.0, 2.0, 0.5])
        state, first = jax.jit(lambda z: (lambda s: (s, sample(s)))(
            init(z, None, 0)))(z)  # fmt: skip
        assert int(state.i) == -1
        assert int(first.i) == 0
        np.testing.assert_array_equal(first.z, z)
        pe, grad = jax.value_and_grad(_potential)(z)
        assert float(first.potential_energy) == pytest.approx(float(pe), rel=1e-12)
        np.testing.assert_allclose(first.z_grad, grad, rtol=1e-12)
        # the adaptation starts with the first real transition
        np.testing.assert_array_equal(first.adapt_state.step_size, state.adapt_state.step_size)
        assert not bool(first.diverging)


def test_a_divergent_trajectory_is_flagged_and_never_proposed():
    """Where the potential is not finite (a wall at z[0] = 1), trajectories that reach
    it diverge, and no draw lies beyond it."""

    def walled(z):
        return jnp.where(z[0] < 1.0, _potential(z), jnp.nan)

    steps, z, _, diverging = _ours(0.5, 2000, seed=3, potential=walled, start=0.0)
    assert diverging.mean() > 0.05
    assert np.all(z[:, 0] < 1.0)
    assert np.all(np.isfinite(z))


def test_warm_up_adapts_and_the_draws_have_the_targets_moments():
    """A correlated Gaussian, with the dense mass matrix adapted over the default
    windows: its means and covariance recovered within Monte Carlo error."""
    rho, sd = 0.9, np.array([1.0, 3.0])
    cov = np.array([[1, rho], [rho, 1]]) * np.outer(sd, sd)
    precision = np.linalg.inv(cov)

    def potential(z):
        return 0.5 * z @ precision @ z

    with jax.enable_x64(True):
        init, sample = nuts(potential, num_warmup=500, max_tree_depth=(10, 10),
                            dense_mass=True, target_accept_prob=0.8,
                            regularize_mass_matrix=True)  # fmt: skip
        state = init(jnp.array([2.0, -2.0]), None, 5)
        _, z, _, diverging = jax.jit(_transitions, static_argnums=(0, 2))(sample, state, 4501)
        z = np.asarray(z)[501:]
    assert not np.any(np.asarray(diverging)[501:])
    # 4,000 draws, near-independent once the dense metric is adapted: the means within
    # 5 standard errors, the covariance's entries within 10%
    assert np.all(np.abs(z.mean(axis=0)) < 5 * sd / np.sqrt(len(z)))
    np.testing.assert_allclose(np.cov(z.T), cov, rtol=0.1)
