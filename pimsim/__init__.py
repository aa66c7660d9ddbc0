"""pimsim: dynamic neural networks on SOT-MRAM processing-in-memory hardware."""

import os

__version__ = "0.1.0"


def _numba_cache_dir() -> str:
    """Where numba keeps pimsim's compiled ``cache=True`` kernels: ``$NUMBA_CACHE_DIR`` when the
    user set it, else ``$XDG_CACHE_HOME/pimsim/numba`` (``~/.cache/pimsim/numba``): a per-user
    folder, never beside the installed sources (files there outlive an uninstall)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("NUMBA_CACHE_DIR") or os.path.join(base, "pimsim", "numba")


# numba reads its configuration once, when first imported; every pimsim module that uses numba
# imports this package first.
os.environ["NUMBA_CACHE_DIR"] = _numba_cache_dir()
