"""Write ``model_pickle_flat_modules.pkl`` and its effects table.

The pickle holds a fitted ``HierarchicalHTE`` from the package as it was before its private
modules moved into stage packages; ``tests/test_persistence.py`` checks that it still loads and
reports the same effects. It was written with the oldest supported versions
(``.ci/minimum-versions.txt``, Python 3.12) so that every supported version of pandas and NumPy
can read it (pickles load forward, not back)::

    PYTHONPATH=<checkout of the flat layout> python tests/data/make_model_pickle.py tests/data
"""

import pickle
import sys
from pathlib import Path

from sklearn_hier import HierarchicalHTE
from sklearn_hier.datasets import make_grouped_hte


def main(out: Path) -> None:
    data = make_grouped_hte(300, n_levels=(2, 2), random_state=0)
    model = HierarchicalHTE(
        modifiers=["m0", "m1"], num_warmup=100, num_samples=25, num_chains=2, random_state=0,
        progress_bar=False,
    ).fit(data.X, data.y, data.treatment)  # fmt: skip
    (out / "model_pickle_flat_modules.pkl").write_bytes(pickle.dumps(model))
    model.effect_by_group().to_csv(out / "model_pickle_flat_modules_effects.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
