"""Memory technologies: one module per technology in this package, found automatically.

A technology module defines ``TECHNOLOGY``, an instance of :class:`Technology`; a device file
selects it with ``technology: <name>`` and gives its parameter group (``<group>:``) next to the
shared ``cell``, ``circuit`` and ``array`` groups. Modules without ``TECHNOLOGY`` are helpers
(:mod:`.mtj`). :func:`register_technology` adds one defined elsewhere (a plug-in, a test).
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pimsim.errors import PimsimError

if TYPE_CHECKING:
    from pimsim.device.groups import CellParams


class Technology(ABC):
    """What a technology adds to the shared cell/circuit/array model.

    ``name``: the file's ``technology:`` value; ``group``: the name of its own parameter group,
    read into the frozen dataclass ``params_cls``; ``margin_key``: the ``group.key`` an error
    names when a sense margin is too small. Methods receive the validated ``cell`` group and the
    technology's own ``group`` instance.
    """

    name: ClassVar[str]
    group: ClassVar[str]
    params_cls: ClassVar[type]
    margin_key: ClassVar[str]

    @abstractmethod
    def validate(self, where: str, cell: CellParams, group: Any) -> None:
        """Checks beyond the values' types and ranges; a one-line PimsimError naming ``where``."""

    @abstractmethod
    def read_current_ua(self, group: Any) -> float:
        """Mean current one activated cell draws from the supply during a sense, uA (0 where
        the cell current only discharges the bit line, counted in its swing)."""

    @abstractmethod
    def bitline_swing_v(self, group: Any) -> float:
        """Voltage swing of a bit line during one sense, V."""

    @abstractmethod
    def physics_write_energy_pj(self, cell: CellParams, group: Any) -> float | None:
        """Write energy per bit from the technology's physics, pJ (None: the file gives it)."""

    @abstractmethod
    def cell_leakage_nw(self, group: Any) -> float:
        """Leakage of one powered cell, nW."""

    @abstractmethod
    def margins(self, group: Any) -> dict[str, float]:
        """Relative sense margin of ``read`` and of each logic op (``and2``, ``or2``, ``xor2``,
        ``maj3``); 0 for an op the technology cannot sense."""

    def check_margin(self, where: str, group: Any, minimum_frac: float, op: str) -> float:
        """The margin of ``op``; PimsimError naming :attr:`margin_key` if below ``minimum_frac``
        (``circuit.sense_amp_min_margin_frac``)."""
        margins = self.margins(group)
        if op not in margins:
            raise PimsimError(f"{where}: unknown sense operation {op!r}; known: {list(margins)}")
        margin = margins[op]
        if margin < minimum_frac:
            raise PimsimError(
                f"{where}: {self.margin_key}: {op} sense margin {margin:.3f} is below "
                f"circuit.sense_amp_min_margin_frac {minimum_frac}"
            )
        return margin


_REGISTRY: dict[str, Technology] = {}
_discovered = False


def register_technology(technology: Technology) -> Technology:
    """Make ``technology`` selectable by its name; another object under the same name is refused."""
    known = _REGISTRY.setdefault(technology.name, technology)
    if known is not technology:
        raise ValueError(f"technology {technology.name!r} is already registered")
    return technology


def _discover() -> None:
    """Register the ``TECHNOLOGY`` of every module of this package (once)."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        technology = getattr(module, "TECHNOLOGY", None)
        if technology is not None:
            register_technology(technology)


def known_technologies() -> dict[str, Technology]:
    """Every registered technology by name."""
    _discover()
    return dict(_REGISTRY)


def get_technology(name: str, where: str) -> Technology:
    """The technology called ``name``; a one-line error naming ``where`` if there is none."""
    known = known_technologies()
    if name not in known:
        raise PimsimError(
            f"{where}: technology: must be one of {', '.join(sorted(known))}, got {name!r}"
        )
    return known[name]
