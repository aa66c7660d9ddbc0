"""Quantization: 8/16-bit fake-quantized training and calibration, integer export of every
sub-net (or of a user's own traced model), the integer reference executor and its file format.

Modules: ``requant`` (integer multiplier/shift, exact rounding), ``fake_quant`` (straight-
through quantizers, scale rules, BN folding), ``trace`` (torch.fx -> layer groups), ``qat``
(``prepare_qat``, ``quantize_model``, ``calibrate``), ``ops`` (the layer-op registry: each op's
recognition, shape, export, fake-quant rewrite, integer execution, MACs and GEMMs), ``layer``
(the ``Group`` and ``IntLayer`` records), ``export`` (-> ``IntGraph``), ``intgraph`` and
``execute`` (the graph, its one walk and the numpy int64 accumulator), ``manifest`` (``.npz`` +
``.json``, see ``FORMAT.md``), ``evaluate`` (float vs fake-quant vs integer).

Our sub-nets: ``prepare_qat(model, bits)``, train (or ``calibrate`` each sub-net), then
``export_subnet_int(model, subnet, input_hw)``. A user's model: ``fq = quantize_model(model,
bits)``, ``calibrate(fq, batches)``, ``export_quantized(fq, input_shape)``.
"""

from pimsim.quantize.export import build_int_graph, export_quantized, export_subnet_int
from pimsim.quantize.intgraph import IntGraph
from pimsim.quantize.layer import IntLayer
from pimsim.quantize.ops import OPS, LayerOp
from pimsim.quantize.qat import (
    QuantizedBody,
    calibrate,
    prepare_qat,
    quantization_bits,
    quantize_model,
)
from pimsim.quantize.requant import quantize_multiplier, requantize
from pimsim.quantize.trace import find_groups, trace

__all__ = [
    "OPS", "IntGraph", "IntLayer", "LayerOp", "QuantizedBody", "build_int_graph", "calibrate",
    "export_quantized", "export_subnet_int", "find_groups", "prepare_qat",
    "quantization_bits", "quantize_model", "quantize_multiplier", "requantize", "trace",
]
