"""Adapted models on disk: ``DIR/models/DOMAIN/METHOD.pt``, sealed like train's checkpoints.

A plain dict loaded with ``torch.load(weights_only=True)`` (``format: pimsim.adapted``,
``version: 1``) and sealed with a SHA-256 of its content
(:func:`pimsim.train.checkpoint.save_sealed`): ``source_sha256`` (SHA-256 of the source
checkpoint file's bytes), ``arch``, ``in_channels``, ``input_hw``, ``dataset``,
``backbone_classes``, ``subnet`` and its channel ``counts`` (enough to rebuild the plain
backbone), ``domain``, ``method``, ``num_classes`` (the domain's), ``design`` (DA3's, else
None), ``state_dict`` (the whole adapted model, frozen weights included; DA3's gate bounds
``M_c`` are its ``<layer>.bound`` entries), ``active_channels`` (DA3: mean channels run per
image, per gated layer; else empty), ``top1_float`` and ``top1_float_gated`` (the test
accuracy measured after adaptation; gated: DA3 with gating on, else None).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from pimsim.adapt.methods import METHODS, build_adapted, da3_units
from pimsim.adapt.modules import DA3Design
from pimsim.errors import PimsimError
from pimsim.network.ops import StaticOps
from pimsim.network.resnet import ARCHS, build_body
from pimsim.train.checkpoint import load_sealed, save_sealed

FORMAT, VERSION = "pimsim.adapted", 1
MODELS_DIR = "models"
_INT_KEYS = ("in_channels", "backbone_classes", "num_classes")


def adapted_path(out: str | Path, domain: str, method: str) -> Path:
    return Path(out) / MODELS_DIR / domain / f"{method}.pt"


def save_adapted(path: str | Path, model: nn.Module, record: dict[str, Any]) -> None:
    """Write ``model`` (its state) with ``record``'s fields (all of the module docstring's
    but ``format``, ``version`` and ``state_dict``) to ``path``, sealed."""
    data = {"format": FORMAT, "version": VERSION, **record,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    save_sealed(path, data)


def _check(path: Path, data: dict[str, Any]) -> None:
    need = ("source_sha256", "arch", "in_channels", "input_hw", "backbone_classes", "subnet",
            "counts", "domain", "method", "num_classes", "design", "state_dict",
            "active_channels", "top1_float")
    for key in need:
        if key not in data:
            raise PimsimError(f"{path}: missing key {key!r}")
    if data["arch"] not in ARCHS:
        raise PimsimError(f"{path}: arch: unknown {data['arch']!r}")
    if data["method"] not in METHODS:
        raise PimsimError(f"{path}: method: unknown {data['method']!r}")
    for key in _INT_KEYS:
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise PimsimError(f"{path}: {key}: must be a positive integer, got {v!r}")
    counts = data["counts"]
    if not (isinstance(counts, list) and counts
            and all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in counts)):
        raise PimsimError(f"{path}: counts: must be a list of positive integers")
    active = data["active_channels"]
    if not (isinstance(active, dict)
            and all(isinstance(k, str) and isinstance(v, float) for k, v in active.items())):
        raise PimsimError(f"{path}: active_channels: must map layer names to numbers")
    if not isinstance(data["state_dict"], dict) \
            or not all(isinstance(v, torch.Tensor) for v in data["state_dict"].values()):
        raise PimsimError(f"{path}: state_dict: must be a mapping of names to tensors")


def load_adapted(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The adapted model :func:`save_adapted` wrote (eval mode; DA3 gating off: set the
    units' ``gating`` to use the stored bounds) and the file's other fields; one-line
    errors for a missing, foreign, tampered or inconsistent file."""
    path = Path(path)
    data = load_sealed(path, "adapted model")
    if data.get("format") != FORMAT:
        raise PimsimError(f"{path}: format: not a pimsim adapted model")
    if data.get("version") != VERSION:
        raise PimsimError(f"{path}: version: unsupported {data.get('version')!r}")
    _check(path, data)
    design = (None if data["design"] is None
              else DA3Design.from_dict(data["design"], f"{path}: design"))
    try:
        backbone = build_body(data["arch"], StaticOps(data["counts"]),
                              data["backbone_classes"], data["in_channels"])
        model = build_adapted(backbone, data["method"], data["num_classes"], design=design)
        model.load_state_dict(data.pop("state_dict"))
    except (IndexError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PimsimError(f"{path}: state_dict: does not fit {data['arch']} sub-net "
                          f"{data['subnet']!r} adapted by {data['method']}: {first}") from None
    unknown = set(data["active_channels"]) - set(da3_units(model))
    if unknown:
        raise PimsimError(f"{path}: active_channels: not gated layers: "
                          f"{', '.join(sorted(unknown))}")
    return model.eval(), data
