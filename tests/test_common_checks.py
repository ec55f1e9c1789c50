"""scikit-learn's common estimator checks.

``fit`` needs a per-row ``treatment`` argument that the common checks do not
pass, just as some estimators need ``sample_weight`` in practice. The checks
therefore run on a subclass whose only change is a default treatment when
none is given (alternating 0/1 by row in ``fit``, all treated in ``predict``
and ``score``); every check still exercises the
real estimator's parameter handling, validation, cloning and fitting.
"""

import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning

pytestmark = pytest.mark.slow  # replications, new processes, clusters or examples


class _AlternatingTreatmentHTE(HierarchicalHTE):
    # predictions must not depend on row order (checked by permuting rows), so
    # predict and score default to treating every row
    def predict(self, X, treatment=None):
        return super().predict(X, 1 if treatment is None else treatment)

    def score(self, X, y, treatment=None):
        return super().score(X, y, 1 if treatment is None else treatment)

    def fit(self, X, y, treatment=None):
        if treatment is None:
            treatment = np.arange(np.shape(X)[0]) % 2
        with warnings.catch_warnings():
            # a few dozen draws on random data: diagnostics are not what is checked here
            warnings.simplefilter("ignore", SamplingWarning)
            return super().fit(X, y, treatment=treatment)


_CHECKS = parametrize_with_checks(
    [
        _AlternatingTreatmentHTE(
            modifiers=[0],
            sampler=NUTSSampler(num_warmup=20, num_samples=20, num_chains=1),
            random_state=0,
        )
    ],  # fmt: skip
)
# scikit-learn < 1.7 hands pytest a generator, which pytest >= 9 refuses: pass a list
_CHECKS = pytest.mark.parametrize(_CHECKS.args[0], list(_CHECKS.args[1]), **_CHECKS.kwargs)


@_CHECKS
def test_sklearn_common_checks(estimator, check):
    check(estimator)
