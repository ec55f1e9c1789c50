"""What every inference engine returns, and the conversion of its inputs to JAX arrays."""

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np


@dataclass
class SamplerResult:
    """Constrained draws ``(chain, draw, ...)`` and per-draw sampler statistics.

    ``losses`` holds the optimisation's loss per step for variational inference
    (``None`` for NUTS, whose ``stats`` hold divergences, tree depths, ...).
    """

    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    losses: np.ndarray | None = None


def as_jax(tree):
    """A dict or NamedTuple of arrays and numbers as JAX arrays (float64 unless integer)."""

    def convert(v):
        v = np.asarray(v)
        return jnp.asarray(v) if v.dtype.kind in "iub" else jnp.asarray(v, dtype=jnp.float64)

    if isinstance(tree, dict):
        return {k: convert(v) for k, v in tree.items()}
    return type(tree)(*(convert(v) for v in tree))
