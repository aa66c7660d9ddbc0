"""Reusable scratch arrays, one set per Python thread.

A fresh large numpy array is mapped by malloc page by page, and the first touch of each 4 KiB
page faults: for a 64 -> 64 channel 3x3 layer the fast kernel's temporaries (about 2 MB) cost
more in page faults than its arithmetic. Each thread keeps one buffer per name, grown as
needed and reused by later calls; the largest layer seen sets the memory held. (Calls from
several Python threads at once also need numba's omp or tbb threading layer: its workqueue
layer is not thread-safe.)
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()


def scratch(name: str, size: int, dtype: type) -> np.ndarray:
    """A 1-D array of ``size`` elements of ``dtype``, uninitialized, private to this thread
    until the next ``scratch(name, ...)`` call on it."""
    pool: dict[str, np.ndarray] = _local.__dict__.setdefault("pool", {})
    buf = pool.get(name)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = np.empty(size, dtype)
        pool[name] = buf
    return buf[:size]
