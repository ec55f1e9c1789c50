"""The pre-flight memory estimate: what grows with rows, groups and draws."""

import pytest

from sklearn_hier._data.memory import check_fit_memory, fit_memory_bytes
from sklearn_hier._data.sufficient_statistics import CHUNK_ROWS


def test_reduced_gaussian_design_memory_is_bounded_by_the_chunk():
    sizes = dict(n_coef=10, n_groups=20, n_draws=4000)
    small = fit_memory_bytes(n_rows=CHUNK_ROWS, row_level=False, **sizes)
    large = fit_memory_bytes(n_rows=100 * CHUNK_ROWS, row_level=False, **sizes)
    rows_only = fit_memory_bytes(n_rows=100 * CHUNK_ROWS, row_level=True, **sizes)
    # beyond one chunk only the per-row vectors grow (4 floats a row), not the design
    assert large - small == 4 * 8 * 99 * CHUNK_ROWS
    assert rows_only > 5 * large


def test_posterior_memory_grows_with_groups_times_draws():
    one = fit_memory_bytes(n_rows=100, n_coef=3, n_groups=100, n_draws=1000, row_level=False)
    four = fit_memory_bytes(n_rows=100, n_coef=3, n_groups=400, n_draws=1000, row_level=False)
    assert four - one == pytest.approx(6 * 300 * 1000 * 8)


def test_check_passes_within_budget_and_names_sizes_beyond():
    sizes = dict(n_rows=10**6, n_coef=8, n_groups=50, n_draws=4000, row_level=True)
    needed = fit_memory_bytes(**sizes)
    check_fit_memory(available=2 * needed, **sizes)
    with pytest.raises(MemoryError, match=r"1000000 rows, 8 design columns, 50 groups, 4000 draws"):
        check_fit_memory(available=needed, **sizes)
