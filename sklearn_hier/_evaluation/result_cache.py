"""Results kept per distinct data: a small LRU keyed by a fingerprint of the data's values.

Scorers that fit nuisance models on the rows they score (the R-loss's outcome and
propensity models) give the same result for the same rows whatever model is scored;
a grid search scores every candidate on the same folds, so the fits are kept.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    entries: int


def data_fingerprint(frame: pd.DataFrame, *arrays) -> str:
    """SHA-256 of a frame's column names, dtypes and values (row order included) and of
    further arrays or strings: equal for equal data, different (but for hash collisions)
    otherwise."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    for array in arrays:
        if isinstance(array, str):
            digest.update(array.encode())
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def settings_key(*objects) -> str:
    """Every parameter of every object (``get_params(deep=True)``), as text: two settings
    that differ anywhere give different keys (reprs alone are shortened for long ones)."""
    parts = []
    for obj in objects:
        params = obj.get_params(deep=True) if hasattr(obj, "get_params") else {}
        parts.append((type(obj).__qualname__, repr(obj) if not params else None,
                      sorted((name, repr(value)) for name, value in params.items())))  # fmt: skip
    return repr(parts)


class ResultCache:
    """Least-recently-used results by key; safe to share between threads."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def get_or_compute(self, key: str, compute: Callable):
        with self._lock:
            if key in self._entries:
                self._hits += 1
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()  # outside the lock: other keys may be computed meanwhile
        with self._lock:
            self._misses += 1
            self._entries[key] = value
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries))
