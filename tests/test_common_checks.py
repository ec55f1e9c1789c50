"""scikit-learn's common estimator checks.

``fit`` needs a per-row ``treatment`` argument that the common checks do not
pass, just as some estimators need ``sample_weight`` in practice. The checks
therefore run on a subclass whose only change is a default treatment when
none is given (alternating 0/1 by row in ``fit``, all treated in ``predict``
and ``score``); every check still exercises the
real estimator's parameter handling, validation, cloning and fitting.

The checks' data are degenerate for this model: the estimator declares categorical
input, so scikit-learn rounds ``X`` to integers, and every column of its two tight blobs
then equals the label ``y``. ``fit`` refuses an outcome that the groups reproduce exactly
(its posterior is improper: see ``test_an_outcome_equal_to_a_modifier_is_refused``), so
the subclass also adds a fixed pattern of small offsets, row by row, to a numeric ``y``
in ``fit``: the checks then exercise the conventions they are about.
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
        y = _with_offsets(y)
        with warnings.catch_warnings():
            # a few dozen draws on random data: diagnostics are not what is checked here
            warnings.simplefilter("ignore", SamplingWarning)
            return super().fit(X, y, treatment=treatment)


def _with_offsets(y):
    """A numeric 1-d ``y`` plus offsets of -0.1, 0 and 0.1 in turn, row by row (anything
    else as given, for the checks of bad targets)."""
    values = np.asarray(y)
    if values.dtype.kind not in "iuf" or values.ndim != 1 or not np.isfinite(values).all():
        return y
    return values + 0.1 * (np.arange(values.size) % 3 - 1)


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


def test_an_outcome_equal_to_a_modifier_is_refused():
    """The common checks' own data, unchanged: ``y`` equals the rounded modifier column,
    with 15 rows per group, so the groups reproduce it exactly and ``fit`` says so."""
    from sklearn.datasets import make_blobs
    from sklearn.utils.estimator_checks import _enforce_estimator_tags_X

    X, y = make_blobs(n_samples=30, centers=[[0, 0, 0], [1, 1, 1]], random_state=0,
                      cluster_std=0.1)  # fmt: skip
    estimator = HierarchicalHTE(modifiers=[0], random_state=0)
    X = _enforce_estimator_tags_X(estimator, X)
    assert np.array_equal(X[:, 0], y)
    with pytest.raises(ValueError, match="reproduced exactly by the groups"):
        estimator.fit(X, y, treatment=np.arange(30) % 2)
