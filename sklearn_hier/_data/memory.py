"""Pre-flight memory check: refuse a fit that cannot fit in memory before allocating it.

A fit that runs out of memory half-way is killed by the operating system (or
swaps for hours) and loses the user's session. The arrays a fit builds have
sizes known as soon as the groups are: the row-level design (bounded by the
chunk size when the Gaussian statistics are accumulated, the full matrix for
the row-level path and for families collapsed into cells), the sampler's
per-draw state, and the posterior of every group.
"""

import os

from .sufficient_statistics import CHUNK_ROWS

FLOAT = 8  # bytes

#: Copies of the row-level design alive at once: the design, its centred copy,
#: the sorted key used to collapse cells, and the array handed to JAX.
ROW_DESIGN_COPIES = 4

#: Per-group posterior arrays kept: intercepts, effects, the two offsets and
#: the response-scale effects, plus ArviZ's working copy when summarising.
GROUP_POSTERIOR_ARRAYS = 6

#: Fraction of the available memory a fit may plan to use; the rest is left
#: for the user's own data, Python and XLA's workspace.
USABLE_FRACTION = 0.7


def available_memory_bytes() -> int | None:
    """Memory the system can still give this process (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fit_memory_bytes(
    *, n_rows: int, n_coef: int, n_groups: int, n_draws: int, row_level: bool
) -> int:
    """Peak bytes a fit is expected to allocate beyond the input itself."""
    rows_in_memory = n_rows if row_level else min(n_rows, CHUNK_ROWS)
    design = ROW_DESIGN_COPIES * rows_in_memory * (n_coef + 1) * FLOAT
    row_vectors = 4 * n_rows * FLOAT  # group codes, treatment, outcome, controls' index
    posterior = GROUP_POSTERIOR_ARRAYS * n_groups * n_draws * FLOAT
    return design + row_vectors + posterior


def check_fit_memory(
    *, n_rows: int, n_coef: int, n_groups: int, n_draws: int, row_level: bool,
    available: int | None = None,
) -> None:  # fmt: skip
    """Raise MemoryError, naming the sizes and what to change, when a fit cannot fit."""
    available = available_memory_bytes() if available is None else available
    if available is None:
        return
    needed = fit_memory_bytes(
        n_rows=n_rows, n_coef=n_coef, n_groups=n_groups, n_draws=n_draws, row_level=row_level
    )
    if needed <= USABLE_FRACTION * available:
        return
    gib = 2**30
    advice = []
    if GROUP_POSTERIOR_ARRAYS * n_groups * n_draws * FLOAT > needed / 2:
        advice.append("fewer draws (the NUTSSampler's num_samples, num_chains)")
        advice.append("fewer groups (bin continuous modifiers or drop a modifier)")
    if row_level:
        advice.append(
            "reduce_data=True (Gaussian) or fewer distinct control values (other families: "
            "rows with identical predictors collapse into one cell)"
        )
    advice.append("a sample of the rows")
    raise MemoryError(
        f"this fit needs about {needed / gib:.1f} GiB ({n_rows} rows, {n_coef} design "
        f"columns, {n_groups} groups, {n_draws} draws) but only {available / gib:.1f} GiB "
        f"of memory is available; try {', or '.join(advice)}."
    )
