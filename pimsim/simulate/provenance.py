"""What produced a run, for its ``config.json``: the command line, the versions of pimsim, Python
and the numeric libraries, the git commit of a source checkout, and what a checkpoint holds
(network, data set, input size, training method). Deterministic: two runs of one command in
one checkout record the same."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pimsim import __version__

LIBRARIES = ("torch", "numpy", "numba", "pandas")


def provenance(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"argv": [...] or None, "versions": {...}, "git_commit": sha or None,
    "git_dirty": bool or None}``; ``argv``: the command line when a command ran."""
    commit, dirty = git_state(Path(__file__).resolve().parents[2])
    return {"argv": list(argv) if argv is not None else None,
            "versions": {"pimsim": __version__, "python": platform.python_version(),
                         **{name: _version(name) for name in LIBRARIES}},
            "git_commit": commit, "git_dirty": dirty}


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """``(commit, has uncommitted changes)`` of the git checkout ``folder`` (pimsim's source
    tree); ``(None, None)`` for an installed wheel or without git."""
    if not (folder / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain",
                                 "--untracked-files=no"], check=True, capture_output=True,
                                text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def checkpoint_network(meta: dict[str, Any]) -> dict[str, Any]:
    """The network a checkpoint holds, from its metadata (``load_checkpoint``'s second
    value): ``model``, ``dataset``, ``input_size`` (height x width, pixels), ``num_classes``,
    training ``method`` and ``bits`` (None: float)."""
    hw = meta["input_hw"]
    return {"model": meta["arch"], "dataset": meta.get("dataset", "digits"),
            "input_size": f"{hw[0]}x{hw[1]}", "num_classes": meta["num_classes"],
            "method": meta.get("meta", {}).get("train_config", {}).get("method"),
            "bits": meta.get("bits")}
