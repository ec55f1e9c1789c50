"""A Parquet dataset of 100 million rows fitted through Dask, against the in-memory fit of 10M.

The dataset (written once by this script, then reused) is a randomised experiment
with a Gaussian outcome: 40 groups (modifiers ``m0``, ``m1``, ``m2`` with 2 levels
and ``m3`` with 5), two standard-normal controls, a binary treatment whose effect
varies by group, in files of 5 million rows. Two fits, each in a fresh process:

1. ``memory``: the first 10 million rows read into pandas, then ``fit``;
2. ``dask``: ``dd.read_parquet`` of the whole dataset (one partition per row
   group of a million rows) on a ``LocalCluster`` (``--workers`` worker
   processes of one thread), then ``fit``: the survey and the reduction pass run
   on the workers, which send back per-group statistics.

Reported: wall time of the fit (and of reading, for the in-memory fit), and the
peak memory of the whole process tree (the fitting process, the scheduler and
the workers), sampled every 0.1 s. 4 chains x 1,000 draws after 1,000 warm-up.
Run with ``python benchmarks/dask_parquet.py [--rows 100000000] [--path DIR]``.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

FILE_ROWS = 5_000_000
COLUMNS = ["m0", "m1", "m2", "m3", "c0", "c1"]
MODIFIERS = ["m0", "m1", "m2", "m3"]


def write_dataset(path: Path, n_rows: int) -> None:
    """Files ``part-00000.parquet``, ... of ``FILE_ROWS`` rows each (skipped if present)."""
    path.mkdir(parents=True, exist_ok=True)
    group_rng = np.random.default_rng(2024)
    intercept = group_rng.normal(0.0, 0.5, 40)
    effect = 0.3 + group_rng.normal(0.0, 0.1, 40)
    for k in range(-(-n_rows // FILE_ROWS)):
        target = path / f"part-{k:05d}.parquet"
        if target.exists():
            continue
        rng = np.random.default_rng([7, k])
        n = min(FILE_ROWS, n_rows - k * FILE_ROWS)
        levels = [rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
                  rng.integers(0, 5, n)]  # fmt: skip
        group = ((levels[0] * 2 + levels[1]) * 2 + levels[2]) * 5 + levels[3]
        controls = rng.normal(size=(n, 2))
        treated = rng.integers(0, 2, n)
        y = (intercept[group] + effect[group] * treated + controls @ np.array([0.4, -0.2])
             + rng.normal(size=n))  # fmt: skip
        frame = pd.DataFrame({f"m{j}": v.astype(np.int8) for j, v in enumerate(levels)})
        frame["c0"], frame["c1"] = controls[:, 0], controls[:, 1]
        frame["t"], frame["y"] = treated.astype(np.int8), y
        frame.to_parquet(target.with_suffix(".tmp"), row_group_size=1_000_000)
        target.with_suffix(".tmp").rename(target)


class PeakMemory:
    """Peak resident memory of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self.process, self.interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except Exception:  # a child that just ended
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())


def estimator(draws: int):
    from sklearn_hier import HierarchicalHTE, NUTSSampler

    return HierarchicalHTE(modifiers=MODIFIERS, random_state=0,
                           sampler=NUTSSampler(num_warmup=draws, num_samples=draws))  # fmt: skip


def fit_in_memory(path: Path, n_rows: int, draws: int) -> dict:
    files = sorted(path.glob("part-*.parquet"))[: -(-n_rows // FILE_ROWS)]
    with PeakMemory() as memory:
        started = time.perf_counter()
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        read = time.perf_counter() - started
        started = time.perf_counter()
        est = estimator(draws).fit(frame[COLUMNS], frame["y"], treatment=frame["t"])
        fitted = time.perf_counter() - started
    effect = est.effect_by_group()["mean"].to_numpy()
    return {"input": "memory", "rows": len(frame), "read_s": read, "fit_s": fitted,
            "peak_gb": memory.peak / 2**30, "effects": effect.tolist()}  # fmt: skip


def fit_through_dask(path: Path, draws: int, workers: int) -> dict:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    with PeakMemory() as memory:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):  # fmt: skip
            started = time.perf_counter()
            # a partition per row group (1M rows): each worker holds one partition at a time
            frame = dd.read_parquet(str(path), split_row_groups=True)
            est = estimator(draws).fit(frame[COLUMNS], frame["y"], treatment=frame["t"])
            fitted = time.perf_counter() - started
            n_rows = int(est.groups_["n"].sum())
    effect = est.effect_by_group()["mean"].to_numpy()
    return {
        "input": f"dask ({workers} workers)", "rows": n_rows, "read_s": float("nan"),
        "fit_s": fitted, "peak_gb": memory.peak / 2**30, "effects": effect.tolist(),
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--path", type=Path, default=Path("/tmp/sklearn_hier_parquet"))
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--one", choices=["memory", "dask"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.one == "memory":
        print(json.dumps(fit_in_memory(args.path, args.memory_rows, args.draws)))
        return
    if args.one == "dask":
        print(json.dumps(fit_through_dask(args.path, args.draws, args.workers)))
        return
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    started = time.perf_counter()
    write_dataset(args.path, args.rows)
    size = sum(f.stat().st_size for f in args.path.glob("part-*.parquet")) / 2**30
    print(f"dataset: {args.rows:,} rows, {size:.2f} GiB of Parquet "
          f"(written or found in {time.perf_counter() - started:.0f} s)")  # fmt: skip
    rows = []
    for one in ("memory", "dask"):
        command = [sys.executable, __file__, "--one", one, "--path", str(args.path),
                   "--memory-rows", str(args.memory_rows), "--draws", str(args.draws),
                   "--workers", str(args.workers)]  # fmt: skip
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    gap = np.max(np.abs(np.subtract(rows[0]["effects"], rows[1]["effects"])))
    table = pd.DataFrame(rows).drop(columns="effects")
    with pd.option_context("display.width", 120, "display.precision", 2):
        print(table.to_string(index=False))
    print(f"largest difference of group effects, 10M rows in memory vs all rows: {gap:.4f}")


if __name__ == "__main__":
    main()
