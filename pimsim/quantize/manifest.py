"""On-disk form of an ``IntGraph``: ``<name>.npz`` (integer arrays) + ``<name>.json`` (manifest).

See ``FORMAT.md`` beside this module for the fields. Both files are written atomically (npz
first, then the manifest that names it); arrays load with ``allow_pickle=False``. This module
reads and writes a graph's header (``name``, ``bits``, ``input_shape``, ``output``, ``meta``) and
its layers; :meth:`pimsim.quantize.IntGraph.save` and ``IntGraph.load`` build on it.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from pimsim.errors import PimsimError
from pimsim.io import write_atomic, write_text_atomic
from pimsim.quantize.layer import IntLayer
from pimsim.quantize.ops import OPS, InputOp

FORMAT, VERSION = "pimsim.intgraph", 1
ARRAYS = ("weight", "weight_scale", "bias", "multiplier", "shift")
_SCALARS = ("name", "op", "inputs", "in_shape", "out_shape", "in_bits", "in_signed", "in_scales",
            "out_bits", "out_signed", "out_scale", "relu", "kernel", "stride", "padding",
            "groups", "weight_bits", "modules")
_OPTIONAL = {"groups": 1}  # keys that files written before them lack: their default
_INT_ARRAYS = ("weight", "bias", "multiplier", "shift")


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".npz") else path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


HEADER = ("name", "bits", "input_shape", "output", "meta")


def write_graph(header: dict, layers: list[IntLayer], path: str | Path) -> tuple[Path, Path]:
    """Write a graph (its ``HEADER`` fields and layers) to ``<path>.npz`` and ``<path>.json``;
    returns both paths."""
    npz, manifest = _paths(path)
    arrays: dict[str, np.ndarray] = {}
    entries = []
    for layer in layers:
        entry = {k: getattr(layer, k) for k in _SCALARS}
        for k in ARRAYS:
            value = getattr(layer, k)
            entry[k] = None if value is None else f"{layer.name}.{k}"
            if value is not None:
                arrays[entry[k]] = value
        entries.append(entry)
    doc = {"format": FORMAT, "version": VERSION, "name": header["name"], "bits": header["bits"],
           "input_shape": list(header["input_shape"]), "output": header["output"],
           "arrays": npz.name, "meta": header["meta"], "layers": entries}

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_atomic(npz, write_npz)
    write_text_atomic(manifest, json.dumps(doc, indent=1, default=_jsonable) + "\n")
    return npz, manifest


def _jsonable(value: object) -> object:
    if isinstance(value, tuple | np.ndarray):
        return list(value)
    if isinstance(value, np.integer | np.floating | np.bool_):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def read_graph(path: str | Path) -> tuple[dict, list[IntLayer]]:
    """The header and layers of a graph written by :func:`write_graph`; one-line
    ``PimsimError`` naming file and field."""
    _, manifest = _paths(path)
    try:
        doc = json.loads(manifest.read_text())
    except OSError as exc:
        raise PimsimError(f"{manifest}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise PimsimError(f"{manifest}: malformed JSON (line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PimsimError(f"{manifest}: format: not a {FORMAT} manifest")
    if doc.get("version") != VERSION:
        raise PimsimError(f"{manifest}: version: unsupported {doc.get('version')!r}")
    for key in ("name", "bits", "input_shape", "output", "arrays", "layers"):
        if key not in doc:
            raise PimsimError(f"{manifest}: missing key {key!r}")
    npz = manifest.with_name(str(doc["arrays"]))
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, io.UnsupportedOperation) as exc:
        raise PimsimError(f"{npz}: cannot read the arrays ({type(exc).__name__})") from None
    if not isinstance(doc["layers"], list) or not doc["layers"]:
        raise PimsimError(f"{manifest}: layers: must be a non-empty list")
    layers: list[IntLayer] = []
    for i, entry in enumerate(doc["layers"]):
        layers.append(_layer(entry, arrays, f"{manifest}: layers[{i}]", {x.name for x in layers}))
    if not isinstance(OPS[layers[0].op], InputOp) or doc["output"] not in {x.name for x in layers}:
        raise PimsimError(f"{manifest}: output: no input layer first or no layer "
                          f"{doc['output']!r}")
    header = {"name": doc["name"], "bits": int(doc["bits"]),
              "input_shape": tuple(doc["input_shape"]), "output": doc["output"],
              "meta": dict(doc.get("meta") or {})}
    return header, layers


def _layer(entry: object, arrays: dict[str, np.ndarray], where: str, known: set[str]) -> IntLayer:
    if not isinstance(entry, dict):
        raise PimsimError(f"{where}: must be a mapping")
    entry = {**_OPTIONAL, **entry}
    missing = [k for k in (*_SCALARS, *ARRAYS) if k not in entry]
    if missing:
        raise PimsimError(f"{where}: missing key {missing[0]!r}")
    where = f"{where} ({entry['name']})"
    if entry["op"] not in OPS:
        raise PimsimError(f"{where}: op: unknown {entry['op']!r}; one of {', '.join(OPS)}")
    if isinstance(entry["groups"], bool) or not isinstance(entry["groups"], int) \
            or entry["groups"] < 1:
        raise PimsimError(f"{where}: groups: must be a positive integer, got {entry['groups']!r}")
    unknown = [i for i in entry["inputs"] if i not in known]
    if unknown:
        raise PimsimError(f"{where}: inputs: {unknown[0]!r} is not an earlier layer")
    fields = {k: entry[k] for k in _SCALARS}
    for k in ("inputs", "in_shape", "out_shape", "in_scales", "kernel", "stride", "padding",
              "modules"):
        if fields[k] is not None:
            fields[k] = tuple(fields[k])
    for k in ARRAYS:
        key = entry[k]
        if key is None:
            fields[k] = None
            continue
        if key not in arrays:
            raise PimsimError(f"{where}: {k}: array {key!r} missing from the npz")
        value = arrays[key]
        if k in _INT_ARRAYS and not np.issubdtype(value.dtype, np.integer):
            raise PimsimError(f"{where}: {k}: must be an integer array, got {value.dtype}")
        fields[k] = value
    layer = IntLayer(**fields)
    if OPS[layer.op].has_weights:
        if layer.weight is None or layer.bias is None or layer.multiplier is None \
                or layer.shift is None:
            raise PimsimError(f"{where}: weight, bias, multiplier and shift are required")
        if layer.in_shape[0] % layer.groups or layer.out_shape[0] % layer.groups:
            raise PimsimError(f"{where}: groups: {layer.groups} does not divide the channels")
        expect = (layer.out_shape[0], layer.in_shape[0] // layer.groups, *(layer.kernel or ()))
        if layer.weight.shape != expect:
            raise PimsimError(f"{where}: weight: shape {layer.weight.shape}, expected {expect}")
    return layer
