"""Simulation-based calibration (Talts et al. 2018) of every model ``HierarchicalHTE`` fits.

Each run draws every parameter from the model's priors, simulates an outcome on
a fixed design (12 groups: two numeric modifiers with 4 and 3 levels that are
also the group-level predictors, a continuous control, 300 rows), fits the
model with the same priors and records the rank of each true value among
``L = 99`` posterior draws thinned by their effective sample size. The
quantities ranked: the intercept, the control's coefficient, every treatment
coefficient and lambda, every group-level sd (per varying modifier in the
additive structure), the intercept-effect correlation, sigma (Gaussian), the
cutpoints (ordinal), and the intercept and effects of three groups on the link
scale. A correct sampler gives uniform ranks; each quantity's ranks are tested
with a chi-square test on 20 bins and a Kolmogorov-Smirnov test.

The grid: every family (gaussian, bernoulli, binomial, poisson, ordinal, student,
negbinomial) x both structures (nested, additive) x every treatment kind (binary,
three arms, a continuous dose, two binary columns), the Gaussian cases with both the
marginal sampler (``marginalize=True``) and the joint one (``marginalize=False``):
64 cases; and a dose in small and in large units (sd 0.05 and 20; Gaussian and
Poisson, nested), whose priors are per unit of its spread: 68 cases. The ordinal
cases run 2 x 600 draws (their cutpoints mix slowly). Then three more:

- ``laplace``: Bernoulli, nested, binary, 24,000 rows (2,000 per group, a
  continuous control, so above the 20,000 cells from which ``approximation="auto"``
  uses the Laplace approximation). Its stated tolerance is that of the exact
  samplers: the same test at the same level. At this many rows per group the
  expansion is meant to be indistinguishable from the exact posterior; the table
  also gives its 90%-interval coverage.
- ``svi``: Gaussian, nested, binary, ``inference="svi"``. Measured, not required
  to pass: the table shows how far its 90% intervals under-cover.
- ``broken`` (``--broken``): the Gaussian nested binary case whose simulator
  draws the group-level sds from a half-normal with scale 2 while the fit
  assumes 1 (a prior scale off by 2x). It must fail.

Multiple testing: the p-values of every quantity of every exact case (the 48
cases, and Laplace) are Holm-adjusted together, so a correct implementation
fails the whole grid with probability at most ``alpha`` = 0.01; the SVI and
broken cases are adjusted within their own case. A row's ``worst`` names the
quantity with the smallest adjusted p-value.

How many runs. A miscalibration shows as ranks piling up on one side (a biased
or too narrow posterior) or in the middle (too wide). Each quantity's ranks get
two tests, Bonferroni-combined: a chi-square test on the binned ranks (humps and
U shapes) and a Kolmogorov-Smirnov test (shifts). With the broken case above,
measured on 2 cores: 100 runs and 20 bins, chi-square alone, gave the group-effect
sd a raw p-value of 5e-5 and a Holm-adjusted 7.5e-4 over the case's 15
quantities; 80 runs and 10 bins, chi-square alone, only 0.014 (not detected at
0.01); the same 80 runs with both tests 2e-7 and 3e-6. A 2x error in a prior
scale is about the smallest error that moves posteriors by a sizeable share of
their width when 12 groups inform the sds, so 80 runs with both tests is the
least that detects it clearly; the default is 100 runs and 20 bins, and the slow
test tier (``tests/test_sbc.py``) runs a reduced subset at 80 runs and 10 bins.

Cost: each fit is short (2 chains x 300 draws after 300 warm-up), about 0.5 s
(marginal sampler) to 2 s (joint) on 2 cores, plus one compilation per case, so
the full grid at 100 runs is several hours on 2 cores. ``--runs``, ``--only``
and ``--skip`` select a part.

Run: ``python benchmarks/sbc.py [--runs 100] [--only gaussian/nested] [--broken]
[--laplace] [--svi]``.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import pickle
import platform

import numpy as np
import pandas as pd

from sklearn_hier._data.laplace import MIN_EVENTS
from sklearn_hier._sbc import SBCCase, grid_table, merge_results, run_case

FAMILIES = ("gaussian", "bernoulli", "binomial", "poisson", "ordinal", "student", "negbinomial")
#: The negative binomial's default shape prior, gamma(0.01, 0.01), puts most of its mass
#: below 1e-10, where the counts are all but empty; its cases are conditioned on data
#: with some counts in every group's arm and none absurd (see draw_from_prior).
NEGBINOMIAL_CONDITION = {"min_events": 1, "max_outcome": 1e4}
STRUCTURES = ("nested", "additive")
KINDS = ("binary", "arms", "dose", "several")


ORDINAL_SAMPLER = {"num_warmup": 600, "num_samples": 600}


def grid_cases() -> list[SBCCase]:
    cases = []
    for family in FAMILIES:
        for structure in STRUCTURES:
            for kind in KINDS:
                if family == "gaussian":
                    for marginal in (True, False):
                        cases.append(
                            SBCCase(family, structure, kind, fit_params={"marginalize": marginal})
                        )
                elif family == "ordinal":
                    # cutpoints mix slowly: 2 x 300 draws leave too few effective draws
                    cases.append(SBCCase(family, structure, kind, fit_params=ORDINAL_SAMPLER))
                elif family == "negbinomial":
                    cases.append(SBCCase(family, structure, kind, **NEGBINOMIAL_CONDITION))
                else:
                    cases.append(SBCCase(family, structure, kind))
    # only the intercept varies (brms's (1 | group)): the marginal model with the effects'
    # scales fixed at zero, the joint model, the additive structure and a non-Gaussian family
    fixed = {"varying_slopes": False}
    for family, structure, marginal in (
        ("gaussian", "nested", True), ("gaussian", "nested", False),
        ("gaussian", "additive", True), ("bernoulli", "nested", None),
    ):  # fmt: skip
        params = fixed if marginal is None else {**fixed, "marginalize": marginal}
        cases.append(SBCCase(family, structure, "arms", fit_params=params))
    # a dose's priors are per unit of its spread: doses in small and in large units
    for family in ("gaussian", "poisson"):
        for dose_sd in (0.05, 20.0):
            cases.append(SBCCase(family, "nested", "dose", dose_sd=dose_sd))
    return cases


LAPLACE = SBCCase(
    "bernoulli", "nested", "binary", n_rows=24_000, min_events=MIN_EVENTS,
    name="laplace: bernoulli/nested/binary 24k",
)  # fmt: skip
SVI = SBCCase(
    "gaussian", "nested", "binary", fit_params={"inference": "svi", "svi_steps": 5000},
    name="svi: gaussian/nested/binary",
)  # fmt: skip
BROKEN = SBCCase(
    "gaussian", "nested", "binary", prior_factors={"sd": 2.0},
    name="broken: gaussian/nested/binary, simulator sd prior 2x",
)  # fmt: skip


def _report(case: SBCCase, result, alpha: float) -> None:
    row = result.summary(alpha=alpha)
    print(f"  {case.label}: {result.seconds:.0f} s, within-case min p "
          f"{row['min_p_adj']:.3g} ({row['worst']})", flush=True)  # fmt: skip
    for message in result.errors[:3]:
        print("    error:", message)


def run_cases(cases: list, runs: int, settings: dict, jobs: int, alpha: float, save=None) -> list:
    """Every case's result, in the order given. With ``jobs`` > 1 each case's runs are
    split into shards of consecutive runs, fitted in separate processes held to one CPU
    thread each, and joined: the ranks are those of one unsplit run."""
    if jobs <= 1:
        results = []
        for case in cases:
            results.append(run_case(case, runs, **settings))
            _report(case, results[-1], alpha)
            _save(results, save)
        return results
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
    os.environ["OMP_NUM_THREADS"] = "1"
    # enough shards to keep every process busy, few enough to compile each case rarely
    n_shards = max(1, min(runs, -(-4 * jobs // len(cases))))
    bounds = np.linspace(0, runs, n_shards + 1).round().astype(int)
    context = multiprocessing.get_context("spawn")  # JAX does not survive fork
    shards = {i: [None] * n_shards for i in range(len(cases))}
    results = [None] * len(cases)
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        pending = {
            pool.submit(
                run_case, case, int(hi - lo), first_run=int(lo), **settings
            ): (i, k)
            for i, case in enumerate(cases)
            for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
        }  # fmt: skip
        for done in concurrent.futures.as_completed(pending):
            i, k = pending[done]
            shards[i][k] = done.result()
            if all(s is not None for s in shards[i]):
                results[i] = merge_results(shards[i])
                _report(cases[i], results[i], alpha)
                _save(results, save)
    return results


def _save(results: list, path) -> None:
    """Write the finished cases' results (a pickle of ``CaseResult``), so that a run cut
    short keeps what it finished; ``grid_table`` makes the table from them."""
    if path:
        with open(path, "wb") as file:
            pickle.dump([r for r in results if r is not None], file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="data sets per case")
    parser.add_argument("--n-ranks", type=int, default=99, help="thinned draws per rank (L)")
    parser.add_argument("--bins", type=int, default=20, help="chi-square bins; divides L + 1")
    parser.add_argument("--draws", type=int, default=300, help="warm-up and kept draws per chain")
    parser.add_argument("--only", nargs="*", default=[], help="cases whose label has any of these")
    parser.add_argument("--skip", nargs="*", default=[], help="cases whose label has any of these")
    parser.add_argument("--no-grid", action="store_true", help="skip the 68 grid cases")
    parser.add_argument("--laplace", action="store_true", help="add the Laplace case")
    parser.add_argument("--svi", action="store_true", help="add the SVI case")
    parser.add_argument("--broken", action="store_true", help="add the broken case (must fail)")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default=None, help="also write the table here")
    parser.add_argument("--save", default=None, help="pickle each finished case's ranks here")
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="cases run at once, one process and one CPU thread each (for many-core machines)",
    )  # fmt: skip
    args = parser.parse_args()

    cases = [] if args.no_grid else grid_cases()
    if args.only:
        cases = [c for c in cases if any(s in c.label for s in args.only)]
    cases = [c for c in cases if not any(s in c.label for s in args.skip)]
    exact = list(cases)
    if args.laplace:
        exact.append(LAPLACE)
    extra = ([SVI] if args.svi else []) + ([BROKEN] if args.broken else [])
    sampler = {"num_warmup": args.draws, "num_samples": args.draws, "num_chains": 2}
    print(f"{platform.machine()}, {os.cpu_count()} CPUs; {args.runs} runs per case, "
          f"L = {args.n_ranks}, {args.bins} bins, 2 chains x {args.draws} draws")  # fmt: skip
    settings = {
        "n_ranks": args.n_ranks, "n_bins": args.bins, "seed": args.seed, "sampler": sampler,
    }  # fmt: skip
    results = run_cases(exact + extra, args.runs, settings, args.jobs, args.alpha, args.save)
    table = grid_table(results, alpha=args.alpha, jointly=list(range(len(exact))))
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(
            table[["case", "runs", "min_p_adj", "worst", "cover90_min", "cover90_mean", "pass",
                   "seconds", "warnings", "short", "errors"]].to_string(index=False)
        )  # fmt: skip
    if exact:
        verdict = "PASS" if table["pass"].iloc[: len(exact)].all() else "FAIL"
        print(f"exact cases: {verdict} (Holm over {sum(len(r.names) for r in results[:len(exact)])}"
              f" quantities, alpha {args.alpha})")  # fmt: skip
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
