"""The No-U-Turn sampler on one flat vector, its trajectory built in one loop over
leapfrog steps.

The transition is NumPyro's NUTS (multinomial sampling: uniform progressive sampling
within a subtree, biased between the tree and each new subtree; the generalised U-turn
criterion checked for every power-of-two subtree through checkpoints; a subtree that
turns or diverges ends the trajectory and cannot hold the proposal), and the warm-up
is NumPyro's own adapter (dual averaging for the step size, windowed Welford estimates
of the mass matrix). ``tests/test_nuts.py`` checks that the trajectories' lengths and
acceptance follow the same law as NumPyro's.

What differs is the compiled program, whose compile is most of a new process's first
fit. NumPyro nests a loop over doublings, a loop over a subtree's leaves and a loop
over checkpoints, with a ``cond`` for each choice; here one loop takes one leapfrog
step per iteration, a subtree's end is a flag and the choices are ``where``
selections (only the checkpoints keep NumPyro's ``cond`` and short loop: a pass over
every checkpoint each step cost a quarter of a step for a model of 240 parameters).
And the start's potential energy and gradient come from the loop's own leapfrog (a
step of length zero, see :func:`trajectory`), not from a second copy of the gradient
before it. For the Tomz & Weeks model the sampler's program has 219 kernels instead
of 305 and compiles in 5-20% less time; a leapfrog step costs the same.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc_util import HMCAdaptState, IntegratorState, warmup_adapter

from . import streams

#: A leapfrog step whose energy error passes this is a divergence (NumPyro's and
#: Stan's threshold).
MAX_DELTA_ENERGY = 1000.0

#: What NumPyro's adapter is given for a key: it splits it, for a step-size search
#: that is not run here, and the result is dropped.
_UNUSED_KEY = np.zeros(2, np.uint32)


class NUTSState(NamedTuple):
    """One chain's state between transitions (the fields NumPyro's ``HMCState``
    names alike mean the same)."""

    i: jax.Array  # transitions made
    z: jax.Array
    z_grad: jax.Array
    potential_energy: jax.Array
    energy: jax.Array
    num_steps: jax.Array
    accept_prob: jax.Array
    diverging: jax.Array
    adapt_state: HMCAdaptState
    seed: jax.Array  # the chain's stream (see streams), read at transition i + 1


def _velocity(inverse_mass, r):
    """``M^-1 r`` for a diagonal (vector) or dense inverse mass matrix; ``r`` may hold
    several momenta along its leading axes."""
    return inverse_mass * r if inverse_mass.ndim == 1 else r @ inverse_mass.T


def _turning(v_left, v_right, r_left, r_right, r_sum):
    """The generalised U-turn criterion (Betancourt 2017, appendix A.4.2) of a
    trajectory with end momenta ``r_left``, ``r_right`` (velocities ``v_*``) and
    momentum sum ``r_sum``, over the last axis."""
    rho = r_sum - (r_left + r_right) / 2
    return (jnp.sum(v_left * rho, -1) <= 0) | (jnp.sum(v_right * rho, -1) <= 0)


def _checkpoint_range(n):
    """The checkpoints (``idx_min``, ``idx_max``) the ``n``-th leaf (from 0) of a
    subtree is checked against: those of the subtrees it closes (NumPyro's
    ``_leaf_idx_to_ckpt_idxs``)."""
    idx_max = jnp.bitwise_count(n >> 1).astype(jnp.int32)
    closed = jnp.bitwise_count((~n & (n + 1)) - 1).astype(jnp.int32)
    return idx_max - closed + 1, idx_max


class _Trajectory(NamedTuple):
    edges: jax.Array  # (2, 4, d): the tree's left and right ends, each (z, r, grad, M^-1 r)
    proposal: jax.Array  # (2 d + 2,): z, grad, potential energy, energy
    weight: jax.Array  # log of the tree's summed weights
    r_sum: jax.Array
    depth: jax.Array
    diverging: jax.Array
    sum_accept: jax.Array
    n_steps: jax.Array
    # the subtree under construction
    sub_proposal: jax.Array
    sub_weight: jax.Array
    sub_r_sum: jax.Array
    sub_n: jax.Array  # leaves so far
    going_right: jax.Array
    checkpoints: jax.Array  # (max depth, 3, d): momentum, momentum sum, velocity
    done: jax.Array


def trajectory(value_and_grad, z, r, potential_energy, z_grad, inverse_mass, step_size,
               seed, transition, max_depth, max_depth_bound: int, refresh=False):  # fmt: skip
    """One NUTS transition from ``(z, r)``: returns the proposal's ``(z, grad,
    potential energy, energy)``, the leapfrog steps taken, the mean acceptance
    probability over them, and whether the trajectory diverged.

    ``max_depth`` (traced) bounds this trajectory's doublings; ``max_depth_bound`` (a
    Python int, at least ``max_depth``) sizes the checkpoints. The ``n``-th leapfrog
    step's three uniforms are the stream ``seed``'s slots ``d + 3 n`` to ``d + 3 n + 2``
    of ``transition`` (the first ``d`` are the momentum's).

    ``refresh`` (traced): instead, one step of length zero, whose leaf is the proposal:
    ``z`` with its potential energy and gradient, computed by the loop's own copy of
    the gradient (``potential_energy`` and ``z_grad`` may then be anything finite).
    """
    d = z.shape[0]
    dtype = z.dtype
    # velocities are kept beside the momenta they come from: with a dense mass matrix
    # each is a matrix product, computed once per leaf
    v = _velocity(inverse_mass, r)
    energy_start = potential_energy + 0.5 * jnp.sum(v * r)
    start = jnp.stack([z, r, z_grad, v])
    false = jnp.array(False)
    state = _Trajectory(
        edges=jnp.stack([start, start]),
        proposal=jnp.concatenate([z, z_grad, jnp.stack([potential_energy, energy_start])]),
        weight=jnp.zeros((), dtype),
        r_sum=r,
        depth=jnp.zeros((), jnp.int32),
        diverging=false,
        sum_accept=jnp.zeros((), dtype),
        n_steps=jnp.zeros((), jnp.result_type(int)),
        sub_proposal=jnp.zeros(2 * d + 2, dtype),
        sub_weight=jnp.zeros((), dtype),
        sub_r_sum=jnp.zeros_like(r),
        sub_n=jnp.zeros((), jnp.int32),
        going_right=false,
        checkpoints=jnp.zeros((max_depth_bound, 3, d), dtype),
        done=(max_depth <= 0) & ~refresh,
    )
    max_depth = jnp.where(refresh, 1, max_depth)

    def step(s: _Trajectory) -> _Trajectory:
        u = streams.uniforms(seed, transition, d + 3 * s.n_steps + jnp.arange(3)).astype(dtype)
        first = s.sub_n == 0
        going_right = jnp.where(first, u[0] < 0.5, s.going_right)
        # a subtree grows from the tree's end on its side: the last leaf built
        z, r, grad, _ = jnp.where(going_right, s.edges[1], s.edges[0])
        eps = jnp.where(refresh, 0.0, jnp.where(going_right, step_size, -step_size))
        r = r - 0.5 * eps * grad
        z = jnp.where(refresh, z, z + eps * _velocity(inverse_mass, r))  # exactly z
        pe, grad = value_and_grad(z)
        pe = pe.astype(dtype)
        r = r - 0.5 * eps * grad
        v = _velocity(inverse_mass, r)
        energy = pe + 0.5 * jnp.sum(v * r)
        delta = energy - energy_start
        delta = jnp.where(jnp.isnan(delta), jnp.inf, delta)
        diverging = (delta > MAX_DELTA_ENERGY) & ~refresh
        leaf = jnp.concatenate([z, grad, jnp.stack([pe, energy])])

        # uniform progressive sampling within the subtree
        take = first | (u[1] < jax.nn.sigmoid(-delta - s.sub_weight))
        sub_proposal = jnp.where(take, leaf, s.sub_proposal)
        sub_weight = jnp.where(first, -delta, jnp.logaddexp(s.sub_weight, -delta))
        sub_r_sum = jnp.where(first, r, s.sub_r_sum + r)

        # U-turns of the subtrees this leaf closes, against the checkpoints
        idx_min, idx_max = _checkpoint_range(s.sub_n)
        # an even leaf opens subtrees: it is their checkpoint. Written, and checked, one
        # row at a time: with hundreds of parameters, a pass over every row each step
        # cost a quarter of the step
        checkpoints = jax.lax.cond(
            s.sub_n % 2 == 0,
            lambda c: c.at[idx_max].set(jnp.stack([r, sub_r_sum, v])),
            lambda c: c,
            s.checkpoints,
        )

        def check(carry):
            i, _ = carry
            r_ckpt, r_sum_ckpt, v_ckpt = checkpoints[i]
            return i - 1, _turning(v_ckpt, v, r_ckpt, r, sub_r_sum - r_sum_ckpt + r_ckpt)

        _, sub_turning = jax.lax.while_loop(
            lambda carry: (carry[0] >= idx_min) & ~carry[1], check, (idx_max, jnp.array(False))
        )

        edges = s.edges.at[going_right.astype(jnp.int32)].set(jnp.stack([z, r, grad, v]))
        sub_n = s.sub_n + 1
        closed = (sub_n == (1 << s.depth)) | sub_turning | diverging

        # a closed subtree joins the tree: biased progressive sampling
        moves = refresh | ((u[2] < jnp.exp(sub_weight - s.weight)) & ~sub_turning & ~diverging)
        r_sum = s.r_sum + sub_r_sum
        r_ends, v_ends = edges[:, 1], edges[:, 3]
        tree_turning = sub_turning | _turning(v_ends[0], v_ends[1], r_ends[0], r_ends[1], r_sum)
        depth = s.depth + 1
        ends = tree_turning | diverging | (depth >= max_depth)
        return _Trajectory(
            edges=edges,
            proposal=jnp.where(closed & moves, sub_proposal, s.proposal),
            weight=jnp.where(closed, jnp.logaddexp(s.weight, sub_weight), s.weight),
            r_sum=jnp.where(closed, r_sum, s.r_sum),
            depth=jnp.where(closed, depth, s.depth),
            diverging=diverging,
            sum_accept=s.sum_accept + jnp.minimum(jnp.exp(-delta), 1.0),
            n_steps=s.n_steps + 1,
            sub_proposal=sub_proposal,
            sub_weight=sub_weight,
            sub_r_sum=sub_r_sum,
            sub_n=jnp.where(closed, 0, sub_n),
            going_right=going_right,
            checkpoints=checkpoints,
            done=closed & ends,
        )

    final = jax.lax.while_loop(lambda s: ~s.done, step, state)
    p = final.proposal
    n = jnp.maximum(final.n_steps, 1)
    return (p[:d], p[d : 2 * d], p[2 * d], p[2 * d + 1], final.n_steps,
            final.sum_accept / n, final.diverging)  # fmt: skip


def nuts(potential_fn, *, num_warmup: int, max_tree_depth: tuple[int, int],
         dense_mass: bool, target_accept_prob, regularize_mass_matrix: bool):  # fmt: skip
    """``(init, sample)`` for NUTS on ``potential_fn`` (a flat vector to a scalar):
    ``init(z, inverse_mass_matrix, seed) -> NUTSState``, ``sample(state) ->
    NUTSState``; ``seed`` (``uint64``) names the chain's stream of random numbers
    (:mod:`.streams`), transition ``t`` reading its slots of position ``t``.

    The first call of ``sample`` after ``init`` only computes the potential energy and
    gradient at the start (it moves nothing; its state's ``i`` is then 0); call it
    ``1 + num_warmup + num_samples`` times. The ``num_warmup`` transitions after it
    adapt the step size and mass matrix (NumPyro's ``warmup_adapter``) and build trees
    at most ``max_tree_depth[0]`` deep, the others at most ``max_tree_depth[1]``."""
    value_and_grad = jax.value_and_grad(potential_fn)
    adapt_init, adapt_update = warmup_adapter(
        num_warmup,
        dense_mass=dense_mass,
        target_accept_prob=target_accept_prob,
        regularize_mass_matrix=regularize_mass_matrix,
    )
    bound = max(max_tree_depth)

    def init(z, inverse_mass_matrix, seed):
        # the potential energy and gradient at z come from the first call of sample: a
        # program looping over sample then holds one copy of the gradient, not two (the
        # gradient was a fifth of the sampler's compile time)
        placeholder = jnp.zeros((), z.dtype)
        adapt_state = adapt_init(
            IntegratorState(z, None, placeholder, jnp.zeros_like(z)), _UNUSED_KEY, 1.0,
            inverse_mass_matrix=inverse_mass_matrix,
        )  # fmt: skip
        # the adapter's key only feeds a step-size search this adapter does not run;
        # without it, its update splits no key (JAX's generator, compiled in the loop)
        adapt_state = adapt_state._replace(rng_key=None)
        first = jnp.full((), -1, jnp.result_type(int))
        return NUTSState(first, z, jnp.zeros_like(z), placeholder, placeholder,
                         jnp.zeros((), jnp.result_type(int)), placeholder, jnp.array(False),
                         adapt_state, jnp.asarray(seed, jnp.uint64))  # fmt: skip

    def sample(state: NUTSState) -> NUTSState:
        adapt = state.adapt_state
        transition = state.i + 1
        d = state.z.shape[0]
        eps = streams.normals(state.seed, transition, jnp.arange(d)).astype(state.z.dtype)
        sqrt = adapt.mass_matrix_sqrt
        r = sqrt * eps if sqrt.ndim == 1 else sqrt @ eps
        refresh = state.i < 0
        warming = state.i < num_warmup
        z, grad, pe, energy, n_steps, accept_prob, diverging = trajectory(
            value_and_grad, state.z, r, state.potential_energy, state.z_grad,
            adapt.inverse_mass_matrix, adapt.step_size, state.seed, transition,
            jnp.where(warming, max_tree_depth[0], max_tree_depth[1]), bound, refresh,
        )  # fmt: skip
        adapt = jax.lax.cond(
            warming & ~refresh,
            lambda a: adapt_update(state.i, accept_prob, IntegratorState(z, r, pe, grad), a),
            lambda a: a,
            adapt,
        )
        return NUTSState(state.i + 1, z, grad, pe, energy, n_steps, accept_prob, diverging,
                         adapt, state.seed)  # fmt: skip

    return init, sample
