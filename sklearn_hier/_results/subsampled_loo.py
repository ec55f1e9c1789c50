"""PSIS-LOO for fits too large for a rows x draws array: ``arviz_stats.loo_subsample``.

Magnusson, Andersen, Jonasson and Vehtari (2019): the elpd of all N rows is estimated
from a cheap approximation of every row's contribution (the point log predictive
density, the row's log-likelihood at the posterior mean of its group's parameters: one
pass over the rows) corrected by exact PSIS-LOO on a simple random subsample of m rows
(the difference estimator), whose standard error ``subsampling_se`` says how much the
subsample adds to the uncertainty.

``loo_subsample`` reads the per-draw log-likelihoods from the ``log_likelihood`` group
of the data it is given, but only those of the subsampled rows. The group here is
therefore a lazily indexed array (xarray's backend interface): it has the shape of all
N rows x draws and computes the rows it is asked for, so memory stays at m x draws
plus a few vectors of length N.
"""

import arviz_stats
import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from .._base.families import family_of
from .._base.input_checks import take_rows
from .._data.row_inputs import trials_and_exposure
from .pointwise import coded_outcome, pointwise_log_likelihood
from .posterior import FittedPosterior


class _RowsOnDemand(BackendArray):
    """(chain, draw, row) log-likelihoods of which only the requested rows are computed
    (the last request is kept: ``loo_subsample`` reads the same rows several times)."""

    def __init__(self, posterior: FittedPosterior, X, y, treatment, shape: tuple):
        self.posterior, self.rows = posterior, (X, y, treatment)
        self.shape, self.dtype = shape, np.dtype("float64")
        self._last = (None, None)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._values
        )

    def _values(self, key):
        chains, draws, rows = key
        scalar = np.ndim(rows) == 0 and not isinstance(rows, slice)
        index = np.arange(self.shape[2])[rows] if isinstance(rows, slice) else np.atleast_1d(rows)
        if self._last[0] is None or not np.array_equal(self._last[0], index):
            X, y, treatment = (take_rows(value, index) for value in self.rows)
            values = pointwise_log_likelihood(self.posterior, X, y, treatment)
            self._last = (index.copy(), values.reshape(self.shape[:2] + (index.size,)))
        values = self._last[1][..., 0] if scalar else self._last[1]
        return values[chains][:, draws] if not np.isscalar(chains) else values[chains][draws]


def point_log_likelihood(posterior: FittedPosterior, X, y, treatment) -> np.ndarray:
    """(rows,): each row's log-likelihood at the posterior means of its group's intercept
    and effects, the control coefficients and the family's parameters (the linear
    predictor is linear in them, so its mean is the mean of its draws): one pass."""
    frame = posterior.frame(X)
    n_rows = frame.shape[0]
    outcome = coded_outcome(posterior, y, n_rows)
    assignment = posterior.assign(frame)
    intercept = posterior.part_draws(assignment, "intercept").mean(axis=0)
    effects = np.column_stack([posterior.part_draws(assignment, "effect", k).mean(axis=0)
                               for k in range(posterior.n_effects)])  # fmt: skip
    controls, exposure = posterior.controls_and_exposure(frame)
    treat = posterior.treatment.encode_matrix(treatment, n_rows=n_rows)
    g = assignment.row_group
    eta = intercept[g] + controls @ posterior.draws("b_control").mean(axis=0)
    eta = eta + np.sum(effects[g] * treat, axis=1)
    family = family_of(posterior.family)
    params = {name: posterior.draws(name).mean(axis=0) for name in family.extra_parameters}
    trials, _ = trials_and_exposure(posterior.spec, frame)
    return family.row_loglik(outcome, eta, trials=trials, exposure=exposure, params=params)


def subsampled_loo(posterior: FittedPosterior, X, y, treatment, *, observations: int,
                   seed: int):  # fmt: skip
    """``arviz_stats.loo_subsample`` (point-estimate approximation) on ``observations``
    random rows, never holding more than those rows' log-likelihoods."""
    frame = posterior.frame(X)
    n_rows = frame.shape[0]
    idata = posterior.idata
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    shape = (chains, draws, n_rows)
    lazy = indexing.LazilyIndexedArray(_RowsOnDemand(posterior, frame, y, treatment, shape))
    rows = {"obs": np.arange(n_rows)}
    tree = xr.DataTree.from_dict({
        "posterior": idata.posterior.to_dataset(),
        "observed_data": xr.Dataset({"y": ("obs", coded_outcome(posterior, y, n_rows))}, rows),
        "log_likelihood": xr.Dataset(
            {"y": xr.Variable(("chain", "draw", "obs"), lazy)},
            coords={"chain": idata.posterior["chain"].values,
                    "draw": idata.posterior["draw"].values, **rows},
        ),
    })  # fmt: skip
    point = xr.DataArray(point_log_likelihood(posterior, frame, y, treatment), dims=("obs",),
                         coords=rows)  # fmt: skip
    # the relative efficiency from the group effects' draws (an ESS over the rows'
    # log-likelihoods would read every row)
    effect = idata.posterior["group_effect"]
    reff = float(np.nanmean(arviz_stats.ess(effect, method="mean").values) / (chains * draws))
    return arviz_stats.loo_subsample(
        tree, observations=min(int(observations), n_rows), var_name="y", method="plpd",
        log_lik_fn=lambda observed, data: point, reff=min(reff, 1.0), seed=seed,
        param_names=["Intercept"],
    )  # fmt: skip
