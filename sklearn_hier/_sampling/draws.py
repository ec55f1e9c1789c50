"""What every inference engine returns, and the conversion of its inputs to JAX arrays."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass
class SamplerResult:
    """Constrained draws ``(chain, draw, ...)`` and per-draw sampler statistics.

    ``losses`` holds the optimisation's loss per step for variational inference
    (``None`` for NUTS, whose ``stats`` hold divergences, tree depths, ...).
    ``log_prior`` is the ``(chain, draw)`` log prior density where the sampler computed
    it with the draws (the marginal model's completion); None elsewhere.
    """

    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    losses: np.ndarray | None = None
    log_prior: np.ndarray | None = None
    num_warmup: int | None = None  # NUTS: the warm-up iterations each chain ran

    def flat(self, name: str) -> np.ndarray:
        """Draws of ``name`` as ``(chain * draw, ...)``, chains concatenated."""
        values = np.asarray(self.draws[name])
        return values.reshape((-1,) + values.shape[2:])


def argument_dtype(dtype) -> np.dtype:
    """The dtype an array enters a compiled program with: its own if integer or
    boolean, float64 otherwise."""
    dtype = np.dtype(dtype)
    return dtype if dtype.kind in "iub" else np.dtype(np.float64)


def as_jax(tree):
    """Every array and number of a pytree (dicts, NamedTuples, ...) as a JAX array, of
    the dtype :func:`argument_dtype` gives it."""
    return jax.tree.map(jnp.asarray, as_arguments(tree))


def as_arguments(tree):
    """Every array and number of a pytree as a NumPy array of the dtype
    :func:`argument_dtype` gives it: what a compiled program takes as it is. Converting
    to JAX arrays outside a program would run (and, in a new process, compile) an
    operation per array."""
    return jax.tree.map(lambda v: np.asarray(v, dtype=argument_dtype(np.asarray(v).dtype)), tree)
