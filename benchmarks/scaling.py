"""Fit time and peak memory from 1,000 to 10 million rows, and predict_effect throughput.

Each size runs in its own process (so peak memory is that fit's alone) on data
from ``make_grouped_hte`` with 40 groups and two controls. Reported: the time to
reduce and fit (first fit in the process, which may compile unless the
persistent compilation cache already holds the sampler; and a second, warm
fit), the process's peak resident memory, and predict_effect's rows per second
(point estimates, and with 95% intervals). Run with
``python benchmarks/scaling.py [--sizes 1000 10000 ...] [--draws 1000] [--treatments 2]``;
``--treatments 2`` adds a second randomised binary treatment whose effect also
varies by group, and fits both at once (three varying terms per group).

``--external`` also fits the same data and specification in brms (``Rscript``
on PATH, see ``versus_brms_bambi.py`` for the setup) and in bambi with nutpie
(``--bambi-python``), from the smallest size up, each tool stopping at the first
size that takes longer than ``--external-timeout`` seconds (10 minutes).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd


def with_second_treatment(data, seed: int = 1):
    """The simulated experiment plus a second randomised binary treatment ``t2`` whose
    effect varies by group (0.2 plus normal noise of sd 0.1 per group)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    second = (rng.uniform(size=len(data.y)) < 0.5).astype(float)
    group_effect = 0.2 + rng.normal(0.0, 0.1, data.group.max() + 1)
    y = data.y + group_effect[data.group] * second
    treatment = pd.DataFrame({"t1": data.treatment, "t2": second})
    return y, treatment


def one_size(n_rows: int, draws: int, treatments: int = 1) -> dict:
    from sklearn_hier import HierarchicalHTE, NUTSSampler, SamplingWarning
    from sklearn_hier.datasets import make_grouped_hte

    warnings.simplefilter("ignore", SamplingWarning)
    data = make_grouped_hte(n_rows, n_levels=(2, 2, 2, 5), sigma_theta=0.1, random_state=0)
    y, treatment = data.y, data.treatment
    if treatments == 2:
        y, treatment = with_second_treatment(data)
    input_mb = data.X.memory_usage().sum() / 2**20
    est = HierarchicalHTE(modifiers=data.modifiers, random_state=0,
                          sampler=NUTSSampler(num_warmup=draws, num_samples=draws))  # fmt: skip
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        est.fit(data.X, y, treatment=treatment)
        timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    est.predict_effect(data.X)
    point = time.perf_counter() - started
    started = time.perf_counter()
    est.predict_effect(data.X, return_interval=True)
    with_interval = time.perf_counter() - started
    return {
        "rows": n_rows,
        "input_MB": round(input_mb, 1),
        "first_fit_s": timings[0],
        "warm_fit_s": timings[1],
        "peak_RSS_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "predict_Mrows_per_s": n_rows / point / 1e6,
        "predict_interval_Mrows_per_s": n_rows / with_interval / 1e6,
    }


HERE = Path(__file__).parent


def measured(command: list, timeout: float) -> dict:
    """Run ``command`` in its own session: wall time, and the peak RSS of its largest process."""
    started = time.perf_counter()
    wrapper = [sys.executable, __file__, "--measure", json.dumps(command)]
    with subprocess.Popen(wrapper, stdout=subprocess.PIPE, text=True,
                          start_new_session=True) as child:  # fmt: skip
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            return {"wall_s": None, "status": f"over {timeout:.0f} s"}
    result = json.loads(out.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    return result


def external_rows(sizes: list, draws: int, bambi_python: str, timeout: float) -> list:
    from sklearn_hier.datasets import make_grouped_hte

    tools = {}
    if shutil.which("Rscript"):
        tools["brms"] = lambda csv, out: ["Rscript", str(HERE / "scaling_brms.R"), csv, out,
                                          str(draws)]  # fmt: skip
    tools["bambi (nutpie)"] = lambda csv, out: [bambi_python, str(HERE / "scaling_bambi.py"),
                                                csv, out, str(draws)]  # fmt: skip
    work = Path(tempfile.mkdtemp())
    rows, stopped = [], set()
    for n in sizes:
        data = make_grouped_hte(n, n_levels=(2, 2, 2, 5), sigma_theta=0.1, random_state=0)
        csv = str(work / f"data_{n}.csv")
        data.X.assign(t=data.treatment, y=data.y).to_csv(csv, index=False)
        for tool, command in tools.items():
            if tool in stopped:
                rows.append({"tool": tool, "rows": n, "status": "not run (smaller size timed out)"})
                continue
            out = str(work / f"{tool.split()[0]}_{n}")
            result = measured(command(csv, out), timeout)
            if result["wall_s"] is None:
                stopped.add(tool)
            elif result["returncode"] != 0:
                result["status"] = "failed"
            else:
                result["status"] = "ok"
                result.update(pd.read_csv(f"{out}_timing.csv").iloc[0].to_dict())
            rows.append({"tool": tool, "rows": n, **result})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*",
                        default=[1_000, 10_000, 100_000, 1_000_000, 10_000_000])  # fmt: skip
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--treatments", type=int, choices=(1, 2), default=1)
    parser.add_argument("--external", action="store_true")
    parser.add_argument("--external-sizes", type=int, nargs="*",
                        default=[1_000, 10_000, 100_000, 1_000_000])  # fmt: skip
    parser.add_argument("--external-timeout", type=float, default=600.0)
    parser.add_argument("--bambi-python", default=sys.executable)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(one_size(args.child, args.draws, args.treatments)))
        return
    if args.measure is not None:  # run a command; report its peak memory
        done = subprocess.run(json.loads(args.measure), capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({"returncode": done.returncode, "peak_RSS_MB": peak}))
        return
    rows = []
    for n in args.sizes:
        result = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--draws", str(args.draws),
             "--treatments", str(args.treatments)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    table["warm_fit_vs_1k"] = table["warm_fit_s"] / table["warm_fit_s"].iloc[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; 4 chains x {args.draws} "
        f"draws; {args.treatments} treatment(s)"
    )
    pd.set_option("display.width", 200)
    print(table.round(2).to_string(index=False))
    if args.external:
        external = pd.DataFrame(
            external_rows(args.external_sizes, args.draws, args.bambi_python, args.external_timeout)
        ).drop(columns=["returncode"], errors="ignore")
        print(external.round(1).to_string(index=False))


if __name__ == "__main__":
    main()
