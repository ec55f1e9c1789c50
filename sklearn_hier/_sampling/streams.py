"""The sampler's random numbers: SplitMix64's stream, read at a position.

SplitMix64 (Steele, Lea & Flood 2014, the generator of Java's ``SplittableRandom``)
turns a 64-bit seed into the stream whose ``k``-th word is a fixed bijection of
``seed + k * GAMMA``. Any position can be read in a few integer operations, which fuse
into the kernels around them. JAX's generator (threefry) is twenty rounds of its own at
every use: the fold-in and uniform draw of each leapfrog step, the momentum's normals,
the key splits and the initial values' draw were 57 of the Tomz & Weeks sampler's 276
compiled kernels, and a fifth of its compile in every new process.

Each chain has two seeds of its own (see ``run.chain_seeds``). Within a run, the
transition ``t`` (from 0) and a slot ``s`` within it give the position
``t * 2**32 + s``, so every number a chain uses has a position of its own.
"""

import jax
import jax.numpy as jnp
import numpy as np

#: What each seed sequence of a fit's seed feeds (its second entropy word), so that no
#: two uses share one: the chains' seeds, the completion's normals, the prior draws' keys.
CHAIN_SEEDS, COMPLETION_NOISE, PRIOR_DRAWS = 0, 1, 2


def seed_sequence(seed, use: int, index) -> np.random.SeedSequence:
    """NumPy's seed sequence of the fit's ``seed`` for the ``index``-th of ``use``."""
    return np.random.SeedSequence([int(seed), use, int(index)])


#: SplitMix64's increment: the odd integer nearest 2**64 / golden ratio.
GAMMA = np.uint64(0x9E3779B97F4A7C15)

#: Slots per transition: a transition reads positions ``t * SLOTS`` to ``t * SLOTS + SLOTS - 1``.
SLOTS = 2**32


def _mix(x):
    """SplitMix64's output function (Stafford's variant 13): a bijection of 64-bit words."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def words(seed, transition, slots):
    """The stream's 64-bit words at ``transition * SLOTS + slots`` (``slots`` any array
    of non-negative integers below ``SLOTS``; ``seed`` a ``uint64``)."""
    position = jnp.asarray(transition).astype(jnp.uint64) * np.uint64(SLOTS)
    position = position + jnp.asarray(slots).astype(jnp.uint64)
    return _mix(jnp.asarray(seed, jnp.uint64) + position * GAMMA)


def uniforms(seed, transition, slots):
    """Uniform numbers on ``[0, 1)`` (float64), one per slot."""
    return as_uniform(words(seed, transition, slots))


def normals(seed, transition, slots):
    """Standard normal numbers (float64), one per slot."""
    return as_normal(words(seed, transition, slots))


def as_uniform(word):
    """A word's top 53 bits as a number on ``[0, 1)``."""
    return (word >> np.uint64(11)).astype(jnp.float64) * 2.0**-53


def as_normal(word):
    """A standard normal number by the inverse of the normal's distribution function
    (as ``jax.random.normal``): the word's top 52 bits plus a half, times ``2**-52``,
    make a uniform ``u`` on the open interval ``(0, 1)`` that float64 holds exactly (53
    bits would round the largest to 1), then ``sqrt(2) erf^-1(2 u - 1)``, finite since
    ``2 u - 1`` is at most ``1 - 2**-52`` in size."""
    u = ((word >> np.uint64(12)).astype(jnp.float64) + 0.5) * 2.0**-52
    return np.sqrt(2.0) * jax.lax.erf_inv(2.0 * u - 1.0)
