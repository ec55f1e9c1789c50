"""The per-group sufficient statistics give exactly the row-level Gaussian likelihood."""

import jax
import numpy as np
import pytest
from numpyro import distributions as dist

from sklearn_hier._data.sufficient_statistics import (
    RowDesign,
    gaussian_row_data,
    gaussian_statistics,
)
from sklearn_hier._modeling.hierarchical import gaussian_cells_loglik


def _random_design(rng, n=500, n_groups=7, p=3, q=2, treatments="binary"):
    group = rng.integers(0, n_groups, n)
    binary = (rng.uniform(size=n) < 0.4).astype(float)
    if treatments == "binary":
        treatment = binary
    elif treatments == "arms":  # a three-arm treatment: two indicators, summed per cell
        arm = rng.integers(0, 3, n)
        treatment = np.column_stack([arm == 1, arm == 2]).astype(float)
    else:  # a three-arm treatment's two indicators and a continuous dose
        arm = rng.integers(0, 3, n)
        treatment = np.column_stack([arm == 1, arm == 2, rng.normal(1.0, 2.0, n)]).astype(float)
    return RowDesign(
        controls=rng.normal(size=(n, p)),
        Z=rng.normal(size=(n_groups, q)),
        group=group,
        treatment=treatment,
        outcome=rng.normal(2.0, 3.0, n),
    )


@pytest.mark.parametrize("treatments", ["binary", "arms", "arms_and_dose"])
@pytest.mark.parametrize("chunk_rows", [1_000_000, 64])
def test_cell_loglik_equals_row_loglik(chunk_rows, treatments):
    rng = np.random.default_rng(0)
    design = _random_design(rng, treatments=treatments)
    stats, _, _ = gaussian_statistics(design, chunk_rows=chunk_rows)
    rows = gaussian_row_data(design)
    with jax.enable_x64(True):
        for _ in range(5):
            w = rng.normal(size=rows.x.shape[1])
            u = rng.normal(size=(design.Z.shape[0], 1 + design.n_effects))
            sigma = rng.uniform(0.5, 2.0)
            mu = rows.x @ w + u[rows.g, 0] + np.sum(u[rows.g, 1:] * rows.t, axis=1)
            direct = float(dist.Normal(mu, sigma).log_prob(rows.y).sum())
            reduced = float(gaussian_cells_loglik(stats, w, u, sigma))
            assert reduced == pytest.approx(direct, rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("treatments", ["binary", "arms_and_dose"])
def test_chunks_reduced_side_by_side_give_the_serial_sums(monkeypatch, treatments):
    """Chunks reduced on several threads add up, in the rows' order, to the very sums of
    one thread: bit for bit, however the threads interleave."""
    import sklearn_hier._data.sufficient_statistics as statistics

    design = _random_design(np.random.default_rng(3), n=2000, treatments=treatments)
    results = {}
    for cpus in (1, 4):
        monkeypatch.setattr(statistics, "usable_cpus", lambda cpus=cpus: cpus)
        results[cpus] = gaussian_statistics(design, chunk_rows=97)[0]
    for name in ("vv", "vx", "vy", "xtx", "xty", "yty"):
        np.testing.assert_array_equal(getattr(results[4], name), getattr(results[1], name))


def test_column_means_match_the_rows():
    design = _random_design(np.random.default_rng(1))
    full = design.columns(slice(None))
    np.testing.assert_allclose(design.column_means(), full.mean(axis=0), rtol=1e-12)


def test_statistics_are_centred():
    design = _random_design(np.random.default_rng(2))
    stats, _, _ = gaussian_statistics(design)
    # the column sums of a centred design are zero, apart from the constant column
    np.testing.assert_allclose(stats.vx[:, 0].sum(axis=0)[1:], 0.0, atol=1e-9)
    assert stats.vx[:, 0].sum(axis=0)[0] == pytest.approx(design.n_rows)
    assert stats.vy[:, 0].sum() == pytest.approx(0.0, abs=1e-9)


def test_statistics_of_disjoint_rows_add_up():
    """Statistics computed separately (chunks, partitions) in one centring sum to the whole's."""
    design = _random_design(np.random.default_rng(3))
    whole, _, _ = gaussian_statistics(design)
    centre = (whole.xbar, whole.ybar)
    halves = [np.arange(design.n_rows) < 200, np.arange(design.n_rows) >= 200]
    parts = [
        gaussian_statistics(
            RowDesign(design.controls[h], design.Z, design.group[h], design.treatment[h],
                      design.outcome[h]),
            centre=centre,
        )[0]
        for h in halves
    ]  # fmt: skip
    summed = parts[0].plus(parts[1])
    for name in whole.SUMMED:
        np.testing.assert_allclose(getattr(summed, name), getattr(whole, name), atol=1e-9)
    np.testing.assert_allclose(summed.minus(parts[1]).vx, parts[0].vx, atol=1e-9)
    with pytest.raises(ValueError, match="centred differently"):
        parts[0].plus(gaussian_statistics(design)[0]._replace(ybar=whole.ybar + 1.0))


def test_padding_adds_empty_groups():
    design = _random_design(np.random.default_rng(4))
    stats, _, _ = gaussian_statistics(design)
    padded = stats.pad(16)
    assert padded.vx.shape == (16,) + stats.vx.shape[1:]
    assert (padded.n[7:] == 0).all() and (padded.vx[7:] == 0).all()
    np.testing.assert_array_equal(padded.xtx, stats.xtx)
