"""Validation report: pimsim against published figures for the same network and precision.

Run: ``.venv/bin/python benchmarks/validation.py [--out reports/validation.csv]`` (a few s).
Writes one row per compared quantity (pimsim's value, the published value, their ratio, the
source, and what explains the difference) to ``reports/validation.csv`` and prints the table.
``--sensitivity`` also writes ``reports/sensitivity.csv``: for every ``assumption:`` value of
the default device preset and mapping, how much resnet18's (w1, 8-bit, 224 x 224) energy,
latency and chip area move when that value doubles (the assumption table of
``device_params/README.md``).
pimsim's values are computed here from the code (presets, mapping, cost model); only the
published figures are written down, each with its source:

- NeuroSim V1.4 (SRAM, 22 nm, 128 x 128 arrays, 8-bit, analog partial sums through ADCs),
  ResNet-18 on ImageNet (224 x 224) and VGG-8 on CIFAR-10 (32 x 32): the project's hardware
  notes, section 6b (raw energies; NeuroSim counts only the MACs of valid windows, pimsim
  counts every MAC of the layer as executed; each energy per MAC uses its own tool's count);
- Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm per-operation energies;
- Prenat et al., IEEE TMSCS 2(1) 2016, Table 1: one isolated SOT-MRAM bit access;
- IMCE (Angizi et al., ASP-DAC 2018, abstract): a low bit-width AlexNet on ImageNet on SOT-MRAM
  computational sub-arrays, 785.25 uJ per image (its bit-widths are not in the abstract: pimsim
  runs AlexNet at ``IMCE_BITS``, an assumption, so that row is a sanity band only).

pimsim is uncalibrated against silicon: the ratios are sanity bands, not errors.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from pimsim.device import DeviceParams, EventCounts, cost, load_device_params, with_overrides
from pimsim.mapper import ChipMapping, GemmLayer, load_mapping, mapping_with_overrides
from pimsim.simulate import cost_only_family, family_costs, layers_from_module

BITS = 8
IMCE_BITS = 2  # assumption: IMCE's "low bit-width" AlexNet; its abstract gives no bit-widths
NEUROSIM = "NeuroSim V1.4, SRAM 22 nm, 128x128, 8-bit (hardware notes 6b)"
NEUROSIM_WHY = ("NeuroSim: 22 nm SRAM, analog bit-line MAC of 64 rows at once with ADCs; pimsim: "
                "45 nm digital bit-serial logic, one AND2 sense per weight-bit x activation-bit "
                "pair (64 per 8-bit MAC) plus bit-count and shift-add")
HOROWITZ = "Horowitz, ISSCC 2014, 45 nm"
PRENAT = "Prenat et al. 2016, Table 1 (65 nm)"
COLUMNS = ("network", "quantity", "unit", "pimsim", "published", "ratio", "source", "explanation")

# Published NeuroSim V1.4 figures (hardware notes, section 6b).
NEUROSIM_FIGURES = {
    "resnet18": {"energy_per_image_uj": 259.2, "macs": 1.4385e9, "latency_ms": 3.49,
                 "fps": 764.0, "chip_area_mm2": 106.71, "array_area_mm2": 22.45},
    "vgg8": {"energy_per_image_uj": 58.6, "macs": 0.445e9, "latency_ms": 0.35, "fps": 6510.0,
             "chip_area_mm2": 84.40, "array_area_mm2": 21.0},
}


@dataclass(frozen=True)
class Row:
    """One compared quantity; ``ratio`` = pimsim / published."""

    network: str
    quantity: str
    unit: str
    pimsim: float
    published: float
    source: str
    explanation: str

    @property
    def ratio(self) -> float:
        return self.pimsim / self.published

    def as_dict(self) -> dict[str, object]:
        return {"network": self.network, "quantity": self.quantity, "unit": self.unit,
                "pimsim": f"{self.pimsim:.4g}", "published": f"{self.published:.4g}",
                "ratio": f"{self.ratio:.3g}", "source": self.source,
                "explanation": self.explanation}


def vgg8() -> nn.Module:
    """NeuroSim's VGG-8 for CIFAR-10: 3x3 convs 128-128-M-256-256-M-512-512-M, FC 8192-1024-10
    (615,917,568 MACs)."""

    def conv(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.ReLU()]

    return nn.Sequential(
        *conv(3, 128), *conv(128, 128), nn.MaxPool2d(2),
        *conv(128, 256), *conv(256, 256), nn.MaxPool2d(2),
        *conv(256, 512), *conv(512, 512), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8192, 1024, bias=False), nn.ReLU(), nn.Linear(1024, 10, bias=False),
    )


def alexnet() -> nn.Module:
    """Single-tower AlexNet for 224 x 224 ImageNet (torchvision's layout, about 0.71 G MACs)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2, bias=False), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2, bias=False), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(9216, 4096, bias=False), nn.ReLU(),
        nn.Linear(4096, 4096, bias=False), nn.ReLU(), nn.Linear(4096, 1000, bias=False),
    )


def imce_rows(params: DeviceParams, mapping: ChipMapping) -> list[Row]:
    """AlexNet at ``IMCE_BITS`` against IMCE's published energy per image."""
    layers = layers_from_module(alexnet(), (3, 224, 224), IMCE_BITS)
    s = family_costs({"alexnet": layers}, params, mapping)[0].iloc[0]
    return [Row("alexnet", f"energy per image ({IMCE_BITS}-bit, assumed)", "uJ",
                s.energy_per_image_uj, 785.25,
                "IMCE, Angizi et al., ASP-DAC 2018 (abstract), SOT-MRAM",
                "same technology and AND + bit-count + shift scheme; IMCE's bit-widths, node "
                "and periphery are not in its abstract, so the precision here is an "
                "assumption: a sanity band, not a like-for-like comparison")]


def network_rows(name: str, layers: list[GemmLayer], params: DeviceParams,
                 mapping: ChipMapping) -> list[Row]:
    """pimsim's cost of one full-width network against NeuroSim V1.4's published figures."""
    subnets, _ = family_costs({name: layers}, params, mapping)
    s = subnets.iloc[-1]
    pub = NEUROSIM_FIGURES[name]
    chip = mapping.chip
    array_mm2 = s.subarrays * chip.rows * chip.cols * params.derived.cell_area_um2 * 1e-6
    area_col = "chip_area_mm2" if "chip_area_mm2" in subnets else "family_area_mm2"
    return [
        Row(name, "energy per image", "uJ", s.energy_per_image_uj, pub["energy_per_image_uj"],
            NEUROSIM, NEUROSIM_WHY),
        Row(name, "energy per MAC (each tool's MAC count)", "pJ", s.energy_pj / s.macs,
            pub["energy_per_image_uj"] * 1e6 / pub["macs"], NEUROSIM,
            "as energy per image; NeuroSim counts valid windows only (fewer MACs), pimsim "
            "every MAC executed"),
        Row(name, "latency per image (NeuroSim: sum of its layers)", "ms", s.latency_ns * 1e-6,
            pub["latency_ms"], NEUROSIM,
            f"pimsim: its mapping's schedule (execution '{mapping.policy.execution}'); "
            "NeuroSim duplicates weights per layer and reads 64 rows per analog step; "
            "pimsim's bit-serial step is one AND2 sense per bit pair"),
        Row(name, "frames per second", "1/s", s.fps, pub["fps"], NEUROSIM,
            "NeuroSim pipelines images over its layers; pimsim reports its mapping's "
            "execution mode"),
        Row(name, f"area ({area_col})", "mm^2", s[area_col], pub["chip_area_mm2"], NEUROSIM,
            "NeuroSim's chip at 22 nm includes ADCs, accumulation, buffers and interconnect "
            "of a duplicated floorplan; pimsim's column counts what its mapper places (45 nm: "
            "(45/22)^2 = 4.2x the area per cell and gate)"),
        Row(name, "cell-array area", "mm^2", array_mm2, pub["array_area_mm2"], NEUROSIM,
            "cells only: 1 bit per cell in both; NeuroSim 22 nm SRAM cells and duplicated "
            "weights, pimsim 45 nm cells of the sub-arrays the network occupies"),
    ]


def per_op_rows(sot: DeviceParams, sram: DeviceParams) -> list[Row]:
    """Per-operation energies of the default presets against Horowitz's 45 nm table and
    Prenat's single-bit SOT access."""
    cols = 256
    pairs = BITS * BITS
    chunk = EventCounts(and2_senses=pairs, and2_sense_bits=pairs * cols, bitcounts=pairs,
                        bitcount_bits=pairs * cols, shift_adds=pairs)
    mac_pj = cost(chunk, sot).total_energy_pj / cols
    d, c = sot.derived, sot.circuit
    return [
        Row("per op", "8-bit MAC in a 256-column chunk (AND2 + bit-count + shift-add)", "pJ",
            mac_pj, 0.2 + 0.03, f"{HOROWITZ}: 8-bit mult 0.2 + 8-bit add 0.03 pJ",
            "pimsim: 64 two-row sense columns (bit line, two cell currents, sense amplifier, "
            "decoder share), 64 counted bits, 64 shift-adds per 256 MACs; Horowitz: the "
            "arithmetic alone, operands already in registers"),
        Row("per op", "shift-add with accumulator read and write", "pJ", d.shift_add_energy_pj,
            0.1, f"{HOROWITZ}: 32-bit add 0.1 pJ",
            "the cited 32-bit add plus reading and writing the 32-bit accumulator register "
            "(Aladdin table, 0.009 pJ per bit)"),
        Row("per op", "bit-count of 8 bits", "pJ", 8 * c.bitcounter_energy_per_bit_pj, 0.03,
            f"{HOROWITZ}: 8-bit add 0.03 pJ",
            "assumption derived from this figure (one 1-bit full adder per counted bit)"),
        Row("per op", "SRAM read per bit (sram_45nm row sense)", "pJ",
            sram.derived.read_bit_energy_pj, 10 / 64,
            f"{HOROWITZ}: 8 KB SRAM 64-bit read 10 pJ",
            "pimsim: one column of a 256-row sub-array (bit line, sense amplifier); Horowitz: "
            "a whole 8 KB cache access with decoders, H-tree and output drivers"),
        Row("per op", "SOT-MRAM read per bit (row sense column)", "pJ", d.read_bit_energy_pj,
            1.8, f"{PRENAT}: read energy 1.8 pJ per bit with periphery",
            "Prenat: one isolated bit with its whole read path; a row sense shares decoder, "
            "drivers and control over 256 columns"),
        Row("per op", "SOT-MRAM write per bit", "pJ", d.write_bit_energy_pj, 0.1,
            f"{PRENAT}: write energy 0.1 pJ per bit with periphery", "the preset uses it"),
    ]


def validation_rows(networks: tuple[str, ...] = ("vgg8", "resnet18")) -> list[Row]:
    """Every row of the report; ``networks``: which NeuroSim comparisons to run."""
    sot, sram = load_device_params("sot_mram_45nm"), load_device_params("sram_45nm")
    mapping = load_mapping()
    rows = []
    for name in networks:
        if name == "vgg8":
            layers = layers_from_module(vgg8(), (3, 32, 32), BITS)
        else:
            layers = cost_only_family(name, [1.0], 224, 3, 1000, BITS)["w1"]
        rows += network_rows(name, layers, sot, mapping)
    return rows + imce_rows(sot, mapping) + per_op_rows(sot, sram)


def sensitivity_rows(params: DeviceParams, layers: list[GemmLayer],
                     mapping: ChipMapping) -> list[dict[str, object]]:
    """For every ``assumption:`` value of ``params`` and of ``mapping``: the relative change (%)
    of the network's energy, latency and chip area when that value doubles, everything else as
    it is."""
    def totals(p: DeviceParams, m: ChipMapping) -> tuple[float, float, float]:
        s = family_costs({"net": layers}, p, m)[0].iloc[0]
        return s.energy_pj, s.latency_ns, s.chip_area_mm2

    base = totals(params, mapping)
    out = []
    groups = {**params.groups, "chip": mapping.chip}
    for key, note in (*params.notes, *mapping.notes):
        if not note.startswith("assumption: "):
            continue
        group, _, name = key.partition(".")
        value = getattr(groups[group], name)
        if isinstance(value, bool) or group == "array":  # a family is costed on chip.rows/cols
            continue
        moved = (totals(params, mapping_with_overrides(mapping, {key: value * 2}))
                 if group == "chip" else totals(with_overrides(params, {key: value * 2}), mapping))
        out.append({"key": key, "value": value,
                    **{f"{what}_change_pct": f"{100 * (m / b - 1):+.1f}"
                       for what, m, b in zip(("energy", "latency", "area"), moved, base,
                                             strict=True)}})
    return out


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown(rows: list[Row]) -> str:
    """The table without its long explanation column (that stays in the CSV)."""
    head = "| network | quantity | unit | pimsim | published | ratio | source |"
    lines = [head, "| --- " * 7 + "|"]
    for r in rows:
        d = r.as_dict()
        lines.append("| " + " | ".join(str(d[k]) for k in COLUMNS[:-1]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/validation.csv", help="CSV to write")
    parser.add_argument("--networks", default="vgg8,resnet18",
                        help="comma-separated NeuroSim comparisons (vgg8, resnet18)")
    parser.add_argument("--sensitivity", action="store_true",
                        help="also write reports/sensitivity.csv next to --out")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    rows = validation_rows(tuple(args.networks.split(",")))
    write_csv([r.as_dict() for r in rows], Path(args.out))
    print(markdown(rows))
    print(f"\n{len(rows)} rows in {time.perf_counter() - t:.1f} s -> {args.out}")
    if args.sensitivity:
        path = Path(args.out).with_name("sensitivity.csv")
        layers = cost_only_family("resnet18", [1.0], 224, 3, 1000, BITS)["w1"]
        table = sensitivity_rows(load_device_params(), layers, load_mapping())
        write_csv(table, path)
        print("\n| key | value | energy | latency | chip area |\n| --- | --- | --- | --- | --- |")
        for r in table:
            print(f"| `{r['key']}` | {r['value']} | {r['energy_change_pct']} % | "
                  f"{r['latency_change_pct']} % | {r['area_change_pct']} % |")
        print(f"-> {path}")


if __name__ == "__main__":
    main()
