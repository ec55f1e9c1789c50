"""JAX's persistent compilation cache, so a new process starts with the sampler compiled.

Compiling the sampler for a new model shape takes seconds; JAX can keep compiled
programs on disk and reuse them in later processes. sklearn_hier switches this
on when it first prepares data for a fit (importing it changes nothing in JAX's
configuration),
in a per-user directory only its owner can write (JAX treats the cache as
trusted code), unless the user has configured a cache by then.

- ``SKLEARN_HIER_CACHE_DIR``: where to keep it (default ``~/.cache/sklearn_hier/jax``,
  or under ``XDG_CACHE_HOME``).
- ``SKLEARN_HIER_COMPILATION_CACHE=0``: leave JAX's configuration untouched.
"""

import os
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    if os.environ.get("SKLEARN_HIER_CACHE_DIR"):
        return Path(os.environ["SKLEARN_HIER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sklearn_hier" / "jax"


_CHECKED = False


def cache_enabled() -> bool:
    """Whether compiled programs may be kept on disk (``SKLEARN_HIER_COMPILATION_CACHE``)."""
    return os.environ.get("SKLEARN_HIER_COMPILATION_CACHE", "1") != "0"


def ensure_persistent_cache() -> None:
    """Turn the cache on before the first compiled program of a fit (once per process)."""
    global _CHECKED
    if not _CHECKED:
        _CHECKED = True
        enable_persistent_cache()


def enable_persistent_cache() -> Path | None:
    """Point JAX's compilation cache at our directory; return it (None when left alone)."""
    if not cache_enabled():
        return None
    if jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None  # the user chose a cache (or none) already
    directory = default_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.access(directory, os.W_OK):
            return None
    except OSError:
        return None  # a read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", str(directory))
    # the sampler takes seconds to compile, and its helpers (group lookup, key splits)
    # tens of milliseconds each: worth keeping too; trivial programs are not worth a file
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.02)
    from jax.experimental.compilation_cache import compilation_cache

    compilation_cache.reset_cache()  # re-read the setting if JAX already compiled something
    return directory
