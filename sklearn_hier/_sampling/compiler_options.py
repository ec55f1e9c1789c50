"""XLA compiler options for the marginal model's programs, whose arrays are all tiny.

XLA on CPUs hands matrix products and reductions to the YNNPACK library. For arrays
of a few dozen numbers each library call costs more than its arithmetic: in the
marginal model's gradient a batched product of 112 three-by-three matrices took
37 microseconds there against 2 in XLA's own loop, and with two treatments the
library calls were over half of each leapfrog step. The marginal model's sampler,
completion and densities are compiled without them; every other program keeps
XLA's defaults.
"""

import functools

import jax

_WITHOUT_LIBRARY_FUSIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def tiny_array_options() -> dict | None:
    """``compiler_options`` for ``jax.jit``: none off the CPU, or where XLA has no such
    fusions (older releases do not know the option, and reject it)."""
    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda x: x + 1.0, compiler_options=_WITHOUT_LIBRARY_FUSIONS).lower(1.0).compile()
    except jax.errors.JaxRuntimeError:
        return None
    return dict(_WITHOUT_LIBRARY_FUSIONS)
