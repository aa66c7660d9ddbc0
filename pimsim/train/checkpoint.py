"""Checkpoints: a plain dict of tensors and primitives, loaded with ``weights_only=True``.

Layout (``format: pimsim.checkpoint``, ``version: 1``): ``arch``, ``num_classes``,
``in_channels``, ``input_hw``, ``dataset``, ``subnets`` (spec dicts, registration order),
``state_dict`` (the DynamicNet's, one BatchNorm per sub-net), ``masks`` (per sparse sub-net,
per layer, a 0/1 weight mask), ``bits`` (8 or 16 for a quantization-aware model, whose
state holds each sub-net's activation ranges; else None) and free-form ``meta``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from pimsim.errors import PimsimError
from pimsim.io import write_atomic
from pimsim.network import DynamicNet, SubnetSpec

FORMAT, VERSION = "pimsim.checkpoint", 1


def save_checkpoint(path: str | Path, model: DynamicNet, input_hw: tuple[int, int],
                    dataset: str, meta: dict[str, Any] | None = None) -> None:
    """Write ``model`` and its sub-nets to ``path`` atomically."""
    from pimsim.quantize import quantization_bits

    data = {
        "bits": quantization_bits(model),
        "format": FORMAT, "version": VERSION, "arch": model.arch,
        "num_classes": model.num_classes, "in_channels": model.in_channels,
        "input_hw": list(input_hw), "dataset": dataset,
        "subnets": [s.to_dict() for s in model.subnets],
        "state_dict": model.state_dict(), "meta": meta or {},
        "masks": {s.name: m for s in model.subnets if (m := model.weight_masks(s))},
    }
    write_atomic(path, lambda p: torch.save(data, p))


def load_checkpoint(path: str | Path) -> tuple[DynamicNet, dict[str, Any]]:
    """The model (in eval mode) and the checkpoint's other fields; one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise PimsimError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise PimsimError(f"{path}: not a torch checkpoint that loads with weights_only=True "
                          f"({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PimsimError(f"{path}: format: not a pimsim checkpoint")
    if data.get("version") != VERSION:
        raise PimsimError(f"{path}: version: unsupported {data.get('version')!r}")
    for key in ("arch", "num_classes", "in_channels", "input_hw", "subnets", "state_dict"):
        if key not in data:
            raise PimsimError(f"{path}: missing key {key!r}")
    if not isinstance(data["subnets"], list):
        raise PimsimError(f"{path}: subnets: must be a list of sub-net specs")
    specs = [SubnetSpec.from_dict(s, where=f"{path}: subnets[{i}]")
             for i, s in enumerate(data["subnets"])]
    try:
        model = DynamicNet(data["arch"], data["num_classes"], data["in_channels"], specs)
        if data.get("bits") is not None:
            from pimsim.quantize import prepare_qat

            prepare_qat(model, data["bits"])
    except PimsimError as exc:
        raise PimsimError(f"{path}: {exc}") from None
    try:
        result = model.load_state_dict(data["state_dict"], strict=False)
    except RuntimeError:
        raise PimsimError(f"{path}: state_dict: tensor shapes do not match {data['arch']} with "
                          f"{data['num_classes']} classes and {data['in_channels']} input "
                          "channels") from None
    bad = list(result.missing_keys) + list(result.unexpected_keys)
    if bad:
        raise PimsimError(f"{path}: state_dict: does not match {data['arch']} with these sub-nets "
                          f"({len(bad)} mismatched keys, e.g. {bad[0]!r})")
    masks = data.get("masks", {})
    if not isinstance(masks, dict):
        raise PimsimError(f"{path}: masks: must be a mapping of sub-net to layer masks")
    for name, layer_masks in masks.items():
        try:
            model.set_weight_masks(name, layer_masks)
        except PimsimError as exc:
            raise PimsimError(f"{path}: masks: {exc}") from None
    return model.eval(), data
