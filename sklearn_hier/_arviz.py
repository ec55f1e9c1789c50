"""ArviZ, imported once without its import-time notice about its 1.0 refactor.

The notice concerns API changes beyond the ``arviz<1`` range this package pins,
so it says nothing actionable to our users.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing a major refactor")
    import arviz

__all__ = ["arviz"]
