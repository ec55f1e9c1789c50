"""Throughput of the data pass: ``prepare`` (everything fit does before sampling) on many rows.

A synthetic frame of ``--rows`` rows (10 million by default) carries modifiers of every
kind (integers with 5 levels, strings with 4, a pandas categorical with 3 and a float
cut into 4 quantile bins) and controls of every kind (two integer columns, a float, a
string with 6 levels and a categorical with 4), a binary treatment and a Gaussian
outcome. ``prepare`` is timed ``--repeats`` times (the best is kept) with its stages
timed separately: the treatment coding, the outcome, learning the design and the
groups, encoding the controls, the reduction to per-group statistics and the model's
inputs. Then a warm ``fit`` (NUTS, 500 warm-up iterations and 500 draws; the sampler
compiled by an untimed fit of the same shape first) is timed on all the rows and on
the first 1,000, in the same process, to show what the rows add to a fit.

Run with ``python benchmarks/data_pass.py [--rows 10000000] [--repeats 3] [--no-fit]``.
"""

import argparse
import time
import warnings
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import pandas as pd

import sklearn_hier._data.reduction as reduction
import sklearn_hier._modeling.inputs as inputs
from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier._base.sampler_settings import resolve_sampler
from sklearn_hier._base.spec import ModelSpec
from sklearn_hier._data.design import Design
from sklearn_hier._modeling.inputs import prepare

MODIFIERS = ["cohort", "region", "tier", "age"]
BINS = {"age": 4}


def make_frame(n_rows: int, seed: int = 0):
    """X, y and the treatment: modifiers and controls of every kind of column."""
    rng = np.random.default_rng(seed)

    def labels(values, k):
        return np.asarray(values, dtype=object)[rng.integers(0, k, n_rows)]

    X = pd.DataFrame(
        {
            "cohort": rng.integers(1, 6, n_rows),
            "region": labels(["north", "south", "east", "west"], 4),
            "tier": pd.Categorical.from_codes(
                rng.integers(0, 3, n_rows), categories=["gold", "silver", "bronze"]
            ),
            "age": rng.uniform(18.0, 80.0, n_rows),
            "visits": rng.integers(0, 20, n_rows),
            "household": rng.integers(1, 7, n_rows),
            "income": rng.normal(size=n_rows),
            "channel": labels(["web", "app", "phone", "mail", "store", "partner"], 6),
            "device": pd.Categorical.from_codes(
                rng.integers(0, 4, n_rows), categories=["ios", "android", "windows", "other"]
            ),
        }
    )
    treatment = pd.Series((rng.random(n_rows) < 0.5).astype(np.int64), name="treated")
    y = pd.Series(
        0.3 * treatment.to_numpy()
        + 0.1 * X["cohort"].to_numpy()
        + 0.05 * X["income"].to_numpy()
        + rng.normal(size=n_rows),
        name="y",
    )
    return X, y, treatment


#: (label, owner, attribute): the stages of ``prepare``, each looked up by its caller
#: in the owner's namespace, so wrapping the attribute times every call. Learning the
#: design codes the controls too where ``Design.learn_coded`` exists (then
#: ``control_matrix`` is not called); ``Design.learn`` is timed where it does not.
STAGES = [
    ("treatment coding", reduction.TreatmentCoding, "learn_and_encode"),
    ("outcome", reduction, "model_outcome"),
    ("design and groups", Design, "learn_coded" if hasattr(Design, "learn_coded") else "learn"),
    ("control encoding", Design, "control_matrix"),
    ("reduction", reduction, "reduce_rows"),
    ("model inputs", inputs, "model_inputs"),
]


@contextmanager
def timed_stages(seconds: dict):
    """Add each stage's wall time to ``seconds[label]`` while inside."""
    originals = []
    for label, owner, name in STAGES:
        original = vars(owner)[name]
        originals.append((owner, name, original))
        # a classmethod is called bound to its class; a module's function or an instance
        # method (a plain function on the class, bound when looked up) as it is
        called = getattr(owner, name) if isinstance(original, classmethod) else original

        def wrapper(*args, _called=called, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _called(*args, **kwargs)
            finally:
                seconds[_label] += time.perf_counter() - start

        setattr(owner, name, staticmethod(wrapper) if isinstance(original, classmethod)
                else wrapper)  # fmt: skip
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def estimator(draws: int) -> HierarchicalHTE:
    return HierarchicalHTE(
        modifiers=MODIFIERS,
        bins=BINS,
        random_state=0,
        sampler=NUTSSampler(num_warmup=draws, num_samples=draws),
    )


def spec_of(est: HierarchicalHTE) -> ModelSpec:
    """The frozen specification ``fit`` hands to ``prepare``."""
    return ModelSpec.from_params(resolve_sampler(est.get_params(deep=False), stacklevel=2))


def time_prepare(X, y, treatment, repeats: int) -> tuple[float, dict, object]:
    """The fastest of ``repeats`` calls of ``prepare``, its stages' seconds, its result."""
    spec = spec_of(estimator(500))
    best_total, best_stages, prepared = np.inf, None, None
    for _ in range(repeats):
        seconds = defaultdict(float)
        with timed_stages(seconds):
            start = time.perf_counter()
            prepared = prepare(spec, X, y, treatment, seed=0)
            total = time.perf_counter() - start
        if total < best_total:
            best_total, best_stages = total, dict(seconds)
    return best_total, best_stages, prepared


def time_fit(X, y, treatment, draws: int) -> float:
    """A warm fit: the first (untimed) compiles the sampler for this shape."""
    estimator(draws).fit(X, y, treatment)
    start = time.perf_counter()
    estimator(draws).fit(X, y, treatment)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--no-fit", action="store_true", help="time prepare only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    start = time.perf_counter()
    X, y, treatment = make_frame(args.rows)
    print(f"built {args.rows:,} rows in {time.perf_counter() - start:.1f} s; dtypes: "
          + ", ".join(f"{c}={X[c].dtype}" for c in X.columns))  # fmt: skip
    # warm: whatever compiles or loads once per process is not the data pass
    prepare(spec_of(estimator(500)), X.iloc[:1000], y.iloc[:1000], treatment.iloc[:1000])
    total, stages, prepared = time_prepare(X, y, treatment, args.repeats)
    print(f"\nprepare on {args.rows:,} rows ({prepared.design.n_groups} groups), "
          f"best of {args.repeats}")  # fmt: skip
    print(f"{'stage':<22}{'seconds':>10}{'Mrows/s':>10}")
    for label, _, _ in STAGES:
        if label in stages:
            s = stages[label]
            print(f"{label:<22}{s:>10.3f}{args.rows / s / 1e6:>10.1f}")
        else:
            print(f"{label:<22}{'-':>10}{'-':>10}")
    other = total - sum(stages.values())
    print(f"{'other (checks)':<22}{other:>10.3f}{'':>10}")
    print(f"{'prepare':<22}{total:>10.3f}{args.rows / total / 1e6:>10.1f}")
    if "control encoding" not in stages:
        print("(the controls are coded while the design is learned: Design.learn_coded)")

    if args.no_fit:
        return
    small = min(1000, args.rows)
    fits = {
        small: time_fit(X.iloc[:small], y.iloc[:small], treatment.iloc[:small], args.draws),
        args.rows: time_fit(X, y, treatment, args.draws),
    }
    print(f"\nwarm fit, NUTS {args.draws} warm-up + {args.draws} draws")
    print(f"{'rows':>12}{'seconds':>10}")
    for n, s in fits.items():
        print(f"{n:>12,}{s:>10.2f}")


if __name__ == "__main__":
    main()
