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
is off with ``SKLEARN_HIER_COMPILATION_CACHE=0``. It holds at most ``STORE_MAX_BYTES``:
writing a program past that removes the least recently used ones (every program read
is marked used), and the partial file of a write abandoned by a process that died. It
is read only from directories and files that the user owns and that no one else can
write. Programs that call back to the host (a progress bar) cannot be exported and are
traced as before.
"""

import functools
import hashlib
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .compilation_cache import cache_enabled, default_cache_dir

#: Programs kept loaded in this process (each a compiled executable of a few MB).
LOADED_MAX = 32

#: Most bytes of programs kept on disk (each file is about a megabyte; every release of
#: the library, and every model shape, writes its own).
STORE_MAX_BYTES = 256 * 2**20

#: A partial file older than this was left by a write that never finished.
ABANDONED_WRITE_SECONDS = 3600.0

_LOCK = threading.Lock()  # guards the dictionaries below, never held while tracing
_LOADED: OrderedDict = OrderedDict()
_KEY_LOCKS: dict = {}  # one per key: a program is read or traced once, others wait
_LINEAR_ALGEBRA_BOUND: list = []


def _source_fingerprint() -> str:
    """A hash of this library's source as it is when imported: the code that runs."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


_SOURCE = _source_fingerprint()


def _private(status) -> bool:
    """Owned by this user and writable by no one else (JAX's own cache asks the same)."""
    owned = not hasattr(os, "getuid") or status.st_uid == os.getuid()
    return owned and not status.st_mode & 0o022


def store_directory() -> Path | None:
    """Where programs are kept, or None when the store is off or unsafe to read: the
    directory and the cache directory holding it must be private to the user."""
    if not cache_enabled():
        return None
    root = default_cache_dir()
    directory = root / "programs"
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (_private(root.stat()) and _private(directory.stat())):
            return None
    except OSError:
        return None
    return directory if os.access(directory, os.W_OK) else None


def _environment_fingerprint() -> str:
    """What every stored program depends on besides its own arguments: the source, the
    versions, the platform, and JAX's configuration now (read at every call: a setting
    changed between fits changes what is traced)."""
    import jaxlib
    import numpyro

    device = jax.devices()[0]
    return "\0".join(str(part) for part in (
        _SOURCE, jax.__version__, jaxlib.__version__, numpyro.__version__,
        device.platform, device.client.platform_version,
        repr(sorted(jax.config.values.items())),
    ))  # fmt: skip


class StoredProgram:
    """An exported program for one signature of arguments, compiled on first use (or by
    :meth:`compile`, from any thread: the compile runs once, others wait for it).

    Called like the function it was exported from. ``out_shapes`` are its results'
    shapes and dtypes, known before it is compiled. A stored file that reads but does not
    compile is removed, and the program is traced as usual instead.
    """

    def __init__(self, exported, leaves, *, jitted, path: Path, key: str):
        self.exported = exported
        self.out_shapes = jax.tree.unflatten(exported.out_tree, [
            jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.out_avals
        ])  # fmt: skip
        self._arguments = [jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)) for x in leaves]
        self._jitted, self._path, self._key = jitted, path, key
        self._compiled = None
        self._lock = threading.Lock()

    def compile(self):
        with self._lock:
            if self._compiled is None:
                try:
                    _bind_linear_algebra()
                    compiled = jax.jit(self.exported.call).lower(*self._arguments).compile()
                    self._compiled = functools.partial(_call_flat, compiled)
                except Exception:  # a damaged file: forget it, trace as usual
                    self._path.unlink(missing_ok=True)
                    with _LOCK:
                        _LOADED.pop(self._key, None)
                    self._compiled = self._jitted
                self._arguments = None
        return self._compiled

    def __call__(self, *args):
        return self.compile()(*args)


def _call_flat(compiled, *args):
    return compiled(*jax.tree.leaves(args))


def _bind_linear_algebra() -> None:
    """jaxlib binds its CPU LAPACK kernels (Cholesky, triangular solves) when it first
    lowers a linear-algebra operation; older jax (0.8 among them) does not when it calls
    an exported program, whose kernels would then run unbound (a crash). Lowering a tiny
    Cholesky, without compiling it, binds them all, once per process."""
    if not _LINEAR_ALGEBRA_BOUND:
        jax.jit(jnp.linalg.cholesky).lower(jax.ShapeDtypeStruct((2, 2), jnp.float32))
        _LINEAR_ALGEBRA_BOUND.append(True)


def stored_program(jitted, args: tuple, *, name: str, static):
    """``jitted`` for arguments shaped like ``args``, as a :class:`StoredProgram`: read
    from the store, or traced, exported and stored. ``jitted`` itself when the store is
    off, the program cannot be exported (it calls back to the host), or the store fails.

    ``args`` may hold arrays or ``jax.ShapeDtypeStruct``; ``static`` is everything that
    shapes the program besides them (the model's sizes, the sampler's settings) and must
    have a stable ``repr``. Call this under the ``jax.enable_x64`` setting the program
    will run with.
    """
    try:
        directory = store_directory()
        if directory is None:
            return jitted
        leaves, tree = jax.tree.flatten(args)
        key = hashlib.sha256("\n".join(
            [_environment_fingerprint(), name, repr(static), _signature(leaves, tree)]
        ).encode()).hexdigest()  # fmt: skip
        with _LOCK:
            key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
        with key_lock:
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
            program = StoredProgram(exported, leaves, jitted=jitted, path=path, key=key)
            with _LOCK:
                _LOADED[key] = program
                while len(_LOADED) > LOADED_MAX:
                    _LOADED.popitem(last=False)
        return program
    except Exception:  # noqa: BLE001 - the store only saves time: without it, trace as usual
        return jitted


def _signature(leaves, tree) -> str:
    """The arguments' tree, shapes and dtypes; Python numbers are weakly typed, as JAX
    traces them."""

    def weak(leaf) -> bool:  # NumPy's float64 is a float, but not a weakly typed one
        return bool(getattr(leaf, "weak_type", type(leaf) in (int, float, complex)))

    return "|".join([str(tree)] + [
        f"{np.shape(leaf)}:{jnp.result_type(leaf)}:{weak(leaf)}" for leaf in leaves
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
            if not _private(os.fstat(file.fileno())):
                return None  # written by someone else: never run it
            exported = jax.export.deserialize(bytearray(file.read()))
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: trace anew
        path.unlink(missing_ok=True)
        return None
    try:
        os.utime(path)  # used now: among the last to be removed when the store is full
    except OSError:
        pass
    return exported


def _save(exported, path: Path) -> None:
    temporary = None
    try:
        blob = exported.serialize()
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
        os.replace(temporary, path)  # readers see the whole file or none
        temporary = None
        _evict(path.parent, keep=path)
    except Exception:  # a full or read-only disk: the program runs, unstored
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


def _evict(directory: Path, *, keep: Path) -> None:
    """Remove the least recently used programs while the store holds more than
    ``STORE_MAX_BYTES`` (never ``keep``, just written), and abandoned partial files."""
    now, programs = time.time(), []
    for path in directory.iterdir():
        try:
            status = path.stat()
        except OSError:  # removed meanwhile by another process
            continue
        if path.name.startswith(".partial-"):
            if now - status.st_mtime > ABANDONED_WRITE_SECONDS:
                path.unlink(missing_ok=True)
        elif path.suffix == ".jaxexport" and path != keep:
            programs.append((status.st_mtime, status.st_size, path))
    total = keep.stat().st_size + sum(size for _, size, _ in programs)
    for _, size, path in sorted(programs):
        if total <= STORE_MAX_BYTES:
            break
        try:
            path.unlink(missing_ok=True)
        except OSError:  # in use elsewhere, or not ours to remove: the next one instead
            continue
        total -= size
