"""Programs kept on disk as lowered StableHLO, so a new process runs them without tracing.

JAX's persistent compilation cache (:mod:`.compilation_cache`) saves the compile, but
to find its entry a new process must first trace the program and lower it to XLA: for
the NUTS sampler, with its thousands of per-group operations, most of a second of every
first fit, on a warm cache too. This store keeps each program as JAX exports it
(:mod:`jax.export`: StableHLO, a format JAX keeps readable across versions) and calls
the loaded program instead; its compile is then found in JAX's cache as before.

A stored program is only valid for exactly what produced it, so its file is named by a
hash of all of it: the program's name and static settings, the tree, shapes and dtypes
of its arguments, the source of this library, the versions of jax, jaxlib and numpyro,
JAX's configuration, and the platform. Anything else misses, is traced as usual and
writes its own file. A file that fails to load is removed and traced anew.

The store lives in ``<cache directory>/programs`` (see :mod:`.compilation_cache`) and
is off with ``SKLEARN_HIER_COMPILATION_CACHE=0``. It is read only from a directory that
the user owns and that no one else can write, as JAX's own cache requires. Programs that
call back to the host (a progress bar) cannot be exported and are traced as before.
"""

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .compilation_cache import cache_enabled, default_cache_dir

#: Programs kept loaded in this process (each a compiled executable of a few MB).
LOADED_MAX = 32

_LOCK = threading.Lock()
_LOADED: OrderedDict = OrderedDict()
_FINGERPRINT: list = []
_LINEAR_ALGEBRA_BOUND: list = []


def store_directory() -> Path | None:
    """Where programs are kept, or None when the store is off or unsafe to read."""
    if not cache_enabled():
        return None
    directory = default_cache_dir() / "programs"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        status = directory.stat()
    except OSError:
        return None
    owned = not hasattr(os, "getuid") or status.st_uid == os.getuid()
    if not owned or status.st_mode & 0o022 or not os.access(directory, os.W_OK):
        return None
    return directory


def _environment_fingerprint() -> str:
    """What every stored program of this process depends on besides its own arguments."""
    if not _FINGERPRINT:
        import jaxlib
        import numpyro

        digest = hashlib.sha256()
        package = Path(__file__).resolve().parent.parent
        for path in sorted(package.rglob("*.py")):
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
        device = jax.devices()[0]
        for part in (
            jax.__version__, jaxlib.__version__, numpyro.__version__,
            device.platform, device.client.platform_version,
            repr(sorted(jax.config.values.items())),
        ):  # fmt: skip
            digest.update(str(part).encode())
            digest.update(b"\0")
        _FINGERPRINT.append(digest.hexdigest())
    return _FINGERPRINT[0]


class StoredProgram:
    """An exported program for one signature of arguments, compiled on first use (or by
    :meth:`compile`, from any thread: the compile runs once, others wait for it).

    Called like the function it was exported from. ``out_shapes`` are its results'
    shapes and dtypes, known before it is compiled.
    """

    def __init__(self, exported, leaves):
        self.exported = exported
        self.out_shapes = jax.tree.unflatten(exported.out_tree, [
            jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.out_avals
        ])  # fmt: skip
        self._arguments = [jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)) for x in leaves]
        self._compiled = None
        self._lock = threading.Lock()

    def compile(self):
        with self._lock:
            if self._compiled is None:
                _bind_linear_algebra()
                self._compiled = jax.jit(self.exported.call).lower(*self._arguments).compile()
                self._arguments = None
        return self._compiled

    def __call__(self, *args):
        return self.compile()(*jax.tree.leaves(args))


def _bind_linear_algebra() -> None:
    """jaxlib binds its CPU LAPACK kernels (Cholesky, triangular solves) when it first
    lowers a linear-algebra operation; older jax (0.8 among them) does not when it calls
    an exported program, whose kernels would then run unbound (a crash). Lowering a tiny Cholesky,
    without compiling it, binds them all, once per process."""
    if not _LINEAR_ALGEBRA_BOUND:
        jax.jit(jnp.linalg.cholesky).lower(jax.ShapeDtypeStruct((2, 2), jnp.float32))
        _LINEAR_ALGEBRA_BOUND.append(True)


def stored_program(jitted, args: tuple, *, name: str, static):
    """``jitted`` for arguments shaped like ``args``, as a :class:`StoredProgram`: read
    from the store, or traced, exported and stored. ``jitted`` itself when the store is
    off or the program cannot be exported (it calls back to the host).

    ``args`` may hold arrays or ``jax.ShapeDtypeStruct``; ``static`` is everything that
    shapes the program besides them (the model's sizes, the sampler's settings) and must
    have a stable ``repr``. Call this under the ``jax.enable_x64`` setting the program
    will run with.
    """
    directory = store_directory()
    if directory is None:
        return jitted
    leaves, tree = jax.tree.flatten(args)
    key = hashlib.sha256(
        "\n".join([_environment_fingerprint(), name, repr(static), _signature(leaves, tree)])
        .encode()
    ).hexdigest()  # fmt: skip
    with _LOCK:
        program = _LOADED.get(key)
        if program is not None:
            _LOADED.move_to_end(key)
            return program
        path = directory / f"{name}-{key[:40]}.jaxexport"
        exported = _load(path)
        if exported is None:
            exported = _export(jitted, tree, leaves)
            if exported is None:
                return jitted
            _save(exported, path)
        program = StoredProgram(exported, leaves)
        _LOADED[key] = program
        while len(_LOADED) > LOADED_MAX:
            _LOADED.popitem(last=False)
    return program


def _signature(leaves, tree) -> str:
    return "|".join([str(tree)] + [
        f"{np.shape(leaf)}:{jnp.result_type(leaf)}:{bool(getattr(leaf, 'weak_type', False))}"
        for leaf in leaves
    ])  # fmt: skip


def _export(jitted, tree, leaves):
    """The program as a function of the arguments' leaves: JAX exports trees of its own
    containers only, and the model's inputs are this library's."""

    def flat(*flat_args):
        return jitted(*tree.unflatten(flat_args))

    try:
        return jax.export.export(jax.jit(flat))(*leaves)
    except Exception:  # a program that calls back to the host cannot be exported
        return None


def _load(path: Path):
    try:
        with open(path, "rb") as file:
            return jax.export.deserialize(bytearray(file.read()))
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: trace anew
        path.unlink(missing_ok=True)
        return None


def _save(exported, path: Path) -> None:
    temporary = None
    try:
        blob = exported.serialize()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
        os.replace(temporary, path)  # readers see the whole file or none
    except Exception:  # a full or read-only disk: the program runs, unstored
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
