"""One reduction of coded rows, wherever they live: a map over chunks of rows, added up.

Rows in memory are one chunk (:class:`MemoryRows`); rows in Dask partitions are many, each
reduced where it lives (:class:`.partitioned.PartitionedRows`). Both run the same
:func:`reduce_chunk` and the same :func:`reduced_data`, so they make the same decisions (exact
cells or the Laplace approximation, the prior-scale warning) from the same statistics. A
source can be read again after the first pass: the approximation's passes do.
"""

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

from .._base.families import FamilyCells, family_of, padded_cell_count
from .._base.spec import ModelSpec, effect_units
from .design import Design
from .laplace import (
    AUTO_EXACT_CELLS,
    AUTO_EXACT_SPARSE_ROWS,
    CHECK_ROWS,
    MIN_EVENTS,
    EventCounts,
    OutcomeRows,
    approximation_method,
    laplace_expansion,
)
from .reduced import ReducedData
from .row_inputs import (
    CentredMoments,
    reject_collinear_controls,
    reject_exact_fit,
    warn_prior_scale,
)
from .row_patterns import RowPatterns
from .sufficient_statistics import (
    PooledMoments,
    RowDesign,
    design_means,
    least_squares_fit,
    statistics_from_moments,
)
from .treatment import TreatmentCoding


class RowSource(Protocol):
    """Coded rows that can be mapped over (and read again): ``function(rows, outcome,
    index=, start=, **keywords)`` of every chunk, added up with ``.plus``."""

    n_rows: int

    def map_reduce(self, function, **keywords): ...


@dataclass(frozen=True)
class MemoryRows:
    """Rows held in memory: one chunk."""

    rows: RowDesign
    outcome: OutcomeRows

    @property
    def n_rows(self) -> int:
        return self.rows.n_rows

    def map_reduce(self, function, **keywords):
        return function(self.rows, self.outcome, index=0, start=0, **keywords)


class RowReduction(NamedTuple):
    """What some rows reduce to; the reductions of two sets of rows add (:meth:`plus`)."""

    family: str
    moments: PooledMoments
    treated: np.ndarray  # (G, E) rows with a non-zero value of each treatment column
    totals: np.ndarray  # the outcome's totals (families with a Laplace approximation)
    events: EventCounts | None  # events per group and arm (the same families)
    sample: tuple | None  # (RowDesign, OutcomeRows): rows for the approximation's check
    cells: FamilyCells | None  # the exact likelihood's cells (None: too many, or not asked)
    patterns: RowPatterns | None

    def plus(self, other: "RowReduction") -> "RowReduction":
        sample = None
        if self.sample is not None:
            sample = (self.sample[0].plus(other.sample[0]), self.sample[1].plus(other.sample[1]))
        cells = None
        if self.cells is not None and other.cells is not None:
            cells = family_of(self.family).join_cells(self.cells, other.cells)
        patterns = None
        if self.patterns is not None and other.patterns is not None:
            patterns = self.patterns.plus(other.patterns)
        events = None if self.events is None else self.events.plus(other.events)
        return RowReduction(
            self.family, self.moments.plus(other.moments), self.treated + other.treated,
            self.totals + other.totals, events, sample, cells, patterns,
        )  # fmt: skip


class CellPlan(NamedTuple):
    """What the reduction collects: the exact likelihood's cells (``wanted``; none for the
    Gaussian family or when the approximation is asked for), the most cells a chunk keeps
    before it drops them (more mean the approximation), and whether the approximation may
    be taken (then a sample of rows is kept for its check)."""

    wanted: bool
    limit: float
    may_approximate: bool

    @classmethod
    def of(cls, spec: ModelSpec, n_rows: int) -> "CellPlan":
        if family_of(spec.family).sufficient_statistics:
            return cls(False, 0, False)
        # with every cell beyond the limit: "laplace" if the approximation may be taken
        # (refuses an approximation asked for where there is none)
        if approximation_method(spec, n_rows, lambda: True) == "none":
            return cls(True, np.inf, False)  # exact, asked for or the only choice
        if spec.approximation == "laplace":
            return cls(False, 0, True)
        # "auto": sparse events keep the exact likelihood up to AUTO_EXACT_SPARSE_ROWS rows,
        # so below that the cells are kept whatever their number
        return cls(True, np.inf if n_rows <= AUTO_EXACT_SPARSE_ROWS else AUTO_EXACT_CELLS, True)


def reduce_chunk(rows: RowDesign, outcome: OutcomeRows, *, index: int, start: int,
                 family: str, plan: CellPlan, n_categories: int, sample_share: float,
                 seed: int) -> RowReduction:  # fmt: skip
    """The reduction of one chunk of coded rows (``index``, ``start``: where the chunk
    sits, which seeds its share of the check sample)."""
    moments = PooledMoments.of_rows(rows)
    if rows.arm_patterns is not None and rows.weights is None:
        # 0/1 columns: the rows with t != 0 are counted in the moments (sum of v = [1, t])
        treated = moments.moments.vv[:, 0, 1:].copy()
    else:
        treated = rows.treated_counts
    fam = family_of(family)
    cells = patterns = sample = events = None
    totals = np.zeros(2)
    if plan.may_approximate:
        totals, events = outcome.totals(), EventCounts.of_rows(rows, outcome)
        if sample_share > 0:
            keep = np.random.default_rng([seed, index, start]).random(rows.n_rows) < sample_share
            sample = (rows.take(keep), outcome.take(keep))
    if plan.wanted and not _surely_more_cells(rows, plan.limit):
        cells = fam.cells(
            rows.columns(slice(None)), rows.group, rows.treatment, outcome.y,
            trials=outcome.trials, exposure=outcome.exposure, n_categories=n_categories,
            collapse=True,
        )  # fmt: skip
        if cells.x.shape[0] > plan.limit:
            cells = None
        else:
            patterns = RowPatterns.of_rows(rows.controls, rows.group, outcome.exposure)
    return RowReduction(
        fam.name, moments, treated, totals, events, sample, cells, patterns,
    )  # fmt: skip


def _surely_more_cells(rows: RowDesign, limit: float) -> bool:
    """Whether the rows surely make more than ``limit`` cells: a control alone takes more
    distinct values in the first rows. A hash count over a few rows, where collapsing
    every row into cells sorts them all (half a minute at 10 million rows with a
    continuous control, only to find too many cells)."""
    if not np.isfinite(limit) or rows.n_controls == 0 or rows.n_rows <= limit:
        return False
    head = rows.control_rows(slice(0, min(rows.n_rows, 4 * int(limit))))
    return any(len(pd.unique(head[:, k])) > limit for k in range(head.shape[1]))


def _chunk_pass(rows: RowDesign, outcome: OutcomeRows, *, index: int, start: int, chunk):
    """``chunk(rows, outcome)`` of some rows: a pass of the approximation."""
    return chunk(rows, outcome)


def reduce_source(spec: ModelSpec, source: RowSource, *, design: Design,
                  coding: TreatmentCoding, n_categories: int, seed: int,
                  stacklevel: int) -> ReducedData:  # fmt: skip
    """The rows of ``source``, coded under ``design`` and ``coding``, reduced to what the
    likelihood needs (``stacklevel``: the user's call, for the prior-scale warning)."""
    n_rows = source.n_rows
    family = family_of(spec.family)
    plan = CellPlan.of(spec, n_rows)
    share = min(1.0, CHECK_ROWS / n_rows) if plan.may_approximate else 0.0
    reduction = source.map_reduce(
        reduce_chunk, family=family.name, plan=plan, n_categories=n_categories,
        sample_share=share, seed=seed,
    )  # fmt: skip
    pooled = reduction.moments
    moments = pooled.moments
    reject_collinear_controls(design.control_names, coding,
                              CentredMoments.of_moments(moments, pooled.cbar))  # fmt: skip
    Z = design.Z
    xbar = design_means(moments, Z, pooled.cbar)
    counts = dict(
        n_rows=n_rows, n=np.rint(moments.vv[:, 0, 0]).astype(np.int64),
        n_treated=np.rint(reduction.treated).astype(np.int64), xbar=xbar,
        outcome_sd=float(np.sqrt(max(moments.yty, 0.0) / n_rows)),
    )  # fmt: skip
    if family.identity_link:
        warn_prior_scale(spec, counts["outcome_sd"], stacklevel=stacklevel + 1)
    if family.sufficient_statistics or family.improper_at_exact_fit:
        controls_fit, group_start = least_squares_fit(moments, n_rows=n_rows, ybar=pooled.ybar)
        reject_exact_fit(controls_fit, family)
    if family.sufficient_statistics:
        stats = statistics_from_moments(moments, Z, xbar, pooled.ybar)
        return ReducedData(stats, controls_fit=controls_fit, group_start=group_start, **counts)
    method = approximation_method(
        spec, n_rows,
        lambda: reduction.cells is None or reduction.cells.x.shape[0] > AUTO_EXACT_CELLS,
        few_events=lambda: reduction.events.fewest(family) < MIN_EVENTS,
    )  # fmt: skip
    if method == "none":
        found = reduction.cells
        likelihood = found._replace(x=found.x - xbar)
        return ReducedData(
            likelihood.pad(padded_cell_count(likelihood.x.shape[0])),
            patterns=reduction.patterns, **counts,
        )  # fmt: skip
    expansion = laplace_expansion(
        lambda chunk: source.map_reduce(_chunk_pass, chunk=chunk), reduction.sample,
        n_rows=n_rows, pooled_link=family.pooled_link(reduction.totals), xbar=xbar,
        priors=spec.priors, effect_units=effect_units(coding),
    )  # fmt: skip
    return ReducedData(
        expansion.statistics, patterns=expansion.patterns, expansion=expansion, **counts,
    )  # fmt: skip
