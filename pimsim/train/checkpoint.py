"""Checkpoints: a plain dict of tensors and primitives, loaded with ``weights_only=True``.

Layout (``format: pimsim.checkpoint``, ``version: 1``): ``arch``, ``num_classes``,
``in_channels``, ``input_hw``, ``dataset``, ``subnets`` (spec dicts, registration order),
``state_dict`` (the DynamicNet's, one BatchNorm per sub-net), ``masks`` (per sparse sub-net,
per layer, a 0/1 weight mask), ``bits`` (8 or 16 for a quantization-aware model, whose
state holds each sub-net's activation ranges; else None) and free-form ``meta``.

Integrity: checkpoints and training states carry ``sha256``, a SHA-256 of their content
(:func:`content_sha256`: every key, value and tensor byte, in order), verified on load; a file
written before it (no ``sha256``) loads unchecked. Any file that does not load, whatever it
holds, is a one-line ``PimsimError`` naming it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

import torch

from pimsim.errors import PimsimError
from pimsim.io import write_bytes_atomic
from pimsim.network import DynamicNet, SubnetSpec

FORMAT, VERSION = "pimsim.checkpoint", 1
CHECKSUM = "sha256"


def content_sha256(data: Any) -> str:
    """SHA-256 of a tree of dicts, lists, tuples, tensors and primitives: each node's type,
    length or shape and dtype, then its content (tensors: their raw bytes)."""
    h = hashlib.sha256()

    def feed(obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            t = obj.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy())
        elif isinstance(obj, dict):
            h.update(f"d{len(obj)}".encode())
            for k, v in obj.items():
                feed(k)
                feed(v)
        elif isinstance(obj, list | tuple):
            h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
            for v in obj:
                feed(v)
        elif obj is None or isinstance(obj, bool | int | float | str | bytes):
            text = repr(obj).encode()
            h.update(f"{type(obj).__name__}{len(text)}:".encode() + text)
        else:
            raise TypeError(f"cannot checksum a {type(obj).__name__}")

    feed(data)
    return h.hexdigest()


def save_sealed(path: str | Path, data: dict[str, Any]) -> None:
    """``torch.save`` ``data`` plus its ``sha256`` (replacing any it has) to ``path``
    atomically."""
    data = {k: v for k, v in data.items() if k != CHECKSUM}
    buffer = io.BytesIO()  # written through write_bytes_atomic, whose errors name ``path``
    torch.save({**data, CHECKSUM: content_sha256(data)}, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_sealed(path: str | Path, what: str) -> dict[str, Any]:
    """The dict :func:`save_sealed` wrote to ``path`` (``weights_only=True``), its checksum
    verified and removed; one-line ``PimsimError`` naming ``path`` for anything else."""
    path = Path(path)
    if not path.is_file():
        raise PimsimError(f"{path}: {what} not found")
    try:
        with warnings.catch_warnings():  # torch warns about what it then refuses
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise PimsimError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # whatever a foreign, truncated or crafted file makes torch raise
        raise PimsimError(f"{path}: not a torch {what} that loads with weights_only=True "
                          f"({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise PimsimError(f"{path}: not a pimsim {what}")
    stored = data.pop(CHECKSUM, None)
    if stored is not None:
        try:
            ok = stored == content_sha256(data)
        except TypeError as exc:
            raise PimsimError(f"{path}: {exc}") from None
        if not ok:
            raise PimsimError(f"{path}: {CHECKSUM}: content does not match its checksum "
                              "(corrupted or edited file)")
    return data


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
    save_sealed(path, data)


def load_checkpoint(path: str | Path) -> tuple[DynamicNet, dict[str, Any]]:
    """The model (in eval mode) and the checkpoint's other fields; one-line errors."""
    path = Path(path)
    data = load_sealed(path, "checkpoint")
    if data.get("format") != FORMAT:
        raise PimsimError(f"{path}: format: not a pimsim checkpoint")
    if data.get("version") != VERSION:
        raise PimsimError(f"{path}: version: unsupported {data.get('version')!r}")
    for key in ("arch", "num_classes", "in_channels", "input_hw", "subnets", "state_dict"):
        if key not in data:
            raise PimsimError(f"{path}: missing key {key!r}")
    for key in ("num_classes", "in_channels"):
        if isinstance(data[key], bool) or not isinstance(data[key], int) or data[key] < 1:
            raise PimsimError(f"{path}: {key}: must be a positive integer, got {data[key]!r}")
    hw = data["input_hw"]
    if not (isinstance(hw, list | tuple) and len(hw) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in hw)):
        raise PimsimError(f"{path}: input_hw: must be two positive integers, got {hw!r}")
    if data.get("bits") not in (None, 8, 16):
        raise PimsimError(f"{path}: bits: must be 8, 16 or null, got {data.get('bits')!r}")
    if not isinstance(data.get("dataset", ""), str):
        raise PimsimError(f"{path}: dataset: must be a name")
    if not isinstance(data["subnets"], list):
        raise PimsimError(f"{path}: subnets: must be a list of sub-net specs")
    if not isinstance(data["state_dict"], dict) \
            or not all(isinstance(v, torch.Tensor) for v in data["state_dict"].values()):
        raise PimsimError(f"{path}: state_dict: must be a mapping of names to tensors")
    masks = data.get("masks", {})
    if not isinstance(masks, dict) or not all(isinstance(m, dict) for m in masks.values()):
        raise PimsimError(f"{path}: masks: must be a mapping of sub-net to layer masks")
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
    for name, layer_masks in masks.items():
        try:
            model.set_weight_masks(name, layer_masks)
        except PimsimError as exc:
            raise PimsimError(f"{path}: masks: {exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError, RuntimeError) as exc:
            raise PimsimError(f"{path}: masks: {name!r}: do not fit the model "
                              f"({type(exc).__name__})") from None
    return model.eval(), data
