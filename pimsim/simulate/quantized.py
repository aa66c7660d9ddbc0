"""A checkpoint's sub-nets as integer graphs at given bits (QAT ranges or calibration)."""

from __future__ import annotations

from pimsim.data import Dataset, dataset_of_checkpoint
from pimsim.errors import PimsimError
from pimsim.mapper import GemmLayer
from pimsim.network import DynamicNet


def load_quantized(checkpoint: str, bits: int | None, data_dir: str | None,
                   calib_batches: int) -> tuple[DynamicNet, Dataset, dict]:
    """The checkpoint's model, fake-quantized at ``bits``: its own QAT ranges when it was
    trained at ``bits`` (``bits=None`` accepts them), else post-training calibration of every
    sub-net on ``calib_batches`` training batches (a QAT model asked for other bits keeps its
    weights and is calibrated anew); its data set; and the checkpoint's metadata."""
    from pimsim.quantize.evaluate import calibrate_subnets
    from pimsim.quantize.qat import prepare_qat, quantization_bits
    from pimsim.train import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    data = dataset_of_checkpoint(meta, data_dir)
    have = quantization_bits(model)
    if have is None and bits is None:
        raise PimsimError(f"--bits: required: {checkpoint} holds a float model "
                          "(8 or 16 for post-training calibration)")
    if bits not in (None, have):
        if have is not None:
            model = _float_copy(model)
        prepare_qat(model, bits)
        calibrate_subnets(model, data, calib_batches)
    return model.eval(), data, meta


def _float_copy(model: DynamicNet) -> DynamicNet:
    """The same weights, BatchNorms and masks without the fake quantizers."""
    plain = DynamicNet(model.arch, model.num_classes, model.in_channels, model.subnets)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("body.quant.")}
    plain.load_state_dict(state)
    for spec in model.subnets:
        if masks := model.weight_masks(spec):
            plain.set_weight_masks(spec, masks)
    return plain


def quantized_family(checkpoint: str, bits: int, data_dir: str | None, calib_batches: int,
                     limit: int | None) -> tuple[dict[str, list[GemmLayer]], dict[str, float]]:
    """Every sub-net's weight layers at ``bits`` and its integer top-1 on the test set (the
    first ``limit`` images)."""
    from pimsim.quantize import export_subnet_int
    from pimsim.simulate.layers import layers_from_graph

    model, data, _ = load_quantized(checkpoint, bits, data_dir, calib_batches)
    n = data.test_count(limit)
    images, labels = data.test_x[:n].numpy(), data.test_y[:n].numpy()
    family, top1 = {}, {}
    for spec in model.subnets:
        graph = export_subnet_int(model, spec, data.image_hw)
        family[spec.name] = layers_from_graph(graph)
        top1[spec.name] = float((graph.run(images).argmax(1) == labels).mean())
    return family, top1
