"""Programs kept on disk exported: the same answers as tracing them, keyed by what shapes
them, never read from a directory others can write, and rebuilt from a damaged file."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sklearn_hier._base import executable_store as store


@pytest.fixture
def private_store(tmp_path, monkeypatch):
    monkeypatch.setenv("SKLEARN_HIER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SKLEARN_HIER_COMPILATION_CACHE", raising=False)
    monkeypatch.setattr(store, "_LOADED", type(store._LOADED)())
    return tmp_path / "cache" / "programs"


class Traced:
    """A jitted function that counts how often JAX traces it."""

    def __init__(self):
        self.traces = 0
        self.jitted = jax.jit(self.body)

    def body(self, inputs, scale):
        self.traces += 1
        a, b = inputs["a"], inputs["b"]
        factor = jnp.linalg.cholesky(a @ a.T + jnp.eye(a.shape[0]))
        return {"solved": jax.scipy.linalg.solve_triangular(factor, b, lower=True) * scale}


def _arguments(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return ({"a": rng.normal(size=(n, n)), "b": rng.normal(size=n)}, np.float64(2.0))


def test_a_stored_program_gives_what_tracing_gives_and_is_not_traced_again(private_store):
    traced = Traced()
    args = _arguments()
    with jax.enable_x64(True):
        expected = traced.jitted(*args)["solved"]
        program = store.stored_program(traced.jitted, args, name="solve", static=("v", 1))
        np.testing.assert_array_equal(program(*args)["solved"], expected)
        assert len(list(private_store.glob("solve-*.jaxexport"))) == 1
        store._LOADED.clear()  # as in a new process: read back from the file
        fresh = Traced()
        reloaded = store.stored_program(fresh.jitted, args, name="solve", static=("v", 1))
        other = _arguments(seed=1)  # other values of the same shapes: the same program
        np.testing.assert_array_equal(reloaded(*other)["solved"], traced.jitted(*other)["solved"])
    assert fresh.traces == 0


def test_another_shape_or_static_setting_is_another_program(private_store):
    traced = Traced()
    with jax.enable_x64(True):
        store.stored_program(traced.jitted, _arguments(3), name="solve", static=1)
        store.stored_program(traced.jitted, _arguments(4), name="solve", static=1)
        store.stored_program(traced.jitted, _arguments(3), name="solve", static=2)
        again = store.stored_program(traced.jitted, _arguments(3), name="solve", static=1)
        np.testing.assert_allclose(
            again(*_arguments(3))["solved"], traced.jitted(*_arguments(3))["solved"]
        )
    assert len(list(private_store.glob("solve-*.jaxexport"))) == 3


def test_a_damaged_file_is_replaced(private_store):
    traced = Traced()
    args = _arguments()
    with jax.enable_x64(True):
        store.stored_program(traced.jitted, args, name="solve", static=0)
        (path,) = private_store.glob("solve-*.jaxexport")
        path.write_bytes(path.read_bytes()[:100])
        store._LOADED.clear()
        program = store.stored_program(traced.jitted, args, name="solve", static=0)
        np.testing.assert_array_equal(program(*args)["solved"], traced.jitted(*args)["solved"])
    assert path.stat().st_size > 100


def test_a_file_that_reads_but_does_not_compile_is_removed_and_the_program_traced(private_store):
    traced = Traced()
    args = _arguments()
    with jax.enable_x64(True):
        program = store.stored_program(traced.jitted, args, name="solve", static=0)
        (path,) = private_store.glob("solve-*.jaxexport")

        def broken(*_):
            raise ValueError("the module does not parse")

        program.exported = type("Damaged", (), {"call": staticmethod(broken)})()
        np.testing.assert_array_equal(program(*args)["solved"], traced.jitted(*args)["solved"])
    assert not path.exists() and not store._LOADED


def test_a_file_others_could_have_written_is_never_run(private_store):
    args = _arguments()
    with jax.enable_x64(True):
        store.stored_program(Traced().jitted, args, name="solve", static=0)
        (path,) = private_store.glob("solve-*.jaxexport")
        os.chmod(path, 0o666)
        store._LOADED.clear()
        fresh = Traced()
        program = store.stored_program(fresh.jitted, args, name="solve", static=0)
        program(*args)
    assert fresh.traces == 1  # traced anew, not read
    assert not path.stat().st_mode & 0o022  # and stored again, privately


def test_python_numbers_and_numpy_scalars_are_different_signatures():
    leaves, tree = jax.tree.flatten((1.0,))
    numpy_leaves, numpy_tree = jax.tree.flatten((np.float64(1.0),))
    assert store._signature(leaves, tree) != store._signature(numpy_leaves, numpy_tree)


def test_the_chains_draw_from_separate_streams():
    """Every chain's two seeds (its initial values', its run's) differ from every other
    chain's and from another seed's, and the same seed and chain give the same seeds."""
    from sklearn_hier._sampling.run import chain_seeds

    seeds = np.concatenate([chain_seeds(seed, np.arange(8)) for seed in (12345, 12346, 0)])
    assert seeds.shape == (24, 2) and seeds.dtype == np.uint64
    assert len(set(seeds.ravel().tolist())) == 48
    np.testing.assert_array_equal(chain_seeds(12345, [3])[0], chain_seeds(12345, np.arange(8))[3])


def test_each_chain_is_completed_from_a_stream_of_its_own():
    """The completion's normals: the same for the same seed and chain, and apart for
    another chain or another seed."""
    from sklearn_hier._sampling.run import completion_noise

    def first(seed, chain):
        return completion_noise(seed, chain).standard_normal(16)

    np.testing.assert_array_equal(first(12345, 0), first(12345, 0))
    others = [first(12345, 1), first(12346, 0), first(0, 12345)]
    assert all(not np.allclose(first(12345, 0), other) for other in others)


def test_the_store_is_off_when_asked_or_when_others_can_write_it(private_store, monkeypatch):
    traced = Traced()
    with jax.enable_x64(True):
        monkeypatch.setenv("SKLEARN_HIER_COMPILATION_CACHE", "0")
        assert store.stored_program(traced.jitted, _arguments(), name="x", static=0) is (
            traced.jitted
        )
        assert not private_store.exists()
        monkeypatch.delenv("SKLEARN_HIER_COMPILATION_CACHE")
        private_store.mkdir(parents=True)
        os.chmod(private_store, 0o777)
        assert store.store_directory() is None
        assert store.stored_program(traced.jitted, _arguments(), name="x", static=0) is (
            traced.jitted
        )


def test_a_program_with_host_callbacks_runs_unstored(private_store):
    seen = []

    @jax.jit
    def reporting(x):
        jax.debug.callback(seen.append, x)
        return x * 2.0

    with jax.enable_x64(True):
        program = store.stored_program(reporting, (np.float64(3.0),), name="cb", static=0)
        assert float(program(np.float64(3.0))) == 6.0
    assert seen and not list(private_store.glob("cb-*"))


@pytest.mark.slow
def test_a_new_process_samples_from_the_stored_program_without_tracing_it(tmp_path):
    script = """
import sys, numpy as np
from sklearn_hier import HierarchicalHTE, NUTSSampler
from sklearn_hier.datasets import make_grouped_hte
import sklearn_hier._sampling.run as run
if sys.argv[1] == "reuse":
    def traced(*args, **kwargs):
        raise AssertionError("the sampler was traced again")
    run._unconstrained_init = traced
d = make_grouped_hte(300, n_levels=(2, 3), random_state=0)
est = HierarchicalHTE(modifiers=["m0", "m1"], random_state=0,
                      sampler=NUTSSampler(num_warmup=100, num_samples=100, num_chains=2,
                                          progress_bar=False))
est.fit(d.X, d.y, treatment=d.treatment)
np.save(sys.argv[2], est.idata_.posterior["sd_effect"].values)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION")}
    env.update(JAX_PLATFORMS="cpu", SKLEARN_HIER_CACHE_DIR=str(tmp_path / "cache"))
    draws = []
    for mode in ("store", "reuse"):
        out = tmp_path / f"{mode}.npy"
        result = subprocess.run([sys.executable, "-c", script, mode, str(out)], env=env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        draws.append(np.load(out))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert list((tmp_path / "cache" / "programs").glob("nuts-*.jaxexport"))


@pytest.mark.filterwarnings("ignore::sklearn_hier.SamplingWarning")  # short chains
def test_the_completion_prepared_beside_the_sampler_is_the_one_a_fit_runs(private_store,
                                                                          tomz_weeks):
    """The completion's program is traced from the sampler's result shapes while the
    sampler compiles; had those shapes differed from the draws' the fit completes, there
    would be a second completion program in the store."""
    from conftest import FAST, FAST_SETTINGS, TW_COLUMNS, TW_MODIFIERS

    from sklearn_hier import HierarchicalHTE, NUTSSampler
    from sklearn_hier.datasets import make_grouped_hte

    d = make_grouped_hte(200, n_levels=(2, 3), random_state=3)
    est = HierarchicalHTE(modifiers=d.modifiers, random_state=0, **FAST)
    est.fit(d.X, d.y, treatment=d.treatment)
    assert len(list(private_store.glob("nuts-*.jaxexport"))) == 1
    assert len(list(private_store.glob("completion-*.jaxexport"))) == 1
    assert np.isfinite(est.idata_.posterior["group_effect"].values).all()
    # a bar's sampler calls back to the host: it is not offered to the store (the Tomz &
    # Weeks model's, which the progress bar's own test runs too)
    shown = HierarchicalHTE(
        modifiers=TW_MODIFIERS,
        random_state=0,
        sampler=NUTSSampler(**{**FAST_SETTINGS, "progress_bar": True}),
    )
    shown.fit(tomz_weeks[TW_COLUMNS], tomz_weeks["force"], treatment=tomz_weeks["alliance"])
    assert len(list(private_store.glob("nuts-*.jaxexport"))) == 1


def test_a_full_store_removes_the_least_recently_used_programs(private_store, monkeypatch):
    """Past STORE_MAX_BYTES, writing a program removes the programs used longest ago (a
    program read counts as used) and the partial files of writes abandoned long ago."""
    private_store.mkdir(parents=True, mode=0o700)
    hour = 3600.0
    for age, name in [(5, "old"), (4, "read"), (3, "middle"), (2, "recent")]:
        path = private_store / f"{name}-0.jaxexport"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (0, os.stat(path).st_mtime - age * hour))
    abandoned, writing = private_store / ".partial-a", private_store / ".partial-b"
    for path, age in [(abandoned, 2 * hour), (writing, 60.0)]:
        path.write_bytes(b"x")
        os.utime(path, (0, os.stat(path).st_mtime - age))
    os.utime(private_store / "read-0.jaxexport")  # as _load marks a program it reads
    traced = Traced()
    args = _arguments()
    with jax.enable_x64(True):
        store.stored_program(traced.jitted, args, name="solve", static=("v", 1))
    written = next(private_store.glob("solve-*.jaxexport"))
    os.utime(written, (0, 0))
    assert store._load(written) is not None and os.stat(written).st_mtime > 0  # marked used
    monkeypatch.setattr(store, "STORE_MAX_BYTES", written.stat().st_size + 2500)
    store._evict(private_store, keep=written)
    left = {p.name for p in private_store.iterdir()}
    assert left == {written.name, "read-0.jaxexport", "recent-0.jaxexport", ".partial-b"}
