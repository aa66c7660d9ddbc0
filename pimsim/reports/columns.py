"""The column dictionary: every column of every CSV pimsim writes, with its unit and meaning.

One table (:data:`COLUMNS`) is the single place columns are described; ``docs/columns.md`` is
generated from it (``python -m pimsim.reports.columns > docs/columns.md``) and a test checks
that every column the commands write is here and that the document is up to date. The event
columns (counts, ``energy_<event>_pj``, ``latency_<event>_ns``) are generated from the event
tables (``pimsim.device.events.SUBARRAY_EVENTS``, ``pimsim.mapper.cost.CHIP_EVENTS``).

Vocabulary: accuracy columns say what ran (``top1_float``: float model; ``top1_fakequant``:
fake-quantized model; ``top1_int``: integer executor; ``top1_pim``: bit-serial PIM), as
fractions; ``val_`` prefixes figures on the validation split. ``technology`` is the memory
preset (its device file's ``name``), ``memory_type`` the technology family, ``compute_device``
cpu or cuda.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pimsim.device.events import SUBARRAY_EVENTS
from pimsim.mapper.cost import CHIP_EVENTS, EVENTS, energy_column

FILES: dict[str, str] = {
    "subnets.csv": "`pimsim simulate`, `pimsim demo`: one row per sub-net",
    "layers.csv": "`pimsim simulate`, `pimsim demo`: one row per layer per sub-net",
    "sweep.csv": "`pimsim sweep`, `pimsim demo`: one row per sub-net per design point",
    "latency.csv": "`pimsim latency`, `pimsim demo`: one row per sub-net, measured",
    "quantize.csv": "`pimsim quantize`: one row per sub-net",
    "eval.csv": "`pimsim eval --out`: one row per sub-net",
    "results.csv": "`pimsim train`: one row per sub-net",
    "train_log.csv": "`pimsim train`: one row per evaluation during training",
    "faults.csv": "`pimsim faults`: one row per sub-net per variation or error point",
    "adapt.csv": "`pimsim adapt`: one row per domain per adaptation method",
    "gating.csv": "`pimsim simulate --adapted`: one row per domain of DA3's gating",
}

S, L, W, T, Q, R, G, F, A, E, GT = (
    "subnets.csv", "layers.csv", "sweep.csv", "latency.csv", "quantize.csv", "results.csv",
    "train_log.csv", "faults.csv", "adapt.csv", "eval.csv", "gating.csv")
COSTED = (S, L, W)
FAMILY = (S, W)


@dataclass(frozen=True)
class Column:
    """One column: ``name`` (``GROUP.KEY`` stands for every sweep axis), ``unit`` (empty: a
    name or label; ``fraction``: 0 to 1), ``meaning`` and the ``files`` that hold it."""

    name: str
    unit: str
    meaning: str
    files: tuple[str, ...]


def _event_columns() -> list[Column]:
    """Counts, energy and latency columns of the events tables."""
    cols = [Column(kind.count_field, kind.unit.split(";")[0], kind.counts[0].upper()
                   + kind.counts[1:], (L,)) for kind in SUBARRAY_EVENTS]
    cols += [Column(energy_column(kind), "pJ", f"energy of the event kind '{kind.label}' "
                    "(per image)", COSTED) for kind in EVENTS]
    cols += [Column(kind.latency_column, "ns", f"latency of the event kind '{kind.label}' "
                    "(per image)", (L,)) for kind in CHIP_EVENTS if kind.latency_column]
    return cols


COLUMNS: tuple[Column, ...] = (
    # what a row is
    Column("subnet", "", "sub-net name", (S, L, W, T, Q, R, G, F, A, E, GT)),
    Column("spec", "", "the sub-net's widths: `ratio=R` (uniform) or `counts=C1/C2/...` "
           "(channels per layer group)", (E,)),
    Column("layer", "", "layer name in the exported integer graph", (L,)),
    Column("op", "", "layer operation (conv, linear, ...; pimsim/quantize/ops.py)", (L,)),
    Column("bits", "bit", "weight and activation precision", (S, W, Q, F)),
    Column("technology", "", "memory preset: the device file's `name` (e.g. sot_mram_45nm)",
           (*FAMILY, F, A, GT)),
    Column("memory_type", "", "technology family of the preset (sot_mram, stt_mram, sram)",
           FAMILY),
    Column("mapping", "", "chip mapping name (mappings/*.yaml)", FAMILY),
    Column("GROUP.KEY", "as the key", "a swept mapping or device key (e.g. chip.rows), one "
           "column per `--set` axis; its value at this point", (W, F)),
    Column("infeasible", "", "why the chip cannot run this point (empty: feasible)", (W, F)),
    # accuracy
    Column("top1_float", "fraction", "top-1 accuracy of the model as trained, on the test "
           "split (fake quantizers active in a QAT checkpoint)", (T, Q, R, A, E, GT)),
    Column("val_top1_float", "fraction", "top-1 accuracy of the float model on the validation "
           "split carved from the training data (per epoch in train_log.csv; at the end in "
           "results.csv; empty without a split)", (G, R)),
    Column("top1_fakequant", "fraction", "top-1 of the fake-quantized model (float64) on the "
           "test split", (Q,)),
    Column("top1_int", "fraction", "top-1 of the integer executor on the test split (in "
           "subnets.csv only when every image was checked: --check-all)", (S, W, Q, F)),
    Column("top1_pim", "fraction", "top-1 of bit-serial PIM inference on the test split "
           "(checked equal to the integer executor, prediction by prediction)", (S, T)),
    Column("images", "image", "test images the accuracy was measured on", (S, F)),
    Column("images_checked", "image", "the first images whose bit-serial PIM output was "
           "checked equal to the integer executor's (all with --check-all)", (S,)),
    Column("delta_points", "percentage point", "top1_int minus top1_float", (Q,)),
    Column("agreement", "fraction", "test images where the integer and fake-quantized top-1 "
           "predictions agree", (Q,)),
    Column("max_logit_steps", "output quantization step", "largest logit difference between "
           "the fake-quantized and integer models", (Q,)),
    # network shape and size
    Column("macs", "MAC", "multiply-accumulates per image, as executed", (S, L, W, T, R, E)),
    Column("params", "parameter", "weights and biases of the sub-net", (R, E)),
    Column("peak_activation_values", "value", "elements of the largest layer input or output "
           "for one image", (E,)),
    Column("weight_density", "fraction", "non-zero weights of the sub-net's layers", (R,)),
    Column("c_in", "channel", "input channels of the layer", (L,)),
    Column("c_out", "channel", "output channels of the layer", (L,)),
    Column("kernel", "pixel", "kernel height x width", (L,)),
    Column("stride", "pixel", "stride", (L,)),
    Column("out_hw", "pixel", "output height x width", (L,)),
    # mapping
    Column("subarrays", "sub-array", "sub-arrays holding one copy of the weights (of the layer "
           "or the sub-net)", COSTED),
    Column("replicas", "copy", "copies of the layer's weights computing in parallel", (L,)),
    Column("compute_subarrays", "sub-array", "sub-arrays computing: copies included", COSTED),
    Column("powered_subarrays", "sub-array", "sub-arrays powered while the sub-net runs", FAMILY),
    Column("passes", "pass", "times the layer's weights are loaded when it exceeds the chip", (L,)),
    Column("utilization", "fraction", "weight bits over the cells of the sub-arrays holding "
           "them", COSTED),
    Column("steps", "step", "sub-array steps (AND2 sense, bit-count, shift-add) of the layer",
           (L,)),
    Column("weight_bits", "bit", "weight bits stored", COSTED),
    Column("act_in_bits", "bit", "input activation bits of the layer", (L,)),
    Column("act_out_bits", "bit", "output activation bits of the layer", (L,)),
    Column("act_buffer_peak_bits", "bit", "largest input + output activations of a layer "
           "(activation buffer peak)", FAMILY),
    Column("buffer_bits", "bit", "activation buffer size of the chip", FAMILY),
    # energy
    Column("energy_pj", "pJ", "energy per image: the sum of the energy_<event>_pj columns",
           (*COSTED, A, GT)),
    Column("energy_per_image_uj", "uJ", "energy_pj in uJ", (*FAMILY, F)),
    *_event_columns(),
    # latency and throughput
    Column("latency_compute_ns", "ns", "compute latency of the layer's busiest sub-array",
           (L,)),
    Column("latency_ns", "ns", "simulated PIM latency per image (of the layer or the sub-net)",
           (*COSTED, F, A, GT)),
    Column("latency_cycles", "cycle", "latency_ns in chip clock cycles", COSTED),
    Column("frame_interval_ns", "ns", "time between images (latency_ns, or the slowest layer "
           "when pipelined)", FAMILY),
    Column("fps", "image/s", "images per second (1e9 / frame_interval_ns)", FAMILY),
    Column("step_ns", "ns", "one sub-array step (AND2 sense, bit-count, shift-add)", FAMILY),
    Column("latency_bound_ns", "ns", "lower bound: the sub-array steps spread over every "
           "sub-array of the chip", COSTED),
    Column("layerwise_bound_ns", "ns", "lower bound of the best layer-by-layer split", FAMILY),
    Column("compute_utilization", "fraction", "latency_bound_ns / frame_interval_ns", FAMILY),
    Column("tops_per_w", "TOPS/W", "2 * macs / energy_pj", FAMILY),
    Column("power_mw", "mW", "energy_pj * fps", FAMILY),
    # area
    Column("area_mm2", "mm^2", "area of the sub-net's sub-arrays", FAMILY),
    Column("family_area_mm2", "mm^2", "area of the whole family's sub-arrays", FAMILY),
    Column("chip_area_mm2", "mm^2", "every sub-array of the chip with its periphery and the "
           "activation buffer", FAMILY),
    # switching sub-nets
    Column("switch_policy", "", "what switching to this sub-net from the next narrower one "
           "does to the weights", FAMILY),
    Column("switch_write_bits", "bit", "weight bits rewritten at that switch", FAMILY),
    Column("switch_energy_pj", "pJ", "energy of that switch", FAMILY),
    Column("copy_write", "", "when this sub-net's extra weight copies are written", FAMILY),
    Column("copy_write_bits", "bit", "bits of those copies", FAMILY),
    Column("energy_copy_write_pj", "pJ", "energy of writing those copies", FAMILY),
    # measured latency
    Column("compute_device", "", "where the latency was measured: cpu or cuda", (T, A)),
    Column("batch", "image", "images per timed batch", (T,)),
    Column("threads", "thread", "CPU threads torch used", (T,)),
    Column("repeats", "run", "timed runs (more when the first ones were noisy)", (T,)),
    Column("latency_per_batch_ms", "ms", "median wall-clock time of one batch", (T,)),
    Column("latency_per_image_ms", "ms", "latency_per_batch_ms / batch", (T,)),
    Column("latency_min_per_batch_ms", "ms", "fastest timed batch", (T,)),
    Column("latency_max_per_batch_ms", "ms", "slowest timed batch", (T,)),
    Column("latency_iqr_per_batch_ms", "ms", "interquartile range of the timed batches", (T,)),
    Column("spread", "fraction", "latency_iqr_per_batch_ms / latency_per_batch_ms", (T,)),
    Column("noisy", "", "True when the spread stayed above the tolerance after every repeat "
           "(the machine was busy: do not trust the row)", (T,)),
    # training
    Column("method", "", "sub-net generation method", (R, A)),
    Column("train_forward_passes", "pass", "forward passes of this sub-net in training", (R,)),
    Column("train_samples", "image", "training images this sub-net saw", (R,)),
    Column("train_steps", "step", "optimizer steps that updated this sub-net", (R,)),
    Column("train_forward_macs", "MAC", "MACs of this sub-net's training forward passes", (R,)),
    Column("phase", "", "training phase", (G,)),
    Column("epoch", "epoch", "epoch within the phase (from 1)", (G,)),
    Column("train_loss", "", "mean training loss of the epoch", (G,)),
    Column("wall_s", "s", "wall-clock time since training started", (G,)),
    # faults (pimsim faults)
    Column("error_prob", "fraction", "error probability injected into every sensed bit and "
           "activation write (--error-probs; absent: the device's variation model)", (F,)),
    Column("p_err_and2", "fraction", "probability that an AND2 multi-row sense reads the "
           "wrong bit (worst case over the cells' states)", (F,)),
    Column("p_err_write", "fraction", "probability that an activation row write stores a "
           "wrong bit", (F,)),
    Column("trials", "trial", "seeded fault draws per sub-net and point", (F,)),
    Column("top1_pim_mean", "fraction", "mean top-1 of faulty bit-serial PIM inference over "
           "the trials", (F,)),
    Column("top1_pim_std", "fraction", "sample standard deviation of that top-1 over the "
           "trials", (F,)),
    Column("top1_pim_min", "fraction", "lowest top-1 over the trials", (F,)),
    Column("layer_error_rate", "fraction", "layer accumulator outputs changed by sense or "
           "write errors (mean over layers and trials)", (F,)),
    Column("sense_flip_rate", "fraction", "measured flipped bits per sensed bit", (F,)),
    # adaptation (pimsim adapt)
    Column("domain", "", "the target domain", (A, GT)),
    Column("top1_float_gated", "fraction", "DA3 with its channel gating on: top-1 on the "
           "domain's test split", (A, GT)),
    Column("trainable_params", "parameter", "parameters the method trains", (A,)),
    Column("params_per_domain", "value", "values stored per added domain (a Piggyback mask "
           "bit counts as one)", (A,)),
    Column("domain_storage_bytes", "B", "bytes stored per added domain", (A,)),
    Column("saved_tensor_bytes", "B", "bytes autograd saves for backward in one training "
           "step at batch_size (training activation memory; parameters excluded)", (A,)),
    Column("memory_ratio_vs_finetune", "ratio", "fine-tuning's saved_tensor_bytes over this "
           "method's", (A,)),
    Column("peak_cuda_bytes", "B", "allocator peak during training (empty on CPU)", (A,)),
    Column("epoch_s", "s", "wall-clock training time per epoch", (A,)),
    Column("epochs", "epoch", "training epochs per domain", (A,)),
    Column("batch_size", "image", "images per training step", (A,)),
    Column("lr", "", "Adam learning rate of the method (DA3: --da3-lr)", (A,)),
    Column("active_channel_fraction", "fraction", "DA3: gated channels that ran, mean over "
           "the domain's test images", (A, GT)),
    Column("energy_gated_pj", "pJ", "DA3: energy per image with gated channels skipped "
           "(energy_pj: the ungated backbone)", (A, GT)),
    Column("energy_saved_pj", "pJ", "energy_pj - energy_gated_pj", (A, GT)),
    Column("latency_gated_ns", "ns", "DA3: latency per image with gated channels skipped",
           (A, GT)),
    Column("latency_saved_ns", "ns", "latency_ns - latency_gated_ns", (A, GT)),
)

_BY_NAME = {c.name: c for c in COLUMNS}
_AXIS = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def lookup(name: str) -> Column | None:
    """The dictionary entry of column ``name`` (a ``GROUP.KEY`` name: the sweep-axis entry)."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    return _BY_NAME["GROUP.KEY"] if _AXIS.match(name) else None


def markdown() -> str:
    """``docs/columns.md``: the files, then one table row per column."""
    lines = ["# Columns of pimsim's CSV files", "",
             "Generated by `python -m pimsim.reports.columns > docs/columns.md` from "
             "`pimsim/reports/columns.py` (do not edit by hand; a test checks it).", "",
             "Accuracy columns say what ran: `top1_float` (float model), `top1_fakequant` "
             "(fake-quantized), `top1_int` (integer executor), `top1_pim` (bit-serial PIM), "
             "as fractions (plots and printed tables show %); `val_` marks the validation "
             "split. `technology` is the memory preset, `memory_type` its family, "
             "`compute_device` cpu or cuda.", "",
             "| file | written by |", "| --- | --- |"]
    lines += [f"| `{name}` | {what} |" for name, what in FILES.items()]
    lines += ["", "| column | unit | meaning | files |", "| --- | --- | --- | --- |"]
    lines += [f"| `{c.name}` | {c.unit} | {c.meaning} | "
              f"{', '.join(f.removesuffix('.csv') for f in c.files)} |" for c in COLUMNS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
