"""The controls of some rows as they were coded: numbers as given, categories as codes.

The model's control columns are the numeric controls and, per categorical control, the
indicators of its categories but the first. Kept as one small integer code per row, a
categorical control costs a reduction one pass over its codes rather than one pass per
indicator column, and the (rows x columns) float matrix, several times the size of the
codes, is formed only where the rows are used as rows (:meth:`CodedControls.matrix`).
"""

from typing import NamedTuple

import numpy as np

#: Up to this many categories, codes are counted by comparisons rather than bincount.
FEW_CODES = 16


def code_counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(n_codes,) float: how often each code 0 .. n_codes - 1 occurs among ``codes`` (other
    values, such as -1 for a missing one, are not counted). Few codes are counted by
    comparisons, which stream a byte a row each, where a ``bincount`` streams eight."""
    if n_codes <= FEW_CODES:
        return np.array([np.count_nonzero(codes == k) for k in range(n_codes)], dtype=float)
    found = codes[codes >= 0] if (codes < 0).any() else codes
    return np.bincount(found, minlength=n_codes)[:n_codes].astype(float)


class CodedColumn(NamedTuple):
    """One control: a number per row (``n_categories == 0``), or each row's category code
    (0 .. n_categories - 1), which enters as ``n_categories - 1`` indicator columns."""

    values: np.ndarray
    n_categories: int = 0

    @property
    def width(self) -> int:
        return self.n_categories - 1 if self.n_categories else 1


class CodedControls(NamedTuple):
    """The controls of ``n_rows`` rows, control by control, in the design's column order."""

    columns: tuple  # of CodedColumn
    n_rows: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_rows, sum(c.width for c in self.columns)

    def offsets(self) -> list[int]:
        """Each control's first column in the matrix."""
        return np.cumsum([0] + [c.width for c in self.columns])[:-1].tolist()

    def matrix(self, rows=slice(None)) -> np.ndarray:
        """(rows, p) float64: the numbers as given, categories as 0/1 indicators (``rows``:
        a slice of the rows).

        Column-major, so that each column is written in one contiguous pass.
        """
        out = np.empty((len(range(self.n_rows)[rows]), self.shape[1]), order="F")
        for column, start in zip(self.columns, self.offsets(), strict=True):
            part = column.values[rows]
            if not column.n_categories:
                out[:, start] = part
                continue
            for k in range(1, column.n_categories):
                np.equal(part, k, out=out[:, start + k - 1])
        return out

    def means(self) -> np.ndarray:
        """(p,) the matrix's column means, from the columns."""
        means = []
        for column in self.columns:
            if not column.n_categories:
                means.append([np.mean(column.values, dtype=np.float64)])
                continue
            counts = code_counts(column.values, column.n_categories)[1:]
            means.append(counts / self.n_rows)
        return np.concatenate(means) if means else np.zeros(0)

    def take(self, index) -> "CodedControls":
        """The controls of a subset of the rows."""
        index = np.asarray(index)
        n_rows = int(np.count_nonzero(index)) if index.dtype == bool else index.shape[0]
        columns = tuple(c._replace(values=c.values[index]) for c in self.columns)
        return CodedControls(columns, n_rows)

    def plus(self, other: "CodedControls") -> "CodedControls":
        """These rows followed by ``other``'s (the same controls)."""
        columns = tuple(
            a._replace(values=np.concatenate([a.values, b.values]))
            for a, b in zip(self.columns, other.columns, strict=True)
        )
        return CodedControls(columns, self.n_rows + other.n_rows)
