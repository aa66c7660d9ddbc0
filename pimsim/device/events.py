"""Counted sub-array events, the table that prices them, and their cost under a device.

Each event kind is an action in the sense of Accelergy: declared once in :data:`SUBARRAY_EVENTS`
with the :class:`EventCounts` fields that count it, what it counts, a label, and its price per
action from the device and circuit parameters (:class:`ActionPrice`). Costs are linear in the
counts, so the events of layers and sub-nets simply add. Chip-level events (bus, weight reload,
leakage) form the second tier, in ``pimsim.mapper.cost.CHIP_EVENTS``.

A sensed result stays in the sense amplifiers' latches for the bit-counter; it is not written
back. Every bit written into or read out of a sub-array passes the mat buffer once. Latency is
the serial sum for one sub-array executing its events one after another (an upper bound; the
mapper models parallel sub-arrays and pipelining).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams


@dataclass(frozen=True)
class EventCounts:
    """Counts of sub-array events; ``*_bits`` fields count the columns or bits each touched.

    Every field is priced by exactly one entry of :data:`SUBARRAY_EVENTS`."""

    row_reads: int = 0
    row_read_bits: int = 0
    row_writes: int = 0
    row_write_bits: int = 0
    and2_senses: int = 0
    and2_sense_bits: int = 0
    or2_senses: int = 0
    or2_sense_bits: int = 0
    xor2_senses: int = 0
    xor2_sense_bits: int = 0
    maj3_senses: int = 0
    maj3_sense_bits: int = 0
    bitcounts: int = 0
    bitcount_bits: int = 0
    shift_adds: int = 0

    def __add__(self, other: EventCounts) -> EventCounts:
        return EventCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def __mul__(self, k: int) -> EventCounts:
        return EventCounts(**{f.name: getattr(self, f.name) * k for f in fields(self)})

    __rmul__ = __mul__

    @property
    def logic_senses(self) -> int:
        """All multi-row (logic) senses."""
        return sum(getattr(self, e.count_field) for e in SUBARRAY_EVENTS if e.logic_rows)

    def as_dict(self) -> dict[str, int]:
        """Plain ``{field: count}``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ActionPrice:
    """Price of one kind of action: ``E = bits * energy_per_bit_pj + n * energy_per_event_pj``,
    ``t = n * latency_ns`` for ``n`` actions touching ``bits`` columns or bits in all."""

    energy_per_bit_pj: float
    energy_per_event_pj: float
    latency_ns: float


@dataclass(frozen=True)
class SubarrayEvent:
    """One kind of sub-array action.

    ``name`` names the cost columns (``energy_<name>_pj``); ``count_field`` and ``bits_field``
    are the :class:`EventCounts` fields counting the actions and the bits they touch (``None``:
    not bit-proportional); ``logic_rows`` is the number of rows a logic sense activates (0 for
    other actions); ``price`` gives the cost per action under a device.
    """

    name: str
    count_field: str
    bits_field: str | None
    unit: str
    counts: str
    label: str
    price: Callable[[DeviceParams], ActionPrice]
    logic_rows: int = 0


def _row_read(p: DeviceParams) -> ActionPrice:
    """Per column: read_bit + buffer_bit; per row: decoder;  t = read + decoder."""
    d, c = p.derived, p.circuit
    return ActionPrice(d.read_bit_energy_pj + c.buffer_energy_per_bit_pj,
                       c.decoder_driver_energy_pj, d.read_latency_ns + c.decoder_driver_latency_ns)


def _row_write(p: DeviceParams) -> ActionPrice:
    """Per column: write_bit + buffer_bit; per row: decoder;  t = write + decoder."""
    d, c = p.derived, p.circuit
    return ActionPrice(d.write_bit_energy_pj + c.buffer_energy_per_bit_pj,
                       c.decoder_driver_energy_pj,
                       d.write_latency_ns + c.decoder_driver_latency_ns)


def _sense(rows: int, second_reference: bool = False) -> Callable[[DeviceParams], ActionPrice]:
    """k-row sense: per column read_bit + (k - 1) * cell_read (one bit-line charge, k cell
    currents; + sense_amp for a second reference, XOR2); per sense k decoders;
    t = read + decoder."""

    def price(p: DeviceParams) -> ActionPrice:
        d, c = p.derived, p.circuit
        per_bit = d.read_bit_energy_pj + (rows - 1) * d.cell_read_energy_pj
        if second_reference:
            per_bit += c.sense_amp_energy_pj
        return ActionPrice(per_bit, rows * c.decoder_driver_energy_pj,
                           d.read_latency_ns + c.decoder_driver_latency_ns)

    return price


def _bitcount(p: DeviceParams) -> ActionPrice:
    """Per bit: bitcounter_per_bit;  t = bitcounter."""
    c = p.circuit
    return ActionPrice(c.bitcounter_energy_per_bit_pj, 0.0, c.bitcounter_latency_ns)


def _shift_add(p: DeviceParams) -> ActionPrice:
    """Per action: shift_adder + accumulator read and write (``derived.shift_add_energy_pj``);
    t = shift_adder."""
    return ActionPrice(0.0, p.derived.shift_add_energy_pj, p.circuit.shift_adder_latency_ns)


SUBARRAY_EVENTS: tuple[SubarrayEvent, ...] = (
    SubarrayEvent("row_read", "row_reads", "row_read_bits", "row; bits = columns",
                  "rows read out through the mat buffer", "row reads", _row_read),
    SubarrayEvent("row_write", "row_writes", "row_write_bits", "row; bits = columns",
                  "rows written (activation bit-planes; weights under weight reload)",
                  "row writes", _row_write),
    SubarrayEvent("and2", "and2_senses", "and2_sense_bits", "2-row sense; bits = columns",
                  "AND2 senses of a weight and an activation bit-plane", "AND2 senses",
                  _sense(2), logic_rows=2),
    SubarrayEvent("or2", "or2_senses", "or2_sense_bits", "2-row sense; bits = columns",
                  "OR2 senses", "OR2 senses", _sense(2), logic_rows=2),
    SubarrayEvent("xor2", "xor2_senses", "xor2_sense_bits", "2-row sense; bits = columns",
                  "XOR2 senses (two references)", "XOR2 senses", _sense(2, True), logic_rows=2),
    SubarrayEvent("maj3", "maj3_senses", "maj3_sense_bits", "3-row sense; bits = columns",
                  "MAJ3 senses", "MAJ3 senses", _sense(3), logic_rows=3),
    SubarrayEvent("bitcount", "bitcounts", "bitcount_bits", "count; bits = bits counted",
                  "bit-counts of a sensed chunk", "bit-counts", _bitcount),
    SubarrayEvent("shift_add", "shift_adds", None, "shift-add",
                  "shift-adds of a count into an output accumulator", "shift-adds", _shift_add),
)


@dataclass(frozen=True)
class Cost:
    """Energy and serial latency by event kind (the names of :data:`SUBARRAY_EVENTS`)."""

    energy_pj: dict[str, float]
    latency_ns: dict[str, float]

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())

    @property
    def total_latency_ns(self) -> float:
        """The serial sum, logic senses last (the summation order pimsim has always used, so
        float results stay bit-identical across versions)."""
        kinds = sorted(SUBARRAY_EVENTS, key=lambda kind: kind.logic_rows > 0)
        return sum(self.latency_ns[kind.name] for kind in kinds)


@lru_cache(maxsize=64)
def prices(params: DeviceParams) -> dict[str, ActionPrice]:
    """The :class:`ActionPrice` of every kind of :data:`SUBARRAY_EVENTS` under ``params``, by
    name (remembered: a sweep prices the same device thousands of times)."""
    return {kind.name: kind.price(params) for kind in SUBARRAY_EVENTS}


def cost(events: EventCounts, params: DeviceParams) -> Cost:
    """Energy (pJ) and serial latency (ns) of ``events`` under ``params``: each kind of
    :data:`SUBARRAY_EVENTS` at its :class:`ActionPrice`."""
    energy, latency = {}, {}
    table = prices(params)
    for kind in SUBARRAY_EVENTS:
        price = table[kind.name]
        n = getattr(events, kind.count_field)
        bits = getattr(events, kind.bits_field) if kind.bits_field else 0
        energy[kind.name] = bits * price.energy_per_bit_pj + n * price.energy_per_event_pj
        latency[kind.name] = n * price.latency_ns
    return Cost(energy_pj=energy, latency_ns=latency)
