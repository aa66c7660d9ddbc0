"""The hardware of a run: a device file and a mapping file (paths or preset names) plus
``GROUP.KEY=VALUE`` overrides, resolved in one place for ``simulate`` and ``sweep``.

An override names a mapping key (groups ``chip`` and ``policy``: ``chip.rows=128``) or a device
key (any other group: ``mtj.tmr_ratio=0.9``, ``circuit.shift_adder_energy_pj=0.05``); values
are YAML scalars (numbers, ``true``/``false``, words). Overridden values are validated like the
files' own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pimsim.bundled import bundled_dir
from pimsim.device import DeviceParams, load_device_params, with_overrides
from pimsim.device.params import PRESETS_DIR
from pimsim.errors import PimsimError
from pimsim.io import file_sha256 as io_file_sha256
from pimsim.mapper import ChipMapping, load_mapping, mapping_with_overrides
from pimsim.mapper.chip import MAPPING_GROUPS, MAPPINGS_DIR
from pimsim.paramfile import locate, parse_yaml, show

Overrides = tuple[tuple[str, Any], ...]
NON_FINITE = ("inf", "infinity", "nan", ".inf", ".nan")  # words refused as --set values


def as_overrides(overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Overrides:
    """``{"chip.rows": 128}`` or pairs -> ``(("chip.rows", 128),)``, sorted by key (hashable,
    one canonical order)."""
    pairs = overrides.items() if isinstance(overrides, Mapping) else overrides
    return tuple(sorted((str(k), v) for k, v in pairs))


def resolve_hardware(device: str, mapping: str, overrides: Mapping[str, Any]
                     | Iterable[tuple[str, Any]] = ()) -> tuple[DeviceParams, ChipMapping]:
    """The device parameters and chip mapping of ``device`` and ``mapping`` (file paths or
    preset names) with ``overrides`` applied and validated. Cached (sweeps resolve the same
    files many times) by the files' paths, sizes and modification times, so an edited file is
    read again."""
    device_path, _ = locate(device, PRESETS_DIR, "device preset")
    mapping_path, _ = locate(mapping, MAPPINGS_DIR, "mapping")
    device_over, chip_over = _by_file(as_overrides(overrides))
    params = _device(str(device), _file_stamp(device_path), device_over)
    chip = _mapping(str(mapping), _file_stamp(mapping_path), chip_over)
    return params, chip


def _file_stamp(path: Path) -> tuple[int, int]:
    """``(size, modification time in ns)``; ``(-1, -1)`` for a missing file (the loader then
    gives the error)."""
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _device(device: str, stamp: tuple[int, int], overrides: Overrides) -> DeviceParams:
    """A device file (read once per ``stamp``) with ``overrides``."""
    params = _device(device, stamp, ()) if overrides else load_device_params(device)
    return with_overrides(params, dict(overrides)) if overrides else params


@lru_cache(maxsize=256)
def _mapping(mapping: str, stamp: tuple[int, int], overrides: Overrides) -> ChipMapping:
    """A mapping file (read once per ``stamp``) with ``overrides``."""
    chip = _mapping(mapping, stamp, ()) if overrides else load_mapping(mapping)
    return mapping_with_overrides(chip, dict(overrides)) if overrides else chip


def _by_file(overrides: Overrides) -> tuple[Overrides, Overrides]:
    """``(device overrides, mapping overrides)``."""
    chip = tuple((k, v) for k, v in overrides if k.split(".")[0] in MAPPING_GROUPS)
    return tuple(kv for kv in overrides if kv not in chip), chip


def check_each(device: str, mapping: str, values: Mapping[str, Iterable[Any]]) -> None:
    """Resolve every ``key=value`` alone against the base files, so that a bad value is named
    by its ``--set`` (``--set mtj.tmr_ratio=-1: ...: must be > 0``)."""
    resolve_hardware(device, mapping)
    for key, options in values.items():
        for value in options:
            try:
                resolve_hardware(device, mapping, {key: value})
            except PimsimError as exc:
                raise PimsimError(f"--set {key}={value}: {exc}") from None


def hardware_record(device: str, mapping: str,
                    overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> dict:
    """What ``config.json`` records to repeat a run: per file its name, path, SHA-256 and text
    (a copy, which ``pimsim simulate --config`` uses when the file has changed or is gone),
    and the overrides applied to it."""
    params, chip = resolve_hardware(device, mapping)
    device_over, chip_over = _by_file(as_overrides(overrides))
    return {"device_params": {"name": params.name, "path": params.path,
                              "sha256": file_sha256(params.path),
                              "text": input_file(params.path).read_text(),
                              "overrides": dict(device_over)},
            "mapping": {"name": chip.name, "path": chip.path,
                        "sha256": file_sha256(chip.path),
                        "text": input_file(chip.path).read_text(),
                        "overrides": dict(chip_over)}}


def input_file(path: str) -> Path:
    """The file of an input's recorded path (a preset's, ``device_params/NAME.yaml`` or
    ``mappings/NAME.yaml``, is in the shipped folders: :func:`pimsim.bundled.bundled_dir`)."""
    file = Path(path)
    return file if file.is_file() else bundled_dir(file.parent.name) / file.name


def file_sha256(path: str) -> str:
    """SHA-256 of an input file (:func:`input_file`)."""
    return io_file_sha256(input_file(path))


def parse_axis(text: str) -> tuple[str, list[Any]]:
    """``"chip.rows=128,256"`` -> ``("chip.rows", [128, 256])`` (a sweep axis)."""
    key, values = _split(text, "GROUP.KEY=V1,V2,...")
    return key, [_scalar(text, key, v) for v in values.split(",")]


def parse_override(text: str) -> tuple[str, Any]:
    """``"mtj.tmr_ratio=0.9"`` -> ``("mtj.tmr_ratio", 0.9)`` (one value)."""
    key, value = _split(text, "GROUP.KEY=VALUE")
    if "," in value:
        raise PimsimError(f"--set: {show(text)}: one value per key here (pimsim sweep takes "
                          "several)")
    return key, _scalar(text, key, value)


def parse_settings(texts: Iterable[str], axes: bool) -> dict[str, Any]:
    """Every ``--set`` of a command: ``{key: [values]}`` (``axes``) or ``{key: value}``; a key
    given twice is an error."""
    out: dict[str, Any] = {}
    for text in texts:
        key, value = parse_axis(text) if axes else parse_override(text)
        if key in out:
            raise PimsimError(f"--set: {key}: given twice"
                              + ("; list all its values in one --set" if axes else ""))
        out[key] = value
    return out


def _split(text: str, form: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or "." not in key or not value:
        raise PimsimError(f"--set: {show(text)}: expected {form}")
    return key.strip(), value


def _scalar(text: str, key: str, value: str) -> Any:
    """A YAML scalar (a number, true/false or a word); anything else (a list, a mapping,
    nothing, a date, not YAML) and non-finite numbers (``.inf``, ``nan``) are errors naming
    the key."""
    try:
        parsed = parse_yaml(value, f"--set {key}")
    except PimsimError:
        parsed = None
    if parsed is None or type(parsed) not in (bool, int, float, str):
        raise PimsimError(f"--set: {show(text)}: every value must be a number, true/false or "
                          "a word")
    if isinstance(parsed, float) and not math.isfinite(parsed) or (
            isinstance(parsed, str) and parsed.strip().lower().lstrip("+-") in NON_FINITE):
        raise PimsimError(f"--set {key}: must be a finite number, got {show(value)}")
    return parsed

