"""Sampling diagnostics from ArviZ, and the warning raised when sampling went wrong.

Filter or escalate the warning with the standard :mod:`warnings` machinery::

    import warnings
    from sklearn_hier.diagnostics import SamplingWarning
    warnings.simplefilter("error", SamplingWarning)   # sampling problems become errors
"""

from ._base.sampling_checks import (
    SamplingWarning,
    check_sampling,
    diagnostics_table,
    pareto_smoothed_log_weights,
)

__all__ = ["SamplingWarning", "diagnostics_table", "check_sampling", "pareto_smoothed_log_weights"]
