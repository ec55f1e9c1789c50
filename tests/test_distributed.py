"""Grid search on a Dask cluster gives the same answer as on this machine."""

import numpy as np
import pytest
import sklearn
from conftest import FAST
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_hier import HierarchicalHTE
from sklearn_hier.datasets import make_grouped_hte
from sklearn_hier.metrics import r_loss_scorer

distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.slow,  # a local Dask cluster
    pytest.mark.filterwarnings(
        "ignore::sklearn_hier.SamplingWarning",
        # the local cluster's own shutdown chatter
        "ignore::ResourceWarning",
        "ignore:.*Port 8787 is already in use.*:UserWarning",
        "ignore::DeprecationWarning",
    ),
]


def _search():
    est = HierarchicalHTE(modifiers=["m0", "m1"], random_state=0, **FAST)
    est = est.set_fit_request(treatment=True).set_score_request(treatment=True)
    return GridSearchCV(
        est, {"prior_sd_scale": [0.1, 1.0]}, scoring=r_loss_scorer(cv=3),
        cv=KFold(2, shuffle=True, random_state=0), n_jobs=2,
    )  # fmt: skip


def test_grid_search_on_dask_matches_local():
    import dask
    import joblib

    d = make_grouped_hte(800, n_levels=(2, 3), sigma_theta=0.3, random_state=5)
    with sklearn.config_context(enable_metadata_routing=True):
        local = _search().set_params(n_jobs=1).fit(d.X, d.y, treatment=d.treatment)
        # worker processes are spawned, never forked from this process, which has
        # already started JAX's threads (a fork would inherit them half-initialised)
        with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
            with (
                distributed.LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
                ) as cluster,
                distributed.Client(cluster),
            ):
                with joblib.parallel_config(backend="dask"):
                    remote = _search().fit(d.X, d.y, treatment=d.treatment)
    np.testing.assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], rtol=1e-9
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_allclose(
        remote.best_estimator_.effect_by_group()["mean"],
        local.best_estimator_.effect_by_group()["mean"],
        rtol=1e-9,
    )
