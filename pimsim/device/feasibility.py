"""Whether a device can run a compute scheme: every sense (logic) operation the scheme uses must
have a margin of at least ``circuit.sense_amp_min_margin_frac``.

Every path calls it: the cost model (:func:`pimsim.simulate.costs.family_costs`, so cost-only
simulate, sweeps and the API), and the bit-exact kernel (through :func:`check_margin`). The
mapping states its operations (``ChipMapping.sense_ops``; the bit-serial scheme: ``and2``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pimsim.device.margins import check_margin

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams


def check_feasible(params: DeviceParams, sense_ops: Iterable[str]) -> dict[str, float]:
    """The margin of each op in ``sense_ops``; the first one below the minimum raises the
    one-line PimsimError ``<file>: mtj.tmr_ratio: and2 sense margin 0.091 is below ...``."""
    return {op: check_margin(params, op) for op in sense_ops}
