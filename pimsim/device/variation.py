"""Device variation and the error probability of each sensed operation (MTJ technologies).

The ``variation:`` group of a device file (every leaf cited or ``assumption:``):

- ``sigma_rp``: each cell's R_P is log-normal, ``R_P,i = R_P exp(sigma_rp z)`` (z standard normal;
  a relative spread, dimensionless);
- ``sigma_tmr``: each cell's TMR is log-normal, ``TMR_i = TMR exp(sigma_tmr z)`` (R_AP,i =
  R_P,i (1 + TMR_i));
- ``sense_offset_sigma_ua``: the sense amplifier's input-referred current offset, normal with
  this sigma (uA);
- ``write_error_prob``: probability that a row write leaves a cell in the wrong state (the
  activation row writes; weights are written once and checked);
- ``stuck_at_frac``: fraction of weight cells stuck at 0 or 1 (half each), drawn per chip.

Sensing k rows (Pinatubo; :mod:`pimsim.device.technologies.mtj`) with the bit line clamped at
``mtj.read_voltage_v``: the cell current is ``I = V_read sum_i 1/R_i`` plus the offset. The
reference of an op sits midway (in current) between the nominal levels it separates; logic 1
is the anti-parallel state, so the result is 1 when ``I < I_ref``. The error probability of an
op for a true count ``a`` of AP cells among its rows is the probability that the sensed bit
differs from the Boolean result. :func:`sense_error_probs` integrates it: exactly (normal CDF)
over cell 1's R_P spread given the other variables, by Gauss-Hermite quadrature over those.
:func:`monte_carlo_error_probs` draws cells to check it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pimsim.errors import PimsimError
from pimsim.paramfile import read_leaf, short, show

QUADRATURE_POINTS = 16  # Gauss-Hermite nodes per variable (24 changes results by < 1e-4)
# The sensed ops: rows activated and the Boolean result for a AP cells among them.
SENSE_OPS: dict[str, tuple[int, tuple[int, ...]]] = {
    "read": (1, (0, 1)),
    "and2": (2, (0, 0, 1)),
    "or2": (2, (0, 1, 1)),
    "maj3": (3, (0, 0, 1, 1)),
}


@dataclass(frozen=True)
class VariationParams:
    """Cell-to-cell variation, sense-amplifier offset, write errors and stuck-at weight cells
    (module docstring). Sigmas are >= 0; probabilities and fractions lie in [0, 1]."""

    sigma_rp: float = 0.0
    sigma_tmr: float = 0.0
    sense_offset_sigma_ua: float = 0.0
    write_error_prob: float = 0.0
    stuck_at_frac: float = 0.0


PROBABILITY_KEYS = ("write_error_prob", "stuck_at_frac")


def check_variation_value(where: str, key: str, value: Any) -> float:
    """A finite number; >= 0 (a sigma) and <= 1 for a probability or fraction."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        raise PimsimError(f"{where}: variation.{key}: must be a finite number, got {show(value)}")
    if key in PROBABILITY_KEYS and not 0 <= value <= 1:
        raise PimsimError(f"{where}: variation.{key}: must lie in [0, 1] (a probability), "
                          f"got {show(value)}")
    if value < 0:
        raise PimsimError(f"{where}: variation.{key}: must be >= 0 (a sigma), got {show(value)}")
    return float(value)


def parse_variation(where: str, raw: Any, notes: dict[str, str]) -> VariationParams:
    """The ``variation:`` group: cited leaves, unknown keys refused, missing keys 0."""
    if not isinstance(raw, Mapping):
        raise PimsimError(f"{where}: variation: must be a mapping, got {show(raw)}")
    known = [f.name for f in dataclasses.fields(VariationParams)]
    values = {}
    for key, leaf in raw.items():
        if key not in known:
            raise PimsimError(f"{where}: variation.{short(key)}: unknown key (a typo?); known: "
                              f"{', '.join(known)}")
        value, note = read_leaf(where, f"variation.{key}", leaf)
        values[key] = check_variation_value(where, key, value)
        notes[f"variation.{key}"] = note
    return VariationParams(**values)


def variation_with_overrides(where: str, variation: VariationParams,
                             overrides: Mapping[str, Any]) -> VariationParams:
    """``variation`` with ``{"sigma_rp": 0.05}`` replaced, each value checked as in a file."""
    known = {f.name for f in dataclasses.fields(VariationParams)}
    for key, value in overrides.items():
        if key not in known:
            raise PimsimError(f"{where}: variation.{short(key)}: unknown key (a typo?); known: "
                              f"{', '.join(sorted(known))}")
        check_variation_value(where, key, value)
    return dataclasses.replace(variation, **{k: float(v) for k, v in overrides.items()})


def _phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, elementwise (math.erf)."""
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(np.asarray(x) / math.sqrt(2.0)))


def reference_ua(resistance_p_ohm: float, tmr_ratio: float, read_voltage_v: float, rows: int,
                 op: str) -> float:
    """I_ref midway between the nominal currents of the two levels ``op`` separates (uA)."""
    results = SENSE_OPS[op][1]
    a = next(i for i in range(rows) if results[i] != results[i + 1])  # a -> a + 1 AP cells
    g_p, g_ap = 1 / resistance_p_ohm, 1 / (resistance_p_ohm * (1 + tmr_ratio))
    level = [(rows - k) * g_p + k * g_ap for k in (a, a + 1)]
    return read_voltage_v * 1e6 * 0.5 * sum(level)


@functools.lru_cache(maxsize=256)
def sense_error_probs(resistance_p_ohm: float, tmr_ratio: float, read_voltage_v: float,
                      variation: VariationParams, op: str) -> tuple[float, ...]:
    """P(sensed bit wrong) of ``op`` for each count a = 0..rows of AP cells among its rows.

    Given every variable but cell 1's R_P, the error is a normal-CDF event in that cell's z:
    cell 1 conducts ``I_1 = V exp(-sigma_rp z) / (R_P (1 + TMR_1))`` (TMR_1 = 0 for a P cell)
    and the result is 1 iff ``I_1 < I_ref - offset - I_others``. The other variables (cell 1's
    TMR, the other cells' R_P and TMR, the offset) are integrated by Gauss-Hermite quadrature.
    """
    rows, results = SENSE_OPS[op]
    v = variation
    i_ref = reference_ua(resistance_p_ohm, tmr_ratio, read_voltage_v, rows, op)
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_POINTS)
    weights = weights / weights.sum()
    scale_ua = read_voltage_v * 1e6 / resistance_p_ohm
    probs = []
    for a in range(rows + 1):
        ap = [i < a for i in range(rows)]  # which cells are AP (the order does not matter)
        # Integrated variables: offset, cell 1's TMR (if AP), other cells' R_P and TMR (if AP).
        spreads = [v.sense_offset_sigma_ua]
        spreads += [v.sigma_tmr] if ap[0] else []
        for i in range(1, rows):
            spreads += [v.sigma_rp] + ([v.sigma_tmr] if ap[i] else [])
        grids = np.meshgrid(*[nodes if s > 0 else np.zeros(1) for s in spreads], indexing="ij")
        wgrids = np.meshgrid(*[weights if s > 0 else np.ones(1) for s in spreads],
                             indexing="ij")
        z = [g.ravel() for g in grids]
        w = np.prod([g.ravel() for g in wgrids], axis=0)
        k = 0
        offset = spreads[k] * z[k]
        k += 1
        tmr1 = 0.0
        if ap[0]:
            tmr1 = tmr_ratio * np.exp(spreads[k] * z[k])
            k += 1
        others = np.zeros_like(w)
        for i in range(1, rows):
            rp = np.exp(spreads[k] * z[k])
            k += 1
            tmr = 0.0
            if ap[i]:
                tmr = tmr_ratio * np.exp(spreads[k] * z[k])
                k += 1
            others = others + scale_ua / (rp * (1 + tmr))
        room = (i_ref - offset - others) * (1 + tmr1) / scale_ua  # I_1 < room * scale / (1+T1)
        positive = np.maximum(room, 1e-300)
        if v.sigma_rp > 0:  # exp(-sigma z) < room  <=>  z > -ln(room) / sigma
            p_one = np.where(room > 0, _phi(np.log(positive) / v.sigma_rp), 0.0)
        else:
            p_one = (room > 1).astype(float)
        p_one = float(np.dot(w, p_one))
        probs.append(1.0 - p_one if results[a] else p_one)
    return tuple(min(max(p, 0.0), 1.0) for p in probs)


def monte_carlo_error_probs(resistance_p_ohm: float, tmr_ratio: float, read_voltage_v: float,
                            variation: VariationParams, op: str, senses: int,
                            rng: np.random.Generator) -> tuple[float, ...]:
    """The error probabilities of :func:`sense_error_probs` estimated from ``senses`` draws of
    cells and offsets per AP count."""
    rows, results = SENSE_OPS[op]
    v = variation
    i_ref = reference_ua(resistance_p_ohm, tmr_ratio, read_voltage_v, rows, op)
    probs = []
    for a in range(rows + 1):
        current = rng.normal(0.0, 1.0, senses) * v.sense_offset_sigma_ua
        for i in range(rows):
            r = resistance_p_ohm * np.exp(v.sigma_rp * rng.standard_normal(senses))
            if i < a:
                r = r * (1 + tmr_ratio * np.exp(v.sigma_tmr * rng.standard_normal(senses)))
            current += read_voltage_v * 1e6 / r
        sensed_one = current < i_ref
        probs.append(float(np.mean(sensed_one != bool(results[a]))))
    return tuple(probs)


@dataclass(frozen=True)
class FaultRates:
    """Per-operation error probabilities the fault-injecting kernel uses: ``and2`` indexed by
    the count of AP (logic 1) cells among the weight and activation bit, a row write's error
    probability, and the stuck-at fraction of weight cells."""

    and2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    write: float = 0.0
    stuck_at_frac: float = 0.0

    def __post_init__(self) -> None:
        for name, p in (("and2", max(self.and2)), ("and2", min(self.and2)),
                        ("write", self.write), ("stuck_at_frac", self.stuck_at_frac)):
            if not 0.0 <= p <= 1.0:
                raise PimsimError(f"fault rates: {name}: must lie in [0, 1], got {p}")

    @property
    def zero(self) -> bool:
        """No fault at all (the kernel then runs its fault-free path)."""
        return max(self.and2) == 0 and self.write == 0 and self.stuck_at_frac == 0

    @classmethod
    def uniform(cls, error_prob: float) -> FaultRates:
        """Every sensed bit and written bit wrong with ``error_prob``; no stuck cells."""
        return cls((error_prob,) * 3, error_prob, 0.0)


def op_error_probs(params: Any, ops: tuple[str, ...] = ("read", "and2")) -> dict[str, float]:
    """Worst-case (over the AP count) error probability of each op of an MTJ device; the
    ``p_err_<op>`` columns. A device without a variation group has none (0)."""
    if params.variation is None:
        return dict.fromkeys(ops, 0.0)
    mtj = _mtj_group(params)
    return {op: max(sense_error_probs(mtj.resistance_p_ohm, mtj.tmr_ratio, mtj.read_voltage_v,
                                      params.variation, op)) for op in ops}


def fault_rates(params: Any) -> FaultRates:
    """The kernel's :class:`FaultRates` of a device (:func:`sense_error_probs` of AND2 and the
    variation group's write error and stuck-at fraction)."""
    if params.variation is None:
        return FaultRates()
    mtj = _mtj_group(params)
    v = params.variation
    and2 = sense_error_probs(mtj.resistance_p_ohm, mtj.tmr_ratio, mtj.read_voltage_v, v, "and2")
    return FaultRates(and2, v.write_error_prob, v.stuck_at_frac)


def _mtj_group(params: Any) -> Any:
    if params.tech.group != "mtj":
        raise PimsimError(f"{params.path}: variation: the sensing error model needs an MTJ "
                          f"technology, not {params.technology}")
    return params.tech_params
