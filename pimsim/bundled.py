"""The parameter files pimsim ships: device presets (``device_params/``) and chip mappings
(``mappings/``).

The source tree keeps them in top-level folders; a wheel holds them inside the package as
``pimsim/device_params/`` and ``pimsim/mappings/`` (pyproject's ``package-dir``). Both layouts
are found from the location of the imported ``pimsim`` package (:mod:`importlib.resources`):
inside it (a wheel install), else beside it (a source checkout, installed editable or not).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_dir(name: str) -> Path:
    """The folder of the shipped files ``name`` (``"device_params"`` or ``"mappings"``)."""
    package = Path(str(files("pimsim")))  # pip installs packages as plain files, never zipped
    inside = package / name
    return inside if inside.is_dir() else package.parent / name
