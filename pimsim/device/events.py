"""Counted sub-array events and their cost (energy and latency) under a device.

Each event kind is an Accelergy-style action with a cost in pJ and ns; the totals are linear in
the counts, so events of layers and sub-nets simply add. Costs per event:

    row read   (c cols): E = c * (read_bit + buffer_bit) + decoder;   t = read + decoder
    row write  (c cols): E = c * (write_bit + buffer_bit) + decoder;  t = write + decoder
    k-row sense (c cols): E = c * (read_bit + (k - 1) * cell_read) + k * decoder
                          (+ c * sense_amp for XOR2, a second reference); t = read + decoder
    bit-count  (c bits): E = c * bitcounter_per_bit;                   t = bitcounter
    shift-add:           E = shift_adder;                              t = shift_adder

A sensed result stays in the sense amplifiers' latches for the bit-counter; it is not written
back. Every bit written into or read out of a sub-array passes the mat buffer once. Latency is
the serial sum for one sub-array executing its events one after another (an upper bound; the
mapper models parallel sub-arrays and pipelining).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pimsim.device.params import DeviceParams


@dataclass(frozen=True)
class EventCounts:
    """Counts of sub-array events; ``*_bits`` fields count the columns or bits each touched."""

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
        """All multi-row senses."""
        return self.and2_senses + self.or2_senses + self.xor2_senses + self.maj3_senses

    def as_dict(self) -> dict[str, int]:
        """Plain ``{field: count}``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Cost:
    """Energy and serial latency by event kind."""

    energy_pj: dict[str, float]
    latency_ns: dict[str, float]

    @property
    def total_energy_pj(self) -> float:
        return sum(self.energy_pj.values())

    @property
    def total_latency_ns(self) -> float:
        return sum(self.latency_ns.values())


def cost(events: EventCounts, params: DeviceParams) -> Cost:
    """Energy (pJ) and serial latency (ns) of ``events`` under ``params``; formulas above."""
    d, c = params.derived, params.circuit
    dec_e, dec_t = c.decoder_driver_energy_pj, c.decoder_driver_latency_ns
    sense_t = d.read_latency_ns + dec_t
    energy = {
        "row_read": events.row_read_bits * (d.read_bit_energy_pj + c.buffer_energy_per_bit_pj)
        + events.row_reads * dec_e,
        "row_write": events.row_write_bits * (d.write_bit_energy_pj + c.buffer_energy_per_bit_pj)
        + events.row_writes * dec_e,
        "bitcount": events.bitcount_bits * c.bitcounter_energy_per_bit_pj,
        "shift_add": events.shift_adds * c.shift_adder_energy_pj,
    }
    latency = {
        "row_read": events.row_reads * (d.read_latency_ns + dec_t),
        "row_write": events.row_writes * (d.write_latency_ns + dec_t),
        "bitcount": events.bitcounts * c.bitcounter_latency_ns,
        "shift_add": events.shift_adds * c.shift_adder_latency_ns,
    }
    for op, rows in (("and2", 2), ("or2", 2), ("xor2", 2), ("maj3", 3)):
        n, bits = getattr(events, f"{op}_senses"), getattr(events, f"{op}_sense_bits")
        per_bit = d.read_bit_energy_pj + (rows - 1) * d.cell_read_energy_pj
        if op == "xor2":
            per_bit += c.sense_amp_energy_pj
        energy[op] = bits * per_bit + n * rows * dec_e
        latency[op] = n * sense_t
    return Cost(energy_pj=energy, latency_ns=latency)
