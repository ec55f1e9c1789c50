"""The sampler's random numbers (``sklearn_hier._sampling.streams``): SplitMix64's words
at their positions, and uniform and normal numbers with the right law and no
dependence between neighbouring slots, transitions or seeds."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from sklearn_hier._sampling import streams

MASK = 2**64 - 1


def _splitmix64(seed, position):
    """SplitMix64's word at ``position`` in Python integers (the reference C code's
    ``next()`` returns position 1 first)."""
    z = (seed + position * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _words(seed, transition, slots):
    with jax.enable_x64(True):
        return np.asarray(jax.jit(streams.words)(np.uint64(seed), transition, slots))


def test_the_words_are_splitmix64s():
    # the published first words of the stream seeded 0
    assert [_splitmix64(0, k) for k in (1, 2, 3)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F,
    ]  # fmt: skip
    assert [int(w) for w in _words(0, 0, np.arange(1, 4))] == [_splitmix64(0, k) for k in (1, 2, 3)]
    # a transition's slots start at transition * 2**32; the seed wraps around 2**64
    seed = 2**64 - 5
    for transition, slot in [(0, 0), (1, 7), (2999, 3 * 1023 + 40), (2**20, 2**32 - 1)]:
        expected = _splitmix64(seed, transition * 2**32 + slot)
        assert int(_words(seed, transition, np.array([slot]))[0]) == expected


def _draw(kind, seed, transitions, slots):
    fn = streams.uniforms if kind == "uniform" else streams.normals
    with jax.enable_x64(True):
        grid = jax.vmap(lambda t: fn(np.uint64(seed), t, jnp.arange(slots)))
        return np.asarray(jax.jit(grid)(jnp.arange(transitions)))


def test_uniforms_and_normals_have_their_laws():
    """200,000 numbers each, over 500 transitions of 400 slots: the Kolmogorov-Smirnov
    tests pass at the 0.1% level, and neighbouring slots, transitions and seeds are
    uncorrelated (within 5 standard errors, 1 / sqrt(n), of 0)."""
    u = _draw("uniform", 12345, 500, 400)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    z = _draw("normal", 12345, 500, 400)
    assert np.all(np.isfinite(z))
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    other = _draw("uniform", 12346, 500, 400)
    for a, b in [(u[:, 1:], u[:, :-1]), (u[1:], u[:-1]), (u, other)]:
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(r) < 5 / np.sqrt(a.size)


def test_the_extreme_words_give_finite_normals_and_uniforms_below_one():
    with jax.enable_x64(True):
        extremes = jnp.array([0, 1, 2**64 - 2, 2**64 - 1], jnp.uint64)
        u = np.asarray(streams.as_uniform(extremes))
        z = np.asarray(streams.as_normal(extremes))
    assert u[0] == 0.0 and np.all(u < 1.0)
    # the smallest and largest are the normal's 2**-53 and 1 - 2**-53 quantiles
    np.testing.assert_allclose(z, [-8.2095, -8.2095, 8.2095, 8.2095], atol=1e-3)
