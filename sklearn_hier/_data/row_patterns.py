"""The training rows' patterns: what response-scale group averages are computed over.

Off the Gaussian family the linear predictor without treatment depends on a row
only through its group, controls and exposure, so response-scale averages over
a group's rows are computed once per distinct pattern, weighted by its rows.
Patterns of disjoint row sets combine (:meth:`RowPatterns.plus`), so they can be
found wherever the rows live.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

#: Bins of the controls' score per group when the training rows do not repeat.
PATTERN_BINS = 256


@dataclass(frozen=True)
class RowPatterns:
    """Distinct (group, controls, exposure) rows, with counts, ordered by group."""

    group: np.ndarray
    controls: np.ndarray
    exposure: np.ndarray | None
    weight: np.ndarray

    @classmethod
    def of_rows(cls, controls, row_group, exposure, weight=None) -> "RowPatterns":
        parts = [row_group[:, None], controls]
        if exposure is not None:
            parts.append(exposure[:, None])
        unique, inverse = np.unique(np.hstack(parts), axis=0, return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=weight, minlength=unique.shape[0])
        order = np.argsort(unique[:, 0], kind="stable")
        unique, counts = unique[order], counts[order]
        return cls(
            group=unique[:, 0].astype(np.int64),
            controls=unique[:, 1 : 1 + controls.shape[1]],
            exposure=unique[:, -1] if exposure is not None else None,
            weight=counts.astype(float),
        )

    def plus(self, other: "RowPatterns") -> "RowPatterns":
        """The patterns of both row sets (counts of shared patterns added)."""

        def joined(name):
            a, b = getattr(self, name), getattr(other, name)
            return None if a is None else np.concatenate([a, b])

        return RowPatterns.of_rows(
            joined("controls"), joined("group"), joined("exposure"), joined("weight")
        )


class BinnedPatternSums(NamedTuple):
    """Per (group, bin of the controls' score): rows, sums of the controls and exposure.

    For rows that hardly ever repeat (continuous controls) the distinct patterns
    are the rows themselves. Binned instead by ``score``, the part of the linear
    predictor the controls make (at a pilot fit), a bin's mean controls and
    exposure stand for its rows. A response-scale average over a bin's rows then
    differs from the value at the bin's mean by the curvature times the score's
    spread within the bin: with 256 quantile bins, far below the posterior
    uncertainty of any group's average.
    """

    counts: np.ndarray  # (G * bins,)
    control_sums: np.ndarray  # (G * bins, p)
    exposure_sums: np.ndarray | None
    bins: int  # per group

    @classmethod
    def of_rows(cls, controls, row_group, exposure, score, edges, n_groups: int):
        bins = edges.size + 1
        cell = row_group * bins + np.searchsorted(edges, score)
        n_cells = n_groups * bins

        def total(values):
            return np.bincount(cell, weights=values, minlength=n_cells)

        sums = [total(controls[:, j]) for j in range(controls.shape[1])]
        return cls(
            counts=total(None).astype(float),
            control_sums=np.stack(sums, axis=1) if sums else np.zeros((n_cells, 0)),
            exposure_sums=None if exposure is None else total(exposure),
            bins=bins,
        )

    def plus(self, other: "BinnedPatternSums") -> "BinnedPatternSums":
        exposure = None if self.exposure_sums is None else self.exposure_sums + other.exposure_sums
        return BinnedPatternSums(
            self.counts + other.counts, self.control_sums + other.control_sums, exposure,
            self.bins,
        )  # fmt: skip

    def patterns(self) -> RowPatterns:
        kept = np.flatnonzero(self.counts)
        counts = self.counts[kept]
        return RowPatterns(
            group=kept // self.bins,
            controls=self.control_sums[kept] / counts[:, None],
            exposure=None if self.exposure_sums is None else self.exposure_sums[kept] / counts,
            weight=counts,
        )


def score_edges(scores: np.ndarray) -> np.ndarray:
    """Quantile bin edges (inner) of the controls' score, from a sample of rows."""
    if scores.size == 0:
        return np.zeros(0)
    return np.unique(np.quantile(scores, np.linspace(0.0, 1.0, PATTERN_BINS + 1)[1:-1]))
