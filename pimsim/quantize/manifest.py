"""On-disk form of an ``IntGraph``: ``<name>.npz`` (integer arrays) + ``<name>.json`` (manifest).

See ``FORMAT.md`` beside this module for the fields. Both files are written atomically (npz
first, then the manifest that names it); arrays load with ``allow_pickle=False``. The manifest
carries ``arrays_sha256`` (SHA-256 of the npz file) and ``sha256`` (of its own content,
:func:`manifest_sha256`), both verified on load; files written before them load unchecked.
This module reads and writes a graph's header (``name``, ``bits``, ``input_shape``, ``output``,
``meta``, ``preprocessing``) and its layers; :meth:`pimsim.quantize.IntGraph.save` and
``IntGraph.load`` build on it.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from pimsim.errors import PimsimError
from pimsim.io import sha256_bytes, write_bytes_atomic, write_text_atomic
from pimsim.quantize.layer import IntLayer
from pimsim.quantize.ops import OPS, InputOp

FORMAT, VERSION = "pimsim.intgraph", 1
ARRAYS = ("weight", "weight_scale", "bias", "multiplier", "shift")
_SCALARS = ("name", "op", "inputs", "in_shape", "out_shape", "in_bits", "in_signed", "in_scales",
            "out_bits", "out_signed", "out_scale", "relu", "kernel", "stride", "padding",
            "groups", "weight_bits", "modules")
_OPTIONAL = {"groups": 1}  # keys that files written before them lack: their default
_INT_ARRAYS = ("weight", "bias", "multiplier", "shift")
CHECKSUM = "sha256"


def _paths(path: str | Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".npz") else path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


HEADER = ("name", "bits", "input_shape", "output", "meta", "preprocessing")


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
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    doc = {"format": FORMAT, "version": VERSION, "name": header["name"], "bits": header["bits"],
           "input_shape": list(header["input_shape"]), "output": header["output"],
           "arrays": npz.name, "arrays_sha256": sha256_bytes(buffer.getvalue()),
           "input_preprocessing": header["preprocessing"], "meta": header["meta"],
           "layers": entries}
    doc = json.loads(json.dumps(doc, default=_jsonable))
    doc[CHECKSUM] = manifest_sha256(doc)
    write_bytes_atomic(npz, buffer.getvalue())
    write_text_atomic(manifest, json.dumps(doc, indent=1) + "\n")
    return npz, manifest


def manifest_sha256(doc: dict) -> str:
    """SHA-256 of a manifest without its ``sha256`` key, as compact JSON with sorted keys."""
    rest = {k: v for k, v in doc.items() if k != CHECKSUM}
    return sha256_bytes(json.dumps(rest, sort_keys=True).encode())


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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise PimsimError(f"{manifest}: malformed JSON{line}") from None
    except RecursionError:
        raise PimsimError(f"{manifest}: malformed JSON (nested too deeply)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PimsimError(f"{manifest}: format: not a {FORMAT} manifest")
    if CHECKSUM in doc and doc[CHECKSUM] != manifest_sha256(doc):
        raise PimsimError(f"{manifest}: {CHECKSUM}: content does not match its checksum "
                          "(corrupted or edited file)")
    if doc.get("version") != VERSION:
        raise PimsimError(f"{manifest}: version: unsupported {doc.get('version')!r}")
    for key in ("name", "bits", "input_shape", "output", "arrays", "layers"):
        if key not in doc:
            raise PimsimError(f"{manifest}: missing key {key!r}")
    name = doc["arrays"]
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        raise PimsimError(f"{manifest}: arrays: must be a file name beside the manifest")
    npz = manifest.with_name(name)
    try:
        raw = npz.read_bytes()
    except OSError as exc:
        raise PimsimError(f"{npz}: cannot read: {exc.strerror or exc}") from None
    if "arrays_sha256" in doc and doc["arrays_sha256"] != sha256_bytes(raw):
        raise PimsimError(f"{npz}: does not match arrays_sha256 in {manifest.name} "
                          "(corrupted or replaced file)")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, io.UnsupportedOperation) as exc:
        raise PimsimError(f"{npz}: cannot read the arrays ({type(exc).__name__})") from None
    if not isinstance(doc["layers"], list) or not doc["layers"]:
        raise PimsimError(f"{manifest}: layers: must be a non-empty list")
    layers: list[IntLayer] = []
    for i, entry in enumerate(doc["layers"]):
        where = f"{manifest}: layers[{i}]"
        try:
            layers.append(_layer(entry, arrays, where, {x.name for x in layers}))
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise PimsimError(f"{where}: malformed layer ({type(exc).__name__}: {exc})") from None
    if not isinstance(OPS[layers[0].op], InputOp) or doc["output"] not in {x.name for x in layers}:
        raise PimsimError(f"{manifest}: output: no input layer first or no layer "
                          f"{doc['output']!r}")
    try:
        header = {"name": doc["name"], "bits": int(doc["bits"]),
                  "input_shape": tuple(doc["input_shape"]), "output": doc["output"],
                  "meta": dict(doc.get("meta") or {}),
                  "preprocessing": doc.get("input_preprocessing")}
    except (TypeError, ValueError) as exc:
        raise PimsimError(f"{manifest}: header: malformed ({type(exc).__name__})") from None
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
