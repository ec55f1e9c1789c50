import os

# Tests run on the CPU whatever the machine has, so results match CI.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

from sklearn_hier.datasets import load_tomz_weeks, make_grouped_hte  # noqa: E402

#: Short sampler settings for tests that check behaviour rather than statistics.
FAST = dict(num_warmup=200, num_samples=200, num_chains=2)

TW_MODIFIERS = ["white", "male", "intl", "hawk"]
TW_COLUMNS = TW_MODIFIERS + ["regime", "stakes", "costs", "region"]


@pytest.fixture(scope="session")
def tomz_weeks():
    return load_tomz_weeks()


@pytest.fixture(scope="session")
def simulated():
    return make_grouped_hte(600, n_levels=(2, 3), sigma_theta=0.1, random_state=1)
